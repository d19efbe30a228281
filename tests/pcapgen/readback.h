/*
 * readback: test helper that writes a generator's capture to a temporary file
 * and reads it back with libpcap, so the tests check the bytes on disk.
 */
#ifndef SIPTAP_TESTS_PCAPGEN_READBACK_H
#define SIPTAP_TESTS_PCAPGEN_READBACK_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/pcapgen/pcapgen.h"

struct rb_frame {
    uint64_t t_us; /* absolute */
    uint8_t *data;
    uint32_t len;
};

struct readback {
    int linktype;
    struct rb_frame *f;
    size_t n;
};

static inline void rb_tmpname(char *out, size_t len, const char *tag)
{
    const char *dir = getenv("TMPDIR");
    snprintf(out, len, "%s/pcapgen-test-%s-%ld.pcap", dir ? dir : "/tmp", tag, (long)getpid());
}

/* Writes g to a temp file (kept at path), reads it back. false on failure. */
static inline bool rb_load_file(struct readback *rb, const char *path)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    if (!p)
        return false;
    rb->linktype = pcap_datalink(p);
    rb->n = 0;
    rb->f = NULL;
    size_t cap = 0;
    struct pcap_pkthdr *h;
    const u_char *d;
    while (pcap_next_ex(p, &h, &d) == 1) {
        if (rb->n == cap) {
            cap = cap ? cap * 2 : 64;
            rb->f = realloc(rb->f, cap * sizeof(*rb->f));
        }
        struct rb_frame *f = &rb->f[rb->n++];
        f->t_us = (uint64_t)h->ts.tv_sec * 1000000 + (uint64_t)h->ts.tv_usec;
        f->len = h->caplen;
        f->data = malloc(h->caplen);
        memcpy(f->data, d, h->caplen);
    }
    pcap_close(p);
    return true;
}

static inline bool rb_load(struct readback *rb, struct pcapgen *g, const char *tag)
{
    char path[256];
    rb_tmpname(path, sizeof(path), tag);
    if (pcapgen_write(g, path) != 0)
        return false;
    bool ok = rb_load_file(rb, path);
    unlink(path);
    return ok;
}

static inline void rb_free(struct readback *rb)
{
    for (size_t i = 0; i < rb->n; i++)
        free(rb->f[i].data);
    free(rb->f);
    rb->f = NULL;
    rb->n = 0;
}

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Offset of the IP header in an untagged Ethernet frame. */
#define ETH 14

#endif

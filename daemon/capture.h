/*
 * capture: libpcap inside the libev loop.
 *
 * Live (-i): pcap_create with promiscuous and immediate mode, a kernel buffer
 * of the configured size, non-blocking; the selectable fd sits in an ev_io
 * and each readiness drains the buffer in pcap_dispatch batches.
 * Offline (-r): an ev_idle reads the file in batches, so signals and output
 * I/O are still served between batches; at end of file on_end() is called.
 * Drop figures from pcap_stats are kept for the stats event.
 */
#ifndef SIPTAP_DAEMON_CAPTURE_H
#define SIPTAP_DAEMON_CAPTURE_H

#include <ev.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*capture_packet_fn)(void *user, const struct pcap_pkthdr *hdr, const uint8_t *data);
typedef void (*capture_end_fn)(void *user);

struct capture {
    pcap_t *pcap;
    bool live;
    bool running;
    int batch;
    ev_io io;
    ev_idle idle;
    struct ev_loop *loop;
    capture_packet_fn on_packet;
    capture_end_fn on_end;
    void *user;
    char source[256];
    /* For the progress line: file size and position. */
    long file_size;
};

struct capture_options {
    unsigned snaplen;
    unsigned buffer_mb;
    const char *bpf; /* NULL or "" for everything */
};

/* 0 on success; on failure -1 with a message in err (the caller exits 1). */
int capture_open_live(struct capture *c, const char *iface, const struct capture_options *o,
                      char *err, size_t errlen);
int capture_open_file(struct capture *c, const char *path, const struct capture_options *o,
                      char *err, size_t errlen);
int capture_datalink(const struct capture *c);
void capture_start(struct capture *c, struct ev_loop *loop, capture_packet_fn on_packet,
                   capture_end_fn on_end, void *user);
void capture_stop(struct capture *c);
/* Kernel figures for live capture; false when not available. */
bool capture_kernel_stats(struct capture *c, uint64_t *received, uint64_t *dropped,
                          uint64_t *if_dropped);
/* Offline: fraction of the file read, 0..1; -1 if unknown. */
double capture_progress(const struct capture *c);
void capture_close(struct capture *c);

#endif

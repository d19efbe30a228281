/*
 * frame_build: helpers for the decoder tests to craft frames as byte arrays.
 *
 * Each put_* writes one header at b and returns its length; lengths of what
 * follows are passed in, so a test lays out a frame outer to inner. The
 * harness records what the decoder hands to its handlers.
 */
#ifndef SIPTAP_TESTS_DECODERS_FRAME_BUILD_H
#define SIPTAP_TESTS_DECODERS_FRAME_BUILD_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/decode.h"

static const uint8_t ip4_a[4] = {10, 0, 0, 1};
static const uint8_t ip4_b[4] = {10, 0, 0, 2};
static const uint8_t ip6_a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t ip6_b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

static inline void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static inline void put32(uint8_t *b, uint32_t v)
{
    put16(b, (uint16_t)(v >> 16));
    put16(b + 2, (uint16_t)v);
}

static inline size_t put_eth(uint8_t *b, uint16_t type)
{
    memset(b, 0, 12);
    b[0] = 0x02;
    b[6] = 0x02;
    b[11] = 1;
    put16(b + 12, type);
    return 14;
}

static inline size_t put_vlan(uint8_t *b, uint16_t id, uint16_t type)
{
    put16(b, id);
    put16(b + 2, type);
    return 4;
}

static inline size_t put_ipv4(uint8_t *b, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                              uint16_t id, uint16_t frag, size_t payload_len)
{
    memset(b, 0, 20);
    b[0] = 0x45;
    put16(b + 2, (uint16_t)(20 + payload_len));
    put16(b + 4, id);
    put16(b + 6, frag);
    b[8] = 64;
    b[9] = proto;
    memcpy(b + 12, src, 4);
    memcpy(b + 16, dst, 4);
    return 20;
}

static inline size_t put_ipv6(uint8_t *b, const uint8_t src[16], const uint8_t dst[16],
                              uint8_t next, size_t payload_len)
{
    memset(b, 0, 40);
    b[0] = 0x60;
    put16(b + 4, (uint16_t)payload_len);
    b[6] = next;
    b[7] = 64;
    memcpy(b + 8, src, 16);
    memcpy(b + 24, dst, 16);
    return 40;
}

static inline size_t put_udp(uint8_t *b, uint16_t sport, uint16_t dport, size_t payload_len)
{
    put16(b, sport);
    put16(b + 2, dport);
    put16(b + 4, (uint16_t)(8 + payload_len));
    put16(b + 6, 0);
    return 8;
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static inline size_t put_tcp(uint8_t *b, uint16_t sport, uint16_t dport, uint32_t seq,
                             uint8_t flags)
{
    memset(b, 0, 20);
    put16(b, sport);
    put16(b + 2, dport);
    put32(b + 4, seq);
    b[12] = 5 << 4;
    b[13] = flags;
    put16(b + 14, 65535);
    return 20;
}

/* What the handlers saw. */
struct harness {
    struct counters counters;
    struct decoder *d;
    int udp_count, sctp_count;
    struct packet last; /* payload copied to last_payload (UDP or SCTP) */
    char last_payload[70000];
    /* TCP: bytes delivered per direction (concatenation of what the handler
     * consumed), and how the handler consumes. */
    char tcp_seen[2][16384];
    size_t tcp_seen_len[2];
    int tcp_calls;
    char tcp_last_call[4096];
    size_t consume_mode; /* 0: all; 1: whole "\n\n"-terminated messages only */
    int closes;
    uint64_t last_closed;
    uint64_t stream_ids[2];
    struct endpoint dir0_src;
    uint64_t scan_state_seen; /* *tcp_data.scan_state on the last call */
};

static inline uint64_t counter(struct harness *h, const char *name)
{
    char full[64];
    snprintf(full, sizeof(full), "decode.%s", name);
    return counters_get(&h->counters, full);
}

static inline void harness_record(struct harness *h, const struct packet *p)
{
    h->last = *p;
    cr_assert_leq(p->payload_len, sizeof(h->last_payload) - 1);
    memcpy(h->last_payload, p->payload, p->payload_len);
    h->last_payload[p->payload_len] = 0;
}

static inline void harness_on_udp(void *user, const struct packet *p)
{
    struct harness *h = user;
    h->udp_count++;
    harness_record(h, p);
}

static inline void harness_on_sctp(void *user, const struct packet *p)
{
    struct harness *h = user;
    h->sctp_count++;
    harness_record(h, p);
}

static inline size_t harness_on_tcp(void *user, const struct tcp_data *t)
{
    struct harness *h = user;
    h->tcp_calls++;
    h->scan_state_seen = t->scan_state ? *t->scan_state : UINT64_MAX;
    size_t n = t->len < sizeof(h->tcp_last_call) - 1 ? t->len : sizeof(h->tcp_last_call) - 1;
    memcpy(h->tcp_last_call, t->data, n);
    h->tcp_last_call[n] = 0;
    if (t->direction == 0)
        h->dir0_src = t->src;
    size_t consumed = t->len;
    if (h->consume_mode == 1) {
        consumed = 0;
        for (size_t i = 0; i + 1 < t->len; i++)
            if (t->data[i] == '\n' && t->data[i + 1] == '\n')
                consumed = i + 2;
        if (t->scan_state) /* what a framer would note: how much it has looked at */
            *t->scan_state = t->len - consumed;
    }
    size_t *seen = &h->tcp_seen_len[t->direction];
    if (consumed > 0 && *seen + consumed < sizeof(h->tcp_seen[0])) {
        memcpy(h->tcp_seen[t->direction] + *seen, t->data, consumed);
        *seen += consumed;
        h->tcp_seen[t->direction][*seen] = 0;
    }
    return consumed;
}

static inline void harness_on_close(void *user, uint64_t id)
{
    struct harness *h = user;
    h->closes++;
    h->last_closed = id;
}

static inline void harness_start(struct harness *h, const struct decoder_config *cfg, int dlt)
{
    memset(h, 0, sizeof(*h));
    counters_init(&h->counters);
    struct decoder_config defaults;
    decoder_config_defaults(&defaults);
    struct decode_handlers handlers = {.user = h,
                                       .udp = harness_on_udp,
                                       .sctp = harness_on_sctp,
                                       .tcp_data = harness_on_tcp,
                                       .tcp_close = harness_on_close};
    h->d = decoder_new(cfg ? cfg : &defaults, &h->counters, &handlers);
    cr_assert_not_null(h->d);
    cr_assert_eq(decoder_set_linktype(h->d, dlt), 0);
}

/* A frame captured with a snap length: caplen of its wirelen bytes kept. */
static inline void harness_feed_snapped(struct harness *h, uint64_t ts_us, const uint8_t *frame,
                                        size_t caplen, size_t wirelen)
{
    uint8_t *copy = malloc(caplen ? caplen : 1);
    cr_assert_not_null(copy);
    memcpy(copy, frame, caplen);
    decoder_process(h->d, ts_us, copy, (uint32_t)caplen, (uint32_t)wirelen);
    free(copy);
}

static inline void harness_feed(struct harness *h, uint64_t ts_us, const uint8_t *frame, size_t len)
{
    /* A heap copy of exactly len bytes, so ASan sees any read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, frame, len);
    decoder_process(h->d, ts_us, copy, (uint32_t)len, (uint32_t)len);
    free(copy);
}

static inline void harness_stop(struct harness *h)
{
    decoder_free(h->d);
    h->d = NULL;
}

/* Ethernet / IPv4 / UDP around payload; returns the frame length. */
static inline size_t build_udp4(uint8_t *b, uint16_t sport, uint16_t dport, const void *payload,
                                size_t len)
{
    size_t n = put_eth(b, 0x0800);
    n += put_ipv4(b + n, ip4_a, ip4_b, 17, 1, 0, 8 + len);
    n += put_udp(b + n, sport, dport, len);
    memcpy(b + n, payload, len);
    return n + len;
}

/* Ethernet / IPv4 / TCP; from_a chooses the direction (a:5060 -> b:5080). */
static inline size_t build_tcp4(uint8_t *b, bool from_a, uint32_t seq, uint8_t flags,
                                const char *payload)
{
    size_t len = payload ? strlen(payload) : 0;
    size_t n = put_eth(b, 0x0800);
    n += put_ipv4(b + n, from_a ? ip4_a : ip4_b, from_a ? ip4_b : ip4_a, 6, 1, 0, 20 + len);
    n += put_tcp(b + n, from_a ? 5060 : 5080, from_a ? 5080 : 5060, seq, flags);
    if (len)
        memcpy(b + n, payload, len);
    return n + len;
}

#endif

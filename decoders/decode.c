/*
 * decode: the decoder object and the per-frame entry point.
 *
 * decoder_new() registers every "decode" counter once (the list lives in
 * decode_internal.h) and sets up the two stateful tables: IP fragments
 * (frag.c) and TCP streams (tcp.c). decoder_process() fills a packet view on
 * the stack and hands the frame to the link layer (link.c); the layers then
 * call each other down to UDP / TCP. Timeouts run on capture time, both when
 * the daemon calls decoder_expire() and lazily before each frame, so a file
 * replay gives the same results as a live capture.
 */
#include "decoders/decode.h"

#include <stdlib.h>
#include <string.h>

#include "decoders/decode_internal.h"

void decoder_config_defaults(struct decoder_config *cfg)
{
    cfg->frag_max_datagrams = 4096;
    cfg->frag_max_per_source = 256;
    cfg->frag_timeout_ms = 30000;
    cfg->tcp_max_streams = 65536;
    cfg->tcp_max_pending = 256 * 1024;
    cfg->tcp_max_buffered = 64 * 1024 * 1024;
    cfg->tcp_idle_timeout_ms = 300000;
    cfg->tunnel_max_depth = 3;
}

static void decoder_register_counters(struct decoder *d, struct counters *counters)
{
#define DECODE_COUNTER_REGISTER(name) d->c.name = counters_register(counters, "decode", #name);
    DECODE_COUNTERS(DECODE_COUNTER_REGISTER)
#undef DECODE_COUNTER_REGISTER
}

struct decoder *decoder_new(const struct decoder_config *cfg, struct counters *counters,
                            const struct decode_handlers *handlers)
{
    struct decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = *cfg;
    /* A config built before tunnel_max_depth existed leaves it 0: keep the default. */
    if (d->cfg.tunnel_max_depth == 0)
        d->cfg.tunnel_max_depth = 3;
    if (d->cfg.frag_max_per_source == 0 || d->cfg.frag_max_per_source > d->cfg.frag_max_datagrams)
        d->cfg.frag_max_per_source = d->cfg.frag_max_datagrams;
    d->handlers = *handlers;
    d->dlt = -1;
    decoder_register_counters(d, counters);
    if (!frag_table_init(&d->frag, &d->cfg)) {
        free(d);
        return NULL;
    }
    if (!tcp_table_init(&d->tcp, &d->cfg)) {
        frag_table_destroy(&d->frag);
        free(d);
        return NULL;
    }
    return d;
}

void decoder_free(struct decoder *d)
{
    if (!d)
        return;
    frag_table_destroy(&d->frag);
    tcp_table_destroy(d);
    sctp_partials_free(d);
    free(d);
}

void decoder_frame_begin(struct decoder *d, uint64_t ts_us)
{
    (*d->c.frames)++;
    /* Most frames find both tables empty (RTP, SIP over UDP): no call then. */
    if (!list_empty(&d->frag.by_age))
        frag_expire(d, ts_us);
    if (!list_empty(&d->tcp.lru))
        tcp_expire(d, ts_us);
}

void decoder_process(struct decoder *d, uint64_t ts_us, const uint8_t *frame, uint32_t caplen,
                     uint32_t wirelen)
{
    decoder_frame_begin(d, ts_us);
    struct packet p;
    memset(&p, 0, sizeof(p));
    p.ts_us = ts_us;
    p.frame = frame;
    p.caplen = caplen;
    p.wirelen = wirelen;
    decode_link(d, &p, frame, caplen);
}

void decoder_expire(struct decoder *d, uint64_t now_us)
{
    frag_expire(d, now_us);
    tcp_expire(d, now_us);
}

size_t decoder_frag_count(const struct decoder *d)
{
    return hashtab_count(&d->frag.datagrams);
}

size_t decoder_tcp_buffered_bytes(const struct decoder *d)
{
    return d->tcp.held_bytes;
}

size_t decoder_tcp_stream_count(const struct decoder *d)
{
    return hashtab_count(&d->tcp.streams);
}

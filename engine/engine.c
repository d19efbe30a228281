/*
 * engine: see engine.h. The one place where the layers are wired together:
 * the decoder's handlers feed the SIP layer and the call table, the SIP
 * layer's messages go to the call table, the rules observe the call table,
 * and everything publishes on the engine's event bus.
 */
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"
#include "rtp/flow.h"

struct engine {
    struct counters counters;
    struct timerq timers;
    struct event_bus bus;
    struct decoder *decoder;
    struct sip_layer *sip;
    struct call_table *calls;
    struct rules *rules;
    struct engine_taps taps;

    uint64_t *packets, *bytes, *udp_datagrams, *tcp_bytes;
    bool clock_started;
    uint64_t clock_target_us; /* the time the clock is being moved to */
};

/* ---- the decoder's output: the layers plug in here ---- */

static void on_udp(void *user, const struct packet *pkt)
{
    struct engine *e = user;
    (*e->udp_datagrams)++;
    if (e->taps.udp)
        e->taps.udp(e->taps.user, pkt);
    if (!sip_layer_udp(e->sip, pkt)) {
        if (e->taps.media)
            e->taps.media(e->taps.user, pkt);
        call_table_udp(e->calls, pkt);
    }
}

static void on_sctp(void *user, const struct packet *pkt)
{
    struct engine *e = user;
    sip_layer_sctp(e->sip, pkt);
}

static size_t on_tcp_data(void *user, const struct tcp_data *data)
{
    struct engine *e = user;
    *e->tcp_bytes += data->len;
    return sip_layer_tcp(e->sip, data);
}

static void on_tcp_close(void *user, uint64_t stream_id)
{
    struct engine *e = user;
    sip_layer_tcp_close(e->sip, stream_id);
}

static void on_sip_message(void *user, const struct sip_msg *msg, const struct sip_meta *meta)
{
    struct engine *e = user;
    if (e->taps.sip)
        e->taps.sip(e->taps.user, msg, meta);
    call_table_sip(e->calls, msg, meta);
}

/* ---- life ---- */

struct engine *engine_new(const struct engine_config *cfg, const struct engine_taps *taps,
                          enum engine_error *error, char *err, size_t errlen)
{
    *error = ENGINE_ERR_MEMORY;
    snprintf(err, errlen, "out of memory");
    struct engine *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    if (taps)
        e->taps = *taps;
    counters_init(&e->counters);
    timerq_init(&e->timers);
    event_bus_init(&e->bus, cfg->tap_name ? cfg->tap_name : "");
    e->packets = counters_register(&e->counters, "capture", "packets");
    e->bytes = counters_register(&e->counters, "capture", "bytes");
    e->udp_datagrams = counters_register(&e->counters, "transport", "udp_datagrams");
    e->tcp_bytes = counters_register(&e->counters, "transport", "tcp_bytes");

    struct decode_handlers h = {.user = e,
                                .udp = on_udp,
                                .sctp = on_sctp,
                                .tcp_data = on_tcp_data,
                                .tcp_close = on_tcp_close};
    static const struct trunk_list no_trunks;
    static const struct rule_settings no_settings;
    const struct trunk_list *trunks = cfg->trunks ? cfg->trunks : &no_trunks;
    e->decoder = decoder_new(&cfg->decoder, &e->counters, &h);
    e->sip = sip_layer_new(&e->counters, on_sip_message, e);
    e->calls = call_table_new(&cfg->limits, trunks, &e->counters, &e->timers, &e->bus);
    if (!e->decoder || !e->sip || !e->calls) {
        engine_free(e);
        return NULL;
    }
    e->rules = rules_new(cfg->rules ? cfg->rules : &no_settings, e->calls, &e->timers, &e->bus,
                         &e->counters, trunks, err, errlen);
    if (!e->rules) {
        *error = ENGINE_ERR_RULES;
        engine_free(e);
        return NULL;
    }
    *error = ENGINE_OK;
    return e;
}

void engine_set_taps(struct engine *e, const struct engine_taps *taps)
{
    e->taps = *taps;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    /* The table first: freeing it tells the detectors (call_freed) to drop
     * their per-call state, which needs the detectors still alive. */
    call_table_free(e->calls);
    rules_free(e->rules);
    if (e->sip)
        sip_layer_free(e->sip);
    if (e->decoder)
        decoder_free(e->decoder);
    event_bus_destroy(&e->bus);
    timerq_destroy(&e->timers);
    free(e);
}

int engine_set_linktype(struct engine *e, int dlt)
{
    return decoder_set_linktype(e->decoder, dlt);
}

/* ---- time ---- */

static void start_clock(struct engine *e, uint64_t ts)
{
    e->clock_started = true;
    e->timers.now_us = ts;
    e->clock_target_us = ts;
    if (e->taps.clock_started)
        e->taps.clock_started(e->taps.user, ts);
}

void engine_start_clock(struct engine *e, uint64_t now_us)
{
    if (!e->clock_started)
        start_clock(e, now_us);
}

void engine_tick(struct engine *e, uint64_t now_us)
{
    if (!e->clock_started)
        start_clock(e, now_us);
    if (now_us > e->clock_target_us)
        e->clock_target_us = now_us;
    timerq_advance(&e->timers, now_us);
    decoder_expire(e->decoder, timerq_now(&e->timers));
}

void engine_finish(struct engine *e, uint64_t now_us)
{
    call_table_close_all(e->calls, now_us);
}

void engine_set_capture_lost(struct engine *e, uint64_t total, uint64_t ts_us)
{
    call_table_set_capture_lost(e->calls, total, ts_us);
}

/* ---- frames ---- */

static uint64_t frame_time(const struct pcap_pkthdr *hdr)
{
    return timefmt_capture_us(hdr->ts.tv_sec, hdr->ts.tv_usec);
}

/* What every frame costs before decoding: counted, the capture clock and
 * its timers moved on to its time ts. */
static void frame_begin(struct engine *e, const struct pcap_pkthdr *hdr, const uint8_t *data,
                        uint64_t ts)
{
    if (e->taps.frame)
        e->taps.frame(e->taps.user, hdr, data);
    (*e->packets)++;
    *e->bytes += hdr->len;
    if (!e->clock_started)
        start_clock(e, ts);
    e->clock_target_us = ts;
    timerq_advance(&e->timers, ts);
}

/* A batch is looked over before it is processed. Each frame of the common
 * shape (decoder_peek: plain UDP) is decoded there, once: processing it then
 * starts at its UDP datagram. With thousands of calls, every RTP packet also
 * finds its flow cold in memory: its table slot, then the flow, two misses
 * one after the other. Starting all the slots' misses, then all the flows'
 * (real loads: see core/hashtab.h), lets them overlap; processing then finds
 * the lines in cache, and the packet carries its key's hash to the lookup.
 * Any other frame is decoded in full in its turn. */
void engine_look_ahead(const struct decoder *d, const struct rtp_flow_table *flows,
                       const struct capture_frame *frames, size_t count, struct packet *peeked)
{
    for (size_t i = 0; i < count; i++) {
        const struct capture_frame *f = &frames[i];
        struct packet *p = &peeked[i];
        if (decoder_peek(d, frame_time(&f->hdr), f->data, f->hdr.caplen, f->hdr.len, p)) {
            p->flow_hash = rtp_flow_prefetch_slot(flows, &p->src, p->sport, &p->dst, p->dport);
            p->flow_hashed = true;
        } else {
            p->flow_hashed = false;
        }
    }
    if (count > 1)
        for (size_t i = 0; i < count; i++)
            if (peeked[i].flow_hashed)
                rtp_flow_warm(flows, peeked[i].flow_hash);
}

static void process_batch(struct engine *e, const struct capture_frame *frames, size_t count)
{
    struct packet peeked[ENGINE_BATCH_FRAMES];
    engine_look_ahead(e->decoder, call_table_flows(e->calls), frames, count, peeked);
    for (size_t i = 0; i < count; i++) {
        const struct capture_frame *f = &frames[i];
        /* A peeked frame's packet carries its time already. */
        uint64_t ts = peeked[i].flow_hashed ? peeked[i].ts_us : frame_time(&f->hdr);
        frame_begin(e, &f->hdr, f->data, ts);
        if (peeked[i].flow_hashed)
            decoder_process_peeked(e->decoder, &peeked[i]);
        else
            decoder_process(e->decoder, ts, f->data, f->hdr.caplen, f->hdr.len);
    }
}

void engine_frames(struct engine *e, const struct capture_frame *frames, size_t count)
{
    for (size_t done = 0; done < count; done += ENGINE_BATCH_FRAMES) {
        size_t n = count - done;
        process_batch(e, frames + done, n < ENGINE_BATCH_FRAMES ? n : ENGINE_BATCH_FRAMES);
    }
}

void engine_payload(struct engine *e, const struct packet *pkt)
{
    struct pcap_pkthdr hdr = {.caplen = pkt->caplen, .len = pkt->wirelen};
    hdr.ts.tv_sec = (time_t)(pkt->ts_us / 1000000u);
    hdr.ts.tv_usec = (suseconds_t)(pkt->ts_us % 1000000u);
    frame_begin(e, &hdr, pkt->frame, pkt->ts_us);
    if (pkt->ip_proto == 132)
        on_sctp(e, pkt);
    else
        on_udp(e, pkt);
}

/* ---- what drivers read ---- */

bool engine_clock_started(const struct engine *e)
{
    return e->clock_started;
}

uint64_t engine_now(const struct engine *e)
{
    return timerq_now(&e->timers);
}

uint64_t engine_clock_target(const struct engine *e)
{
    return e->clock_target_us;
}

uint64_t engine_packets(const struct engine *e)
{
    return *e->packets;
}

uint64_t engine_bytes(const struct engine *e)
{
    return *e->bytes;
}

struct counters *engine_counters(struct engine *e)
{
    return &e->counters;
}

struct timerq *engine_timers(struct engine *e)
{
    return &e->timers;
}

struct event_bus *engine_bus(struct engine *e)
{
    return &e->bus;
}

struct call_table *engine_calls(struct engine *e)
{
    return e->calls;
}

struct rules *engine_rules(struct engine *e)
{
    return e->rules;
}

struct decoder *engine_decoder(struct engine *e)
{
    return e->decoder;
}

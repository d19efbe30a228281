/*
 * rtp_floor: what siptap's per-packet RTP analysis costs on its own, on top of
 * libpcap's reading: the cost any design of the daemon starts from.
 *
 * pcap_loop's read loop, whose callback does only what every RTP packet of a
 * call must have: the frame decoded to its UDP datagram (decoder_peek), its
 * flow found (or made) in the flow table, its header parsed and its stream's
 * Wireshark figures updated (rtp_flow_rtp_packet). No SIP, no calls, no
 * events, no frame copy and no look-ahead: frames are analysed where libpcap
 * leaves them. Its CPU time against pcap_loop's bounds target (a) from above
 * for this analysis: siptapd does all of this and more.
 *
 * With --lookahead, frames go through siptapd's batch look-ahead instead
 * (daemon/capture.c, then engine_look_ahead in engine/engine.c): copied out of
 * libpcap's buffer 16 at a time, peeked, their flow slots prefetched and
 * their flows warmed, then analysed; the same analysis with the flows' cache
 * misses overlapped, at the price of the copy and the second pass.
 *
 * With --touch there is no analysis at all, only what any per-stream
 * analysis pays at least: reaching each RTP packet's flow state in memory.
 * Decoding and hashing are kept; each packet's flow is then found (or made)
 * and written where the analysis writes it (the key line and the first
 * stream's two hot lines), through a software pipeline deeper than the
 * look-ahead: a packet's slot is prefetched when libpcap hands it over, its
 * flow's lines prefetched TOUCH_DEPTH / 2 packets later (rtp_flow_prefetch,
 * which does not wait for them as rtp_flow_warm's loads do) and written
 * TOUCH_DEPTH packets later. Only the addresses travel down the pipeline: no
 * frame is copied. Its time above pcap_loop's is the memory floor of
 * target (a): what the per-stream state costs to reach before any figure is
 * computed.
 *
 *   rtp_floor [--lookahead | --touch] FILE     prints "packets rtp_packets flows"
 */
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/counters.h"
#include "engine/engine.h" /* the daemon's look-ahead, ENGINE_BATCH_FRAMES */
#include "decoders/decode.h"
#include "rtp/flow.h"
#include "rtp/rtp.h"
#include "rtp/stream.h"

/* Room for every flow of bench/gen_load's largest captures. */
#define FLOOR_MAX_FLOWS (1u << 20)
/* Room per held frame: gen_load's frames are far smaller. */
#define FLOOR_FRAME_BYTES 2048
/* --touch: packets between a slot's prefetch and its flow's write. 8, 16
 * and 32 measured the same within the benchmark machine's noise. */
#define TOUCH_DEPTH 16

/* A packet in the --touch pipeline: where it goes, not what it carries. */
struct touch_entry {
    struct net_addr src, dst;
    uint16_t sport, dport;
    uint64_t hash, ts_us;
};

/* The lines --touch writes are the ones rtp_stream_update writes. */
_Static_assert(offsetof(struct rtp_flow, first) + offsetof(struct rtp_stream, packets) < 128,
               "packets is on the first stream's first hot line");
_Static_assert(offsetof(struct rtp_flow, first) + offsetof(struct rtp_stream, max_delta_ms) >= 128,
               "max_delta_ms is on the first stream's second hot line");

struct floor_run {
    struct decoder *decoder;
    struct rtp_flow_table flows;
    unsigned long long packets, rtp_packets;
    /* --lookahead: the frames held, copied, and their timestamps. */
    size_t held;
    uint8_t frames[ENGINE_BATCH_FRAMES][FLOOR_FRAME_BYTES];
    struct pcap_pkthdr hdrs[ENGINE_BATCH_FRAMES];
    /* --touch: the pipeline, entry n at n % TOUCH_DEPTH; entered counts them. */
    struct touch_entry pipeline[TOUCH_DEPTH];
    unsigned long long entered;
};

static uint64_t frame_ts(const struct pcap_pkthdr *hdr)
{
    return (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
}

/* As sip_layer_udp and media_udp tell them: SIP starts below 0x80. */
static bool is_rtp_candidate(const struct packet *p)
{
    return p->payload_len && p->payload[0] >= 0x80 && !rtcp_looks_like(p->payload, p->payload_len);
}

static void analyse_peeked(struct floor_run *r, const struct packet *p)
{
    struct rtp_flow *f = rtp_flow_find_packet(&r->flows, p);
    if (!f) {
        struct endpoint src = {.addr = p->src, .port = p->sport};
        struct endpoint dst = {.addr = p->dst, .port = p->dport};
        f = rtp_flow_create(&r->flows, &src, &dst, NULL, 0);
        if (!f)
            return;
    }
    if (rtp_flow_rtp_packet(&r->flows, f, p->payload, p->payload_len, p->ts_us))
        r->rtp_packets++;
}

static void analyse(u_char *user, const struct pcap_pkthdr *hdr, const u_char *frame)
{
    struct floor_run *r = (struct floor_run *)user;
    r->packets++;
    struct packet p;
    if (decoder_peek(r->decoder, frame_ts(hdr), frame, hdr->caplen, hdr->len, &p) &&
        is_rtp_candidate(&p))
        analyse_peeked(r, &p);
}

/* The daemon's look-ahead (engine_look_ahead) over the held frames, then
 * the RTP among them analysed, each lookup starting from its carried hash. */
static void analyse_batch(struct floor_run *r)
{
    struct capture_frame frames[ENGINE_BATCH_FRAMES];
    struct packet p[ENGINE_BATCH_FRAMES];
    for (size_t i = 0; i < r->held; i++)
        frames[i] = (struct capture_frame){r->hdrs[i], r->frames[i]};
    engine_look_ahead(r->decoder, &r->flows, frames, r->held, p);
    for (size_t i = 0; i < r->held; i++)
        if (p[i].flow_hashed && is_rtp_candidate(&p[i]))
            analyse_peeked(r, &p[i]);
    r->held = 0;
}

static void hold(u_char *user, const struct pcap_pkthdr *hdr, const u_char *frame)
{
    struct floor_run *r = (struct floor_run *)user;
    r->packets++;
    if (hdr->caplen > FLOOR_FRAME_BYTES)
        return;
    memcpy(r->frames[r->held], frame, hdr->caplen);
    r->hdrs[r->held++] = *hdr;
    if (r->held == ENGINE_BATCH_FRAMES)
        analyse_batch(r);
}

/* The pipeline's last stage: the flow found or made, and its lines written. */
static void touch_flow(struct floor_run *r, const struct touch_entry *e)
{
    struct rtp_flow *f =
        rtp_flow_find_hashed(&r->flows, e->hash, &e->src, e->sport, &e->dst, e->dport);
    if (!f) {
        struct endpoint src = {.addr = e->src, .port = e->sport};
        struct endpoint dst = {.addr = e->dst, .port = e->dport};
        f = rtp_flow_create(&r->flows, &src, &dst, NULL, 0);
        if (!f)
            return;
    }
    f->last_us = e->ts_us;
    f->first.packets++;
    f->first.max_delta_ms += 1;
    r->rtp_packets++;
}

static void touch(u_char *user, const struct pcap_pkthdr *hdr, const u_char *frame)
{
    struct floor_run *r = (struct floor_run *)user;
    r->packets++;
    struct packet p;
    if (!decoder_peek(r->decoder, frame_ts(hdr), frame, hdr->caplen, hdr->len, &p) ||
        !is_rtp_candidate(&p))
        return;
    unsigned long long n = r->entered++;
    struct touch_entry *slot = &r->pipeline[n % TOUCH_DEPTH];
    if (n >= TOUCH_DEPTH)
        touch_flow(r, slot); /* packet n - TOUCH_DEPTH leaves the slot n takes */
    *slot = (struct touch_entry){p.src, p.dst, p.sport, p.dport, 0, p.ts_us};
    slot->hash = rtp_flow_prefetch_slot(&r->flows, &p.src, p.sport, &p.dst, p.dport);
    if (n >= TOUCH_DEPTH / 2)
        rtp_flow_prefetch(&r->flows, r->pipeline[(n - TOUCH_DEPTH / 2) % TOUCH_DEPTH].hash);
}

static void touch_drain(struct floor_run *r)
{
    unsigned long long n = r->entered;
    for (unsigned long long i = n > TOUCH_DEPTH ? n - TOUCH_DEPTH : 0; i < n; i++)
        touch_flow(r, &r->pipeline[i % TOUCH_DEPTH]);
}

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    bool lookahead = argc == 3 && strcmp(argv[1], "--lookahead") == 0;
    bool touching = argc == 3 && strcmp(argv[1], "--touch") == 0;
    if (argc != 2 && !lookahead && !touching) {
        fprintf(stderr, "usage: rtp_floor [--lookahead | --touch] FILE\n");
        return 2;
    }
    const char *path = argv[argc - 1];
    static struct counters counters; /* large: not on the stack */
    counters_init(&counters);
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    struct decode_handlers none;
    memset(&none, 0, sizeof(none));
    static struct floor_run r; /* large: not on the stack */
    r.decoder = decoder_new(&cfg, &counters, &none);
    if (!r.decoder || !rtp_flow_table_init(&r.flows, FLOOR_MAX_FLOWS, &counters)) {
        fprintf(stderr, "rtp_floor: out of memory\n");
        return 1;
    }
    pcap_t *p = pcap_open_offline(path, err);
    if (!p) {
        fprintf(stderr, "rtp_floor: %s\n", err);
        return 1;
    }
    if (decoder_set_linktype(r.decoder, pcap_datalink(p)) < 0) {
        fprintf(stderr, "rtp_floor: link type %d not supported\n", pcap_datalink(p));
        return 1;
    }
    pcap_handler handler = lookahead ? hold : touching ? touch : analyse;
    while (pcap_dispatch(p, 512, handler, (u_char *)&r) > 0)
        ;
    analyse_batch(&r);
    touch_drain(&r);
    pcap_close(p);
    printf("%llu %llu %zu\n", r.packets, r.rtp_packets, hashtab_count(&r.flows.table));
    rtp_flow_table_destroy(&r.flows);
    decoder_free(r.decoder);
    return 0;
}

/*
 * flow: the table of media flows, the per-packet entry point of RTP.
 *
 * A flow is one direction of media between two UDP endpoints; it is found by
 * hashing its (src, dst) key in core/hashtab, so the per-packet path is one
 * hash of five words and their compare, a header parse, a linear look at the flow's few
 * streams for the SSRC (last one first), and the stream update: no allocation
 * except for the flow itself, created by the caller on a flow's first packet.
 *
 * Size is speed here: with thousands of calls their packets interleave, so
 * every packet finds its flow cold in memory. A flow is 320 bytes, 64-byte
 * aligned: one line of key and header, then the first stream, whose fields a
 * packet touches come first. What few flows need (SDP codec and mapped
 * payload types, streams after an SSRC change) lives in a separately
 * allocated rtp_flow_extra, made on first need; its payload map is shared by
 * all the flow's streams, so mapping the flow maps them all.
 *
 * Keys are hashed and compared as words read from their fields (flow_words),
 * so endpoint padding never counts. RTCP that shares the flow (rtcp-mux) is recognised
 * by its packet type and its report blocks are attached to the reverse flow's
 * streams, which is the far end's view of the media we saw it receive.
 */
#include "rtp/flow.h"

#include "rtp/rtcp.h"
#include "rtp/rtp.h"
#include "rtp/stream.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A flow's key, (src, dst), as five words read straight from the endpoint
 * fields: the address bytes as the two 8-byte words net_addr_set_v4/v6 store
 * (so the loads are forwarded from those stores when they are recent), ports
 * and families in the fifth. Hashing a byte image of the key built on the
 * stack instead made every packet wait on loads spanning narrow stores. */
struct flow_words {
    uint64_t w[5];
};

/* Addresses and ports are taken separately, so that a caller holding them in
 * a packet view passes them where they are: copying them into an endpoint
 * first would again leave the word loads spanning the copy's stores. */
static inline struct flow_words flow_words(const struct net_addr *src, uint16_t sport,
                                           const struct net_addr *dst, uint16_t dport)
{
    struct flow_words k = {{
        hashtab_load64(src->bytes),
        hashtab_load64(src->bytes + 8),
        hashtab_load64(dst->bytes),
        hashtab_load64(dst->bytes + 8),
        (uint64_t)sport | (uint64_t)dport << 16 | (uint64_t)src->family << 32 |
            (uint64_t)dst->family << 40,
    }};
    return k;
}

/* Two independent 128-bit products (the wyhash primitive), then a third
 * folding in ports and families. */
static inline uint64_t flow_words_hash(const struct flow_words *k)
{
    uint64_t a = hashtab_fold_mul(k->w[0] ^ 0xa0761d6478bd642fULL, k->w[1] ^ 0xe7037ed1a0b428dbULL);
    uint64_t b = hashtab_fold_mul(k->w[2] ^ 0x8ebc6af09c88c6e3ULL, k->w[3] ^ 0x589965cc75374cc3ULL);
    return hashtab_mix64(hashtab_fold_mul(a ^ k->w[4], b ^ 0x1d8e4e27c47d124fULL));
}

static uint64_t flow_item_hash(const void *item)
{
    const struct rtp_flow *f = item;
    struct flow_words k =
        flow_words(&f->key.src.addr, f->key.src.port, &f->key.dst.addr, f->key.dst.port);
    return flow_words_hash(&k);
}

static inline bool flow_matches(const void *item, const void *key)
{
    const struct rtp_flow *f = item;
    const struct flow_words *k = key;
    struct flow_words fk =
        flow_words(&f->key.src.addr, f->key.src.port, &f->key.dst.addr, f->key.dst.port);
    return ((fk.w[0] ^ k->w[0]) | (fk.w[1] ^ k->w[1]) | (fk.w[2] ^ k->w[2]) | (fk.w[3] ^ k->w[3]) |
            (fk.w[4] ^ k->w[4])) == 0;
}

/* The stored key is assigned field by field: padding never matters, since
 * keys are read only through flow_words. */
static void key_set(struct rtp_flow *f, const struct endpoint *src, const struct endpoint *dst)
{
    f->key.src.addr = src->addr;
    f->key.src.port = src->port;
    f->key.dst.addr = dst->addr;
    f->key.dst.port = dst->port;
}

bool rtp_flow_table_init(struct rtp_flow_table *t, size_t max_flows, struct counters *counters)
{
    memset(t, 0, sizeof(*t));
    if (!hashtab_init_hashed(&t->table, flow_item_hash, max_flows))
        return false;
    pool_init(&t->flows, sizeof(struct rtp_flow), 64, 64 * 1024);
    COUNTERS_REGISTER(RTP_COUNTERS, counters, "rtp", &t->c);
    t->srs = calloc(RTCP_SR_SLOTS, sizeof(*t->srs));
    if (!t->srs) {
        hashtab_destroy(&t->table);
        return false;
    }
    return true;
}

static void flow_free(struct rtp_flow_table *t, struct rtp_flow *f)
{
    free(f->extra);
    pool_put(&t->flows, f);
}

static void free_flow(void *item, void *arg)
{
    flow_free(arg, item);
}

void rtp_flow_table_destroy(struct rtp_flow_table *t)
{
    free(t->srs);
    t->srs = NULL;
    if (!t->table.slots)
        return;
    hashtab_foreach(&t->table, free_flow, t);
    hashtab_destroy(&t->table);
    pool_destroy(&t->flows);
}

struct rtp_flow *rtp_flow_find_addrs(struct rtp_flow_table *t, const struct net_addr *src,
                                     uint16_t sport, const struct net_addr *dst, uint16_t dport)
{
    struct flow_words k = flow_words(src, sport, dst, dport);
    return hashtab_find_hashed(&t->table, flow_words_hash(&k), flow_matches, &k);
}

struct rtp_flow *rtp_flow_find_hashed(struct rtp_flow_table *t, uint64_t hash,
                                      const struct net_addr *src, uint16_t sport,
                                      const struct net_addr *dst, uint16_t dport)
{
    struct flow_words k = flow_words(src, sport, dst, dport);
    struct rtp_flow *f = hashtab_find_hashed(&t->table, hash, flow_matches, &k);
    if (f)
        return f;
    uint64_t right = flow_words_hash(&k);
    return right == hash ? NULL : hashtab_find_hashed(&t->table, right, flow_matches, &k);
}

struct rtp_flow *rtp_flow_find_packet(struct rtp_flow_table *t, const struct packet *pkt)
{
    if (pkt->flow_hashed)
        return rtp_flow_find_hashed(t, pkt->flow_hash, &pkt->src, pkt->sport, &pkt->dst,
                                    pkt->dport);
    return rtp_flow_find_addrs(t, &pkt->src, pkt->sport, &pkt->dst, pkt->dport);
}

struct rtp_flow *rtp_flow_find(struct rtp_flow_table *t, const struct endpoint *src,
                               const struct endpoint *dst)
{
    return rtp_flow_find_addrs(t, &src->addr, src->port, &dst->addr, dst->port);
}

uint64_t rtp_flow_prefetch_slot(const struct rtp_flow_table *t, const struct net_addr *src,
                                uint16_t sport, const struct net_addr *dst, uint16_t dport)
{
    struct flow_words k = flow_words(src, sport, dst, dport);
    uint64_t hash = flow_words_hash(&k);
    hashtab_prefetch_slot(&t->table, hash);
    return hash;
}

void rtp_flow_warm(const struct rtp_flow_table *t, uint64_t hash)
{
    /* The key and header line, and the first stream's hot fields: what
     * rtp_flow_find and rtp_stream_update touch for a packet. */
    hashtab_warm_item(&t->table, hash,
                      offsetof(struct rtp_flow, first) + offsetof(struct rtp_stream, pt_seen));
}

void rtp_flow_prefetch(const struct rtp_flow_table *t, uint64_t hash)
{
    hashtab_prefetch_item(&t->table, hash,
                          offsetof(struct rtp_flow, first) + offsetof(struct rtp_stream, pt_seen));
}

struct rtp_flow *rtp_flow_create(struct rtp_flow_table *t, const struct endpoint *src,
                                 const struct endpoint *dst, void *owner, int party)
{
    if (hashtab_count(&t->table) >= t->table.max_items) {
        (*t->c.flows_rejected_full)++;
        return NULL;
    }
    /* Line-aligned, so the key and the first stream's hot fields take as few
     * cache lines as they can. */
    struct rtp_flow *f = pool_get(&t->flows);
    if (!f) {
        (*t->c.flow_alloc_failed)++;
        return NULL;
    }
    key_set(f, src, dst);
    f->owner = owner;
    f->party = (int8_t)party;
    if (!hashtab_insert(&t->table, f)) {
        (*t->c.flows_rejected_full)++;
        pool_put(&t->flows, f);
        return NULL;
    }
    return f;
}

uint64_t rtp_flow_packets(const struct rtp_flow *f)
{
    uint64_t n = f->overflow_packets;
    for (size_t i = 0; i < f->stream_count; i++)
        n += rtp_flow_stream_const(f, i)->packets;
    return n;
}

void rtp_flow_remove(struct rtp_flow_table *t, struct rtp_flow *f)
{
    hashtab_remove(&t->table, f);
    flow_free(t, f);
}

static struct rtp_flow_extra *flow_extra(struct rtp_flow *f)
{
    if (!f->extra) {
        f->extra = calloc(1, sizeof(*f->extra));
        if (f->extra)
            for (size_t i = 0; i < f->stream_count; i++)
                rtp_flow_stream(f, i)->maps = &f->extra->maps;
    }
    return f->extra;
}

void rtp_flow_set_codec(struct rtp_flow *f, const char *name, uint32_t clock_rate)
{
    struct rtp_flow_extra *x = flow_extra(f);
    if (!x)
        return;
    struct rtp_stream probe;
    rtp_stream_init(&probe, 0);
    rtp_stream_set_codec(&probe, name, clock_rate);
    memcpy(x->codec, probe.codec, sizeof(x->codec));
    x->clock_rate = probe.clock_rate;
    x->codec_from_sdp = true;
    for (size_t i = 0; i < f->stream_count; i++)
        rtp_stream_set_codec(rtp_flow_stream(f, i), name, clock_rate);
}

bool rtp_flow_map_payload(struct rtp_flow *f, uint8_t pt, const char *name, uint32_t clock_rate)
{
    struct rtp_flow_extra *x = flow_extra(f);
    if (!x)
        return false;
    /* The flow's streams share x->maps: mapping it once maps them all. */
    struct rtp_stream probe;
    rtp_stream_init(&probe, 0);
    probe.maps = &x->maps;
    return rtp_stream_map_payload(&probe, pt, name, clock_rate);
}

static struct rtp_stream *stream_for(struct rtp_flow_table *t, struct rtp_flow *f, uint32_t ssrc)
{
    struct rtp_stream *last = rtp_flow_stream(f, f->last_stream);
    if (f->last_stream < f->stream_count && last->ssrc == ssrc)
        return last;
    for (size_t i = 0; i < f->stream_count; i++) {
        struct rtp_stream *s = rtp_flow_stream(f, i);
        if (s->ssrc == ssrc) {
            f->last_stream = (uint8_t)i;
            return s;
        }
    }
    if (f->stream_count >= RTP_FLOW_MAX_STREAMS) {
        f->overflow_packets++;
        (*t->c.ssrc_overflow)++;
        return NULL;
    }
    if (f->stream_count > 0 && !flow_extra(f)) {
        (*t->c.flow_alloc_failed)++;
        return NULL;
    }
    struct rtp_stream *s = rtp_flow_stream(f, f->stream_count);
    rtp_stream_init(s, ssrc);
    if (f->extra) {
        s->maps = &f->extra->maps;
        if (f->extra->codec_from_sdp) {
            memcpy(s->codec, f->extra->codec, sizeof(s->codec));
            s->clock_rate = f->extra->clock_rate;
            s->codec_from_sdp = true;
        }
    }
    f->last_stream = f->stream_count++;
    return s;
}

static struct rtp_stream *flow_rtp(struct rtp_flow_table *t, struct rtp_flow *f,
                                   const uint8_t *data, size_t len, uint64_t ts_us)
{
    struct rtp_header h;
    if (!rtp_parse(data, len, &h)) {
        (*t->c.not_rtp)++;
        return NULL;
    }
    struct rtp_stream *s = stream_for(t, f, h.ssrc);
    if (s)
        rtp_stream_update(s, &h, ts_us);
    return s;
}

static void flow_seen(struct rtp_flow_table *t, struct rtp_flow *f, uint64_t ts_us)
{
    (*t->c.packets)++;
    if (ts_us > f->last_us)
        f->last_us = ts_us;
}

struct rtp_stream *rtp_flow_packet(struct rtp_flow_table *t, struct rtp_flow *f,
                                   const uint8_t *data, size_t len, uint64_t ts_us)
{
    flow_seen(t, f, ts_us);
    if (rtcp_looks_like(data, len)) {
        struct rtcp_datagram d = {f->key.src, f->key.dst, ts_us, data, len};
        rtp_flow_table_rtcp(t, &d);
        return NULL;
    }
    return flow_rtp(t, f, data, len, ts_us);
}

struct rtp_stream *rtp_flow_rtp_packet(struct rtp_flow_table *t, struct rtp_flow *f,
                                       const uint8_t *data, size_t len, uint64_t ts_us)
{
    flow_seen(t, f, ts_us);
    return flow_rtp(t, f, data, len, ts_us);
}

static struct rtcp_sr_sighting *sr_slot(struct rtp_flow_table *t, uint32_t ssrc, uint32_t ntp_mid)
{
    uint32_t h = (ssrc ^ (ntp_mid * 0x9e3779b1u)) * 0x85ebca6bu;
    return &t->srs[(h >> 16) % RTCP_SR_SLOTS];
}

static void remember_sr(struct rtp_flow_table *t, const struct rtcp_packet_info *info,
                        const struct rtcp_datagram *d)
{
    if (!info->sr_ntp_mid)
        return;
    struct rtcp_sr_sighting *sr = sr_slot(t, info->sender_ssrc, info->sr_ntp_mid);
    if (sr->ntp_mid && (sr->ssrc != info->sender_ssrc || sr->ntp_mid != info->sr_ntp_mid))
        (*t->c.rtcp_sr_replaced)++;
    *sr = (struct rtcp_sr_sighting){info->sender_ssrc, info->sr_ntp_mid, d->ts_us, d->dst};
}

/* The round trip on the far side of the tap (RFC 3550 6.4.1, with the tap's
 * clock at both ends): the block names the SR it answers (LSR), and comes
 * from the address that SR went to. */
static uint64_t round_trip(struct rtp_flow_table *t, const struct rtcp_report_block *b,
                           const struct rtcp_datagram *d)
{
    if (!b->lsr)
        return RTCP_RTT_UNKNOWN;
    const struct rtcp_sr_sighting *sr = sr_slot(t, b->ssrc, b->lsr);
    if (sr->ssrc != b->ssrc || sr->ntp_mid != b->lsr || !endpoint_equal(&sr->to, &d->src))
        return RTCP_RTT_UNKNOWN;
    uint64_t held_us = ((uint64_t)b->dlsr * 1000000u + 32768u) / 65536u;
    if (d->ts_us < sr->seen_us + held_us)
        return RTCP_RTT_UNKNOWN; /* held longer than the trip took: no figure */
    return d->ts_us - sr->seen_us - held_us;
}

const struct rtcp_xr_view *rtp_flow_stream_xr(const struct rtp_flow *f, const struct rtp_stream *s)
{
    if (!f->extra)
        return NULL;
    for (size_t i = 0; i < f->stream_count; i++)
        if (rtp_flow_stream_const(f, i) == s)
            return f->extra->xr[i].reports ? &f->extra->xr[i] : NULL;
    return NULL;
}

/* What one report (an RR block or an XR VoIP Metrics block) is attached
 * with, by attach_report to each stream it is about. */
struct report_target {
    const struct rtcp_report_block *block; /* or NULL: */
    const struct rtcp_xr_voip *xr;
    uint64_t rtt_us;
};

static bool attach_report(struct rtp_flow_table *t, struct rtp_flow *f, size_t n,
                          const struct report_target *r)
{
    if (r->block) {
        rtp_stream_attach_rtcp(rtp_flow_stream(f, n), r->block, r->rtt_us);
        return true;
    }
    /* XR views live with the flow's extras: few calls send XR, and a
     * stream has no room left for one (see struct rtp_flow). */
    if (!flow_extra(f)) {
        (*t->c.flow_alloc_failed)++;
        return false;
    }
    struct rtcp_xr_view *v = &f->extra->xr[n];
    v->last = *r->xr;
    if (v->reports < UINT32_MAX)
        v->reports++;
    return true;
}

/* The report to every stream of the flows with its SSRC: how many took it
 * (a report that none took is counted as unmatched). */
static int attach_to_ssrc(struct rtp_flow_table *t, struct rtp_flow *const *flows,
                          size_t flow_count, uint32_t ssrc, const struct report_target *r)
{
    int attached = 0;
    for (size_t i = 0; i < flow_count; i++)
        for (size_t n = 0; n < flows[i]->stream_count; n++)
            if (rtp_flow_stream(flows[i], n)->ssrc == ssrc && attach_report(t, flows[i], n, r))
                attached++;
    if (!attached)
        (*t->c.rtcp_blocks_unmatched)++;
    return attached;
}

/* An SR's sender info against what the tap saw of the sender's stream: a
 * count no larger (a little slack for packets in flight and lost before
 * the tap) says the sender is alive and sends nothing more on purpose. */
static void note_sender_report(struct rtp_flow *const *flows, size_t flow_count,
                               const struct rtcp_packet_info *info, uint64_t ts_us)
{
    for (size_t i = 0; i < flow_count; i++)
        for (size_t n = 0; n < flows[i]->stream_count; n++) {
            struct rtp_stream *s = rtp_flow_stream(flows[i], n);
            if (s->ssrc != info->sender_ssrc || !s->packets || ts_us < s->first_us)
                continue;
            if (info->sr_packet_count > s->packets + 2 + s->packets / 50)
                continue;
            uint64_t ms = (ts_us - s->first_us) / 1000;
            s->quiet_sr_ms = ms == 0 ? 1 : ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
        }
}

int rtp_flow_table_rtcp_flows(struct rtp_flow_table *t, struct rtp_flow *const *flows,
                              size_t flow_count, const struct rtcp_datagram *d)
{
    (*t->c.rtcp)++;
    struct rtcp_packet_info info;
    if (rtcp_parse(d->data, d->len, &info) != 0) {
        (*(srtcp_looks_like(d->data, d->len) ? t->c.srtcp : t->c.rtcp_malformed))++;
        return -1;
    }
    if (info.is_sender_report) {
        remember_sr(t, &info, d);
        note_sender_report(flows, flow_count, &info, d->ts_us);
    }
    int attached = 0;
    for (size_t b = 0; b < info.block_count; b++) {
        struct report_target r = {&info.blocks[b], NULL, round_trip(t, &info.blocks[b], d)};
        attached += attach_to_ssrc(t, flows, flow_count, info.blocks[b].ssrc, &r);
    }
    for (size_t b = 0; b < info.xr_count; b++) {
        (*t->c.rtcp_xr_voip)++;
        struct report_target r = {NULL, &info.xr[b], RTCP_RTT_UNKNOWN};
        attached += attach_to_ssrc(t, flows, flow_count, info.xr[b].ssrc, &r);
    }
    return attached;
}

int rtp_flow_table_rtcp(struct rtp_flow_table *t, const struct rtcp_datagram *d)
{
    struct rtp_flow *flows[2];
    size_t n = 0;
    if ((flows[n] = rtp_flow_find(t, &d->dst, &d->src)) != NULL)
        n++;
    if (d->src.port != 0 && d->dst.port != 0) {
        struct endpoint rtp_src = d->dst, rtp_dst = d->src;
        rtp_src.port--;
        rtp_dst.port--;
        if ((flows[n] = rtp_flow_find(t, &rtp_src, &rtp_dst)) != NULL)
            n++;
    }
    return rtp_flow_table_rtcp_flows(t, flows, n, d);
}

struct expire_ctx {
    struct rtp_flow_table *t;
    uint64_t cutoff;
    void (*on_evict)(struct rtp_flow *f, void *arg);
    void *arg;
    size_t removed;
};

static bool expire_one(void *item, void *arg)
{
    struct expire_ctx *c = arg;
    struct rtp_flow *f = item;
    if (f->last_us >= c->cutoff)
        return false;
    if (c->on_evict)
        c->on_evict(f, c->arg);
    (*c->t->c.flows_evicted)++;
    c->removed++;
    flow_free(c->t, f);
    return true;
}

size_t rtp_flow_table_expire(struct rtp_flow_table *t, uint64_t now_us, uint64_t idle_us,
                             void (*on_evict)(struct rtp_flow *f, void *arg), void *arg)
{
    struct expire_ctx c = {t, now_us > idle_us ? now_us - idle_us : 0, on_evict, arg, 0};
    hashtab_remove_if(&t->table, expire_one, &c);
    return c.removed;
}

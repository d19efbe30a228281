/*
 * media_orphans: RTP that belongs to no call, measured and reported.
 *
 * A tap sees media whose signalling it never saw: a daemon started in the
 * middle of calls, MGCP or H.323 calls beside the SIP ones, SIP over TLS,
 * signalling that takes another path than the media. Wireshark measures
 * such streams (with its RTP heuristic on) and so do we: the first RTP
 * datagram of no call makes a flow in the same flow table as the calls'
 * flows, whose owner is tagged "orphan" with its index in a bounded set.
 * When the flow has been quiet for `quiet_s` (or the capture ends), a
 * `media_without_call` event carries its streams exactly as call_end
 * would; flows with fewer than `min_packets` packets (a stray datagram
 * that parsed as RTP) are dropped uncounted in events but counted.
 *
 * A call that later names the flow's endpoints in its SDP (the INVITE seen
 * after its first RTP) adopts the flow, with what was measured so far: one
 * stream, as tshark counts it.
 *
 * The set is capped (`[limits] max_media_without_call`); when it is full, a
 * new flow may take the place of a one-packet flow (a clock hand visits a
 * few entries per new flow, so a flood of random datagrams costs O(1) per
 * packet), never of a flow that carries a stream. Refusals and
 * replacements are counted. The table that holds the flows is sized for
 * the calls' flows plus this cap, so orphans never take a call's room.
 */
#include "calls/calls_internal.h"
#include "core/json_writer.h"
#include "core/timefmt.h"
#include "rtp/flow.h"
#include "rtp/stream.h"

#include <stdlib.h>
#include <string.h>

/* Below this, a port is a service's, not media's (RFC 3550 section 11). */
#define RTP_MIN_PORT 1024

/* How many entries the clock hand visits for a victim before refusing. */
#define ORPHAN_VICTIM_SCAN 8

/* Orphan flows' owner: the index in the set, shifted past the two tag bits
 * (bit 0 marks a shared flow, bit 1 an orphan). */
static void *orphan_owner(size_t index)
{
    return (void *)(uintptr_t)((index << 2) | 2u);
}

static size_t orphan_index(const struct rtp_flow *f)
{
    return (uintptr_t)f->owner >> 2;
}

bool media_orphans_init(struct call_table *t)
{
    struct media_orphans *o = &t->orphans;
    memset(o, 0, sizeof(*o));
    o->cap = t->limits.max_media_without_call;
    o->quiet_us = (uint64_t)t->limits.media_without_call_quiet_s * 1000000u;
    o->min_packets = t->limits.media_without_call_min_packets;
    if (o->cap) {
        o->flows = calloc(o->cap, sizeof(*o->flows));
        if (!o->flows)
            return false;
    }
    timer_init(&o->sweep, media_orphans_on_sweep, t);
    COUNTERS_REGISTER(ORPHAN_COUNTERS, t->counters, "media", &o->c);
    return true;
}

void media_orphans_destroy(struct call_table *t)
{
    /* The flows themselves go with the flow table. */
    if (t->orphans.sweep.fn && timer_pending(&t->orphans.sweep)) /* initialised and pending */
        timerq_cancel(t->timers, &t->orphans.sweep);
    free(t->orphans.flows);
    t->orphans.flows = NULL;
    t->orphans.count = 0;
}

/* Takes f out of the set (the flow itself stays). */
static void orphan_unlink(struct media_orphans *o, struct rtp_flow *f)
{
    size_t i = orphan_index(f);
    struct rtp_flow *last = o->flows[--o->count];
    o->flows[i] = last;
    last->owner = orphan_owner(i);
    o->flows[o->count] = NULL;
    f->owner = NULL;
}

void media_orphans_adopt(struct call_table *t, struct rtp_flow *f)
{
    orphan_unlink(&t->orphans, f);
    (*t->orphans.c.orphan_flows_adopted)++;
}

static uint64_t flow_first_us(const struct rtp_flow *f)
{
    uint64_t first = UINT64_MAX;
    for (size_t s = 0; s < f->stream_count; s++) {
        uint64_t us = rtp_flow_stream_const(f, s)->first_us;
        if (us && us < first)
            first = us;
    }
    return first == UINT64_MAX ? f->last_us : first;
}

static const char *flow_trunk_name(const struct call_table *t, const struct rtp_flow *f)
{
    if (!t->trunks)
        return NULL;
    const struct trunk_config *tc = trunk_list_find(t->trunks, &f->key.src.addr);
    if (!tc)
        tc = trunk_list_find(t->trunks, &f->key.dst.addr);
    return tc ? tc->name : NULL;
}

static void member_time(struct json_writer *t, const char *key, uint64_t us)
{
    char ts[40];
    json_writer_member_string(t, key, timefmt_rfc3339(us, ts, sizeof(ts)));
}

/* The event: the flow's endpoints, its time span and its streams, as
 * call_end writes them. */
static void publish_flow(struct call_table *t, const struct rtp_flow *f, const char *reason,
                         uint64_t now)
{
    struct event e;
    event_begin(&e, "media_without_call", SEVERITY_NOTICE, now, NULL, flow_trunk_name(t, f));
    struct json_writer *ev = &e.body;
    endpoint_member(ev, "src", &f->key.src);
    endpoint_member(ev, "dst", &f->key.dst);
    uint64_t first = flow_first_us(f);
    member_time(ev, "first_ts", first);
    member_time(ev, "last_ts", f->last_us);
    json_writer_member_real(ev, "duration_s", (double)(f->last_us - first) / 1e6);
    json_writer_member_integer(ev, "packets", (int64_t)rtp_flow_packets(f));
    json_writer_member_string(ev, "reason", reason);
    json_writer_member_key(ev, "streams");
    json_writer_array_begin(ev);
    calls_text_flow_streams(ev, f);
    json_writer_array_end(ev);
    event_publish(t->bus, &e);
}

/* A stream worth reporting: min_packets or more whose sequence numbers
 * advanced over at least as many, and not four times as many as arrived.
 * A datagram that only parses as RTP (a DNS query sent again and again)
 * repeats its "sequence number" and is not a stream. */
static bool stream_plausible(const struct rtp_stream *s, uint32_t min_packets)
{
    struct rtp_stream_report r;
    rtp_stream_report(s, &r);
    int64_t expected = (int64_t)s->packets + r.lost;
    return s->packets >= min_packets && expected >= (int64_t)min_packets &&
           expected <= 4 * (int64_t)s->packets;
}

/* The flow's story ends: reported if it carried a stream. */
static void orphan_report(struct call_table *t, struct rtp_flow *f, const char *reason,
                          uint64_t now)
{
    struct media_orphans *o = &t->orphans;
    bool plausible = false;
    for (size_t s = 0; s < f->stream_count; s++)
        plausible |= stream_plausible(rtp_flow_stream_const(f, s), o->min_packets);
    if (plausible) {
        publish_flow(t, f, reason, now);
        (*o->c.orphan_flows_reported)++;
    } else {
        (*o->c.orphan_flows_too_short)++;
    }
}

static void orphan_forget(struct call_table *t, struct rtp_flow *f)
{
    orphan_unlink(&t->orphans, f);
    rtp_flow_remove(&t->flows, f);
}

static void schedule_sweep(struct call_table *t, uint64_t due)
{
    struct media_orphans *o = &t->orphans;
    if (!timer_pending(&o->sweep) || o->sweep.due_us > due)
        timerq_schedule(t->timers, &o->sweep, due);
}

void media_orphans_on_sweep(struct timer *tm, uint64_t now, void *arg)
{
    (void)tm;
    struct call_table *t = arg;
    struct media_orphans *o = &t->orphans;
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < o->count;) {
        struct rtp_flow *f = o->flows[i];
        uint64_t due = f->last_us + o->quiet_us;
        if (due <= now) {
            orphan_report(t, f, "quiet", now);
            orphan_forget(t, f); /* the last entry moved to i */
            continue;
        }
        if (due < next)
            next = due;
        i++;
    }
    if (next != UINT64_MAX)
        schedule_sweep(t, next);
}

/* A slot for a new orphan flow: a free one, else a one-packet flow's. */
static bool make_room(struct call_table *t)
{
    struct media_orphans *o = &t->orphans;
    if (o->count < o->cap)
        return true;
    for (size_t n = 0; n < ORPHAN_VICTIM_SCAN && n < o->count; n++) {
        o->hand = (o->hand + 1) % o->count;
        struct rtp_flow *f = o->flows[o->hand];
        if (rtp_flow_packets(f) <= 1) {
            (*o->c.orphan_flows_replaced)++;
            orphan_forget(t, f);
            return true;
        }
    }
    (*o->c.orphan_flows_full)++;
    return false;
}

void media_orphans_rtp(struct call_table *t, struct rtp_flow *f, const struct packet *pkt)
{
    struct media_orphans *o = &t->orphans;
    if (!f) {
        /* RTP lives on unprivileged ports: what uses the well-known ones
         * (DNS, NTP, SNMP, syslog) and happens to parse is not followed. */
        if (pkt->sport < RTP_MIN_PORT || pkt->dport < RTP_MIN_PORT) {
            (*o->c.orphan_well_known_port)++;
            return;
        }
        if (!o->cap || !make_room(t))
            return;
        struct endpoint src = {.addr = pkt->src, .port = pkt->sport};
        struct endpoint dst = {.addr = pkt->dst, .port = pkt->dport};
        f = rtp_flow_create(&t->flows, &src, &dst, orphan_owner(o->count), -1);
        if (!f)
            return;
        o->flows[o->count++] = f;
        (*o->c.orphan_flows)++;
    }
    if (!rtp_flow_rtp_packet(&t->flows, f, pkt->payload, pkt->payload_len, pkt->ts_us))
        return;
    schedule_sweep(t, f->last_us + o->quiet_us);
}

static int by_first_packet(const void *a, const void *b)
{
    uint64_t x = flow_first_us(*(struct rtp_flow *const *)a);
    uint64_t y = flow_first_us(*(struct rtp_flow *const *)b);
    return (x > y) - (x < y);
}

void media_orphans_close_all(struct call_table *t, uint64_t now)
{
    /* Reported in the order the flows began, then freed. */
    struct media_orphans *o = &t->orphans;
    if (o->count > 1)
        qsort(o->flows, o->count, sizeof(*o->flows), by_first_packet);
    for (size_t i = 0; i < o->count; i++)
        o->flows[i]->owner = orphan_owner(i);
    for (size_t i = 0; i < o->count; i++)
        orphan_report(t, o->flows[i], "capture_end", now);
    while (o->count)
        orphan_forget(t, o->flows[o->count - 1]);
    if (timer_pending(&o->sweep))
        timerq_cancel(t->timers, &o->sweep);
}

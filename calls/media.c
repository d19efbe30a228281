/*
 * media: tying RTP/RTCP flows to calls through the SDP of both parties.
 *
 * Each party's SDP says where it wants to receive audio and video (its
 * first m= line of each); that address:port
 * (and the RTCP port, unless rtcp-mux) becomes a binding in a hash table
 * keyed on the endpoint. Because SBCs latch and NATs rewrite, the party's
 * SDP port is also bound on its signalling address (the "NAT alias"). A UDP
 * datagram that is not SIP is looked up:
 *   1. as an existing flow (5-tuple): the hot path, one fixed-size hash;
 *   2. by its destination: media sent to a party;
 *   3. by its source: a party sends from the port it receives on
 *      (symmetric RTP, which nearly every SBC and phone uses);
 * and on a binding hit a flow is created for the rest of the stream. A flow
 * whose source is not the sender's SDP address records the mismatch, the
 * one-way-audio detector's NAT hint. A call keeps CALL_MAX_FLOWS flows;
 * past that, strays give way to the parties' own media
 * (slot_for_new_flow), and what is refused is counted.
 */
#include "calls/calls_internal.h"
#include "core/json_writer.h"
#include "core/str.h"
#include "rtp/flow.h"
#include "rtp/rtp.h"
#include "rtp/stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* struct media_binding (calls.h) lives inside its call: binding a party
 * allocates nothing, and the call is found from the binding's slot. */
static struct call *binding_call(struct media_binding *b)
{
    return (struct call *)((char *)(b - b->slot) - offsetof(struct call, bindings));
}

static void key_from(struct media_key *k, const struct net_addr *a, uint16_t port, bool rtcp)
{
    memset(k, 0, sizeof(*k));
    k->family = a->family;
    memcpy(k->addr, a->bytes, 16);
    k->port[0] = (uint8_t)(port >> 8);
    k->port[1] = (uint8_t)port;
    k->rtcp_copy = rtcp;
}

static uint8_t key_copy(const struct media_key *k)
{
    return (uint8_t)(k->rtcp_copy >> 1);
}

static void key_set_copy(struct media_key *k, uint8_t copy)
{
    k->rtcp_copy = (uint8_t)((k->rtcp_copy & 1u) | (copy << 1));
}

bool media_init(struct call_table *t)
{
    if (!hashtab_init(&t->bindings, offsetof(struct media_binding, key), sizeof(struct media_key),
                      t->limits.max_calls * CALL_MAX_BINDINGS))
        return false;
    /* Room for the calls' flows and, apart, for those of no call. */
    if (!rtp_flow_table_init(&t->flows, t->limits.max_flows + t->limits.max_media_without_call,
                             t->counters))
        return false;
    COUNTERS_REGISTER(MEDIA_COUNTERS, t->counters, "media", &t->media_count);
    return true;
}

void media_destroy(struct call_table *t)
{
    if (t->bindings.slots)
        hashtab_destroy(&t->bindings);
    if (t->flows.table.slots)
        rtp_flow_table_destroy(&t->flows);
}

/* call_sdp.formats: n payload types (1 byte each), n clock rates (4 bytes
 * each, unaligned: read with memcpy), then n NUL-terminated names. */
#define FORMAT_NAME_MAX 15

void media_sdp_release(struct call_sdp *s)
{
    free(s->formats);
    s->formats = NULL;
    s->format_count = 0;
}

static uint32_t format_clock_rate(const struct call_sdp *s, size_t i)
{
    uint32_t r;
    memcpy(&r, s->formats + s->format_count + 4 * i, sizeof(r));
    return r;
}

void media_sdp_from_message(struct call_sdp *out, const struct sdp_info *sdp,
                            enum sdp_media_type type)
{
    for (size_t i = 0; i < sdp->media_count; i++) {
        const struct sdp_media *m = &sdp->media[i];
        if (m->type != type)
            continue;
        media_sdp_release(out);
        memset(out, 0, sizeof(*out));
        out->present = true;
        out->addr = m->addr.family ? m->addr : sdp->session_addr;
        out->port = m->port;
        out->rtcp_port = m->rtcp_port ? m->rtcp_port : (uint16_t)(m->port + 1);
        out->rtcp_mux = m->rtcp_mux;
        out->direction = (uint8_t)m->direction;
        size_t n = m->format_count < CALL_SDP_MAX_FORMATS ? m->format_count : CALL_SDP_MAX_FORMATS;
        if (n == 0)
            return;
        size_t name_len[CALL_SDP_MAX_FORMATS], size = 5 * n;
        for (size_t f = 0; f < n; f++) {
            name_len[f] = strnlen(m->formats[f].name, FORMAT_NAME_MAX);
            size += name_len[f] + 1;
        }
        unsigned char *p = malloc(size);
        if (!p)
            return; /* the stream names fall back to what RTP says */
        out->formats = p;
        out->format_count = (uint8_t)n;
        for (size_t f = 0; f < n; f++) {
            p[f] = m->formats[f].payload_type;
            memcpy(p + n + 4 * f, &m->formats[f].clock_rate, 4);
        }
        char *names = (char *)p + 5 * n;
        for (size_t f = 0; f < n; f++) {
            memcpy(names, m->formats[f].name, name_len[f]);
            names[name_len[f]] = '\0';
            names += name_len[f] + 1;
        }
        return;
    }
}

/* The bindings of key k (its copy ignored), one per call: how many. */
static size_t find_copies(struct call_table *t, const struct media_key *k,
                          struct media_binding **out)
{
    struct media_key probe = *k;
    size_t n = 0;
    for (uint8_t i = 0; i < MEDIA_KEY_COPIES; i++) {
        key_set_copy(&probe, i);
        struct media_binding *b = hashtab_find(&t->bindings, &probe);
        if (!b && i == 0)
            return 0;
        if (b)
            out[n++] = b;
    }
    return n;
}

static void unbind(struct call_table *t, struct media_binding *b)
{
    hashtab_remove(&t->bindings, b);
    b->used = false;
    if (key_copy(&b->key) != 0)
        return;
    /* Copy 0 stays there while any copy is: the last one takes its place. */
    struct media_key k = b->key;
    for (uint8_t i = MEDIA_KEY_COPIES - 1; i >= 1; i--) {
        key_set_copy(&k, i);
        struct media_binding *o = hashtab_find(&t->bindings, &k);
        if (o) {
            hashtab_remove(&t->bindings, o);
            key_set_copy(&o->key, 0);
            hashtab_insert(&t->bindings, o); /* a slot was just freed */
            return;
        }
    }
}

/* A call whose call_end is out takes no more media. */
static bool call_takes_media(const struct call *c)
{
    return c->state != CALL_STATE_ENDED || c->end_pending;
}

/* Of two calls binding one endpoint, whether a's claim comes before b's: a
 * call still taking media before one that is not, then the newer (a newer
 * call reuses the address). Media goes to the first; with every copy in
 * use, the last loses its binding. */
static bool claim_before(const struct call *a, const struct call *b)
{
    if (call_takes_media(a) != call_takes_media(b))
        return call_takes_media(a);
    return a->invite_us > b->invite_us;
}

/* The RTP binding of call c for endpoint e (any copy, NAT alias or not). */
static const struct media_binding *call_binding_for(const struct call *c, const struct endpoint *e)
{
    struct media_key k;
    key_from(&k, &e->addr, e->port, false);
    for (size_t i = 0; i < CALL_MAX_BINDINGS; i++) {
        const struct media_binding *b = &c->bindings[i];
        /* The key up to its RTCP bit and copy: family, address, port. */
        if (b->used && !(b->key.rtcp_copy & 1u) &&
            !memcmp(&b->key, &k, offsetof(struct media_key, rtcp_copy)))
            return b;
    }
    return NULL;
}

/* The party sending src -> dst in call c, when c bound both ends (the
 * two legs of a B2BUA with direct media do); -1 otherwise. */
static int sender_if_both_bound(const struct call *c, const struct endpoint *src,
                                const struct endpoint *dst)
{
    const struct media_binding *to = call_binding_for(c, dst);
    if (!to || !call_binding_for(c, src))
        return -1;
    return 1 - to->party;
}

static void flow_add_call(struct call_table *t, struct call *c, struct rtp_flow *f, int sender,
                          bool video)
{
    if (c->flow_count >= CALL_MAX_FLOWS) {
        (*t->media_count.flows_per_call_full)++;
        return;
    }
    if (!flow_share_add(f, c, sender))
        return;
    if (video)
        c->flow_video |= (uint8_t)(1u << c->flow_count);
    c->flows[c->flow_count++] = f;
    (*t->media_count.flows_shared)++;
}

static bool call_has_flow(const struct call *c, const struct rtp_flow *f)
{
    for (size_t i = 0; i < c->flow_count; i++)
        if (c->flows[i] == f)
            return true;
    return false;
}

/* Call c now binds endpoint e, which other calls bind too: the flows they
 * measure between two endpoints c binds as well are c's too. */
static void share_existing_flows(struct call_table *t, struct call *c, const struct media_key *k,
                                 const struct endpoint *e)
{
    struct media_binding *copies[MEDIA_KEY_COPIES];
    size_t n = find_copies(t, k, copies);
    for (size_t i = 0; i < n; i++) {
        struct call *x = binding_call(copies[i]);
        if (x == c || !call_takes_media(x))
            continue;
        for (size_t j = 0; j < x->flow_count; j++) {
            struct rtp_flow *f = x->flows[j];
            if (!endpoint_equal(&f->key.src, e) && !endpoint_equal(&f->key.dst, e))
                continue;
            int sender = sender_if_both_bound(c, &f->key.src, &f->key.dst);
            if (sender >= 0 && !call_has_flow(c, f))
                flow_add_call(t, c, f, sender, call_flow_media(x, j) == RTP_MEDIA_VIDEO);
        }
    }
}

static void bind_one(struct call_table *t, struct call *c, int party, enum rtp_media media,
                     const struct net_addr *a, uint16_t port, bool rtcp, bool nat_alias)
{
    if (!a->family || port == 0)
        return;
    struct media_key k;
    key_from(&k, a, port, rtcp);
    struct media_binding *copies[MEDIA_KEY_COPIES];
    size_t n = find_copies(t, &k, copies);
    bool taken[MEDIA_KEY_COPIES] = {false};
    struct media_binding *last = NULL; /* the weakest claim */
    for (size_t i = 0; i < n; i++) {
        struct call *x = binding_call(copies[i]);
        if (x == c) {
            copies[i]->party = (uint8_t)party;
            copies[i]->media = (uint8_t)media;
            return;
        }
        taken[key_copy(&copies[i]->key)] = true;
        if (!last || claim_before(binding_call(last), x))
            last = copies[i];
    }
    struct media_binding *b = NULL;
    for (size_t i = 0; i < CALL_MAX_BINDINGS && !b; i++)
        if (!c->bindings[i].used)
            b = &c->bindings[i];
    if (!b) {
        (*t->media_count.bindings_full)++;
        return;
    }
    if (n == MEDIA_KEY_COPIES) {
        unbind(t, last);
        n = find_copies(t, &k, copies);
        memset(taken, 0, sizeof(taken));
        for (size_t i = 0; i < n; i++)
            taken[key_copy(&copies[i]->key)] = true;
    }
    uint8_t copy = 0;
    while (copy < MEDIA_KEY_COPIES - 1 && taken[copy])
        copy++;
    b->key = k;
    key_set_copy(&b->key, copy);
    b->party = (uint8_t)party;
    b->media = (uint8_t)media;
    b->nat_alias = nat_alias;
    b->slot = (uint8_t)(b - c->bindings);
    if (!hashtab_insert(&t->bindings, b)) {
        (*t->media_count.bindings_full)++;
        return;
    }
    b->used = true;
    if (n > 0 && !rtcp) {
        struct endpoint e = {.addr = *a, .port = port};
        share_existing_flows(t, c, &k, &e);
    }
}

/* The SDP of the m= line a binding stands for. */
static const struct call_sdp *binding_sdp(const struct call *c, int party, enum rtp_media media)
{
    static const struct call_sdp none;
    if (media != RTP_MEDIA_VIDEO)
        return &c->party[party].sdp;
    return c->party[party].video ? c->party[party].video : &none;
}

static void bind_media(struct call_table *t, struct call *c, int party, enum rtp_media media)
{
    const struct call_sdp *s = binding_sdp(c, party, media);
    if (!s->present || s->port == 0)
        return;
    bind_one(t, c, party, media, &s->addr, s->port, false, false);
    /* RTCP on the next port is found through the RTP binding
     * (find_rtcp_binding); only an a=rtcp elsewhere needs its own. */
    if (!s->rtcp_mux && s->rtcp_port != (uint16_t)(s->port + 1))
        bind_one(t, c, party, media, &s->addr, s->rtcp_port, true, false);
    const struct net_addr *sig = &c->party[party].signalling.addr;
    if (!net_addr_equal(sig, &s->addr))
        bind_one(t, c, party, media, sig, s->port, false, true);
}

void media_bind_party(struct call_table *t, struct call *c, int party)
{
    for (size_t i = 0; i < CALL_MAX_BINDINGS; i++)
        if (c->bindings[i].used && c->bindings[i].party == party)
            unbind(t, &c->bindings[i]);
    /* Audio first: with the bindings full, it is the video that goes. */
    bind_media(t, c, party, RTP_MEDIA_AUDIO);
    bind_media(t, c, party, RTP_MEDIA_VIDEO);
}

void media_release_call(struct call_table *t, struct call *c)
{
    for (size_t i = 0; i < CALL_MAX_BINDINGS; i++)
        if (c->bindings[i].used)
            unbind(t, &c->bindings[i]);
    for (size_t i = 0; i < c->flow_count; i++)
        flow_release(&t->flows, c->flows[i], c);
    c->flow_count = 0;
    c->flow_video = 0;
}

static size_t find_endpoint_copies(struct call_table *t, const struct endpoint *e,
                                   struct media_binding **out)
{
    struct media_key k;
    key_from(&k, &e->addr, e->port, false);
    return find_copies(t, &k, out);
}

/* Of the calls binding an endpoint, the one its media is for
 * (claim_before); NULL if none. */
static struct media_binding *pick_binding(struct media_binding **copies, size_t n)
{
    struct media_binding *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (!best || claim_before(binding_call(copies[i]), binding_call(best)))
            best = copies[i];
    return best;
}

static struct media_binding *find_binding(struct call_table *t, const struct endpoint *e, bool rtcp)
{
    struct media_key k;
    key_from(&k, &e->addr, e->port, rtcp);
    return hashtab_find(&t->bindings, &k);
}

/* The binding RTCP to or from e belongs to: an explicit a=rtcp port, or
 * the RTCP port next to a party's RTP port when its SDP has no rtcp-mux.
 * Half the bindings, and half the table, of binding both ports. */
static struct media_binding *find_rtcp_binding(struct call_table *t, const struct endpoint *e)
{
    struct media_binding *b = find_binding(t, e, true);
    if (b || e->port == 0)
        return b;
    struct endpoint rtp = *e;
    rtp.port--;
    b = find_binding(t, &rtp, false);
    if (!b || b->nat_alias)
        return NULL;
    const struct call_sdp *s = binding_sdp(binding_call(b), b->party, b->media);
    return !s->rtcp_mux && s->rtcp_port == e->port ? b : NULL;
}

/* A stream's first packet: what it carries, and its codec named from the
 * receiver's SDP for that m= line (it defines the payload numbers it
 * receives), else the sender's. */
static void name_codec(struct call *c, int sender, enum rtp_media media, struct rtp_stream *s)
{
    s->media = (uint8_t)media;
    const struct call_sdp *sdps[2] = {binding_sdp(c, 1 - sender, media),
                                      binding_sdp(c, sender, media)};
    for (int i = 0; i < 2; i++) {
        const struct call_sdp *sdp = sdps[i];
        if (!sdp->formats)
            continue;
        const char *name = (const char *)sdp->formats + 5 * sdp->format_count;
        for (uint8_t f = 0; f < sdp->format_count; f++, name += strlen(name) + 1)
            if (sdp->formats[f] == s->payload_type && name[0]) {
                rtp_stream_set_codec(s, name, format_clock_rate(sdp, f));
                return;
            }
    }
}

/* RTCP of call c: its report blocks go to whichever of the call's streams
 * they report on, wherever those flow (an RR can travel on any of the
 * call's ports). */
static void attach_rtcp(struct call_table *t, struct call *c, const struct packet *pkt)
{
    (*t->media_count.rtcp_packets)++;
    struct rtcp_datagram d = {
        {pkt->src, pkt->sport}, {pkt->dst, pkt->dport}, pkt->ts_us, pkt->payload, pkt->payload_len};
    rtp_flow_table_rtcp_flows(&t->flows, c->flows, c->flow_count, &d);
}

/* Whether payload type pt is comfort noise (RFC 3389) in this call: the
 * static 13 (and the old 19), or a type either party's SDP maps to CN. */
static bool is_comfort_noise(const struct call *c, uint8_t pt)
{
    if (pt == 13 || pt == 19)
        return true;
    for (int p = 0; p < 2; p++) {
        const struct call_sdp *sdp = &c->party[p].sdp;
        if (!sdp->formats)
            continue;
        const char *name = (const char *)sdp->formats + 5 * sdp->format_count;
        for (uint8_t f = 0; f < sdp->format_count; f++, name += strlen(name) + 1)
            if (sdp->formats[f] == pt)
                return strcasecmp(name, "CN") == 0;
    }
    return false;
}

/* Codecs whose encoder stops sending in silence and may stay quiet for
 * long (SID frames only when the noise changes): G.729 Annex B and G.723.1
 * Annex A, on unless the SDP says annexb=no / annexa=no (RFC 4856; the
 * fmtp is not read, so they count as on). */
static bool is_dtx_codec(const struct rtp_stream *s)
{
    const char *codec =
        s->codec[0] ? s->codec
                    : rtp_static_codec_name(s->reg_pt >= 0 ? (uint8_t)s->reg_pt : s->payload_type);
    return strncasecmp(codec, "G729", 4) == 0 || strncasecmp(codec, "G723", 4) == 0;
}

void call_media_of(const struct call *c, int sender, struct call_media_direction *out)
{
    memset(out, 0, sizeof(*out));
    const struct rtp_stream *latest = NULL;
    for (size_t i = 0; i < c->flow_count; i++) {
        const struct rtp_flow *f = c->flows[i];
        if (flow_party_in(f, c) != sender || call_flow_media(c, i) != RTP_MEDIA_AUDIO)
            continue;
        if (f->sdp_mismatch)
            out->sdp_address_mismatch = true;
        for (size_t n = 0; n < f->stream_count; n++) {
            const struct rtp_stream *s = rtp_flow_stream_const(f, n);
            if (!s->packets || rtp_stream_is_dtmf(s))
                continue; /* DTMF under its own SSRC is no voice */
            if (!out->packets || s->first_us < out->first_us)
                out->first_us = s->first_us;
            if (!out->packets || s->last_us >= out->last_us) {
                out->last_us = s->last_us;
                out->src = f->key.src;
                out->dst = f->key.dst;
                latest = s;
            }
            out->packets += s->packets;
            uint64_t quiet = s->quiet_sr_ms ? s->first_us + s->quiet_sr_ms * 1000ULL : 0;
            if (quiet > out->quiet_report_us)
                out->quiet_report_us = quiet;
        }
    }
    if (latest) {
        out->comfort_noise = is_comfort_noise(c, latest->last_pt);
        out->dtx_codec = is_dtx_codec(latest);
    }
}

/* What one party sent of audio: its streams summed, the worst of them, and
 * the one with the most packets (its codec and path). */
struct media_summary {
    uint64_t packets;
    int64_t lost, expected;
    double jitter_max_ms, mos;
    const struct rtp_stream *main;
    const struct rtp_flow *main_flow;
};

static void summarise_direction(const struct call *c, int sender, struct media_summary *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < c->flow_count; i++) {
        const struct rtp_flow *f = c->flows[i];
        if (flow_party_in(f, c) != sender || call_flow_media(c, i) != RTP_MEDIA_AUDIO)
            continue;
        for (size_t n = 0; n < f->stream_count; n++) {
            const struct rtp_stream *s = rtp_flow_stream_const(f, n);
            if (!s->packets || rtp_stream_is_dtmf(s))
                continue;
            struct rtp_stream_report r;
            rtp_stream_report(s, &r);
            if (!out->main || r.mos < out->mos)
                out->mos = r.mos;
            if (!out->main || r.jitter_max_ms > out->jitter_max_ms)
                out->jitter_max_ms = r.jitter_max_ms;
            if (!out->main || s->packets > out->main->packets) {
                out->main = s;
                out->main_flow = f;
            }
            out->packets += s->packets;
            out->lost += r.lost;
            out->expected += r.lost + (int64_t)s->packets;
        }
    }
}

static void member_rounded(struct json_writer *t, const char *key, double v, double scale)
{
    json_writer_member_real(t, key, round(v * scale) / scale);
}

static void member_direction(struct json_writer *t, const char *key, const struct media_summary *m)
{
    json_writer_member_key(t, key);
    if (!m->main) {
        json_writer_null(t);
        return;
    }
    json_writer_object_begin(t);
    json_writer_member_integer(t, "packets", (int64_t)m->packets);
    json_writer_member_integer(t, "lost", m->lost);
    member_rounded(t, "loss_pct", m->expected ? (double)m->lost * 100.0 / (double)m->expected : 0,
                   100);
    member_rounded(t, "jitter_max_ms", m->jitter_max_ms, 1000);
    member_rounded(t, "mos", m->mos, 100);
    /* As a `streams` entry shows it: a name that is not UTF-8 is unknown. */
    json_writer_member_key(t, "codec");
    size_t len = strlen(m->main->codec);
    if (len && json_writer_valid_utf8(m->main->codec, len))
        json_writer_string(t, m->main->codec, len);
    else
        json_writer_null(t);
    endpoint_member(t, "src", &m->main_flow->key.src);
    endpoint_member(t, "dst", &m->main_flow->key.dst);
    json_writer_object_end(t);
}

void calls_text_media_summary(struct json_writer *t, const struct call *c)
{
    struct media_summary m;
    json_writer_member_key(t, "media");
    json_writer_object_begin(t);
    summarise_direction(c, CALL_CALLER, &m);
    member_direction(t, "caller", &m);
    summarise_direction(c, CALL_CALLEE, &m);
    member_direction(t, "callee", &m);
    json_writer_object_end(t);
}

uint64_t call_table_rtp_packets(const struct call_table *t)
{
    return *t->media_count.rtp_packets;
}

uint64_t call_last_media_us(const struct call *c)
{
    uint64_t last = 0;
    for (size_t i = 0; i < c->flow_count; i++)
        for (size_t n = 0; n < c->flows[i]->stream_count; n++) {
            const struct rtp_stream *s = rtp_flow_stream_const(c->flows[i], n);
            if (s->packets && s->last_us > last)
                last = s->last_us;
        }
    return last;
}

/* What flow f of call c carries. */
static enum rtp_media flow_media(const struct call *c, const struct rtp_flow *f)
{
    for (size_t i = 0; i < c->flow_count; i++)
        if (c->flows[i] == f)
            return call_flow_media(c, i);
    return RTP_MEDIA_AUDIO;
}

/* Media from where its sender said it would send from: the address in its
 * SDP for that m= line, or its signalling address (the NAT's public one). */
static bool from_party(const struct call *c, int sender, enum rtp_media media,
                       const struct net_addr *src)
{
    const struct call_sdp *sdp = binding_sdp(c, sender, media);
    return (sdp->present && net_addr_equal(&sdp->addr, src)) ||
           net_addr_equal(&c->party[sender].signalling.addr, src);
}

/* The slot of flows[] a new flow takes when all CALL_MAX_FLOWS are in use,
 * so that strays to the SDP port (port reuse, NAT rebinding, RTP scanners)
 * arriving first do not leave the real media unmeasured: a stray of one
 * packet at most; for a flow from the party itself, any flow of one packet,
 * else the stray with the fewest packets. -1: refused. */
static int slot_for_new_flow(const struct call *c, bool new_from_party)
{
    int one_packet = -1, stray = -1;
    uint64_t stray_packets = UINT64_MAX;
    for (size_t i = 0; i < c->flow_count; i++) {
        const struct rtp_flow *f = c->flows[i];
        uint64_t n = rtp_flow_packets(f);
        bool is_stray = !from_party(c, f->party, call_flow_media(c, i), &f->key.src.addr);
        if (n <= 1 && is_stray)
            return (int)i;
        if (n <= 1 && one_packet < 0)
            one_packet = (int)i;
        if (is_stray && n < stray_packets) {
            stray = (int)i;
            stray_packets = n;
        }
    }
    if (!new_from_party)
        return -1;
    return one_packet >= 0 ? one_packet : stray;
}

/* A datagram of no call, on an orphan flow f or none. Tested in the order a
 * call's datagrams are (RTCP first), so each lands where it would with a
 * call; RTCP about an orphan flow's streams is attached to them. */
static void media_of_no_call(struct call_table *t, struct rtp_flow *f, const struct packet *pkt)
{
    struct rtp_header h;
    if (rtcp_looks_like(pkt->payload, pkt->payload_len)) {
        (*t->media_count.rtcp_without_call)++;
        struct rtcp_datagram d = {{pkt->src, pkt->sport},
                                  {pkt->dst, pkt->dport},
                                  pkt->ts_us,
                                  pkt->payload,
                                  pkt->payload_len};
        if (t->orphans.count)
            rtp_flow_table_rtcp(&t->flows, &d);
    } else if (rtp_parse(pkt->payload, pkt->payload_len, &h)) {
        (*t->media_count.rtp_without_call)++;
        media_orphans_rtp(t, f, pkt);
    } else {
        (*t->media_count.udp_not_rtp)++;
    }
}

bool media_udp(struct call_table *t, const struct packet *pkt)
{
    struct rtp_flow *f = rtp_flow_find_packet(&t->flows, pkt);
    if (f && !flow_is_orphan(f)) {
        /* The call stays cold: what the call knows of its media is summed
         * from its flows when asked (call_media_of). */
        struct call *c = flow_primary(f);
        if (f->owner == c) {
            call_frame_attributed(t, c, pkt->ts_us);
        } else {
            struct call *all[FLOW_SHARE_MAX];
            size_t n = flow_calls(f, all, NULL, FLOW_SHARE_MAX);
            for (size_t i = 0; i < n; i++)
                call_frame_attributed(t, all[i], pkt->ts_us);
        }
        if (rtcp_looks_like(pkt->payload, pkt->payload_len)) {
            attach_rtcp(t, c, pkt);
            return true;
        }
        struct rtp_stream *s =
            rtp_flow_rtp_packet(&t->flows, f, pkt->payload, pkt->payload_len, pkt->ts_us);
        if (!s)
            return true;
        if (s->packets == 1)
            name_codec(c, f->party, flow_media(c, f), s);
        (*t->media_count.rtp_packets)++;
        return true;
    }

    struct endpoint src = {.addr = pkt->src, .port = pkt->sport};
    struct endpoint dst = {.addr = pkt->dst, .port = pkt->dport};
    int sender = -1;
    bool mismatch = false;
    struct media_binding *copies[MEDIA_KEY_COPIES];
    size_t ncopies = find_endpoint_copies(t, &dst, copies);
    struct media_binding *b = pick_binding(copies, ncopies);
    if (b) {
        sender = 1 - b->party;
    } else if ((b = pick_binding(copies, ncopies = find_endpoint_copies(t, &src, copies))) !=
               NULL) {
        sender = b->party;
    } else if ((b = find_rtcp_binding(t, &dst)) != NULL ||
               (b = find_rtcp_binding(t, &src)) != NULL) {
        call_frame_attributed(t, binding_call(b), pkt->ts_us);
        attach_rtcp(t, binding_call(b), pkt);
        return true;
    }
    if (!b) {
        media_of_no_call(t, f, pkt);
        return false;
    }
    struct call *c = binding_call(b);
    if (c->state == CALL_STATE_ENDED && !c->end_pending)
        return true; /* call_end is out: a late packet, absorbed */
    call_frame_attributed(t, c, pkt->ts_us);
    enum rtp_media media = (enum rtp_media)b->media;
    const struct call_sdp *sdp = binding_sdp(c, sender, media);
    mismatch = sdp->present && !net_addr_equal(&sdp->addr, &pkt->src);
    if (rtcp_looks_like(pkt->payload, pkt->payload_len)) {
        attach_rtcp(t, c, pkt);
        return true;
    }
    size_t slot = c->flow_count;
    if (slot >= CALL_MAX_FLOWS) {
        int victim = slot_for_new_flow(c, from_party(c, sender, media, &pkt->src));
        if (victim < 0) {
            (*t->media_count.flows_per_call_full)++;
            return true;
        }
        slot = (size_t)victim;
    }
    if (f) {
        /* Media that came before its call's SDP: the call takes it. */
        media_orphans_adopt(t, f);
        f->owner = c;
        f->party = (int8_t)sender;
    } else if ((f = rtp_flow_create(&t->flows, &src, &dst, c, sender)) == NULL) {
        return true;
    }
    if (slot < c->flow_count) {
        (*t->media_count.flows_replaced)++;
        flow_release(&t->flows, c->flows[slot], c);
    } else {
        c->flow_count++;
    }
    c->flow_video &= (uint8_t) ~(1u << slot);
    if (media == RTP_MEDIA_VIDEO)
        c->flow_video |= (uint8_t)(1u << slot);
    c->flows[slot] = f;
    f->sdp_mismatch = mismatch;
    /* The other calls that bind both ends measure it too. */
    for (size_t i = 0; i < ncopies; i++) {
        struct call *x = binding_call(copies[i]);
        int x_sender = x == c || !call_takes_media(x) ? -1 : sender_if_both_bound(x, &src, &dst);
        if (x_sender >= 0)
            flow_add_call(t, x, f, x_sender, media == RTP_MEDIA_VIDEO);
    }
    struct rtp_stream *s =
        rtp_flow_rtp_packet(&t->flows, f, pkt->payload, pkt->payload_len, pkt->ts_us);
    if (!s)
        return true;
    if (s->packets == 1)
        name_codec(c, sender, media, s);
    (*t->media_count.rtp_packets)++;
    return true;
}

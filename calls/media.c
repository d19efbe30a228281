/*
 * media: tying RTP/RTCP flows to calls through the SDP of both parties.
 *
 * Each party's SDP says where it wants to receive audio; that address:port
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
 * one-way-audio detector's NAT hint.
 */
#include "calls/calls_internal.h"
#include "core/str.h"

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
    k->rtcp = rtcp;
}

bool media_init(struct call_table *t)
{
    if (!hashtab_init(&t->bindings, offsetof(struct media_binding, key), sizeof(struct media_key),
                      t->limits.max_calls * CALL_MAX_BINDINGS))
        return false;
    if (!rtp_flow_table_init(&t->flows, t->limits.max_flows, t->counters))
        return false;
    t->c_rtp_matched = counters_register(t->counters, "media", "rtp_packets");
    t->c_rtcp_matched = counters_register(t->counters, "media", "rtcp_packets");
    t->c_rtp_unmatched = counters_register(t->counters, "media", "rtp_without_call");
    t->c_rtcp_unmatched = counters_register(t->counters, "media", "rtcp_without_call");
    t->c_bindings_full = counters_register(t->counters, "media", "bindings_full");
    t->c_flows_per_call_full = counters_register(t->counters, "media", "flows_per_call_full");
    t->c_udp_other = counters_register(t->counters, "media", "udp_not_rtp");
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

void media_sdp_from_message(struct call_sdp *out, const struct sdp_info *sdp)
{
    for (size_t i = 0; i < sdp->media_count; i++) {
        const struct sdp_media *m = &sdp->media[i];
        if (m->type != SDP_MEDIA_AUDIO)
            continue;
        media_sdp_release(out);
        memset(out, 0, sizeof(*out));
        out->present = true;
        out->addr = m->addr.family ? m->addr : sdp->session_addr;
        out->port = m->port;
        out->rtcp_port = m->rtcp_port ? m->rtcp_port : (uint16_t)(m->port + 1);
        out->rtcp_mux = m->rtcp_mux;
        out->direction = m->direction;
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

static void unbind(struct call_table *t, struct media_binding *b)
{
    hashtab_remove(&t->bindings, b);
    b->used = false;
}

static void bind_one(struct call_table *t, struct call *c, int party, const struct net_addr *a,
                     uint16_t port, bool rtcp, bool nat_alias)
{
    if (!a->family || port == 0)
        return;
    struct media_key k;
    key_from(&k, a, port, rtcp);
    struct media_binding *old = hashtab_find(&t->bindings, &k);
    if (old) {
        if (binding_call(old) == c) {
            old->party = (uint8_t)party;
            return;
        }
        /* A newer call reuses the address: the old call lost it. */
        unbind(t, old);
    }
    struct media_binding *b = NULL;
    for (size_t i = 0; i < CALL_MAX_BINDINGS && !b; i++)
        if (!c->bindings[i].used)
            b = &c->bindings[i];
    if (!b) {
        (*t->c_bindings_full)++;
        return;
    }
    b->key = k;
    b->party = (uint8_t)party;
    b->nat_alias = nat_alias;
    b->slot = (uint8_t)(b - c->bindings);
    if (!hashtab_insert(&t->bindings, b)) {
        (*t->c_bindings_full)++;
        return;
    }
    b->used = true;
}

void media_bind_party(struct call_table *t, struct call *c, int party)
{
    for (size_t i = 0; i < CALL_MAX_BINDINGS; i++)
        if (c->bindings[i].used && c->bindings[i].party == party)
            unbind(t, &c->bindings[i]);
    const struct call_sdp *s = &c->party[party].sdp;
    if (!s->present || s->port == 0)
        return;
    bind_one(t, c, party, &s->addr, s->port, false, false);
    /* RTCP on the next port is found through the RTP binding
     * (find_rtcp_binding); only an a=rtcp elsewhere needs its own. */
    if (!s->rtcp_mux && s->rtcp_port != (uint16_t)(s->port + 1))
        bind_one(t, c, party, &s->addr, s->rtcp_port, true, false);
    const struct net_addr *sig = &c->party[party].signalling.addr;
    if (!net_addr_equal(sig, &s->addr))
        bind_one(t, c, party, sig, s->port, false, true);
}

void media_release_call(struct call_table *t, struct call *c)
{
    for (size_t i = 0; i < CALL_MAX_BINDINGS; i++)
        if (c->bindings[i].used)
            unbind(t, &c->bindings[i]);
    for (size_t i = 0; i < c->flow_count; i++)
        rtp_flow_remove(&t->flows, c->flows[i]);
    c->flow_count = 0;
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
    const struct call_sdp *s = &binding_call(b)->party[b->party].sdp;
    return !s->rtcp_mux && s->rtcp_port == e->port ? b : NULL;
}

/* Names the stream's codec from the receiver's SDP (it defines the payload
 * numbers it receives), else the sender's. */
static void name_codec(struct call *c, int sender, struct rtp_stream *s)
{
    const struct call_sdp *sdps[2] = {&c->party[1 - sender].sdp, &c->party[sender].sdp};
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
    (*t->c_rtcp_matched)++;
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
        if (f->party != sender)
            continue;
        if (f->sdp_mismatch)
            out->sdp_address_mismatch = true;
        for (size_t n = 0; n < f->stream_count; n++) {
            const struct rtp_stream *s = rtp_flow_stream_const(f, n);
            if (!s->packets)
                continue;
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

bool media_udp(struct call_table *t, const struct packet *pkt)
{
    struct rtp_flow *f =
        rtp_flow_find_addrs(&t->flows, &pkt->src, pkt->sport, &pkt->dst, pkt->dport);
    if (f) {
        /* The call stays cold: what the call knows of its media is summed
         * from its flows when asked (call_media_of). */
        struct call *c = f->owner;
        call_frame_attributed(t, c, pkt->ts_us);
        if (rtcp_looks_like(pkt->payload, pkt->payload_len)) {
            attach_rtcp(t, c, pkt);
            return true;
        }
        struct rtp_stream *s =
            rtp_flow_rtp_packet(&t->flows, f, pkt->payload, pkt->payload_len, pkt->ts_us);
        if (!s)
            return true;
        if (s->packets == 1)
            name_codec(c, f->party, s);
        (*t->c_rtp_matched)++;
        return true;
    }

    struct endpoint src = {.addr = pkt->src, .port = pkt->sport};
    struct endpoint dst = {.addr = pkt->dst, .port = pkt->dport};
    int sender = -1;
    bool mismatch = false;
    struct media_binding *b = find_binding(t, &dst, false);
    if (b) {
        sender = 1 - b->party;
    } else if ((b = find_binding(t, &src, false)) != NULL) {
        sender = b->party;
    } else if ((b = find_rtcp_binding(t, &dst)) != NULL ||
               (b = find_rtcp_binding(t, &src)) != NULL) {
        call_frame_attributed(t, binding_call(b), pkt->ts_us);
        attach_rtcp(t, binding_call(b), pkt);
        return true;
    }
    if (!b) {
        /* Tested in the order a call's datagrams are (RTCP first), so each
         * datagram of no call lands where it would with one. */
        struct rtp_header h;
        if (rtcp_looks_like(pkt->payload, pkt->payload_len))
            (*t->c_rtcp_unmatched)++;
        else if (rtp_parse(pkt->payload, pkt->payload_len, &h))
            (*t->c_rtp_unmatched)++;
        else
            (*t->c_udp_other)++;
        return false;
    }
    struct call *c = binding_call(b);
    if (c->state == CALL_STATE_ENDED)
        return true;
    call_frame_attributed(t, c, pkt->ts_us);
    const struct call_sdp *sdp = &c->party[sender].sdp;
    mismatch = sdp->present && !net_addr_equal(&sdp->addr, &pkt->src);
    if (c->flow_count >= CALL_MAX_FLOWS) {
        (*t->c_flows_per_call_full)++;
        return true;
    }
    if (rtcp_looks_like(pkt->payload, pkt->payload_len)) {
        attach_rtcp(t, c, pkt);
        return true;
    }
    f = rtp_flow_create(&t->flows, &src, &dst, c, sender);
    if (!f)
        return true;
    c->flows[c->flow_count++] = f;
    f->sdp_mismatch = mismatch;
    struct rtp_stream *s =
        rtp_flow_rtp_packet(&t->flows, f, pkt->payload, pkt->payload_len, pkt->ts_us);
    if (!s)
        return true;
    if (s->packets == 1)
        name_codec(c, sender, s);
    (*t->c_rtp_matched)++;
    return true;
}

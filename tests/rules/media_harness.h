/*
 * media_harness: what the media detectors' unit tests share — the engine
 * (a call table with the rules attached), hand-built SIP messages carrying SDP, and
 * hand-built RTP packets fed in capture-time order. Static functions only:
 * each test file includes it once.
 *
 * The standard call: caller 198.51.100.20 (a PBX, public) calls through the
 * trunk "acme" (203.0.113.0/24) at 203.0.113.10; INVITE at T0, 180 at
 * T0+1 s, 200 at T0+2 s (ANSWER), ACK 20 ms later. Media from the caller
 * starts 30 ms after the answer, every 20 ms; the callee's 10 ms later.
 */
#ifndef SIPTAP_TESTS_RULES_MEDIA_HARNESS_H
#define SIPTAP_TESTS_RULES_MEDIA_HARNESS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "rtp/rtcp.h"
#include "tests/support/event_capture.h"

#define T0     1700000000000000ULL
#define SEC    1000000ULL
#define MSEC   1000ULL
#define ANSWER (T0 + 2 * SEC)

struct harness {
    struct trunk_list trunks;
    struct engine *engine;
    /* The engine's parts. */
    struct counters *counters;
    struct timerq *timers;
    struct event_bus *bus;
    struct call_table *table;
    struct rules *rules;
    struct event_capture *events;
    struct rule_settings settings;
    char types[4096];
    uint64_t end_quiet_us; /* call_end waits this long for the media to stop */
};

static struct harness *hx;

/* Extra rule settings for one test: {section, key, value} triples, NULL-ended. */
static inline void harness_start(const char *const (*settings)[3])
{
    hx = calloc(1, sizeof(*hx));
    cr_assert_not_null(hx);
    struct trunk_config *tr = &hx->trunks.trunks[hx->trunks.count++];
    snprintf(tr->name, sizeof(tr->name), "acme");
    net_prefix_parse(&tr->prefixes[tr->prefix_count++], "203.0.113.0/24");
    snprintf(hx->settings.path, sizeof(hx->settings.path), "test.conf");
    for (size_t i = 0; settings && settings[i][0]; i++) {
        struct rule_setting *s = &hx->settings.items[hx->settings.count++];
        snprintf(s->section, sizeof(s->section), "%s", settings[i][0]);
        snprintf(s->key, sizeof(s->key), "%s", settings[i][1]);
        snprintf(s->value, sizeof(s->value), "%s", settings[i][2]);
        s->line = (int)i + 1;
    }
    struct engine_config ec = {.tap_name = "test", .trunks = &hx->trunks, .rules = &hx->settings};
    decoder_config_defaults(&ec.decoder);
    call_limits_defaults(&ec.limits);
    ec.limits.max_calls = 16;
    hx->end_quiet_us = (uint64_t)ec.limits.end_media_quiet_ms * MSEC;
    enum engine_error why;
    char err[256] = "";
    hx->engine = engine_new(&ec, NULL, &why, err, sizeof(err));
    cr_assert_not_null(hx->engine, "engine_new: %s", err);
    hx->counters = engine_counters(hx->engine);
    hx->timers = engine_timers(hx->engine);
    hx->bus = engine_bus(hx->engine);
    hx->table = engine_calls(hx->engine);
    hx->rules = engine_rules(hx->engine);
    hx->events = event_capture_attach(hx->bus);
}

static inline void harness_setup(void)
{
    harness_start(NULL);
}

static inline void harness_teardown(void)
{
    if (!hx)
        return;
    engine_free(hx->engine);
    free(hx);
    hx = NULL;
}

static inline struct endpoint ep(const char *ip, uint16_t port)
{
    struct endpoint e = {.port = port};
    cr_assert(net_addr_parse(&e.addr, ip), "bad address %s", ip);
    return e;
}

struct dialog {
    const char *call_id;
    const char *caller_ip, *callee_ip; /* signalling */
    const char *from_tag, *to_tag;
};

struct sdp_spec {
    const char *ip;
    uint16_t port;
    enum sdp_direction direction;
};

static inline void set_sdp(struct sip_msg *m, const struct sdp_spec *s)
{
    if (!s)
        return;
    m->has_sdp = true;
    struct sdp_media *md = &m->sdp.media[0];
    m->sdp.media_count = 1;
    md->type = SDP_MEDIA_AUDIO;
    net_addr_parse(&md->addr, s->ip);
    m->sdp.session_addr = md->addr;
    m->sdp.origin_addr = md->addr;
    md->port = s->port;
    md->rtcp_port = (uint16_t)(s->port + 1);
    md->direction = s->direction;
    snprintf(md->proto, sizeof(md->proto), "RTP/AVP");
    md->format_count = 1;
    md->formats[0].payload_type = 0;
    snprintf(md->formats[0].name, sizeof(md->formats[0].name), "PCMU");
    md->formats[0].clock_rate = 8000;
}

static inline struct sip_msg *base_msg(const struct dialog *d, uint32_t cseq,
                                       enum sip_method method)
{
    static struct sip_msg m;
    memset(&m, 0, sizeof(m));
    m.method = method;
    snprintf(m.method_name, sizeof(m.method_name), "%s", sip_method_name(method));
    snprintf(m.call_id, sizeof(m.call_id), "%s", d->call_id);
    snprintf(m.from_user, sizeof(m.from_user), "+15551230000");
    snprintf(m.to_user, sizeof(m.to_user), "+15559870000");
    snprintf(m.from_tag, sizeof(m.from_tag), "%s", d->from_tag);
    m.cseq = cseq;
    m.expires = -1;
    return &m;
}

static inline void feed(const struct sip_msg *m, const char *src, const char *dst, uint64_t ts)
{
    struct sip_meta meta = {.ts_us = ts, .src = ep(src, 5060), .dst = ep(dst, 5060)};
    timerq_advance(hx->timers, ts);
    call_table_sip(hx->table, m, &meta);
}

/* A request; from_callee swaps the tags and the direction. */
static inline void request(const struct dialog *d, enum sip_method method, uint32_t cseq,
                           const char *branch, bool in_dialog, bool from_callee,
                           const struct sdp_spec *sdp, uint64_t ts)
{
    struct sip_msg *m = base_msg(d, cseq, method);
    m->is_request = true;
    snprintf(m->via_branch, sizeof(m->via_branch), "%s", branch);
    if (in_dialog)
        snprintf(m->to_tag, sizeof(m->to_tag), "%s", d->to_tag);
    set_sdp(m, sdp);
    if (from_callee) {
        snprintf(m->from_tag, sizeof(m->from_tag), "%s", d->to_tag);
        snprintf(m->to_tag, sizeof(m->to_tag), "%s", d->from_tag);
        feed(m, d->callee_ip, d->caller_ip, ts);
    } else {
        feed(m, d->caller_ip, d->callee_ip, ts);
    }
}

/* A response from the callee to the caller's request (or, from_caller, the
 * other way round). */
static inline void response(const struct dialog *d, enum sip_method method, uint32_t cseq,
                            int status, const struct sdp_spec *sdp, uint32_t session_expires,
                            bool from_caller, uint64_t ts)
{
    struct sip_msg *m = base_msg(d, cseq, method);
    m->status = status;
    snprintf(m->reason, sizeof(m->reason), "%s", status == 200 ? "OK" : "Ringing");
    snprintf(m->to_tag, sizeof(m->to_tag), "%s", d->to_tag);
    m->session_expires = session_expires;
    set_sdp(m, sdp);
    if (from_caller) {
        snprintf(m->from_tag, sizeof(m->from_tag), "%s", d->to_tag);
        snprintf(m->to_tag, sizeof(m->to_tag), "%s", d->from_tag);
        feed(m, d->caller_ip, d->callee_ip, ts);
    } else {
        feed(m, d->callee_ip, d->caller_ip, ts);
    }
}

/* INVITE (caller SDP) at T0, 180 at T0+1 s, 200 (callee SDP) at ANSWER; ACK
 * 20 ms later unless ack is false. */
static inline void call_setup(const struct dialog *d, const struct sdp_spec *offer,
                              const struct sdp_spec *answer, uint32_t session_expires, bool ack)
{
    request(d, SIP_METHOD_INVITE, 1, "z9hG4bK-inv", false, false, offer, T0);
    response(d, SIP_METHOD_INVITE, 1, 180, NULL, 0, false, T0 + SEC);
    response(d, SIP_METHOD_INVITE, 1, 200, answer, session_expires, false, ANSWER);
    if (ack)
        request(d, SIP_METHOD_ACK, 1, "z9hG4bK-ack", true, false, NULL, ANSWER + 20 * MSEC);
}

/* The clock moves on past the time an ended call at ts waits for its media
 * to go quiet: its call_end is out. */
static inline void settle(uint64_t ts)
{
    timerq_advance(hx->timers, ts + hx->end_quiet_us);
}

/* BYE at ts, its 200, and no more media: the call's call_end is out. */
static inline void bye(const struct dialog *d, uint32_t cseq, bool from_callee, uint64_t ts)
{
    request(d, SIP_METHOD_BYE, cseq, "z9hG4bK-bye", true, from_callee, NULL, ts);
    response(d, SIP_METHOD_BYE, cseq, 200, NULL, 0, !from_callee, ts + 5 * MSEC);
    settle(ts + 5 * MSEC);
}

/* One direction of RTP. */
struct leg {
    struct endpoint src, dst;
    uint32_t ssrc;
    uint16_t seq;
    uint32_t rtp_ts;
    uint32_t loss_every;   /* seq % loss_every == 0 never sent (0: no loss) */
    uint64_t odd_delay_us; /* odd sequence numbers arrive this much later */
    uint64_t sent;
    uint64_t last_us; /* arrival of the last packet sent */
};

static inline struct leg leg(const char *src, uint16_t sport, const char *dst, uint16_t dport,
                             uint32_t ssrc)
{
    struct leg l = {.src = ep(src, sport), .dst = ep(dst, dport), .ssrc = ssrc, .seq = 1000};
    return l;
}

/* The standard call's SDP (sendrecv, each party at its signalling address)
 * and its media, as the SDP says: the caller's RTP (SSRC 0x1111) and the
 * callee's (SSRC 0x2222), from MEDIA0 on. */
static const struct sdp_spec CALLER_SDP = {"198.51.100.20", 10000, SDP_SENDRECV};
static const struct sdp_spec CALLEE_SDP = {"203.0.113.10", 20000, SDP_SENDRECV};
#define MEDIA0 (ANSWER + 30 * MSEC)

static inline struct leg caller_leg(void)
{
    return leg("198.51.100.20", 10000, "203.0.113.10", 20000, 0x1111);
}

static inline struct leg callee_leg(void)
{
    return leg("203.0.113.10", 20000, "198.51.100.20", 10000, 0x2222);
}

/* One packet of payload type pt with len bytes of payload (<= 160). */
static inline void rtp_send_pt(struct leg *l, uint64_t ts, uint8_t pt, size_t len)
{
    uint16_t seq = l->seq++;
    uint32_t rtp_ts = l->rtp_ts;
    l->rtp_ts += 160;
    if (l->loss_every && seq % l->loss_every == 0)
        return;
    if (l->odd_delay_us && (seq & 1))
        ts += l->odd_delay_us;
    uint8_t buf[12 + 160];
    memset(buf, 0xff, sizeof(buf));
    buf[0] = 0x80;
    buf[1] = pt;
    buf[2] = (uint8_t)(seq >> 8);
    buf[3] = (uint8_t)seq;
    buf[4] = (uint8_t)(rtp_ts >> 24);
    buf[5] = (uint8_t)(rtp_ts >> 16);
    buf[6] = (uint8_t)(rtp_ts >> 8);
    buf[7] = (uint8_t)rtp_ts;
    buf[8] = (uint8_t)(l->ssrc >> 24);
    buf[9] = (uint8_t)(l->ssrc >> 16);
    buf[10] = (uint8_t)(l->ssrc >> 8);
    buf[11] = (uint8_t)l->ssrc;
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_us = ts;
    pkt.src = l->src.addr;
    pkt.dst = l->dst.addr;
    pkt.sport = l->src.port;
    pkt.dport = l->dst.port;
    pkt.ip_proto = 17;
    pkt.payload = buf;
    pkt.payload_len = (uint32_t)(12 + (len < 160 ? len : 160));
    timerq_advance(hx->timers, ts);
    cr_assert(call_table_udp(hx->table, &pkt), "RTP packet not tied to a call");
    l->sent++;
    l->last_us = ts;
}

static inline void rtp_send(struct leg *l, uint64_t ts)
{
    rtp_send_pt(l, ts, 0, 160); /* PCMU */
}

/* RTCP from the receiver of leg l at ts: from the port after l's
 * destination to the port after l's source. */
static inline void rtcp_from_receiver(const struct leg *l, const uint8_t *rtcp, size_t len,
                                      uint64_t ts)
{
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_us = ts;
    pkt.src = l->dst.addr;
    pkt.dst = l->src.addr;
    pkt.sport = (uint16_t)(l->dst.port + 1);
    pkt.dport = (uint16_t)(l->src.port + 1);
    pkt.ip_proto = 17;
    pkt.payload = rtcp;
    pkt.payload_len = (uint32_t)len;
    timerq_advance(hx->timers, ts);
    cr_assert(call_table_udp(hx->table, &pkt), "RTCP packet not tied to a call");
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The receiver of leg l reports on it at ts: an RTCP RR, fraction_lost in
 * 1/256, interarrival jitter in timestamp units. */
static inline void rtcp_report_jitter(const struct leg *l, uint8_t fraction_lost, uint32_t jitter,
                                      uint64_t ts)
{
    uint8_t rr[32] = {0x81, 201, 0, 7, 0, 0, 0x99, 0x99};
    put_be32(rr + 8, l->ssrc);
    rr[12] = fraction_lost;
    put_be32(rr + 20, jitter);
    rtcp_from_receiver(l, rr, sizeof(rr), ts);
}

/* The sender of leg l sends, at ts, an RTCP SR (no report blocks) counting
 * packet_count RTP packets sent: from the port after l's source to the
 * port after l's destination. */
static inline void rtcp_sender_report(const struct leg *l, uint32_t packet_count, uint64_t ts)
{
    uint8_t sr[28] = {0x80, 200, 0, 6};
    put_be32(sr + 4, l->ssrc);
    put_be32(sr + 8, (uint32_t)(ts / SEC)); /* NTP seconds: any non-zero value */
    put_be32(sr + 12, 0x80000000u);
    put_be32(sr + 16, l->rtp_ts);
    put_be32(sr + 20, packet_count);
    put_be32(sr + 24, packet_count * 160);
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_us = ts;
    pkt.src = l->src.addr;
    pkt.dst = l->dst.addr;
    pkt.sport = (uint16_t)(l->src.port + 1);
    pkt.dport = (uint16_t)(l->dst.port + 1);
    pkt.ip_proto = 17;
    pkt.payload = sr;
    pkt.payload_len = sizeof(sr);
    timerq_advance(hx->timers, ts);
    cr_assert(call_table_udp(hx->table, &pkt), "RTCP SR not tied to a call");
}

static inline void rtcp_report(const struct leg *l, uint8_t fraction_lost, uint64_t ts)
{
    rtcp_report_jitter(l, fraction_lost, 0, ts);
}

/* The receiver of leg l sends, at ts, a reduced-size RTCP packet (RFC 5506)
 * holding only an XR VoIP Metrics block about l (RFC 3611 4.7): MOS-LQ
 * mos_lq_x10 / 10 (127: unavailable), every other figure 0. */
static inline void rtcp_xr_report(const struct leg *l, uint8_t mos_lq_x10, uint64_t ts)
{
    uint8_t xr[44] = {0x80, 207, 0, 10, 0, 0, 0x99, 0x99, 7, 0, 0, 8};
    put_be32(xr + 12, l->ssrc);
    xr[8 + 26] = mos_lq_x10;
    xr[8 + 27] = RTCP_XR_UNAVAILABLE; /* MOS-CQ */
    rtcp_from_receiver(l, xr, sizeof(xr), ts);
}

/* Media in [from, to): a every 20 ms, b 10 ms after each of a's slots. A
 * NULL leg is silent. */
static inline void talk(struct leg *a, struct leg *b, uint64_t from, uint64_t to)
{
    for (uint64_t t = from; t < to; t += 20 * MSEC) {
        if (a)
            rtp_send(a, t);
        if (b && t + 10 * MSEC < to)
            rtp_send(b, t + 10 * MSEC);
    }
}

/* The types of the events, in order, keeping only those named in keep
 * ("call_start,call_end,..."): other detectors' events do not disturb the
 * assertions. */
static inline const char *types(const char *keep)
{
    size_t off = 0;
    hx->types[0] = '\0';
    for (size_t i = 0; i < event_capture_count(hx->events); i++) {
        const char *t =
            json_string_value(json_object_get(event_capture_get(hx->events, i), "type"));
        if (!t)
            continue;
        char needle[64];
        snprintf(needle, sizeof(needle), ",%s,", t);
        char hay[512];
        snprintf(hay, sizeof(hay), ",%s,", keep);
        if (!strstr(hay, needle))
            continue;
        off +=
            (size_t)snprintf(hx->types + off, sizeof(hx->types) - off, "%s%s", off ? "," : "", t);
        if (off >= sizeof(hx->types))
            break;
    }
    return hx->types;
}

#define CALL_TYPES                                                                                 \
    "call_start,call_answer,call_fail,call_end,one_way_audio,no_audio,call_drop,rtp_quality"

static inline json_t *field(json_t *ev, const char *name)
{
    cr_assert_not_null(ev, "no such event");
    json_t *v = json_object_get(ev, name);
    cr_assert_not_null(v, "event has no field %s", name);
    return v;
}

static inline const char *str_field(json_t *ev, const char *name)
{
    json_t *v = field(ev, name);
    cr_assert(json_is_string(v), "field %s is not a string", name);
    return json_string_value(v);
}

static inline const char *path_field(json_t *ev, const char *name, const char *end)
{
    json_t *o = field(ev, name);
    json_t *v = json_object_get(o, end);
    cr_assert(json_is_string(v), "%s.%s is not a string", name, end);
    return json_string_value(v);
}

static inline double num_field(json_t *ev, const char *name)
{
    json_t *v = field(ev, name);
    cr_assert(json_is_number(v), "field %s is not a number", name);
    return json_number_value(v);
}

/* The event's ts as microseconds since the epoch, from its RFC 3339 text. */
static inline uint64_t ts_of(json_t *ev)
{
    const char *s = str_field(ev, "ts");
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    unsigned us = 0;
    cr_assert(sscanf(s, "%d-%d-%dT%d:%d:%d.%6uZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec, &us) == 7,
              "bad ts %s", s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (uint64_t)timegm(&tm) * SEC + us;
}

/* ---- end to end: a pcapgen capture through the real daemon ---- */

#include <unistd.h>

#include "tools/pcapgen/pcapgen.h"
#include "tests/support/daemon_events.h"

/* Writes g as a capture, runs `$SIPTAPD -r` on it and returns its events
 * (stats left out) as a JSON array; skips the test when SIPTAPD is unset. */
static inline json_t *e2e_run(struct pcapgen *g, const char *name)
{
    const char *siptapd = getenv("SIPTAPD");
    if (!siptapd || access(siptapd, X_OK) != 0)
        cr_skip_test("SIPTAPD is not set to the daemon; skipped");
    char path[256], cmd[700];
    snprintf(path, sizeof(path), "/tmp/siptap-e2e-%d-%s.pcap", (int)getpid(), name);
    cr_assert_eq(pcapgen_write(g, path), 0, "cannot write %s", path);
    snprintf(cmd, sizeof(cmd), "'%s' -r '%s' -n e2e", siptapd, path);
    struct daemon_events run;
    daemon_events_run(&run, cmd);
    cr_assert_eq(run.status, 0, "siptapd failed on %s", path);
    json_t *all = json_array();
    for (size_t i = 0; i < run.count; i++)
        if (strcmp(daemon_event_type(run.events[i]), "stats") != 0)
            json_array_append(all, run.events[i]);
    daemon_events_free(&run);
    unlink(path);
    return all;
}

/* "type,type,..." of the events, keeping only those named in keep. */
static inline const char *e2e_types(json_t *all, const char *keep, char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    char hay[512];
    snprintf(hay, sizeof(hay), ",%s,", keep);
    for (size_t i = 0; i < json_array_size(all); i++) {
        const char *t = json_string_value(json_object_get(json_array_get(all, i), "type"));
        char needle[64];
        snprintf(needle, sizeof(needle), ",%s,", t ? t : "");
        if (t && strstr(hay, needle) && off < len)
            off += (size_t)snprintf(out + off, len - off, "%s%s", off ? "," : "", t);
    }
    return out;
}

/* The n-th event of a type. */
static inline json_t *e2e_find(json_t *all, const char *type, size_t n)
{
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *ev = json_array_get(all, i);
        const char *t = json_string_value(json_object_get(ev, "type"));
        if (t && strcmp(t, type) == 0 && n-- == 0)
            return ev;
    }
    return NULL;
}

/* The standard generated call: 198.51.100.20 calls 203.0.113.10 (trunk-side
 * addresses, no trunk configured), answer 2 s after the start at base time. */
static inline struct pcapgen_call_spec e2e_call(const char *call_id)
{
    struct pcapgen_call_spec c;
    memset(&c, 0, sizeof(c));
    c.call_id = call_id;
    c.caller = ep("198.51.100.20", 5060);
    c.callee = ep("203.0.113.10", 5060);
    return c;
}

#endif

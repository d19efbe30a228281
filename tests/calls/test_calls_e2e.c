/*
 * Call correlation end to end: captures written by the project's generator
 * (tools/pcapgen), replayed by the real daemon (siptapd -r), and the exact
 * call events checked — for a normal call, challenge then success, CANCEL,
 * 486/404/488/503, timer B, re-INVITE to a new media address, forking, SIP
 * over TCP (coalesced and split), a fragmented INVITE, IPv6 and compact
 * headers.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timefmt.h"
#include "tools/pcapgen/pcapgen.h"
#include "tests/support/daemon_events.h"

#define MAX_EVENTS 1024

struct run {
    json_t *events[MAX_EVENTS];
    size_t count;
    char types[4096];
    size_t others; /* events of calls outside the prefix asked for */
};

static struct endpoint ep(const char *ip, uint16_t port)
{
    struct endpoint e = {.port = port};
    cr_assert(net_addr_parse(&e.addr, ip));
    return e;
}

/* Writes g to a temp file, runs siptapd with a config naming 203.0.113.0/24
 * (and 2001:db8:1::/48) as trunk "carrier" followed by extra_conf, collects
 * the non-stats events: with call_prefix, only those of calls whose Call-ID
 * begins with it (and those of no call), counting the others. */
static void replay_calls(struct pcapgen *g, struct run *r, const char *extra_conf,
                         const char *call_prefix)
{
    char pcap[] = "/tmp/siptap-e2e-XXXXXX";
    char conf[] = "/tmp/siptap-e2e-conf-XXXXXX";
    close(mkstemp(pcap));
    int fd = mkstemp(conf);
    const char *text = "[trunk carrier]\nmatch = 203.0.113.0/24, 2001:db8:1::/48\n";
    cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    cr_assert(write(fd, extra_conf, strlen(extra_conf)) == (ssize_t)strlen(extra_conf));
    close(fd);
    cr_assert_eq(pcapgen_write(g, pcap), 0);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' -c %s -r %s", getenv("SIPTAPD"), conf, pcap);
    memset(r, 0, sizeof(*r));
    struct daemon_events all;
    daemon_events_run(&all, cmd);
    for (size_t i = 0; i < all.count; i++) {
        json_t *ev = json_incref(all.events[i]);
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *call_id = json_string_value(json_object_get(ev, "call_id"));
        if (call_prefix && call_id && strncmp(call_id, call_prefix, strlen(call_prefix)) != 0) {
            r->others++;
            json_decref(ev);
            continue;
        }
        /* The periodic figures (stats, trunk_stats) are no call's. */
        if (daemon_event_is_periodic(ev) || r->count >= MAX_EVENTS) {
            json_decref(ev);
            continue;
        }
        r->events[r->count++] = ev;
        size_t off = strlen(r->types);
        snprintf(r->types + off, sizeof(r->types) - off, "%s%s", off ? "," : "", type);
    }
    cr_assert_eq(all.status, 0);
    daemon_events_free(&all);
    unlink(pcap);
    unlink(conf);
}

static void replay_with(struct pcapgen *g, struct run *r, const char *extra_conf)
{
    replay_calls(g, r, extra_conf, NULL);
}

static void replay(struct pcapgen *g, struct run *r)
{
    replay_with(g, r, "");
}

static void release(struct run *r)
{
    for (size_t i = 0; i < r->count; i++)
        json_decref(r->events[i]);
}

static json_t *find(struct run *r, const char *type, size_t n)
{
    for (size_t i = 0; i < r->count; i++)
        if (!strcmp(json_string_value(json_object_get(r->events[i], "type")), type) && n-- == 0)
            return r->events[i];
    cr_assert_fail("no %s event in %s", type, r->types);
    return NULL;
}

static const char *str(json_t *ev, const char *field)
{
    const char *s = json_string_value(json_object_get(ev, field));
    cr_assert_not_null(s, "field %s missing or not a string", field);
    return s;
}

static long long num(json_t *ev, const char *field)
{
    json_t *v = json_object_get(ev, field);
    cr_assert(json_is_integer(v), "field %s missing or not an integer", field);
    return json_integer_value(v);
}

/* Only the call-correlation events: detectors may add their own around them. */
static const char *call_types(struct run *r)
{
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < r->count; i++) {
        const char *t = json_string_value(json_object_get(r->events[i], "type"));
        if (strncmp(t, "call_", 5) != 0 || !strcmp(t, "call_drop"))
            continue;
        size_t off = strlen(buf);
        snprintf(buf + off, sizeof(buf) - off, "%s%s", off ? "," : "", t);
    }
    return buf;
}

static struct pcapgen_call_spec inbound_call(const char *call_id)
{
    struct pcapgen_call_spec c = {0};
    c.call_id = call_id;
    c.from_user = "+15551230000";
    c.to_user = "+15559870000";
    c.caller = ep("203.0.113.10", 5060);
    c.callee = ep("198.51.100.20", 5060);
    c.ring_ms = 2000;
    c.talk_ms = 10000;
    return c;
}

Test(calls_e2e, normal_inbound_call)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = inbound_call("normal@e2e");
    pcapgen_call(g, &c);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_answer,call_end");
    json_t *start = find(&r, "call_start", 0);
    cr_assert_str_eq(str(start, "call_id"), "normal@e2e");
    cr_assert_str_eq(str(start, "from"), "+15551230000");
    cr_assert_str_eq(str(start, "to"), "+15559870000");
    cr_assert_str_eq(str(start, "src"), "203.0.113.10:5060");
    cr_assert_str_eq(str(start, "dst"), "198.51.100.20:5060");
    cr_assert_str_eq(str(start, "direction"), "inbound");
    cr_assert_str_eq(str(start, "trunk"), "carrier");
    json_t *answer = find(&r, "call_answer", 0);
    cr_assert_eq(num(answer, "setup_ms"), 2000);
    cr_assert(json_is_integer(json_object_get(answer, "pdd_ms")));
    json_t *end = find(&r, "call_end", 0);
    cr_assert_str_eq(str(end, "reason"), "bye");
    cr_assert_float_eq(json_real_value(json_object_get(end, "duration_s")), 10.0, 1e-6);
    json_t *streams = json_object_get(end, "streams");
    cr_assert_eq(json_array_size(streams), 2, "both RTP directions tied to the call");
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(streams, i);
        cr_assert_gt(num(s, "packets"), 400);
        cr_assert_eq(num(s, "lost"), 0);
        cr_assert_str_eq(str(s, "codec"), "PCMU");
    }
    release(&r);
    pcapgen_free(g);
}

/* Two Call-IDs alike in their first 280 bytes (more than the 255 a Call-ID
 * is shown with) stay two calls: the shown Call-ID ends with a hash of the
 * whole one. Before, both were cut to the same 255 bytes and merged. */
Test(calls_e2e, long_call_ids_alike_in_their_first_bytes_stay_two_calls)
{
    static char id[2][320];
    for (int i = 0; i < 2; i++) {
        memset(id[i], 'a', 300);
        snprintf(id[i] + 280, sizeof(id[i]) - 280, "-tail-%d@e2e", i);
    }
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec a = inbound_call(id[0]);
    struct pcapgen_call_spec b = inbound_call(id[1]);
    b.caller = ep("203.0.113.11", 5060);
    b.start_us = 1000000;
    pcapgen_call(g, &a);
    pcapgen_call(g, &b);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_start,call_answer,call_answer,call_end,"
                                     "call_end");
    const char *first = str(find(&r, "call_start", 0), "call_id");
    const char *second = str(find(&r, "call_start", 1), "call_id");
    cr_assert_str_neq(first, second);
    for (int i = 0; i < 2; i++) {
        const char *shown = i ? second : first;
        cr_assert_eq(strlen(shown), 255);
        cr_assert_eq(strncmp(shown, id[i], 238), 0, "the Call-ID's first bytes are kept");
        cr_assert_eq(shown[238], '~');
    }
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, challenge_then_success_is_one_call)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = inbound_call("auth@e2e");
    c.auth = 407;
    pcapgen_call(g, &c);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_answer,call_end");
    cr_assert_str_eq(str(find(&r, "call_end", 0), "reason"), "bye");
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, cancel)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = inbound_call("cancel@e2e");
    c.cancel = true;
    pcapgen_call(g, &c);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_fail,call_end");
    json_t *fail = find(&r, "call_fail", 0);
    cr_assert_eq(num(fail, "status"), 487);
    cr_assert_str_eq(str(fail, "direction"), "inbound");
    json_t *end = find(&r, "call_end", 0);
    cr_assert_str_eq(str(end, "reason"), "cancel");
    cr_assert(json_is_null(json_object_get(end, "duration_s")));
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, failures)
{
    const int codes[] = {486, 404, 488, 503};
    for (int i = 0; i < 4; i++) {
        struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
        char id[32];
        snprintf(id, sizeof(id), "fail%d@e2e", codes[i]);
        struct pcapgen_call_spec c = inbound_call(id);
        c.final_status = (uint16_t)codes[i];
        pcapgen_call(g, &c);
        struct run r;
        replay(g, &r);
        cr_assert_str_eq(call_types(&r), "call_start,call_fail,call_end", "%d: %s", codes[i],
                         r.types);
        json_t *fail = find(&r, "call_fail", 0);
        cr_assert_eq(num(fail, "status"), codes[i]);
        cr_assert_str_eq(str(fail, "direction"), "inbound");
        cr_assert_str_eq(str(fail, "severity"), codes[i] == 486 ? "notice" : "warning");
        cr_assert_str_eq(str(find(&r, "call_end", 0), "reason"), "failed");
        release(&r);
        pcapgen_free(g);
    }
}

Test(calls_e2e, timer_b_timeout)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct endpoint a = ep("198.51.100.20", 5060), b = ep("203.0.113.10", 5060);
    char *invite = pcapgen_sip_normalize("INVITE sip:+15559870000@203.0.113.10 SIP/2.0\n"
                                         "Via: SIP/2.0/UDP 198.51.100.20;branch=z9hG4bKtb\n"
                                         "From: <sip:100@198.51.100.20>;tag=f1\n"
                                         "To: <sip:+15559870000@203.0.113.10>\n"
                                         "Call-ID: timerb@e2e\nCSeq: 1 INVITE\n"
                                         "Max-Forwards: 70\n\n",
                                         NULL);
    /* Timer A retransmissions, then silence; an unrelated packet moves capture time on. */
    const uint64_t at[] = {0, 500000, 1500000, 3500000, 7500000, 15500000, 31500000};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
        pcapgen_sip_udp(g, at[i], &a, &b, invite, NULL);
    struct endpoint x = ep("198.51.100.99", 9999), y = ep("198.51.100.98", 9999);
    pcapgen_udp(g, 40000000, &x, &y, (const uint8_t *)"tick", 4, NULL);
    free(invite);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_fail,call_end");
    json_t *fail = find(&r, "call_fail", 0);
    cr_assert_eq(num(fail, "status"), 408);
    cr_assert_str_eq(str(fail, "direction"), "outbound");
    cr_assert_str_eq(str(find(&r, "call_end", 0), "reason"), "timeout");
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, reinvite_moves_media)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = inbound_call("reinvite@e2e");
    c.reinvite_ms = 4000;
    c.reinvite_media = ep("203.0.113.77", 31000);
    pcapgen_call(g, &c);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_answer,call_end");
    json_t *streams = json_object_get(find(&r, "call_end", 0), "streams");
    bool moved = false;
    for (size_t i = 0; i < json_array_size(streams); i++) {
        const char *src = str(json_array_get(streams, i), "src");
        const char *dst = str(json_array_get(streams, i), "dst");
        moved |= !strcmp(src, "203.0.113.77:31000") || !strcmp(dst, "203.0.113.77:31000");
    }
    cr_assert(moved, "media after the re-INVITE is tied to the call");
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, forking)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = inbound_call("fork@e2e");
    c.forking = true;
    pcapgen_call(g, &c);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_answer,call_end");
    cr_assert_str_eq(str(find(&r, "call_end", 0), "reason"), "bye");
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, tcp_call)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = inbound_call("tcp@e2e");
    c.transport = PCAPGEN_TRANSPORT_TCP;
    pcapgen_call(g, &c);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_answer,call_end");
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, tcp_split_and_coalesced_messages)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct endpoint a = ep("203.0.113.10", 40000), b = ep("198.51.100.20", 5060);
    struct pcapgen_tcp *t = pcapgen_tcp_new(g, &a, &b, 1000, 5000, NULL);
    pcapgen_tcp_handshake(t, 0);
    size_t ilen;
    char *invite = pcapgen_sip_normalize("INVITE sip:200@198.51.100.20 SIP/2.0\n"
                                         "Via: SIP/2.0/TCP 203.0.113.10:40000;branch=z9hG4bKs1\n"
                                         "From: <sip:100@203.0.113.10>;tag=a1\n"
                                         "To: <sip:200@198.51.100.20>\n"
                                         "Call-ID: split@e2e\nCSeq: 1 INVITE\n\n",
                                         &ilen);
    const size_t offsets[] = {7, 60, 120};
    pcapgen_tcp_send_split(t, 10000, 1000, PCAPGEN_C2S, (const uint8_t *)invite, ilen, offsets, 3,
                           false);
    const char *tmpl = "SIP/2.0 %s\nVia: SIP/2.0/TCP 203.0.113.10:40000;branch=z9hG4bKs1\n"
                       "From: <sip:100@203.0.113.10>;tag=a1\n"
                       "To: <sip:200@198.51.100.20>;tag=b1\n"
                       "Call-ID: split@e2e\nCSeq: 1 INVITE\n\n";
    char both[2048] = "", one[512];
    const char *statuses[] = {"100 Trying", "180 Ringing"};
    for (int i = 0; i < 2; i++) {
        snprintf(one, sizeof(one), tmpl, statuses[i]);
        char *msg = pcapgen_sip_normalize(one, NULL);
        strncat(both, msg, sizeof(both) - strlen(both) - 1);
        free(msg);
    }
    pcapgen_tcp_send(t, 50000, PCAPGEN_S2C, (const uint8_t *)both, strlen(both));
    snprintf(one, sizeof(one), tmpl, "486 Busy Here");
    char *busy = pcapgen_sip_normalize(one, NULL);
    pcapgen_tcp_send(t, 2000000, PCAPGEN_S2C, (const uint8_t *)busy, strlen(busy));
    free(busy);
    free(invite);
    pcapgen_tcp_free(t);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_fail,call_end");
    json_t *fail = find(&r, "call_fail", 0);
    cr_assert_eq(num(fail, "status"), 486);
    /* 180 in the coalesced segment: post-dial delay measured to it */
    json_t *start = find(&r, "call_start", 0);
    cr_assert_str_eq(str(start, "src"), "203.0.113.10:40000");
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, fragmented_invite_over_vlan)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_encap encap = {.vlan = 100, .mtu = 576};
    struct pcapgen_call_spec c = inbound_call("frag@e2e");
    c.encap = &encap;
    pcapgen_call(g, &c);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_answer,call_end");
    cr_assert_eq(json_array_size(json_object_get(find(&r, "call_end", 0), "streams")), 2);
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, ipv6_call)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = inbound_call("v6@e2e");
    c.caller = ep("2001:db8:1::10", 5060);
    c.callee = ep("2001:db8:2::20", 5060);
    pcapgen_call(g, &c);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_answer,call_end");
    json_t *start = find(&r, "call_start", 0);
    cr_assert_str_eq(str(start, "src"), "[2001:db8:1::10]:5060");
    cr_assert_str_eq(str(start, "direction"), "inbound");
    cr_assert_eq(json_array_size(json_object_get(find(&r, "call_end", 0), "streams")), 2);
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, compact_headers)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct endpoint a = ep("203.0.113.10", 5060), b = ep("198.51.100.20", 5060);
    const char *msgs[] = {
        "INVITE sip:200@198.51.100.20 SIP/2.0\nv: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKc\n"
        "f: <sip:100@203.0.113.10>;tag=c1\nt: <sip:200@198.51.100.20>\ni: compact@e2e\n"
        "CSeq: 1 INVITE\n\n",
        "SIP/2.0 200 OK\nv: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKc\n"
        "f: <sip:100@203.0.113.10>;tag=c1\nt: <sip:200@198.51.100.20>;tag=c2\ni: compact@e2e\n"
        "CSeq: 1 INVITE\n\n",
        "BYE sip:200@198.51.100.20 SIP/2.0\nv: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKd\n"
        "f: <sip:100@203.0.113.10>;tag=c1\nt: <sip:200@198.51.100.20>;tag=c2\ni: compact@e2e\n"
        "CSeq: 2 BYE\n\n",
    };
    const uint64_t at[] = {0, 1000000, 6000000};
    for (int i = 0; i < 3; i++) {
        char *m = pcapgen_sip_normalize(msgs[i], NULL);
        if (i == 1)
            pcapgen_sip_udp(g, at[i], &b, &a, m, NULL);
        else
            pcapgen_sip_udp(g, at[i], &a, &b, m, NULL);
        free(m);
    }
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(call_types(&r), "call_start,call_answer,call_end");
    cr_assert_str_eq(str(find(&r, "call_start", 0), "from"), "100");
    cr_assert_str_eq(str(find(&r, "call_end", 0), "reason"), "bye");
    cr_assert_float_eq(json_real_value(json_object_get(find(&r, "call_end", 0), "duration_s")), 5.0,
                       1e-6);
    release(&r);
    pcapgen_free(g);
}

/* Credentials never leave the daemon, whatever the detectors add. */
Test(calls_e2e, no_credentials_in_events)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = inbound_call("creds@e2e");
    c.auth = 401;
    pcapgen_call(g, &c);
    struct pcapgen_register_spec reg = {0};
    reg.ua = ep("203.0.113.40", 5060);
    reg.registrar = ep("198.51.100.20", 5060);
    reg.user = "3001";
    reg.outcome = PCAPGEN_REG_LOOP_401;
    reg.start_us = 20000000;
    pcapgen_register(g, &reg);
    struct run r;
    replay(g, &r);
    cr_assert_gt(r.count, 3);
    for (size_t i = 0; i < r.count; i++) {
        char *text = json_dumps(r.events[i], 0);
        cr_assert_null(strstr(text, "response="), "%s", text);
        cr_assert_null(strstr(text, "Digest"), "%s", text);
        cr_assert_null(strstr(text, "nonce"), "%s", text);
        free(text);
    }
    release(&r);
    pcapgen_free(g);
}

/* ---- media of no call ---- */

static size_t count_type(struct run *r, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++)
        n += !strcmp(str(r->events[i], "type"), type);
    return n;
}

static struct pcapgen_rtp_spec orphan_stream(const char *src, uint16_t sport, uint32_t ssrc)
{
    struct pcapgen_rtp_spec s = {0};
    s.src = ep(src, sport);
    s.dst = ep("198.51.100.60", 40000);
    s.ssrc = ssrc;
    s.pt = 8;
    return s;
}

/* RTP that no SIP names (an MGCP call beside the SIP ones, a tap started
 * mid-call): reported once quiet 30 s, and at the end of the capture, with
 * its stream's exact figures, on the trunk its address belongs to. */
Test(calls_e2e, media_of_no_call_is_reported_once_quiet)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_rtp_spec first = orphan_stream("203.0.113.50", 30000, 0xABC);
    first.count = 201;
    first.loss_every = 10; /* slots 9, 19 ... 199: 20 lost of 201 */
    pcapgen_rtp_stream(g, &first, NULL);
    struct pcapgen_rtp_spec again = orphan_stream("203.0.113.50", 30000, 0xABC);
    again.start_us = 60000000;
    again.start_seq = 1000;
    again.count = 50;
    pcapgen_rtp_stream(g, &again, NULL);
    struct run r;
    replay(g, &r);
    cr_assert_str_eq(r.types, "media_without_call,media_without_call");

    json_t *quiet = find(&r, "media_without_call", 0);
    cr_assert_str_eq(str(quiet, "severity"), "notice");
    cr_assert_str_eq(str(quiet, "trunk"), "carrier");
    cr_assert_null(json_object_get(quiet, "call_id"));
    cr_assert_str_eq(str(quiet, "reason"), "quiet");
    cr_assert_str_eq(str(quiet, "src"), "203.0.113.50:30000");
    cr_assert_str_eq(str(quiet, "dst"), "198.51.100.60:40000");
    cr_assert_eq(num(quiet, "packets"), 181);
    cr_assert_float_eq(json_real_value(json_object_get(quiet, "duration_s")), 4.0, 1e-9);
    /* Stamped when the 30 s of quiet were up: 4 s + 30 s after the start. */
    char want[TIMEFMT_RFC3339_LEN];
    cr_assert_str_eq(str(quiet, "ts"), timefmt_rfc3339(pcapgen_base(g) + 34000000, want, 32));
    cr_assert_str_eq(str(quiet, "first_ts"), timefmt_rfc3339(pcapgen_base(g), want, 32));
    cr_assert_str_eq(str(quiet, "last_ts"), timefmt_rfc3339(pcapgen_base(g) + 4000000, want, 32));
    json_t *streams = json_object_get(quiet, "streams");
    cr_assert_eq(json_array_size(streams), 1);
    json_t *st = json_array_get(streams, 0);
    cr_assert_str_eq(str(st, "ssrc"), "0x00000ABC");
    cr_assert_str_eq(str(st, "codec"), "PCMA");
    cr_assert_eq(num(st, "packets"), 181);
    cr_assert_eq(num(st, "lost"), 20);

    json_t *end = find(&r, "media_without_call", 1);
    cr_assert_str_eq(str(end, "reason"), "capture_end");
    cr_assert_eq(num(end, "packets"), 50);
    cr_assert_eq(num(json_array_get(json_object_get(end, "streams"), 0), "lost"), 0);
    release(&r);
    pcapgen_free(g);
}

/* Media that comes before the INVITE that sets it up (the tap saw the SIP
 * late, or it took a slower path) is the call's once the SDP names it: one
 * stream in call_end with every packet, nothing reported without a call. */
Test(calls_e2e, media_before_its_invite_is_the_calls)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = inbound_call("early-rtp@e2e");
    c.caller_media = ep("203.0.113.10", 10000);
    c.callee_media = ep("198.51.100.20", 20000);
    c.start_us = 2000000;
    c.rtp = PCAPGEN_RTP_NONE;
    pcapgen_call(g, &c);
    struct pcapgen_rtp_spec back = {0}; /* from 0 s to 13 s: 2 s before the INVITE */
    back.src = c.callee_media;
    back.dst = c.caller_media;
    back.ssrc = 0xB0B;
    back.count = 650;
    pcapgen_rtp_stream(g, &back, NULL);
    struct pcapgen_rtp_spec forth = {0};
    forth.src = c.caller_media;
    forth.dst = c.callee_media;
    forth.ssrc = 0xA11CE;
    forth.start_us = 4100000;
    forth.count = 400;
    pcapgen_rtp_stream(g, &forth, NULL);
    struct run r;
    replay(g, &r);
    cr_assert_eq(count_type(&r, "media_without_call"), 0, "%s", r.types);
    json_t *streams = json_object_get(find(&r, "call_end", 0), "streams");
    cr_assert_eq(json_array_size(streams), 2);
    bool seen = false;
    for (size_t i = 0; i < 2; i++) {
        json_t *st = json_array_get(streams, i);
        if (strcmp(str(st, "ssrc"), "0x00000B0B") != 0)
            continue;
        seen = true;
        cr_assert_eq(num(st, "packets"), 650);
        cr_assert_eq(num(st, "lost"), 0);
    }
    cr_assert(seen, "the early stream is not the call's");
    release(&r);
    pcapgen_free(g);
}

/* The set of flows of no call is bounded, and a flood of one-datagram
 * strays (an RTP scanner, random UDP that parses as RTP) gives way without
 * pushing out a real stream; what is on a well-known port (a DNS query sent
 * again and again) is not followed at all. */
Test(calls_e2e, strays_do_not_push_out_media_of_no_call)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_rtp_spec real = orphan_stream("192.0.2.7", 31000, 0x5EA1);
    real.count = 100;
    pcapgen_rtp_stream(g, &real, NULL);
    for (unsigned i = 0; i < 200; i++) {
        struct pcapgen_rtp_spec stray = orphan_stream("192.0.2.99", (uint16_t)(20000 + i), i + 1);
        stray.start_us = 5000 + 10000u * i;
        stray.count = 1;
        pcapgen_rtp_stream(g, &stray, NULL);
    }
    struct pcapgen_rtp_spec dns = orphan_stream("192.0.2.8", 2738, 0);
    dns.dst = ep("192.0.2.1", 53);
    dns.count = 5;
    dns.ptime_us = 1000000;
    pcapgen_rtp_stream(g, &dns, NULL);
    struct run r;
    replay_with(g, &r, "[limits]\nmax_media_without_call = 4\n");
    cr_assert_str_eq(r.types, "media_without_call");
    json_t *ev = find(&r, "media_without_call", 0);
    cr_assert_str_eq(str(ev, "src"), "192.0.2.7:31000");
    cr_assert(json_is_null(json_object_get(ev, "trunk")));
    cr_assert_eq(num(ev, "packets"), 100);
    release(&r);
    pcapgen_free(g);
}

/* ---- a SIP scanner's flood ---- */

/* 100 answered 30-s calls with media, then a scanner's 20,000 INVITEs at
 * 10,000/s that nobody answers, into a table of 1,000 calls: the flood's
 * dialogs give way to each other, every real call ends by its BYE with all
 * its media (the table used to evict them all: RTP never refreshed a call). */
static void flood_over_calls(uint16_t answer)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    for (unsigned i = 0; i < 100; i++) {
        char id[32], caller[32];
        snprintf(id, sizeof(id), "real-%u@e2e", i);
        snprintf(caller, sizeof(caller), "203.0.113.%u", 10 + i);
        struct pcapgen_call_spec c = inbound_call(id);
        c.call_id = strdup(id);
        c.caller = ep(caller, 5060);
        c.caller_media = ep(caller, 10000);
        c.callee_media = ep("198.51.100.20", (uint16_t)(20000 + 2 * i));
        c.start_us = 10000u * i;
        c.ring_ms = 1000;
        c.talk_ms = 30000;
        pcapgen_call(g, &c);
        free((char *)c.call_id);
    }
    struct pcapgen_scan_spec scan = {0};
    scan.src = ep("192.0.2.66", 5070);
    scan.dst = ep("198.51.100.20", 5060);
    scan.start_us = 3000000;
    scan.count = 20000;
    scan.rate = 10000;
    scan.answer = answer;
    pcapgen_scan(g, &scan);
    struct run r;
    replay_calls(g, &r, "[limits]\nmax_calls = 1000\n", "real-");
    cr_assert_gt(r.others, 20000, "the scanner's dialogs: %zu events", r.others);
    size_t ends = 0;
    for (size_t i = 0; i < r.count; i++) {
        json_t *ev = r.events[i];
        if (strcmp(str(ev, "type"), "call_end") != 0)
            continue;
        ends++;
        cr_assert_str_eq(str(ev, "reason"), "bye", "%s", str(ev, "call_id"));
        json_t *streams = json_object_get(ev, "streams");
        cr_assert_eq(json_array_size(streams), 2, "%s", str(ev, "call_id"));
        for (size_t s = 0; s < 2; s++) { /* 50 a second from answer to BYE, all of them */
            cr_assert_eq(num(json_array_get(streams, s), "packets"), 1498, "%s",
                         str(ev, "call_id"));
            cr_assert_eq(num(json_array_get(streams, s), "lost"), 0, "%s", str(ev, "call_id"));
        }
    }
    cr_assert_eq(ends, 100);
    /* The flood itself is the alert: its source, rate and tool. */
    json_t *alert = find(&r, "sip_scan", 0);
    cr_assert_str_eq(str(alert, "source"), "192.0.2.66");
    cr_assert_str_eq(str(alert, "user_agent"), "friendly-scanner");
    cr_assert(json_is_true(json_object_get(alert, "known_scanner")));
    cr_assert_float_eq(json_real_value(json_object_get(alert, "rate")), 10000.0, 1e-6);
    release(&r);
    pcapgen_free(g);
}

Test(calls_e2e, unanswered_flood_does_not_evict_live_calls, .timeout = 120)
{
    flood_over_calls(0);
}

Test(calls_e2e, rejected_flood_does_not_evict_live_calls, .timeout = 120)
{
    flood_over_calls(404);
}

/* ---- call_end's call record (issue #21) ---- */

/* Four calls and the end of a fifth's wait, from the scenario language: an
 * answered call the callee hangs up with a Q.850 cause (and whose caller
 * also sends a lossy telephone-event stream under its own SSRC), a 486
 * with a cause after ringing, a CANCEL whose Reason carries a SIP and a
 * Q.850 value, and a call left ringing until the tap's ringing timeout. */
static const char RECORD_SCENARIO[] =
    "call id=rec-answered@e2e caller=203.0.113.10:5060 callee=198.51.100.20:5060 "
    "from=+15551230000 to=+15559870000 request-user=5559870000 ring=2 talk=10 "
    "bye-from-callee bye-reason=Q.850;cause=16\n"
    "rtp src=203.0.113.10:10000 dst=198.51.100.20:20000 ssrc=0xD7F00001 pt=101 start=4 "
    "count=150 dtmf=0:150:5 loss-every=5\n"
    "call id=rec-busy@e2e caller=203.0.113.11:5060 callee=198.51.100.20:5060 start=20 "
    "status=486 final-reason=Q.850;cause=17\n"
    "call id=rec-cancel@e2e caller=203.0.113.12:5060 callee=198.51.100.20:5060 start=40 ring=3 "
    "cancel cancel-reason=SIP;cause=487,Q.850;cause=31\n"
    "call id=rec-timeout@e2e caller=203.0.113.13:5060 callee=198.51.100.20:5060 start=60 "
    "no-final\n"
    "rtp src=192.0.2.1:40000 dst=192.0.2.2:40000 ssrc=0x1 count=1 start=300\n";

static json_t *call_end_of(struct run *r, const char *call_id)
{
    for (size_t i = 0; i < r->count; i++) {
        json_t *ev = r->events[i];
        const char *id = json_string_value(json_object_get(ev, "call_id"));
        if (id && !strcmp(id, call_id) &&
            !strcmp(json_string_value(json_object_get(ev, "type")), "call_end"))
            return ev;
    }
    cr_assert_fail("no call_end of %s in %s", call_id, r->types);
    return NULL;
}

static void assert_null(json_t *ev, const char *field)
{
    json_t *v = json_object_get(ev, field);
    cr_assert(v && json_is_null(v), "%s: expected null", field);
}

static void assert_real(json_t *ev, const char *field, double want)
{
    json_t *v = json_object_get(ev, field);
    cr_assert(json_is_number(v), "%s missing or not a number", field);
    cr_assert_float_eq(json_number_value(v), want, 1e-9, "%s: %g, want %g", field,
                       json_number_value(v), want);
}

static void record_replay(struct run *r)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    char err[256];
    cr_assert_eq(pcapgen_scenario_text(g, RECORD_SCENARIO, ".", err, sizeof(err)), 0, "%s", err);
    replay_calls(g, r, "", "rec-");
    pcapgen_free(g);
}

Test(calls_e2e, call_record_of_an_answered_call)
{
    struct run r;
    record_replay(&r);
    json_t *end = call_end_of(&r, "rec-answered@e2e");
    cr_assert_str_eq(str(end, "reason"), "bye");
    cr_assert_eq(num(end, "status"), 200);
    cr_assert_str_eq(str(end, "from"), "+15551230000");
    cr_assert_str_eq(str(end, "to"), "+15559870000");
    cr_assert_str_eq(str(end, "request_user"), "5559870000");
    cr_assert_str_eq(str(end, "src"), "203.0.113.10:5060");
    cr_assert_str_eq(str(end, "dst"), "198.51.100.20:5060");
    cr_assert_str_eq(str(end, "invite_ts"), "2024-01-01T00:00:00.000000Z");
    cr_assert_str_eq(str(end, "ringing_ts"), "2024-01-01T00:00:00.100000Z");
    cr_assert_str_eq(str(end, "answer_ts"), "2024-01-01T00:00:02.000000Z");
    cr_assert_str_eq(str(end, "end_ts"), "2024-01-01T00:00:12.000000Z");
    cr_assert_eq(num(end, "final_status"), 200);
    cr_assert_eq(num(end, "q850_cause"), 16);
    cr_assert_eq(num(end, "setup_ms"), 2000);
    cr_assert_eq(num(end, "pdd_ms"), 100);
    cr_assert_str_eq(str(end, "bye_from"), "callee");
    /* call_start and call_answer said the same. */
    json_t *start = find(&r, "call_start", 0), *answer = find(&r, "call_answer", 0);
    cr_assert_str_eq(str(start, "request_user"), "5559870000");
    cr_assert_eq(num(answer, "setup_ms"), num(end, "setup_ms"));
    cr_assert_eq(num(answer, "pdd_ms"), num(end, "pdd_ms"));

    /* The media each party sent: the DTMF stream is not the caller's audio. */
    json_t *media = json_object_get(end, "media");
    cr_assert(json_is_object(media));
    json_t *caller = json_object_get(media, "caller"), *callee = json_object_get(media, "callee");
    cr_assert(json_is_object(caller) && json_is_object(callee));
    cr_assert_eq(num(caller, "packets"), 498);
    cr_assert_eq(num(caller, "lost"), 0);
    assert_real(caller, "loss_pct", 0);
    assert_real(caller, "jitter_max_ms", 0);
    cr_assert_str_eq(str(caller, "codec"), "PCMU");
    cr_assert_str_eq(str(caller, "src"), "203.0.113.10:10000");
    cr_assert_str_eq(str(caller, "dst"), "198.51.100.20:20000");
    cr_assert_eq(num(callee, "packets"), 498);
    cr_assert_eq(num(callee, "lost"), 0);
    cr_assert_str_eq(str(callee, "codec"), "PCMU");
    cr_assert_str_eq(str(callee, "src"), "198.51.100.20:20000");
    cr_assert_str_eq(str(callee, "dst"), "203.0.113.10:10000");
    /* mos: the (only) audio stream's, as its `streams` entry says. */
    json_t *streams = json_object_get(end, "streams");
    size_t audio = 0, dtmf = 0;
    for (size_t i = 0; i < json_array_size(streams); i++) {
        json_t *s = json_array_get(streams, i);
        if (!strcmp(str(s, "media"), "dtmf")) {
            dtmf++;
            continue;
        }
        audio++;
        json_t *side = !strcmp(str(s, "src"), "203.0.113.10:10000") ? caller : callee;
        assert_real(side, "mos", json_number_value(json_object_get(s, "mos")));
        cr_assert_gt(json_number_value(json_object_get(s, "mos")), 4);
    }
    cr_assert_eq(audio, 2);
    cr_assert_eq(dtmf, 1);
    release(&r);
}

/* A telephone-event stream under its own SSRC is DTMF: no voice figures, no
 * alert for its loss, and not counted as the caller's audio (above). */
Test(calls_e2e, telephone_event_stream_is_dtmf)
{
    struct run r;
    record_replay(&r);
    json_t *end = call_end_of(&r, "rec-answered@e2e");
    json_t *streams = json_object_get(end, "streams"), *dtmf = NULL;
    for (size_t i = 0; i < json_array_size(streams); i++)
        if (!strcmp(str(json_array_get(streams, i), "ssrc"), "0xD7F00001"))
            dtmf = json_array_get(streams, i);
    cr_assert_not_null(dtmf, "the telephone-event stream is in streams");
    cr_assert_str_eq(str(dtmf, "media"), "dtmf");
    cr_assert_eq(num(dtmf, "payload_type"), 101);
    cr_assert_str_eq(str(dtmf, "codec"), "telephone-event");
    cr_assert_eq(num(dtmf, "dtmf_events"), 1);
    cr_assert_eq(num(dtmf, "packets"), 120);
    cr_assert_eq(num(dtmf, "lost"), 29);
    const char *none[] = {"loss_pct", "jitter_max_ms", "jitter_mean_ms", "mos", "r_factor"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        assert_null(dtmf, none[i]);
    for (size_t i = 0; i < r.count; i++)
        cr_assert_str_neq(json_string_value(json_object_get(r.events[i], "type")), "rtp_quality",
                          "a DTMF stream's loss is no voice quality: %s", r.types);
    release(&r);
}

Test(calls_e2e, call_record_of_a_busy_call)
{
    struct run r;
    record_replay(&r);
    json_t *end = call_end_of(&r, "rec-busy@e2e");
    cr_assert_str_eq(str(end, "reason"), "failed");
    cr_assert_eq(num(end, "status"), 486);
    cr_assert_str_eq(str(end, "from"), "alice");
    cr_assert_str_eq(str(end, "to"), "bob");
    cr_assert_str_eq(str(end, "request_user"), "bob");
    cr_assert_str_eq(str(end, "src"), "203.0.113.11:5060");
    cr_assert_str_eq(str(end, "dst"), "198.51.100.20:5060");
    cr_assert_str_eq(str(end, "invite_ts"), "2024-01-01T00:00:20.000000Z");
    cr_assert_str_eq(str(end, "ringing_ts"), "2024-01-01T00:00:20.100000Z");
    assert_null(end, "answer_ts");
    cr_assert_str_eq(str(end, "end_ts"), "2024-01-01T00:00:22.000000Z");
    cr_assert_eq(num(end, "final_status"), 486);
    cr_assert_eq(num(end, "q850_cause"), 17);
    assert_null(end, "setup_ms");
    cr_assert_eq(num(end, "pdd_ms"), 100);
    assert_null(end, "bye_from");
    json_t *media = json_object_get(end, "media");
    assert_null(media, "caller");
    assert_null(media, "callee");
    cr_assert_str_eq(str(find(&r, "call_fail", 0), "request_user"), "bob");
    release(&r);
}

Test(calls_e2e, call_record_of_a_cancelled_call)
{
    struct run r;
    record_replay(&r);
    json_t *end = call_end_of(&r, "rec-cancel@e2e");
    cr_assert_str_eq(str(end, "reason"), "cancel");
    cr_assert_eq(num(end, "status"), 487);
    cr_assert_str_eq(str(end, "src"), "203.0.113.12:5060");
    cr_assert_str_eq(str(end, "invite_ts"), "2024-01-01T00:00:40.000000Z");
    cr_assert_str_eq(str(end, "ringing_ts"), "2024-01-01T00:00:40.100000Z");
    assert_null(end, "answer_ts");
    cr_assert_str_eq(str(end, "end_ts"), "2024-01-01T00:00:43.020000Z");
    cr_assert_eq(num(end, "final_status"), 487);
    /* The CANCEL's Reason: its Q.850 value, after a SIP one. */
    cr_assert_eq(num(end, "q850_cause"), 31);
    assert_null(end, "setup_ms");
    cr_assert_eq(num(end, "pdd_ms"), 100);
    assert_null(end, "bye_from");
    release(&r);
}

Test(calls_e2e, call_record_of_a_ringing_timeout)
{
    struct run r;
    record_replay(&r);
    json_t *end = call_end_of(&r, "rec-timeout@e2e");
    cr_assert_str_eq(str(end, "reason"), "timeout");
    /* No final response came: 408 is the tap's verdict, as in status. */
    cr_assert_eq(num(end, "status"), 408);
    cr_assert_eq(num(end, "final_status"), 408);
    cr_assert_str_eq(str(end, "invite_ts"), "2024-01-01T00:01:00.000000Z");
    cr_assert_str_eq(str(end, "ringing_ts"), "2024-01-01T00:01:00.100000Z");
    assert_null(end, "answer_ts");
    cr_assert_str_eq(str(end, "end_ts"), "2024-01-01T00:04:00.010000Z");
    assert_null(end, "q850_cause");
    assert_null(end, "setup_ms");
    cr_assert_eq(num(end, "pdd_ms"), 100);
    assert_null(end, "bye_from");
    release(&r);
}

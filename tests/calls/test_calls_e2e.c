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

#include "tools/pcapgen/pcapgen.h"

#define MAX_EVENTS 256

struct run {
    json_t *events[MAX_EVENTS];
    size_t count;
    char types[4096];
};

static struct endpoint ep(const char *ip, uint16_t port)
{
    struct endpoint e = {.port = port};
    cr_assert(net_addr_parse(&e.addr, ip));
    return e;
}

/* Writes g to a temp file, runs siptapd with a config naming 203.0.113.0/24
 * (and 2001:db8:1::/48) as trunk "carrier", collects the non-stats events. */
static void replay(struct pcapgen *g, struct run *r)
{
    char pcap[] = "/tmp/siptap-e2e-XXXXXX";
    char conf[] = "/tmp/siptap-e2e-conf-XXXXXX";
    close(mkstemp(pcap));
    int fd = mkstemp(conf);
    const char *text = "[trunk carrier]\nmatch = 203.0.113.0/24, 2001:db8:1::/48\n";
    cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    cr_assert_eq(pcapgen_write(g, pcap), 0);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' -c %s -r %s", getenv("SIPTAPD"), conf, pcap);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    memset(r, 0, sizeof(*r));
    static char line[1 << 20];
    while (fgets(line, sizeof(line), p)) {
        json_t *ev = json_loads(line, 0, NULL);
        cr_assert_not_null(ev, "not JSON: %s", line);
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (!strcmp(type, "stats") || r->count >= MAX_EVENTS) {
            json_decref(ev);
            continue;
        }
        r->events[r->count++] = ev;
        size_t off = strlen(r->types);
        snprintf(r->types + off, sizeof(r->types) - off, "%s%s", off ? "," : "", type);
    }
    cr_assert_eq(pclose(p), 0);
    unlink(pcap);
    unlink(conf);
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

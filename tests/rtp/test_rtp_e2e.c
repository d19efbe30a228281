/*
 * RTP end to end: a call whose SDP sets up the media, plus one RTP stream
 * with a known impairment, written by the generator; siptapd -r must tie the
 * stream to the call and report exactly the expected packets and lost in
 * call_end.streams, and — where tshark is installed — agree with tshark's
 * `-z rtp,streams` on packets, lost and max/mean jitter for the same file.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/pcapgen/pcapgen.h"
#include "tests/support/daemon_events.h"
#include "tests/support/event_schema.h"

struct tshark_stream {
    unsigned ssrc;
    long packets, lost;
    double mean_jitter, max_jitter;
};

static struct endpoint ep(const char *ip, uint16_t port)
{
    struct endpoint e = {.port = port};
    cr_assert(net_addr_parse(&e.addr, ip));
    return e;
}

static bool have_tshark(void)
{
    return system("command -v tshark >/dev/null 2>&1") == 0;
}

/* Parses tshark's rtp,streams table; the payload column may hold spaces, so
 * fields are found from the SSRC onwards: pkts lost (pct) 3 deltas 3 jitters. */
static size_t run_tshark(const char *pcap, struct tshark_stream *out, size_t max)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "tshark -r %s -q -z rtp,streams 2>/dev/null", pcap);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[1024];
    size_t n = 0;
    while (fgets(line, sizeof(line), p) && n < max) {
        char *tok[64];
        size_t nt = 0;
        for (char *t = strtok(line, " \t\n"); t && nt < 64; t = strtok(NULL, " \t\n"))
            tok[nt++] = t;
        size_t s = 0;
        while (s < nt && strncmp(tok[s], "0x", 2) != 0)
            s++;
        if (s >= nt)
            continue;
        for (size_t i = s + 1; i + 8 < nt; i++) {
            char *e1, *e2;
            long pk = strtol(tok[i], &e1, 10);
            long lo = strtol(tok[i + 1], &e2, 10);
            if (*e1 || *e2 || tok[i + 2][0] != '(')
                continue;
            out[n].ssrc = (unsigned)strtoul(tok[s], NULL, 16);
            out[n].packets = pk;
            out[n].lost = lo;
            out[n].mean_jitter = atof(tok[i + 7]);
            out[n].max_jitter = atof(tok[i + 8]);
            n++;
            break;
        }
    }
    pclose(p);
    return n;
}

/* Writes the capture g to pcap_path and runs siptapd on it: the streams of
 * every call_end, in one array (new ref); with counters, also the counters
 * of the last stats event (owned by the caller). */
static json_t *replay_counting(struct pcapgen *g, char *pcap_path, json_t **counters)
{
    close(mkstemp(pcap_path));
    cr_assert_eq(pcapgen_write(g, pcap_path), 0);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "'%s' -r %s", getenv("SIPTAPD"), pcap_path);
    struct daemon_events all;
    daemon_events_run(&all, cmd);
    json_t *streams = json_array();
    size_t call_ends = 0;
    for (size_t i = 0; i < all.count; i++) {
        json_t *ev = all.events[i];
        if (!strcmp(json_string_value(json_object_get(ev, "type")), "call_end")) {
            call_ends++;
            cr_assert_eq(json_array_extend(streams, json_object_get(ev, "streams")), 0);
        }
        if (counters && !strcmp(json_string_value(json_object_get(ev, "type")), "stats")) {
            json_decref(*counters);
            *counters = json_incref(json_object_get(ev, "counters"));
        }
    }
    cr_assert_eq(all.status, 0);
    daemon_events_free(&all);
    cr_assert_gt(call_ends, 0, "no call_end");
    return streams;
}

static json_t *replay(struct pcapgen *g, char *pcap_path)
{
    return replay_counting(g, pcap_path, NULL);
}

/* Counters of a stats event that must hold these values. */
struct counter_want {
    const char *name;
    long long value;
};
#define EXPECT_COUNTERS(counters, ...)                                                             \
    expect_counters(counters, (const struct counter_want[]){__VA_ARGS__},                          \
                    sizeof((const struct counter_want[]){__VA_ARGS__}) /                           \
                        sizeof(struct counter_want))

static void expect_counters(json_t *counters, const struct counter_want *want, size_t n)
{
    cr_assert_not_null(counters, "no stats event");
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(json_integer_value(json_object_get(counters, want[i].name)), want[i].value,
                     "%s", want[i].name);
}

/* A replayed case's leftovers: its capture file, events and generator. */
static void release(struct pcapgen *g, const char *pcap, json_t *streams, json_t *counters)
{
    json_decref(counters);
    json_decref(streams);
    unlink(pcap);
    pcapgen_free(g);
}

/* A call whose SDP announces 203.0.113.10:10000 and 198.51.100.20:20000,
 * and RTCP as rtcp says (a=rtcp-mux, a=rtcp:PORT), answered at 2 s, BYE at
 * 32 s, with no media of its own: the tests add the streams. */
static struct pcapgen *call_announcing(enum pcapgen_rtcp rtcp)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = {0};
    c.call_id = "rtp-e2e@test";
    c.caller = ep("203.0.113.10", 5060);
    c.callee = ep("198.51.100.20", 5060);
    c.caller_media = ep("203.0.113.10", 10000);
    c.callee_media = ep("198.51.100.20", 20000);
    c.ring_ms = 2000;
    c.talk_ms = 30000;
    c.rtp = PCAPGEN_RTP_NONE;
    c.rtcp = rtcp;
    pcapgen_call(g, &c);
    return g;
}

static struct pcapgen *call_with_media(void)
{
    return call_announcing(PCAPGEN_RTCP_NONE);
}

static struct pcapgen_rtp_spec stream_spec(void)
{
    struct pcapgen_rtp_spec s = {0};
    s.src = ep("203.0.113.10", 10000);
    s.dst = ep("198.51.100.20", 20000);
    s.ssrc = 0x11223344;
    s.pt = 0;
    s.start_us = 2100000;
    s.count = 500;
    return s;
}

static json_t *stream_by_ssrc(json_t *streams, unsigned ssrc)
{
    char want[16];
    snprintf(want, sizeof(want), "0x%08X", ssrc);
    for (size_t i = 0; i < json_array_size(streams); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(streams, i), "ssrc")), want))
            return json_array_get(streams, i);
    cr_assert_fail("no stream with SSRC %s", want);
    return NULL;
}

static long long jint(json_t *s, const char *f)
{
    return json_integer_value(json_object_get(s, f));
}

/* When tshark is installed: it sees the n streams of the capture, and each
 * of them has its packets, lost and jitter in streams (by SSRC). */
static void agree_with_tshark(const char *pcap, json_t *streams, size_t n)
{
    if (!have_tshark()) {
        cr_log_warn("tshark absent: only the expected figures were checked");
        return;
    }
    struct tshark_stream *ts = calloc(n + 8, sizeof(*ts));
    cr_assert_not_null(ts);
    size_t tn = run_tshark(pcap, ts, n + 8);
    cr_assert_eq(tn, n, "tshark saw %zu streams", tn);
    for (size_t i = 0; i < tn; i++) {
        json_t *s = stream_by_ssrc(streams, ts[i].ssrc);
        cr_assert_eq(jint(s, "packets"), ts[i].packets, "SSRC %08X packets", ts[i].ssrc);
        cr_assert_eq(jint(s, "lost"), ts[i].lost, "SSRC %08X lost", ts[i].ssrc);
        double maxj = json_real_value(json_object_get(s, "jitter_max_ms"));
        double meanj = json_real_value(json_object_get(s, "jitter_mean_ms"));
        cr_assert_float_eq(maxj, ts[i].max_jitter, 0.01 + ts[i].max_jitter * 0.01);
        cr_assert_float_eq(meanj, ts[i].mean_jitter, 0.01 + ts[i].mean_jitter * 0.01);
    }
    free(ts);
}

/* Runs one case: expected packets/lost per SSRC, and agreement with tshark. */
static void check(struct pcapgen *g, const unsigned *ssrcs, const long *packets, const long *lost,
                  size_t n)
{
    char pcap[] = "/tmp/siptap-rtp-e2e-XXXXXX";
    json_t *streams = replay(g, pcap);
    cr_assert_eq(json_array_size(streams), n, "streams: %s", json_dumps(streams, 0));
    for (size_t i = 0; i < n; i++) {
        json_t *s = stream_by_ssrc(streams, ssrcs[i]);
        cr_assert_eq(jint(s, "packets"), packets[i], "SSRC %08X packets", ssrcs[i]);
        cr_assert_eq(jint(s, "lost"), lost[i], "SSRC %08X lost", ssrcs[i]);
    }
    agree_with_tshark(pcap, streams, n);
    release(g, pcap, streams, NULL);
}

Test(rtp_e2e, loss_list)
{
    struct pcapgen *g = call_with_media();
    struct pcapgen_rtp_spec s = stream_spec();
    const uint16_t lost_seqs[] = {10, 11, 50};
    s.lost_seqs = lost_seqs;
    s.n_lost = 3;
    pcapgen_rtp_stream(g, &s, NULL);
    check(g, (unsigned[]){0x11223344}, (long[]){497}, (long[]){3}, 1);
}

Test(rtp_e2e, reordering_is_not_loss)
{
    struct pcapgen *g = call_with_media();
    struct pcapgen_rtp_spec s = stream_spec();
    const struct pcapgen_seq_pair swaps[] = {{20, 21}, {300, 302}};
    s.swaps = swaps;
    s.n_swaps = 2;
    pcapgen_rtp_stream(g, &s, NULL);
    check(g, (unsigned[]){0x11223344}, (long[]){500}, (long[]){0}, 1);
}

Test(rtp_e2e, duplicates_make_lost_negative)
{
    struct pcapgen *g = call_with_media();
    struct pcapgen_rtp_spec s = stream_spec();
    const uint16_t dups[] = {30, 31};
    s.dup_seqs = dups;
    s.n_dup = 2;
    pcapgen_rtp_stream(g, &s, NULL);
    check(g, (unsigned[]){0x11223344}, (long[]){502}, (long[]){-2}, 1);
}

Test(rtp_e2e, sequence_wrap)
{
    struct pcapgen *g = call_with_media();
    struct pcapgen_rtp_spec s = stream_spec();
    s.start_seq = 65400;
    s.loss_every = 100;
    pcapgen_rtp_stream(g, &s, NULL);
    /* slots 99, 199, 299, 399 lost; slot 499 (the last) too, which no one can count */
    check(g, (unsigned[]){0x11223344}, (long[]){495}, (long[]){4}, 1);
}

Test(rtp_e2e, ssrc_change_starts_a_new_stream)
{
    struct pcapgen *g = call_with_media();
    struct pcapgen_rtp_spec s = stream_spec();
    s.ssrc_change_at = 200;
    s.new_ssrc = 0x55667788;
    pcapgen_rtp_stream(g, &s, NULL);
    check(g, (unsigned[]){0x11223344, 0x55667788}, (long[]){200, 300}, (long[]){0, 0}, 2);
}

Test(rtp_e2e, jitter_with_markers_agrees_with_tshark)
{
    struct pcapgen *g = call_with_media();
    struct pcapgen_rtp_spec s = stream_spec();
    s.jitter_max_us = 15000;
    s.jitter_seed = 42;
    const uint16_t markers[] = {100, 250};
    s.marker_seqs = markers;
    s.n_marker = 2;
    pcapgen_rtp_stream(g, &s, NULL);
    check(g, (unsigned[]){0x11223344}, (long[]){500}, (long[]){0}, 1);
}

Test(rtp_e2e, comfort_noise)
{
    struct pcapgen *g = call_with_media();
    struct pcapgen_rtp_spec s = stream_spec();
    s.cn_at = 100;
    s.cn_slots = 50;
    s.jitter_max_us = 5000;
    s.jitter_seed = 7;
    struct pcapgen_rtp_result res;
    pcapgen_rtp_stream(g, &s, &res);
    check(g, (unsigned[]){0x11223344}, (long[]){(long)res.sent}, (long[]){0}, 1);
}

Test(rtp_e2e, dtmf_events)
{
    struct pcapgen *g = call_with_media();
    struct pcapgen_rtp_spec s = stream_spec();
    s.dtmf_at = 200;
    s.dtmf_slots = 10;
    s.dtmf_event = 5;
    struct pcapgen_rtp_result res;
    pcapgen_rtp_stream(g, &s, &res);
    char pcap[] = "/tmp/siptap-rtp-dtmf-XXXXXX";
    json_t *streams = replay(g, pcap);
    json_t *st = stream_by_ssrc(streams, 0x11223344);
    cr_assert_eq(jint(st, "packets"), (long long)res.sent);
    cr_assert_eq(jint(st, "dtmf_events"), 1, "one RFC 4733 event, however many end packets");
    release(g, pcap, streams, NULL);
}

/* 10 s of media with losses at lost[], an SR every 2 s each answered by an
 * RR, on the RTCP transport how: four of each. The RRs report on the
 * stream, which shows the last one (the receiver's own loss count); the SRs
 * carry no report blocks. Every RTCP datagram is counted once, by the one
 * RTCP path, whichever way it reached its call, and none as RTP. */
static struct pcapgen *call_with_rtcp_xr(enum pcapgen_rtcp announced, enum pcapgen_rtcp sent,
                                         const uint16_t *lost, size_t n_lost, bool xr)
{
    struct pcapgen *g = call_announcing(announced);
    struct pcapgen_rtp_spec s = stream_spec();
    s.rtcp = sent;
    s.rtcp_interval_us = 2000000;
    s.rtcp_rr = true;
    s.rtcp_xr = xr;
    s.lost_seqs = lost;
    s.n_lost = n_lost;
    pcapgen_rtp_stream(g, &s, NULL);
    return g;
}

static struct pcapgen *call_with_rtcp(enum pcapgen_rtcp announced, enum pcapgen_rtcp sent,
                                      const uint16_t *lost, size_t n_lost)
{
    return call_with_rtcp_xr(announced, sent, lost, n_lost, false);
}

static void check_rtcp(enum pcapgen_rtcp announced, enum pcapgen_rtcp sent, const uint16_t *lost,
                       size_t n_lost)
{
    struct pcapgen *g = call_with_rtcp(announced, sent, lost, n_lost);
    char pcap[] = "/tmp/siptap-rtp-rtcp-XXXXXX";
    json_t *counters = NULL;
    json_t *streams = replay_counting(g, pcap, &counters);
    json_t *st = stream_by_ssrc(streams, 0x11223344);
    cr_assert_eq(jint(st, "packets"), 500 - (long long)n_lost);
    cr_assert_eq(jint(st, "lost"), (long long)n_lost);
    json_t *rtcp = json_object_get(st, "rtcp");
    cr_assert_not_null(rtcp, "the RRs reached the stream: %s", json_dumps(st, 0));
    cr_assert_eq(jint(rtcp, "reports"), 4);
    cr_assert_eq(jint(rtcp, "cumulative_lost"), (long long)n_lost);
    /* Each RR leaves 1 ms after its SR, saying it held the SR 65/65536 s
     * (991.8 us): 8 us on the far side of the tap, as the tap saw them. */
    cr_assert_float_eq(json_real_value(json_object_get(rtcp, "rtt_ms")), 0.008, 1e-9);
    EXPECT_COUNTERS(counters, {"rtp.rtcp", 8}, {"media.rtcp_packets", 8}, {"rtp.rtcp_malformed", 0},
                    {"rtp.rtcp_blocks_unmatched", 0}, {"rtp.not_rtp", 0},
                    {"media.rtcp_without_call", 0});
    release(g, pcap, streams, counters);
}

/* RTCP on the RTP port of an SDP that did not announce rtcp-mux: found by
 * its flow. */
Test(rtp_e2e, rtcp_mux_is_not_counted_as_rtp)
{
    check_rtcp(PCAPGEN_RTCP_NONE, PCAPGEN_RTCP_MUX, NULL, 0);
}

Test(rtp_e2e, rtcp_on_the_next_port_reaches_its_stream_and_counts)
{
    const uint16_t lost[] = {10, 11, 50};
    check_rtcp(PCAPGEN_RTCP_NONE, PCAPGEN_RTCP_PORT_PLUS_1, lost, 3);
}

Test(rtp_e2e, rtcp_on_the_port_of_an_sdp_rtcp_attribute)
{
    const uint16_t lost[] = {10, 11, 50};
    check_rtcp(PCAPGEN_RTCP_ATTRIBUTE, PCAPGEN_RTCP_ATTRIBUTE, lost, 3);
}

/* Each RR also carrying an RTCP XR VoIP Metrics block (pcapgen's fixed
 * figures, its loss rate the RR's fraction lost): the stream shows the
 * endpoint's own last report beside the tap's figures, every XR block is
 * counted, and the stream has no rtcp_xr without them. */
Test(rtp_e2e, rtcp_xr_voip_metrics_reach_their_stream)
{
    const uint16_t lost[] = {10, 11, 50, 400};
    struct pcapgen *g =
        call_with_rtcp_xr(PCAPGEN_RTCP_NONE, PCAPGEN_RTCP_PORT_PLUS_1, lost, 4, true);
    char pcap[] = "/tmp/siptap-rtp-xr-XXXXXX";
    json_t *counters = NULL;
    json_t *streams = replay_counting(g, pcap, &counters);
    json_t *st = stream_by_ssrc(streams, 0x11223344);
    json_t *rtcp = json_object_get(st, "rtcp");
    json_t *xr = json_object_get(st, "rtcp_xr");
    cr_assert_not_null(xr, "the XR blocks reached the stream: %s", json_dumps(st, 0));
    cr_assert_eq(jint(xr, "reports"), 4);
    cr_assert_str_eq(json_string_value(json_object_get(xr, "reporter_ssrc")),
                     json_string_value(json_object_get(rtcp, "reporter_ssrc")));
    /* The last RR, at 8 s, had seen slots 0..399 with 3 lost: 3 * 256 / 400
     * is 1 / 256 (the fraction rounds down), 0.39%. */
    cr_assert_float_eq(json_real_value(json_object_get(xr, "loss_rate_pct")), 0.39, 1e-9, "%s",
                       json_dumps(xr, 0));
    cr_assert_float_eq(json_real_value(json_object_get(xr, "loss_rate_pct")),
                       json_real_value(json_object_get(rtcp, "fraction_lost_pct")), 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(xr, "mos_lq")), 4.1, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(xr, "mos_cq")), 4.0, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(xr, "r_factor")), 88, 1e-9);
    cr_assert(json_is_null(json_object_get(xr, "ext_r_factor")));
    cr_assert_eq(jint(xr, "round_trip_ms"), 2);
    cr_assert_eq(jint(xr, "end_system_delay_ms"), 60);
    cr_assert_eq(jint(xr, "signal_level_dbm"), -20);
    cr_assert_eq(jint(xr, "noise_level_dbm"), -70);
    cr_assert_eq(jint(xr, "jb_nominal_ms"), 40);
    cr_assert_eq(jint(xr, "jb_max_ms"), 80);
    cr_assert_eq(jint(xr, "jb_abs_max_ms"), 200);
    EXPECT_COUNTERS(counters, {"rtp.rtcp", 8}, {"rtp.rtcp_xr_voip", 4}, {"rtp.rtcp_malformed", 0},
                    {"rtp.rtcp_blocks_unmatched", 0});
    /* The other direction's stream has no report about it. */
    size_t i;
    json_t *other;
    json_array_foreach(streams, i, other)
    {
        if (other != st)
            cr_assert_null(json_object_get(other, "rtcp_xr"));
    }
    release(g, pcap, streams, counters);
}

/* The same datagrams with no a=rtcp in the SDP: no call expects RTCP on that
 * port, so none of it is the call's. */
Test(rtp_e2e, rtcp_on_an_unannounced_port_belongs_to_no_call)
{
    struct pcapgen *g = call_with_rtcp(PCAPGEN_RTCP_NONE, PCAPGEN_RTCP_ATTRIBUTE, NULL, 0);
    char pcap[] = "/tmp/siptap-rtp-rtcp-XXXXXX";
    json_t *counters = NULL;
    json_t *streams = replay_counting(g, pcap, &counters);
    json_t *st = stream_by_ssrc(streams, 0x11223344);
    cr_assert_eq(jint(st, "packets"), 500);
    cr_assert_null(json_object_get(st, "rtcp"));
    EXPECT_COUNTERS(counters, {"media.rtcp_without_call", 8}, {"media.rtcp_packets", 0},
                    {"rtp.rtcp", 0});
    release(g, pcap, streams, counters);
}

/* Media between addresses no SDP named: each kind counted apart, none of it
 * taken for the call's. */
Test(rtp_e2e, media_of_no_call_is_counted_by_kind)
{
    struct pcapgen *g = call_with_media();
    struct pcapgen_rtp_spec s = stream_spec();
    pcapgen_rtp_stream(g, &s, NULL);
    struct pcapgen_rtp_spec stray = stream_spec();
    stray.src = ep("192.0.2.50", 30000);
    stray.dst = ep("192.0.2.60", 40000);
    stray.ssrc = 0x99;
    stray.count = 100;
    /* 2 s of packets: an SR at 0.5, 1 and 1.5 s, each answered by an RR. */
    stray.rtcp = PCAPGEN_RTCP_PORT_PLUS_1;
    stray.rtcp_interval_us = 500000;
    stray.rtcp_rr = true;
    pcapgen_rtp_stream(g, &stray, NULL);
    static const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    for (uint64_t i = 0; i < 3; i++)
        pcapgen_udp(g, 2200000 + 100000 * i, &stray.src, &stray.dst, junk, sizeof(junk), NULL);
    char pcap[] = "/tmp/siptap-rtp-stray-XXXXXX";
    json_t *counters = NULL;
    json_t *streams = replay_counting(g, pcap, &counters);
    cr_assert_eq(json_array_size(streams), 1, "only the call's stream: %s", json_dumps(streams, 0));
    cr_assert_eq(jint(stream_by_ssrc(streams, 0x11223344), "packets"), 500);
    EXPECT_COUNTERS(counters, {"media.rtp_packets", 500}, {"media.rtp_without_call", 100},
                    {"media.rtcp_without_call", 6}, {"media.udp_not_rtp", 3},
                    {"media.rtcp_packets", 0});
    release(g, pcap, streams, counters);
}

/* Hundreds of calls at once, their media interleaved in one capture (the
 * flow table's ordinary case, with collisions), with loss in a third of
 * them and RTCP in another: every stream's figures are tshark's. */
Test(rtp_e2e, interleaved_calls_agree_with_tshark_stream_by_stream, .timeout = 120)
{
    enum { CALLS = 300 };
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    char ids[CALLS][32];
    for (unsigned i = 0; i < CALLS; i++) {
        char caller[32];
        snprintf(ids[i], sizeof(ids[i]), "scale-%u@test", i);
        snprintf(caller, sizeof(caller), "203.0.113.%u", 1 + i % 250);
        struct pcapgen_call_spec c = {0};
        c.call_id = ids[i];
        c.caller = ep(caller, 5060);
        c.callee = ep("198.51.100.20", 5060);
        c.caller_media = ep(caller, (uint16_t)(10000 + 2 * i));
        c.callee_media = ep("198.51.100.20", (uint16_t)(30000 + 2 * i));
        c.start_us = 7000u * i;
        c.ring_ms = 100;
        c.talk_ms = 6000; /* RTCP comes every 5 s */
        c.loss_every = i % 3 == 1 ? 9 + i % 7 : 0;
        c.rtcp = i % 3 == 2 ? PCAPGEN_RTCP_PORT_PLUS_1 : PCAPGEN_RTCP_NONE;
        pcapgen_call(g, &c);
    }
    char pcap[] = "/tmp/siptap-rtp-scale-XXXXXX";
    json_t *counters = NULL;
    json_t *streams = replay_counting(g, pcap, &counters);
    cr_assert_eq(json_array_size(streams), 2 * CALLS);
    size_t with_loss = 0;
    for (size_t i = 0; i < json_array_size(streams); i++) {
        json_t *st = json_array_get(streams, i);
        cr_assert_gt(jint(st, "packets"), 100);
        with_loss += jint(st, "lost") > 0;
    }
    cr_assert_geq(with_loss, 2 * (CALLS / 3), "a third of the calls lose packets both ways");
    EXPECT_COUNTERS(counters, {"media.rtp_without_call", 0}, {"rtp.rtcp_malformed", 0});
    cr_assert_gt(jint(counters, "rtp.rtcp"), 0);
    agree_with_tshark(pcap, streams, 2 * CALLS);
    release(g, pcap, streams, counters);
}

/* The round trip against Wireshark's own (rtcp.roundtrip-delay, which it
 * computes from the same LSR/DLSR and capture times when asked, in whole
 * ms: floor of the time since the SR less floor of DLSR in ms). On each
 * public capture whose RRs carry one, a stream's rtt_ms must be within 1 ms
 * of a Wireshark figure for an RR about its SSRC. */
Test(rtp_e2e, rtcp_round_trip_agrees_with_wireshark_on_public_captures, .timeout = 120)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    if (!dir || access(dir, R_OK) != 0)
        cr_skip_test("public captures folder %s is absent: skipping", dir ? dir : "(unset)");
    if (!have_tshark())
        cr_skip_test("tshark not installed: skipping");
    static const char *const names[] = {
        "heplify__example__pcap__rtp_rtcp_sip_ipv4_udp.pcap",
        "heplify__example__pcap__sip_ipv4_tcp.pcap",
    };
    size_t compared = 0;
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        char path[1024], cmd[2048], line[1 << 16];
        snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
        if (access(path, R_OK) != 0)
            cr_skip_test("%s is absent: skipping", path);
        /* Wireshark: block SSRCs and round trips of each RR that has one. */
        struct {
            unsigned ssrc;
            long ms;
        } ws[64];
        size_t nws = 0;
        snprintf(cmd, sizeof(cmd),
                 "tshark -o rtcp.show_roundtrip_calculation:TRUE "
                 "-o rtcp.roundtrip_min_threshhold:0 -r '%s' -Y rtcp.roundtrip-delay "
                 "-T fields -e rtcp.ssrc.identifier -e rtcp.roundtrip-delay 2>/dev/null",
                 path);
        FILE *p = popen(cmd, "r");
        cr_assert_not_null(p);
        while (fgets(line, sizeof(line), p) && nws < 64) {
            /* "0xd2bd4e3e,0x58f33dea\t2": the report block's SSRC, then
             * the SDES chunk's (the sender's own) */
            char *tab = strchr(line, '\t');
            cr_assert_not_null(tab);
            ws[nws].ssrc = (unsigned)strtoul(line, NULL, 16);
            ws[nws].ms = strtol(tab + 1, NULL, 10);
            nws++;
        }
        pclose(p);
        cr_assert_gt(nws, 0, "%s: Wireshark found no round trip", names[k]);
        snprintf(cmd, sizeof(cmd), "'%s' -r '%s'", getenv("SIPTAPD"), path);
        p = popen(cmd, "r");
        size_t ours = 0;
        while (fgets(line, sizeof(line), p)) {
            json_t *ev = json_loads(line, 0, NULL);
            cr_assert_not_null(ev);
            event_schema_check(ev);
            json_t *streams = json_object_get(ev, "streams");
            for (size_t i = 0; i < json_array_size(streams); i++) {
                json_t *st = json_array_get(streams, i);
                json_t *rtt = json_object_get(json_object_get(st, "rtcp"), "rtt_ms");
                if (!rtt)
                    continue;
                unsigned ssrc =
                    (unsigned)strtoul(json_string_value(json_object_get(st, "ssrc")), NULL, 16);
                bool near = false;
                for (size_t w = 0; w < nws; w++)
                    near |= ws[w].ssrc == ssrc && fabs(json_real_value(rtt) - ws[w].ms) < 1.0;
                cr_assert(near, "%s: SSRC %08X rtt_ms %.3f has no Wireshark figure within 1 ms",
                          names[k], ssrc, json_real_value(rtt));
                ours++;
            }
            json_decref(ev);
        }
        cr_assert_eq(pclose(p), 0);
        cr_assert_gt(ours, 0, "%s: no stream has a round trip", names[k]);
        compared += ours;
    }
    cr_log_info("%zu round trips within 1 ms of Wireshark's", compared);
}

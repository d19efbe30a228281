/* Unit tests of the RTP layer on generated packet sequences: header parsing,
 * Wireshark-defined loss / jitter / delta with their quirks (marker bits,
 * comfort noise, reordering, duplicates, 16-bit wraps), SSRC changes, DTMF,
 * rtcp-mux demultiplexing, RTCP parsing (including malformed), the flow table,
 * JSON, and the E-model's monotonicity. Expected figures are worked out by
 * hand in the comments. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "rtp/flow.h"
#include "rtp/mos.h"
#include "rtp/rtcp.h"
#include "rtp/rtp.h"
#include "rtp/stream.h"
#include "tests/support/event_schema.h"

#define MS 1000ull /* microseconds */
#define T0 1700000000000000ull

static size_t make_rtp(uint8_t *b, uint8_t pt, bool marker, uint16_t seq, uint32_t ts,
                       uint32_t ssrc, size_t payload)
{
    b[0] = 0x80;
    b[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    b[4] = (uint8_t)(ts >> 24);
    b[5] = (uint8_t)(ts >> 16);
    b[6] = (uint8_t)(ts >> 8);
    b[7] = (uint8_t)ts;
    b[8] = (uint8_t)(ssrc >> 24);
    b[9] = (uint8_t)(ssrc >> 16);
    b[10] = (uint8_t)(ssrc >> 8);
    b[11] = (uint8_t)ssrc;
    memset(b + 12, 0xd5, payload);
    return 12 + payload;
}

static struct endpoint ep(const char *ip, uint16_t port)
{
    struct endpoint e;
    memset(&e, 0, sizeof(e));
    cr_assert(net_addr_parse(&e.addr, ip));
    e.port = port;
    return e;
}

/* Feeds one packet to a bare stream. */
static void feed(struct rtp_stream *s, uint8_t pt, bool marker, uint16_t seq, uint32_t ts,
                 uint64_t at_us)
{
    uint8_t b[200];
    size_t n = make_rtp(b, pt, marker, seq, ts, s->ssrc, 160);
    struct rtp_header h;
    cr_assert(rtp_parse(b, n, &h));
    rtp_stream_update(s, &h, at_us);
}

static void new_stream(struct rtp_stream *s)
{
    rtp_stream_init(s, 0x58F33DEA);
}

/* --- parsing ----------------------------------------------------------- */

/* A stream's `streams` entry as the daemon writes it, parsed back to read. */
static json_t *stream_entry(const struct rtp_stream *s, const struct endpoint *src,
                            const struct endpoint *dst, const struct rtcp_xr_view *xr)
{
    char buf[RTP_STREAM_JSON_MAX];
    size_t n = rtp_stream_write_json(s, src, dst, xr, buf, sizeof(buf));
    cr_assert(n > 0, "the entry fits");
    json_t *o = json_loadb(buf, n, 0, NULL);
    cr_assert(o, "the entry is JSON");
    return o;
}

Test(rtp_parse, header_fields_csrc_extension_padding)
{
    uint8_t b[64] = {0};
    b[0] = 0x80 | 0x20 | 0x10 | 2; /* padding, extension, 2 CSRCs */
    b[1] = 0x80 | 8;
    b[2] = 0x12, b[3] = 0x34;
    b[4] = 0, b[5] = 0, b[6] = 0x01, b[7] = 0x00;
    b[8] = 0xde, b[9] = 0xad, b[10] = 0xbe, b[11] = 0xef;
    /* CSRCs at 12..19, extension header at 20 with 1 word, payload from 28. */
    b[22] = 0, b[23] = 1;
    /* 10 payload bytes, then 2 padding bytes. */
    size_t len = 28 + 10 + 2;
    b[len - 1] = 2;
    struct rtp_header h;
    cr_assert(rtp_parse(b, len, &h));
    cr_assert_eq(h.payload_type, 8);
    cr_assert(h.marker);
    cr_assert_eq(h.seq, 0x1234);
    cr_assert_eq(h.timestamp, 256);
    cr_assert_eq(h.ssrc, 0xdeadbeef);
    cr_assert_eq(h.csrc_count, 2);
    cr_assert_eq(h.payload, b + 28);
    cr_assert_eq(h.payload_len, 10);
}

Test(rtp_parse, rejects_malformed)
{
    uint8_t b[64] = {0};
    struct rtp_header h;
    make_rtp(b, 0, false, 1, 1, 1, 0);
    cr_assert(rtp_parse(b, 12, &h));
    cr_assert_not(rtp_parse(b, 11, &h), "short");
    b[0] = 0x40;
    cr_assert_not(rtp_parse(b, 12, &h), "version 1");
    b[0] = 0x80 | 3;
    cr_assert_not(rtp_parse(b, 20, &h), "CSRC list past the end");
    b[0] = 0x90;
    cr_assert_not(rtp_parse(b, 14, &h), "extension header past the end");
    b[14] = 0, b[15] = 9;
    cr_assert_not(rtp_parse(b, 20, &h), "extension words past the end");
    b[0] = 0xa0;
    b[19] = 0;
    cr_assert_not(rtp_parse(b, 20, &h), "zero padding count");
    b[19] = 9;
    cr_assert_not(rtp_parse(b, 20, &h), "padding past the payload");
    b[0] = 0x80;
    b[1] = 200;
    cr_assert_not(rtp_parse(b, 20, &h), "RTCP SR is not RTP");
}

Test(rtp_parse, rtcp_looks_like_demultiplexes)
{
    uint8_t b[64] = {0};
    make_rtp(b, 0, false, 1, 1, 1, 20);
    cr_assert_not(rtcp_looks_like(b, 32));
    make_rtp(b, 96, true, 1, 1, 1, 20); /* 0xE0: marker + 96 */
    cr_assert_not(rtcp_looks_like(b, 32));
    uint8_t rr[8] = {0x80, 201, 0, 1, 1, 2, 3, 4};
    cr_assert(rtcp_looks_like(rr, 8));
    rr[3] = 5; /* length says 24 bytes */
    cr_assert_not(rtcp_looks_like(rr, 8));
}

Test(rtp_parse, payload_tables_follow_wireshark)
{
    cr_assert_eq(rtp_static_clock_rate(0), 8000);
    cr_assert_eq(rtp_static_clock_rate(9), 8000); /* G.722: 8000 as RFC 3551 and Wireshark */
    cr_assert_eq(rtp_static_clock_rate(11), 44100);
    cr_assert_eq(rtp_static_clock_rate(34), 90000);
    cr_assert_eq(rtp_static_clock_rate(20), 0);
    cr_assert_eq(rtp_static_clock_rate(101), 0);
    cr_assert_str_eq(rtp_static_codec_name(8), "PCMA");
    cr_assert_str_eq(rtp_static_codec_name(96), "");
    cr_assert_eq(rtp_name_clock_rate("opus"), 48000);
    cr_assert_eq(rtp_name_clock_rate("AMR-WB"), 16000);
    cr_assert_eq(rtp_name_clock_rate("AMR"), 8000);
    cr_assert_eq(rtp_name_clock_rate("nonesuch"), 0);
}

/* --- Wireshark figures ------------------------------------------------- */

Test(rtp_stats, perfect_stream)
{
    struct rtp_stream s;
    new_stream(&s);
    for (int i = 0; i < 50; i++)
        feed(&s, 0, i == 0, (uint16_t)(1000 + i), 160u * i, T0 + 20 * MS * i);
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_eq(r.packets, 50);
    cr_assert_eq(r.lost, 0);
    cr_assert_float_eq(r.jitter_max_ms, 0, 1e-9);
    cr_assert_float_eq(r.jitter_mean_ms, 0, 1e-9);
    cr_assert_float_eq(r.max_delta_ms, 20, 1e-9);
    cr_assert_str_eq(s.codec, "PCMU");
    cr_assert_eq(s.clock_rate, 8000);
    cr_assert_eq(s.seq_errors, 0);
    cr_assert_not(s.problem);
    cr_assert_gt(r.mos, 4.3);
}

/* Packet 5 of 10 arrives 8 ms late (108 ms instead of 100 ms):
 *   p5: diff |108 - 100| = 8 -> J = 8/16 = 0.5, delta 28
 *   p6: expected 108 + 20 = 128, arrives 120 -> diff 8 -> J = (15*0.5 + 8)/16 = 0.96875, delta 12
 *   p7..p9: diff 0 -> J *= 15/16. */
static const double J5 = 0.5, J6 = 0.96875, J7 = 0.96875 * 15 / 16, J8 = J7 * 15 / 16,
                    J9 = J8 * 15 / 16;

static void late_packet_stream(struct rtp_stream *s, int marker_at, int cn_at)
{
    new_stream(s);
    for (int i = 0; i < 10; i++) {
        uint64_t at = T0 + (i == 5 ? 108 * MS : 20 * MS * i);
        feed(s, i == cn_at ? 13 : 0, i == marker_at, (uint16_t)i, 160u * i, at);
    }
}

Test(rtp_stats, jitter_rfc3550_exact)
{
    struct rtp_stream s;
    late_packet_stream(&s, -1, -1);
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_float_eq(r.jitter_max_ms, J6, 1e-9);
    cr_assert_float_eq(r.jitter_mean_ms, (J5 + J6 + J7 + J8 + J9) / 9, 1e-9);
    cr_assert_float_eq(r.max_delta_ms, 28, 1e-9);
    cr_assert_float_eq(s.jitter_ms, J9, 1e-9);
}

/* A marker bit on p5 keeps it out of max / mean, and Wireshark's running
 * mean (mean*(n-1) + x)/n with n counting every packet divides by 9 still. */
Test(rtp_stats, marker_packets_skipped)
{
    struct rtp_stream s;
    late_packet_stream(&s, 5, -1);
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_float_eq(r.max_delta_ms, 20, 1e-9); /* p5's 28 skipped, p6's 12 is less */
    cr_assert_float_eq(r.jitter_max_ms, J6, 1e-9);
    cr_assert_float_eq(r.jitter_mean_ms, (J6 + J7 + J8 + J9) / 9, 1e-9);
    cr_assert_eq(s.marker_packets, 1);
}

/* Comfort noise on p5: p5 (CN) and p6 (follows CN) are both skipped. */
Test(rtp_stats, comfort_noise_and_follower_skipped)
{
    struct rtp_stream s;
    late_packet_stream(&s, -1, 5);
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_float_eq(r.max_delta_ms, 20, 1e-9);
    cr_assert_float_eq(r.jitter_max_ms, J7, 1e-9);
    cr_assert_float_eq(r.jitter_mean_ms, (J7 + J8 + J9) / 9, 1e-9);
    cr_assert_eq(s.cn_packets, 1);
    cr_assert_eq(s.pt_changes, 0, "CN is not a regular payload change");
    cr_assert_eq(r.lost, 0);
}

Test(rtp_stats, loss_and_bursts)
{
    struct rtp_stream s;
    new_stream(&s);
    for (int i = 0; i < 100; i++) {
        if (i == 10 || i == 11 || i == 12 || i == 30)
            continue;
        feed(&s, 8, false, (uint16_t)(500 + i), 160u * i, T0 + 20 * MS * i);
    }
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_eq(r.packets, 96);
    cr_assert_eq(r.lost, 4);
    cr_assert_float_eq(r.loss_pct, 4.0, 1e-9);
    cr_assert_eq(s.loss_bursts, 2);
    cr_assert_eq(s.gap_lost, 4);
    cr_assert_eq(s.seq_errors, 2, "two jumps are Wireshark sequence errors");
    cr_assert(s.problem);
    /* Mean burst 2 vs 1/(1-0.04) for random loss: BurstR = 2 * 0.96. */
    cr_assert_float_eq(r.burst_ratio, 1.92, 1e-9);
    cr_assert_float_eq(r.max_delta_ms, 80, 1e-9);
}

Test(rtp_stats, duplicates_make_lost_negative)
{
    struct rtp_stream s;
    new_stream(&s);
    for (int i = 0; i < 20; i++) {
        feed(&s, 0, false, (uint16_t)i, 160u * i, T0 + 20 * MS * i);
        if (i == 5)
            feed(&s, 0, false, 5, 160u * 5, T0 + 20 * MS * i + 1 * MS);
    }
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_eq(r.packets, 21);
    cr_assert_eq(r.lost, -1);
    cr_assert_float_eq(r.loss_pct, -5.0, 1e-9);
    cr_assert_eq(s.duplicates, 1);
    cr_assert_eq(s.out_of_order, 0);
    cr_assert_eq(s.seq_errors, 1);
}

Test(rtp_stats, reordering)
{
    struct rtp_stream s;
    new_stream(&s);
    static const int order[] = {0, 1, 2, 3, 4, 6, 5, 7, 8, 9};
    for (int k = 0; k < 10; k++) {
        int i = order[k];
        feed(&s, 0, false, (uint16_t)i, 160u * i, T0 + 20 * MS * k);
    }
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_eq(r.packets, 10);
    cr_assert_eq(r.lost, 0);
    cr_assert_eq(s.out_of_order, 1);
    cr_assert_eq(s.duplicates, 0);
    cr_assert_eq(s.gap_lost, 0, "the late packet refills its gap");
    /* Wireshark: 6 after 4 is a jump, 5 after 6 is late: two sequence errors. */
    cr_assert_eq(s.seq_errors, 2);
}

Test(rtp_stats, sequence_wrap)
{
    struct rtp_stream s;
    new_stream(&s);
    for (int i = 0; i < 20; i++) {
        uint16_t seq = (uint16_t)(65530 + i);
        if (seq == 65535 || seq == 0)
            continue;
        feed(&s, 0, false, seq, 160u * i, T0 + 20 * MS * i);
    }
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_eq(s.cycles, 1);
    cr_assert_eq(r.packets, 18);
    cr_assert_eq(r.lost, 2);
    cr_assert_eq(s.loss_bursts, 1);
}

Test(rtp_stats, sequence_wrap_from_zero_start)
{
    struct rtp_stream s;
    new_stream(&s);
    /* 70000 packets from 0: one full wrap, no loss. */
    for (uint32_t i = 0; i < 70000; i++)
        feed(&s, 0, false, (uint16_t)i, 160u * i, T0 + 20 * MS * i);
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_eq(s.cycles, 1);
    cr_assert_eq(r.lost, 0);
    cr_assert_eq(s.seq_errors, 0);
}

/* RTP timestamps wrapping past 2^32 stay "in time sequence". Figures from
 * tshark 4.0.17 on the same 30 packets (first timestamp 0xFFFFFC00, packet 12
 * 8 ms late): max jitter 0.969, mean jitter 0.373, max delta 28, min delta 12,
 * no problem flag. */
Test(rtp_stats, timestamp_wrap_matches_tshark)
{
    struct rtp_stream s;
    new_stream(&s);
    for (int i = 0; i < 30; i++)
        feed(&s, 0, false, (uint16_t)(1000 + i), 0xFFFFFC00u + 160u * (uint32_t)i,
             T0 + (uint64_t)(20 * i + (i == 12 ? 8 : 0)) * MS);
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_eq(s.wrong_timestamps, 0);
    cr_assert_not(s.problem);
    cr_assert_float_eq(r.jitter_max_ms, 0.96875, 1e-9);
    cr_assert_float_eq(r.jitter_mean_ms, 0.373, 0.0005);
    cr_assert_float_eq(r.max_delta_ms, 28, 1e-9);
    cr_assert_eq(r.lost, 0);
}

Test(rtp_stats, timestamp_backwards_is_wrong_timestamp)
{
    struct rtp_stream s;
    new_stream(&s);
    feed(&s, 0, false, 0, 100000, T0);
    feed(&s, 0, false, 1, 100160, T0 + 20 * MS);
    feed(&s, 0, false, 2, 50000, T0 + 40 * MS); /* before the first timestamp */
    feed(&s, 0, false, 3, 100480, T0 + 60 * MS);
    cr_assert_eq(s.wrong_timestamps, 1);
    cr_assert(s.problem);
    /* p3 is measured against p1 (the last in-time packet): 40 ms for 320 ticks. */
    cr_assert_float_eq(s.max_delta_ms, 40, 1e-9);
    cr_assert_float_eq(s.jitter_max_ms, 0, 1e-9);
}

Test(rtp_stats, dynamic_payload_without_clock_has_no_jitter)
{
    struct rtp_stream s;
    new_stream(&s);
    for (int i = 0; i < 10; i++)
        feed(&s, 111, false, (uint16_t)i, 960u * i, T0 + (i == 5 ? 108 : 20 * i) * MS);
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_float_eq(r.jitter_max_ms, 0, 1e-9);
    cr_assert_float_eq(r.max_delta_ms, 28, 1e-9, "delta is still measured");

    /* The same stream with opus/48000 from SDP has jitter: 8 ms late = 0.5 first. */
    new_stream(&s);
    rtp_stream_set_codec(&s, "opus", 48000);
    for (int i = 0; i < 6; i++)
        feed(&s, 111, false, (uint16_t)i, 960u * i, T0 + (i == 5 ? 108 : 20 * i) * MS);
    rtp_stream_report(&s, &r);
    cr_assert_float_eq(r.jitter_max_ms, 0.5, 1e-9);
    cr_assert_str_eq(s.codec, "opus");
}

Test(rtp_stats, dtmf_counted_once_per_event)
{
    struct rtp_stream s;
    new_stream(&s);
    cr_assert(rtp_stream_map_payload(&s, 101, "telephone-event", 8000));
    uint8_t b[32];
    struct rtp_header h;
    uint16_t seq = 0;
    uint64_t at = T0;
    /* Audio, then event '5' (3 updates + 3 repeated ends), audio, event '#'. */
    for (int i = 0; i < 5; i++, seq++, at += 20 * MS) {
        size_t n = make_rtp(b, 0, false, seq, 160u * seq, s.ssrc, 4);
        cr_assert(rtp_parse(b, n, &h));
        rtp_stream_update(&s, &h, at);
    }
    for (int ev = 0; ev < 2; ev++) {
        uint32_t ev_ts = 160u * seq;
        for (int k = 0; k < 6; k++, seq++, at += 20 * MS) {
            size_t n = make_rtp(b, 101, k == 0, seq, ev_ts, s.ssrc, 4);
            b[12] = ev == 0 ? 5 : 11;
            b[13] = (uint8_t)(k >= 3 ? 0x80 | 10 : 10);
            b[14] = 0, b[15] = (uint8_t)(160 * (k + 1) / 8);
            cr_assert(rtp_parse(b, n, &h));
            rtp_stream_update(&s, &h, at);
        }
        for (int i = 0; i < 3; i++, seq++, at += 20 * MS) {
            size_t n = make_rtp(b, 0, false, seq, 160u * seq, s.ssrc, 4);
            cr_assert(rtp_parse(b, n, &h));
            rtp_stream_update(&s, &h, at);
        }
    }
    cr_assert_eq(s.dtmf_events, 2);
    struct rtp_stream_report r;
    rtp_stream_report(&s, &r);
    cr_assert_eq(r.lost, 0);
    /* telephone-event has no clock (Wireshark), but its packets still move the
     * reference arrival time while the nominal time stays at the last audio
     * packet's: the first audio packet after an event (6 event packets, 120 ms)
     * is 120 ms "early". Wireshark reports exactly this (SIP_DTMF2.cap agrees):
     * after event 1, J = 120/16 = 7.5; it decays over 3 audio packets to
     * 7.5 * (15/16)^2, and after event 2 J = (15 * that + 120) / 16. */
    double before = 7.5 * 15 / 16 * 15 / 16;
    double want = (15 * before + 120) / 16;
    double got = r.jitter_max_ms;
    rtp_stream_release(&s);
    cr_assert_null(s.maps);
    cr_assert_float_eq(got, want, 1e-9);
}

Test(rtp_stats, dtmf_heuristic_without_sdp)
{
    struct rtp_stream s;
    new_stream(&s);
    uint8_t b[32];
    struct rtp_header h;
    for (uint16_t seq = 0; seq < 4; seq++) {
        size_t n = make_rtp(b, 8, false, seq, 160u * seq, s.ssrc, 4);
        cr_assert(rtp_parse(b, n, &h));
        rtp_stream_update(&s, &h, T0 + 20 * MS * seq);
    }
    for (uint16_t seq = 4; seq < 8; seq++) {
        size_t n = make_rtp(b, 96, seq == 4, seq, 640, s.ssrc, 4);
        b[12] = 1, b[13] = seq >= 6 ? 0x8a : 0x0a, b[14] = 0, b[15] = 0xa0;
        cr_assert(rtp_parse(b, n, &h));
        rtp_stream_update(&s, &h, T0 + 20 * MS * seq);
    }
    cr_assert_eq(s.dtmf_events, 1);
}

/* One packet of payload type pt, 4 bytes of an RFC 4733 event. */
static void feed_event(struct rtp_stream *s, uint8_t pt, uint16_t seq)
{
    uint8_t b[32];
    struct rtp_header h;
    size_t n = make_rtp(b, pt, false, seq, 640, s->ssrc, 4);
    b[12] = 5, b[13] = 10, b[14] = 0, b[15] = 0xa0;
    cr_assert(rtp_parse(b, n, &h));
    rtp_stream_update(s, &h, T0 + 20 * MS * seq);
}

/* A stream of telephone-event packets alone is DTMF, by its SDP mapping;
 * events interleaved with voice under one SSRC stay audio. */
Test(rtp_stats, telephone_event_stream_is_dtmf)
{
    struct rtp_stream s;
    new_stream(&s);
    cr_assert(rtp_stream_map_payload(&s, 101, "telephone-event", 8000));
    cr_assert_not(rtp_stream_is_dtmf(&s), "no packet: nothing to say");
    for (uint16_t seq = 0; seq < 4; seq++)
        feed_event(&s, 101, seq);
    cr_assert(rtp_stream_is_dtmf(&s));
    feed_event(&s, 0, 4); /* a PCMU packet under the same SSRC */
    cr_assert_not(rtp_stream_is_dtmf(&s));
    rtp_stream_release(&s);

    /* Named by the SDP as the stream's own codec (what calls/ does). */
    new_stream(&s);
    rtp_stream_set_codec(&s, "telephone-event", 8000);
    feed_event(&s, 101, 0);
    cr_assert(rtp_stream_is_dtmf(&s));

    /* Without SDP, an unknown dynamic type is not taken for DTMF. */
    new_stream(&s);
    for (uint16_t seq = 0; seq < 4; seq++)
        feed_event(&s, 101, seq);
    cr_assert_not(rtp_stream_is_dtmf(&s));

    /* Its entry: media "dtmf", no voice figures, the contract's keys kept. */
    new_stream(&s);
    cr_assert(rtp_stream_map_payload(&s, 101, "telephone-event", 8000));
    for (uint16_t seq = 0; seq < 6; seq += 2)
        feed_event(&s, 101, seq);
    struct endpoint a = {0}, b = {0};
    json_t *o = stream_entry(&s, &a, &b, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(o, "media")), "dtmf");
    cr_assert_eq(json_integer_value(json_object_get(o, "lost")), 2);
    const char *none[] = {"loss_pct", "jitter_max_ms", "jitter_mean_ms", "mos", "r_factor"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        cr_assert(json_is_null(json_object_get(o, none[i])), "%s", none[i]);
    json_decref(o);
    rtp_stream_release(&s);
}

/* --- flows, SSRC changes, rtcp-mux -------------------------------------- */

/* RTCP from -> to at ts, as the layers above hand it over. */
static int rtcp_in(struct rtp_flow_table *t, struct endpoint from, struct endpoint to, uint64_t ts,
                   const uint8_t *data, size_t len)
{
    struct rtcp_datagram d = {from, to, ts, data, len};
    return rtp_flow_table_rtcp(t, &d);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An SR without report blocks from ssrc, its NTP time sec.frac. */
static size_t make_sr(uint8_t *p, uint32_t ssrc, uint32_t ntp_sec, uint32_t ntp_frac)
{
    memset(p, 0, 28);
    p[0] = 0x80, p[1] = 200, p[3] = 6;
    put32(p + 4, ssrc);
    put32(p + 8, ntp_sec);
    put32(p + 12, ntp_frac);
    return 28;
}

/* An RR from reporter with one block about ssrc naming an SR (lsr, dlsr). */
static size_t make_rr(uint8_t *p, uint32_t reporter, uint32_t ssrc, uint32_t lsr, uint32_t dlsr)
{
    memset(p, 0, 32);
    p[0] = 0x81, p[1] = 201, p[3] = 7;
    put32(p + 4, reporter);
    put32(p + 8, ssrc);
    put32(p + 24, lsr);
    put32(p + 28, dlsr);
    return 32;
}

/* A table of capacity cap holding the flows a -> b and b -> a. */
static void table_with_pair(struct rtp_flow_table *t, struct counters *c, size_t cap,
                            const struct endpoint *a, const struct endpoint *b,
                            struct rtp_flow **ab, struct rtp_flow **ba)
{
    counters_init(c);
    cr_assert(rtp_flow_table_init(t, cap, c));
    *ab = rtp_flow_create(t, a, b, NULL, 1);
    *ba = rtp_flow_create(t, b, a, NULL, 2);
    cr_assert_not_null(*ab);
    cr_assert_not_null(*ba);
}

/* A table holding the flows a -> b (ab) and b -> a, and the stream (SSRC
 * 0xabc) of one RTP packet a -> b at T0; a1 and b1 are the RTCP ports
 * next to a and b. */
struct rtcp_fixture {
    struct counters c;
    struct rtp_flow_table t;
    struct endpoint a, b, a1, b1;
    struct rtp_flow *ab;
};

static struct rtp_stream *rtcp_fixture(struct rtcp_fixture *fx)
{
    fx->a = ep("192.0.2.1", 4000), fx->b = ep("192.0.2.2", 6000);
    fx->a1 = ep("192.0.2.1", 4001), fx->b1 = ep("192.0.2.2", 6001);
    struct rtp_flow *ba;
    table_with_pair(&fx->t, &fx->c, 16, &fx->a, &fx->b, &fx->ab, &ba);
    uint8_t pkt[200];
    size_t n = make_rtp(pkt, 0, false, 1, 0, 0xabc, 160);
    struct rtp_stream *s = rtp_flow_packet(&fx->t, fx->ab, pkt, n, T0);
    cr_assert_not_null(s);
    return s;
}

/* The hash a packet carries from the look-ahead: a right one finds the
 * flow, a wrong one or another flow's still gives the right answer. The
 * warming and prefetching calls change nothing. */
Test(rtp_flow, carried_hash_is_only_a_shortcut)
{
    struct counters c;
    struct rtp_flow_table t;
    struct rtp_flow *ab, *ba;
    struct endpoint a = ep("192.0.2.1", 4000), b = ep("192.0.2.2", 6000), x = ep("2001:db8::7", 9);
    table_with_pair(&t, &c, 16, &a, &b, &ab, &ba);
    uint64_t h_ab = rtp_flow_prefetch_slot(&t, &a.addr, a.port, &b.addr, b.port);
    uint64_t h_ba = rtp_flow_prefetch_slot(&t, &b.addr, b.port, &a.addr, a.port);
    uint64_t h_ax = rtp_flow_prefetch_slot(&t, &a.addr, a.port, &x.addr, x.port);
    cr_assert_neq(h_ab, h_ba);
    rtp_flow_warm(&t, h_ab);
    rtp_flow_warm(&t, h_ax);
    rtp_flow_prefetch(&t, h_ab);
    rtp_flow_prefetch(&t, h_ax);

    struct packet p = {.src = a.addr, .sport = a.port, .dst = b.addr, .dport = b.port};
    cr_assert_eq(rtp_flow_find_packet(&t, &p), ab, "no hash carried");
    p.flow_hashed = true;
    p.flow_hash = h_ab;
    cr_assert_eq(rtp_flow_find_packet(&t, &p), ab);
    struct packet q = {.src = b.addr, .sport = b.port, .dst = a.addr, .dport = a.port};
    q.flow_hashed = true;
    q.flow_hash = h_ab; /* the other flow's hash */
    cr_assert_eq(rtp_flow_find_packet(&t, &q), ba);
    q.flow_hash = 12345;
    cr_assert_eq(rtp_flow_find_packet(&t, &q), ba);
    cr_assert_eq(rtp_flow_find_hashed(&t, h_ba, &b.addr, b.port, &a.addr, a.port), ba);
    struct packet r = {.src = a.addr, .sport = a.port, .dst = x.addr, .dport = x.port};
    r.flow_hashed = true;
    r.flow_hash = h_ax; /* right hash, no such flow */
    cr_assert_null(rtp_flow_find_packet(&t, &r));
    r.flow_hash = h_ab; /* another flow's hash, no such flow */
    cr_assert_null(rtp_flow_find_packet(&t, &r));
    rtp_flow_table_destroy(&t);
}

Test(rtp_flow, ssrc_change_overflow_and_rtcp_mux)
{
    struct counters c;
    counters_init(&c);
    struct rtp_flow_table t;
    cr_assert(rtp_flow_table_init(&t, 16, &c));
    struct endpoint a = ep("192.0.2.1", 4000), b = ep("192.0.2.2", 6000);
    struct rtp_flow *f = rtp_flow_create(&t, &a, &b, NULL, 1);
    struct rtp_flow *back = rtp_flow_create(&t, &b, &a, NULL, 2);
    cr_assert_not_null(f);
    cr_assert_not_null(back);
    cr_assert_eq(rtp_flow_find(&t, &a, &b), f);
    cr_assert_eq(rtp_flow_find(&t, &b, &a), back);

    uint8_t pkt[200];
    for (uint32_t ssrc = 1; ssrc <= RTP_FLOW_MAX_STREAMS + 1; ssrc++) {
        for (int i = 0; i < 10; i++) {
            size_t n = make_rtp(pkt, 0, false, (uint16_t)(100 * ssrc + i), 160u * i, ssrc, 160);
            struct rtp_stream *s = rtp_flow_packet(&t, f, pkt, n, T0 + 20 * MS * i);
            if (ssrc <= RTP_FLOW_MAX_STREAMS) {
                cr_assert_not_null(s);
                cr_assert_eq(s->ssrc, ssrc);
            } else {
                cr_assert_null(s);
            }
        }
    }
    cr_assert_eq(f->stream_count, RTP_FLOW_MAX_STREAMS);
    cr_assert_eq(rtp_flow_stream(f, 0)->packets, 10);
    cr_assert_eq(rtp_flow_stream(f, 1)->packets, 10);
    cr_assert_eq(f->overflow_packets, 10);
    cr_assert_eq(counters_get(&c, "rtp.ssrc_overflow"), 10);

    /* rtcp-mux: b's RR on b -> a about SSRC 2 (which b receives from a). */
    uint8_t rr[32] = {0x81, 201, 0, 7, 0, 0, 0, 0x99, 0, 0, 0, 2, 64, 0xff, 0xff, 0xfe};
    rr[23] = 80; /* jitter 80 ticks */
    cr_assert_null(rtp_flow_packet(&t, back, rr, sizeof(rr), T0));
    cr_assert_eq(counters_get(&c, "rtp.rtcp"), 1);
    cr_assert_eq(counters_get(&c, "rtp.not_rtp"), 0);
    struct rtp_stream *s2 = rtp_flow_stream(f, 1);
    cr_assert(rtcp_view_seen(&s2->rtcp));
    cr_assert_eq(s2->rtcp.reporter_ssrc, 0x99);
    cr_assert_eq(s2->rtcp.fraction_lost, 64);
    cr_assert_eq(s2->rtcp.cumulative_lost, -2);
    cr_assert_float_eq(s2->rtcp.jitter_ms, 10.0, 1e-9);
    cr_assert_not(rtcp_view_seen(&rtp_flow_stream(f, 0)->rtcp));

    /* Not RTP at all. */
    uint8_t junk[4] = {1, 2, 3, 4};
    cr_assert_null(rtp_flow_packet(&t, f, junk, sizeof(junk), T0));
    cr_assert_eq(counters_get(&c, "rtp.not_rtp"), 1);
    cr_assert_eq(counters_get(&c, "rtp.packets"), 10 * (RTP_FLOW_MAX_STREAMS + 1) + 2);

    rtp_flow_remove(&t, back);
    cr_assert_null(rtp_flow_find(&t, &b, &a));
    rtp_flow_table_destroy(&t);
}

Test(rtp_flow, rtp_packet_without_the_rtcp_test_counts_and_measures_alike)
{
    /* rtp_flow_rtp_packet is rtp_flow_packet for a caller that has ruled out
     * RTCP: the same packets through each give the same streams and counts. */
    struct counters c;
    struct rtp_flow_table t;
    struct endpoint a = ep("192.0.2.1", 4000), b = ep("192.0.2.2", 6000);
    struct rtp_flow *one, *other;
    table_with_pair(&t, &c, 16, &a, &b, &one, &other);
    uint8_t pkt[200];
    static const uint16_t seqs[] = {1, 2, 4, 3, 3, 7, 8, 9};
    for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        size_t n = make_rtp(pkt, 8, i == 5, seqs[i], 160u * seqs[i], 0x51, 160);
        uint64_t at = T0 + 20 * MS * i + (i % 3) * MS;
        cr_assert_not_null(rtp_flow_packet(&t, one, pkt, n, at));
        cr_assert_not_null(rtp_flow_rtp_packet(&t, other, pkt, n, at));
    }
    uint8_t junk[4] = {1, 2, 3, 4};
    cr_assert_null(rtp_flow_rtp_packet(&t, other, junk, sizeof(junk), T0 + 200 * MS));
    cr_assert_eq(counters_get(&c, "rtp.not_rtp"), 1);
    cr_assert_eq(counters_get(&c, "rtp.packets"), 2 * 8 + 1);
    cr_assert_eq(other->last_us, T0 + 200 * MS);

    struct rtp_stream_report r1, r2;
    rtp_stream_report(rtp_flow_stream(one, 0), &r1);
    rtp_stream_report(rtp_flow_stream(other, 0), &r2);
    cr_assert_eq(r1.packets, 8);
    cr_assert_eq(r1.lost, r2.lost);
    cr_assert_eq(r1.lost, 9 - 8);
    cr_assert_float_eq(r1.jitter_max_ms, r2.jitter_max_ms, 1e-12);
    cr_assert_float_eq(r1.jitter_mean_ms, r2.jitter_mean_ms, 1e-12);
    cr_assert_float_eq(r1.max_delta_ms, r2.max_delta_ms, 1e-12);
    cr_assert_eq(rtp_flow_stream(one, 0)->duplicates, 1);
    cr_assert_eq(rtp_flow_stream(other, 0)->duplicates, 1);
    cr_assert_eq(rtp_flow_stream(other, 0)->marker_packets, 1);
    rtp_flow_table_destroy(&t);
}

Test(rtp_flow, rtcp_on_odd_port_and_sdp_mapping)
{
    struct counters c;
    counters_init(&c);
    struct rtp_flow_table t;
    cr_assert(rtp_flow_table_init(&t, 16, &c));
    struct endpoint a = ep("2001:db8::1", 4000), b = ep("2001:db8::2", 6000);
    struct rtp_flow *f = rtp_flow_create(&t, &a, &b, NULL, 0);
    cr_assert(rtp_flow_map_payload(f, 101, "telephone-event", 8000));
    rtp_flow_set_codec(f, "opus", 48000);
    uint8_t pkt[200];
    size_t n = make_rtp(pkt, 111, false, 1, 0, 0xabc, 80);
    struct rtp_stream *s = rtp_flow_packet(&t, f, pkt, n, T0);
    cr_assert_not_null(s);
    cr_assert_str_eq(s->codec, "opus");
    cr_assert_eq(s->clock_rate, 48000);
    cr_assert_not_null(s->maps);
    cr_assert_eq(s->maps->count, 1);

    struct endpoint a1 = a, b1 = b;
    a1.port++, b1.port++;
    uint8_t rr[32] = {0x81, 201, 0, 7, 0, 0, 0, 0x55, 0, 0, 0x0a, 0xbc, 0, 0, 0, 3};
    rr[22] = 0x01, rr[23] = 0xe0; /* 480 ticks at 48 kHz = 10 ms */
    cr_assert_eq(rtcp_in(&t, b1, a1, T0, rr, sizeof(rr)), 1);
    cr_assert_eq(s->rtcp.cumulative_lost, 3);
    cr_assert_float_eq(s->rtcp.jitter_ms, 10.0, 1e-9);
    cr_assert_eq(counters_get(&c, "rtp.rtcp_blocks_unmatched"), 0);
    /* A report on an SSRC no flow carries: counted, attached nowhere. */
    rr[11] = 0xbd;
    cr_assert_eq(rtcp_in(&t, b1, a1, T0, rr, sizeof(rr)), 0);
    cr_assert_eq(counters_get(&c, "rtp.rtcp_blocks_unmatched"), 1);
    cr_assert_eq(s->rtcp.reports, 1);
    /* Given the flows (as the calls layer gives a call's), the same report
     * blocks go to any of them, whatever the datagram's ports. */
    struct rtp_flow *back = rtp_flow_create(&t, &b, &a, NULL, 1);
    struct rtp_flow *both[] = {back, f};
    rr[11] = 0xbc;
    struct rtcp_datagram anywhere = {ep("192.0.2.7", 9), ep("192.0.2.8", 9), T0, rr, sizeof(rr)};
    cr_assert_eq(rtp_flow_table_rtcp_flows(&t, both, 2, &anywhere), 1);
    cr_assert_eq(s->rtcp.reports, 2);
    cr_assert_eq(rtp_flow_table_rtcp_flows(&t, both, 1, &anywhere), 0);
    cr_assert_eq(counters_get(&c, "rtp.rtcp_blocks_unmatched"), 2);
    cr_assert_eq(counters_get(&c, "rtp.rtcp"), 4);
    rr[3] = 9; /* length past the end */
    cr_assert_eq(rtcp_in(&t, b1, a1, T0, rr, sizeof(rr)), -1);
    cr_assert_eq(counters_get(&c, "rtp.rtcp_malformed"), 1);
    /* SRTCP is not malformed RTCP: counted apart, attached nowhere. */
    uint8_t srtcp[8 + 44 + 4 + 4] = {0x81, 200, 0, 12, 0, 0, 0, 0x55};
    srtcp[52] = 0x80, srtcp[55] = 7;
    cr_assert_eq(rtcp_in(&t, b1, a1, T0, srtcp, sizeof(srtcp)), -1);
    cr_assert_eq(counters_get(&c, "rtp.srtcp"), 1);
    cr_assert_eq(counters_get(&c, "rtp.rtcp_malformed"), 1);
    cr_assert_eq(s->rtcp.reports, 2);
    rtp_flow_table_destroy(&t);
}

/* The round trip on the far side of the tap: from the SR going by to the
 * RR naming it, less the time the reporter held it. Only an RR from where
 * that SR went, naming an SR seen, and not held longer than it took, gives
 * one; a report without one keeps the last. */
Test(rtp_flow, round_trip_from_an_sr_to_the_rr_naming_it)
{
    struct rtcp_fixture fx;
    struct rtp_stream *s = rtcp_fixture(&fx);
    size_t n;

    uint8_t sr[28], rr[32];
    cr_assert_eq(rtcp_in(&fx.t, fx.a1, fx.b1, T0 + 1000 * MS, sr,
                         make_sr(sr, 0xabc, 0x00012345, 0x67890000)),
                 0);
    /* Held 0.5 s (0x8000 / 65536), seen back 520.25 ms after the SR. */
    n = make_rr(rr, 0x55, 0xabc, 0x23456789, 0x8000);
    cr_assert_eq(rtcp_in(&fx.t, fx.b1, fx.a1, T0 + 1520250, rr, n), 1);
    cr_assert(s->rtcp.has_rtt);
    cr_assert_eq(s->rtcp.rtt_us, 20250);
    char text[RTP_STREAM_JSON_MAX];
    size_t len = rtp_stream_write_json(s, &fx.a, &fx.b, NULL, text, sizeof(text));
    cr_assert_not_null(strstr(text, "\"reports\":1,\"rtt_ms\":20.25}"), "%.*s", (int)len, text);

    /* No round trip: an SR never seen, no SR at all, an RR from elsewhere
     * than the SR went, a hold longer than the trip. Each still reports. */
    n = make_rr(rr, 0x55, 0xabc, 0x23456788, 0x100);
    cr_assert_eq(rtcp_in(&fx.t, fx.b1, fx.a1, T0 + 1600 * MS, rr, n), 1);
    n = make_rr(rr, 0x55, 0xabc, 0, 0);
    cr_assert_eq(rtcp_in(&fx.t, fx.b1, fx.a1, T0 + 1600 * MS, rr, n), 1);
    n = make_rr(rr, 0x55, 0xabc, 0x23456789, 0x100);
    struct rtcp_datagram elsewhere = {ep("192.0.2.3", 6001), fx.a1, T0 + 1600 * MS, rr, n};
    cr_assert_eq(rtp_flow_table_rtcp_flows(&fx.t, &fx.ab, 1, &elsewhere), 1);
    n = make_rr(rr, 0x55, 0xabc, 0x23456789, 0x10000);
    cr_assert_eq(rtcp_in(&fx.t, fx.b1, fx.a1, T0 + 1600 * MS, rr, n), 1);
    cr_assert_eq(s->rtcp.reports, 5);
    cr_assert_eq(s->rtcp.rtt_us, 20250, "the last round trip stands");
    /* The same SR named again, a later RR: a new figure. */
    n = make_rr(rr, 0x55, 0xabc, 0x23456789, 0x8000);
    cr_assert_eq(rtcp_in(&fx.t, fx.b1, fx.a1, T0 + 1531 * MS, rr, n), 1);
    cr_assert_eq(s->rtcp.rtt_us, 31000);
    cr_assert_eq(counters_get(&fx.c, "rtp.rtcp_sr_replaced"), 0);

    /* Twice as many SRs as slots: at least half find their slot taken. */
    for (uint32_t i = 0; i < 2 * RTCP_SR_SLOTS; i++)
        rtcp_in(&fx.t, fx.a1, fx.b1, T0, sr, make_sr(sr, 0x1000 + i, 7, i << 16));
    cr_assert_geq(counters_get(&fx.c, "rtp.rtcp_sr_replaced"), RTCP_SR_SLOTS);
    rtp_flow_table_destroy(&fx.t);
}

/* A flow keeps one stream inline and allocates the rest (and SDP maps) on
 * need: SDP set on the flow before and after an SSRC change must reach every
 * stream, and a single-SSRC flow without SDP must not allocate at all. */
Test(rtp_flow, lazy_streams_share_the_flows_sdp)
{
    struct counters c;
    counters_init(&c);
    struct rtp_flow_table t;
    cr_assert(rtp_flow_table_init(&t, 16, &c));
    struct endpoint a = ep("192.0.2.1", 4000), b = ep("192.0.2.2", 6000);
    struct rtp_flow *f = rtp_flow_create(&t, &a, &b, NULL, 1);
    cr_assert_not_null(f);
    cr_assert_eq(f->party, 1);
    uint8_t pkt[200];
    size_t n = make_rtp(pkt, 111, false, 1, 0, 0xa, 80);
    struct rtp_stream *s1 = rtp_flow_packet(&t, f, pkt, n, T0);
    cr_assert_eq(s1, &f->first);
    cr_assert_null(f->extra, "one SSRC and no SDP: nothing allocated");
    cr_assert_null(s1->maps);

    rtp_flow_set_codec(f, "opus", 48000); /* reaches the existing stream */
    cr_assert_not_null(f->extra);
    cr_assert_str_eq(s1->codec, "opus");
    n = make_rtp(pkt, 111, false, 500, 960, 0xb, 80); /* SSRC change */
    struct rtp_stream *s2 = rtp_flow_packet(&t, f, pkt, n, T0 + 20 * MS);
    cr_assert_eq(s2, rtp_flow_stream(f, 1));
    cr_assert_eq(s2->ssrc, 0xb);
    cr_assert_str_eq(s2->codec, "opus", "a new stream takes the flow's codec");
    cr_assert_eq(s2->clock_rate, 48000);

    cr_assert(rtp_flow_map_payload(f, 101, "telephone-event", 8000)); /* after both */
    cr_assert_eq(s1->maps, s2->maps, "the flow's streams share its map");
    cr_assert_eq(s1->maps->count, 1);
    cr_assert_eq(s1->maps->map[0].pt, 101);
    cr_assert(s1->maps->map[0].telephone_event);
    /* Back to the first SSRC: found again, not a third stream. */
    n = make_rtp(pkt, 111, false, 2, 960, 0xa, 80);
    cr_assert_eq(rtp_flow_packet(&t, f, pkt, n, T0 + 40 * MS), s1);
    cr_assert_eq(f->stream_count, 2);
    cr_assert_eq(s1->packets, 2);
    rtp_flow_table_destroy(&t);
}

Test(rtp_flow, table_full_and_expiry)
{
    struct counters c;
    struct rtp_flow_table t;
    struct rtp_flow *f1, *f2;
    struct endpoint a = ep("10.1.1.1", 1000), b = ep("10.1.1.2", 2000), x = ep("10.1.1.3", 3000);
    table_with_pair(&t, &c, 2, &a, &b, &f1, &f2);
    cr_assert_null(rtp_flow_create(&t, &a, &x, NULL, 0));
    cr_assert_eq(counters_get(&c, "rtp.flows_rejected_full"), 1);
    uint8_t pkt[200];
    size_t n = make_rtp(pkt, 0, false, 1, 0, 1, 160);
    rtp_flow_packet(&t, f1, pkt, n, T0 + 60000 * MS);
    rtp_flow_packet(&t, f2, pkt, n, T0);
    cr_assert_eq(rtp_flow_table_expire(&t, T0 + 61000 * MS, 30000 * MS, NULL, NULL), 1);
    cr_assert_eq(counters_get(&c, "rtp.flows_evicted"), 1);
    cr_assert_not_null(rtp_flow_find(&t, &a, &b));
    cr_assert_null(rtp_flow_find(&t, &b, &a));
    rtp_flow_table_destroy(&t);
}

/* --- RTCP ---------------------------------------------------------------- */

Test(rtcp, compound_sr_sdes_rr)
{
    uint8_t p[200] = {0};
    size_t o = 0;
    /* SR with 1 block: 28 + 24 = 52 bytes = 13 words -> length 12. */
    p[o] = 0x81, p[o + 1] = 200, p[o + 3] = 12;
    p[o + 7] = 0x11;
    p[o + 31] = 0x22; /* block ssrc */
    p[o + 32] = 128;  /* fraction lost 50 % */
    p[o + 35] = 7;
    p[o + 43] = 100; /* jitter */
    o += 52;
    /* SDES, 8 bytes. */
    p[o] = 0x81, p[o + 1] = 202, p[o + 3] = 1;
    o += 8;
    /* RR with 2 blocks: 8 + 48 = 56 bytes -> length 13. */
    p[o] = 0x82, p[o + 1] = 201, p[o + 3] = 13;
    p[o + 7] = 0x33;
    p[o + 11] = 0x44;
    p[o + 35] = 0x55;
    o += 56;
    struct rtcp_packet_info info;
    cr_assert_eq(rtcp_parse(p, o, &info), 0);
    cr_assert(info.has_report);
    cr_assert(info.is_sender_report);
    cr_assert_eq(info.sender_ssrc, 0x11);
    cr_assert_eq(info.block_count, 3);
    cr_assert_eq(info.blocks[0].ssrc, 0x22);
    cr_assert_eq(info.blocks[0].fraction_lost, 128);
    cr_assert_eq(info.blocks[0].cumulative_lost, 7);
    cr_assert_eq(info.blocks[0].jitter, 100);
    cr_assert_eq(info.blocks[0].reporter_ssrc, 0x11);
    cr_assert_eq(info.blocks[1].ssrc, 0x44);
    cr_assert_eq(info.blocks[1].reporter_ssrc, 0x33);
    cr_assert_eq(info.blocks[2].ssrc, 0x55);
}

Test(rtcp, malformed_rejected)
{
    struct rtcp_packet_info info;
    uint8_t rr[8] = {0x80, 201, 0, 1, 0, 0, 0, 1};
    cr_assert_eq(rtcp_parse(rr, 8, &info), 0);
    cr_assert_eq(info.block_count, 0);
    cr_assert_eq(rtcp_parse(rr, 3, &info), -1, "shorter than a header");
    uint8_t two[10] = {0x80, 201, 0, 1, 0, 0, 0, 1, 0x80, 201};
    cr_assert_eq(rtcp_parse(two, 10, &info), -1, "trailing partial header");
    /* Two zero bytes after a whole packet (a real device's SR+RR+SDES):
     * the packet counts, as Wireshark reads it. Not alone, not non-zero. */
    uint8_t padded[12] = {0x80, 201, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
    cr_assert_eq(rtcp_parse(padded, 10, &info), 0, "two zero bytes after the packet");
    cr_assert_eq(rtcp_parse(padded, 11, &info), 0, "three zero bytes after the packet");
    cr_assert_eq(rtcp_parse(padded, 12, &info), -1, "a whole zero header is not padding");
    cr_assert_eq(rtcp_parse(padded + 8, 2, &info), -1, "zero bytes alone");
    padded[9] = 1;
    cr_assert_eq(rtcp_parse(padded, 10, &info), -1, "non-zero trailing bytes");
    rr[3] = 2;
    cr_assert_eq(rtcp_parse(rr, 8, &info), -1, "length past the end");
    rr[3] = 1;
    rr[0] = 0x81;
    cr_assert_eq(rtcp_parse(rr, 8, &info), -1, "report count past its length");
    rr[0] = 0x40;
    cr_assert_eq(rtcp_parse(rr, 8, &info), -1, "version 1");
    uint8_t odd[8] = {0x80, 150, 0, 1, 0, 0, 0, 1};
    cr_assert_eq(rtcp_parse(odd, 8, &info), -1, "not an RTCP type");
    uint8_t many[8 + 31 * 24] = {0x9f, 201, 0, (uint8_t)(1 + 31 * 6)};
    many[2] = (uint8_t)((1 + 31 * 6) >> 8);
    cr_assert_eq(rtcp_parse(many, sizeof(many), &info), 0);
    cr_assert_eq(info.block_count, RTCP_MAX_BLOCKS);
    cr_assert_eq(info.blocks_truncated, 31 - RTCP_MAX_BLOCKS);
}

/* SRTCP as a ZRTP-keyed softphone sends it: an SR header and sender SSRC in
 * clear, 44 encrypted bytes, E flag with index 1, a 4-byte tag (HMAC-SHA1-32). */
/* An XR packet (RFC 3611) from reporter: a VoIP Metrics block about ssrc
 * with every field its own value, then a Receiver Reference Time block
 * (type 4, not read). Returns its length. */
static size_t make_xr(uint8_t *p, uint32_t reporter, uint32_t ssrc)
{
    memset(p, 0, 56);
    p[0] = 0x80, p[1] = 207, p[3] = 13; /* 8 + 36 + 12 = 56 bytes = 14 words */
    put32(p + 4, reporter);
    uint8_t *b = p + 8;
    b[0] = 7, b[3] = 8; /* VoIP Metrics, 9 words */
    put32(b + 4, ssrc);
    const uint8_t fields[] = {
        13,   26,   51,   77,   /* loss, discard, burst, gap density (/256) */
        0,    120,  0x12, 0x34, /* burst duration 120 ms, gap 0x1234 ms */
        0,    42,   0,    150,  /* round trip 42 ms, end system delay 150 ms */
        0xEC, 0xB5, 127,  16,   /* signal -20 dBm, noise -75 dBm, RERL n/a, Gmin 16 */
        88,   127,  41,   39,   /* R 88, external R n/a, MOS-LQ 4.1, MOS-CQ 3.9 */
        0x50, 0,    0,    60,   0, 100, 0x01, 0x2C, /* RX config; JB 60 / 100 / 300 ms */
    };
    memcpy(b + 8, fields, sizeof(fields));
    uint8_t *rrt = p + 44;
    rrt[0] = 4, rrt[3] = 2; /* Receiver Reference Time: 3 words */
    put32(rrt + 4, 0x01020304);
    return 56;
}

Test(rtcp, xr_voip_metrics_read_field_by_field)
{
    uint8_t p[128];
    size_t n = make_rr(p, 0x55, 0xabc, 0, 0);
    n += make_xr(p + n, 0x55, 0xabc);
    struct rtcp_packet_info info;
    cr_assert_eq(rtcp_parse(p, n, &info), 0);
    cr_assert_eq(info.block_count, 1);
    cr_assert_eq(info.xr_count, 1);
    const struct rtcp_xr_voip *m = &info.xr[0];
    cr_assert_eq(m->ssrc, 0xabc);
    cr_assert_eq(m->reporter_ssrc, 0x55);
    cr_assert_eq(m->loss_rate, 13);
    cr_assert_eq(m->discard_rate, 26);
    cr_assert_eq(m->burst_density, 51);
    cr_assert_eq(m->gap_density, 77);
    cr_assert_eq(m->burst_duration_ms, 120);
    cr_assert_eq(m->gap_duration_ms, 0x1234);
    cr_assert_eq(m->round_trip_ms, 42);
    cr_assert_eq(m->end_system_delay_ms, 150);
    cr_assert_eq(m->signal_level_dbm, -20);
    cr_assert_eq(m->noise_level_dbm, -75);
    cr_assert_eq(m->rerl_db, RTCP_XR_UNAVAILABLE);
    cr_assert_eq(m->gmin, 16);
    cr_assert_eq(m->r_factor, 88);
    cr_assert_eq(m->ext_r_factor, RTCP_XR_UNAVAILABLE);
    cr_assert_eq(m->mos_lq, 41);
    cr_assert_eq(m->mos_cq, 39);
    cr_assert_eq(m->rx_config, 0x50);
    cr_assert_eq(m->jb_nominal_ms, 60);
    cr_assert_eq(m->jb_max_ms, 100);
    cr_assert_eq(m->jb_abs_max_ms, 300);

    /* XR alone (reduced-size RTCP) parses, with no report. */
    cr_assert_eq(rtcp_parse(p + 32, n - 32, &info), 0);
    cr_assert_not(info.has_report);
    cr_assert_eq(info.xr_count, 1);

    /* Past RTCP_MAX_XR, blocks are counted, not stored. */
    uint8_t many[8 + 36 * (RTCP_MAX_XR + 2)];
    memset(many, 0, sizeof(many));
    many[0] = 0x80, many[1] = 207, many[3] = (uint8_t)(sizeof(many) / 4 - 1);
    for (size_t i = 0; i < RTCP_MAX_XR + 2; i++)
        many[8 + 36 * i] = 7, many[8 + 36 * i + 3] = 8;
    cr_assert_eq(rtcp_parse(many, sizeof(many), &info), 0);
    cr_assert_eq(info.xr_count, RTCP_MAX_XR);
    cr_assert_eq(info.xr_truncated, 2);
}

Test(rtcp, xr_whose_lengths_do_not_fit_is_malformed)
{
    uint8_t p[64];
    struct rtcp_packet_info info;
    size_t n = make_xr(p, 0x55, 0xabc);
    cr_assert_eq(rtcp_parse(p, n, &info), 0);
    p[8 + 3] = 7; /* a VoIP Metrics block of 8 words */
    cr_assert_eq(rtcp_parse(p, n, &info), -1, "VoIP Metrics block not 36 bytes");
    make_xr(p, 0x55, 0xabc);
    p[44 + 3] = 3; /* the last block runs past its packet */
    cr_assert_eq(rtcp_parse(p, n, &info), -1, "block past its packet");
    make_xr(p, 0x55, 0xabc);
    p[3] = 1; /* an XR packet of 8 bytes: header and sender, no room for a block */
    cr_assert_eq(rtcp_parse(p, 8, &info), 0, "an XR packet with no blocks");
    p[3] = 0;
    cr_assert_eq(rtcp_parse(p, 4, &info), -1, "no sender SSRC");
    make_xr(p, 0x55, 0xabc);
    p[3] = 2; /* 12 bytes: a block header cut after 4 of its 36 bytes */
    cr_assert_eq(rtcp_parse(p, 12, &info), -1, "block cut by its packet");
}

/* An XR block reaches the stream it reports on, with the RR beside it, and
 * shows in the stream's entry; one about an SSRC the tap never saw is
 * counted as unmatched. */
Test(rtp_flow, xr_voip_metrics_reach_their_stream)
{
    struct rtcp_fixture fx;
    struct rtp_stream *s = rtcp_fixture(&fx);
    uint8_t pkt[200];
    size_t n;
    cr_assert_null(rtp_flow_stream_xr(fx.ab, s));

    n = make_rr(pkt, 0x55, 0xabc, 0, 0);
    n += make_xr(pkt + n, 0x55, 0xabc);
    cr_assert_eq(rtcp_in(&fx.t, fx.b1, fx.a1, T0 + 1000 * MS, pkt, n), 2,
                 "the RR block and the XR block");
    cr_assert_eq(rtcp_in(&fx.t, fx.b1, fx.a1, T0 + 6000 * MS, pkt, n), 2);
    const struct rtcp_xr_view *xr = rtp_flow_stream_xr(fx.ab, s);
    cr_assert_not_null(xr);
    cr_assert_eq(xr->reports, 2);
    cr_assert_eq(xr->last.mos_lq, 41);
    cr_assert_eq(s->rtcp.reports, 2);
    cr_assert_eq(counters_get(&fx.c, "rtp.rtcp_xr_voip"), 2);
    cr_assert_eq(counters_get(&fx.c, "rtp.rtcp_blocks_unmatched"), 0);

    char text[RTP_STREAM_JSON_MAX];
    size_t len = rtp_stream_write_json(s, &fx.a, &fx.b, xr, text, sizeof(text));
    cr_assert_gt(len, 0);
    json_t *o = json_loadb(text, len, 0, NULL);
    event_schema_check_stream(o);
    json_t *x = json_object_get(o, "rtcp_xr");
    cr_assert_not_null(x, "%s", text);
    cr_assert_str_eq(json_string_value(json_object_get(x, "reporter_ssrc")), "0x00000055");
    cr_assert_float_eq(json_real_value(json_object_get(x, "mos_lq")), 4.1, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(x, "mos_cq")), 3.9, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(x, "r_factor")), 88, 1e-9);
    cr_assert(json_is_null(json_object_get(x, "ext_r_factor")));
    cr_assert_float_eq(json_real_value(json_object_get(x, "loss_rate_pct")), 5.08, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(x, "discard_rate_pct")), 10.16, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(x, "round_trip_ms")), 42);
    cr_assert_eq(json_integer_value(json_object_get(x, "end_system_delay_ms")), 150);
    cr_assert_eq(json_integer_value(json_object_get(x, "signal_level_dbm")), -20);
    cr_assert_eq(json_integer_value(json_object_get(x, "noise_level_dbm")), -75);
    cr_assert_eq(json_integer_value(json_object_get(x, "jb_nominal_ms")), 60);
    cr_assert_eq(json_integer_value(json_object_get(x, "jb_max_ms")), 100);
    cr_assert_eq(json_integer_value(json_object_get(x, "jb_abs_max_ms")), 300);
    cr_assert_eq(json_integer_value(json_object_get(x, "reports")), 2);
    json_decref(o);

    /* About an SSRC not on the call's flows. */
    n = make_xr(pkt, 0x55, 0xdef);
    cr_assert_eq(rtcp_in(&fx.t, fx.b1, fx.a1, T0 + 7000 * MS, pkt, n), 0);
    cr_assert_eq(counters_get(&fx.c, "rtp.rtcp_blocks_unmatched"), 1);
    cr_assert_eq(counters_get(&fx.c, "rtp.rtcp_xr_voip"), 3);
    rtp_flow_table_destroy(&fx.t);
}

Test(rtcp, srtcp_is_told_from_malformed_rtcp)
{
    uint8_t p[8 + 44 + 4 + 10];
    memset(p, 0x5c, sizeof(p));
    static const uint8_t head[8] = {0x81, 200, 0, 12, 0xb7, 0x2a, 0x71, 0x04};
    memcpy(p, head, sizeof(head));
    static const uint8_t e_index1[4] = {0x80, 0, 0, 1};
    memcpy(p + 52, e_index1, 4);
    struct rtcp_packet_info info;
    size_t len32 = 52 + 4 + 4;
    cr_assert_eq(rtcp_parse(p, len32, &info), -1, "its lengths do not fit in clear");
    cr_assert(srtcp_looks_like(p, len32), "32-bit tag");
    /* The usual 80-bit tag: E and index 14 bytes from the end. */
    memset(p + 52, 0x5c, 4);
    memcpy(p + sizeof(p) - 14, e_index1, 4);
    cr_assert(srtcp_looks_like(p, sizeof(p)), "80-bit tag");
    p[sizeof(p) - 14] = 0x00;
    cr_assert_not(srtcp_looks_like(p, sizeof(p)), "E flag clear");
    p[sizeof(p) - 14] = 0xff;
    cr_assert_not(srtcp_looks_like(p, sizeof(p)), "an index no session reaches");
    p[sizeof(p) - 14] = 0x80;
    p[1] = 202;
    cr_assert_not(srtcp_looks_like(p, sizeof(p)), "SRTCP starts with an SR or RR");
    p[1] = 200;
    p[0] = 0x41;
    cr_assert_not(srtcp_looks_like(p, sizeof(p)), "version 1");
    cr_assert_not(srtcp_looks_like(p, 15), "too short for header and trailer");
}

/* --- MOS --------------------------------------------------------------- */

Test(mos, falls_with_loss_burstiness_and_jitter)
{
    double perfect = rtp_mos_from_r(rtp_r_factor("PCMU", 0, 1, 0));
    cr_assert_gt(perfect, 4.3);
    cr_assert_leq(perfect, 4.5);
    double prev = rtp_r_factor("PCMU", 0, 1, 0);
    for (double loss = 0.5; loss <= 30; loss += 0.5) {
        double r = rtp_r_factor("PCMU", loss, 1, 0);
        cr_assert_lt(r, prev, "loss %.1f", loss);
        prev = r;
    }
    prev = rtp_r_factor("PCMU", 3, 1, 0);
    for (double burst = 1.25; burst <= 5; burst += 0.25) {
        double r = rtp_r_factor("PCMU", 3, burst, 0);
        cr_assert_lt(r, prev, "burst %.2f", burst);
        prev = r;
    }
    /* Below ~5 ms the modelled discard (exp(-60/J)) is under double precision. */
    prev = rtp_r_factor("PCMU", 1, 1, 0);
    for (double j = 1; j <= 300; j += 1) {
        double r = rtp_r_factor("PCMU", 1, 1, j);
        if (j >= 5)
            cr_assert_lt(r, prev, "jitter %.0f", j);
        else
            cr_assert_leq(r, prev, "jitter %.0f", j);
        prev = r;
    }
    double mprev = 5;
    for (double r = 100; r >= -10; r -= 0.5) {
        double m = rtp_mos_from_r(r);
        cr_assert_leq(m, mprev);
        cr_assert_geq(m, 1.0);
        mprev = m;
    }
    cr_assert_lt(rtp_r_factor("G729", 0, 1, 0), rtp_r_factor("PCMA", 0, 1, 0));
    /* Typical anchors: 5 % random loss on G.711 is fair-to-good, 20 % is poor. */
    double m5 = rtp_mos_from_r(rtp_r_factor("PCMU", 5, 1, 0));
    double m20 = rtp_mos_from_r(rtp_r_factor("PCMU", 20, 1, 0));
    cr_assert(m5 > 3.5 && m5 < 4.2, "%f", m5);
    cr_assert(m20 > 1.5 && m20 < 3.0, "%f", m20);
}

/* --- JSON -------------------------------------------------------------- */

Test(rtp_json, streams_entry)
{
    struct rtp_stream s;
    late_packet_stream(&s, -1, -1);
    struct endpoint a = ep("10.0.0.1", 4000), b = ep("10.0.0.2", 5000);
    json_t *o = stream_entry(&s, &a, &b, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(o, "src")), "10.0.0.1:4000");
    cr_assert_str_eq(json_string_value(json_object_get(o, "dst")), "10.0.0.2:5000");
    cr_assert_str_eq(json_string_value(json_object_get(o, "ssrc")), "0x58F33DEA");
    cr_assert_eq(json_integer_value(json_object_get(o, "payload_type")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "codec")), "PCMU");
    cr_assert_eq(json_integer_value(json_object_get(o, "packets")), 10);
    cr_assert_eq(json_integer_value(json_object_get(o, "lost")), 0);
    cr_assert_float_eq(json_real_value(json_object_get(o, "jitter_max_ms")), 0.969, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(o, "max_delta_ms")), 28, 1e-9);
    double mos = json_real_value(json_object_get(o, "mos"));
    cr_assert(mos > 4 && mos <= 4.5);
    cr_assert_not_null(json_object_get(o, "r_factor"));
    cr_assert_not_null(json_object_get(o, "jitter_mean_ms"));
    cr_assert_not_null(json_object_get(o, "loss_pct"));
    cr_assert_null(json_object_get(o, "rtcp"));
    cr_assert_null(json_object_get(o, "rtcp_xr"));
    json_decref(o);
}

/* The entry's text is what jansson's compact dump of it writes (parsing it
 * and dumping it again gives the same bytes); returns it parsed. */
static json_t *canonical_xr_entry(const struct rtp_stream *s, const struct endpoint *a,
                                  const struct endpoint *b, const struct rtcp_xr_view *xr,
                                  size_t *len_out)
{
    char buf[RTP_STREAM_JSON_MAX];
    size_t n = rtp_stream_write_json(s, a, b, xr, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    cr_assert_eq(strlen(buf), n);
    json_t *o = json_loadb(buf, n, 0, NULL);
    cr_assert_not_null(o, "not JSON: %s", buf);
    char *again = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
                                    JSON_REAL_PRECISION(10));
    cr_assert_str_eq(again, buf);
    free(again);
    if (len_out)
        *len_out = n;
    return o;
}

static json_t *canonical_entry(const struct rtp_stream *s, const struct endpoint *a,
                               const struct endpoint *b, size_t *len_out)
{
    return canonical_xr_entry(s, a, b, NULL, len_out);
}

Test(rtp_json, streams_entry_text_is_jansson_canonical)
{
    struct rtp_stream s;
    late_packet_stream(&s, 3, -1);
    s.rtcp = (struct rtcp_view){.fraction_lost = 26,
                                .reporter_ssrc = 0xABCDEF01,
                                .cumulative_lost = -3,
                                .reports = 7,
                                .has_rtt = true,
                                .rtt_us = 12345,
                                .jitter_ms = 1.23456};
    struct endpoint a = ep("2001:db8::1", 4000), b = ep("10.0.0.2", 5000);
    json_t *o = canonical_entry(&s, &a, &b, NULL);
    event_schema_check_stream(o);
    cr_assert_str_eq(json_string_value(json_object_get(o, "src")), "[2001:db8::1]:4000");
    json_t *rtcp = json_object_get(o, "rtcp");
    cr_assert_str_eq(json_string_value(json_object_get(rtcp, "reporter_ssrc")), "0xABCDEF01");
    cr_assert_float_eq(json_real_value(json_object_get(rtcp, "fraction_lost_pct")), 10.16, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(rtcp, "jitter_ms")), 1.235, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(rtcp, "cumulative_lost")), -3);
    cr_assert_float_eq(json_real_value(json_object_get(rtcp, "rtt_ms")), 12.345, 1e-9);
    json_decref(o);

    /* A codec name cut inside a UTF-8 sequence, as SDP may give it, shows
     * as unknown: the entry stays valid JSON. */
    memcpy(s.codec, "opus\xc3", 6);
    o = canonical_entry(&s, &a, &b, NULL);
    event_schema_check_stream(o);
    cr_assert(json_is_null(json_object_get(o, "codec")));
    json_decref(o);
    rtp_stream_release(&s);
}

/* The largest entry any stream can have fits RTP_STREAM_JSON_MAX, which
 * the call_end writer relies on. */
Test(rtp_json, largest_entry_fits_its_bound)
{
    struct rtp_stream s;
    rtp_stream_init(&s, 0xFFFFFFFF);
    s.payload_type = 127;
    memset(s.codec, 0x01, sizeof(s.codec) - 1); /* each byte escaped as \u0001 */
    s.codec[sizeof(s.codec) - 1] = '\0';
    s.pt_seen[0] = s.pt_seen[1] = UINT64_MAX;
    s.packets = UINT64_MAX / 2;
    s.first_seq = 0;
    s.max_ext_seq = 65536;
    s.cycles = UINT32_MAX;
    s.jitter_max_ms = -9.87654321987e15;
    s.jitter_mean_ms = 1234567.891;
    s.max_delta_ms = -1.234567891e15;
    s.duplicates = s.out_of_order = s.dtmf_events = UINT32_MAX;
    s.rtcp = (struct rtcp_view){.fraction_lost = 255,
                                .reporter_ssrc = 0xFFFFFFFF,
                                .cumulative_lost = INT32_MIN,
                                .reports = UINT16_MAX,
                                .has_rtt = true,
                                .rtt_us = UINT32_MAX,
                                .jitter_ms = -8.76543219876e15};
    /* Every XR figure at its widest: three-digit percentages and levels,
     * five-digit durations, none unavailable (null is shorter). */
    struct rtcp_xr_view xr = {.last = {.reporter_ssrc = 0xFFFFFFFF,
                                       .loss_rate = 255,
                                       .discard_rate = 255,
                                       .burst_density = 255,
                                       .gap_density = 255,
                                       .burst_duration_ms = UINT16_MAX,
                                       .gap_duration_ms = UINT16_MAX,
                                       .round_trip_ms = UINT16_MAX,
                                       .end_system_delay_ms = UINT16_MAX,
                                       .signal_level_dbm = -128,
                                       .noise_level_dbm = -128,
                                       .r_factor = 255,
                                       .ext_r_factor = 255,
                                       .mos_lq = 255,
                                       .mos_cq = 255,
                                       .jb_nominal_ms = UINT16_MAX,
                                       .jb_max_ms = UINT16_MAX,
                                       .jb_abs_max_ms = UINT16_MAX},
                              .reports = UINT32_MAX};
    struct endpoint a = ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
    struct endpoint b = ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65534);
    size_t n = 0;
    json_t *o = canonical_xr_entry(&s, &a, &b, &xr, &n);
    cr_assert_not_null(json_object_get(o, "rtcp_xr"));
    cr_assert_eq(json_array_size(json_object_get(o, "payload_types")), 128);
    cr_assert_lt(n, RTP_STREAM_JSON_MAX * 4 / 5, "%zu bytes: the bound needs its margin back", n);
    json_decref(o);

    /* Too small a buffer is refused, never overrun. */
    char small[64];
    cr_assert_eq(rtp_stream_write_json(&s, &a, &b, &xr, small, sizeof(small)), 0);
}

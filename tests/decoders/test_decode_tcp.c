/* Tests of TCP stream reassembly: in-order and out-of-order delivery,
 * retransmissions and overlaps, the unconsumed tail, window abuse and the
 * pending cap, FIN/RST/idle close, the stream cap with LRU eviction. */
#include "frame_build.h"

#define DLT_ETH 1
#define A       true
#define B       false

static uint8_t f[70000];

static void seg(struct harness *h, uint64_t ts, bool from_a, uint32_t seq, uint8_t flags,
                const char *payload)
{
    size_t n = build_tcp4(f, from_a, seq, flags, payload);
    harness_feed(h, ts, f, n);
}

Test(decode_tcp, syn_less_stream_is_picked_up_in_both_directions)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    seg(&h, 1, A, 1000, TCP_ACK | TCP_PSH, "hello ");
    seg(&h, 2, B, 5000, TCP_ACK | TCP_PSH, "reply");
    seg(&h, 3, A, 1006, TCP_ACK | TCP_PSH, "world");
    cr_assert_str_eq(h.tcp_seen[0], "hello world");
    cr_assert_str_eq(h.tcp_seen[1], "reply");
    cr_assert_eq(h.dir0_src.port, 5060, "first sender seen is direction 0");
    cr_assert_eq(counter(&h, "tcp_streams"), 1);
    cr_assert_eq(decoder_tcp_stream_count(h.d), 1);
    cr_assert_eq(counter(&h, "tcp"), 3);
    harness_stop(&h);
}

Test(decode_tcp, syn_ack_first_makes_the_initiator_direction_0)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    seg(&h, 1, B, 7000, TCP_SYN | TCP_ACK, NULL);
    seg(&h, 2, A, 100, TCP_ACK | TCP_PSH, "REGISTER");
    seg(&h, 3, B, 7001, TCP_ACK | TCP_PSH, "200");
    cr_assert_str_eq(h.tcp_seen[0], "REGISTER");
    cr_assert_str_eq(h.tcp_seen[1], "200", "data after the SYN starts at seq + 1");
    cr_assert_eq(h.dir0_src.port, 5060);
    harness_stop(&h);
}

Test(decode_tcp, out_of_order_segments_are_delivered_in_order)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    seg(&h, 1, A, 1, TCP_SYN, NULL);
    seg(&h, 2, A, 2 + 8, TCP_ACK, "CCCC");
    seg(&h, 3, A, 2 + 4, TCP_ACK, "BBBB");
    cr_assert_eq(h.tcp_calls, 0, "nothing before the gap is filled");
    seg(&h, 4, A, 2, TCP_ACK, "AAAA");
    cr_assert_str_eq(h.tcp_seen[0], "AAAABBBBCCCC");
    cr_assert_eq(counter(&h, "tcp_out_of_order"), 2);
    harness_stop(&h);
}

Test(decode_tcp, retransmissions_and_overlaps_are_not_delivered_twice)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    seg(&h, 1, A, 100, TCP_ACK, "abcd");
    seg(&h, 2, A, 100, TCP_ACK, "abcd");
    cr_assert_eq(counter(&h, "tcp_retransmission"), 1);
    seg(&h, 3, A, 102, TCP_ACK, "cdef"); /* half old, half new */
    cr_assert_eq(counter(&h, "tcp_overlap"), 1);
    cr_assert_str_eq(h.tcp_seen[0], "abcdef");
    /* A queued out-of-order segment retransmitted. */
    seg(&h, 4, A, 110, TCP_ACK, "xy");
    seg(&h, 5, A, 110, TCP_ACK, "xy");
    cr_assert_eq(counter(&h, "tcp_retransmission"), 2);
    seg(&h, 6, A, 106, TCP_ACK, "ghij");
    cr_assert_str_eq(h.tcp_seen[0], "abcdefghijxy");
    harness_stop(&h);
}

Test(decode_tcp, unconsumed_tail_is_presented_again_with_new_bytes)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    h.consume_mode = 1; /* consumes only whole "\n\n"-terminated messages */
    seg(&h, 1, A, 1, TCP_ACK, "INVITE sip:x\nVia: a");
    cr_assert_eq(h.tcp_calls, 1);
    cr_assert_eq(h.tcp_seen_len[0], 0);
    seg(&h, 2, A, 20, TCP_ACK, "\n\nBYE sip:");
    cr_assert_eq(h.tcp_calls, 2);
    cr_assert_str_eq(h.tcp_last_call, "INVITE sip:x\nVia: a\n\nBYE sip:",
                     "the kept tail comes first, then the new bytes");
    cr_assert_str_eq(h.tcp_seen[0], "INVITE sip:x\nVia: a\n\n");
    seg(&h, 3, A, 30, TCP_ACK, "y\n\n");
    cr_assert_str_eq(h.tcp_last_call, "BYE sip:y\n\n");
    cr_assert_str_eq(h.tcp_seen[0], "INVITE sip:x\nVia: a\n\nBYE sip:y\n\n");
    harness_stop(&h);
}

Test(decode_tcp, unconsumed_tail_past_the_cap_is_dropped_and_counted)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.tcp_max_pending = 16;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    h.consume_mode = 1;
    seg(&h, 1, A, 1, TCP_ACK, "0123456789");
    seg(&h, 2, A, 11, TCP_ACK, "0123456789"); /* 20 bytes > 16 */
    cr_assert_eq(counter(&h, "tcp_pending_overflow"), 1);
    seg(&h, 3, A, 21, TCP_ACK, "ok\n\n");
    cr_assert_str_eq(h.tcp_last_call, "0123456789ok\n\n",
                     "the old tail was dropped, the new bytes presented");
    harness_stop(&h);
}

Test(decode_tcp, segments_far_beyond_the_window_are_dropped)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.tcp_max_pending = 4096;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    seg(&h, 1, A, 1000, TCP_ACK, "start");
    seg(&h, 2, A, 1000 + 5 + 100000, TCP_ACK, "far away");
    seg(&h, 3, A, 1000 + 5 + 0x40000000u, TCP_ACK, "very far");
    cr_assert_eq(counter(&h, "tcp_beyond_window"), 2);
    seg(&h, 4, A, 1005, TCP_ACK, "next");
    cr_assert_str_eq(h.tcp_seen[0], "startnext");
    harness_stop(&h);
}

Test(decode_tcp, pending_cap_skips_a_gap_that_never_fills)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.tcp_max_pending = 4096;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    seg(&h, 1, A, 1, TCP_ACK, "first");
    /* The segment at 6 was lost by the capture; 1000-byte segments follow. */
    char chunk[1001];
    uint32_t seq = 6 + 1000;
    for (int i = 0; i < 6; i++, seq += 1000) {
        memset(chunk, 'a' + i, 1000);
        chunk[1000] = 0;
        seg(&h, (uint64_t)i + 2, A, seq, TCP_ACK, chunk);
    }
    cr_assert_geq(counter(&h, "tcp_pending_overflow"), 1);
    cr_assert_geq(counter(&h, "tcp_gap_skipped"), 1);
    /* Delivery resumed after the gap with the first buffered segment. */
    cr_assert_eq(h.tcp_seen_len[0], 5 + 6 * 1000);
    cr_assert_eq(h.tcp_seen[0][5], 'a');
    cr_assert_eq(h.tcp_seen[0][5 + 5 * 1000], 'f');
    harness_stop(&h);
}

Test(decode_tcp, fin_from_both_sides_closes_once)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    seg(&h, 1, A, 10, TCP_ACK, "bye");
    seg(&h, 2, A, 13, TCP_ACK | TCP_FIN, NULL);
    cr_assert_eq(h.closes, 0);
    seg(&h, 3, B, 50, TCP_ACK | TCP_FIN, "ok");
    cr_assert_eq(h.closes, 1);
    cr_assert_str_eq(h.tcp_seen[1], "ok", "data on the FIN is delivered first");
    cr_assert_eq(counter(&h, "tcp_closed_fin"), 1);
    cr_assert_eq(decoder_tcp_stream_count(h.d), 0);
    /* A FIN that arrives before the data it follows waits for it. */
    seg(&h, 4, A, 100, TCP_ACK, "x");
    seg(&h, 5, A, 102, TCP_ACK | TCP_FIN, NULL);
    seg(&h, 6, B, 500, TCP_ACK | TCP_FIN, NULL);
    cr_assert_eq(h.closes, 1);
    seg(&h, 7, A, 101, TCP_ACK, "y");
    cr_assert_eq(h.closes, 2);
    harness_stop(&h);
}

Test(decode_tcp, rst_closes_immediately)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    seg(&h, 1, A, 10, TCP_ACK, "data");
    seg(&h, 2, B, 77, TCP_RST, NULL);
    cr_assert_eq(h.closes, 1);
    cr_assert_eq(counter(&h, "tcp_closed_rst"), 1);
    cr_assert_eq(decoder_tcp_stream_count(h.d), 0);
    seg(&h, 3, B, 77, TCP_RST, NULL); /* for an unknown stream: nothing */
    cr_assert_eq(h.closes, 1);
    cr_assert_eq(decoder_tcp_stream_count(h.d), 0);
    harness_stop(&h);
}

Test(decode_tcp, idle_streams_close_on_capture_time)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.tcp_idle_timeout_ms = 1000;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    seg(&h, 1000000, A, 10, TCP_ACK, "data");
    decoder_expire(h.d, 1900000);
    cr_assert_eq(h.closes, 0);
    decoder_expire(h.d, 2000000);
    cr_assert_eq(h.closes, 1);
    cr_assert_eq(counter(&h, "tcp_idle_timeout"), 1);
    harness_stop(&h);
}

Test(decode_tcp, stream_cap_evicts_the_least_recently_used)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.tcp_max_streams = 2;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        size_t n = build_tcp4(f, A, 1, TCP_ACK, "s");
        put16(f + 14 + 20, (uint16_t)(6000 + i)); /* distinct source ports */
        harness_feed(&h, (uint64_t)i + 1, f, n);
        ids[i] = (uint64_t)i + 1;
        if (i == 1) {
            /* Touch the first stream so the second becomes least recent. */
            n = build_tcp4(f, A, 2, TCP_ACK, "t");
            put16(f + 14 + 20, 6000);
            harness_feed(&h, 3, f, n);
        }
    }
    cr_assert_eq(counter(&h, "tcp_evicted"), 1);
    cr_assert_eq(h.closes, 1);
    cr_assert_eq(h.last_closed, ids[1]);
    cr_assert_eq(decoder_tcp_stream_count(h.d), 2);
    harness_stop(&h);
}

Test(decode_tcp, bad_data_offset_and_truncated_header)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = build_tcp4(f, A, 1, TCP_ACK, "abc");
    f[14 + 20 + 12] = 0x40; /* 16-byte header */
    harness_feed(&h, 1, f, n);
    f[14 + 20 + 12] = 0xf0; /* 60-byte header in 23 bytes */
    harness_feed(&h, 2, f, n);
    cr_assert_eq(counter(&h, "tcp_bad_offset"), 2);
    n = build_tcp4(f, A, 1, TCP_ACK, NULL);
    put16(f + 14 + 2, 20 + 10);
    harness_feed(&h, 3, f, 14 + 30);
    cr_assert_eq(counter(&h, "tcp_truncated"), 1);
    cr_assert_eq(h.tcp_calls, 0);
    harness_stop(&h);
}

Test(decode_tcp, tcp_over_reassembled_ipv4_fragments)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    /* One 20+16 byte TCP segment split in two IPv4 fragments. */
    uint8_t seg_bytes[36];
    put_tcp(seg_bytes, 5060, 5080, 1, TCP_ACK);
    memcpy(seg_bytes + 20, "fragmented tcp!!", 16);
    size_t n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 6, 77, 0x2000, 24);
    memcpy(f + n, seg_bytes, 24);
    harness_feed(&h, 1, f, n + 24);
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 6, 77, 3, 12);
    memcpy(f + n, seg_bytes + 24, 12);
    harness_feed(&h, 2, f, n + 12);
    cr_assert_str_eq(h.tcp_seen[0], "fragmented tcp!!");
    harness_stop(&h);
}

/* Regression (found by fuzz_pipeline): a segment exactly 2^31 bytes behind
 * the expected sequence number negated INT32_MIN. It is old data: counted as
 * a retransmission, nothing delivered, no undefined behaviour. */
Test(decode_tcp, segment_half_the_sequence_space_behind)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    seg(&h, 1, A, 0x80000000u, TCP_ACK | TCP_PSH, "abcd");
    seg(&h, 2, A, 0x00000004u, TCP_ACK | TCP_PSH, "wxyz");
    cr_assert_str_eq(h.tcp_seen[0], "abcd");
    cr_assert_eq(counter(&h, "tcp_retransmission"), 1);
    harness_stop(&h);
}

/* ---- the global buffer cap (tcp_max_buffered) ---- */

static char kilo[4][1001];

static void seg_port(struct harness *h, uint64_t ts, uint16_t port, uint32_t seq, uint8_t flags,
                     const char *payload)
{
    size_t n = build_tcp4(f, A, seq, flags, payload);
    put16(f + 14 + 20, port);
    harness_feed(h, ts, f, n);
}

static void kilo_init(void)
{
    for (int i = 0; i < 4; i++) {
        memset(kilo[i], 'a' + i, 1000);
        kilo[i][1000] = '\0';
    }
}

/* Stream on port p: a SYN, then 1000 bytes queued behind a 1000-byte gap. */
static void open_with_gap(struct harness *h, uint64_t ts, uint16_t port, int fill)
{
    seg_port(h, ts, port, 1, TCP_SYN, NULL);
    seg_port(h, ts, port, 1002, TCP_ACK, kilo[fill]);
}

Test(decode_tcp, global_cap_takes_the_longest_idle_buffer_first)
{
    kilo_init();
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.tcp_max_buffered = 2500; /* two queued kilobytes, not three */
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    open_with_gap(&h, 1, 6000, 0);
    open_with_gap(&h, 2, 6001, 1);
    seg_port(&h, 3, 6000, 2, TCP_ACK, NULL); /* 6000 is alive: 6001 idles longest */
    open_with_gap(&h, 4, 6002, 2);
    cr_assert_eq(counter(&h, "tcp_buffer_evicted"), 1);
    cr_assert_geq(counter(&h, "tcp_buffer_evicted_bytes"), 1000);
    cr_assert_leq(decoder_tcp_buffered_bytes(h.d), cfg.tcp_max_buffered);
    /* 6000 kept its bytes: filling its gap delivers them. */
    seg_port(&h, 5, 6000, 2, TCP_ACK, kilo[3]);
    cr_assert_eq(h.tcp_seen_len[0], 2000);
    cr_assert_eq(h.tcp_seen[0][1000], 'a', "the queued kilobyte of the live stream");
    /* 6001 lost its queue and resumes after it: the late gap is old news,
     * new bytes flow. */
    seg_port(&h, 6, 6001, 2, TCP_ACK, kilo[3]);
    cr_assert_eq(counter(&h, "tcp_retransmission"), 1);
    seg_port(&h, 7, 6001, 2002, TCP_ACK, "next");
    cr_assert_eq(h.tcp_seen_len[0], 2004);
    cr_assert_eq(counter(&h, "tcp_buffer_full"), 0);
    harness_stop(&h);
}

Test(decode_tcp, global_cap_never_takes_the_stream_being_fed)
{
    kilo_init();
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.tcp_max_buffered = 1500;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    open_with_gap(&h, 1, 6000, 0);
    seg_port(&h, 2, 6000, 3002, TCP_ACK, kilo[1]); /* would pass the cap */
    cr_assert_eq(counter(&h, "tcp_buffer_full"), 1);
    cr_assert_eq(counter(&h, "tcp_buffer_evicted"), 0);
    seg_port(&h, 3, 6000, 2, TCP_ACK, kilo[2]);
    cr_assert_eq(h.tcp_seen_len[0], 2000, "its own queue stayed");
    cr_assert_eq(decoder_tcp_buffered_bytes(h.d), 0, "delivered: nothing held");
    harness_stop(&h);
}

Test(decode_tcp, a_consumed_tail_is_given_back)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    h.consume_mode = 1;
    seg(&h, 1, A, 1, TCP_ACK, "INVITE sip:x\nVia: a");
    cr_assert_gt(decoder_tcp_buffered_bytes(h.d), 0);
    seg(&h, 2, A, 20, TCP_ACK, "\n\n");
    cr_assert_eq(decoder_tcp_buffered_bytes(h.d), 0);
    harness_stop(&h);
}

Test(decode_tcp, scan_state_stays_with_the_tail_and_goes_with_it)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.tcp_max_pending = 16;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    h.consume_mode = 1;
    seg(&h, 1, A, 1, TCP_ACK, "01234");
    cr_assert_eq(h.scan_state_seen, 0);
    seg(&h, 2, A, 6, TCP_ACK, "567");
    cr_assert_eq(h.scan_state_seen, 5, "what the handler noted about its tail");
    /* Past the pending cap: the tail is dropped, and its note with it. */
    seg(&h, 3, A, 9, TCP_ACK, "0123456789");
    cr_assert_eq(counter(&h, "tcp_pending_overflow"), 1);
    cr_assert_str_eq(h.tcp_last_call, "0123456789");
    cr_assert_eq(h.scan_state_seen, 0);
    harness_stop(&h);
}

/* Tests of IPv4 / IPv6 fragment reassembly: order, duplicates, overlaps
 * (first wins), size limit, timeouts, global and per-source caps. */
#include "frame_build.h"

#define DLT_ETH 1
#define MF      0x2000

static uint8_t f[70000];
static uint8_t datagram[70000]; /* UDP header + payload, split into fragments */

/* A UDP datagram of `len` payload bytes, payload byte i = 'a' + i % 26. */
static size_t make_datagram(size_t len)
{
    put_udp(datagram, 5060, 5060, len);
    for (size_t i = 0; i < len; i++)
        datagram[8 + i] = (uint8_t)('a' + i % 26);
    return 8 + len;
}

static void send_frag4(struct harness *h, uint64_t ts, const uint8_t *src, uint16_t id,
                       size_t offset, size_t len, bool more)
{
    size_t n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, src, ip4_b, 17, id, (uint16_t)((more ? MF : 0) | (offset / 8)), len);
    memcpy(f + n, datagram + offset, len);
    harness_feed(h, ts, f, n + len);
}

static void send_frag6(struct harness *h, uint64_t ts, uint32_t id, size_t offset, size_t len,
                       bool more)
{
    size_t n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 44, 8 + len);
    f[n] = 17;
    f[n + 1] = 0;
    put16(f + n + 2, (uint16_t)(offset | (more ? 1 : 0)));
    put32(f + n + 4, id);
    n += 8;
    memcpy(f + n, datagram + offset, len);
    harness_feed(h, ts, f, n + len);
}

static void assert_whole_payload(struct harness *h, size_t len)
{
    cr_assert_eq(h->last.payload_len, len);
    cr_assert_eq(memcmp(h->last_payload, datagram + 8, len), 0);
    cr_assert(h->last.reassembled);
}

Test(decode_frag, ipv4_in_order_and_reversed)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t total = make_datagram(3000);
    send_frag4(&h, 1, ip4_a, 7, 0, 1480, true);
    cr_assert_eq(h.udp_count, 0);
    send_frag4(&h, 2, ip4_a, 7, 1480, 1480, true);
    send_frag4(&h, 3, ip4_a, 7, 2960, total - 2960, false);
    cr_assert_eq(h.udp_count, 1);
    assert_whole_payload(&h, 3000);
    cr_assert_eq(counter(&h, "frag_reassembled"), 1);
    cr_assert_eq(decoder_frag_count(h.d), 0, "a finished datagram is freed");
    /* Reverse order, same id reused afterwards. */
    send_frag4(&h, 4, ip4_a, 7, 2960, total - 2960, false);
    send_frag4(&h, 5, ip4_a, 7, 1480, 1480, true);
    send_frag4(&h, 6, ip4_a, 7, 0, 1480, true);
    cr_assert_eq(h.udp_count, 2);
    assert_whole_payload(&h, 3000);
    cr_assert_eq(counter(&h, "frag_fragments"), 6);
    harness_stop(&h);
}

Test(decode_frag, duplicates_are_counted_and_ignored)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t total = make_datagram(2000);
    send_frag4(&h, 1, ip4_a, 8, 0, 1000, true);
    send_frag4(&h, 2, ip4_a, 8, 0, 1000, true);
    send_frag4(&h, 3, ip4_a, 8, 1000, total - 1000, false);
    send_frag4(&h, 4, ip4_a, 8, 1000, total - 1000, false); /* a new datagram, never finished */
    cr_assert_eq(h.udp_count, 1);
    assert_whole_payload(&h, 2000);
    cr_assert_eq(counter(&h, "frag_duplicate"), 1);
    harness_stop(&h);
}

Test(decode_frag, overlap_first_bytes_win)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t total = make_datagram(96);
    send_frag4(&h, 1, ip4_a, 9, 0, 48, true);
    /* An overlapping fragment [40, 72) with different content: the bytes
     * [40, 48) already received must not change, [48, 72) are new. */
    uint8_t saved[32];
    memcpy(saved, datagram + 40, 32);
    memset(datagram + 40, 'X', 32);
    send_frag4(&h, 2, ip4_a, 9, 40, 32, true);
    memcpy(datagram + 40, saved, 32);
    memset(datagram + 48, 'X', 24); /* what the datagram now holds there */
    send_frag4(&h, 3, ip4_a, 9, 72, total - 72, false);
    cr_assert_eq(h.udp_count, 1);
    assert_whole_payload(&h, 96);
    cr_assert_eq(counter(&h, "frag_overlap"), 1);
    harness_stop(&h);
}

Test(decode_frag, datagram_past_65535_bytes_is_refused)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    make_datagram(65000);
    send_frag4(&h, 1, ip4_a, 10, 0, 1480, true);
    /* offset 65520 + 100 bytes + 20 header > 65535 ("ping of death") */
    size_t n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 10, (uint16_t)(65520 / 8), 100);
    memset(f + n, 'z', 100);
    harness_feed(&h, 2, f, n + 100);
    cr_assert_eq(counter(&h, "frag_too_big"), 1);
    cr_assert_eq(h.udp_count, 0);
    /* Non-final fragment whose length is not a multiple of 8. */
    send_frag4(&h, 3, ip4_a, 11, 0, 100, true);
    cr_assert_eq(counter(&h, "frag_bad_length"), 1);
    /* Data beyond an already known end. */
    send_frag4(&h, 4, ip4_a, 12, 800, 200, false);
    send_frag4(&h, 5, ip4_a, 12, 960, 80, true);
    cr_assert_eq(counter(&h, "frag_bad_length"), 2);
    harness_stop(&h);
}

Test(decode_frag, largest_datagram_reassembles)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t payload = 65535 - 20 - 8;
    size_t total = make_datagram(payload);
    size_t offset = 0;
    uint64_t ts = 1;
    while (offset < total) {
        size_t len = total - offset > 1480 ? 1480 : total - offset;
        send_frag4(&h, ts++, ip4_a, 13, offset, len, offset + len < total);
        offset += len;
    }
    cr_assert_eq(h.udp_count, 1);
    assert_whole_payload(&h, payload);
    harness_stop(&h);
}

Test(decode_frag, incomplete_datagrams_time_out_on_capture_time)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.frag_timeout_ms = 1000;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    size_t total = make_datagram(2000);
    send_frag4(&h, 1000000, ip4_a, 20, 0, 1000, true);
    decoder_expire(h.d, 1500000);
    cr_assert_eq(decoder_frag_count(h.d), 1);
    decoder_expire(h.d, 2000000);
    cr_assert_eq(counter(&h, "frag_timeout"), 1);
    cr_assert_eq(decoder_frag_count(h.d), 0);
    /* The last fragment alone cannot complete it any more. */
    send_frag4(&h, 2100000, ip4_a, 20, 1000, total - 1000, false);
    cr_assert_eq(h.udp_count, 0);
    /* Lazily: a later unrelated frame expires the waiting one. */
    size_t n = build_udp4(f, 1, 2, "x", 1);
    harness_feed(&h, 3200000, f, n);
    cr_assert_eq(counter(&h, "frag_timeout"), 2);
    cr_assert_eq(decoder_frag_count(h.d), 0);
    /* A gap that is never filled: times out too. */
    send_frag4(&h, 4000000, ip4_a, 21, 0, 1000, true);
    send_frag4(&h, 4000001, ip4_a, 21, 1480, total - 1480, false);
    decoder_expire(h.d, 6000000);
    cr_assert_eq(counter(&h, "frag_timeout"), 3);
    cr_assert_eq(h.udp_count, 1);
    harness_stop(&h);
}

Test(decode_frag, global_cap_evicts_the_oldest)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.frag_max_datagrams = 2;
    cfg.frag_max_per_source = 2;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    size_t total = make_datagram(2000);
    uint8_t src2[4] = {10, 0, 0, 9};
    send_frag4(&h, 1, ip4_a, 1, 0, 1000, true);
    send_frag4(&h, 2, ip4_a, 2, 0, 1000, true);
    send_frag4(&h, 3, src2, 3, 0, 1000, true); /* evicts id 1 */
    cr_assert_eq(counter(&h, "frag_evicted"), 1);
    cr_assert_eq(decoder_frag_count(h.d), 2);
    send_frag4(&h, 4, ip4_a, 1, 1000, total - 1000, false); /* id 1 is gone: evicts id 2 */
    cr_assert_eq(h.udp_count, 0);
    send_frag4(&h, 5, src2, 3, 1000, total - 1000, false);
    cr_assert_eq(h.udp_count, 1);
    assert_whole_payload(&h, 2000);
    harness_stop(&h);
}

Test(decode_frag, per_source_cap_refuses_new_datagrams)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.frag_max_datagrams = 100;
    cfg.frag_max_per_source = 2;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    size_t total = make_datagram(2000);
    uint8_t src2[4] = {10, 0, 0, 9};
    for (uint16_t id = 1; id <= 5; id++)
        send_frag4(&h, id, ip4_a, id, 0, 1000, true);
    cr_assert_eq(counter(&h, "frag_per_source_cap"), 3);
    cr_assert_eq(decoder_frag_count(h.d), 2);
    /* Another source is not affected. */
    send_frag4(&h, 10, src2, 1, 0, 1000, true);
    send_frag4(&h, 11, src2, 1, 1000, total - 1000, false);
    cr_assert_eq(h.udp_count, 1);
    /* Finishing one of the first source's frees a place for it. */
    send_frag4(&h, 12, ip4_a, 1, 1000, total - 1000, false);
    cr_assert_eq(h.udp_count, 2);
    send_frag4(&h, 13, ip4_a, 6, 0, 1000, true);
    cr_assert_eq(counter(&h, "frag_per_source_cap"), 3);
    cr_assert_eq(counter(&h, "frag_evicted"), 0);
    harness_stop(&h);
}

Test(decode_frag, too_many_pieces_drop_the_datagram)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    make_datagram(8 * 300);
    /* Every other 8-byte piece: 150 disjoint ranges. */
    for (size_t i = 0; i < 150; i++)
        send_frag4(&h, i + 1, ip4_a, 30, i * 16, 8, true);
    /* The 65th piece drops the datagram; the next 64 start a new one, whose
     * 65th piece drops it again; 21 pieces are left waiting. */
    cr_assert_eq(counter(&h, "frag_too_many_pieces"), 2);
    cr_assert_eq(decoder_frag_count(h.d), 1);
    cr_assert_eq(h.udp_count, 0);
    harness_stop(&h);
}

Test(decode_frag, ipv6_fragments_reassemble)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t total = make_datagram(1600);
    send_frag6(&h, 1, 0xdeadbeef, 1232, total - 1232, false);
    send_frag6(&h, 2, 0xdeadbeef, 0, 1232, true);
    cr_assert_eq(h.udp_count, 1);
    assert_whole_payload(&h, 1600);
    cr_assert_eq(h.last.src.family, 6);
    cr_assert_eq(h.last.ip_proto, 17);
    /* An atomic fragment (offset 0, no more) is a whole datagram. */
    make_datagram(10);
    send_frag6(&h, 3, 5, 0, 18, false);
    cr_assert_eq(h.udp_count, 2);
    cr_assert_eq(counter(&h, "frag_reassembled"), 1);
    harness_stop(&h);
}

Test(decode_frag, a_fragment_cut_by_the_capture_is_not_reassembled)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t len = make_datagram(1000);
    /* First fragment with its last 100 bytes cut by a snap length. */
    size_t n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 7, MF, 512);
    memcpy(f + n, datagram, 512);
    harness_feed_snapped(&h, 1, f, n + 412, n + 512);
    send_frag4(&h, 2, ip4_a, 7, 512, len - 512, false);
    cr_assert_eq(h.udp_count, 0, "a datagram with a hole was handed over");
    cr_assert_eq(counter(&h, "frag_truncated"), 1);
    /* The whole first fragment then completes it. */
    send_frag4(&h, 3, ip4_a, 7, 0, 512, true);
    cr_assert_eq(h.udp_count, 1);
    assert_whole_payload(&h, 1000);
    /* IPv6: the same refusal. */
    n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 44, 8 + 512);
    f[n] = 17;
    f[n + 1] = 0;
    put16(f + n + 2, 1);
    put32(f + n + 4, 9);
    n += 8;
    memcpy(f + n, datagram, 512);
    harness_feed_snapped(&h, 4, f, n + 100, n + 512);
    send_frag6(&h, 5, 9, 512, len - 512, false);
    cr_assert_eq(h.udp_count, 1);
    cr_assert_eq(counter(&h, "frag_truncated"), 2);
    harness_stop(&h);
}

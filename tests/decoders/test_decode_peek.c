/* Tests of decoder_peek_udp: the endpoints it reads ahead of decoding must be
 * the ones the full decoder delivers, it must say false for whatever it does
 * not follow, and it must never read past the frame. */
#include "frame_build.h"

static uint8_t f[2048];

/* Peeks a heap copy of exactly len bytes (ASan sees reads past the end). */
static bool peek(struct harness *h, const uint8_t *frame, size_t len, struct endpoint *src,
                 struct endpoint *dst)
{
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, frame, len);
    bool ok = decoder_peek_udp(h->d, copy, (uint32_t)len, src, dst);
    free(copy);
    return ok;
}

/* Peek says yes, and says what decoder_process then delivers. */
static void assert_peek_agrees(struct harness *h, const uint8_t *frame, size_t len)
{
    struct endpoint src, dst;
    cr_assert(peek(h, frame, len, &src, &dst));
    int before = h->udp_count;
    harness_feed(h, 1, frame, len);
    cr_assert_eq(h->udp_count, before + 1);
    cr_assert(net_addr_equal(&src.addr, &h->last.src));
    cr_assert(net_addr_equal(&dst.addr, &h->last.dst));
    cr_assert_eq(src.port, h->last.sport);
    cr_assert_eq(dst.port, h->last.dport);
}

Test(decode_peek, plain_and_tagged_udp_agree_with_the_decoder)
{
    struct harness h;
    harness_start(&h, NULL, 1);
    size_t n = build_udp4(f, 40000, 40002, "rtp", 3);
    assert_peek_agrees(&h, f, n);

    n = put_eth(f, 0x88a8);
    n += put_vlan(f + n, 100, 0x8100);
    n += put_vlan(f + n, 200, 0x0800);
    n += put_ipv4(f + n, ip4_b, ip4_a, 17, 7, 0, 8 + 2);
    n += put_udp(f + n, 16384, 16386, 2);
    memcpy(f + n, "ab", 2);
    assert_peek_agrees(&h, f, n + 2);

    n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 17, 8 + 4);
    n += put_udp(f + n, 5004, 5006, 4);
    memcpy(f + n, "abcd", 4);
    assert_peek_agrees(&h, f, n + 4);
    harness_stop(&h);
}

Test(decode_peek, cooked_and_raw_links)
{
    struct harness h;
    harness_start(&h, NULL, 113); /* Linux SLL: ethertype at 14 */
    size_t n = 16;
    memset(f, 0, n);
    put16(f + 14, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8 + 1);
    n += put_udp(f + n, 1000, 2000, 1);
    f[n++] = 'x';
    assert_peek_agrees(&h, f, n);
    harness_stop(&h);

    harness_start(&h, NULL, 101); /* raw IP */
    n = put_ipv6(f, ip6_b, ip6_a, 17, 8 + 1);
    n += put_udp(f + n, 3000, 4000, 1);
    f[n++] = 'y';
    assert_peek_agrees(&h, f, n);
    harness_stop(&h);
}

Test(decode_peek, what_it_does_not_follow_is_false)
{
    struct harness h;
    harness_start(&h, NULL, 1);
    struct endpoint src, dst;
    size_t n;

    /* A third VLAN tag. */
    n = put_eth(f, 0x8100);
    n += put_vlan(f + n, 1, 0x8100);
    n += put_vlan(f + n, 2, 0x8100);
    n += put_vlan(f + n, 3, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8);
    n += put_udp(f + n, 1, 2, 0);
    cr_assert_not(peek(&h, f, n, &src, &dst));

    /* IPv4 fragments: first (more-fragments) and a later one (offset). */
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 9, 0x2000, 8 + 8);
    n += put_udp(f + n, 1, 2, 8);
    cr_assert_not(peek(&h, f, n + 8, &src, &dst));
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 9, 1, 8);
    cr_assert_not(peek(&h, f, n + 8, &src, &dst));

    /* TCP, an IPv6 extension header, ARP, a truncated UDP header. */
    n = build_tcp4(f, true, 1, TCP_ACK, "x");
    cr_assert_not(peek(&h, f, n, &src, &dst));
    n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 0, 8 + 8);
    memset(f + n, 0, 8);
    f[n] = 17;
    n += 8;
    n += put_udp(f + n, 1, 2, 0);
    cr_assert_not(peek(&h, f, n, &src, &dst));
    n = put_eth(f, 0x0806);
    memset(f + n, 0, 28);
    cr_assert_not(peek(&h, f, n + 28, &src, &dst));
    n = build_udp4(f, 1, 2, "", 0);
    cr_assert_not(peek(&h, f, n - 1, &src, &dst));
    harness_stop(&h);

    /* Link types it leaves to the decoder. */
    harness_start(&h, NULL, 0); /* BSD loopback */
    n = build_udp4(f, 1, 2, "z", 1);
    cr_assert_not(peek(&h, f, n, &src, &dst));
    harness_stop(&h);
}

Test(decode_peek, every_truncation_and_mutation_is_safe_and_never_contradicts_the_decoder)
{
    /* Whenever peek answers and the decoder delivers a datagram from the same
     * frame, they name the same endpoints; peek never reads past the end. */
    size_t n = put_eth(f, 0x8100);
    n += put_vlan(f + n, 5, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8 + 5);
    n += put_udp(f + n, 7000, 7002, 5);
    memcpy(f + n, "hello", 5);
    n += 5;
    uint8_t base[128];
    memcpy(base, f, n);
    int dlts[] = {1, 113, 101};
    unsigned seed = 777;
    int agreed = 0;
    for (size_t k = 0; k < sizeof(dlts) / sizeof(dlts[0]); k++) {
        struct harness h;
        harness_start(&h, NULL, dlts[k]);
        for (int iter = 0; iter < 6000; iter++) {
            memcpy(f, base, n);
            size_t len = n;
            if (iter < (int)n) {
                len = (size_t)iter; /* every truncation */
            } else {
                int flips = 1 + (int)(rand_r(&seed) % 3);
                for (int i = 0; i < flips; i++)
                    f[rand_r(&seed) % n] = (uint8_t)rand_r(&seed);
            }
            struct endpoint src, dst;
            bool ok = peek(&h, f, len, &src, &dst);
            int before = h.udp_count;
            harness_feed(&h, (uint64_t)iter, f, len);
            if (ok && h.udp_count == before + 1) {
                cr_assert(net_addr_equal(&src.addr, &h.last.src));
                cr_assert_eq(src.port, h.last.sport);
                cr_assert(net_addr_equal(&dst.addr, &h.last.dst));
                cr_assert_eq(dst.port, h.last.dport);
                agreed++;
            }
        }
        harness_stop(&h);
    }
    cr_assert_gt(agreed, 1000);
}

/* Tests of decoder_peek / decoder_process_peeked, the quick path of common
 * frames: for every frame peek takes, processing the peeked view must count
 * and deliver exactly what decoder_process does with the frame; peek must say
 * false for whatever it does not follow, and never read past the frame. */
#include "frame_build.h"

static uint8_t f[2048];

/* Two decoders of the same link type: one takes the quick path where it
 * can, the other always decodes in full. */
struct twins {
    struct harness quick, full;
};

static void twins_start(struct twins *t, int dlt)
{
    harness_start(&t->quick, NULL, dlt);
    harness_start(&t->full, NULL, dlt);
}

static void twins_stop(struct twins *t)
{
    harness_stop(&t->quick);
    harness_stop(&t->full);
}

/* Every "decode" counter of one twin equals the other's. */
static void assert_same_counters(const struct twins *t)
{
    const struct counters *a = &t->quick.counters, *b = &t->full.counters;
    cr_assert_eq(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        cr_assert_str_eq(a->names[i], b->names[i]);
        cr_assert_eq(a->values[i], b->values[i], "%s: %llu on the quick path, %llu in full",
                     a->names[i], (unsigned long long)a->values[i],
                     (unsigned long long)b->values[i]);
    }
}

/* The frame (a heap copy of exactly len bytes, so ASan sees any read past
 * its end) to both twins. Returns what peek said. */
static bool feed_twins(struct twins *t, uint64_t ts, const uint8_t *frame, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, frame, len);
    struct packet peeked;
    bool ok = decoder_peek(t->quick.d, ts, copy, (uint32_t)len, (uint32_t)len + 4, &peeked);
    if (ok)
        decoder_process_peeked(t->quick.d, &peeked);
    else
        decoder_process(t->quick.d, ts, copy, (uint32_t)len, (uint32_t)len + 4);
    int quick_udp = t->quick.udp_count;
    struct packet quick_last = t->quick.last;
    decoder_process(t->full.d, ts, copy, (uint32_t)len, (uint32_t)len + 4);
    free(copy);
    cr_assert_eq(quick_udp, t->full.udp_count);
    if (ok) {
        /* The same view, field by field (pointers into the same copy). */
        const struct packet *a = &quick_last, *b = &t->full.last;
        cr_assert_eq(a->ts_us, b->ts_us);
        cr_assert_eq(a->frame, b->frame);
        cr_assert_eq(a->caplen, b->caplen);
        cr_assert_eq(a->wirelen, b->wirelen);
        cr_assert_eq(a->vlan_depth, b->vlan_depth);
        cr_assert_eq(a->vlan_ids[0], b->vlan_ids[0]);
        cr_assert_eq(a->vlan_ids[1], b->vlan_ids[1]);
        cr_assert_eq(a->tunnel_depth, b->tunnel_depth);
        cr_assert(net_addr_equal(&a->src, &b->src));
        cr_assert(net_addr_equal(&a->dst, &b->dst));
        cr_assert_eq(a->ip_proto, b->ip_proto);
        cr_assert_eq(a->reassembled, b->reassembled);
        cr_assert_eq(a->sport, b->sport);
        cr_assert_eq(a->dport, b->dport);
        cr_assert_eq(a->payload, b->payload);
        cr_assert_eq(a->payload_len, b->payload_len);
    }
    assert_same_counters(t);
    return ok;
}

/* Peek takes the frame, and both paths agree on it. */
static void assert_quick(int dlt, const uint8_t *frame, size_t len)
{
    struct twins t;
    twins_start(&t, dlt);
    cr_assert(feed_twins(&t, 1, frame, len));
    cr_assert_eq(t.full.udp_count, 1);
    twins_stop(&t);
}

/* Peek leaves the frame to the layers (which then count what they count). */
static void assert_not_quick(int dlt, const uint8_t *frame, size_t len)
{
    struct twins t;
    twins_start(&t, dlt);
    cr_assert_not(feed_twins(&t, 1, frame, len));
    twins_stop(&t);
}

Test(decode_peek, plain_and_tagged_udp_agree_with_the_decoder)
{
    size_t n = build_udp4(f, 40000, 40002, "rtp", 3);
    assert_quick(1, f, n);

    n = put_eth(f, 0x88a8);
    n += put_vlan(f + n, 100, 0x8100);
    n += put_vlan(f + n, 200, 0x0800);
    n += put_ipv4(f + n, ip4_b, ip4_a, 17, 7, 0, 8 + 2);
    n += put_udp(f + n, 16384, 16386, 2);
    memcpy(f + n, "ab", 2);
    assert_quick(1, f, n + 2);

    n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 17, 8 + 4);
    n += put_udp(f + n, 5004, 5006, 4);
    memcpy(f + n, "abcd", 4);
    assert_quick(1, f, n + 4);
}

Test(decode_peek, trailing_padding_is_trimmed_as_the_layers_trim_it)
{
    /* Ethernet pads short frames to 60 bytes: the IP total length and the UDP
     * length, not the captured length, end the datagram. */
    size_t n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8 + 1);
    n += put_udp(f + n, 5060, 5060, 1);
    f[n++] = 'x';
    memset(f + n, 0, 60 - n);
    assert_quick(1, f, 60);

    /* A UDP length shorter than the IP payload: the rest is not payload. */
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8 + 6);
    n += put_udp(f + n, 5060, 5060, 2);
    memcpy(f + n, "abcdef", 6);
    assert_quick(1, f, n + 6);

    /* A UDP length reaching past the IP datagram into the padding is bad,
     * though the bytes were captured. */
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8 + 1);
    n += put_udp(f + n, 5060, 5060, 4);
    memset(f + n, 'p', 60 - n);
    assert_not_quick(1, f, 60);
}

Test(decode_peek, cooked_and_raw_links)
{
    size_t n = 16; /* Linux SLL: ethertype at 14 */
    memset(f, 0, n);
    put16(f + 14, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8 + 1);
    n += put_udp(f + n, 1000, 2000, 1);
    f[n++] = 'x';
    assert_quick(113, f, n);

    n = put_ipv6(f, ip6_b, ip6_a, 17, 8 + 1); /* raw IP, and the IPv6 link type */
    n += put_udp(f + n, 3000, 4000, 1);
    f[n++] = 'y';
    assert_quick(101, f, n);
    assert_quick(229, f, n);
    assert_not_quick(228, f, n); /* the IPv4 link type: a version error */

    n = put_ipv4(f, ip4_a, ip4_b, 17, 1, 0, 8 + 1);
    n += put_udp(f + n, 3000, 4000, 1);
    f[n++] = 'z';
    assert_quick(228, f, n);
    assert_not_quick(229, f, n);
}

Test(decode_peek, what_it_does_not_follow_is_false)
{
    size_t n;

    /* A third VLAN tag, and the old 0x9100 tag. */
    n = put_eth(f, 0x8100);
    n += put_vlan(f + n, 1, 0x8100);
    n += put_vlan(f + n, 2, 0x8100);
    n += put_vlan(f + n, 3, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8);
    n += put_udp(f + n, 1, 2, 0);
    assert_not_quick(1, f, n);
    n = put_eth(f, 0x9100);
    n += put_vlan(f + n, 3, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8);
    n += put_udp(f + n, 1, 2, 0);
    assert_not_quick(1, f, n);

    /* IPv4 fragments: first (more-fragments) and a later one (offset). */
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 9, 0x2000, 8 + 8);
    n += put_udp(f + n, 1, 2, 8);
    assert_not_quick(1, f, n + 8);
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 9, 1, 8);
    assert_not_quick(1, f, n + 8);

    /* TCP, an IPv6 extension header, ARP, a truncated UDP header. */
    n = build_tcp4(f, true, 1, TCP_ACK, "x");
    assert_not_quick(1, f, n);
    n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 0, 8 + 8);
    memset(f + n, 0, 8);
    f[n] = 17;
    n += 8;
    n += put_udp(f + n, 1, 2, 0);
    assert_not_quick(1, f, n);
    n = put_eth(f, 0x0806);
    memset(f + n, 0, 28);
    assert_not_quick(1, f, n + 28);
    n = build_udp4(f, 1, 2, "", 0);
    assert_not_quick(1, f, n - 1);

    /* VXLAN is decapsulated by the layers. */
    n = build_udp4(f, 1, 4789, "12345678", 8);
    assert_not_quick(1, f, n);

    /* A TSO capture's IPv4 total length of 0 (counted as such). */
    n = build_udp4(f, 1, 2, "tso", 3);
    f[14 + 2] = 0;
    f[14 + 3] = 0;
    assert_not_quick(1, f, n);

    /* Link types it leaves to the decoder. */
    n = build_udp4(f, 1, 2, "z", 1);
    assert_not_quick(0, f, n);   /* BSD loopback */
    assert_not_quick(276, f, n); /* Linux SLL2 */
}

Test(decode_peek, every_truncation_and_mutation_is_decoded_alike_on_both_paths)
{
    /* Whatever the bytes, the quick path counts and delivers what the layers
     * do (feed_twins checks both after every frame), and peek never reads
     * past the end (ASan). */
    size_t n = put_eth(f, 0x8100);
    n += put_vlan(f + n, 5, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8 + 5);
    n += put_udp(f + n, 7000, 7002, 5);
    memcpy(f + n, "hello", 5);
    n += 5;
    uint8_t base[128];
    memcpy(base, f, n);
    int dlts[] = {1, 113, 101, 228};
    unsigned seed = 777;
    int quick = 0;
    for (size_t k = 0; k < sizeof(dlts) / sizeof(dlts[0]); k++) {
        struct twins t;
        twins_start(&t, dlts[k]);
        for (int iter = 0; iter < 3000; iter++) {
            memcpy(f, base, n);
            size_t len = n;
            if (iter < (int)n) {
                len = (size_t)iter; /* every truncation */
            } else {
                int flips = 1 + (int)(rand_r(&seed) % 3);
                for (int i = 0; i < flips; i++)
                    f[rand_r(&seed) % n] = (uint8_t)rand_r(&seed);
            }
            if (feed_twins(&t, (uint64_t)iter, f, len))
                quick++;
        }
        twins_stop(&t);
    }
    /* Mutations leave many frames whole: the quick path is really compared. */
    cr_assert_gt(quick, 1000);
}

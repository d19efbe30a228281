/*
 * Tests of the capture generator: every test writes a real pcap file, reads
 * it back with libpcap and checks the bytes (checksums, fragment offsets, TCP
 * sequence numbers, RTP sequence/timestamp patterns, SIP text).
 */
#include <criterion/criterion.h>

#include "tests/pcapgen/readback.h"

static struct endpoint ep(const char *addr, uint16_t port)
{
    struct endpoint e = {.port = port};
    cr_assert(net_addr_parse(&e.addr, addr), "bad test address %s", addr);
    return e;
}

/* Verifies IPv4 header and transport checksums of a raw IPv4 packet. */
static void check_ip4_sums(const uint8_t *ip, size_t len)
{
    cr_assert_geq(len, 20);
    cr_assert_eq(pcapgen_csum_fold(pcapgen_csum_add(0, ip, 20)), 0xffff, "IPv4 header checksum");
    uint16_t total = rd16(ip + 2);
    cr_assert_eq(total, len);
    if (rd16(ip + 6) & 0x3fff)
        return; /* a fragment: transport checksum covers the reassembled datagram */
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = ip[9];
    pseudo[10] = (uint8_t)((total - 20) >> 8);
    pseudo[11] = (uint8_t)(total - 20);
    uint32_t s = pcapgen_csum_add(0, pseudo, 12);
    s = pcapgen_csum_add(s, ip + 20, total - 20u);
    cr_assert_eq(pcapgen_csum_fold(s), 0xffff, "transport checksum (proto %u)", ip[9]);
}

Test(pcapgen, checksum_rfc1071_example)
{
    /* RFC 1071 section 3 example: the folded sum is 0xddf2. */
    const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    cr_assert_eq(pcapgen_csum_fold(pcapgen_csum_add(0, d, sizeof(d))), 0xddf2);
    /* Odd length pads with a zero byte. */
    const uint8_t o[] = {0x01};
    cr_assert_eq(pcapgen_csum_fold(pcapgen_csum_add(0, o, 1)), 0x0100);
}

Test(pcapgen, udp_ipv4_ethernet_bytes_and_checksums)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct endpoint a = ep("192.0.2.1", 5060), b = ep("198.51.100.2", 5070);
    const char msg[] = "hello odd";
    pcapgen_udp(g, 1500000, &a, &b, (const uint8_t *)msg, 9, NULL);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "udp4"));
    cr_assert_eq(rb.linktype, DLT_EN10MB);
    cr_assert_eq(rb.n, 1);
    const uint8_t *f = rb.f[0].data;
    cr_assert_eq(rb.f[0].t_us, PCAPGEN_DEFAULT_BASE_US + 1500000);
    const uint8_t mac_dst[6] = {0x02, 0, 198, 51, 100, 2}, mac_src[6] = {0x02, 0, 192, 0, 2, 1};
    cr_assert_arr_eq(f, mac_dst, 6);
    cr_assert_arr_eq(f + 6, mac_src, 6);
    cr_assert_eq(rd16(f + 12), 0x0800);
    cr_assert_eq(rb.f[0].len, ETH + 20 + 8 + 9);
    check_ip4_sums(f + ETH, rb.f[0].len - ETH);
    cr_assert_eq(rd16(f + ETH + 20), 5060);
    cr_assert_eq(rd16(f + ETH + 22), 5070);
    cr_assert_eq(rd16(f + ETH + 24), 17);
    cr_assert_arr_eq(f + ETH + 28, msg, 9);
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, vlan_and_qinq_tags)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct endpoint a = ep("192.0.2.1", 1), b = ep("192.0.2.2", 2);
    struct pcapgen_encap v = {.vlan = 100}, q = {.vlan = 20, .qinq_outer = 300};
    pcapgen_udp(g, 0, &a, &b, (const uint8_t *)"x", 1, &v);
    pcapgen_udp(g, 1, &a, &b, (const uint8_t *)"x", 1, &q);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "vlan"));
    cr_assert_eq(rb.n, 2);
    cr_assert_eq(rd16(rb.f[0].data + 12), 0x8100);
    cr_assert_eq(rd16(rb.f[0].data + 14), 100);
    cr_assert_eq(rd16(rb.f[0].data + 16), 0x0800);
    cr_assert_eq(rd16(rb.f[1].data + 12), 0x88a8);
    cr_assert_eq(rd16(rb.f[1].data + 14), 300);
    cr_assert_eq(rd16(rb.f[1].data + 16), 0x8100);
    cr_assert_eq(rd16(rb.f[1].data + 18), 20);
    cr_assert_eq(rd16(rb.f[1].data + 20), 0x0800);
    check_ip4_sums(rb.f[1].data + 22, rb.f[1].len - 22);
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, other_link_types)
{
    struct endpoint a = ep("192.0.2.1", 1), b = ep("192.0.2.2", 2);
    struct endpoint a6 = ep("2001:db8::1", 1), b6 = ep("2001:db8::2", 2);
    const int lts[] = {PCAPGEN_LINK_RAW, PCAPGEN_LINK_LINUX_SLL, PCAPGEN_LINK_NULL};
    const int dlts[] = {DLT_RAW, DLT_LINUX_SLL, DLT_NULL};
    const size_t hdr[] = {0, 16, 4};
    for (size_t i = 0; i < 3; i++) {
        struct pcapgen *g = pcapgen_new(lts[i]);
        pcapgen_udp(g, 0, &a, &b, (const uint8_t *)"ab", 2, NULL);
        pcapgen_udp(g, 1, &a6, &b6, (const uint8_t *)"ab", 2, NULL);
        struct readback rb;
        cr_assert(rb_load(&rb, g, "links"));
        cr_assert_eq(rb.linktype, dlts[i]);
        cr_assert_eq(rb.n, 2);
        cr_assert_eq(rb.f[0].len, hdr[i] + 20 + 8 + 2);
        cr_assert_eq(rb.f[0].data[hdr[i]] >> 4, 4);
        cr_assert_eq(rb.f[1].len, hdr[i] + 40 + 8 + 2);
        cr_assert_eq(rb.f[1].data[hdr[i]] >> 4, 6);
        if (lts[i] == PCAPGEN_LINK_LINUX_SLL) {
            cr_assert_eq(rd16(rb.f[0].data + 14), 0x0800);
            cr_assert_eq(rd16(rb.f[1].data + 14), 0x86dd);
        }
        if (lts[i] == PCAPGEN_LINK_NULL) {
            cr_assert_eq(rb.f[0].data[0], 2);
            cr_assert_eq(rb.f[1].data[0], 24);
        }
        rb_free(&rb);
        pcapgen_free(g);
    }
    cr_assert_null(pcapgen_new(999));
}

Test(pcapgen, ipv6_udp_checksum)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct endpoint a = ep("2001:db8::10", 5060), b = ep("2001:db8:1::20", 5060);
    pcapgen_udp(g, 0, &a, &b, (const uint8_t *)"OPTIONS", 7, NULL);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "udp6"));
    const uint8_t *ip = rb.f[0].data;
    cr_assert_eq(ip[6], 17);
    uint8_t tail[8] = {0, 0, 0, 15, 0, 0, 0, 17};
    uint32_t s = pcapgen_csum_add(0, ip + 8, 32);
    s = pcapgen_csum_add(s, tail, 8);
    s = pcapgen_csum_add(s, ip + 40, 15);
    cr_assert_eq(pcapgen_csum_fold(s), 0xffff);
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, ipv4_fragmentation_offsets)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct endpoint a = ep("192.0.2.1", 5060), b = ep("192.0.2.2", 5060);
    uint8_t payload[3000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    struct pcapgen_encap e = {.mtu = 1500};
    pcapgen_udp(g, 0, &a, &b, payload, sizeof(payload), &e);
    e.frag_reverse = true;
    pcapgen_udp(g, 1000000, &a, &b, payload, sizeof(payload), &e);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "frag4"));
    cr_assert_eq(rb.n, 6);
    /* 3008 bytes of UDP: 1480 + 1480 + 48. Offsets in 8-byte units. */
    const uint16_t off[3] = {0, 185, 370};
    const uint16_t len[3] = {1500, 1500, 68};
    uint16_t id0 = rd16(rb.f[0].data + 4);
    uint8_t re[3008];
    for (int i = 0; i < 3; i++) {
        const uint8_t *ip = rb.f[i].data;
        check_ip4_sums(ip, rb.f[i].len);
        cr_assert_eq(rd16(ip + 4), id0, "same ID in every fragment");
        cr_assert_eq(rd16(ip + 6) & 0x1fff, off[i]);
        cr_assert_eq(!!(rd16(ip + 6) & 0x2000), i < 2, "MF flag of fragment %d", i);
        cr_assert_eq(rb.f[i].len, len[i]);
        memcpy(re + off[i] * 8, ip + 20, rb.f[i].len - 20u);
        /* Reversed copy: last fragment first, with a new ID. */
        const uint8_t *r = rb.f[3 + i].data;
        cr_assert_eq(rd16(r + 6) & 0x1fff, off[2 - i]);
        cr_assert_neq(rd16(r + 4), id0);
    }
    cr_assert_arr_eq(re + 8, payload, sizeof(payload));
    /* The reassembled UDP checksum verifies over the pseudo-header. */
    uint8_t pseudo[12] = {192, 0, 2, 1, 192, 0, 2, 2, 0, 17, 3008 >> 8, 3008 & 0xff};
    uint32_t s = pcapgen_csum_add(pcapgen_csum_add(0, pseudo, 12), re, 3008);
    cr_assert_eq(pcapgen_csum_fold(s), 0xffff);
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, ipv6_fragment_header)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct endpoint a = ep("2001:db8::1", 5060), b = ep("2001:db8::2", 5060);
    uint8_t payload[2000] = {0};
    struct pcapgen_encap e = {.mtu = 1280};
    pcapgen_udp(g, 0, &a, &b, payload, sizeof(payload), &e);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "frag6"));
    /* 2008 bytes; room 1280-48 = 1232 (a multiple of 8): 1232 + 776. */
    cr_assert_eq(rb.n, 2);
    for (int i = 0; i < 2; i++) {
        const uint8_t *ip = rb.f[i].data;
        cr_assert_eq(ip[6], 44, "next header is Fragment");
        cr_assert_eq(ip[40], 17, "fragment header's next header is UDP");
        cr_assert_eq(rd16(ip + 4), rb.f[i].len - 40u);
        cr_assert_eq(rd32(ip + 44), rd32(rb.f[0].data + 44), "same identification");
    }
    cr_assert_eq(rd16(rb.f[0].data + 42), 0 | 1);
    cr_assert_eq(rd16(rb.f[1].data + 42), 1232);
    cr_assert_eq(rb.f[0].len, 1280);
    cr_assert_eq(rb.f[1].len, 48 + 776);
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, tcp_sequence_tracking)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct endpoint cl = ep("192.0.2.1", 40000), sv = ep("192.0.2.2", 5060);
    struct pcapgen_tcp *c = pcapgen_tcp_new(g, &cl, &sv, 1000, 5000, NULL);
    pcapgen_tcp_handshake(c, 0);
    cr_assert_eq(pcapgen_tcp_seq(c, PCAPGEN_C2S), 1001);
    cr_assert_eq(pcapgen_tcp_seq(c, PCAPGEN_S2C), 5001);
    uint8_t data[100];
    memset(data, 'a', sizeof(data));
    pcapgen_tcp_send(c, 10000, PCAPGEN_C2S, data, 100); /* seq 1001 */
    size_t cuts[] = {30, 70};
    pcapgen_tcp_send_split(c, 20000, 1000, PCAPGEN_C2S, data, 100, cuts, 2, true); /* 1101 */
    pcapgen_tcp_retransmit(c, 30000, PCAPGEN_C2S);
    pcapgen_tcp_send(c, 40000, PCAPGEN_S2C, data, 10);
    pcapgen_tcp_fin(c, 50000, PCAPGEN_C2S);
    cr_assert_eq(pcapgen_tcp_seq(c, PCAPGEN_C2S), 1202);
    pcapgen_tcp_rst(c, 60000, PCAPGEN_S2C);
    pcapgen_tcp_free(c);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "tcp"));
    cr_assert_eq(rb.n, 11);
    struct {
        uint32_t seq, ack;
        uint8_t flags;
        uint16_t len;
    } want[] = {
        {1000, 0, 0x02, 0},      {5000, 1001, 0x12, 0},  {1001, 5001, 0x10, 0},
        {1001, 5001, 0x18, 100}, {1171, 5001, 0x18, 30}, {1131, 5001, 0x18, 40},
        {1101, 5001, 0x18, 30},  {1171, 5001, 0x18, 30}, {5001, 1201, 0x18, 10},
        {1201, 5011, 0x11, 0},   {5011, 1202, 0x14, 0},
    };
    for (size_t i = 0; i < rb.n; i++) {
        const uint8_t *ip = rb.f[i].data;
        check_ip4_sums(ip, rb.f[i].len);
        cr_assert_eq(rd32(ip + 24), want[i].seq, "segment %zu seq", i);
        cr_assert_eq(rd32(ip + 28), want[i].ack, "segment %zu ack", i);
        cr_assert_eq(ip[33], want[i].flags, "segment %zu flags", i);
        cr_assert_eq(rb.f[i].len - 40u, want[i].len, "segment %zu length", i);
    }
    rb_free(&rb);
    pcapgen_free(g);
}

/* tcp-flood with hold-first: per stream a handshake and every data segment
 * but the first, then each stream's first segment; sequence numbers cover
 * the stream's bytes exactly once. */
Test(pcapgen, tcp_flood_holds_the_first_segment_back)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    char err[256];
    cr_assert_eq(pcapgen_scenario_text(g,
                                       "tcp-flood client=192.0.2.1:40000 server=192.0.2.2:5060 "
                                       "streams=2 body-bytes=900 segment=400 hold-first\n",
                                       ".", err, sizeof(err)),
                 0, "%s", err);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "flood"));
    /* Message: request line and headers (~250 bytes) + 900: 3 segments. */
    cr_assert_eq(rb.n, 2 * (3 + 3));
    size_t data_bytes[2] = {0, 0};
    for (size_t i = 0; i < rb.n; i++) {
        const uint8_t *ip = rb.f[i].data;
        check_ip4_sums(ip, rb.f[i].len);
        /* The client's port names the stream, whichever way the segment goes. */
        int sport = ip[20] << 8 | ip[21], dport = ip[22] << 8 | ip[23];
        int stream = sport == 5060 ? dport : sport;
        cr_assert(stream == 40000 || stream == 40001, "segment %zu: ports %d > %d", i, sport,
                  dport);
        data_bytes[stream - 40000] += rb.f[i].len - 40u;
        if (i >= rb.n - 2)
            cr_assert_eq(rd32(ip + 24), 1001 + (uint32_t)(stream - 40000) * 1,
                         "the held-back first segments come last");
    }
    cr_assert_eq(data_bytes[0], data_bytes[1]);
    cr_assert_gt(data_bytes[0], 900);
    rb_free(&rb);
    pcapgen_free(g);
}

/* RTP header fields of frame i of a RAW IPv4 capture. */
#define RTP(rb, i) ((rb).f[i].data + 28)

Test(pcapgen, rtp_sequence_wrap_and_timestamps)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct pcapgen_rtp_spec s = {.src = ep("192.0.2.1", 4000),
                                 .dst = ep("192.0.2.2", 6000),
                                 .ssrc = 0x11223344,
                                 .pt = 8,
                                 .start_us = 1000000,
                                 .count = 6,
                                 .start_seq = 65533,
                                 .start_ts = 0xfffffe00};
    struct pcapgen_rtp_result r;
    pcapgen_rtp_stream(g, &s, &r);
    cr_assert_eq(r.sent, 6);
    cr_assert_eq(r.next_seq, 3);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "rtpwrap"));
    cr_assert_eq(rb.n, 6);
    const uint16_t seqs[] = {65533, 65534, 65535, 0, 1, 2};
    for (size_t i = 0; i < 6; i++) {
        const uint8_t *p = RTP(rb, i);
        cr_assert_eq(p[0], 0x80);
        cr_assert_eq(p[1] & 0x7f, 8);
        cr_assert_eq(rd16(p + 2), seqs[i]);
        cr_assert_eq(rd32(p + 4), (uint32_t)(0xfffffe00u + 160u * i));
        cr_assert_eq(rd32(p + 8), 0x11223344u);
        cr_assert_eq(rb.f[i].len, 20 + 8 + 12 + 160);
        cr_assert_eq(rb.f[i].t_us, PCAPGEN_DEFAULT_BASE_US + 1000000 + 20000 * i);
        check_ip4_sums(rb.f[i].data, rb.f[i].len);
    }
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, rtp_impairments)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    const uint16_t lost[] = {102, 103};
    const uint16_t dup[] = {105};
    const uint16_t marker[] = {100, 107};
    const struct pcapgen_seq_pair swaps[] = {{108, 109}};
    struct pcapgen_rtp_spec s = {.src = ep("192.0.2.1", 4000),
                                 .dst = ep("192.0.2.2", 6000),
                                 .ssrc = 7,
                                 .pt = 0,
                                 .start_us = 0,
                                 .count = 20,
                                 .start_seq = 100,
                                 .lost_seqs = lost,
                                 .n_lost = 2,
                                 .dup_seqs = dup,
                                 .n_dup = 1,
                                 .marker_seqs = marker,
                                 .n_marker = 2,
                                 .swaps = swaps,
                                 .n_swaps = 1,
                                 .ssrc_change_at = 15,
                                 .new_ssrc = 8,
                                 .stop_us = 360000};
    struct pcapgen_rtp_result r;
    pcapgen_rtp_stream(g, &s, &r);
    /* Slots 0..17 (stop at 360 ms): 18 numbers, 2 lost, 1 duplicated. */
    cr_assert_eq(r.lost, 2);
    cr_assert_eq(r.sent, 17);
    cr_assert_eq(r.next_seq, 118);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "rtpimp"));
    cr_assert_eq(rb.n, 17);
    const uint16_t order[] = {100, 101, 104, 105, 105, 106, 107, 109, 108,
                              110, 111, 112, 113, 114, 115, 116, 117};
    for (size_t i = 0; i < rb.n; i++) {
        const uint8_t *p = RTP(rb, i);
        uint16_t seq = rd16(p + 2);
        cr_assert_eq(seq, order[i], "frame %zu: seq %u, want %u", i, seq, order[i]);
        cr_assert_eq(!!(p[1] & 0x80), seq == 100 || seq == 107, "marker on %u", seq);
        cr_assert_eq(rd32(p + 4), (uint32_t)(seq - 100) * 160);
        cr_assert_eq(rd32(p + 8), seq >= 115 ? 8u : 7u, "SSRC of %u", seq);
    }
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, rtp_loss_patterns_and_jitter)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct pcapgen_rtp_spec s = {.src = ep("192.0.2.1", 4000),
                                 .dst = ep("192.0.2.2", 6000),
                                 .ssrc = 1,
                                 .count = 100,
                                 .loss_every = 10,
                                 .burst_start = 50,
                                 .burst_len = 5,
                                 .jitter_max_us = 15000,
                                 .jitter_seed = 42};
    struct pcapgen_rtp_result r;
    pcapgen_rtp_stream(g, &s, &r);
    /* Every 10th slot (9, 19, ... 99) plus the burst 50..54: 10 + 5 lost. */
    cr_assert_eq(r.lost, 15);
    cr_assert_eq(r.sent, 85);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "rtploss"));
    cr_assert_eq(rb.n, 85);
    bool seen[100] = {false};
    for (size_t i = 0; i < rb.n; i++) {
        uint16_t seq = rd16(RTP(rb, i) + 2);
        cr_assert_lt(seq, 100);
        seen[seq] = true;
        uint64_t due = PCAPGEN_DEFAULT_BASE_US + 20000ULL * seq;
        cr_assert_geq(rb.f[i].t_us, due);
        cr_assert_leq(rb.f[i].t_us, due + 15000, "jitter bounded");
    }
    for (int k = 0; k < 100; k++)
        cr_assert_eq(seen[k], !((k + 1) % 10 == 0 || (k >= 50 && k < 55)), "slot %d", k);
    rb_free(&rb);

    /* Same seed, same arrival times: determinism. */
    struct pcapgen *g2 = pcapgen_new(PCAPGEN_LINK_RAW);
    pcapgen_rtp_stream(g2, &s, NULL);
    struct readback rb1, rb2;
    cr_assert(rb_load(&rb1, g, "det1"));
    cr_assert(rb_load(&rb2, g2, "det2"));
    cr_assert_eq(rb1.n, rb2.n);
    for (size_t i = 0; i < rb1.n; i++) {
        cr_assert_eq(rb1.f[i].t_us, rb2.f[i].t_us);
        cr_assert_eq(rb1.f[i].len, rb2.f[i].len);
        cr_assert_arr_eq(rb1.f[i].data, rb2.f[i].data, rb1.f[i].len);
    }
    rb_free(&rb1);
    rb_free(&rb2);
    pcapgen_free(g);
    pcapgen_free(g2);
}

Test(pcapgen, rtp_dtmf_and_comfort_noise)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct pcapgen_rtp_spec s = {.src = ep("192.0.2.1", 4000),
                                 .dst = ep("192.0.2.2", 6000),
                                 .ssrc = 1,
                                 .count = 20,
                                 .dtmf_at = 2,
                                 .dtmf_slots = 3,
                                 .dtmf_event = 5,
                                 .cn_at = 10,
                                 .cn_slots = 5};
    pcapgen_rtp_stream(g, &s, NULL);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "dtmf"));
    /* 20 slots: 2 audio, 3 event (+2 repeated ends), 5 audio, CN, 4 silent, 5 audio. */
    cr_assert_eq(rb.n, 2 + 5 + 5 + 1 + 5);
    for (size_t i = 2; i < 7; i++) {
        const uint8_t *p = RTP(rb, i);
        cr_assert_eq(p[1] & 0x7f, 101);
        cr_assert_eq(!!(p[1] & 0x80), i == 2, "marker only on the first event packet");
        cr_assert_eq(rd16(p + 2), i, "event packets take consecutive seqs");
        cr_assert_eq(rd32(p + 4), 320, "all carry the event's start timestamp");
        cr_assert_eq(p[12], 5);
        cr_assert_eq(!!(p[13] & 0x80), i >= 4, "E bit on the last three");
        uint16_t dur = rd16(p + 14);
        cr_assert_eq(dur, i < 4 ? 160 * (i - 1) : 480);
        cr_assert_eq(rb.f[i].len, 28 + 16);
    }
    const uint8_t *cn = RTP(rb, 12);
    cr_assert_eq(cn[1] & 0x7f, 13);
    cr_assert_eq(rd32(cn + 4), 1600);
    cr_assert_eq(rb.f[12].len, 28 + 13);
    const uint8_t *resume = RTP(rb, 13);
    cr_assert_eq(resume[1], 0x80 | 0, "audio resumes with the marker bit");
    cr_assert_eq(rd16(resume + 2), rd16(cn + 2) + 1, "no sequence gap across silence");
    cr_assert_eq(rd32(resume + 4), 15 * 160, "timestamp jumps over the silence");
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, rtcp_sender_and_receiver_reports)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct pcapgen_rtp_spec s = {.src = ep("192.0.2.1", 4000),
                                 .dst = ep("192.0.2.2", 6000),
                                 .ssrc = 9,
                                 .count = 300,
                                 .rtcp = PCAPGEN_RTCP_PORT_PLUS_1,
                                 .rtcp_rr = true,
                                 .loss_every = 50};
    pcapgen_rtp_stream(g, &s, NULL);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "rtcp"));
    int sr = 0, rr = 0;
    for (size_t i = 0; i < rb.n; i++) {
        const uint8_t *ip = rb.f[i].data;
        check_ip4_sums(ip, rb.f[i].len);
        if (rd16(ip + 20) == 4001) {
            sr++;
            cr_assert_eq(rd16(ip + 22), 6001);
            cr_assert_eq(ip[29], 200);
            /* At 5 s: 250 slots sent by the sender. */
            cr_assert_eq(rd32(ip + 28 + 20), 250);
            cr_assert_eq(rd32(ip + 28 + 24), 250 * 160);
        } else if (rd16(ip + 20) == 6001) {
            rr++;
            cr_assert_eq(ip[29], 201);
            /* Slots 49, 99, 149, 199 lost; 249 too, but nothing after it has
             * arrived yet, so the receiver cannot know. */
            uint32_t cum = rd32(ip + 28 + 12) & 0xffffff;
            cr_assert_eq(cum, 4);
            cr_assert_eq(rd32(ip + 28 + 16), 248, "extended highest sequence received");
        }
    }
    cr_assert_eq(sr, 1);
    cr_assert_eq(rr, 1);
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, sip_build_content_length)
{
    size_t len;
    char *m = pcapgen_sip_build("OPTIONS sip:bob@192.0.2.2 SIP/2.0",
                                "Via: SIP/2.0/UDP 192.0.2.1\nContent-Length: 999\nCall-ID: x\n",
                                "hello", &len);
    cr_assert_str_eq(m, "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1\r\n"
                        "Call-ID: x\r\nContent-Length: 5\r\n\r\nhello");
    cr_assert_eq(len, strlen(m));
    free(m);
    m = pcapgen_sip_normalize("BYE sip:a@192.0.2.1 SIP/2.0\nCall-ID: y\nContent-Length: 0\n\n"
                              "v=0\no=x\n",
                              &len);
    cr_assert_str_eq(m, "BYE sip:a@192.0.2.1 SIP/2.0\r\nCall-ID: y\r\nContent-Length: 10\r\n\r\n"
                        "v=0\r\no=x\r\n");
    free(m);
}

Test(pcapgen, sdp_build)
{
    const uint8_t pts[] = {8, 101};
    struct pcapgen_sdp s = {.addr = "192.168.1.10",
                            .port = 4000,
                            .pts = pts,
                            .n_pts = 2,
                            .direction = "sendonly",
                            .rtcp_mux = true,
                            .ptime = 20,
                            .session_id = 1,
                            .version = 2};
    char *b = pcapgen_sdp_build(&s);
    cr_assert_str_eq(b, "v=0\r\no=pcapgen 1 2 IN IP4 192.168.1.10\r\ns=pcapgen\r\n"
                        "c=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\n"
                        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
                        "a=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp-mux\r\na=sendonly\r\n");
    free(b);
}

/* SIP start lines and times of a capture (UDP over RAW IPv4). */
static size_t sip_lines(struct readback *rb, char lines[][64], uint64_t *t, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < rb->n && n < max; i++) {
        const uint8_t *ip = rb->f[i].data;
        if (ip[9] != 17 || (rd16(ip + 20) != 5060 && rd16(ip + 22) != 5060))
            continue;
        const char *sip = (const char *)ip + 28;
        size_t len = rb->f[i].len - 28u;
        const char *e = memchr(sip, '\r', len);
        size_t l = e ? (size_t)(e - sip) : len;
        if (l > 63)
            l = 63;
        memcpy(lines[n], sip, l);
        lines[n][l] = '\0';
        t[n] = rb->f[i].t_us - PCAPGEN_DEFAULT_BASE_US;
        n++;
    }
    return n;
}

Test(pcapgen, call_no_ack_retransmits_200)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct pcapgen_call_spec c = {.call_id = "noack",
                                  .caller = ep("203.0.113.5", 5060),
                                  .callee = ep("198.51.100.7", 5060),
                                  .ring_ms = 1000,
                                  .no_ack = true,
                                  .rtp = PCAPGEN_RTP_NONE};
    pcapgen_call(g, &c);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "noack"));
    char lines[64][64];
    uint64_t t[64];
    size_t n = sip_lines(&rb, lines, t, 64);
    /* INVITE 100 180 200 + 10 retransmissions + BYE + 200. */
    cr_assert_eq(n, 4 + 10 + 2);
    const uint64_t ans = 1000000;
    const uint64_t re[] = {500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500};
    for (int k = 0; k < 10; k++) {
        cr_assert_str_eq(lines[4 + k], "SIP/2.0 200 OK");
        cr_assert_eq(t[4 + k], ans + re[k] * 1000, "retransmission %d", k);
    }
    cr_assert_str_eq(lines[14], "BYE sip:alice@203.0.113.5:5060 SIP/2.0", "BYE from the callee");
    cr_assert_eq(t[14], ans + 32000000);
    for (size_t i = 0; i < n; i++)
        cr_assert(strncmp(lines[i], "ACK", 3) != 0, "no ACK at all");
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, call_auth_cancel_and_failures)
{
    struct {
        struct pcapgen_call_spec c;
        const char *want[12];
    } cases[] = {
        {{.auth = 407, .final_status = 486},
         {"INVITE", "SIP/2.0 407", "ACK", "INVITE", "SIP/2.0 100", "SIP/2.0 180", "SIP/2.0 486",
          "ACK"}},
        {{.cancel = true},
         {"INVITE", "SIP/2.0 100", "SIP/2.0 180", "CANCEL", "SIP/2.0 200", "SIP/2.0 487", "ACK"}},
        {{.final_status = 404}, {"INVITE", "SIP/2.0 100", "SIP/2.0 404", "ACK"}},
        {{.no_final = true, .forking = true},
         {"INVITE", "SIP/2.0 100", "SIP/2.0 180", "SIP/2.0 180"}},
        {{.reinvite_ms = 5000,
          .reinvite_direction = "sendonly",
          .rtp = PCAPGEN_RTP_NONE,
          .talk_ms = 10000},
         {"INVITE", "SIP/2.0 100", "SIP/2.0 180", "SIP/2.0 200", "ACK", "INVITE", "SIP/2.0 200",
          "ACK", "BYE", "SIP/2.0 200"}},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
        struct pcapgen_call_spec c = cases[k].c;
        c.caller = ep("203.0.113.5", 5060);
        c.callee = ep("198.51.100.7", 5060);
        pcapgen_call(g, &c);
        struct readback rb;
        cr_assert(rb_load(&rb, g, "calls"));
        char lines[64][64];
        uint64_t t[64];
        size_t n = sip_lines(&rb, lines, t, 64);
        size_t want = 0;
        while (want < 12 && cases[k].want[want])
            want++;
        cr_assert_eq(n, want, "case %zu: %zu messages, want %zu", k, n, want);
        for (size_t i = 0; i < n; i++)
            cr_assert(strncmp(lines[i], cases[k].want[i], strlen(cases[k].want[i])) == 0,
                      "case %zu message %zu: '%s', want '%s'", k, i, lines[i], cases[k].want[i]);
        rb_free(&rb);
        pcapgen_free(g);
    }
}

Test(pcapgen, register_loop)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct pcapgen_register_spec r = {.ua = ep("203.0.113.60", 5060),
                                      .registrar = ep("203.0.113.1", 5060),
                                      .outcome = PCAPGEN_REG_LOOP_401,
                                      .attempts = 3,
                                      .stale = true};
    pcapgen_register(g, &r);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "reg"));
    char lines[64][64];
    uint64_t t[64];
    size_t n = sip_lines(&rb, lines, t, 64);
    cr_assert_eq(n, 8);
    for (size_t i = 0; i < n; i++)
        cr_assert(strncmp(lines[i], i % 2 ? "SIP/2.0 401" : "REGISTER", 8) == 0, "%s", lines[i]);
    /* Every authorised attempt carries Authorization; later 401s say stale. */
    const char *last = (const char *)rb.f[rb.n - 1].data + 28;
    cr_assert_not_null(memmem(last, rb.f[rb.n - 1].len - 28u, "stale=true", 10));
    const char *auth = (const char *)rb.f[2].data + 28;
    cr_assert_not_null(memmem(auth, rb.f[2].len - 28u, "Authorization: Digest", 21));
    cr_assert_not_null(memmem(auth, rb.f[2].len - 28u, "CSeq: 2 REGISTER", 16));
    rb_free(&rb);
    pcapgen_free(g);
}

Test(pcapgen, scenario_language)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    char err[256];
    const char *text = "link raw   # comment\n"
                       "fragment mtu=576\n"
                       "sip-udp t=0.5 src=192.0.2.1:5060 dst=192.0.2.2:5060\n"
                       "OPTIONS sip:x@192.0.2.2 SIP/2.0\n"
                       "Call-ID: s1\n"
                       ".\n"
                       "fragment off\n"
                       "rtp src=192.0.2.1:4000 dst=192.0.2.2:6000 ssrc=0x10 count=5 lost=1 "
                       "start=1.000001\n"
                       "tcp c1 client=192.0.2.1:40000 server=192.0.2.2:5060 handshake=2\n"
                       "sip-tcp c1 t=2.1 dir=c2s split=10\n"
                       "MESSAGE sip:x@192.0.2.2 SIP/2.0\n"
                       "---\n"
                       "MESSAGE sip:y@192.0.2.2 SIP/2.0\n"
                       ".\n";
    cr_assert_eq(pcapgen_scenario_text(g, text, NULL, err, sizeof(err)), 0, "%s", err);
    struct readback rb;
    cr_assert(rb_load(&rb, g, "scen"));
    cr_assert_eq(rb.linktype, DLT_RAW);
    /* 1 SIP + 4 RTP + 3 handshake + 2 segments. */
    cr_assert_eq(rb.n, 10);
    cr_assert_eq(rb.f[1].t_us, PCAPGEN_DEFAULT_BASE_US + 1000001);
    cr_assert_eq(rd16(rb.f[2].data + 28 + 2), 2, "seq 1 lost");
    /* Two coalesced messages, each with its own Content-Length, split at byte 10. */
    cr_assert_eq(rb.f[8].len, 40 + 10);
    size_t total = rb.f[8].len + rb.f[9].len - 80u;
    const char *want = "MESSAGE sip:x@192.0.2.2 SIP/2.0\r\nContent-Length: 0\r\n\r\n"
                       "MESSAGE sip:y@192.0.2.2 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(total, strlen(want));
    cr_assert_arr_eq(rb.f[9].data + 40, want + 10, total - 10);
    rb_free(&rb);
    pcapgen_free(g);

    const struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"\n\nbogus x=1\n", "<scenario>:3: unknown directive 'bogus'"},
        {"call caller=192.0.2.1:5060\n", "<scenario>:1: missing callee=ADDR:PORT"},
        {"rtp src=192.0.2.1:1 dst=192.0.2.2:2 colour=red\n",
         "<scenario>:1: unknown or misplaced 'colour'"},
        {"call caller=192.0.2.1:5060 callee=192.0.2.2 \n",
         "<scenario>:1: callee=192.0.2.2: expected ADDR:PORT or [V6]:PORT"},
        {"sip-udp src=192.0.2.1:1 dst=192.0.2.2:2\nINVITE x\n",
         "<scenario>:2: inline message not closed by a line holding only '.'"},
        {"rtp src=192.0.2.1:1 dst=192.0.2.2:2 count=1\nlink sll\n",
         "<scenario>:2: link must come before any packet"},
        {"rtp src=192.0.2.1:1 dst=192.0.2.2:2 count=1 rtcp=port xr\n",
         "<scenario>:1: xr: the XR block rides in the receiver's report; add the flag rr"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pcapgen *b = pcapgen_new(PCAPGEN_LINK_ETHERNET);
        cr_assert_eq(pcapgen_scenario_text(b, bad[i].text, NULL, err, sizeof(err)), -1, "case %zu",
                     i);
        cr_assert_str_eq(err, bad[i].msg);
        pcapgen_free(b);
    }
}

Test(pcapgen, demo_is_deterministic)
{
    struct pcapgen *a = pcapgen_new(PCAPGEN_LINK_ETHERNET), *b = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    pcapgen_demo(a);
    pcapgen_demo(b);
    struct readback ra, rb;
    cr_assert(rb_load(&ra, a, "demo1"));
    cr_assert(rb_load(&rb, b, "demo2"));
    cr_assert_gt(ra.n, 5000);
    cr_assert_eq(ra.n, rb.n);
    for (size_t i = 0; i < ra.n; i++) {
        cr_assert_eq(ra.f[i].t_us, rb.f[i].t_us);
        cr_assert_eq(ra.f[i].len, rb.f[i].len);
        cr_assert_arr_eq(ra.f[i].data, rb.f[i].data, ra.f[i].len);
        if (i)
            cr_assert_geq(ra.f[i].t_us, ra.f[i - 1].t_us, "sorted by time");
    }
    rb_free(&ra);
    rb_free(&rb);
    pcapgen_free(a);
    pcapgen_free(b);
}

/* Tests of the stateless decoder layers: link types, VLAN/MPLS/PPPoE,
 * tunnels, IPv4/IPv6 and UDP, with every malformed case's counter. */
#include "frame_build.h"

#define DLT_ETH 1
#define A_SIDE  true

static uint8_t f[2048];

Test(decode_layers, ethernet_ipv4_udp_delivers_payload_and_trims_padding)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = build_udp4(f, 5060, 5062, "INVITE", 6);
    memset(f + n, 0xee, 20); /* Ethernet padding after the IP datagram */
    harness_feed(&h, 1, f, n + 20);
    cr_assert_eq(h.udp_count, 1);
    cr_assert_str_eq(h.last_payload, "INVITE");
    cr_assert_eq(h.last.sport, 5060);
    cr_assert_eq(h.last.dport, 5062);
    cr_assert_eq(h.last.src.family, 4);
    cr_assert_eq(memcmp(h.last.src.bytes, ip4_a, 4), 0);
    cr_assert_eq(memcmp(h.last.dst.bytes, ip4_b, 4), 0);
    cr_assert_eq(h.last.ip_proto, 17);
    cr_assert_not(h.last.reassembled);
    cr_assert_eq(counter(&h, "ipv4"), 1);
    cr_assert_eq(counter(&h, "udp"), 1);
    harness_stop(&h);
}

Test(decode_layers, vlan_and_qinq_ids_are_stored)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = put_eth(f, 0x88a8);
    n += put_vlan(f + n, 0x2064, 0x8100); /* priority bits must be masked off */
    n += put_vlan(f + n, 200, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 8 + 3);
    n += put_udp(f + n, 1, 2, 3);
    memcpy(f + n, "abc", 3);
    harness_feed(&h, 1, f, n + 3);
    cr_assert_eq(h.udp_count, 1);
    cr_assert_eq(h.last.vlan_depth, 2);
    cr_assert_eq(h.last.vlan_ids[0], 100);
    cr_assert_eq(h.last.vlan_ids[1], 200);
    cr_assert_eq(counter(&h, "vlan"), 2);
    /* A tag cut short. */
    harness_feed(&h, 2, f, 14 + 2);
    cr_assert_eq(counter(&h, "vlan_truncated"), 1);
    harness_stop(&h);
}

Test(decode_layers, mpls_stack_then_ip_by_version_nibble)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = put_eth(f, 0x8847);
    put32(f + n, 0x00010000); /* label 16, not bottom */
    put32(f + n + 4, 0x00011100 | 64);
    n += 8;
    n += put_ipv6(f + n, ip6_a, ip6_b, 17, 8 + 2);
    n += put_udp(f + n, 7, 8, 2);
    memcpy(f + n, "v6", 2);
    harness_feed(&h, 1, f, n + 2);
    cr_assert_eq(h.udp_count, 1);
    cr_assert_str_eq(h.last_payload, "v6");
    cr_assert_eq(h.last.src.family, 6);
    cr_assert_eq(counter(&h, "mpls"), 1);
    /* Stack that never reaches bottom-of-stack within the frame. */
    n = put_eth(f, 0x8847);
    put32(f + n, 0x00010000);
    harness_feed(&h, 2, f, n + 4);
    cr_assert_eq(counter(&h, "mpls_truncated"), 1);
    /* Bottom of stack followed by something that is not IP. */
    put32(f + n, 0x00010100);
    f[n + 4] = 0x90;
    harness_feed(&h, 3, f, n + 5);
    cr_assert_eq(counter(&h, "mpls_unsupported_payload"), 1);
    harness_stop(&h);
}

static size_t build_pppoe(uint8_t *b, uint16_t ppp_proto, size_t pppoe_len_adjust)
{
    size_t n = put_eth(b, 0x8864);
    b[n] = 0x11;
    b[n + 1] = 0;
    put16(b + n + 2, 0x1234);
    size_t ip_len = 20 + 8 + 4;
    put16(b + n + 4, (uint16_t)(2 + ip_len + pppoe_len_adjust));
    put16(b + n + 6, ppp_proto);
    n += 8;
    n += put_ipv4(b + n, ip4_a, ip4_b, 17, 1, 0, 8 + 4);
    n += put_udp(b + n, 5060, 5060, 4);
    memcpy(b + n, "SIP!", 4);
    return n + 4;
}

Test(decode_layers, pppoe_session_ipv4_and_bad_headers)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = build_pppoe(f, 0x0021, 0);
    harness_feed(&h, 1, f, n);
    cr_assert_eq(h.udp_count, 1);
    cr_assert_str_eq(h.last_payload, "SIP!");
    cr_assert_eq(counter(&h, "pppoe"), 1);
    /* Length beyond the frame, as a snap length leaves it: IP decides. */
    n = build_pppoe(f, 0x0021, 100);
    harness_feed(&h, 2, f, n);
    cr_assert_eq(counter(&h, "pppoe"), 2);
    cr_assert_eq(h.udp_count, 2);
    put16(f + 14 + 4, 1); /* shorter than the PPP protocol field */
    harness_feed(&h, 3, f, n);
    cr_assert_eq(counter(&h, "pppoe_bad"), 1);
    n = build_pppoe(f, 0xc021, 0); /* LCP */
    harness_feed(&h, 4, f, n);
    cr_assert_eq(counter(&h, "pppoe_unsupported_proto"), 1);
    harness_feed(&h, 5, f, 14 + 5);
    cr_assert_eq(counter(&h, "pppoe_bad"), 2);
    cr_assert_eq(h.udp_count, 2);
    harness_stop(&h);
}

static size_t build_ip4_udp_at(uint8_t *b, const char *payload)
{
    size_t len = strlen(payload);
    size_t n = put_ipv4(b, ip4_a, ip4_b, 17, 1, 0, 8 + len);
    n += put_udp(b + n, 5060, 5060, len);
    memcpy(b + n, payload, len);
    return n + len;
}

Test(decode_layers, linux_cooked_sll_and_sll2)
{
    struct harness h;
    harness_start(&h, NULL, 113);
    memset(f, 0, 16);
    put16(f + 14, 0x0800);
    size_t n = 16 + build_ip4_udp_at(f + 16, "sll");
    harness_feed(&h, 1, f, n);
    cr_assert_str_eq(h.last_payload, "sll");
    harness_feed(&h, 2, f, 10);
    cr_assert_eq(counter(&h, "sll_truncated"), 1);
    harness_stop(&h);

    harness_start(&h, NULL, 276);
    memset(f, 0, 20);
    put16(f, 0x0800);
    n = 20 + build_ip4_udp_at(f + 20, "sll2");
    harness_feed(&h, 1, f, n);
    cr_assert_str_eq(h.last_payload, "sll2");
    cr_assert_eq(counter(&h, "sll2"), 1);
    harness_feed(&h, 2, f, 19);
    cr_assert_eq(counter(&h, "sll_truncated"), 1);
    harness_stop(&h);
}

Test(decode_layers, raw_ip_link_types)
{
    int dlts[] = {12, 14, 101, 228};
    for (size_t i = 0; i < 4; i++) {
        struct harness h;
        harness_start(&h, NULL, dlts[i]);
        size_t n = build_ip4_udp_at(f, "raw");
        harness_feed(&h, 1, f, n);
        cr_assert_eq(h.udp_count, 1, "dlt %d", dlts[i]);
        harness_stop(&h);
    }
    struct harness h;
    harness_start(&h, NULL, 229);
    size_t n = put_ipv6(f, ip6_a, ip6_b, 17, 8 + 1);
    n += put_udp(f + n, 1, 2, 1);
    f[n++] = 'x';
    harness_feed(&h, 1, f, n);
    cr_assert_eq(h.udp_count, 1);
    harness_stop(&h);
    harness_start(&h, NULL, 101);
    f[0] = 0x55;
    harness_feed(&h, 1, f, 30);
    cr_assert_eq(counter(&h, "raw_bad_version"), 1);
    harness_stop(&h);
}

Test(decode_layers, bsd_null_and_loop_either_byte_order)
{
    uint32_t families[] = {2, 24, 28, 30};
    for (int dlt = 0; dlt <= 108; dlt += 108) {
        for (size_t i = 0; i < 4; i++) {
            for (int big_endian = 0; big_endian < 2; big_endian++) {
                struct harness h;
                harness_start(&h, NULL, dlt);
                uint32_t af = families[i];
                if (big_endian)
                    put32(f, af);
                else
                    f[0] = (uint8_t)af, f[1] = f[2] = f[3] = 0;
                size_t n = 4;
                if (af == 2) {
                    n += build_ip4_udp_at(f + 4, "null");
                } else {
                    n += put_ipv6(f + n, ip6_a, ip6_b, 17, 8 + 4);
                    n += put_udp(f + n, 1, 2, 4);
                    memcpy(f + n, "null", 4);
                    n += 4;
                }
                harness_feed(&h, 1, f, n);
                cr_assert_eq(h.udp_count, 1, "dlt %d af %u be %d", dlt, af, big_endian);
                cr_assert_str_eq(h.last_payload, "null");
                harness_stop(&h);
            }
        }
    }
    struct harness h;
    harness_start(&h, NULL, 0);
    put32(f, 7);
    harness_feed(&h, 1, f, 40);
    cr_assert_eq(counter(&h, "null_unsupported_family"), 1);
    harness_feed(&h, 2, f, 3);
    cr_assert_eq(counter(&h, "null_truncated"), 1);
    harness_stop(&h);
}

/* Outer Ethernet / IPv4 / GRE header with the given flags and protocol. */
static size_t build_gre_outer(uint8_t *b, uint16_t flags, uint16_t proto, size_t extra,
                              size_t inner_len)
{
    size_t gre_len = 4 + extra;
    size_t n = put_eth(b, 0x0800);
    n += put_ipv4(b + n, ip4_b, ip4_a, 47, 9, 0, gre_len + inner_len);
    put16(b + n, flags);
    put16(b + n + 2, proto);
    memset(b + n + 4, 0xab, extra);
    return n + gre_len;
}

static size_t build_inner_eth_udp(uint8_t *b, const char *payload)
{
    size_t n = put_eth(b, 0x0800);
    return n + build_ip4_udp_at(b + n, payload);
}

Test(decode_layers, gre_bridging_with_checksum_key_and_sequence)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    uint8_t inner[200];
    size_t inner_len = build_inner_eth_udp(inner, "gre");
    size_t n = build_gre_outer(f, 0xb000, 0x6558, 12, inner_len);
    memcpy(f + n, inner, inner_len);
    harness_feed(&h, 1, f, n + inner_len);
    cr_assert_eq(h.udp_count, 1);
    cr_assert_str_eq(h.last_payload, "gre");
    cr_assert_eq(h.last.tunnel_depth, 1);
    /* Inner addresses are reported, not the tunnel's. */
    cr_assert_eq(memcmp(h.last.src.bytes, ip4_a, 4), 0);
    cr_assert_eq(counter(&h, "gre"), 1);
    /* Flags promise a key that the frame does not hold. */
    n = build_gre_outer(f, 0x2000, 0x6558, 0, 0);
    harness_feed(&h, 2, f, n);
    cr_assert_eq(counter(&h, "gre_truncated"), 1);
    /* Version 1 (PPTP). */
    n = build_gre_outer(f, 0x0001, 0x880b, 0, 0);
    harness_feed(&h, 3, f, n);
    cr_assert_eq(counter(&h, "gre_unsupported"), 1);
    harness_stop(&h);
}

Test(decode_layers, erspan_type2_and_type3)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    uint8_t inner[200];
    size_t inner_len = build_inner_eth_udp(inner, "ers2");
    /* Type II: GRE with sequence number, 8-byte ERSPAN header version 1. */
    size_t n = build_gre_outer(f, 0x1000, 0x88be, 4 + 8, inner_len);
    f[n - 8] = 0x10;
    memcpy(f + n, inner, inner_len);
    harness_feed(&h, 1, f, n + inner_len);
    cr_assert_str_eq(h.last_payload, "ers2");
    cr_assert_eq(counter(&h, "erspan"), 1);
    /* Type III with the optional 8-byte subheader (O bit). */
    inner_len = build_inner_eth_udp(inner, "ers3");
    n = build_gre_outer(f, 0x1000, 0x22eb, 4 + 12 + 8, inner_len);
    memset(f + n - 20, 0, 20);
    f[n - 20] = 0x20;
    f[n - 20 + 11] = 0x01;
    memcpy(f + n, inner, inner_len);
    harness_feed(&h, 2, f, n + inner_len);
    cr_assert_str_eq(h.last_payload, "ers3");
    cr_assert_eq(counter(&h, "erspan"), 2);
    /* Wrong version in a type II header. */
    n = build_gre_outer(f, 0x1000, 0x88be, 4 + 8, inner_len);
    f[n - 8] = 0x70;
    memcpy(f + n, inner, inner_len);
    harness_feed(&h, 3, f, n + inner_len);
    cr_assert_eq(counter(&h, "erspan_bad_version"), 1);
    cr_assert_eq(h.udp_count, 2);
    harness_stop(&h);
}

Test(decode_layers, vxlan_is_decapsulated)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    uint8_t inner[200];
    size_t inner_len = build_inner_eth_udp(inner, "vx");
    uint8_t vx[300];
    memset(vx, 0, 8);
    vx[0] = 0x08;
    memcpy(vx + 8, inner, inner_len);
    size_t n = build_udp4(f, 40000, 4789, vx, 8 + inner_len);
    harness_feed(&h, 1, f, n);
    cr_assert_eq(h.udp_count, 1, "only the inner datagram is handed up");
    cr_assert_str_eq(h.last_payload, "vx");
    cr_assert_eq(h.last.dport, 5060);
    cr_assert_eq(h.last.tunnel_depth, 1);
    cr_assert_eq(counter(&h, "vxlan"), 1);
    vx[0] = 0;
    n = build_udp4(f, 40000, 4789, vx, 8 + inner_len);
    harness_feed(&h, 2, f, n);
    cr_assert_eq(counter(&h, "vxlan_bad"), 1);
    harness_stop(&h);
}

Test(decode_layers, ip_in_ip_and_ipv6_in_ip)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_b, ip4_a, 4, 1, 0, 20 + 8 + 4);
    n += build_ip4_udp_at(f + n, "ipip");
    harness_feed(&h, 1, f, n);
    cr_assert_str_eq(h.last_payload, "ipip");
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_b, ip4_a, 41, 1, 0, 40 + 8 + 3);
    n += put_ipv6(f + n, ip6_a, ip6_b, 17, 8 + 3);
    n += put_udp(f + n, 1, 2, 3);
    memcpy(f + n, "6in4", 3);
    harness_feed(&h, 2, f, n + 3);
    cr_assert_eq(h.udp_count, 2);
    cr_assert_eq(h.last.src.family, 6);
    cr_assert_eq(counter(&h, "ipip"), 2);
    harness_stop(&h);
}

Test(decode_layers, tunnel_nesting_is_bounded)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    cfg.tunnel_max_depth = 3;
    struct harness h;
    harness_start(&h, &cfg, DLT_ETH);
    /* Ten IPv4-in-IPv4 layers. */
    size_t n = put_eth(f, 0x0800);
    size_t layers = 10, inner = 20 + 8 + 4;
    for (size_t i = 0; i < layers; i++)
        n += put_ipv4(f + n, ip4_b, ip4_a, 4, 1, 0, (layers - i - 1) * 20 + inner);
    n += build_ip4_udp_at(f + n, "deep");
    harness_feed(&h, 1, f, n);
    cr_assert_eq(h.udp_count, 0);
    cr_assert_eq(counter(&h, "tunnel_too_deep"), 1);
    cr_assert_eq(counter(&h, "ipip"), 3);
    harness_stop(&h);
}

Test(decode_layers, ipv4_malformed_headers_are_counted)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = build_udp4(f, 1, 2, "x", 1);
    harness_feed(&h, 1, f, 10);
    cr_assert_eq(counter(&h, "eth_truncated"), 1);
    harness_feed(&h, 2, f, 14 + 10);
    cr_assert_eq(counter(&h, "ipv4_truncated"), 1);
    f[14] = 0x55;
    harness_feed(&h, 3, f, n);
    cr_assert_eq(counter(&h, "ipv4_bad_version"), 1);
    f[14] = 0x65;
    harness_feed(&h, 4, f, n);
    cr_assert_eq(counter(&h, "ipv4_bad_version"), 2);
    harness_stop(&h);

    harness_start(&h, NULL, DLT_ETH);
    n = build_udp4(f, 1, 2, "x", 1);
    f[14] = 0x43;
    harness_feed(&h, 1, f, n);
    cr_assert_eq(counter(&h, "ipv4_bad_ihl"), 1);
    f[14] = 0x4f; /* 60-byte header in a 29-byte datagram */
    harness_feed(&h, 2, f, n);
    cr_assert_eq(counter(&h, "ipv4_bad_ihl"), 2);
    f[14] = 0x45;
    put16(f + 16, 200); /* total length beyond the capture: followed as far as it goes */
    harness_feed(&h, 3, f, n);
    cr_assert_eq(counter(&h, "truncated"), 1);
    cr_assert_eq(counter(&h, "ipv4_bad_length"), 0);
    /* The UDP length fits what was captured: that datagram is whole. */
    cr_assert_eq(h.udp_count, 1);
    cr_assert_not(h.last.truncated);
    put16(f + 16, 10); /* shorter than the header */
    harness_feed(&h, 4, f, n);
    cr_assert_eq(counter(&h, "ipv4_bad_length"), 1);
    cr_assert_eq(h.udp_count, 1);
    put16(f + 16, 0); /* TSO: length taken from the capture */
    harness_feed(&h, 5, f, n);
    cr_assert_eq(counter(&h, "ipv4_tso_length"), 1);
    cr_assert_eq(h.udp_count, 2);
    harness_stop(&h);
}

Test(decode_layers, snapped_frames_decode_as_far_as_captured)
{
    /* RTP of 172 bytes with a snap length keeping 16 of them (captagent's
     * RTP profile): the RTP header is there and must reach the handler,
     * marked truncated; the UDP length past the capture is no error. */
    uint8_t rtp[172] = {0x80, 0x08, 0x01, 0x02};
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = build_udp4(f, 4000, 4002, rtp, sizeof(rtp));
    size_t cap = 14 + 20 + 8 + 16;
    harness_feed_snapped(&h, 1, f, cap, n);
    cr_assert_eq(h.udp_count, 1);
    cr_assert(h.last.truncated);
    cr_assert_eq(h.last.payload_len, 16);
    cr_assert_eq(h.last.sport, 4000);
    cr_assert_eq(counter(&h, "truncated"), 1);
    cr_assert_eq(counter(&h, "ipv4_bad_length"), 0);
    cr_assert_eq(counter(&h, "udp_bad_length"), 0);
    /* The same over IPv6. */
    n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 17, 8 + sizeof(rtp));
    n += put_udp(f + n, 4000, 4002, sizeof(rtp));
    memcpy(f + n, rtp, sizeof(rtp));
    n += sizeof(rtp);
    cap = 14 + 40 + 8 + 12;
    harness_feed_snapped(&h, 2, f, cap, n);
    cr_assert_eq(h.udp_count, 2);
    cr_assert(h.last.truncated);
    cr_assert_eq(h.last.payload_len, 12);
    cr_assert_eq(h.last.src.family, 6);
    cr_assert_eq(counter(&h, "truncated"), 2);
    cr_assert_eq(counter(&h, "ipv6_bad_length"), 0);
    /* Cut inside the UDP header: nothing to hand over. */
    harness_feed_snapped(&h, 3, f, 14 + 40 + 6, n);
    cr_assert_eq(h.udp_count, 2);
    cr_assert_eq(counter(&h, "udp_truncated"), 1);
    /* A TCP segment cut short counts as TCP but stays out of its stream. */
    n = build_tcp4(f, A_SIDE, 1, 0x18, "REGISTER sip:x SIP/2.0\r\nVia: a\r\n\r\n");
    harness_feed_snapped(&h, 4, f, 14 + 20 + 20 + 10, n);
    cr_assert_eq(counter(&h, "tcp"), 1);
    cr_assert_eq(counter(&h, "tcp_segment_truncated"), 1);
    cr_assert_eq(h.tcp_calls, 0);
    /* Cut inside the TCP header. */
    harness_feed_snapped(&h, 5, f, 14 + 20 + 10, n);
    cr_assert_eq(counter(&h, "tcp_truncated"), 1);
    cr_assert_eq(counter(&h, "tcp_bad_offset"), 0);
    cr_assert_eq(counter(&h, "truncated"), 5);
    harness_stop(&h);
}

Test(decode_layers, ipv4_options_are_skipped)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = put_eth(f, 0x0800);
    put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 0);
    f[n] = 0x46;
    put16(f + n + 2, 24 + 8 + 3);
    memset(f + n + 20, 1, 4); /* NOP options */
    n += 24;
    n += put_udp(f + n, 1, 2, 3);
    memcpy(f + n, "opt", 3);
    harness_feed(&h, 1, f, n + 3);
    cr_assert_str_eq(h.last_payload, "opt");
    harness_stop(&h);
}

Test(decode_layers, ipv6_extension_headers_and_bounds)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    /* Hop-by-hop (8 bytes), destination options (16 bytes), then UDP. */
    size_t n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 0, 8 + 16 + 8 + 3);
    memset(f + n, 0, 24);
    f[n] = 60;
    f[n + 8] = 17;
    f[n + 9] = 1;
    n += 24;
    n += put_udp(f + n, 1, 2, 3);
    memcpy(f + n, "ext", 3);
    harness_feed(&h, 1, f, n + 3);
    cr_assert_str_eq(h.last_payload, "ext");
    /* A chain of 9 destination options headers. */
    n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 60, 9 * 8 + 8);
    for (int i = 0; i < 9; i++, n += 8) {
        memset(f + n, 0, 8);
        f[n] = i == 8 ? 17 : 60;
    }
    n += put_udp(f + n, 1, 2, 0);
    harness_feed(&h, 2, f, n);
    cr_assert_eq(counter(&h, "ipv6_ext_chain_too_long"), 1);
    /* Extension header longer than the payload. */
    n = put_eth(f, 0x86dd);
    n += put_ipv6(f + n, ip6_a, ip6_b, 43, 8);
    memset(f + n, 0, 8);
    f[n + 1] = 4;
    harness_feed(&h, 3, f, n + 8);
    cr_assert_eq(counter(&h, "ipv6_ext_truncated"), 1);
    /* Truncated header, payload length past the capture. */
    harness_feed(&h, 4, f, 14 + 30);
    cr_assert_eq(counter(&h, "ipv6_truncated"), 1);
    put16(f + 14 + 4, 500); /* past the capture: followed as far as it goes */
    harness_feed(&h, 5, f, n + 8);
    cr_assert_eq(counter(&h, "truncated"), 1);
    cr_assert_eq(counter(&h, "ipv6_ext_truncated"), 2);
    put16(f + 14 + 4, 0); /* a jumbogram's 0 */
    harness_feed(&h, 6, f, n + 8);
    cr_assert_eq(counter(&h, "ipv6_bad_length"), 1);
    cr_assert_eq(h.udp_count, 1);
    harness_stop(&h);
}

Test(decode_layers, udp_lengths_and_unsupported_cases)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    size_t n = build_udp4(f, 1, 2, "abcd", 4);
    put16(f + 14 + 20 + 4, 7); /* shorter than the header */
    harness_feed(&h, 1, f, n);
    put16(f + 14 + 20 + 4, 100); /* past the IP payload */
    harness_feed(&h, 2, f, n);
    cr_assert_eq(counter(&h, "udp_bad_length"), 2);
    put16(f + 14 + 20 + 4, 10); /* shorter than the IP payload: trimmed */
    harness_feed(&h, 3, f, n);
    cr_assert_eq(h.udp_count, 1);
    cr_assert_str_eq(h.last_payload, "ab");
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 17, 1, 0, 4);
    harness_feed(&h, 4, f, n + 4);
    cr_assert_eq(counter(&h, "udp_truncated"), 1);
    put_eth(f, 0x88cc); /* LLDP */
    harness_feed(&h, 5, f, 60);
    cr_assert_eq(counter(&h, "unsupported_ethertype"), 1);
    put_eth(f, 0x0026); /* 802.3 length */
    harness_feed(&h, 6, f, 60);
    cr_assert_eq(counter(&h, "eth_llc"), 1);
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 132, 1, 0, 12);
    harness_feed(&h, 7, f, n + 12);
    cr_assert_eq(counter(&h, "sctp"), 1);
    n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 99, 1, 0, 12);
    harness_feed(&h, 8, f, n + 12);
    cr_assert_eq(counter(&h, "unsupported_ip_proto"), 1);
    cr_assert_eq(counter(&h, "frames"), 8);
    harness_stop(&h);
}

Test(decode_layers, unsupported_link_type_is_refused)
{
    struct counters c;
    counters_init(&c);
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    struct decode_handlers h = {0};
    struct decoder *d = decoder_new(&cfg, &c, &h);
    cr_assert_eq(decoder_set_linktype(d, 105), -1); /* 802.11 */
    uint8_t frame[64] = {0};
    decoder_process(d, 1, frame, sizeof(frame), sizeof(frame));
    cr_assert_eq(counters_get(&c, "decode.unsupported_link"), 1);
    decoder_free(d);
}

Test(decode_layers, every_truncation_of_a_tunnelled_frame_is_safe)
{
    /* VLAN / IPv4 / GRE+key / Ethernet / IPv4 / UDP cut at every length:
     * nothing may be read past the end (ASan) and no datagram delivered
     * except for the whole frame. */
    uint8_t inner[200];
    size_t inner_len = build_inner_eth_udp(inner, "cut");
    size_t n = build_gre_outer(f, 0x2000, 0x6558, 4, inner_len);
    memcpy(f + n, inner, inner_len);
    n += inner_len;
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    /* Once the inner UDP header is captured the datagram is delivered as
     * far as it goes, marked truncated: the 3 cuts inside "cut". */
    for (size_t len = 0; len < n; len++) {
        int before = h.udp_count;
        harness_feed(&h, len + 1, f, len);
        if (h.udp_count != before) {
            cr_assert(h.last.truncated, "cut at %zu not marked truncated", len);
            cr_assert_eq(h.last.payload_len, len - (n - 3));
        }
    }
    cr_assert_eq(h.udp_count, 3);
    harness_feed(&h, n + 1, f, n);
    cr_assert_eq(h.udp_count, 4);
    cr_assert_not(h.last.truncated);
    harness_stop(&h);
}

Test(decode_layers, random_mutations_of_valid_frames_are_safe)
{
    /* Flip random bytes of a tunnelled frame and of a fragment / TCP frame,
     * on every link type: under ASan/UBSan this finds reads past the end and
     * arithmetic on hostile lengths. Fixed seed: the run is reproducible. */
    uint8_t inner[200];
    size_t inner_len = build_inner_eth_udp(inner, "mutate me");
    uint8_t base[3][512];
    size_t base_len[3];
    base_len[0] = build_gre_outer(base[0], 0x3000, 0x6558, 8, inner_len);
    memcpy(base[0] + base_len[0], inner, inner_len);
    base_len[0] += inner_len;
    base_len[1] = build_tcp4(base[1], A_SIDE, 1, 0x18, "REGISTER sip:x SIP/2.0\r\n\r\n");
    base_len[2] = put_eth(base[2], 0x86dd);
    base_len[2] += put_ipv6(base[2] + base_len[2], ip6_a, ip6_b, 44, 8 + 16);
    memset(base[2] + base_len[2], 0, 24);
    base[2][base_len[2]] = 17;
    base[2][base_len[2] + 3] = 1;
    base_len[2] += 24;
    int dlts[] = {1, 0, 12, 113, 276};
    unsigned seed = 12345;
    for (size_t k = 0; k < sizeof(dlts) / sizeof(dlts[0]); k++) {
        struct harness h;
        harness_start(&h, NULL, dlts[k]);
        for (int iter = 0; iter < 4000; iter++) {
            size_t which = (size_t)iter % 3;
            /* Raw IP starts at the IP header; the other link types read
             * the Ethernet bytes as their own header, which is fine here. */
            size_t skip = dlts[k] == 12 ? 14 : 0;
            memcpy(f, base[which] + skip, base_len[which] - skip);
            size_t len = base_len[which] - skip;
            int flips = 1 + (int)(rand_r(&seed) % 4);
            for (int i = 0; i < flips; i++)
                f[rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
            size_t cut = len - rand_r(&seed) % (len / 4 + 1);
            harness_feed(&h, (uint64_t)iter * 1000, f, cut);
        }
        cr_assert_eq(counter(&h, "frames"), 4000);
        harness_stop(&h);
    }
}

/*
 * The HEP codec (decoders/hep.h): the encoder against the HEP3
 * specification's worked example byte for byte, the default chunk layout
 * against the fixed struct sngrep and hep-c read, round trips, HEPv1/v2,
 * stream framing, the RTCP JSON report, and hostile input: every way a
 * message can lie about its lengths is refused with its own error, every
 * cut and every single-byte corruption of a valid message is decoded
 * without reading past it (ASan build) and never accepted as something
 * longer than what is there.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/hep.h"
#include "outputs/hep.h"

/* The specification's example (HEP3 Network Protocol Specification, the
 * "start of a SIP message" dump): IPv4 UDP 212.202.0.1:12010 ->
 * 82.116.0.211:5060, 0x4e4982cb s + 120000 us, SIP, capture id 228,
 * payload "INVITE sip:bob", total length 0x71. */
static const uint8_t spec_example[] = {
    0x48, 0x45, 0x50, 0x33, 0x00, 0x71,                         /* HEP3, 113 bytes */
    0x00, 0x00, 0x00, 0x01, 0x00, 0x07, 0x02,                   /* family IPv4 */
    0x00, 0x00, 0x00, 0x02, 0x00, 0x07, 0x11,                   /* protocol UDP */
    0x00, 0x00, 0x00, 0x03, 0x00, 0x0a, 0xd4, 0xca, 0x00, 0x01, /* 212.202.0.1 */
    0x00, 0x00, 0x00, 0x04, 0x00, 0x0a, 0x52, 0x74, 0x00, 0xd3, /* 82.116.0.211 */
    0x00, 0x00, 0x00, 0x07, 0x00, 0x08, 0x2e, 0xea,             /* 12010 */
    0x00, 0x00, 0x00, 0x08, 0x00, 0x08, 0x13, 0xc4,             /* 5060 */
    0x00, 0x00, 0x00, 0x09, 0x00, 0x0a, 0x4e, 0x49, 0x82, 0xcb, /* seconds */
    0x00, 0x00, 0x00, 0x0a, 0x00, 0x0a, 0x00, 0x01, 0xd4, 0xc0, /* 120000 us */
    0x00, 0x00, 0x00, 0x0b, 0x00, 0x07, 0x01,                   /* SIP */
    0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x00, 0x00, 0xe4, /* capture id 228 */
    0x00, 0x00, 0x00, 0x0f, 0x00, 0x14, 'I',  'N',  'V',  'I',
    'T',  'E',  ' ',  's',  'i',  'p',  ':',  'b',  'o',  'b'};

static struct hep_message spec_message(void)
{
    static const uint8_t src[4] = {212, 202, 0, 1}, dst[4] = {82, 116, 0, 211};
    struct hep_message m = {0};
    m.ip_proto = 17;
    net_addr_set_v4(&m.src, src);
    net_addr_set_v4(&m.dst, dst);
    m.sport = 12010;
    m.dport = 5060;
    m.ts_sec = 0x4e4982cb;
    m.ts_usec = 120000;
    m.proto_type = HEP_PROTO_SIP;
    m.capture_id = 228;
    m.payload = (const uint8_t *)"INVITE sip:bob";
    m.payload_len = 14;
    return m;
}

Test(hep_encode, spec_worked_example_byte_for_byte)
{
    struct hep_message m = spec_message();
    uint8_t out[256];
    size_t n = hep_encode(&m, HEP_ORDER_SPEC, out, sizeof(out));
    cr_assert_eq(n, sizeof(spec_example), "length %zu, want %zu", n, sizeof(spec_example));
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(out[i], spec_example[i], "byte %zu: %02x, want %02x", i, out[i],
                     spec_example[i]);
}

Test(hep_decode, spec_worked_example)
{
    struct hep_message m;
    cr_assert_eq(hep_decode(spec_example, sizeof(spec_example), &m), HEP_OK);
    struct hep_message want = spec_message();
    cr_assert_eq(m.version, 3);
    cr_assert(net_addr_equal(&m.src, &want.src) && net_addr_equal(&m.dst, &want.dst));
    cr_assert_eq(m.sport, 12010);
    cr_assert_eq(m.dport, 5060);
    cr_assert_eq(m.ts_sec, 0x4e4982cbu);
    cr_assert_eq(m.ts_usec, 120000u);
    cr_assert_eq(m.proto_type, 1);
    cr_assert(m.has_capture_id);
    cr_assert_eq(m.capture_id, 228u);
    cr_assert_eq(m.payload_len, 14);
    cr_assert(memcmp(m.payload, "INVITE sip:bob", 14) == 0);
    cr_assert_eq(m.unknown_chunks, 0);
}

/* sngrep (<= 1.x) and hep-c copy a fixed struct and stop at the payload:
 * family, protocol, ports, times, type, capture id, addresses, payload. */
Test(hep_encode, default_order_is_the_fixed_header_layout)
{
    struct hep_message m = spec_message();
    m.correlation_id = (const uint8_t *)"abc@host";
    m.correlation_id_len = 8;
    m.node_name = (const uint8_t *)"tap1";
    m.node_name_len = 4;
    uint8_t out[256];
    size_t n = hep_encode(&m, HEP_ORDER_FIXED_HEADER, out, sizeof(out));
    cr_assert_eq(n, sizeof(spec_example) + 14 + 10);
    static const uint16_t types[] = {0x01, 0x02, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                     0x0c, 0x03, 0x04, 0x0f, 0x11, 0x13};
    size_t off = 6;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        cr_assert_eq(out[off] << 8 | out[off + 1], 0, "vendor of chunk %zu", i);
        cr_assert_eq(out[off + 2] << 8 | out[off + 3], types[i], "chunk %zu is %#x, want %#x", i,
                     out[off + 2] << 8 | out[off + 3], types[i]);
        off += (size_t)(out[off + 4] << 8 | out[off + 5]);
    }
    cr_assert_eq(off, n);
    /* The fixed struct is 73 bytes; the addresses follow it. */
    cr_assert_eq(out[73 + 3], 0x03);
    /* The same chunks as the specification's order otherwise. */
    struct hep_message a, b;
    uint8_t spec[256];
    size_t ns = hep_encode(&m, HEP_ORDER_SPEC, spec, sizeof(spec));
    cr_assert_eq(ns, n);
    cr_assert_eq(hep_decode(out, n, &a), HEP_OK);
    cr_assert_eq(hep_decode(spec, ns, &b), HEP_OK);
    cr_assert_eq(a.correlation_id_len, 8);
    cr_assert(memcmp(a.correlation_id, "abc@host", 8) == 0);
    cr_assert_eq(a.node_name_len, 4);
    cr_assert(memcmp(b.node_name, "tap1", 4) == 0);
    cr_assert_eq(a.sport, b.sport);
    cr_assert_eq(a.ts_usec, b.ts_usec);
}

Test(hep_encode, ipv6_round_trip_with_key)
{
    struct hep_message m = {0};
    cr_assert(net_addr_parse(&m.src, "2001:db8::1"));
    cr_assert(net_addr_parse(&m.dst, "2001:db8::2"));
    m.ip_proto = 6;
    m.sport = 5061;
    m.dport = 5062;
    m.ts_sec = 1700000000;
    m.ts_usec = 999999;
    m.proto_type = HEP_PROTO_LOG;
    m.capture_id = 0xfffffffe;
    m.auth_key = (const uint8_t *)"secret";
    m.auth_key_len = 6;
    m.payload = (const uint8_t *)"{\"x\":1}";
    m.payload_len = 7;
    uint8_t out[256];
    size_t n = hep_encode(&m, HEP_ORDER_FIXED_HEADER, out, sizeof(out));
    cr_assert_gt(n, 0);
    struct hep_message d;
    cr_assert_eq(hep_decode(out, n, &d), HEP_OK);
    cr_assert(net_addr_equal(&d.src, &m.src) && net_addr_equal(&d.dst, &m.dst));
    cr_assert_eq(d.ip_proto, 6);
    cr_assert_eq(d.capture_id, 0xfffffffeu);
    cr_assert_eq(d.proto_type, 100);
    cr_assert_eq(d.auth_key_len, 6);
    cr_assert(memcmp(d.auth_key, "secret", 6) == 0);
    cr_assert_eq(d.ts_usec, 999999u);
}

Test(hep_encode, refuses_what_does_not_fit)
{
    struct hep_message m = spec_message();
    uint8_t out[256];
    cr_assert_eq(hep_encode(&m, HEP_ORDER_SPEC, out, sizeof(spec_example) - 1), 0);
    cr_assert_eq(hep_encode(&m, HEP_ORDER_SPEC, out, 3), 0);
    static uint8_t big[70000], huge[70000];
    m.payload = big;
    m.payload_len = 65535 - 99 + 1; /* one byte over the 16-bit total */
    cr_assert_eq(hep_encode(&m, HEP_ORDER_SPEC, huge, sizeof(huge)), 0);
    m.payload_len--;
    cr_assert_eq(hep_encode(&m, HEP_ORDER_SPEC, huge, sizeof(huge)), 65535);
    struct hep_message bad = spec_message();
    cr_assert(net_addr_parse(&bad.dst, "::1"));
    cr_assert_eq(hep_encode(&bad, HEP_ORDER_SPEC, out, sizeof(out)), 0, "mixed families");
}

/* ---- hostile input ------------------------------------------------------------ */

static enum hep_error decode_copy(const uint8_t *b, size_t n)
{
    /* A heap copy of exactly n bytes: ASan sees any read past it. */
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, b, n);
    struct hep_message m;
    enum hep_error e = hep_decode(copy, n, &m);
    if (e == HEP_OK) {
        cr_assert_leq(m.payload + m.payload_len, copy + n);
        cr_assert_geq(m.payload, copy);
    }
    free(copy);
    return e;
}

static void set16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

Test(hep_decode, lengths_that_lie)
{
    uint8_t b[sizeof(spec_example)];
    memcpy(b, spec_example, sizeof(b));
    set16(b + 4, sizeof(b) + 1); /* total past the datagram */
    cr_assert_eq(decode_copy(b, sizeof(b)), HEP_ERR_bad_length);
    set16(b + 4, 5); /* total shorter than the header */
    cr_assert_eq(decode_copy(b, sizeof(b)), HEP_ERR_bad_length);
    set16(b + 4, 6 + 7 + 3); /* ends inside a chunk header */
    cr_assert_eq(decode_copy(b, sizeof(b)), HEP_ERR_chunk_truncated);
    memcpy(b, spec_example, sizeof(b));
    set16(b + 6 + 4, 5); /* a chunk shorter than its header */
    cr_assert_eq(decode_copy(b, sizeof(b)), HEP_ERR_chunk_bad_length);
    memcpy(b, spec_example, sizeof(b));
    set16(b + sizeof(b) - 20 + 4, 21); /* the payload chunk claims a byte more */
    cr_assert_eq(decode_copy(b, sizeof(b)), HEP_ERR_chunk_bad_length);
    memcpy(b, spec_example, sizeof(b));
    set16(b + sizeof(b) - 20 + 4, 0xffff);
    cr_assert_eq(decode_copy(b, sizeof(b)), HEP_ERR_chunk_bad_length);
    /* A total shorter than the datagram: only that much is a message. */
    memcpy(b, spec_example, sizeof(b));
    set16(b + 4, sizeof(b) - 20);
    cr_assert_eq(decode_copy(b, sizeof(b)), HEP_ERR_missing_chunk);
}

Test(hep_decode, wrong_sizes_families_and_missing_chunks)
{
    uint8_t b[sizeof(spec_example) + 16];
    memcpy(b, spec_example, sizeof(spec_example));
    b[12] = 7; /* family 7 */
    cr_assert_eq(decode_copy(b, sizeof(spec_example)), HEP_ERR_bad_family);
    memcpy(b, spec_example, sizeof(spec_example));
    b[12] = 10; /* says IPv6, carries IPv4 addresses */
    cr_assert_eq(decode_copy(b, sizeof(spec_example)), HEP_ERR_address_mismatch);
    /* A 5-byte IPv4 address chunk: move everything after it by one. */
    memcpy(b, spec_example, 20);
    memcpy(b + 20, spec_example + 20, 10);
    set16(b + 20 + 4, 11);
    b[30] = 0;
    memcpy(b + 31, spec_example + 30, sizeof(spec_example) - 30);
    set16(b + 4, sizeof(spec_example) + 1);
    cr_assert_eq(decode_copy(b, sizeof(spec_example) + 1), HEP_ERR_chunk_bad_size);
    /* The payload chunk made gzip (0x10): not decompressed, counted. */
    memcpy(b, spec_example, sizeof(spec_example));
    b[sizeof(spec_example) - 20 + 3] = 0x10;
    cr_assert_eq(decode_copy(b, sizeof(spec_example)), HEP_ERR_compressed_payload);
    /* No payload at all. */
    memcpy(b, spec_example, sizeof(spec_example));
    set16(b + 4, sizeof(spec_example) - 20);
    cr_assert_eq(decode_copy(b, sizeof(spec_example) - 20), HEP_ERR_missing_chunk);
    /* Not HEP. */
    cr_assert_eq(decode_copy((const uint8_t *)"HEP2xxxxxxx", 11), HEP_ERR_bad_version);
    cr_assert_eq(decode_copy((const uint8_t *)"INVITE sip:", 11), HEP_ERR_bad_version);
    cr_assert_eq(decode_copy((const uint8_t *)"HEP", 3), HEP_ERR_truncated);
    cr_assert_eq(decode_copy((const uint8_t *)"", 0), HEP_ERR_truncated);
}

Test(hep_decode, unknown_vendors_and_types_are_skipped)
{
    /* The example with three chunks inserted before the payload: vendor 2
     * (Kamailio) type 1, vendor 0 type 0x99, vendor 0xffff empty. */
    uint8_t b[sizeof(spec_example) + 8 + 9 + 6];
    size_t head = sizeof(spec_example) - 20, off = head;
    memcpy(b, spec_example, head);
    const uint8_t extra[] = {0x00, 0x02, 0x00, 0x01, 0x00, 0x08, 0xaa, 0xbb, 0x00, 0x00, 0x00, 0x99,
                             0x00, 0x09, 1,    2,    3,    0xff, 0xff, 0x00, 0x00, 0x00, 0x06};
    memcpy(b + off, extra, sizeof(extra));
    off += sizeof(extra);
    memcpy(b + off, spec_example + head, 20);
    off += 20;
    cr_assert_eq(off, sizeof(b));
    set16(b + 4, (uint16_t)off);
    struct hep_message m;
    cr_assert_eq(hep_decode(b, off, &m), HEP_OK);
    cr_assert_eq(m.unknown_chunks, 3);
    cr_assert_eq(m.payload_len, 14);
    cr_assert(memcmp(m.payload, "INVITE sip:bob", 14) == 0);
}

Test(hep_decode, every_cut_and_every_byte_flip_is_safe)
{
    /* Each prefix: refused (the total says more than there is). */
    for (size_t n = 0; n < sizeof(spec_example); n++)
        cr_assert_neq(decode_copy(spec_example, n), HEP_OK, "prefix of %zu accepted", n);
    /* Each byte set to each of a few values: whatever it decodes to lies
     * within the bytes given (decode_copy checks), and nothing crashes. */
    static const uint8_t values[] = {0x00, 0x01, 0x05, 0x06, 0x07, 0x7f, 0x80, 0xfe, 0xff};
    uint8_t b[sizeof(spec_example)];
    for (size_t i = 0; i < sizeof(b); i++)
        for (size_t v = 0; v < sizeof(values); v++) {
            memcpy(b, spec_example, sizeof(b));
            b[i] = values[v];
            decode_copy(b, sizeof(b));
        }
}

/* ---- v1 / v2 ------------------------------------------------------------------- */

static size_t v2_message(uint8_t *b, int version, bool little)
{
    size_t off = 0;
    b[off++] = (uint8_t)version;
    b[off++] = 16;
    b[off++] = 2;  /* AF_INET */
    b[off++] = 17; /* UDP */
    set16(b + off, 5060);
    set16(b + off + 2, 5080);
    off += 4;
    const uint8_t addrs[8] = {10, 0, 0, 1, 10, 0, 0, 2};
    memcpy(b + off, addrs, 8);
    off += 8;
    if (version == 2) {
        uint32_t sec = 1700000000, usec = 250000;
        uint16_t id = 2001;
        for (int i = 0; i < 4; i++) {
            b[off + i] = (uint8_t)(little ? sec >> (8 * i) : sec >> (24 - 8 * i));
            b[off + 4 + i] = (uint8_t)(little ? usec >> (8 * i) : usec >> (24 - 8 * i));
        }
        b[off + 8] = (uint8_t)(little ? id : id >> 8);
        b[off + 9] = (uint8_t)(little ? id >> 8 : id);
        b[off + 10] = b[off + 11] = 0;
        off += 12;
    }
    memcpy(b + off, "OPTIONS sip:a SIP/2.0\r\n\r\n", 25);
    return off + 25;
}

Test(hep_decode, v2_in_either_byte_order_and_v1)
{
    uint8_t b[128];
    for (int little = 0; little < 2; little++) {
        size_t n = v2_message(b, 2, little);
        struct hep_message m;
        cr_assert_eq(hep_decode(b, n, &m), HEP_OK);
        cr_assert_eq(m.version, 2);
        cr_assert_eq(m.sport, 5060);
        cr_assert_eq(m.dport, 5080);
        cr_assert_eq(m.ts_sec, 1700000000u, "little=%d: %u", little, m.ts_sec);
        cr_assert_eq(m.ts_usec, 250000u);
        cr_assert_eq(m.capture_id, 2001u);
        cr_assert_eq(m.payload_len, 25);
        char ip[64];
        cr_assert_str_eq(net_addr_format(&m.dst, ip, sizeof(ip)), "10.0.0.2");
        /* Every cut: refused, never read past. */
        for (size_t k = 0; k < 8 + 8 + 12 + 1; k++)
            cr_assert_neq(decode_copy(b, k), HEP_OK, "v2 prefix %zu accepted", k);
    }
    size_t n = v2_message(b, 1, true);
    struct hep_message m;
    cr_assert_eq(hep_decode(b, n, &m), HEP_OK);
    cr_assert_eq(m.version, 1);
    cr_assert(!m.has_time);
    b[2] = 9;
    cr_assert_eq(decode_copy(b, n), HEP_ERR_bad_family);
    cr_assert_eq(decode_copy(b, 7), HEP_ERR_v2_truncated);
}

/* ---- framing ------------------------------------------------------------------- */

Test(hep_frame, messages_back_to_back_and_resync)
{
    uint8_t stream[3 * sizeof(spec_example) + 5];
    memcpy(stream, spec_example, sizeof(spec_example));
    memcpy(stream + sizeof(spec_example), "junk!", 5);
    memcpy(stream + sizeof(spec_example) + 5, spec_example, sizeof(spec_example));
    size_t n;
    cr_assert_eq(hep_frame(stream, sizeof(stream), &n), HEP_FRAME_OK);
    cr_assert_eq(n, sizeof(spec_example));
    const uint8_t *junk = stream + n;
    cr_assert_eq(hep_frame(junk, 30, &n), HEP_FRAME_BAD);
    cr_assert_eq(hep_find_magic(junk, 30), 5);
    cr_assert_eq(hep_frame(spec_example, 3, &n), HEP_FRAME_MORE);
    cr_assert_eq(hep_frame(spec_example, 50, &n), HEP_FRAME_MORE);
    /* A cut magic at the end is kept for the next read. */
    cr_assert_eq(hep_find_magic((const uint8_t *)"xxHE", 4), 2);
    cr_assert_eq(hep_find_magic((const uint8_t *)"xxxx", 4), 4);
    uint8_t zero[6] = {'H', 'E', 'P', '3', 0, 2};
    cr_assert_eq(hep_frame(zero, 6, &n), HEP_FRAME_BAD);
}

Test(hep_peek, proto_type_of_a_cut_message)
{
    struct hep_message m = spec_message();
    m.proto_type = HEP_PROTO_RTCP;
    uint8_t out[256];
    size_t n = hep_encode(&m, HEP_ORDER_FIXED_HEADER, out, sizeof(out));
    cr_assert_eq(hep_peek_proto_type(out, n), HEP_PROTO_RTCP);
    cr_assert_eq(hep_peek_proto_type(out, 70), HEP_PROTO_RTCP, "the type is in the first 70");
    cr_assert_eq(hep_peek_proto_type(out, 60), 0);
    cr_assert_str_eq(hep_error_name(HEP_ERR_chunk_bad_length), "chunk_bad_length");
}

/* ---- RTCP as heplify's JSON ------------------------------------------------------- */

Test(hep_rtcp, sender_report_as_json)
{
    /* SR, one report block, then an SDES that is not described. */
    uint8_t p[] = {0x81, 200,  0x00, 0x0c, 0x11, 0x22, 0x33, 0x44, 0xe0, 0x00, 0x00, 0x00,
                   0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x0a,
                   0x00, 0x00, 0x06, 0x40, 0x55, 0x66, 0x77, 0x88, 0x19, 0xff, 0xff, 0xfe,
                   0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01,
                   0x00, 0x00, 0x00, 0x02, 0x81, 202,  0x00, 0x01, 0x11, 0x22, 0x33, 0x44};
    char out[1024];
    size_t n = hep_rtcp_json(p, sizeof(p), out, sizeof(out));
    cr_assert_gt(n, 0);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    cr_assert_not_null(j, "%s: %s", out, e.text);
    cr_assert_eq(json_integer_value(json_object_get(j, "ssrc")), 0x11223344);
    cr_assert_eq(json_integer_value(json_object_get(j, "type")), 200);
    json_t *si = json_object_get(j, "sender_information");
    cr_assert_eq(json_integer_value(json_object_get(si, "ntp_timestamp_usec")), 500000);
    cr_assert_eq(json_integer_value(json_object_get(si, "packets")), 10);
    cr_assert_eq(json_integer_value(json_object_get(si, "octets")), 1600);
    json_t *rb = json_array_get(json_object_get(j, "report_blocks"), 0);
    cr_assert_eq(json_integer_value(json_object_get(rb, "source_ssrc")), 0x55667788);
    cr_assert_eq(json_integer_value(json_object_get(rb, "fraction_lost")), 0x19);
    cr_assert_eq(json_integer_value(json_object_get(rb, "packets_lost")), -2);
    cr_assert_eq(json_integer_value(json_object_get(rb, "ia_jitter")), 32);
    json_decref(j);
    /* A report count the packet has no room for, and cuts: no text. */
    p[0] = 0x82;
    cr_assert_eq(hep_rtcp_json(p, sizeof(p), out, sizeof(out)), 0);
    p[0] = 0x81;
    for (size_t k = 0; k < 52; k++)
        cr_assert_eq(hep_rtcp_json(p, k, out, sizeof(out)), 0, "cut at %zu", k);
    cr_assert_eq(hep_rtcp_json(p, sizeof(p), out, 20), 0, "does not fit");
}

/* Tests of decoders/sctp.c: SIP over SCTP DATA chunks, whole and in
 * fragments (B ... E, consecutive TSNs), with every malformed or dropped
 * case counted. The public sip_sctp capture is checked end to end by
 * tests/daemon/test_public_calls.c. */
#include "frame_build.h"

#define DLT_ETH 1

static uint8_t f[4096];

/* Ethernet + IPv4 + SCTP common header; returns the offset of the chunks. */
static size_t sctp_packet(size_t chunks_len)
{
    size_t n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 132, 1, 0, 12 + chunks_len);
    put16(f + n, 5060);
    put16(f + n + 2, 5061);
    put32(f + n + 4, 0xdeadbeef); /* verification tag */
    put32(f + n + 8, 0);          /* checksum, not verified */
    return n + 12;
}

/* A DATA chunk at p; returns its padded length. */
static size_t data_chunk(uint8_t *p, uint8_t flags, uint32_t tsn, uint16_t stream, const char *text)
{
    size_t len = strlen(text), chunk = 16 + len;
    p[0] = 0;
    p[1] = flags;
    put16(p + 2, (uint16_t)chunk);
    put32(p + 4, tsn);
    put16(p + 8, stream);
    put16(p + 10, 0);
    put32(p + 12, 0); /* PPID */
    memcpy(p + 16, text, len);
    size_t padded = (chunk + 3) & ~(size_t)3;
    memset(p + chunk, 0, padded - chunk);
    return padded;
}

static void feed_chunks(struct harness *h, uint64_t ts, const uint8_t *chunks, size_t len)
{
    size_t off = sctp_packet(len);
    memcpy(f + off, chunks, len);
    harness_feed(h, ts, f, off + len);
}

Test(decode_sctp, whole_messages_one_per_chunk)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    uint8_t c[512];
    size_t n = data_chunk(c, 0x03, 1, 0, "OPTIONS sip:a SIP/2.0\r\n\r\n");
    /* A SACK chunk between two DATA chunks is stepped over. */
    c[n] = 3, c[n + 1] = 0, put16(c + n + 2, 16), memset(c + n + 4, 0, 12);
    n += 16;
    n += data_chunk(c + n, 0x03, 2, 1, "SIP/2.0 200 OK\r\n\r\n");
    feed_chunks(&h, 1, c, n);
    cr_assert_eq(h.sctp_count, 2);
    cr_assert_eq(h.udp_count, 0);
    cr_assert_str_eq(h.last_payload, "SIP/2.0 200 OK\r\n\r\n");
    cr_assert_eq(h.last.sport, 5060);
    cr_assert_eq(h.last.dport, 5061);
    cr_assert_eq(h.last.ip_proto, 132);
    cr_assert_eq(counter(&h, "sctp"), 1);
    cr_assert_eq(counter(&h, "sctp_data_chunks"), 2);
    harness_stop(&h);
}

Test(decode_sctp, fragments_are_put_back_together)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    uint8_t c[512];
    feed_chunks(&h, 1, c, data_chunk(c, 0x02, 10, 3, "INVITE sip:b SIP/2.0\r\n"));
    feed_chunks(&h, 2, c, data_chunk(c, 0x00, 11, 3, "Call-ID: x\r\n"));
    cr_assert_eq(h.sctp_count, 0, "nothing before the last piece");
    feed_chunks(&h, 3, c, data_chunk(c, 0x01, 12, 3, "\r\n"));
    cr_assert_eq(h.sctp_count, 1);
    cr_assert_str_eq(h.last_payload, "INVITE sip:b SIP/2.0\r\nCall-ID: x\r\n\r\n");
    cr_assert_eq(counter(&h, "sctp_fragmented"), 3);
    cr_assert_eq(counter(&h, "sctp_reassembled"), 1);
    cr_assert_eq(counter(&h, "sctp_reassembly_dropped"), 0);
    harness_stop(&h);
}

Test(decode_sctp, a_gap_or_a_lost_beginning_drops_the_message)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    uint8_t c[512];
    feed_chunks(&h, 1, c, data_chunk(c, 0x02, 10, 0, "first "));
    feed_chunks(&h, 2, c, data_chunk(c, 0x01, 12, 0, "last")); /* TSN 11 missing */
    cr_assert_eq(h.sctp_count, 0);
    cr_assert_eq(counter(&h, "sctp_reassembly_dropped"), 1);
    feed_chunks(&h, 3, c, data_chunk(c, 0x01, 13, 0, "an end alone"));
    cr_assert_eq(h.sctp_count, 0);
    /* A beginning never finished, then its timeout. */
    feed_chunks(&h, 4, c, data_chunk(c, 0x02, 20, 0, "begun "));
    feed_chunks(&h, 4 + 11000000, c, data_chunk(c, 0x03, 30, 5, "whole"));
    cr_assert_eq(h.sctp_count, 1);
    cr_assert_str_eq(h.last_payload, "whole");
    cr_assert_eq(counter(&h, "sctp_reassembly_dropped"), 2);
    harness_stop(&h);
}

Test(decode_sctp, the_rebuild_table_is_capped)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    uint8_t c[512];
    /* More streams with a message in progress than there are slots: the
     * oldest give way, counted. */
    for (uint16_t s = 0; s < 70; s++)
        feed_chunks(&h, 1 + s, c, data_chunk(c, 0x02, 100 + s, s, "part "));
    cr_assert_eq(counter(&h, "sctp_reassembly_dropped"), 6);
    feed_chunks(&h, 100, c, data_chunk(c, 0x01, 170, 69, "end"));
    cr_assert_eq(h.sctp_count, 1);
    cr_assert_str_eq(h.last_payload, "part end");
    harness_stop(&h);
}

Test(decode_sctp, malformed_chunks_are_counted)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ETH);
    uint8_t c[64];
    memset(c, 0, sizeof(c));
    put16(c + 2, 200); /* longer than the packet */
    feed_chunks(&h, 1, c, 16);
    put16(c + 2, 8); /* a DATA chunk shorter than its own header */
    feed_chunks(&h, 2, c, 16);
    put16(c + 2, 2); /* shorter than any chunk header */
    feed_chunks(&h, 3, c, 16);
    cr_assert_eq(counter(&h, "sctp_bad_chunk"), 3);
    size_t n = put_eth(f, 0x0800);
    n += put_ipv4(f + n, ip4_a, ip4_b, 132, 1, 0, 8);
    harness_feed(&h, 4, f, n + 8);
    cr_assert_eq(counter(&h, "sctp_truncated"), 1);
    cr_assert_eq(h.sctp_count, 0);
    harness_stop(&h);
}

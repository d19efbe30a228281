/*
 * rtcp: SR / RR parsing from (compound) RTCP packets.
 *
 * A compound packet is a run of RTCP packets, each with its own header and
 * length in 32-bit words minus one. Every sub-packet is checked before it is
 * read: version 2, its length inside the datagram, and for SR / RR the report
 * count inside its own length. One bad sub-packet makes the whole datagram
 * malformed: a length that lies about one part cannot be trusted for the rest.
 * XR packets (RFC 3611) are walked block by block, each block checked
 * against its packet's length the same way; VoIP Metrics blocks are read,
 * other block types skipped. Other packet types (SDES, BYE, APP, feedback)
 * are skipped by their length.
 */
#include "rtp/rtcp.h"

#include <string.h>

#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_XR 207

#define XR_VOIP_METRICS     7
#define XR_VOIP_METRICS_LEN 36 /* block length 8: nine 32-bit words */

static uint32_t read32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void read_block(const uint8_t *p, uint32_t reporter, struct rtcp_report_block *b)
{
    b->ssrc = read32(p);
    b->reporter_ssrc = reporter;
    b->fraction_lost = p[4];
    /* 24-bit two's complement. */
    uint32_t lost = ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
    b->cumulative_lost = (lost & 0x800000u) ? (int32_t)lost - 0x1000000 : (int32_t)lost;
    b->highest_seq = read32(p + 8);
    b->jitter = read32(p + 12);
    b->lsr = read32(p + 16);
    b->dlsr = read32(p + 20);
}

static uint16_t read16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void read_voip_metrics(const uint8_t *b, uint32_t reporter, struct rtcp_xr_voip *m)
{
    m->ssrc = read32(b + 4);
    m->reporter_ssrc = reporter;
    m->loss_rate = b[8];
    m->discard_rate = b[9];
    m->burst_density = b[10];
    m->gap_density = b[11];
    m->burst_duration_ms = read16(b + 12);
    m->gap_duration_ms = read16(b + 14);
    m->round_trip_ms = read16(b + 16);
    m->end_system_delay_ms = read16(b + 18);
    m->signal_level_dbm = (int8_t)b[20];
    m->noise_level_dbm = (int8_t)b[21];
    m->rerl_db = b[22];
    m->gmin = b[23];
    m->r_factor = b[24];
    m->ext_r_factor = b[25];
    m->mos_lq = b[26];
    m->mos_cq = b[27];
    m->rx_config = b[28];
    /* b[29] reserved */
    m->jb_nominal_ms = read16(b + 30);
    m->jb_max_ms = read16(b + 32);
    m->jb_abs_max_ms = read16(b + 34);
}

/* An XR packet of plen bytes at p: its blocks, each inside the packet. */
static int parse_xr(const uint8_t *p, size_t plen, struct rtcp_packet_info *out)
{
    if (plen < 8)
        return -1;
    uint32_t reporter = read32(p + 4);
    for (size_t off = 8; off < plen;) {
        if (plen - off < 4)
            return -1;
        const uint8_t *b = p + off;
        size_t blen = 4 * ((size_t)read16(b + 2) + 1);
        if (blen > plen - off)
            return -1;
        if (b[0] == XR_VOIP_METRICS) {
            if (blen != XR_VOIP_METRICS_LEN)
                return -1;
            if (out->xr_count < RTCP_MAX_XR)
                read_voip_metrics(b, reporter, &out->xr[out->xr_count++]);
            else
                out->xr_truncated++;
        }
        off += blen;
    }
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

int rtcp_parse(const uint8_t *data, size_t len, struct rtcp_packet_info *out)
{
    memset(out, 0, sizeof(*out));
    if (len < 4)
        return -1;
    size_t off = 0;
    while (off < len) {
        if (len - off < 4) {
            /* A few zero bytes after a complete compound packet are seen
             * from real devices; Wireshark reads the packets before them. */
            if (off == 0 || !all_zero(data + off, len - off))
                return -1;
            break;
        }
        const uint8_t *p = data + off;
        if ((p[0] >> 6) != 2)
            return -1;
        size_t plen = 4 * ((((size_t)p[2] << 8) | p[3]) + 1);
        if (plen > len - off)
            return -1;
        unsigned count = p[0] & 0x1f;
        if (p[1] == RTCP_SR || p[1] == RTCP_RR) {
            size_t head = p[1] == RTCP_SR ? 28 : 8; /* header + SSRC (+ sender info) */
            if (head + 24u * count > plen)
                return -1;
            uint32_t sender = read32(p + 4);
            if (!out->has_report) {
                out->sender_ssrc = sender;
                out->is_sender_report = p[1] == RTCP_SR;
                if (out->is_sender_report) {
                    out->sr_ntp_mid = read32(p + 10);
                    out->sr_packet_count = read32(p + 20);
                }
                out->has_report = true;
            }
            for (unsigned i = 0; i < count; i++) {
                if (out->block_count >= RTCP_MAX_BLOCKS) {
                    out->blocks_truncated++;
                    continue;
                }
                read_block(p + head + 24u * i, sender, &out->blocks[out->block_count++]);
            }
        } else if (p[1] == RTCP_XR) {
            if (parse_xr(p, plen, out) != 0)
                return -1;
        } else if (p[1] < 192 || p[1] > 223) {
            /* Not an RTCP packet type at all (RFC 5761 range). */
            return -1;
        }
        off += plen;
    }
    return 0;
}

/* SRTCP (RFC 3711 3.4): the first packet's header and sender SSRC stay in
 * clear, the rest is encrypted, and the datagram ends with the E flag and a
 * 31-bit index, then the authentication tag (10 bytes for the usual
 * HMAC-SHA1-80, 4 for -32). Only called on what failed to parse as RTCP, so
 * a packet that does parse is never taken for SRTCP. */
bool srtcp_looks_like(const uint8_t *data, size_t len)
{
    if (len < 8 + 4 + 4 || (data[0] >> 6) != 2 || (data[1] != RTCP_SR && data[1] != RTCP_RR))
        return false;
    static const size_t tag_lengths[] = {10, 4};
    for (size_t i = 0; i < sizeof(tag_lengths) / sizeof(tag_lengths[0]); i++) {
        size_t trailer = tag_lengths[i] + 4;
        if (len < 8 + trailer)
            continue;
        uint32_t word = read32(data + len - trailer);
        /* Encrypted, and an index a session reaches (one per packet sent;
         * 2^24 is years of RTCP): not random bytes that happen to fit. */
        if ((word & 0x80000000u) && (word & 0x7fffffffu) < (1u << 24))
            return true;
    }
    return false;
}

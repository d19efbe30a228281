/*
 * rtcp: RTCP parsing (rtp/rtcp.c) and what RTCP tells about a stream.
 *
 * rtcp_parse reads the SR/RR report blocks and XR VoIP Metrics blocks of a
 * compound RTCP datagram, checking every length before reading; struct
 * rtcp_view and struct rtcp_xr_view are what a stream keeps of them (the far
 * end's own view of the media). Attaching reports to streams is the flow
 * table's job (rtp/flow.h).
 */
#ifndef SIPTAP_RTP_RTCP_H
#define SIPTAP_RTP_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RTCP: the far end's own view of the stream, from SR/RR report blocks.
 * Sized to the byte: it sits in every flow (see struct rtp_flow). */
struct rtcp_view {
    uint8_t fraction_lost; /* last report, /256 */
    bool has_rtt;          /* rtt_us holds the round trip of a report */
    uint16_t reports;      /* saturates at 65535 (91 hours at one every 5 s) */
    uint32_t reporter_ssrc;
    int32_t cumulative_lost;
    /* Last report's round trip between the tap and the reporter: from the
     * tap's sighting of the SR named by the block's LSR to the report's,
     * less the reporter's DLSR (what Wireshark calls roundtrip delay). */
    uint32_t rtt_us;
    double jitter_ms; /* last report, converted with the stream's clock rate */
};
_Static_assert(sizeof(struct rtcp_view) == 24, "a flow is five cache lines");

static inline bool rtcp_view_seen(const struct rtcp_view *v)
{
    return v->reports != 0;
}

/* The last report's fraction lost as a percentage (the 8-bit fraction is
 * in 1/256). */
static inline double rtcp_view_fraction_lost_pct(const struct rtcp_view *v)
{
    return v->fraction_lost / 2.56;
}

struct rtcp_report_block {
    uint32_t ssrc;          /* the stream reported on */
    uint32_t reporter_ssrc; /* the SR/RR's sender (filled by rtcp_parse) */
    uint8_t fraction_lost;
    int32_t cumulative_lost;
    uint32_t highest_seq;
    uint32_t jitter; /* timestamp units */
    uint32_t lsr;    /* middle 32 bits of the NTP time of the last SR received; 0 = none */
    uint32_t dlsr;   /* delay since that SR, 1/65536 s */
};

/* RTCP XR VoIP Metrics (RFC 3611 4.7): the endpoint's own summary of the
 * call's quality, as it measures it behind its jitter buffer. Values as on
 * the wire; RTCP_XR_UNAVAILABLE (127) in the 8-bit figures that have it. */
#define RTCP_XR_UNAVAILABLE 127
struct rtcp_xr_voip {
    uint32_t ssrc;                      /* the stream reported on */
    uint32_t reporter_ssrc;             /* the XR packet's sender */
    uint8_t loss_rate, discard_rate;    /* fractions of packets, /256 */
    uint8_t burst_density, gap_density; /* fractions of packets, /256 */
    uint16_t burst_duration_ms, gap_duration_ms;
    uint16_t round_trip_ms, end_system_delay_ms;
    int8_t signal_level_dbm, noise_level_dbm; /* 127: unavailable */
    uint8_t rerl_db, gmin;
    uint8_t r_factor, ext_r_factor; /* 0..100 */
    uint8_t mos_lq, mos_cq;         /* MOS x 10: 10..50 */
    uint8_t rx_config;              /* PLC, jitter buffer adaptive / fixed, JB rate */
    uint16_t jb_nominal_ms, jb_max_ms, jb_abs_max_ms;
};
/* The last VoIP Metrics block about a stream, and how many came. */
struct rtcp_xr_view {
    struct rtcp_xr_voip last;
    uint32_t reports;
};

#define RTCP_MAX_BLOCKS 8
#define RTCP_MAX_XR     4
struct rtcp_packet_info {
    uint32_t sender_ssrc;
    bool is_sender_report;
    uint32_t sr_ntp_mid;      /* an SR's NTP time, middle 32 bits (what an RR's LSR names) */
    uint32_t sr_packet_count; /* an SR's sender's packet count (RTP packets it sent) */
    struct rtcp_report_block blocks[RTCP_MAX_BLOCKS];
    size_t block_count;
    bool has_report;         /* an SR or RR was present (reduced-size RTCP may have none) */
    size_t blocks_truncated; /* report blocks past RTCP_MAX_BLOCKS, not stored */
    /* XR VoIP Metrics blocks (other XR block types are skipped). */
    struct rtcp_xr_voip xr[RTCP_MAX_XR];
    size_t xr_count;
    size_t xr_truncated; /* past RTCP_MAX_XR, not stored */
};
/* Parses a (compound) RTCP packet's SR/RR and XR VoIP Metrics blocks. 0 on
 * success, -1 if malformed (any sub-packet whose version, length or report
 * count does not fit, an XR block whose length does not fit its packet or,
 * for VoIP Metrics, is not the block's fixed 36 bytes, or trailing bytes
 * other than fewer than four zeros). */
int rtcp_parse(const uint8_t *data, size_t len, struct rtcp_packet_info *out);
/* Whether a datagram that rtcp_parse found malformed is SRTCP: an SR/RR
 * header in clear, then an encrypted payload, the E flag and index, and an
 * authentication tag. Its reports cannot be read; it is counted apart so
 * that encrypted media does not show as broken RTCP. */
bool srtcp_looks_like(const uint8_t *data, size_t len);

#endif

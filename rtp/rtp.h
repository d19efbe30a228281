/*
 * rtp: RTP/RTCP parsing and per-stream quality statistics, defined exactly as
 * Wireshark's RTP stream analysis (`tshark -q -z rtp,streams`) defines them,
 * plus an ITU-T G.107 E-model MOS estimate.
 *
 * A stream is (src, dst, SSRC). A flow is the UDP 5-tuple (src, dst) and holds
 * the streams seen on it (an SSRC change starts a new stream). Flows live in
 * one open-addressing table keyed on the 5-tuple: the per-packet path is one
 * hash of a fixed-size key, no allocation and no string work.
 */
#ifndef SIPTAP_RTP_RTP_H
#define SIPTAP_RTP_RTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/hashtab.h"
#include "core/netaddr.h"

struct rtp_header {
    uint8_t version;
    bool padding, extension, marker;
    uint8_t csrc_count;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    const uint8_t *payload;
    size_t payload_len;
};

/* Version 2, sane lengths (CSRCs, extension, padding within the datagram).
 * Rejects RTCP packet types (72..76 with the marker bit, i.e. 200..204). */
bool rtp_parse(const uint8_t *data, size_t len, struct rtp_header *out);
/* RTCP by its packet type (200..207): used to demultiplex rtcp-mux. */
bool rtcp_looks_like(const uint8_t *data, size_t len);

/* Static payload type table (RFC 3551): name and clock rate, "" / 0 if none. */
const char *rtp_static_codec_name(uint8_t pt);
uint32_t rtp_static_clock_rate(uint8_t pt);

/* RTCP: the far end's own view of the stream, from SR/RR report blocks. */
struct rtcp_view {
    bool seen;
    uint32_t reporter_ssrc;
    uint8_t fraction_lost;   /* last report, /256 */
    int32_t cumulative_lost;
    double jitter_ms;        /* last report, converted with the stream's clock rate */
    uint64_t reports;
};

struct rtcp_report_block {
    uint32_t ssrc; /* the stream reported on */
    uint8_t fraction_lost;
    int32_t cumulative_lost;
    uint32_t highest_seq;
    uint32_t jitter; /* timestamp units */
};

#define RTCP_MAX_BLOCKS 8
struct rtcp_packet_info {
    uint32_t sender_ssrc;
    bool is_sender_report;
    struct rtcp_report_block blocks[RTCP_MAX_BLOCKS];
    size_t block_count;
};
/* Parses a (compound) RTCP packet's SR/RR. 0 on success, -1 if malformed. */
int rtcp_parse(const uint8_t *data, size_t len, struct rtcp_packet_info *out);

struct rtp_stream {
    struct endpoint src, dst;
    uint32_t ssrc;
    uint8_t payload_type;  /* first seen (the contract's payload_type) */
    char codec[24];        /* from SDP rtpmap when the caller sets it, else static table */
    uint32_t clock_rate;   /* Hz used for jitter; 0 = unknown (no jitter) */
    uint64_t first_us, last_us;

    /* Wireshark-compatible accounting (see rtp.c for the exact rules). */
    uint64_t packets;
    uint32_t first_seq;
    uint32_t max_ext_seq;     /* extended highest sequence (with wraps) */
    uint32_t cycles;
    double jitter_ms, jitter_max_ms, jitter_sum_ms;
    uint64_t jitter_count;
    double max_delta_ms;
    double last_arrival_s;
    uint32_t last_rtp_ts;
    double last_transit;
    bool have_transit;

    /* Beyond Wireshark's figures. */
    uint64_t duplicates, out_of_order, seq_resets, marker_packets, cn_packets;
    uint64_t dtmf_events;
    uint32_t last_dtmf_ts;
    uint64_t loss_bursts;     /* runs of consecutive lost packets */
    uint64_t pt_seen[4];      /* bitmap of payload types 0..255 */
    uint16_t last_seq;
    struct rtcp_view rtcp;
};

/* The figures of the contract's `streams` entry. */
struct rtp_stream_report {
    uint64_t packets;
    int64_t lost;       /* expected - received, may be negative with duplicates (as Wireshark) */
    double loss_pct;
    double jitter_max_ms, jitter_mean_ms, max_delta_ms;
    double r_factor, mos;
};

void rtp_stream_init(struct rtp_stream *s, const struct endpoint *src, const struct endpoint *dst,
                     uint32_t ssrc);
/* Sets codec name and clock rate (from the SDP's rtpmap); overrides the static table. */
void rtp_stream_set_codec(struct rtp_stream *s, const char *name, uint32_t clock_rate);
/* One packet, arrival time ts_us (capture time). */
void rtp_stream_update(struct rtp_stream *s, const struct rtp_header *h, uint64_t ts_us);
void rtp_stream_attach_rtcp(struct rtp_stream *s, const struct rtcp_report_block *b);
void rtp_stream_report(const struct rtp_stream *s, struct rtp_stream_report *out);
/* The contract's `streams` entry. */
json_t *rtp_stream_to_json(const struct rtp_stream *s);

/* E-model (ITU-T G.107) estimate, documented in docs/mos.md. codec selects Ie/Bpl
 * (G.711 default); loss_pct 0..100; burst_ratio >= 1 (1 = random loss);
 * jitter_ms feeds a jitter-buffer model that turns jitter into delay and discards. */
double rtp_r_factor(const char *codec, double loss_pct, double burst_ratio, double jitter_ms);
double rtp_mos_from_r(double r);

#define RTP_FLOW_MAX_STREAMS 4

/* One direction of media between two endpoints. owner/party are the
 * correlation layer's: which call, and which side of it sends. */
struct rtp_flow {
    struct {
        struct endpoint src, dst; /* hashed as a fixed-size key */
    } key;
    void *owner;
    int party;
    uint64_t last_us;
    struct rtp_stream streams[RTP_FLOW_MAX_STREAMS];
    size_t stream_count;
    uint64_t overflow_packets; /* packets of SSRCs past RTP_FLOW_MAX_STREAMS */
};

struct rtp_flow_table {
    struct hashtab table;
    uint64_t *evicted, *rejected_full, *packets, *not_rtp;
};

bool rtp_flow_table_init(struct rtp_flow_table *t, size_t max_flows, struct counters *counters);
void rtp_flow_table_destroy(struct rtp_flow_table *t);
struct rtp_flow *rtp_flow_find(struct rtp_flow_table *t, const struct endpoint *src,
                               const struct endpoint *dst);
/* Creates the flow; NULL when the table is full (counted). */
struct rtp_flow *rtp_flow_create(struct rtp_flow_table *t, const struct endpoint *src,
                                 const struct endpoint *dst, void *owner, int party);
void rtp_flow_remove(struct rtp_flow_table *t, struct rtp_flow *f);
/* The packet to the flow's stream for its SSRC (creating it). Returns the
 * stream, or NULL if the datagram is not RTP (counted). */
struct rtp_stream *rtp_flow_packet(struct rtp_flow_table *t, struct rtp_flow *f,
                                   const uint8_t *data, size_t len, uint64_t ts_us);

#endif

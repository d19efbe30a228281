/*
 * stream: per-stream RTP statistics (rtp/stream.c), defined exactly as
 * Wireshark's RTP stream analysis (`tshark -q -z rtp,streams`) defines them.
 *
 * A stream is (src, dst, SSRC): struct rtp_stream holds its running figures,
 * updated once per packet with no allocation; rtp_stream_report turns them
 * into the contract's figures (with an E-model MOS, rtp/mos.h) and
 * rtp_stream_json writes the contract's `streams` entry. A stream lives in a
 * flow (rtp/flow.h), which owns its endpoints.
 */
#ifndef SIPTAP_RTP_STREAM_H
#define SIPTAP_RTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"
#include "rtp/rtcp.h"
#include "rtp/rtp.h"

#define RTP_STREAM_MAX_MAPPED 8
/* Codec names: SDP's rtpmap names are at most 15 characters here (calls.h
 * keeps 16 bytes of them); longer ones are cut. */
#define RTP_CODEC_NAME_SIZE 16

/* A dynamic payload type known from SDP (rtp_stream_map_payload). */
struct rtp_payload_map {
    uint8_t pt;
    bool telephone_event;
    uint32_t clock_rate;
    char name[24];
};
/* The mapped types of a stream: owned by the flow and shared by its streams,
 * or by a stand-alone stream (rtp_stream_release frees it). Only streams with
 * SDP-mapped dynamic types have one, so it is not part of every stream. */
struct rtp_payload_maps {
    size_t count;
    struct rtp_payload_map map[RTP_STREAM_MAX_MAPPED];
};

/* Laid out for the per-packet path: the fields every packet reads or writes
 * come first and share a few cache lines; what only reports and rare events
 * touch comes last. 10,000 calls interleave 20,000 streams, so each packet
 * lands on cold memory and the number of lines it touches is its cost. */
struct rtp_stream {
    /* Hot: every packet. */
    uint32_t ssrc;
    uint8_t payload_type; /* first seen (the contract's payload_type) */
    uint8_t last_pt;
    int16_t reg_pt; /* last non-CN payload type */
    uint64_t packets;
    uint64_t first_us, last_us;
    uint32_t clock_rate; /* Hz used for jitter; 0 = unknown (no jitter) */
    uint32_t first_seq;
    uint32_t max_ext_seq; /* extended highest sequence (with wraps) */
    uint32_t cycles;
    uint32_t ws_seq_num; /* Wireshark's last in-order sequence number */
    uint32_t first_rtp_ts, last_rtp_ts;
    uint16_t last_seq;
    bool ws_under;          /* inside a sequence wrap (see stream.c) */
    bool codec_from_sdp;    /* rtp_stream_set_codec was called */
    uint64_t seq_window[2]; /* bit i: max_ext_seq - i was received */
    /* Wireshark's per-stream state (ui/tap-rtp-analysis.c), times in ms since
     * the stream's first packet. */
    double ws_time_ms;      /* arrival of the last in-time-sequence packet */
    double last_nominal_ms; /* RTP timestamp of the last clocked packet, ms */
    double jitter_ms, jitter_max_ms, jitter_mean_ms;
    double max_delta_ms;

    /* Warm: what only some packets touch. The payload type bitmap is written
     * when the type changes, the maps read for dynamic types only; the
     * counters count events that some packets have (32 bits: 2^32 packets
     * is over two years of a 50 packets/s stream). */
    uint64_t pt_seen[2];           /* bitmap of payload types 0..127 */
    struct rtp_payload_maps *maps; /* NULL: no dynamic types mapped */
    uint32_t duplicates, out_of_order, seq_resets, marker_packets, cn_packets;
    uint32_t loss_bursts;      /* runs of consecutive lost packets */
    uint32_t gap_lost;         /* packets missing from gaps, refilled by late ones */
    uint32_t seq_errors;       /* Wireshark's "wrong sequence" count */
    uint32_t wrong_timestamps; /* packets whose RTP timestamp runs backwards */
    uint32_t pt_changes;       /* regular (non-CN) payload type changes */
    uint32_t dtmf_events;
    uint32_t last_dtmf_ts;
    uint8_t last_dtmf_event; /* of the last counted event (dtmf_events > 0) */
    bool problem;            /* Wireshark's "Problems?" X */
    bool owns_maps;          /* maps was allocated by rtp_stream_map_payload */
    uint8_t media;           /* enum rtp_media: what the SDP m= line said (calls/ sets it) */

    /* Cold: reports only. The endpoints are the flow's (its key). */
    char codec[RTP_CODEC_NAME_SIZE]; /* from SDP rtpmap when set, else static table */
    /* The latest RTCP SR of this stream's sender that counted no more RTP
     * than the tap saw (a sender alive and quiet on purpose: voice activity
     * detection, mute), in ms after first_us; 0 none. In what was padding. */
    uint32_t quiet_sr_ms;
    struct rtcp_view rtcp;
};
_Static_assert(sizeof(struct rtp_stream) == 248, "quiet_sr_ms fills padding");

/* A G.711 packet of a flow's first stream touches the flow's first three
 * cache lines: its key and header, then these two. */
_Static_assert(offsetof(struct rtp_stream, pt_seen) == 128, "hot stream fields are two lines");

/* The figures of the contract's `streams` entry. */
struct rtp_stream_report {
    uint64_t packets;
    int64_t lost; /* expected - received, may be negative with duplicates (as Wireshark) */
    double loss_pct;
    double jitter_max_ms, jitter_mean_ms, max_delta_ms;
    double r_factor, mos;
    double burst_ratio; /* BurstR fed to the E-model, >= 1 */
};

/* The kind of m= line a stream was negotiated on: audio unless a video
 * line's address carried it. */
enum rtp_media { RTP_MEDIA_AUDIO, RTP_MEDIA_VIDEO };
/* "audio" or "video". */
const char *rtp_media_name(enum rtp_media m);
/* A stream of RFC 4733 telephone-event packets alone (DTMF sent under its
 * own SSRC): it has packets, and every payload type it carried is mapped
 * to telephone-event (by the SDP's rtpmap). Such a stream is no voice:
 * its entry says "media": "dtmf" with no quality figures, and it counts
 * for no audio check (rtp_quality, one_way_audio, no_audio, call_drop's
 * media, call_end's per-direction summary). A stream that interleaves
 * telephone-event with audio under one SSRC stays audio. Reads the stream
 * only (no per-packet cost): for reports and detectors. */
bool rtp_stream_is_dtmf(const struct rtp_stream *s);

void rtp_stream_init(struct rtp_stream *s, uint32_t ssrc);
/* Sets codec name and clock rate (from the SDP's rtpmap) of the stream's main
 * payload type (the first seen). Wireshark ignores SDP for static types (< 96),
 * and so does the jitter here; the name still shows as `codec`. */
void rtp_stream_set_codec(struct rtp_stream *s, const char *name, uint32_t clock_rate);
/* One more dynamic payload type from the SDP's rtpmap (e.g. 101 telephone-event/8000).
 * telephone-event has no clock for jitter (as in Wireshark) and feeds DTMF counting.
 * clock_rate 0 = look the name up in Wireshark's table of known media types.
 * Returns false when RTP_STREAM_MAX_MAPPED types are already mapped. */
bool rtp_stream_map_payload(struct rtp_stream *s, uint8_t pt, const char *name,
                            uint32_t clock_rate);
/* Frees what rtp_stream_map_payload allocated for a stream not in a flow
 * (flows release their streams themselves). */
void rtp_stream_release(struct rtp_stream *s);
/* One packet, arrival time ts_us (capture time). */
void rtp_stream_update(struct rtp_stream *s, const struct rtp_header *h, uint64_t ts_us);
/* rtt_us: the block's round trip (see struct rtcp_view), or RTCP_RTT_UNKNOWN. */
#define RTCP_RTT_UNKNOWN UINT64_MAX
void rtp_stream_attach_rtcp(struct rtp_stream *s, const struct rtcp_report_block *b,
                            uint64_t rtt_us);
void rtp_stream_report(const struct rtp_stream *s, struct rtp_stream_report *out);
/* The contract's `streams` entry as JSON text (core/json_writer); src and dst are the flow's
 * endpoints, xr the stream's XR VoIP Metrics view or NULL
 * (rtp_flow_stream_xr). Returns its length, 0 when it does not fit in cap.
 * Any stream's entry fits in RTP_STREAM_JSON_MAX bytes: keys ~250,
 * endpoints 2 x 58, a codec name of 15 bytes escaped as \uXXXX 92, 17
 * numbers of at most 24, 128 payload types of at most 4, the RTCP view ~150,
 * the XR view ~450 (a test writes the largest and finds a fifth of the bound
 * to spare). */
#define RTP_STREAM_JSON_MAX 3072
/* The entry written as the next value of t. */
struct json_writer;
void rtp_stream_json(const struct rtp_stream *s, const struct endpoint *src,
                     const struct endpoint *dst, const struct rtcp_xr_view *xr,
                     struct json_writer *t);
size_t rtp_stream_write_json(const struct rtp_stream *s, const struct endpoint *src,
                             const struct endpoint *dst, const struct rtcp_xr_view *xr, char *buf,
                             size_t cap);

#endif

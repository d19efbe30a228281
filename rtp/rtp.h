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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/hashtab.h"
#include "core/netaddr.h"
#include "core/packet.h"
#include "core/pool.h"

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
/* The contract's `streams` entry as JSON text (core/json_text); src and dst are the flow's
 * endpoints, xr the stream's XR VoIP Metrics view or NULL
 * (rtp_flow_stream_xr). Returns its length, 0 when it does not fit in cap.
 * Any stream's entry fits in RTP_STREAM_JSON_MAX bytes: keys ~250,
 * endpoints 2 x 58, a codec name of 15 bytes escaped as \uXXXX 92, 17
 * numbers of at most 24, 128 payload types of at most 4, the RTCP view ~150,
 * the XR view ~450 (a test writes the largest and finds a fifth of the bound
 * to spare). */
#define RTP_STREAM_JSON_MAX 3072
/* The entry written as the next value of t. */
struct json_text;
struct rtcp_xr_view;
void rtp_stream_json(const struct rtp_stream *s, const struct endpoint *src,
                     const struct endpoint *dst, const struct rtcp_xr_view *xr,
                     struct json_text *t);
size_t rtp_stream_write_json(const struct rtp_stream *s, const struct endpoint *src,
                             const struct endpoint *dst, const struct rtcp_xr_view *xr, char *buf,
                             size_t cap);

/* E-model (ITU-T G.107) estimate, documented in docs/mos.md. codec selects Ie/Bpl
 * (G.711 default); loss_pct 0..100; burst_ratio >= 1 (1 = random loss);
 * jitter_ms feeds a jitter-buffer model that turns jitter into delay and discards. */
double rtp_r_factor(const char *codec, double loss_pct, double burst_ratio, double jitter_ms);
double rtp_mos_from_r(double r);
/* Clock rate Wireshark uses for a media type name ("opus" -> 48000), 0 if unknown. */
uint32_t rtp_name_clock_rate(const char *name);

#define RTP_FLOW_MAX_STREAMS 4

/* What few flows need: SDP codec and mapped types, and the streams after the
 * first (an SSRC change). Allocated on first need. */
struct rtp_flow_extra {
    struct rtp_payload_maps maps;
    char codec[RTP_CODEC_NAME_SIZE];
    uint32_t clock_rate;
    bool codec_from_sdp;
    struct rtp_stream streams[RTP_FLOW_MAX_STREAMS - 1];
    struct rtcp_xr_view xr[RTP_FLOW_MAX_STREAMS]; /* by stream index */
};

/* One direction of media between two endpoints. owner/party are the
 * correlation layer's: which call, and which side of it sends. The key, the
 * header and the first stream's hot fields are contiguous, so a packet of a
 * single-SSRC flow touches a few adjacent cache lines. */
struct rtp_flow {
    struct {
        struct endpoint src, dst; /* hashed as a fixed-size key */
    } key;
    void *owner;
    uint64_t last_us;
    int8_t party;
    uint8_t stream_count;
    uint8_t last_stream;       /* index of the stream of the previous packet */
    bool sdp_mismatch;         /* the sender's SDP named another address (calls/) */
    uint32_t overflow_packets; /* packets of SSRCs past RTP_FLOW_MAX_STREAMS */
    /* Offset 64 (flows are line-aligned): the key line, then the hot lines. */
    struct rtp_stream first;
    struct rtp_flow_extra *extra; /* NULL until needed */
};

_Static_assert(sizeof(struct rtp_flow) == 320, "a flow is five cache lines");

_Static_assert(offsetof(struct rtp_flow, first) == 64, "flow header is one cache line");

/* Stream i (< f->stream_count) of the flow. */
static inline struct rtp_stream *rtp_flow_stream(struct rtp_flow *f, size_t i)
{
    return i == 0 ? &f->first : &f->extra->streams[i - 1];
}
static inline const struct rtp_stream *rtp_flow_stream_const(const struct rtp_flow *f, size_t i)
{
    return i == 0 ? &f->first : &f->extra->streams[i - 1];
}

/* The XR VoIP Metrics view of s, one of f's streams: NULL when no XR block
 * about it came. */
const struct rtcp_xr_view *rtp_flow_stream_xr(const struct rtp_flow *f, const struct rtp_stream *s);
/* RTP datagrams the flow carried: its streams' and those past
 * RTP_FLOW_MAX_STREAMS. */
uint64_t rtp_flow_packets(const struct rtp_flow *f);

/* An SR as the tap saw it go by, so that the RR naming it (LSR) gives the
 * round trip on the far side of the tap. */
struct rtcp_sr_sighting {
    uint32_t ssrc, ntp_mid; /* 0 ntp_mid: empty slot (an LSR of 0 names no SR) */
    uint64_t seen_us;
    struct endpoint to; /* where it went: the RR comes back from there */
};
/* Direct-mapped by SSRC and NTP time: a newer SR takes an older one's slot
 * (counted as rtp.rtcp_sr_replaced). One SR every 5 s per stream leaves
 * room for a few hundred concurrent RTCP-reporting calls before any is
 * replaced within the seconds its RR takes. */
#define RTCP_SR_SLOTS 1024

/* The "rtp" group of counters, named once (core/counters.h). */
#define RTP_COUNTERS(X)                                                                            \
    X(flows_evicted)                                                                               \
    X(flows_rejected_full)                                                                         \
    X(packets)                                                                                     \
    X(not_rtp)                                                                                     \
    X(rtcp)                                                                                        \
    X(rtcp_malformed)                                                                              \
    X(srtcp)                                                                                       \
    X(rtcp_blocks_unmatched)                                                                       \
    X(rtcp_sr_replaced)                                                                            \
    X(rtcp_xr_voip)                                                                                \
    X(ssrc_overflow)                                                                               \
    X(flow_alloc_failed)

struct rtp_flow_table {
    struct hashtab table;
    struct pool flows;            /* where the flows are (line-aligned, no malloc each) */
    struct rtcp_sr_sighting *srs; /* RTCP_SR_SLOTS */
    struct {
        COUNTERS_BLOCK(RTP_COUNTERS);
    } c;
};

bool rtp_flow_table_init(struct rtp_flow_table *t, size_t max_flows, struct counters *counters);
void rtp_flow_table_destroy(struct rtp_flow_table *t);
struct rtp_flow *rtp_flow_find(struct rtp_flow_table *t, const struct endpoint *src,
                               const struct endpoint *dst);
/* The same, from a packet view's addresses and ports where they lie. */
struct rtp_flow *rtp_flow_find_addrs(struct rtp_flow_table *t, const struct net_addr *src,
                                     uint16_t sport, const struct net_addr *dst, uint16_t dport);
/* Looking up the flows of packets about to be processed, so that their cache
 * misses overlap (core/hashtab.h): rtp_flow_prefetch_slot() for each packet's
 * addresses and ports, which returns their hash, then rtp_flow_warm() with
 * each hash. Hints only: nothing changes. */
uint64_t rtp_flow_prefetch_slot(const struct rtp_flow_table *t, const struct net_addr *src,
                                uint16_t sport, const struct net_addr *dst, uint16_t dport);
void rtp_flow_warm(const struct rtp_flow_table *t, uint64_t hash);
/* The same lines prefetched, without waiting for them: for lookups that
 * come well after (a pipeline), where warming's loads would stall. */
void rtp_flow_prefetch(const struct rtp_flow_table *t, uint64_t hash);
/* The flow of a packet view (src:sport to dst:dport). When the packet
 * carries its key's hash (packet.flow_hashed, set by the engine's
 * look-ahead from rtp_flow_prefetch_slot), the lookup probes with it instead
 * of hashing again; the key compare confirms it, and a miss hashes anew, so
 * a wrong hash costs a second probe, never a wrong answer. */
struct rtp_flow *rtp_flow_find_packet(struct rtp_flow_table *t, const struct packet *pkt);
/* The same by addresses, with the key's hash at hand. */
struct rtp_flow *rtp_flow_find_hashed(struct rtp_flow_table *t, uint64_t hash,
                                      const struct net_addr *src, uint16_t sport,
                                      const struct net_addr *dst, uint16_t dport);
/* Creates the flow; NULL when the table is full (counted). */
struct rtp_flow *rtp_flow_create(struct rtp_flow_table *t, const struct endpoint *src,
                                 const struct endpoint *dst, void *owner, int party);
void rtp_flow_remove(struct rtp_flow_table *t, struct rtp_flow *f);
/* The packet to the flow's stream for its SSRC (creating it). Returns the
 * stream, or NULL if the datagram is not RTP (counted). RTCP arriving on the
 * flow (rtcp-mux) is handed to rtp_flow_table_rtcp and NULL returned. */
struct rtp_stream *rtp_flow_packet(struct rtp_flow_table *t, struct rtp_flow *f,
                                   const uint8_t *data, size_t len, uint64_t ts_us);
/* The same for a datagram the caller has already found not to be RTCP
 * (rtcp_looks_like false): counted alike, without testing that again. */
struct rtp_stream *rtp_flow_rtp_packet(struct rtp_flow_table *t, struct rtp_flow *f,
                                       const uint8_t *data, size_t len, uint64_t ts_us);

/* Codec of the flow's main payload type and more dynamic types, for the
 * streams it has and the ones it will create (see rtp_stream_set_codec). */
void rtp_flow_set_codec(struct rtp_flow *f, const char *name, uint32_t clock_rate);
bool rtp_flow_map_payload(struct rtp_flow *f, uint8_t pt, const char *name, uint32_t clock_rate);

/* The one way RTCP reaches streams. An RTCP datagram (counted; -1 and
 * counted as SRTCP or else malformed when it does not parse): an SR is
 * remembered (struct rtcp_sr_sighting), and each report block is attached
 * (rtp_stream_attach_rtcp) to the streams among flows[0..flow_count) whose
 * SSRC it reports on, as is each XR VoIP Metrics block (counted as
 * rtp.rtcp_xr_voip; kept as the stream's rtp_flow_stream_xr); either is
 * counted when it reports on none of them (a stream the tap does not see).
 * Returns the number of attachments. The calls layer passes all the flows
 * of the datagram's call. */
struct rtcp_datagram {
    struct endpoint src, dst;
    uint64_t ts_us;
    const uint8_t *data;
    size_t len;
};
int rtp_flow_table_rtcp_flows(struct rtp_flow_table *t, struct rtp_flow *const *flows,
                              size_t flow_count, const struct rtcp_datagram *d);
/* The same for an RTCP datagram src -> dst known by its endpoints only: its
 * report blocks describe media dst -> src, so the flows searched are
 * dst -> src and dst-1 -> src-1 (RTCP on the odd port). */
int rtp_flow_table_rtcp(struct rtp_flow_table *t, const struct rtcp_datagram *d);

/* Removes flows idle since before now_us - idle_us (counted as evicted),
 * calling on_evict (may be NULL) before each is freed. */
size_t rtp_flow_table_expire(struct rtp_flow_table *t, uint64_t now_us, uint64_t idle_us,
                             void (*on_evict)(struct rtp_flow *f, void *arg), void *arg);

#endif

/*
 * flow: media flows and the flow table (rtp/flow.c), the per-packet entry
 * point of RTP.
 *
 * A flow is one direction of media, the UDP 5-tuple (src, dst); it holds the
 * streams seen on it (an SSRC change starts a new stream, rtp/stream.h).
 * Flows live in one open-addressing table keyed on the 5-tuple: the
 * per-packet path is one hash of a fixed-size key, no allocation and no
 * string work. RTCP reaches streams through the table (rtp/rtcp.h parses it).
 */
#ifndef SIPTAP_RTP_FLOW_H
#define SIPTAP_RTP_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/hashtab.h"
#include "core/netaddr.h"
#include "core/packet.h"
#include "core/pool.h"
#include "rtp/rtcp.h"
#include "rtp/stream.h"

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

/*
 * decode_internal: what the per-layer decoder files share, private to
 * decoders/.
 *
 * Each layer is a function taking the decoder, the packet view being filled
 * and a (pointer, length) view of its own header and what follows; it checks
 * bounds, fills its part of the view and calls the next layer on the rest.
 * The decoder struct holds the handlers, the configuration, the counter
 * pointers and the two stateful tables (IP fragments, TCP streams).
 */
#ifndef SIPTAP_DECODERS_DECODE_INTERNAL_H
#define SIPTAP_DECODERS_DECODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hashtab.h"
#include "core/list.h"
#include "decoders/decode.h"

/*
 * Every counter of the "decode" group, named once: the list expands into the
 * struct of counter pointers and into the registration table, so a field can
 * never be registered under a different name than the one it is used by.
 */
#define DECODE_COUNTERS(X)                                                                         \
    X(frames)                                                                                      \
    X(unsupported_link)                                                                            \
    X(truncated)                                                                                   \
    X(eth)                                                                                         \
    X(eth_truncated)                                                                               \
    X(eth_llc)                                                                                     \
    X(arp)                                                                                         \
    X(unsupported_ethertype)                                                                       \
    X(vlan)                                                                                        \
    X(vlan_truncated)                                                                              \
    X(vlan_too_deep)                                                                               \
    X(mpls)                                                                                        \
    X(mpls_truncated)                                                                              \
    X(mpls_too_deep)                                                                               \
    X(mpls_unsupported_payload)                                                                    \
    X(pppoe)                                                                                       \
    X(pppoe_bad)                                                                                   \
    X(pppoe_unsupported_proto)                                                                     \
    X(sll)                                                                                         \
    X(sll_truncated)                                                                               \
    X(sll2)                                                                                        \
    X(null_truncated)                                                                              \
    X(null_unsupported_family)                                                                     \
    X(raw_bad_version)                                                                             \
    X(erf)                                                                                         \
    X(erf_truncated)                                                                               \
    X(erf_bad)                                                                                     \
    X(erf_meta)                                                                                    \
    X(erf_unsupported_type)                                                                        \
    X(gre)                                                                                         \
    X(gre_truncated)                                                                               \
    X(gre_unsupported)                                                                             \
    X(erspan)                                                                                      \
    X(erspan_truncated)                                                                            \
    X(erspan_bad_version)                                                                          \
    X(vxlan)                                                                                       \
    X(vxlan_bad)                                                                                   \
    X(ipip)                                                                                        \
    X(tunnel_too_deep)                                                                             \
    X(ipv4)                                                                                        \
    X(ipv4_truncated)                                                                              \
    X(ipv4_bad_version)                                                                            \
    X(ipv4_bad_ihl)                                                                                \
    X(ipv4_bad_length)                                                                             \
    X(ipv4_tso_length)                                                                             \
    X(ipv6)                                                                                        \
    X(ipv6_truncated)                                                                              \
    X(ipv6_bad_version)                                                                            \
    X(ipv6_bad_length)                                                                             \
    X(ipv6_ext_truncated)                                                                          \
    X(ipv6_ext_chain_too_long)                                                                     \
    X(frag_fragments)                                                                              \
    X(frag_reassembled)                                                                            \
    X(frag_duplicate)                                                                              \
    X(frag_overlap)                                                                                \
    X(frag_too_big)                                                                                \
    X(frag_bad_length)                                                                             \
    X(frag_too_many_pieces)                                                                        \
    X(frag_timeout)                                                                                \
    X(frag_evicted)                                                                                \
    X(frag_per_source_cap)                                                                         \
    X(frag_truncated)                                                                              \
    X(frag_no_memory)                                                                              \
    X(udp)                                                                                         \
    X(udp_truncated)                                                                               \
    X(udp_bad_length)                                                                              \
    X(tcp)                                                                                         \
    X(tcp_truncated)                                                                               \
    X(tcp_bad_offset)                                                                              \
    X(tcp_segment_truncated)                                                                       \
    X(tcp_streams)                                                                                 \
    X(tcp_retransmission)                                                                          \
    X(tcp_overlap)                                                                                 \
    X(tcp_out_of_order)                                                                            \
    X(tcp_beyond_window)                                                                           \
    X(tcp_pending_overflow)                                                                        \
    X(tcp_gap_skipped)                                                                             \
    X(tcp_evicted)                                                                                 \
    X(tcp_buffer_evicted)                                                                          \
    X(tcp_buffer_evicted_bytes)                                                                    \
    X(tcp_buffer_full)                                                                             \
    X(tcp_closed_fin)                                                                              \
    X(tcp_closed_rst)                                                                              \
    X(tcp_idle_timeout)                                                                            \
    X(tcp_no_memory)                                                                               \
    X(sctp)                                                                                        \
    X(sctp_truncated)                                                                              \
    X(sctp_bad_chunk)                                                                              \
    X(sctp_data_chunks)                                                                            \
    X(sctp_fragmented)                                                                             \
    X(sctp_reassembled)                                                                            \
    X(sctp_reassembly_dropped)                                                                     \
    X(icmp)                                                                                        \
    X(icmpv6)                                                                                      \
    X(unsupported_ip_proto)

struct decode_counters {
#define DECODE_COUNTER_FIELD(name) uint64_t *name;
    DECODE_COUNTERS(DECODE_COUNTER_FIELD)
#undef DECODE_COUNTER_FIELD
};

struct frag_datagram;
struct tcp_stream;

struct frag_table {
    struct hashtab datagrams; /* struct frag_datagram, keyed by struct frag_key */
    struct hashtab sources;   /* struct frag_source: datagrams in progress per source */
    struct list by_age;       /* of datagrams, first: the oldest, for timeouts and eviction */
};

struct tcp_table {
    struct hashtab streams; /* struct tcp_stream, keyed by struct tcp_key */
    /* Streams, least recently active first: idle timeout and eviction. */
    struct list lru;
    uint64_t next_stream_id;
    /* Streams holding buffered bytes, least recently active first: the
     * global cap (tcp_max_buffered) evicts buffers from that end. */
    struct list held;
    size_t held_bytes; /* all streams' buffers: tails' allocations, queued segments */
};

/* An SCTP user message arriving in several DATA chunks (sctp.c). */
#define SCTP_MAX_PARTIAL     64
#define SCTP_MAX_MESSAGE     65536
#define SCTP_PARTIAL_TIMEOUT 10000000 /* us */
struct sctp_partial {
    bool used;
    struct net_addr src, dst;
    uint16_t sport, dport, stream;
    uint32_t next_tsn;
    uint64_t started_us;
    uint8_t *buf;
    size_t len;
};

struct decoder {
    struct decoder_config cfg;
    struct decode_handlers handlers;
    struct decode_counters c;
    int dlt;
    struct frag_table frag;
    struct tcp_table tcp;
    struct sctp_partial sctp[SCTP_MAX_PARTIAL];
    unsigned sctp_partials; /* of sctp[] in use */
};

/* Values of the link types as they appear in files, whatever the local
 * <pcap/dlt.h> maps DLT_RAW to. */
#define LINK_NULL       0
#define LINK_EN10MB     1
#define LINK_RAW_12     12
#define LINK_RAW_14     14
#define LINK_RAW        101
#define LINK_LOOP       108
#define LINK_LINUX_SLL  113
#define LINK_ERF        197
#define LINK_IPV4       228
#define LINK_IPV6       229
#define LINK_LINUX_SLL2 276

#define SLL_HEADER_LEN  16
#define SLL2_HEADER_LEN 20

/* Header sizes and field values more than one layer file reads (peek.c
 * reads the common frame shape ahead of the layers). */
#define ETH_HEADER_LEN            14
#define ETHERTYPE_IPV4            0x0800
#define ETHERTYPE_VLAN            0x8100
#define ETHERTYPE_QINQ            0x88A8
#define VLAN_TAG_LEN              4
#define ETHERTYPE_IPV6            0x86DD
#define IPV4_MIN_HEADER_LEN       20
#define IPV4_FLAG_MORE_FRAGMENTS  0x2000
#define IPV4_FRAGMENT_OFFSET_MASK 0x1fff
#define IPV6_HEADER_LEN           40
#define PROTO_UDP                 17
#define UDP_HEADER_LEN            8
#define VXLAN_PORT                4789

static inline uint16_t read_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * What makes an IPv4 header, an IPv6 header and a UDP header acceptable,
 * defined once: the layers (ip.c, udp.c) count each verdict under its own
 * counter, and peek.c takes a frame's quick path only when every verdict is
 * OK, so the two paths cannot disagree on which datagrams are whole.
 */
enum ipv4_verdict {
    IPV4_OK,
    IPV4_BAD_VERSION,
    IPV4_TRUNCATED,
    IPV4_BAD_IHL,
    IPV4_BAD_LENGTH,
    IPV4_CUT_SHORT
};

/* header_len and total_len on IPV4_OK. IPV4_CUT_SHORT: the header is whole
 * but the total length runs past the captured bytes; total_len is then what
 * was captured, which the decoder follows as far as it goes. *tso: the total
 * length field was 0 (TCP segmentation offload), the captured length stands
 * in for it; it is set whatever the verdict, as the decoder counts it before
 * what follows. */
static inline enum ipv4_verdict ipv4_check(const uint8_t *data, size_t len, size_t *header_len,
                                           size_t *total_len, bool *tso)
{
    *tso = false;
    if (len >= 1 && (data[0] >> 4) != 4)
        return IPV4_BAD_VERSION;
    if (len < IPV4_MIN_HEADER_LEN)
        return IPV4_TRUNCATED;
    size_t hl = (size_t)(data[0] & 0x0f) * 4;
    if (hl < IPV4_MIN_HEADER_LEN)
        return IPV4_BAD_IHL;
    size_t tl = read_be16(data + 2);
    if (tl == 0) {
        *tso = true;
        tl = len;
    }
    /* Either the IHL points past the datagram or the length is too short. */
    if (tl < hl)
        return hl > len ? IPV4_BAD_IHL : IPV4_BAD_LENGTH;
    /* Options cut off by the capture: no payload to follow. */
    if (hl > len)
        return IPV4_TRUNCATED;
    *header_len = hl;
    if (tl > len) {
        *total_len = len;
        return IPV4_CUT_SHORT;
    }
    *total_len = tl;
    return IPV4_OK;
}

enum ipv6_verdict { IPV6_OK, IPV6_BAD_VERSION, IPV6_TRUNCATED, IPV6_BAD_LENGTH, IPV6_CUT_SHORT };

/* payload_len on IPV6_OK: the bytes after the fixed header that belong to
 * the packet (a jumbogram's 0, RFC 2675, is refused: no SIP capture has one).
 * IPV6_CUT_SHORT: the payload length runs past the captured bytes;
 * payload_len is then what was captured after the fixed header. */
static inline enum ipv6_verdict ipv6_check(const uint8_t *data, size_t len, size_t *payload_len)
{
    if (len >= 1 && (data[0] >> 4) != 6)
        return IPV6_BAD_VERSION;
    if (len < IPV6_HEADER_LEN)
        return IPV6_TRUNCATED;
    size_t n = read_be16(data + 4);
    if (n == 0)
        return IPV6_BAD_LENGTH;
    if (n > len - IPV6_HEADER_LEN) {
        *payload_len = len - IPV6_HEADER_LEN;
        return IPV6_CUT_SHORT;
    }
    *payload_len = n;
    return IPV6_OK;
}

enum udp_verdict { UDP_OK, UDP_TRUNCATED, UDP_BAD_LENGTH };

/* udp_len (header included) on UDP_OK. */
static inline enum udp_verdict udp_check(const uint8_t *data, size_t len, size_t *udp_len)
{
    if (len < UDP_HEADER_LEN)
        return UDP_TRUNCATED;
    size_t n = read_be16(data + 4);
    if (n < UDP_HEADER_LEN || n > len)
        return UDP_BAD_LENGTH;
    *udp_len = n;
    return UDP_OK;
}

/* decode.c: what every frame costs before its layers, whichever path takes
 * it (decoder_process, decoder_process_peeked): counted, timeouts run. */
void decoder_frame_begin(struct decoder *d, uint64_t ts_us);
/* link.c: by pcap link type. */
void decode_link(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
/* erf.c: Endace ERF records, to Ethernet or IP. */
void decode_erf(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
/* ethernet.c: Ethernet II, 802.1Q / 802.1ad, MPLS, PPPoE session. */
void decode_ethernet(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
void decode_ethertype(struct decoder *d, struct packet *p, uint16_t type, const uint8_t *data,
                      size_t len);
/* tunnel.c: GRE (+ ERSPAN), VXLAN; tunnel_enter() counts and bounds nesting. */
bool tunnel_enter(struct decoder *d, struct packet *p);
void decode_gre(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
void decode_vxlan(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
/* ip.c: IPv4, IPv6 (+ extension headers), then the transport protocol. */
void decode_ipv4(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
void decode_ipv6(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
/* By version nibble (raw IP, MPLS); counts bad_version under the given counter. */
void decode_ip_any(struct decoder *d, struct packet *p, const uint8_t *data, size_t len,
                   uint64_t *bad_version);
void decode_transport(struct decoder *d, struct packet *p, uint8_t proto, const uint8_t *data,
                      size_t len);
/* The payload of a reassembled datagram: for IPv6 the extension headers that
 * followed the fragment header are walked first. */
void decode_reassembled(struct decoder *d, struct packet *p, uint8_t proto, const uint8_t *data,
                        size_t len);
/* frag.c: IPv4 / IPv6 reassembly. offset and len in bytes of the IP payload;
 * header_len is the IP header length, counted against the 65535 limit. */
bool frag_table_init(struct frag_table *t, const struct decoder_config *cfg);
void frag_table_destroy(struct frag_table *t);
void frag_add(struct decoder *d, struct packet *p, uint32_t id, uint8_t proto, uint32_t offset,
              bool more, size_t header_len, const uint8_t *data, size_t len);
void frag_expire(struct decoder *d, uint64_t now_us);
/* sctp.c: DATA chunks holding a whole user message, to handlers.sctp. */
void decode_sctp(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
void sctp_partials_free(struct decoder *d);
/* udp.c */
void decode_udp(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
/* tcp.c: header decode and stream reassembly. */
bool tcp_table_init(struct tcp_table *t, const struct decoder_config *cfg);
void tcp_table_destroy(struct decoder *d);
void decode_tcp(struct decoder *d, struct packet *p, const uint8_t *data, size_t len);
void tcp_expire(struct decoder *d, uint64_t now_us);

#endif

/*
 * decode: from a captured frame to transport payloads, zero copy.
 *
 * decoder_process() peels link, tunnel, IP and transport layers (one file per
 * layer under decoders/) and hands the result to the caller's handlers:
 *   - udp():      one call per UDP datagram (fragmented datagrams after
 *                 reassembly), with the packet view filled;
 *   - sctp():     one call per SCTP user message carried whole in a DATA
 *                 chunk (SIP over SCTP, RFC 4168);
 *   - tcp_data(): in-order bytes of one direction of a TCP connection. The
 *                 handler returns how many bytes it consumed; the rest are
 *                 kept (up to tcp_max_pending bytes) and presented again,
 *                 followed by new bytes, on the next call, so a SIP message
 *                 split across segments arrives whole.
 *   - tcp_close(): the connection ended (FIN/RST/idle/eviction); per-stream
 *                 state the handler keeps can go.
 * Every malformed or unsupported case increments a named counter in the
 * "decode" group; nothing here aborts on bad input.
 */
#ifndef SIPTAP_DECODERS_DECODE_H
#define SIPTAP_DECODERS_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/packet.h"

struct tcp_data {
    uint64_t ts_us;
    uint64_t stream_id; /* unique per connection for the daemon's lifetime */
    int direction;      /* 0: from the connection's initiator (or first seen sender), 1: reverse */
    struct endpoint src, dst;
    const uint8_t *data;
    size_t len;
    /* A word the handler may keep about the bytes it leaves unconsumed (say,
     * how far it has already scanned them): the decoder keeps it with those
     * bytes and sets it to 0 whenever they are dropped or all consumed. NULL
     * when there is nowhere to keep it. */
    uint64_t *scan_state;
};

struct decode_handlers {
    void *user;
    void (*udp)(void *user, const struct packet *pkt);
    /* One call per SCTP DATA chunk that holds a whole user message (ports
     * in sport/dport, the message in payload); optional. */
    void (*sctp)(void *user, const struct packet *pkt);
    size_t (*tcp_data)(void *user, const struct tcp_data *data);
    void (*tcp_close)(void *user, uint64_t stream_id);
};

struct decoder_config {
    size_t frag_max_datagrams;    /* IP datagrams being reassembled at once */
    size_t frag_max_per_source;   /* of those, from one source address */
    uint32_t frag_timeout_ms;     /* incomplete datagram dropped after this */
    size_t tcp_max_streams;       /* TCP connections followed at once */
    size_t tcp_max_pending;       /* bytes buffered per direction (gaps, partial messages) */
    size_t tcp_max_buffered;      /* bytes buffered by all TCP streams together */
    uint32_t tcp_idle_timeout_ms; /* connection forgotten after this much silence */
    unsigned tunnel_max_depth;    /* GRE / ERSPAN / VXLAN / IP-in-IP layers peeled at most */
};

void decoder_config_defaults(struct decoder_config *cfg);

struct decoder;

struct decoder *decoder_new(const struct decoder_config *cfg, struct counters *counters,
                            const struct decode_handlers *handlers);
void decoder_free(struct decoder *d);
/* pcap DLT_* link type of the frames to come; -1 if unsupported. */
int decoder_set_linktype(struct decoder *d, int dlt);
void decoder_process(struct decoder *d, uint64_t ts_us, const uint8_t *frame, uint32_t caplen,
                     uint32_t wirelen);
/*
 * The common frame in one pass: a UDP datagram in Ethernet (up to two VLAN
 * tags), Linux cooked or raw IP, over unfragmented IPv4 or IPv6 with no
 * extension header, whose lengths the layers would all accept, and not
 * VXLAN. For such a frame decoder_peek() fills the view exactly as
 * decoder_process() would fill its packet, without counting or changing
 * anything, and says true; for any other frame it says false.
 *
 * The daemon peeks a batch of frames before processing them, to start the
 * cache misses of their flow lookups together; a peeked frame is then
 * processed with decoder_process_peeked(), which counts it and hands it to
 * the UDP handler as decoder_process() would have (the counters, the
 * handler's calls and the timeouts are the same), without walking the layers
 * a second time. Frames peek says false to go to decoder_process(). What
 * the layers would have counted follows from the decoder's link type and the
 * view itself: its VLAN depth (every tag peeled is kept) and its address
 * family.
 */
bool decoder_peek(const struct decoder *d, uint64_t ts_us, const uint8_t *frame, uint32_t caplen,
                  uint32_t wirelen, struct packet *out);
void decoder_process_peeked(struct decoder *d, const struct packet *peeked);
/* Drops fragments and TCP streams idle past their timeouts (capture time). */
void decoder_expire(struct decoder *d, uint64_t now_us);
/* Table sizes, for tests and reports. */
size_t decoder_frag_count(const struct decoder *d);
size_t decoder_tcp_stream_count(const struct decoder *d);
/* Bytes all TCP streams buffer together (out-of-order segments, tails),
 * at most tcp_max_buffered. */
size_t decoder_tcp_buffered_bytes(const struct decoder *d);

#endif

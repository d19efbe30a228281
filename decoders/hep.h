/*
 * hep: the HEP (Homer Encapsulation Protocol, "EEP") codec, pure and
 * allocation-free: what siptap sends to Homer (outputs/hep.c) and reads from
 * capture agents (daemon/hep_input.c).
 *
 * Decoding (hep_decode) takes one HEP message, version 1, 2 or 3, and fills
 * a view whose byte fields point into the input. Every wire input is hostile:
 * each length is checked against what is really there, a chunk that claims
 * more bytes than its message holds ends the decode with an error, a chunk
 * of a known type with the wrong size is an error, unknown chunks (any
 * vendor, any type) are skipped and counted in the view. The error names
 * (HEP_ERRORS) are the counter names the input registers, so the two cannot
 * drift. Nothing is fatal: the caller counts and drops.
 *
 * Encoding (hep_encode) writes a HEPv3 message: the generic chunks in one of
 * two orders (any order is valid HEPv3, but some receivers read a fixed
 * layout: sngrep up to 1.x and hep-c copy a fixed struct -- family, protocol,
 * ports, times, protocol type, capture id, then the addresses, the key and
 * the payload -- and stop at the payload chunk, so siptap's default writes
 * exactly that and puts its optional chunks after the payload).
 * HEP_ORDER_SPEC is the order of the specification's worked example.
 *
 * TCP carries v3 messages back to back; hep_frame() finds where the next one
 * ends (v1/v2 have no total length and cannot be framed on a stream).
 */
#ifndef SIPTAP_DECODERS_HEP_H
#define SIPTAP_DECODERS_HEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"

#define HEP_V3_HEADER_LEN    6
#define HEP_CHUNK_HEADER_LEN 6
#define HEP_MAX_MESSAGE      65535

/* Protocol types (chunk 0x0b) siptap writes or reads. */
#define HEP_PROTO_SIP  1
#define HEP_PROTO_RTP  4
#define HEP_PROTO_RTCP 5
#define HEP_PROTO_LOG  100

/*
 * Why a message is refused, one name each (the input's counters in group
 * "hep" carry these names).
 */
#define HEP_ERRORS(X)                                                                              \
    X(truncated)          /* shorter than any header */                                            \
    X(bad_version)        /* neither "HEP3" nor a v1/v2 version byte */                            \
    X(bad_length)         /* the v3 total length is < 6 or past the bytes received */              \
    X(chunk_truncated)    /* a chunk header cut by the end of the message */                       \
    X(chunk_bad_length)   /* a chunk length < 6 or past the end of the message */                  \
    X(chunk_bad_size)     /* a known fixed-size chunk of another size */                           \
    X(bad_family)         /* an address family other than IPv4 / IPv6 */                           \
    X(address_mismatch)   /* addresses of the other family than chunk 1 says, or missing */        \
    X(missing_chunk)      /* no payload, family, protocol or ports */                              \
    X(compressed_payload) /* chunk 0x10 (gzip): not decompressed */                                \
    X(v2_truncated)       /* a v1/v2 header cut short */

enum hep_error {
    HEP_OK = 0,
#define HEP_ERROR_ENUM(name) HEP_ERR_##name,
    HEP_ERRORS(HEP_ERROR_ENUM)
#undef HEP_ERROR_ENUM
        HEP_ERR_COUNT
};

/* The counter name of an error ("bad_length"); "ok" for HEP_OK. */
const char *hep_error_name(enum hep_error e);

/* One HEP message. Byte fields point into the decoded buffer (or, to
 * encode, into the caller's memory); length 0 / NULL means absent. */
struct hep_message {
    uint8_t version;  /* 1, 2 or 3 */
    uint8_t ip_proto; /* 17 UDP, 6 TCP, 132 SCTP */
    struct net_addr src, dst;
    uint16_t sport, dport;
    bool has_time;
    uint32_t ts_sec, ts_usec;
    uint8_t proto_type; /* chunk 0x0b; 0 when absent */
    bool has_capture_id;
    uint32_t capture_id;
    const uint8_t *auth_key;
    size_t auth_key_len;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *correlation_id; /* chunk 0x11 */
    size_t correlation_id_len;
    const uint8_t *node_name; /* chunk 0x13 */
    size_t node_name_len;
    bool has_vlan;
    uint16_t vlan;
    unsigned unknown_chunks; /* skipped: another vendor or an unknown type */
};

/*
 * Decodes the message at the start of buf (len bytes: a UDP datagram, or a
 * frame hep_frame() found). A v3 message may be followed by bytes past its
 * total length; they are not read. Returns HEP_OK with *out filled, or the
 * error. out is only meaningful on HEP_OK.
 */
enum hep_error hep_decode(const uint8_t *buf, size_t len, struct hep_message *out);

/*
 * Stream framing. HEP_FRAME_OK: a whole v3 message of *msg_len bytes starts
 * at buf; HEP_FRAME_MORE: not enough bytes yet; HEP_FRAME_BAD: buf does not
 * start with a v3 header with a sane length (the caller resynchronises, e.g.
 * at the next "HEP3", see hep_find_magic).
 */
enum hep_frame { HEP_FRAME_OK, HEP_FRAME_MORE, HEP_FRAME_BAD };
enum hep_frame hep_frame(const uint8_t *buf, size_t len, size_t *msg_len);
/* Offset of the first "HEP3" at or after offset 1 in buf, or the offset
 * from which a cut "HEP3" could still begin (so no candidate is lost). */
size_t hep_find_magic(const uint8_t *buf, size_t len);

/* Chunk order of hep_encode (see the top comment). */
enum hep_order { HEP_ORDER_FIXED_HEADER, HEP_ORDER_SPEC };

/*
 * Encodes m as HEPv3 into out (cap bytes). Writes chunks 1-4 or 5-6 (by
 * m->src.family, which must equal m->dst.family), 7-10, 0x0b, 0x0c (when
 * has_capture_id), 0x0e, 0x0f, 0x11, 0x13 when given. Returns the message
 * length, or 0 if it does not fit in cap or in 65535 bytes, or the
 * addresses are unusable.
 */
size_t hep_encode(const struct hep_message *m, enum hep_order order, uint8_t *out, size_t cap);

/* The protocol type (chunk 0x0b) of a possibly cut v3 message (a datagram
 * quoted back in an ICMP error); 0 if it cannot be found. */
uint8_t hep_peek_proto_type(const uint8_t *buf, size_t len);

#endif

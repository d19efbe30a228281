/*
 * erf: Endace ERF records (link type 197), as DAG capture cards write them.
 *
 * Each frame is one ERF record: a 16-byte header (timestamp, type, flags,
 * rlen, loss counter or colour, wlen), then one 8-byte extension header per
 * step while the top bit of the type (then of each extension header's first
 * byte) is set, then the payload. rlen is the record's length, header
 * included, padded by the card; bytes past it are not the frame. Ethernet
 * records (ETH and its colour variants) start with a 2-byte offset/pad field
 * before the Ethernet header; IPv4 and IPv6 records start at the IP header.
 * Metadata (META) and padding (PAD) records carry no traffic (erf_meta);
 * HDLC/POS, ATM, InfiniBand and the other link types are counted and skipped
 * (erf_unsupported_type). The wire length is not read: the IP layers tell a
 * record cut by the snap length from its own lengths.
 */
#include "decoders/decode_internal.h"

#define ERF_HEADER_LEN          16
#define ERF_EXT_HEADER_LEN      8
#define ERF_ETH_PAD_LEN         2
#define ERF_TYPE_MASK           0x7f
#define ERF_MORE_EXT            0x80
#define ERF_MAX_EXT_HEADERS     16
#define ERF_TYPE_ETH            2
#define ERF_TYPE_COLOR_ETH      11
#define ERF_TYPE_DSM_COLOR_ETH  16
#define ERF_TYPE_COLOR_HASH_ETH 20
#define ERF_TYPE_IPV4           22
#define ERF_TYPE_IPV6           23
#define ERF_TYPE_META           27
#define ERF_TYPE_PAD            48

/* Offset of the payload past the extension headers; 0 if they are cut or
 * too many (counted). */
static size_t erf_skip_extensions(struct decoder *d, const uint8_t *data, size_t len)
{
    size_t off = ERF_HEADER_LEN;
    bool more = data[8] & ERF_MORE_EXT;
    for (unsigned n = 0; more; n++) {
        if (n == ERF_MAX_EXT_HEADERS) {
            (*d->c.erf_bad)++;
            return 0;
        }
        if (len - off < ERF_EXT_HEADER_LEN) {
            (*d->c.erf_truncated)++;
            return 0;
        }
        more = data[off] & ERF_MORE_EXT;
        off += ERF_EXT_HEADER_LEN;
    }
    return off;
}

void decode_erf(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    if (len < ERF_HEADER_LEN) {
        (*d->c.erf_truncated)++;
        return;
    }
    size_t rlen = read_be16(data + 10);
    if (rlen < ERF_HEADER_LEN) {
        (*d->c.erf_bad)++;
        return;
    }
    if (rlen < len)
        len = rlen;
    size_t off = erf_skip_extensions(d, data, len);
    if (off == 0)
        return;
    (*d->c.erf)++;
    switch (data[8] & ERF_TYPE_MASK) {
    case ERF_TYPE_ETH:
    case ERF_TYPE_COLOR_ETH:
    case ERF_TYPE_DSM_COLOR_ETH:
    case ERF_TYPE_COLOR_HASH_ETH:
        if (len - off < ERF_ETH_PAD_LEN) {
            (*d->c.erf_truncated)++;
            return;
        }
        off += ERF_ETH_PAD_LEN;
        decode_ethernet(d, p, data + off, len - off);
        break;
    case ERF_TYPE_IPV4:
        decode_ipv4(d, p, data + off, len - off);
        break;
    case ERF_TYPE_IPV6:
        decode_ipv6(d, p, data + off, len - off);
        break;
    case ERF_TYPE_META:
    case ERF_TYPE_PAD:
        (*d->c.erf_meta)++;
        break;
    default:
        (*d->c.erf_unsupported_type)++;
        break;
    }
}

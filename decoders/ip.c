/*
 * ip: IPv4 and IPv6 headers, then the transport protocol.
 *
 * IPv4: version, IHL and total length are checked against each other and
 * against what was captured; the view is trimmed to the total length (so
 * Ethernet padding never reaches UDP) and options are skipped by IHL. A total
 * length of 0 is what captures taken on a host with TCP segmentation offload
 * show: as Wireshark does, the captured length is used instead (and counted).
 * IPv6: the payload length is checked the same way, then the extension
 * header chain (hop-by-hop, routing, destination options, AH, fragment) is
 * walked, bounded in length. Fragments go to frag.c, which calls back
 * decode_transport() / decode_reassembled() with the whole datagram. The
 * innermost IP header decides the addresses in the packet view: a tunnelled
 * packet is reported by its inner addresses.
 */
#include "decoders/decode_internal.h"

#define IPV6_MAX_EXT_HEADERS 8

#define PROTO_HOPOPTS  0
#define PROTO_ICMP     1
#define PROTO_IPIP     4
#define PROTO_TCP      6
#define PROTO_IPV6     41
#define PROTO_ROUTING  43
#define PROTO_FRAGMENT 44
#define PROTO_GRE      47
#define PROTO_AH       51
#define PROTO_ICMPV6   58
#define PROTO_NONE     59
#define PROTO_DSTOPTS  60
#define PROTO_SCTP     132

/* Counted once per frame, however many IP layers a tunnel stacks. */
static void mark_truncated(struct decoder *d, struct packet *p)
{
    if (p->truncated)
        return;
    p->truncated = true;
    (*d->c.truncated)++;
}

void decode_ipv4(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    size_t header_len = 0, total_len = 0;
    bool tso;
    enum ipv4_verdict verdict = ipv4_check(data, len, &header_len, &total_len, &tso);
    if (tso)
        (*d->c.ipv4_tso_length)++;
    switch (verdict) {
    case IPV4_OK:
        break;
    case IPV4_BAD_VERSION:
        (*d->c.ipv4_bad_version)++;
        return;
    case IPV4_TRUNCATED:
        (*d->c.ipv4_truncated)++;
        return;
    case IPV4_BAD_IHL:
        (*d->c.ipv4_bad_ihl)++;
        return;
    case IPV4_BAD_LENGTH:
        (*d->c.ipv4_bad_length)++;
        return;
    case IPV4_CUT_SHORT:
        mark_truncated(d, p);
        break;
    }
    (*d->c.ipv4)++;
    net_addr_set_v4(&p->src, data + 12);
    net_addr_set_v4(&p->dst, data + 16);
    uint8_t proto = data[9];
    p->ip_proto = proto;
    uint16_t fragment = read_be16(data + 6);
    const uint8_t *payload = data + header_len;
    size_t payload_len = total_len - header_len;
    if (fragment & (IPV4_FLAG_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK)) {
        uint32_t offset = (uint32_t)(fragment & IPV4_FRAGMENT_OFFSET_MASK) * 8;
        frag_add(d, p, read_be16(data + 4), proto, offset,
                 (fragment & IPV4_FLAG_MORE_FRAGMENTS) != 0, header_len, payload, payload_len);
        return;
    }
    decode_transport(d, p, proto, payload, payload_len);
}

/*
 * Walks IPv6 extension headers starting with `next` at `data`. header_len is
 * what precedes data in the datagram (for the 65535 limit on fragments).
 * A fragment header inside a reassembled datagram (allow_fragment false) is
 * not followed: nested fragmentation is not valid IPv6.
 */
static void decode_ipv6_chain(struct decoder *d, struct packet *p, uint8_t next,
                              const uint8_t *data, size_t len, size_t header_len,
                              bool allow_fragment)
{
    for (unsigned count = 0;; count++) {
        size_t ext_len;
        switch (next) {
        case PROTO_HOPOPTS:
        case PROTO_ROUTING:
        case PROTO_DSTOPTS:
        case PROTO_AH:
        case PROTO_FRAGMENT:
            break;
        case PROTO_NONE:
            return;
        default:
            p->ip_proto = next;
            decode_transport(d, p, next, data, len);
            return;
        }
        if (count == IPV6_MAX_EXT_HEADERS) {
            (*d->c.ipv6_ext_chain_too_long)++;
            return;
        }
        if (len < 8) {
            (*d->c.ipv6_ext_truncated)++;
            return;
        }
        if (next == PROTO_FRAGMENT) {
            uint8_t inner = data[0];
            uint16_t offset_flags = read_be16(data + 2);
            uint32_t offset = offset_flags & 0xfff8;
            bool more = offset_flags & 0x0001;
            data += 8;
            len -= 8;
            header_len += 8;
            if (offset == 0 && !more) {
                /* An atomic fragment (RFC 6946) is a whole datagram. */
                next = inner;
                continue;
            }
            if (!allow_fragment) {
                (*d->c.frag_bad_length)++;
                return;
            }
            p->ip_proto = inner;
            frag_add(d, p, read_be32(data - 4), inner, offset, more, header_len, data, len);
            return;
        }
        ext_len = next == PROTO_AH ? ((size_t)data[1] + 2) * 4 : ((size_t)data[1] + 1) * 8;
        if (ext_len > len) {
            (*d->c.ipv6_ext_truncated)++;
            return;
        }
        next = data[0];
        data += ext_len;
        len -= ext_len;
        header_len += ext_len;
    }
}

void decode_ipv6(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    size_t payload_len = 0;
    switch (ipv6_check(data, len, &payload_len)) {
    case IPV6_OK:
        break;
    case IPV6_BAD_VERSION:
        (*d->c.ipv6_bad_version)++;
        return;
    case IPV6_TRUNCATED:
        (*d->c.ipv6_truncated)++;
        return;
    case IPV6_BAD_LENGTH:
        (*d->c.ipv6_bad_length)++;
        return;
    case IPV6_CUT_SHORT:
        mark_truncated(d, p);
        break;
    }
    (*d->c.ipv6)++;
    net_addr_set_v6(&p->src, data + 8);
    net_addr_set_v6(&p->dst, data + 24);
    decode_ipv6_chain(d, p, data[6], data + IPV6_HEADER_LEN, payload_len, IPV6_HEADER_LEN, true);
}

void decode_ip_any(struct decoder *d, struct packet *p, const uint8_t *data, size_t len,
                   uint64_t *bad_version)
{
    if (len < 1) {
        (*bad_version)++;
        return;
    }
    switch (data[0] >> 4) {
    case 4:
        decode_ipv4(d, p, data, len);
        break;
    case 6:
        decode_ipv6(d, p, data, len);
        break;
    default:
        (*bad_version)++;
        break;
    }
}

void decode_reassembled(struct decoder *d, struct packet *p, uint8_t proto, const uint8_t *data,
                        size_t len)
{
    if (p->src.family == 6)
        decode_ipv6_chain(d, p, proto, data, len, 0, false);
    else
        decode_transport(d, p, proto, data, len);
}

void decode_transport(struct decoder *d, struct packet *p, uint8_t proto, const uint8_t *data,
                      size_t len)
{
    p->ip_proto = proto;
    switch (proto) {
    case PROTO_UDP:
        decode_udp(d, p, data, len);
        break;
    case PROTO_TCP:
        decode_tcp(d, p, data, len);
        break;
    case PROTO_SCTP:
        decode_sctp(d, p, data, len);
        break;
    case PROTO_ICMP:
        (*d->c.icmp)++;
        break;
    case PROTO_ICMPV6:
        (*d->c.icmpv6)++;
        break;
    case PROTO_GRE:
        decode_gre(d, p, data, len);
        break;
    case PROTO_IPIP:
    case PROTO_IPV6:
        if (!tunnel_enter(d, p))
            return;
        (*d->c.ipip)++;
        if (proto == PROTO_IPIP)
            decode_ipv4(d, p, data, len);
        else
            decode_ipv6(d, p, data, len);
        break;
    default:
        (*d->c.unsupported_ip_proto)++;
        break;
    }
}

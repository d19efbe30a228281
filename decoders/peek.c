/*
 * peek: the UDP endpoints of a frame, read ahead of decoding it.
 *
 * The daemon looks a batch of frames over before processing them, to start
 * the cache misses of their flow lookups together (see decode.h). Only the
 * common shape of media on a SPAN port is recognised: Ethernet with up to two
 * VLAN tags, Linux cooked or raw IP, then an unfragmented IPv4 datagram or an
 * IPv6 packet with no extension header, then UDP. Anything else answers
 * false and is simply not prefetched; decoder_process() still decodes it in
 * full. The answer is a hint: it counts nothing and changes no state, but
 * its reads are bounds-checked like any other on wire data.
 */
#include "decoders/decode_internal.h"

#define VLAN_TAG_LEN   4
#define PEEK_MAX_VLANS 2

static bool peek_udp(const uint8_t *data, size_t len, struct endpoint *src, struct endpoint *dst)
{
    if (len < UDP_HEADER_LEN)
        return false;
    src->port = read_be16(data);
    dst->port = read_be16(data + 2);
    return true;
}

static bool peek_ip(const uint8_t *data, size_t len, struct endpoint *src, struct endpoint *dst)
{
    if (len < 1)
        return false;
    if (data[0] >> 4 == 4) {
        size_t header_len = (size_t)(data[0] & 0x0f) * 4;
        if (len < IPV4_MIN_HEADER_LEN || header_len < IPV4_MIN_HEADER_LEN || header_len > len)
            return false;
        /* Fragments (more-fragments flag or an offset) need reassembly. */
        if (data[9] != PROTO_UDP ||
            (read_be16(data + 6) & (IPV4_FLAG_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK)) != 0)
            return false;
        net_addr_set_v4(&src->addr, data + 12);
        net_addr_set_v4(&dst->addr, data + 16);
        return peek_udp(data + header_len, len - header_len, src, dst);
    }
    if (data[0] >> 4 == 6) {
        if (len < IPV6_HEADER_LEN || data[6] != PROTO_UDP)
            return false;
        net_addr_set_v6(&src->addr, data + 8);
        net_addr_set_v6(&dst->addr, data + 24);
        return peek_udp(data + IPV6_HEADER_LEN, len - IPV6_HEADER_LEN, src, dst);
    }
    return false;
}

static bool peek_ethertype(uint16_t type, const uint8_t *data, size_t len, struct endpoint *src,
                           struct endpoint *dst)
{
    for (unsigned tags = 0; type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ; tags++) {
        if (tags == PEEK_MAX_VLANS || len < VLAN_TAG_LEN)
            return false;
        type = read_be16(data + 2);
        data += VLAN_TAG_LEN;
        len -= VLAN_TAG_LEN;
    }
    if (type != ETHERTYPE_IPV4 && type != ETHERTYPE_IPV6)
        return false;
    return peek_ip(data, len, src, dst);
}

bool decoder_peek_udp(const struct decoder *d, const uint8_t *frame, uint32_t caplen,
                      struct endpoint *src, struct endpoint *dst)
{
    switch (d->dlt) {
    case LINK_EN10MB:
        if (caplen < ETH_HEADER_LEN)
            return false;
        return peek_ethertype(read_be16(frame + 12), frame + ETH_HEADER_LEN,
                              caplen - ETH_HEADER_LEN, src, dst);
    case LINK_LINUX_SLL:
        if (caplen < SLL_HEADER_LEN)
            return false;
        return peek_ethertype(read_be16(frame + 14), frame + SLL_HEADER_LEN,
                              caplen - SLL_HEADER_LEN, src, dst);
    case LINK_RAW_12:
    case LINK_RAW_14:
    case LINK_RAW:
    case LINK_IPV4:
    case LINK_IPV6:
        return peek_ip(frame, caplen, src, dst);
    default:
        return false;
    }
}

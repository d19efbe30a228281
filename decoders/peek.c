/*
 * peek: the common frame decoded in one pass (see decode.h).
 *
 * Only the shape of media on a SPAN port is followed: Ethernet with up to two
 * 802.1Q / 802.1ad tags, Linux cooked or raw IP, then an unfragmented IPv4
 * datagram or an IPv6 packet whose next header is UDP. Every header is judged
 * by the same checks the layers use (decode_internal.h), and anything a layer
 * would count as other than a plain success (a truncation, a TSO length of 0,
 * a fragment, VXLAN, a third tag) answers false, so the full decoder handles
 * it and counts it as it always has. Reads are bounds-checked like any other
 * on wire data; nothing is written but the view.
 */
#include "decoders/decode_internal.h"

#include <string.h>

static bool peek_udp(const uint8_t *data, size_t len, struct packet *out)
{
    size_t udp_len;
    if (udp_check(data, len, &udp_len) != UDP_OK)
        return false;
    out->ip_proto = PROTO_UDP;
    out->sport = read_be16(data);
    out->dport = read_be16(data + 2);
    if (out->dport == VXLAN_PORT)
        return false;
    out->payload = data + UDP_HEADER_LEN;
    out->payload_len = (uint32_t)(udp_len - UDP_HEADER_LEN);
    return true;
}

static bool peek_ipv4(const uint8_t *data, size_t len, struct packet *out)
{
    size_t header_len, total_len;
    bool tso;
    if (ipv4_check(data, len, &header_len, &total_len, &tso) != IPV4_OK || tso)
        return false;
    /* Fragments (more-fragments flag or an offset) need reassembly. */
    if (data[9] != PROTO_UDP ||
        (read_be16(data + 6) & (IPV4_FLAG_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK)) != 0)
        return false;
    net_addr_set_v4(&out->src, data + 12);
    net_addr_set_v4(&out->dst, data + 16);
    return peek_udp(data + header_len, total_len - header_len, out);
}

static bool peek_ipv6(const uint8_t *data, size_t len, struct packet *out)
{
    size_t payload_len;
    if (ipv6_check(data, len, &payload_len) != IPV6_OK || data[6] != PROTO_UDP)
        return false;
    net_addr_set_v6(&out->src, data + 8);
    net_addr_set_v6(&out->dst, data + 24);
    return peek_udp(data + IPV6_HEADER_LEN, payload_len, out);
}

/* By version nibble, as raw IP links are decoded. */
static bool peek_ip(const uint8_t *data, size_t len, struct packet *out)
{
    if (len < 1)
        return false;
    if (data[0] >> 4 == 4)
        return peek_ipv4(data, len, out);
    if (data[0] >> 4 == 6)
        return peek_ipv6(data, len, out);
    return false;
}

static bool peek_ethertype(uint16_t type, const uint8_t *data, size_t len, struct packet *out)
{
    while (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ) {
        /* No more tags than the view keeps, so its depth counts them all. */
        if (out->vlan_depth == PACKET_MAX_VLANS || len < VLAN_TAG_LEN)
            return false;
        out->vlan_ids[out->vlan_depth++] = read_be16(data) & 0x0fff;
        type = read_be16(data + 2);
        data += VLAN_TAG_LEN;
        len -= VLAN_TAG_LEN;
    }
    if (type == ETHERTYPE_IPV4)
        return peek_ipv4(data, len, out);
    if (type == ETHERTYPE_IPV6)
        return peek_ipv6(data, len, out);
    return false;
}

bool decoder_peek(const struct decoder *d, uint64_t ts_us, const uint8_t *frame, uint32_t caplen,
                  uint32_t wirelen, struct packet *out)
{
    memset(out, 0, sizeof(*out));
    out->ts_us = ts_us;
    out->frame = frame;
    out->caplen = caplen;
    out->wirelen = wirelen;
    switch (d->dlt) {
    case LINK_EN10MB:
        if (caplen < ETH_HEADER_LEN)
            return false;
        return peek_ethertype(read_be16(frame + 12), frame + ETH_HEADER_LEN,
                              caplen - ETH_HEADER_LEN, out);
    case LINK_LINUX_SLL:
        if (caplen < SLL_HEADER_LEN)
            return false;
        return peek_ethertype(read_be16(frame + 14), frame + SLL_HEADER_LEN,
                              caplen - SLL_HEADER_LEN, out);
    case LINK_RAW_12:
    case LINK_RAW_14:
    case LINK_RAW:
        return peek_ip(frame, caplen, out);
    case LINK_IPV4:
        return peek_ipv4(frame, caplen, out);
    case LINK_IPV6:
        return peek_ipv6(frame, caplen, out);
    default:
        return false;
    }
}

void decoder_process_peeked(struct decoder *d, const struct packet *peeked)
{
    decoder_frame_begin(d, peeked->ts_us);
    if (d->dlt == LINK_EN10MB)
        (*d->c.eth)++;
    else if (d->dlt == LINK_LINUX_SLL)
        (*d->c.sll)++;
    *d->c.vlan += peeked->vlan_depth;
    if (peeked->src.family == 6)
        (*d->c.ipv6)++;
    else
        (*d->c.ipv4)++;
    (*d->c.udp)++;
    if (d->handlers.udp)
        d->handlers.udp(d->handlers.user, peeked);
}

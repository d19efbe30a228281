/*
 * ethernet: Ethernet II and what an ethertype can lead to before IP.
 *
 * decode_ethertype() is the one dispatch on ethertype, shared by Ethernet,
 * Linux cooked captures and the tunnels that carry Ethernet (GRE bridging,
 * ERSPAN, VXLAN). VLAN tags (802.1Q 0x8100, 802.1ad 0x88A8, the older QinQ
 * 0x9100) are peeled in a loop, the first PACKET_MAX_VLANS ids kept in the
 * packet view. MPLS labels are skipped up to the bottom-of-stack bit and the
 * payload told by its first nibble (4, 6, or 0 for a pseudowire control word
 * followed by Ethernet). PPPoE session frames carry PPP; only IPv4 (0x0021)
 * and IPv6 (0x0057) are followed.
 */
#include "decoders/decode_internal.h"

#define ETHERTYPE_ARP            0x0806
#define ETHERTYPE_QINQ_OLD       0x9100
#define ETHERTYPE_MPLS           0x8847
#define ETHERTYPE_MPLS_MULTICAST 0x8848
#define ETHERTYPE_PPPOE_SESSION  0x8864
/* Below this the field is an 802.3 length, not a type. */
#define ETHERTYPE_MIN 0x0600
/* More tags than this is not a real network; stop rather than loop. */
#define VLAN_MAX_TAGS   8
#define MPLS_MAX_LABELS 16
#define PPP_IPV4        0x0021
#define PPP_IPV6        0x0057

void decode_ethernet(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    if (len < ETH_HEADER_LEN) {
        (*d->c.eth_truncated)++;
        return;
    }
    (*d->c.eth)++;
    uint16_t type = read_be16(data + 12);
    if (type < ETHERTYPE_MIN) {
        (*d->c.eth_llc)++;
        return;
    }
    decode_ethertype(d, p, type, data + ETH_HEADER_LEN, len - ETH_HEADER_LEN);
}

static void decode_mpls(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    (*d->c.mpls)++;
    for (unsigned labels = 0;; labels++) {
        if (labels == MPLS_MAX_LABELS) {
            (*d->c.mpls_too_deep)++;
            return;
        }
        if (len < 4) {
            (*d->c.mpls_truncated)++;
            return;
        }
        bool bottom = data[2] & 0x01;
        data += 4;
        len -= 4;
        if (bottom)
            break;
    }
    if (len < 1) {
        (*d->c.mpls_truncated)++;
        return;
    }
    if (data[0] >> 4 == 0) {
        /* Ethernet pseudowire with its 4-byte control word (RFC 4385). */
        if (len < 4) {
            (*d->c.mpls_truncated)++;
            return;
        }
        decode_ethernet(d, p, data + 4, len - 4);
        return;
    }
    decode_ip_any(d, p, data, len, d->c.mpls_unsupported_payload);
}

static void decode_pppoe(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    /* ver/type 0x11, code 0 (session data), session id, payload length, PPP protocol. */
    if (len < 8 || data[0] != 0x11 || data[1] != 0x00) {
        (*d->c.pppoe_bad)++;
        return;
    }
    size_t payload_len = read_be16(data + 4);
    if (payload_len < 2) {
        (*d->c.pppoe_bad)++;
        return;
    }
    /* Past the captured bytes: a snap length cut the frame; IP says so. */
    if (payload_len > len - 6)
        payload_len = len - 6;
    (*d->c.pppoe)++;
    uint16_t proto = read_be16(data + 6);
    const uint8_t *ip = data + 8;
    size_t ip_len = payload_len - 2;
    if (proto == PPP_IPV4)
        decode_ipv4(d, p, ip, ip_len);
    else if (proto == PPP_IPV6)
        decode_ipv6(d, p, ip, ip_len);
    else
        (*d->c.pppoe_unsupported_proto)++;
}

void decode_ethertype(struct decoder *d, struct packet *p, uint16_t type, const uint8_t *data,
                      size_t len)
{
    unsigned tags = 0;
    while (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD) {
        if (len < VLAN_TAG_LEN) {
            (*d->c.vlan_truncated)++;
            return;
        }
        if (++tags > VLAN_MAX_TAGS) {
            (*d->c.vlan_too_deep)++;
            return;
        }
        (*d->c.vlan)++;
        if (p->vlan_depth < PACKET_MAX_VLANS)
            p->vlan_ids[p->vlan_depth++] = read_be16(data) & 0x0fff;
        type = read_be16(data + 2);
        data += VLAN_TAG_LEN;
        len -= VLAN_TAG_LEN;
    }
    switch (type) {
    case ETHERTYPE_IPV4:
        decode_ipv4(d, p, data, len);
        break;
    case ETHERTYPE_IPV6:
        decode_ipv6(d, p, data, len);
        break;
    case ETHERTYPE_MPLS:
    case ETHERTYPE_MPLS_MULTICAST:
        decode_mpls(d, p, data, len);
        break;
    case ETHERTYPE_PPPOE_SESSION:
        decode_pppoe(d, p, data, len);
        break;
    case ETHERTYPE_ARP:
        (*d->c.arp)++;
        break;
    default:
        (*d->c.unsupported_ethertype)++;
        break;
    }
}

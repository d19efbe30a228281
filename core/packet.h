/*
 * packet: the zero-copy view of one decoded packet.
 *
 * Decoders fill it layer by layer with pointers and lengths into the captured
 * bytes (or, for a reassembled IP datagram, into the reassembly buffer, valid
 * only for the duration of the callback). Nothing here is allocated per packet.
 */
#ifndef SIPTAP_CORE_PACKET_H
#define SIPTAP_CORE_PACKET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/netaddr.h"

#define PACKET_MAX_VLANS 2

struct packet {
    uint64_t ts_us; /* capture time, microseconds since the Unix epoch */
    const uint8_t *frame;
    uint32_t caplen, wirelen;

    uint16_t vlan_ids[PACKET_MAX_VLANS];
    uint8_t vlan_depth;
    uint8_t tunnel_depth; /* GRE / ERSPAN / VXLAN / IP-in-IP layers peeled */

    struct net_addr src, dst;
    uint8_t ip_proto;      /* 17 UDP, 6 TCP, 132 SCTP ... */
    bool reassembled;      /* payload comes from IP fragment reassembly */
    uint16_t sport, dport; /* UDP / TCP */
    /* The capture ends before the datagram does (a snap length, a broken
     * file): payload holds only the bytes captured, the headers in it are
     * real but what follows them is cut. A cut SIP message is no message. */
    bool truncated;
    /* The engine's look-ahead already hashed this packet's flow key (src,
     * sport, dst, dport) for the RTP flow table: flow_hash is that hash, and
     * the packet's flow lookup starts from it (rtp_flow_find_packet). */
    bool flow_hashed;

    const uint8_t *payload; /* transport payload */
    uint32_t payload_len;
    uint64_t flow_hash;
};

#endif

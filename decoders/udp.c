/*
 * udp: the UDP header, then the caller's udp handler.
 *
 * The length field must cover the 8-byte header and fit in the IP payload;
 * the view is trimmed to it (IP payload beyond the UDP length is padding).
 * In a truncated packet (ip.c) a length past the captured bytes is expected:
 * the payload is what was captured and the packet stays truncated; a length
 * within them means the datagram itself is whole after all.
 * Checksums are not verified: captures from the sending host carry
 * offloaded, not yet computed, checksums. Destination port 4789 is VXLAN,
 * decapsulated here instead of being handed up as a datagram.
 */
#include "decoders/decode_internal.h"

void decode_udp(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    size_t udp_len = 0;
    switch (udp_check(data, len, &udp_len)) {
    case UDP_OK:
        p->truncated = false;
        break;
    case UDP_TRUNCATED:
        (*d->c.udp_truncated)++;
        return;
    case UDP_BAD_LENGTH:
        if (!p->truncated || read_be16(data + 4) < UDP_HEADER_LEN) {
            (*d->c.udp_bad_length)++;
            return;
        }
        udp_len = len;
        break;
    }
    (*d->c.udp)++;
    p->sport = read_be16(data);
    p->dport = read_be16(data + 2);
    if (p->dport == VXLAN_PORT) {
        decode_vxlan(d, p, data + UDP_HEADER_LEN, udp_len - UDP_HEADER_LEN);
        return;
    }
    p->payload = data + UDP_HEADER_LEN;
    p->payload_len = (uint32_t)(udp_len - UDP_HEADER_LEN);
    if (d->handlers.udp)
        d->handlers.udp(d->handlers.user, p);
}

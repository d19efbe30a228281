/*
 * tunnel: encapsulations used for remote mirroring, peeled to the inner frame.
 *
 * GRE (RFC 2784/2890): a 4-byte base header, then 4 bytes each for the
 * checksum, key and sequence number when their flag bits are set. The GRE
 * protocol type says what follows: IPv4/IPv6 directly, Ethernet (0x6558,
 * transparent bridging), ERSPAN type I/II (0x88BE: an 8-byte header when the
 * sequence bit is set, none for type I) or ERSPAN type III (0x22EB: a 12-byte
 * header plus an 8-byte platform subheader when its O bit is set), each then
 * Ethernet. VXLAN (RFC 7348) is an 8-byte header with the I flag, then
 * Ethernet. IP-in-IP is handled in ip.c. Every layer peeled goes through
 * tunnel_enter(), which bounds the nesting so a crafted packet cannot recurse
 * deeply.
 */
#include "decoders/decode_internal.h"

#define GRE_FLAG_CHECKSUM     0x8000
#define GRE_FLAG_ROUTING      0x4000
#define GRE_FLAG_KEY          0x2000
#define GRE_FLAG_SEQUENCE     0x1000
#define GRE_VERSION_MASK      0x0007
#define GRE_PROTO_IPV4        0x0800
#define GRE_PROTO_IPV6        0x86DD
#define GRE_PROTO_BRIDGING    0x6558
#define GRE_PROTO_ERSPAN2     0x88BE
#define GRE_PROTO_ERSPAN3     0x22EB
#define ERSPAN2_HEADER_LEN    8
#define ERSPAN3_HEADER_LEN    12
#define ERSPAN3_SUBHEADER_LEN 8
#define VXLAN_HEADER_LEN      8
#define VXLAN_FLAG_VNI        0x08

bool tunnel_enter(struct decoder *d, struct packet *p)
{
    if (p->tunnel_depth >= d->cfg.tunnel_max_depth) {
        (*d->c.tunnel_too_deep)++;
        return false;
    }
    p->tunnel_depth++;
    return true;
}

static void decode_erspan(struct decoder *d, struct packet *p, bool type3, const uint8_t *data,
                          size_t len)
{
    size_t header = type3 ? ERSPAN3_HEADER_LEN : ERSPAN2_HEADER_LEN;
    if (len < header) {
        (*d->c.erspan_truncated)++;
        return;
    }
    unsigned version = data[0] >> 4;
    if (version != (type3 ? 2u : 1u)) {
        (*d->c.erspan_bad_version)++;
        return;
    }
    if (type3 && (data[11] & 0x01)) {
        header += ERSPAN3_SUBHEADER_LEN;
        if (len < header) {
            (*d->c.erspan_truncated)++;
            return;
        }
    }
    (*d->c.erspan)++;
    decode_ethernet(d, p, data + header, len - header);
}

void decode_gre(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    if (len < 4) {
        (*d->c.gre_truncated)++;
        return;
    }
    uint16_t flags = read_be16(data);
    uint16_t proto = read_be16(data + 2);
    /* Version 1 is PPTP's enhanced GRE; routing (RFC 1701) is obsolete. */
    if ((flags & GRE_VERSION_MASK) != 0 || (flags & GRE_FLAG_ROUTING)) {
        (*d->c.gre_unsupported)++;
        return;
    }
    size_t header = 4;
    if (flags & GRE_FLAG_CHECKSUM)
        header += 4;
    if (flags & GRE_FLAG_KEY)
        header += 4;
    if (flags & GRE_FLAG_SEQUENCE)
        header += 4;
    if (len < header) {
        (*d->c.gre_truncated)++;
        return;
    }
    if (!tunnel_enter(d, p))
        return;
    (*d->c.gre)++;
    data += header;
    len -= header;
    switch (proto) {
    case GRE_PROTO_IPV4:
        decode_ipv4(d, p, data, len);
        break;
    case GRE_PROTO_IPV6:
        decode_ipv6(d, p, data, len);
        break;
    case GRE_PROTO_BRIDGING:
        decode_ethernet(d, p, data, len);
        break;
    case GRE_PROTO_ERSPAN2:
        if (flags & GRE_FLAG_SEQUENCE) {
            decode_erspan(d, p, false, data, len);
        } else {
            /* ERSPAN type I: no header of its own. */
            (*d->c.erspan)++;
            decode_ethernet(d, p, data, len);
        }
        break;
    case GRE_PROTO_ERSPAN3:
        decode_erspan(d, p, true, data, len);
        break;
    default:
        (*d->c.gre_unsupported)++;
        break;
    }
}

void decode_vxlan(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    if (len < VXLAN_HEADER_LEN || !(data[0] & VXLAN_FLAG_VNI)) {
        (*d->c.vxlan_bad)++;
        return;
    }
    if (!tunnel_enter(d, p))
        return;
    (*d->c.vxlan)++;
    decode_ethernet(d, p, data + VXLAN_HEADER_LEN, len - VXLAN_HEADER_LEN);
}

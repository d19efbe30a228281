/*
 * link: the capture's link layer, chosen by pcap link type.
 *
 * Ethernet goes to ethernet.c. Linux cooked captures (SLL, 16-byte header;
 * SLL2, 20-byte header) carry an ethertype and go to the same ethertype
 * dispatch. Raw IP link types start at the IP header and are told apart by
 * the version nibble. BSD loopback (DLT_NULL, host byte order; DLT_LOOP,
 * network order) starts with a 4-byte address family; since a capture file
 * may come from a host of the other endianness, both byte orders are accepted
 * (AF_INET is 2 everywhere, AF_INET6 is 24, 28 or 30 depending on the BSD).
 * Endace ERF records (DAG cards) go to erf.c.
 */
#include "decoders/decode_internal.h"

int decoder_set_linktype(struct decoder *d, int dlt)
{
    switch (dlt) {
    case LINK_NULL:
    case LINK_EN10MB:
    case LINK_RAW_12:
    case LINK_RAW_14:
    case LINK_RAW:
    case LINK_LOOP:
    case LINK_LINUX_SLL:
    case LINK_IPV4:
    case LINK_IPV6:
    case LINK_LINUX_SLL2:
    case LINK_ERF:
        d->dlt = dlt;
        return 0;
    default:
        d->dlt = -1;
        return -1;
    }
}

static bool is_af_inet6(uint32_t af)
{
    return af == 24 || af == 28 || af == 30;
}

static void decode_null(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    if (len < 4) {
        (*d->c.null_truncated)++;
        return;
    }
    uint32_t be = read_be32(data);
    uint32_t le =
        (uint32_t)data[3] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[1] << 8 | data[0];
    if (be == 2 || le == 2)
        decode_ipv4(d, p, data + 4, len - 4);
    else if (is_af_inet6(be) || is_af_inet6(le))
        decode_ipv6(d, p, data + 4, len - 4);
    else
        (*d->c.null_unsupported_family)++;
}

static void decode_sll(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    if (len < SLL_HEADER_LEN) {
        (*d->c.sll_truncated)++;
        return;
    }
    (*d->c.sll)++;
    decode_ethertype(d, p, read_be16(data + 14), data + SLL_HEADER_LEN, len - SLL_HEADER_LEN);
}

static void decode_sll2(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    if (len < SLL2_HEADER_LEN) {
        (*d->c.sll_truncated)++;
        return;
    }
    (*d->c.sll2)++;
    decode_ethertype(d, p, read_be16(data), data + SLL2_HEADER_LEN, len - SLL2_HEADER_LEN);
}

void decode_link(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    switch (d->dlt) {
    case LINK_EN10MB:
        decode_ethernet(d, p, data, len);
        break;
    case LINK_LINUX_SLL:
        decode_sll(d, p, data, len);
        break;
    case LINK_LINUX_SLL2:
        decode_sll2(d, p, data, len);
        break;
    case LINK_NULL:
    case LINK_LOOP:
        decode_null(d, p, data, len);
        break;
    case LINK_RAW_12:
    case LINK_RAW_14:
    case LINK_RAW:
        decode_ip_any(d, p, data, len, d->c.raw_bad_version);
        break;
    case LINK_IPV4:
        decode_ipv4(d, p, data, len);
        break;
    case LINK_IPV6:
        decode_ipv6(d, p, data, len);
        break;
    case LINK_ERF:
        decode_erf(d, p, data, len);
        break;
    default:
        (*d->c.unsupported_link)++;
        break;
    }
}

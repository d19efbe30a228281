/*
 * hep: HEPv1/v2/v3 decoding and HEPv3 encoding (the contract is in hep.h).
 *
 * v3 is a 6-byte header ("HEP3", total length) and chunks of
 * vendor / type / length (length counting the chunk's own 6 bytes). The
 * decoder walks them within the total length only, so a chunk can never
 * reach past its message, whatever the lengths say. v1/v2 are a fixed
 * header (version, header length, family, protocol, ports), the two
 * addresses and, in v2, seconds / microseconds / capture id written in the
 * sender's byte order: hep-c, sngrep and Kamailio on x86 write them little
 * endian, so that is read first, and big endian where the microseconds only
 * make sense that way.
 */
#include "decoders/hep.h"

#include <string.h>

static const char *const hep_error_names[] = {"ok",
#define HEP_ERROR_NAME(name) #name,
                                              HEP_ERRORS(HEP_ERROR_NAME)
#undef HEP_ERROR_NAME
};

const char *hep_error_name(enum hep_error e)
{
    if ((unsigned)e >= sizeof(hep_error_names) / sizeof(hep_error_names[0]))
        return "unknown";
    return hep_error_names[e];
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* AF_INET / AF_INET6 as Linux numbers them on the wire; 0 if neither. */
static uint8_t family_from_wire(uint8_t f)
{
    return f == 2 ? 4 : f == 10 ? 6 : 0;
}

/* ---- v3 ------------------------------------------------------------------ */

struct v3_seen {
    uint8_t family; /* 4 / 6 from chunk 1 */
    bool proto, sport, dport, compressed;
    uint8_t src_family, dst_family;
};

/* One generic (vendor 0) chunk. HEP_OK, or why it is refused. */
static enum hep_error v3_chunk(uint16_t type, const uint8_t *b, size_t n, struct hep_message *m,
                               struct v3_seen *s)
{
    switch (type) {
    case 0x01:
        if (n != 1)
            return HEP_ERR_chunk_bad_size;
        s->family = family_from_wire(b[0]);
        return s->family ? HEP_OK : HEP_ERR_bad_family;
    case 0x02:
        if (n != 1)
            return HEP_ERR_chunk_bad_size;
        m->ip_proto = b[0];
        s->proto = true;
        return HEP_OK;
    case 0x03:
    case 0x04:
        if (n != 4)
            return HEP_ERR_chunk_bad_size;
        net_addr_set_v4(type == 0x03 ? &m->src : &m->dst, b);
        *(type == 0x03 ? &s->src_family : &s->dst_family) = 4;
        return HEP_OK;
    case 0x05:
    case 0x06:
        if (n != 16)
            return HEP_ERR_chunk_bad_size;
        net_addr_set_v6(type == 0x05 ? &m->src : &m->dst, b);
        *(type == 0x05 ? &s->src_family : &s->dst_family) = 6;
        return HEP_OK;
    case 0x07:
    case 0x08:
        if (n != 2)
            return HEP_ERR_chunk_bad_size;
        *(type == 0x07 ? &m->sport : &m->dport) = be16(b);
        *(type == 0x07 ? &s->sport : &s->dport) = true;
        return HEP_OK;
    case 0x09:
    case 0x0a:
        if (n != 4)
            return HEP_ERR_chunk_bad_size;
        *(type == 0x09 ? &m->ts_sec : &m->ts_usec) = be32(b);
        m->has_time = true;
        return HEP_OK;
    case 0x0b:
        if (n != 1)
            return HEP_ERR_chunk_bad_size;
        m->proto_type = b[0];
        return HEP_OK;
    case 0x0c: /* u32; some old agents write a u16 */
        if (n != 4 && n != 2)
            return HEP_ERR_chunk_bad_size;
        m->capture_id = n == 4 ? be32(b) : be16(b);
        m->has_capture_id = true;
        return HEP_OK;
    case 0x0e:
        m->auth_key = b, m->auth_key_len = n;
        return HEP_OK;
    case 0x0f:
        m->payload = b, m->payload_len = n;
        return HEP_OK;
    case 0x10:
        s->compressed = true;
        return HEP_OK;
    case 0x11:
        m->correlation_id = b, m->correlation_id_len = n;
        return HEP_OK;
    case 0x12:
        if (n != 2)
            return HEP_ERR_chunk_bad_size;
        m->vlan = be16(b);
        m->has_vlan = true;
        return HEP_OK;
    case 0x13:
        m->node_name = b, m->node_name_len = n;
        return HEP_OK;
    default:
        m->unknown_chunks++;
        return HEP_OK;
    }
}

static enum hep_error decode_v3(const uint8_t *buf, size_t len, struct hep_message *m)
{
    if (len < HEP_V3_HEADER_LEN)
        return HEP_ERR_truncated;
    if (memcmp(buf, "HEP3", 4) != 0)
        return HEP_ERR_bad_version;
    size_t total = be16(buf + 4);
    if (total < HEP_V3_HEADER_LEN || total > len)
        return HEP_ERR_bad_length;
    m->version = 3;
    struct v3_seen s = {0};
    size_t off = HEP_V3_HEADER_LEN;
    while (off < total) {
        if (total - off < HEP_CHUNK_HEADER_LEN)
            return HEP_ERR_chunk_truncated;
        uint16_t vendor = be16(buf + off), type = be16(buf + off + 2);
        size_t clen = be16(buf + off + 4);
        if (clen < HEP_CHUNK_HEADER_LEN || clen > total - off)
            return HEP_ERR_chunk_bad_length;
        if (vendor != 0) {
            m->unknown_chunks++;
        } else {
            enum hep_error e = v3_chunk(type, buf + off + HEP_CHUNK_HEADER_LEN,
                                        clen - HEP_CHUNK_HEADER_LEN, m, &s);
            if (e != HEP_OK)
                return e;
        }
        off += clen;
    }
    if (!m->payload)
        return s.compressed ? HEP_ERR_compressed_payload : HEP_ERR_missing_chunk;
    if (!s.family || !s.proto || !s.sport || !s.dport)
        return HEP_ERR_missing_chunk;
    if (s.src_family != s.family || s.dst_family != s.family)
        return HEP_ERR_address_mismatch;
    return HEP_OK;
}

/* ---- v1 / v2 ------------------------------------------------------------- */

#define HEP_V2_FIXED_LEN 8
#define HEP_V2_TIME_LEN  12

static enum hep_error decode_v12(const uint8_t *buf, size_t len, struct hep_message *m)
{
    if (len < HEP_V2_FIXED_LEN)
        return HEP_ERR_v2_truncated;
    m->version = buf[0];
    uint8_t family = family_from_wire(buf[2]);
    if (!family)
        return HEP_ERR_bad_family;
    m->ip_proto = buf[3];
    m->sport = be16(buf + 4);
    m->dport = be16(buf + 6);
    size_t alen = family == 4 ? 4 : 16;
    size_t off = HEP_V2_FIXED_LEN;
    if (len - off < 2 * alen)
        return HEP_ERR_v2_truncated;
    if (family == 4) {
        net_addr_set_v4(&m->src, buf + off);
        net_addr_set_v4(&m->dst, buf + off + 4);
    } else {
        net_addr_set_v6(&m->src, buf + off);
        net_addr_set_v6(&m->dst, buf + off + 16);
    }
    off += 2 * alen;
    if (m->version == 2) {
        if (len - off < HEP_V2_TIME_LEN)
            return HEP_ERR_v2_truncated;
        const uint8_t *t = buf + off;
        bool big = le32(t + 4) >= 1000000u && be32(t + 4) < 1000000u;
        m->ts_sec = big ? be32(t) : le32(t);
        m->ts_usec = big ? be32(t + 4) : le32(t + 4);
        m->capture_id = big ? be16(t + 8) : (uint16_t)(t[9] << 8 | t[8]);
        m->has_time = m->has_capture_id = true;
        off += HEP_V2_TIME_LEN;
    }
    if (off == len)
        return HEP_ERR_missing_chunk;
    m->payload = buf + off;
    m->payload_len = len - off;
    return HEP_OK;
}

enum hep_error hep_decode(const uint8_t *buf, size_t len, struct hep_message *out)
{
    memset(out, 0, sizeof(*out));
    if (!buf || len == 0)
        return HEP_ERR_truncated;
    if (buf[0] == 1 || buf[0] == 2)
        return decode_v12(buf, len, out);
    if (buf[0] == 'H')
        return decode_v3(buf, len, out);
    return HEP_ERR_bad_version;
}

/* ---- framing ------------------------------------------------------------- */

enum hep_frame hep_frame(const uint8_t *buf, size_t len, size_t *msg_len)
{
    size_t cmp = len < 4 ? len : 4;
    if (memcmp(buf, "HEP3", cmp) != 0)
        return HEP_FRAME_BAD;
    if (len < HEP_V3_HEADER_LEN)
        return HEP_FRAME_MORE;
    size_t total = be16(buf + 4);
    if (total < HEP_V3_HEADER_LEN)
        return HEP_FRAME_BAD;
    if (total > len)
        return HEP_FRAME_MORE;
    *msg_len = total;
    return HEP_FRAME_OK;
}

size_t hep_find_magic(const uint8_t *buf, size_t len)
{
    for (size_t i = 1; i < len; i++) {
        size_t n = len - i < 4 ? len - i : 4;
        if (memcmp(buf + i, "HEP3", n) == 0)
            return i;
    }
    return len;
}

/* ---- encoding ------------------------------------------------------------ */

struct writer {
    uint8_t *out;
    size_t cap, off;
    bool ok;
};

static void put_chunk(struct writer *w, uint16_t type, const void *data, size_t n)
{
    size_t clen = HEP_CHUNK_HEADER_LEN + n;
    if (!w->ok || clen > HEP_MAX_MESSAGE || w->cap - w->off < clen) {
        w->ok = false;
        return;
    }
    uint8_t *p = w->out + w->off;
    p[0] = 0, p[1] = 0;
    p[2] = (uint8_t)(type >> 8), p[3] = (uint8_t)type;
    p[4] = (uint8_t)(clen >> 8), p[5] = (uint8_t)clen;
    if (n)
        memcpy(p + HEP_CHUNK_HEADER_LEN, data, n);
    w->off += clen;
}

static void put_u8(struct writer *w, uint16_t type, uint8_t v)
{
    put_chunk(w, type, &v, 1);
}

static void put_u16(struct writer *w, uint16_t type, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put_chunk(w, type, b, 2);
}

static void put_u32(struct writer *w, uint16_t type, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put_chunk(w, type, b, 4);
}

static void put_addresses(struct writer *w, const struct hep_message *m)
{
    bool v4 = m->src.family == 4;
    put_chunk(w, v4 ? 0x03 : 0x05, m->src.bytes, v4 ? 4 : 16);
    put_chunk(w, v4 ? 0x04 : 0x06, m->dst.bytes, v4 ? 4 : 16);
}

static void put_ports_times(struct writer *w, const struct hep_message *m)
{
    put_u16(w, 0x07, m->sport);
    put_u16(w, 0x08, m->dport);
    put_u32(w, 0x09, m->ts_sec);
    put_u32(w, 0x0a, m->ts_usec);
    put_u8(w, 0x0b, m->proto_type);
    put_u32(w, 0x0c, m->capture_id);
}

size_t hep_encode(const struct hep_message *m, enum hep_order order, uint8_t *out, size_t cap)
{
    if (m->src.family != m->dst.family || (m->src.family != 4 && m->src.family != 6))
        return 0;
    if (cap < HEP_V3_HEADER_LEN)
        return 0;
    struct writer w = {out, cap > HEP_MAX_MESSAGE ? HEP_MAX_MESSAGE : cap, HEP_V3_HEADER_LEN, true};
    put_u8(&w, 0x01, m->src.family == 4 ? 2 : 10);
    put_u8(&w, 0x02, m->ip_proto);
    if (order == HEP_ORDER_SPEC) {
        put_addresses(&w, m);
        put_ports_times(&w, m);
    } else {
        put_ports_times(&w, m);
        put_addresses(&w, m);
    }
    if (m->auth_key_len)
        put_chunk(&w, 0x0e, m->auth_key, m->auth_key_len);
    put_chunk(&w, 0x0f, m->payload, m->payload_len);
    if (m->correlation_id_len)
        put_chunk(&w, 0x11, m->correlation_id, m->correlation_id_len);
    if (m->node_name_len)
        put_chunk(&w, 0x13, m->node_name, m->node_name_len);
    if (!w.ok)
        return 0;
    memcpy(out, "HEP3", 4);
    out[4] = (uint8_t)(w.off >> 8);
    out[5] = (uint8_t)w.off;
    return w.off;
}

uint8_t hep_peek_proto_type(const uint8_t *buf, size_t len)
{
    if (len < HEP_V3_HEADER_LEN || memcmp(buf, "HEP3", 4) != 0)
        return 0;
    size_t off = HEP_V3_HEADER_LEN;
    while (len - off >= HEP_CHUNK_HEADER_LEN) {
        size_t clen = be16(buf + off + 4);
        if (clen < HEP_CHUNK_HEADER_LEN)
            return 0;
        if (be16(buf + off) == 0 && be16(buf + off + 2) == 0x0b && clen == 7 && len - off >= 7)
            return buf[off + 6];
        if (clen > len - off)
            return 0;
        off += clen;
    }
    return 0;
}

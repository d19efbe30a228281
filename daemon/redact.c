/*
 * redact: see redact.h.
 *
 * Two halves: a scan of the text for credential header lines (a line break,
 * or the start of the text, then the header name, optional blanks and a
 * colon; the value runs to a line break not followed by a blank), and a
 * small walk of the frame's headers (link, IPv4/IPv6, transport) to find
 * the checksum that covers the masked bytes. Nothing is allocated; every
 * offset is checked against caplen before it is read.
 */
#include "daemon/redact.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define IPPROTO_TCP_   6
#define IPPROTO_UDP_   17
#define IPPROTO_SCTP_  132

/* ---- the SIP text ---- */

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static bool is_space(uint8_t c)
{
    return is_blank(c) || c == '\r' || c == '\n';
}

static bool is_token(uint8_t c)
{
    return c > ' ' && c < 0x7f && c != ',' && c != '=' && c != '"' && c != ';';
}

static uint32_t skip_space(const uint8_t *t, uint32_t i, uint32_t end)
{
    while (i < end && is_space(t[i]))
        i++;
    return i;
}

/* The end of the header value that starts at i: a line break that is not
 * folded (followed by a blank), or the end of the text. */
static uint32_t value_end(const uint8_t *t, uint32_t n, uint32_t i)
{
    for (; i < n; i++) {
        if (t[i] != '\r' && t[i] != '\n')
            continue;
        uint32_t j = i + 1;
        if (t[i] == '\r' && j < n && t[j] == '\n')
            j++;
        if (j >= n || !is_blank(t[j]))
            return i;
        i = j;
    }
    return n;
}

/* Where the value of a credential header starting at i begins, or 0. */
static uint32_t credential_header(const uint8_t *t, uint32_t n, uint32_t i)
{
    static const char *const names[] = {"authorization", "proxy-authorization"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        uint32_t len = (uint32_t)strlen(names[k]);
        if (n - i <= len || strncasecmp((const char *)t + i, names[k], len) != 0)
            continue;
        uint32_t j = i + len;
        while (j < n && is_blank(t[j]))
            j++;
        if (j < n && t[j] == ':')
            return j + 1;
    }
    return 0;
}

/* Overwrites t[i..j) with 'x' but for line breaks; the bytes overwritten. */
static uint32_t mask_span(uint8_t *t, uint32_t i, uint32_t j)
{
    uint32_t masked = 0;
    for (; i < j; i++)
        if (t[i] != '\r' && t[i] != '\n') {
            t[i] = 'x';
            masked++;
        }
    return masked;
}

/* A parameter value at i (quoted string or token); masks it when asked.
 * Returns where it ends; *masked counts a non-empty masked value. */
static uint32_t param_value(uint8_t *t, uint32_t i, uint32_t end, bool mask, unsigned *masked)
{
    uint32_t from = i, to;
    if (i < end && t[i] == '"') {
        from = ++i;
        while (i < end && t[i] != '"')
            i += t[i] == '\\' && i + 1 < end ? 2 : 1;
        to = i < end ? i : end;
        i = to < end ? to + 1 : end;
    } else {
        while (i < end && is_token(t[i]))
            i++;
        to = i;
    }
    if (mask && mask_span(t, from, to) > 0)
        (*masked)++;
    return i;
}

/* The parameters of one credential header value, t[i..end). */
static unsigned mask_credentials(uint8_t *t, uint32_t i, uint32_t end)
{
    unsigned masked = 0;
    i = skip_space(t, i, end);
    uint32_t scheme = i;
    while (i < end && is_token(t[i]))
        i++;
    if (i - scheme == 5 && strncasecmp((const char *)t + scheme, "basic", 5) == 0) {
        i = skip_space(t, i, end);
        uint32_t from = i;
        while (i < end && !is_space(t[i]))
            i++;
        return mask_span(t, from, i) > 0;
    }
    while (i < end) {
        i = skip_space(t, i, end);
        while (i < end && (t[i] == ',' || is_space(t[i])))
            i++;
        uint32_t name = i;
        while (i < end && is_token(t[i]))
            i++;
        uint32_t name_len = i - name;
        i = skip_space(t, i, end);
        if (i >= end || t[i] != '=') {
            i += name_len == 0 && i < end; /* a stray byte: step over it */
            continue;
        }
        bool response = name_len == 8 && strncasecmp((const char *)t + name, "response", 8) == 0;
        i = param_value(t, skip_space(t, i + 1, end), end, response, &masked);
    }
    return masked;
}

unsigned redact_sip_text(uint8_t *text, uint32_t n)
{
    unsigned masked = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && text[i - 1] != '\n')
            continue;
        uint32_t v = credential_header(text, n, i);
        if (!v)
            continue;
        uint32_t end = value_end(text, n, v);
        masked += mask_credentials(text, v, end);
        i = end;
    }
    return masked;
}

/* ---- the frame's headers ---- */

/* Where the transport header and payload lie in a frame that holds the
 * whole packet. */
struct transport {
    uint32_t ip, l4, l4_len, payload;
    uint8_t proto;
    bool ipv6;
};

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static bool ethertype_from_version(const uint8_t *f, uint32_t caplen, uint32_t off, uint16_t *type)
{
    if (off >= caplen)
        return false;
    *type = f[off] >> 4 == 4 ? ETHERTYPE_IPV4 : f[off] >> 4 == 6 ? ETHERTYPE_IPV6 : 0;
    return *type != 0;
}

/* The network layer's offset and type behind the link header. */
static bool link_network(const uint8_t *f, uint32_t caplen, int linktype, uint32_t *off,
                         uint16_t *type)
{
    switch (linktype) {
    case 1: /* Ethernet, up to two VLAN tags */
        *off = 12;
        for (int tags = 0; tags <= 2; tags++) {
            if (*off + 2 > caplen)
                return false;
            *type = get16(f + *off);
            if (*type != 0x8100 && *type != 0x88a8 && *type != 0x9100)
                break;
            *off += 4;
        }
        *off += 2;
        return true;
    case 113: /* Linux cooked */
        if (caplen < 16)
            return false;
        *off = 16;
        *type = get16(f + 14);
        return true;
    case 276: /* Linux cooked v2 */
        if (caplen < 20)
            return false;
        *off = 20;
        *type = get16(f);
        return true;
    case 0:   /* BSD loopback */
    case 108: /* OpenBSD loopback */
        *off = 4;
        return ethertype_from_version(f, caplen, *off, type);
    case 12:  /* raw IP (some platforms) */
    case 14:  /* raw IP (OpenBSD) */
    case 101: /* raw IP */
    case 228: /* IPv4 */
    case 229: /* IPv6 */
        *off = 0;
        return ethertype_from_version(f, caplen, *off, type);
    default:
        return false;
    }
}

static bool ipv4_transport(const uint8_t *f, uint32_t caplen, uint32_t off, struct transport *t)
{
    if (off + 20 > caplen || f[off] >> 4 != 4)
        return false;
    uint32_t ihl = (uint32_t)(f[off] & 0x0f) * 4, total = get16(f + off + 2);
    if (ihl < 20 || total < ihl || off + total > caplen || (get16(f + off + 6) & 0x3fff) != 0)
        return false; /* short, cut, or a fragment */
    *t = (struct transport){.ip = off, .l4 = off + ihl, .l4_len = total - ihl, .proto = f[off + 9]};
    return true;
}

static bool ipv6_transport(const uint8_t *f, uint32_t caplen, uint32_t off, struct transport *t)
{
    if (off + 40 > caplen || f[off] >> 4 != 6)
        return false;
    uint32_t plen = get16(f + off + 4);
    if (off + 40 + plen > caplen)
        return false;
    /* Extension headers (a fragment header among them) are not walked. */
    *t = (struct transport){
        .ip = off, .l4 = off + 40, .l4_len = plen, .proto = f[off + 6], .ipv6 = true};
    return true;
}

static bool find_transport(const uint8_t *f, uint32_t caplen, int linktype, struct transport *t)
{
    uint32_t off;
    uint16_t type;
    if (!link_network(f, caplen, linktype, &off, &type))
        return false;
    if (type == ETHERTYPE_IPV4 ? !ipv4_transport(f, caplen, off, t)
                               : type != ETHERTYPE_IPV6 || !ipv6_transport(f, caplen, off, t))
        return false;
    switch (t->proto) {
    case IPPROTO_UDP_:
        if (t->l4_len < 8 || get16(f + t->l4 + 4) < 8 || get16(f + t->l4 + 4) > t->l4_len)
            return false;
        t->l4_len = get16(f + t->l4 + 4);
        t->payload = t->l4 + 8;
        return true;
    case IPPROTO_TCP_:
        if (t->l4_len < 20 || (uint32_t)(f[t->l4 + 12] >> 4) * 4 < 20 ||
            (uint32_t)(f[t->l4 + 12] >> 4) * 4 > t->l4_len)
            return false;
        t->payload = t->l4 + (uint32_t)(f[t->l4 + 12] >> 4) * 4;
        return true;
    case IPPROTO_SCTP_:
        t->payload = t->l4 + 12;
        return t->l4_len >= 12;
    default:
        return false;
    }
}

/* ---- checksums ---- */

static uint32_t sum16(const uint8_t *p, uint32_t n, uint32_t sum)
{
    for (uint32_t i = 0; i + 1 < n; i += 2)
        sum += get16(p + i);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The UDP / TCP checksum over the pseudo header and the segment, whose
 * checksum field at field must be zero. */
static uint16_t inet_checksum(const uint8_t *f, const struct transport *t)
{
    uint32_t sum = t->ipv6 ? sum16(f + t->ip + 8, 32, 0) : sum16(f + t->ip + 12, 8, 0);
    sum += t->proto + (t->l4_len & 0xffff) + (t->l4_len >> 16);
    return fold(sum16(f + t->l4, t->l4_len, sum));
}

static uint32_t crc32c(const uint8_t *p, uint32_t n)
{
    uint32_t crc = 0xffffffffu;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = crc >> 1 ^ (0x82f63b78u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void fix_checksum(uint8_t *f, const struct transport *t)
{
    if (t->proto == IPPROTO_SCTP_) {
        for (int i = 0; i < 4; i++)
            f[t->l4 + 8 + i] = 0;
        uint32_t crc = crc32c(f + t->l4, t->l4_len);
        for (int i = 0; i < 4; i++) /* sent least significant byte first */
            f[t->l4 + 8 + i] = (uint8_t)(crc >> (8 * i));
        return;
    }
    uint32_t at = t->l4 + (t->proto == IPPROTO_UDP_ ? 6 : 16);
    if (t->proto == IPPROTO_UDP_ && !t->ipv6 && get16(f + at) == 0)
        return; /* IPv4 UDP without a checksum */
    f[at] = f[at + 1] = 0;
    uint16_t c = inet_checksum(f, t);
    if (t->proto == IPPROTO_UDP_ && c == 0)
        c = 0xffff;
    f[at] = (uint8_t)(c >> 8);
    f[at + 1] = (uint8_t)c;
}

struct redact_result redact_credentials(uint8_t *frame, uint32_t caplen, uint32_t len, int linktype)
{
    struct redact_result r = {0};
    struct transport t;
    bool known = caplen == len && find_transport(frame, caplen, linktype, &t);
    if (!known) {
        r.masked = redact_sip_text(frame, caplen);
        r.checksum_stale = r.masked > 0;
        return r;
    }
    r.masked = redact_sip_text(frame + t.payload, t.l4 + t.l4_len - t.payload);
    if (r.masked)
        fix_checksum(frame, &t);
    return r;
}

/*
 * sdp: a tolerant, bounded SDP (RFC 4566) reader for the fields the call
 * and media modules use, plus the search for the application/sdp part of a
 * multipart SIP body.
 *
 * Why a hand parser and not libosip2's sdp_message: osip's SDP parser rejects
 * a whole body over one line it dislikes (a missing s=, an unknown line type,
 * a bare LF), while a passive tap must take what phones really send. This one
 * walks the body line by line (CRLF or bare LF), looks only at o=, c=, m= and
 * a few a= lines, copies into fixed-size fields and ignores everything else.
 * Media sections past SDP_MAX_MEDIA and formats past SDP_MAX_FORMATS are
 * dropped; strings are truncated. Session-level c= and direction are applied
 * to media sections that do not carry their own at the end.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sdp_internal.h"
#include "sip/sip.h"

struct static_payload {
    uint8_t pt;
    const char *name;
    uint32_t rate;
};

/* RFC 3551 tables 4 and 5: the payload types that need no rtpmap. */
static const struct static_payload static_payloads[] = {
    {0, "PCMU", 8000},   {3, "GSM", 8000},    {4, "G723", 8000},   {5, "DVI4", 8000},
    {6, "DVI4", 16000},  {7, "LPC", 8000},    {8, "PCMA", 8000},   {9, "G722", 8000},
    {10, "L16", 44100},  {11, "L16", 44100},  {12, "QCELP", 8000}, {13, "CN", 8000},
    {14, "MPA", 90000},  {15, "G728", 8000},  {16, "DVI4", 11025}, {17, "DVI4", 22050},
    {18, "G729", 8000},  {25, "CelB", 90000}, {26, "JPEG", 90000}, {28, "nv", 90000},
    {31, "H261", 90000}, {32, "MPV", 90000},  {33, "MP2T", 90000}, {34, "H263", 90000},
};

/* A line of the body without its line ending. */
struct span {
    const char *p;
    size_t n;
};

static void copy_span(char *dst, size_t dst_size, const char *src, size_t n)
{
    if (n >= dst_size)
        n = dst_size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static bool is_blank(char c)
{
    /* Most bytes are above SP: one compare for them. */
    return (unsigned char)c <= ' ' && (c == ' ' || c == '\t');
}

/* Splits off the next whitespace-separated token of *s. */
static bool next_token(struct span *s, struct span *tok)
{
    size_t i = 0;
    while (i < s->n && is_blank(s->p[i]))
        i++;
    size_t start = i;
    while (i < s->n && !is_blank(s->p[i]))
        i++;
    tok->p = s->p + start;
    tok->n = i - start;
    s->p += i;
    s->n -= i;
    return tok->n > 0;
}

static bool span_equal(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char ascii_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* s is lit (upper case) but for the case of ASCII letters: strncasecmp in
 * the C locale, without the call. */
static bool span_iequal(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ascii_upper(s.p[i]) != lit[i])
            return false;
    return true;
}

/* Unsigned decimal of at most max; false if the span is not all digits. */
static bool span_to_uint(struct span s, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (!s.n)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        if (!is_digit(s.p[i]))
            return false;
        v = v * 10 + (unsigned long)(s.p[i] - '0');
        if (v > max)
            return false;
    }
    *out = v;
    return true;
}

/* Leading digits only ("8000/1" -> 8000, "20" -> 20). */
static bool span_prefix_uint(struct span s, unsigned long max, unsigned long *out)
{
    size_t i = 0;
    while (i < s.n && is_digit(s.p[i]))
        i++;
    return span_to_uint((struct span){s.p, i}, max, out);
}

/* A dotted quad exactly as inet_pton(AF_INET) takes it: four decimal parts
 * of 0 to 255 without leading zeros, nothing else. The common address,
 * without inet_pton's string copy and calls; anything else is left to it. */
static bool ipv4_dotted(const char *p, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part && (i == n || p[i++] != '.'))
            return false;
        size_t start = i;
        unsigned v = 0;
        while (i < n && is_digit(p[i]) && i - start < 3)
            v = v * 10 + (unsigned)(p[i++] - '0');
        if (i == start || v > 255 || (p[start] == '0' && i - start > 1))
            return false;
        out[part] = (uint8_t)v;
    }
    return i == n;
}

/* "IN IP4 192.0.2.1[/ttl[/n]]" as in c=, or the tail of o= and a=rtcp. */
static bool parse_conn_addr(struct span nettype, struct span addrtype, struct span addr,
                            struct net_addr *out)
{
    char text[NETADDR_STRLEN + 1];
    if (!span_iequal(nettype, "IN"))
        return false;
    if (!span_iequal(addrtype, "IP4") && !span_iequal(addrtype, "IP6"))
        return false;
    size_t n = 0;
    while (n < addr.n && addr.p[n] != '/')
        n++;
    if (n == 0 || n > NETADDR_STRLEN)
        return false;
    uint8_t v4[4];
    if (ipv4_dotted(addr.p, n, v4)) {
        net_addr_set_v4(out, v4);
        return true;
    }
    memcpy(text, addr.p, n);
    text[n] = '\0';
    return net_addr_parse(out, text);
}

static void parse_connection(struct span v, struct net_addr *out)
{
    struct span nettype, addrtype, addr;
    if (next_token(&v, &nettype) && next_token(&v, &addrtype) && next_token(&v, &addr)) {
        struct net_addr a;
        if (parse_conn_addr(nettype, addrtype, addr, &a))
            *out = a;
    }
}

static void parse_origin(struct span v, struct sdp_info *out)
{
    struct span tok[6];
    for (int i = 0; i < 6; i++)
        if (!next_token(&v, &tok[i]))
            return;
    struct net_addr a;
    if (parse_conn_addr(tok[3], tok[4], tok[5], &a))
        out->origin_addr = a;
}

static const struct static_payload *static_payload_find(unsigned long pt)
{
    for (size_t i = 0; i < sizeof(static_payloads) / sizeof(static_payloads[0]); i++)
        if (static_payloads[i].pt == pt)
            return &static_payloads[i];
    return NULL;
}

static void parse_media(struct span v, struct sdp_media *m)
{
    struct span type, port, proto, fmt;
    memset(m, 0, sizeof(*m));
    if (!next_token(&v, &type))
        return;
    if (span_equal(type, "audio"))
        m->type = SDP_MEDIA_AUDIO;
    else if (span_equal(type, "video"))
        m->type = SDP_MEDIA_VIDEO;
    else if (span_equal(type, "image"))
        m->type = SDP_MEDIA_IMAGE;
    else
        m->type = SDP_MEDIA_OTHER;
    unsigned long p = 0;
    if (!next_token(&v, &port) || !span_prefix_uint(port, 65535, &p))
        return;
    m->port = (uint16_t)p;
    if (!next_token(&v, &proto))
        return;
    copy_span(m->proto, sizeof(m->proto), proto.p, proto.n);
    while (m->format_count < SDP_MAX_FORMATS && next_token(&v, &fmt)) {
        struct sdp_format *f = &m->formats[m->format_count++];
        unsigned long pt;
        if (span_to_uint(fmt, 127, &pt)) {
            f->payload_type = (uint8_t)pt;
            const struct static_payload *sp = static_payload_find(pt);
            if (sp) {
                copy_span(f->name, sizeof(f->name), sp->name, strlen(sp->name));
                f->clock_rate = sp->rate;
            }
        } else {
            /* Not an RTP payload type (udptl "t38", a "*"): keep the token. */
            f->payload_type = SDP_PAYLOAD_TYPE_NONE;
            copy_span(f->name, sizeof(f->name), fmt.p, fmt.n);
        }
    }
}

/* a=rtpmap:PT NAME/RATE[/CHANNELS] */
static void parse_rtpmap(struct span v, struct sdp_media *m)
{
    struct span pt_tok, enc;
    unsigned long pt;
    if (!next_token(&v, &pt_tok) || !span_to_uint(pt_tok, 127, &pt) || !next_token(&v, &enc))
        return;
    for (size_t i = 0; i < m->format_count; i++) {
        struct sdp_format *f = &m->formats[i];
        if (f->payload_type != pt)
            continue;
        size_t n = 0;
        while (n < enc.n && enc.p[n] != '/')
            n++;
        copy_span(f->name, sizeof(f->name), enc.p, n);
        unsigned long rate = 0;
        f->clock_rate = 0;
        if (n < enc.n &&
            span_prefix_uint((struct span){enc.p + n + 1, enc.n - n - 1}, 10000000, &rate))
            f->clock_rate = (uint32_t)rate;
        return;
    }
}

/* a=rtcp:PORT [IN IP4 addr] -- only the port is kept. */
static void parse_rtcp(struct span v, struct sdp_media *m, bool *rtcp_seen)
{
    struct span port;
    unsigned long p;
    if (next_token(&v, &port) && span_to_uint(port, 65535, &p)) {
        m->rtcp_port = (uint16_t)p;
        *rtcp_seen = true;
    }
}

static bool direction_from_attr(struct span name, enum sdp_direction *out)
{
    if (span_equal(name, "sendrecv"))
        *out = SDP_SENDRECV;
    else if (span_equal(name, "sendonly"))
        *out = SDP_SENDONLY;
    else if (span_equal(name, "recvonly"))
        *out = SDP_RECVONLY;
    else if (span_equal(name, "inactive"))
        *out = SDP_INACTIVE;
    else
        return false;
    return true;
}

int sdp_parse(const char *body, size_t len, struct sdp_info *out)
{
    /* Per media section: what was given explicitly, to apply defaults after. */
    bool media_has_addr[SDP_MAX_MEDIA] = {false};
    bool media_has_dir[SDP_MAX_MEDIA] = {false};
    bool media_has_rtcp[SDP_MAX_MEDIA] = {false};
    enum sdp_direction session_dir = SDP_SENDRECV;
    struct sdp_media *cur = NULL; /* NULL: session level, or a dropped media section */
    bool in_media = false;
    bool seen_version = false;
    size_t lines = 0;

    memset(out, 0, sizeof(*out));
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        if (!eol)
            eol = end;
        if (eol > p && eol[-1] == '\r')
            eol--;
        struct span line = {p, (size_t)(eol - p)};
        p = next;
        /* Tolerate leading blank lines and trailing whitespace lines. */
        if (line.n == 0 || (line.n < 2 && isspace((unsigned char)line.p[0])))
            continue;
        if (line.n < 2 || line.p[1] != '=') {
            if (!seen_version)
                return -1;
            continue;
        }
        if (lines++ == 0 && line.p[0] != 'v')
            return -1;
        struct span v = {line.p + 2, line.n - 2};
        switch (line.p[0]) {
        case 'v':
            seen_version = true;
            break;
        case 'o':
            if (!in_media)
                parse_origin(v, out);
            break;
        case 'c':
            if (!in_media) {
                parse_connection(v, &out->session_addr);
            } else if (cur) {
                size_t i = (size_t)(cur - out->media);
                struct net_addr a = {0};
                parse_connection(v, &a);
                if (a.family) {
                    cur->addr = a;
                    media_has_addr[i] = true;
                }
            }
            break;
        case 'm':
            in_media = true;
            if (out->media_count < SDP_MAX_MEDIA) {
                cur = &out->media[out->media_count++];
                parse_media(v, cur);
            } else {
                cur = NULL;
            }
            break;
        case 'a': {
            struct span name = v, value = {v.p + v.n, 0};
            const char *colon = memchr(v.p, ':', v.n);
            if (colon) {
                name.n = (size_t)(colon - v.p);
                value.p = colon + 1;
                value.n = v.n - name.n - 1;
            }
            enum sdp_direction dir;
            if (direction_from_attr(name, &dir)) {
                if (!in_media) {
                    session_dir = dir;
                } else if (cur) {
                    cur->direction = dir;
                    media_has_dir[cur - out->media] = true;
                }
            } else if (!cur) {
                break;
            } else if (span_equal(name, "rtpmap")) {
                parse_rtpmap(value, cur);
            } else if (span_equal(name, "ptime")) {
                unsigned long ms;
                if (span_prefix_uint(value, 65535, &ms))
                    cur->ptime_ms = (uint16_t)ms;
            } else if (span_equal(name, "rtcp")) {
                parse_rtcp(value, cur, &media_has_rtcp[cur - out->media]);
            } else if (span_equal(name, "rtcp-mux")) {
                cur->rtcp_mux = true;
            }
            break;
        }
        default:
            break;
        }
    }
    if (!seen_version)
        return -1;
    for (size_t i = 0; i < out->media_count; i++) {
        struct sdp_media *m = &out->media[i];
        if (!media_has_addr[i])
            m->addr = out->session_addr;
        if (!media_has_dir[i])
            m->direction = session_dir;
        if (m->port == 0)
            m->rtcp_port = 0; /* a rejected stream has no RTCP, whatever a=rtcp says */
        else if (!media_has_rtcp[i])
            m->rtcp_port = m->rtcp_mux ? m->port : (uint16_t)(m->port + 1);
    }
    return 0;
}

/* Case-insensitive search for a header value inside a MIME part's header block. */
static bool part_header_value(const char *hdr, size_t n, const char *name, struct span *value)
{
    size_t name_len = strlen(name);
    const char *p = hdr, *end = hdr + n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > name_len && strncasecmp(p, name, name_len) == 0) {
            const char *q = p + name_len;
            while (q < eol && (*q == ' ' || *q == '\t'))
                q++;
            if (q < eol && *q == ':') {
                q++;
                while (q < eol && (*q == ' ' || *q == '\t'))
                    q++;
                const char *e = eol;
                while (e > q && isspace((unsigned char)e[-1]))
                    e--;
                value->p = q;
                value->n = (size_t)(e - q);
                return true;
            }
        }
        p = eol + 1;
    }
    return false;
}

bool sdp_content_type_is_sdp(const char *type, size_t n)
{
    static const char sdp[] = "application/sdp";
    size_t len = sizeof(sdp) - 1;
    return n >= len && strncasecmp(type, sdp, len) == 0 &&
           (n == len || type[len] == ';' || type[len] == ' ' || type[len] == '\t');
}

int sdp_find_in_multipart(const char *body, size_t len, const char *boundary, struct sdp_info *out)
{
    char delim[80];
    size_t blen = strlen(boundary);
    if (blen == 0 || blen > 70)
        return -1;
    delim[0] = '-';
    delim[1] = '-';
    memcpy(delim + 2, boundary, blen);
    size_t dlen = blen + 2;

    const char *end = body + len;
    const char *p = memmem(body, len, delim, dlen);
    /* Parts in nested multiparts are not searched: SIP bodies don't nest in practice. */
    while (p) {
        p += dlen;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return -1; /* closing delimiter */
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return -1;
        const char *part = eol + 1;
        const char *next = memmem(part, (size_t)(end - part), delim, dlen);
        const char *part_end = next ? next : end;
        /* The CRLF before the next delimiter belongs to the delimiter. */
        if (next && part_end > part && part_end[-1] == '\n')
            part_end--;
        if (next && part_end > part && part_end[-1] == '\r')
            part_end--;
        /* Part headers end at the first empty line; a part may have none. */
        const char *hdr_end = part, *content = part;
        for (const char *q = part; q < part_end;) {
            const char *le = memchr(q, '\n', (size_t)(part_end - q));
            if (!le)
                break;
            size_t line_len = (size_t)(le - q);
            if (line_len == 0 || (line_len == 1 && q[0] == '\r')) {
                hdr_end = q;
                content = le + 1;
                break;
            }
            q = le + 1;
        }
        struct span ct;
        if (content > part &&
            part_header_value(part, (size_t)(hdr_end - part), "content-type", &ct) &&
            sdp_content_type_is_sdp(ct.p, ct.n) &&
            sdp_parse(content, (size_t)(part_end - content), out) == 0)
            return 0;
        p = next;
    }
    return -1;
}

/*
 * sip_fast: an allocation-free first pass over a raw SIP message that fills
 * struct sip_msg exactly as sip_parse.c's libosip2 path would, for the plain
 * messages that make up nearly all traffic. libosip2 costs thousands of
 * small mallocs per call; this pass costs none.
 *
 * It is deliberately narrow: one pass over the header lines, each known
 * header located by (case-insensitive, full or compact) name, its value
 * trimmed like osip does, and the few fields siptap needs cut out of it.
 * Whenever the message is anything but plain -- credentials or challenges
 * (so libosip2 always handles those), folded lines, bare LF, a duplicate key
 * header, a multi-valued Via / Contact, quoting, escapes, IPv6 literals,
 * non-SIP URIs, multipart bodies, a Content-Length that does not match the
 * body, non-ASCII bytes, empty values -- it answers SIP_FAST_FALLBACK and the
 * caller runs the full libosip2 parse. tests/sip/test_sip_fast.c checks the
 * two paths agree on every message of the test corpora and public captures.
 *
 * It runs on every SIP message, so it is written for few instructions: each
 * "does this span hold any of these bytes" check is one lookup per byte in a
 * table of byte classes (whatever the set), header names are matched by
 * length first, and the spans are short enough that an inline loop beats a
 * call to memchr.
 */
#include <stddef.h>
#include <string.h>

#include "core/words.h"
#include "sip/sdp_internal.h"
#include "sip/sip.h"
#include "sip/sip_internal.h"

/* A slice of the message. */
struct span {
    const char *p;
    size_t n;
};

enum hdr {
    H_VIA,
    H_FROM,
    H_TO,
    H_CALL_ID,
    H_CSEQ,
    H_CONTACT,
    H_CONTENT_LENGTH,
    H_CONTENT_TYPE,
    H_EXPIRES,
    H_SESSION_EXPIRES,
    H_SESSION_EXPIRES_X, /* compact "x": osip does not know it, looked up after the full name */
    H_REASON,
    H_USER_AGENT,
    H_SERVER,
    H_COUNT,
    H_OTHER,
    H_ROUTE,    /* Route / Record-Route: osip parses them as name-addrs */
    H_FALLBACK, /* a header libosip2 must see */
};

/* The values of the headers this pass reads, each at most once. */
struct headers {
    struct span value[H_COUNT];
    bool have[H_COUNT];
};

/* Byte classes, one bit each (a byte may have two: '%' and '*' are token
 * characters too). */
enum {
    BC_TOKEN = 1 << 0,     /* RFC 3261 token character */
    BC_BLANK = 1 << 1,     /* SP HT */
    BC_QUOTE = 1 << 2,     /* " */
    BC_BACKSLASH = 1 << 3, /* \ */
    BC_ANGLE = 1 << 4,     /* < > */
    BC_COMMA = 1 << 5,     /* , */
    BC_SEMI = 1 << 6,      /* ; */
    BC_COLON = 1 << 7,     /* : */
    BC_AT = 1 << 8,        /* @ */
    BC_ESCAPE = 1 << 9,    /* % ? : escapes, URI headers */
    BC_BRACKET = 1 << 10,  /* [ ] : IPv6 literals */
    BC_PAREN = 1 << 11,    /* ( ) : comments */
    BC_STAR = 1 << 12,     /* * */
    /* Not in a plain sip: URI. */
    BC_URI_REFUSED =
        BC_ESCAPE | BC_QUOTE | BC_BRACKET | BC_ANGLE | BC_BLANK | BC_COMMA | BC_BACKSLASH,
};

static const uint16_t byte_class[256] = {
    ['a'] = BC_TOKEN,
    ['b'] = BC_TOKEN,
    ['c'] = BC_TOKEN,
    ['d'] = BC_TOKEN,
    ['e'] = BC_TOKEN,
    ['f'] = BC_TOKEN,
    ['g'] = BC_TOKEN,
    ['h'] = BC_TOKEN,
    ['i'] = BC_TOKEN,
    ['j'] = BC_TOKEN,
    ['k'] = BC_TOKEN,
    ['l'] = BC_TOKEN,
    ['m'] = BC_TOKEN,
    ['n'] = BC_TOKEN,
    ['o'] = BC_TOKEN,
    ['p'] = BC_TOKEN,
    ['q'] = BC_TOKEN,
    ['r'] = BC_TOKEN,
    ['s'] = BC_TOKEN,
    ['t'] = BC_TOKEN,
    ['u'] = BC_TOKEN,
    ['v'] = BC_TOKEN,
    ['w'] = BC_TOKEN,
    ['x'] = BC_TOKEN,
    ['y'] = BC_TOKEN,
    ['z'] = BC_TOKEN,
    ['A'] = BC_TOKEN,
    ['B'] = BC_TOKEN,
    ['C'] = BC_TOKEN,
    ['D'] = BC_TOKEN,
    ['E'] = BC_TOKEN,
    ['F'] = BC_TOKEN,
    ['G'] = BC_TOKEN,
    ['H'] = BC_TOKEN,
    ['I'] = BC_TOKEN,
    ['J'] = BC_TOKEN,
    ['K'] = BC_TOKEN,
    ['L'] = BC_TOKEN,
    ['M'] = BC_TOKEN,
    ['N'] = BC_TOKEN,
    ['O'] = BC_TOKEN,
    ['P'] = BC_TOKEN,
    ['Q'] = BC_TOKEN,
    ['R'] = BC_TOKEN,
    ['S'] = BC_TOKEN,
    ['T'] = BC_TOKEN,
    ['U'] = BC_TOKEN,
    ['V'] = BC_TOKEN,
    ['W'] = BC_TOKEN,
    ['X'] = BC_TOKEN,
    ['Y'] = BC_TOKEN,
    ['Z'] = BC_TOKEN,
    ['0'] = BC_TOKEN,
    ['1'] = BC_TOKEN,
    ['2'] = BC_TOKEN,
    ['3'] = BC_TOKEN,
    ['4'] = BC_TOKEN,
    ['5'] = BC_TOKEN,
    ['6'] = BC_TOKEN,
    ['7'] = BC_TOKEN,
    ['8'] = BC_TOKEN,
    ['9'] = BC_TOKEN,
    ['-'] = BC_TOKEN,
    ['.'] = BC_TOKEN,
    ['!'] = BC_TOKEN,
    ['_'] = BC_TOKEN,
    ['+'] = BC_TOKEN,
    ['`'] = BC_TOKEN,
    ['\''] = BC_TOKEN,
    ['~'] = BC_TOKEN,
    ['%'] = BC_TOKEN | BC_ESCAPE,
    ['*'] = BC_TOKEN | BC_STAR,
    ['?'] = BC_ESCAPE,
    [' '] = BC_BLANK,
    ['\t'] = BC_BLANK,
    ['"'] = BC_QUOTE,
    ['\\'] = BC_BACKSLASH,
    ['<'] = BC_ANGLE,
    ['>'] = BC_ANGLE,
    [','] = BC_COMMA,
    [';'] = BC_SEMI,
    [':'] = BC_COLON,
    ['@'] = BC_AT,
    ['['] = BC_BRACKET,
    [']'] = BC_BRACKET,
    ['('] = BC_PAREN,
    [')'] = BC_PAREN,
};

static inline unsigned class_of(char c)
{
    return byte_class[(unsigned char)c];
}

/* The span from offset k on (k <= s.n). */
static inline struct span span_from(struct span s, size_t k)
{
    return (struct span){s.p + k, s.n - k};
}

/* The first k bytes of s (k <= s.n). */
static inline struct span span_head(struct span s, size_t k)
{
    return (struct span){s.p, k};
}

/* The offset of the first byte of s in any of the classes; s.n if none. */
static inline size_t span_find(struct span s, unsigned classes)
{
    size_t i = 0;
    while (i < s.n && !(class_of(s.p[i]) & classes))
        i++;
    return i;
}

/* The offset of the first byte of s in none of the classes; s.n if none. */
static inline size_t span_skip(struct span s, unsigned classes)
{
    size_t i = 0;
    while (i < s.n && (class_of(s.p[i]) & classes))
        i++;
    return i;
}

/* Does s contain a byte of any of the classes? */
static inline bool span_has(struct span s, unsigned classes)
{
    return span_find(s, classes) < s.n;
}

/* The offset of the first c in s; s.n if none. */
static inline size_t span_chr(struct span s, char c)
{
    size_t i = 0;
    while (i < s.n && s.p[i] != c)
        i++;
    return i;
}

/* The number of leading decimal digits of s. */
static inline size_t span_digits(struct span s)
{
    size_t i = 0;
    while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9')
        i++;
    return i;
}

static inline unsigned char ascii_lower(char c)
{
    unsigned char u = (unsigned char)c;
    return (unsigned)(u - 'A') < 26 ? (unsigned char)(u | 0x20) : u;
}

/* 0x20 in each byte of w (bytes below 0x80) that is a lower-case letter.
 * Exact per byte: with its top bit set, no byte borrows from the next. */
static inline uint64_t word_lower_letters(uint64_t w)
{
    uint64_t x = w | WORD_HIGHS;
    return ((x - WORD_ONES * 'a') & ~(x - WORD_ONES * ('z' + 1)) & WORD_HIGHS) >> 2;
}

/* Word x of the input equals word l of a lower-case literal but for the
 * case of ASCII letters: a letter of l matches x's byte with 0x20 set, any
 * other byte exactly. */
static inline bool word_equal_ci(uint64_t x, uint64_t l)
{
    return (x | word_lower_letters(l)) == l;
}

/* The four bytes at p, in the low half of a word. */
static inline uint64_t quad_load(const char *p)
{
    uint32_t q;
    memcpy(&q, p, 4);
    return q;
}

/* n bytes at p equal lower's (a lower-case literal), ASCII letters compared
 * without case as strncasecmp does in the C locale: a word (or half a word)
 * at a time, the last one overlapping the one before when n is not a
 * multiple of its size. */
static inline bool equal_ci(const char *p, const char *lower, size_t n)
{
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (ascii_lower(p[i]) != (unsigned char)lower[i])
                return false;
        return true;
    }
    if (n < 8)
        return word_equal_ci(quad_load(p), quad_load(lower)) &&
               word_equal_ci(quad_load(p + n - 4), quad_load(lower + n - 4));
    for (size_t i = 0; i + 8 < n; i += 8)
        if (!word_equal_ci(word_load(p + i), word_load(lower + i)))
            return false;
    return word_equal_ci(word_load(p + n - 8), word_load(lower + n - 8));
}

/* s starts with lower (a lower-case literal, so its strlen folds). */
static inline bool span_starts_ci(struct span s, const char *lower)
{
    size_t n = strlen(lower);
    return s.n >= n && equal_ci(s.p, lower, n);
}

/* s is lower but for the case of ASCII letters. */
static inline bool span_is_ci(struct span s, const char *lower)
{
    return s.n == strlen(lower) && span_starts_ci(s, lower);
}

/* The CR of the CRLF ending the line that starts at p, or NULL when the line
 * has a byte outside printable ASCII (a tab is allowed if allow_tab) before
 * it, a CR not followed by LF, a bare LF, or no end. One pass for both the
 * end and the check: eight bytes at a time while none of them is below 0x20
 * or above 0x7e (core/words.h). On a little-endian machine the lowest byte
 * the test marks is the first such byte exactly (borrows and carries only
 * run upwards), so the scan goes straight to it; else, and for the last
 * bytes, bytewise. */
static const char *line_end(const char *p, const char *end, bool allow_tab)
{
    while (end - p >= 8) {
        uint64_t x = word_load(p);
        uint64_t marks = word_has_below(x, 0x20) | word_has_from(x, 0x7f);
        if (!marks) {
            p += 8;
            continue;
        }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        p += __builtin_ctzll(marks) / 8;
        if (*p == '\t' && allow_tab) {
            p++;
            continue;
        }
        return *p == '\r' && p + 1 < end && p[1] == '\n' ? p : NULL;
#else
        break;
#endif
    }
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 0x20 && c <= 0x7e) || (c == '\t' && allow_tab))
            continue;
        return c == '\r' && p + 1 < end && p[1] == '\n' ? p : NULL;
    }
    return NULL;
}

static inline bool is_blank(char c)
{
    /* Most bytes are above SP: one compare for them. */
    return (unsigned char)c <= ' ' && (c == ' ' || c == '\t');
}

static void span_trim(struct span *s)
{
    while (s->n && is_blank(s->p[0])) {
        s->p++;
        s->n--;
    }
    while (s->n && is_blank(s->p[s->n - 1]))
        s->n--;
}

static void span_copy(char *dst, size_t dst_size, struct span s)
{
    size_t n = s.n < dst_size - 1 ? s.n : dst_size - 1;
    if (n) /* an empty span may have no pointer at all */
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

/* All decimal digits, at least one. */
static bool span_u64(struct span s, uint64_t max, uint64_t *out)
{
    if (!s.n)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
        if (v > max)
            v = max;
    }
    *out = v;
    return true;
}

/* What a header parameter's value may hold (IPv6 references included). */
enum { PARAM_VALUE = BC_TOKEN | BC_COLON | BC_BRACKET };

/* A span over a literal (its strlen folds). */
static inline struct span span_lit(const char *lit)
{
    return (struct span){lit, strlen(lit)};
}

/* Finds the first ;name=value parameter in params (which starts at a ';' or
 * is empty; name is lower case, "" checks plainness only). Every parameter
 * must be plain: token name, optional value of value_classes bytes (never a
 * quote, blank, angle bracket or separator). false means "not plain". */
static bool params_find(struct span params, struct span name, unsigned value_classes,
                        struct span *value, bool *found)
{
    *found = false;
    struct span rest = params;
    while (rest.n) {
        if (rest.p[0] != ';')
            return false;
        rest = span_from(rest, 1);
        struct span pn = span_head(rest, span_skip(rest, BC_TOKEN));
        if (!pn.n)
            return false;
        rest = span_from(rest, pn.n);
        struct span pv = {rest.p, 0}; /* empty, but never a NULL pointer */
        if (rest.n && rest.p[0] == '=') {
            rest = span_from(rest, 1);
            pv = span_head(rest, span_skip(rest, value_classes));
            rest = span_from(rest, pv.n);
            if (!pv.n || (rest.n && rest.p[0] != ';'))
                return false;
        }
        if (!*found && pn.n == name.n && equal_ci(pn.p, name.p, name.n)) {
            if (!pv.n)
                return false; /* osip would give a NULL value; let it */
            *found = true;
            *value = pv;
        }
    }
    return true;
}

/* sip: / sips: URI without escapes, passwords, IPv6 or headers: user part
 * (may be absent) and host. Anything else is not plain. rest is the URI
 * past its scheme, already known to hold no BC_URI_REFUSED byte. */
static bool uri_parts(struct span rest, struct span *user, struct span *host)
{
    struct span r = rest;
    /* A user part is what comes before an '@' that no ':' or ';' precedes
     * (a password, or parameters, would); any other '@' is refused. */
    size_t stop = span_find(r, BC_AT | BC_COLON | BC_SEMI);
    *user = span_head(r, 0); /* empty, but never a NULL pointer */
    if (stop < r.n && r.p[stop] == '@') {
        if (!stop)
            return false;
        *user = span_head(r, stop);
        r = span_from(r, stop + 1);
        stop = span_find(r, BC_AT | BC_COLON | BC_SEMI);
        if (stop < r.n && r.p[stop] == '@')
            return false;
    }
    *host = span_head(r, stop);
    if (host->n < 2) /* osip refuses some one-letter hosts ("<sip:h>"); not worth mirroring */
        return false;
    r = span_from(r, stop);
    if (r.n && r.p[0] == ':') {
        size_t digits = span_digits(span_from(r, 1));
        /* libosip2 refuses a port of eight digits or more: past five, left to it. */
        if (!digits || digits > 5)
            return false;
        r = span_from(r, 1 + digits);
        if (r.n && r.p[0] != ';')
            return false;
    }
    /* URI parameters (an '@' among them is no token): only checked for plainness. */
    struct span dummy;
    bool found;
    return params_find(r, span_lit(""), BC_TOKEN | BC_COLON, &dummy, &found);
}

/* The URI past "sip:" or "sips:" (any case), not empty; false if neither. */
static bool uri_past_scheme(struct span uri, struct span *rest)
{
    size_t skip = span_starts_ci(uri, "sip:") ? 4 : span_starts_ci(uri, "sips:") ? 5 : 0;
    if (!skip || uri.n <= skip)
        return false;
    *rest = span_from(uri, skip);
    return true;
}

static bool uri_plain(struct span uri, struct span *user, struct span *host)
{
    struct span rest;
    return uri_past_scheme(uri, &rest) && !span_has(rest, BC_URI_REFUSED) &&
           uri_parts(rest, user, host);
}

/* A display name libosip2 is sure to take: quoted without inner quotes or
 * escapes, or unquoted tokens and blanks (RFC 3261 token characters). */
static bool display_name_plain(struct span disp)
{
    if (disp.p[0] == '"') {
        if (disp.n < 2 || disp.p[disp.n - 1] != '"')
            return false;
        return !span_has((struct span){disp.p + 1, disp.n - 2}, BC_QUOTE | BC_BACKSLASH);
    }
    return span_skip(disp, BC_TOKEN | BC_BLANK) == disp.n;
}

/* From / To / Contact: `["display"] <uri>;params`, `display <uri>;params` or
 * `uri;params`. Gives the user and host of the URI and the header
 * parameters (not yet checked: params_find() refuses any quote or angle
 * bracket in them). */
static bool name_addr_plain(struct span v, struct span *user, struct span *host,
                            struct span *params)
{
    size_t lt = span_chr(v, '<');
    if (lt == v.n) {
        size_t semi = span_chr(v, ';');
        *params = span_from(v, semi);
        return semi && uri_plain(span_head(v, semi), user, host);
    }
    struct span disp = span_head(v, lt);
    span_trim(&disp);
    if (disp.n && !display_name_plain(disp))
        return false;
    /* The first byte a plain URI may not hold must be the closing '>'; then
     * the URI holds none. */
    struct span after = span_from(v, lt + 1), rest;
    size_t gt = span_find(after, BC_URI_REFUSED);
    if (gt == after.n || after.p[gt] != '>' || !gt ||
        !uri_past_scheme(span_head(after, gt), &rest) || !uri_parts(rest, user, host))
        return false;
    *params = span_from(after, gt + 1);
    span_trim(params);
    return true;
}

static bool name_addr_fill(struct span v, char *user, char *host, char *tag, size_t size,
                           struct span *params_out)
{
    struct span params, u, h, t;
    bool found;
    if (!name_addr_plain(v, &u, &h, &params) ||
        !params_find(params, span_lit("tag"), PARAM_VALUE, &t, &found))
        return false;
    span_copy(user, size, u);
    span_copy(host, size, h);
    if (tag) {
        if (found)
            span_copy(tag, size, t);
        else
            tag[0] = '\0';
    }
    if (params_out)
        *params_out = params;
    return true;
}

/* s is not empty. */
static enum sip_method method_from_span(struct span s)
{
    for (int m = SIP_METHOD_INVITE; m <= SIP_METHOD_PUBLISH; m++) {
        const char *n = sip_method_name((enum sip_method)m);
        if (n[0] == s.p[0] && strlen(n) == s.n && memcmp(n, s.p, s.n) == 0)
            return (enum sip_method)m;
    }
    return SIP_METHOD_UNKNOWN;
}

/* Compact header names (RFC 3261 7.3.3; "x" is RFC 4028's). */
static enum hdr classify_compact(char c)
{
    switch (ascii_lower(c)) {
    case 'v':
        return H_VIA;
    case 'f':
        return H_FROM;
    case 't':
        return H_TO;
    case 'i':
        return H_CALL_ID;
    case 'm':
        return H_CONTACT;
    case 'l':
        return H_CONTENT_LENGTH;
    case 'c':
        return H_CONTENT_TYPE;
    case 'x':
        return H_SESSION_EXPIRES_X;
    case 'e': /* Content-Encoding */
        return H_FALLBACK;
    default:
        return H_OTHER;
    }
}

/* Credentials and challenges are always libosip2's job; the headers it
 * parses with a grammar of its own that siptap does not read (Accept...)
 * must be looked at so a value osip would refuse is not accepted here (the
 * message would then be malformed on one path only): both fall back. */
static bool is_fallback_header(struct span n)
{
    return span_is_ci(n, "authorization") || span_is_ci(n, "proxy-authorization") ||
           span_is_ci(n, "www-authenticate") || span_is_ci(n, "proxy-authenticate") ||
           span_is_ci(n, "authentication-info") || span_is_ci(n, "proxy-authentication-info") ||
           span_is_ci(n, "accept") || span_is_ci(n, "accept-encoding") ||
           span_is_ci(n, "accept-language") || span_is_ci(n, "alert-info") ||
           span_is_ci(n, "call-info") || span_is_ci(n, "error-info") ||
           span_is_ci(n, "content-disposition") || span_is_ci(n, "content-encoding") ||
           span_is_ci(n, "mime-version");
}

/* The header a (token) name is, full or compact, without case. The length
 * picks the few candidates; each compare stops at the first byte that
 * differs. */
static enum hdr classify(struct span n)
{
    switch (n.n) {
    case 1:
        return classify_compact(n.p[0]);
    case 2:
        if (span_is_ci(n, "to"))
            return H_TO;
        break;
    case 3:
        if (span_is_ci(n, "via"))
            return H_VIA;
        break;
    case 4:
        if (span_is_ci(n, "from"))
            return H_FROM;
        if (span_is_ci(n, "cseq"))
            return H_CSEQ;
        break;
    case 5:
        if (span_is_ci(n, "route"))
            return H_ROUTE;
        break;
    case 6:
        if (span_is_ci(n, "reason"))
            return H_REASON;
        if (span_is_ci(n, "server"))
            return H_SERVER;
        break;
    case 7:
        if (span_is_ci(n, "call-id"))
            return H_CALL_ID;
        if (span_is_ci(n, "contact"))
            return H_CONTACT;
        if (span_is_ci(n, "expires"))
            return H_EXPIRES;
        break;
    case 10:
        if (span_is_ci(n, "user-agent"))
            return H_USER_AGENT;
        break;
    case 12:
        if (span_is_ci(n, "content-type"))
            return H_CONTENT_TYPE;
        if (span_is_ci(n, "record-route"))
            return H_ROUTE;
        break;
    case 14:
        if (span_is_ci(n, "content-length"))
            return H_CONTENT_LENGTH;
        break;
    case 15:
        if (span_is_ci(n, "session-expires"))
            return H_SESSION_EXPIRES;
        break;
    default:
        break;
    }
    return is_fallback_header(n) ? H_FALLBACK : H_OTHER;
}

/* "SIP/2.0 code reason": status and reason phrase. */
static bool parse_status_line(struct span line, struct sip_msg *out)
{
    uint64_t st;
    if (line.p[11] != ' ' || !span_u64((struct span){line.p + 8, 3}, 999, &st) || st < 100 ||
        st > 699)
        return false;
    struct span reason = span_from(line, 12);
    if (!reason.n || reason.p[0] == ' ' || reason.p[reason.n - 1] == ' ')
        return false;
    out->status = (int)st;
    span_copy(out->reason, sizeof(out->reason), reason);
    return true;
}

/* "METHOD uri SIP/2.0" with a plain sip: URI. */
static bool parse_request_line(struct span line, struct sip_msg *out)
{
    size_t sp1 = span_chr(line, ' ');
    if (sp1 == line.n)
        return false;
    struct span method = span_head(line, sp1);
    struct span tail = span_from(line, sp1 + 1);
    size_t sp2 = span_chr(tail, ' ');
    if (sp2 == tail.n || !method.n || method.n >= sizeof(out->method_name) ||
        span_skip(method, BC_TOKEN) != method.n)
        return false;
    struct span uri = span_head(tail, sp2);
    struct span ver = span_from(tail, sp2 + 1);
    if (ver.n != 7 || memcmp(ver.p, "SIP/2.0", 7) != 0)
        return false;
    struct span u, h;
    if (!uri.n || uri.n >= sizeof(out->request_uri) || !uri_plain(uri, &u, &h))
        return false;
    out->is_request = true;
    out->method = method_from_span(method);
    span_copy(out->method_name, sizeof(out->method_name), method);
    span_copy(out->request_uri, sizeof(out->request_uri), uri);
    span_copy(out->request_user, sizeof(out->request_user), u);
    return true;
}

/* One header line: its value noted if it is one this pass reads. */
static bool read_header(struct span line, struct headers *hs)
{
    if (line.p[0] == ' ' || line.p[0] == '\t')
        return false; /* folded */
    /* The name is all token characters up to the colon. A name that matches
     * a known one is (the match takes nothing else); only another is
     * scanned. */
    size_t nl = span_chr(line, ':');
    if (!nl || nl == line.n)
        return false;
    struct span name = span_head(line, nl);
    struct span value = span_from(line, nl + 1);
    span_trim(&value);
    if (!value.n)
        return false;
    enum hdr h = classify(name);
    if (h == H_FALLBACK)
        return false;
    if (h == H_OTHER)
        return span_skip(name, BC_TOKEN) == name.n;
    if (h == H_ROUTE) {
        /* osip parses these; only the simple shapes it is sure to accept pass. */
        return !span_has(value, BC_QUOTE | BC_BACKSLASH) && value.p[0] == '<' &&
               value.p[value.n - 1] == '>';
    }
    if (hs->have[h])
        return false; /* duplicates: osip keeps lists; let it decide */
    hs->have[h] = true;
    hs->value[h] = value;
    return true;
}

/* The header lines from p on: where the body starts, NULL if not plain. */
static const char *read_headers(const char *p, const char *end, struct headers *hs)
{
    while (p < end) {
        const char *cr = line_end(p, end, true);
        if (!cr)
            return NULL;
        struct span line = {p, (size_t)(cr - p)};
        p = cr + 2;
        if (!line.n)
            return p;
        if (!read_header(line, hs))
            return NULL;
    }
    return NULL;
}

/* Call-ID: no blanks, quotes, brackets or separators; an '@' only between
 * two non-empty parts. */
static bool fill_call_id(struct span cid, struct sip_msg *out)
{
    enum { REFUSED = BC_BLANK | BC_QUOTE | BC_ANGLE | BC_COMMA | BC_SEMI };
    if (cid.n >= sizeof(out->call_id))
        return false;
    size_t at = span_find(cid, REFUSED | BC_AT);
    if (at < cid.n) {
        if (cid.p[at] != '@' || at == 0 || at == cid.n - 1 ||
            span_has(span_from(cid, at + 1), REFUSED | BC_AT))
            return false;
    }
    span_copy(out->call_id, sizeof(out->call_id), cid);
    return true;
}

/* CSeq: digits SP method. */
static bool fill_cseq(struct span cs, struct sip_msg *out)
{
    size_t sp = span_chr(cs, ' ');
    if (sp == cs.n)
        return false;
    struct span csn = span_head(cs, sp);
    struct span csm = span_from(cs, sp + 1);
    uint64_t cseq;
    if (!span_u64(csn, UINT32_MAX, &cseq) || csn.n > 10 || !csm.n ||
        csm.n >= sizeof(out->method_name) || span_skip(csm, BC_TOKEN) != csm.n)
        return false;
    out->cseq = (uint32_t)cseq;
    if (!out->is_request) {
        out->method = method_from_span(csm);
        span_copy(out->method_name, sizeof(out->method_name), csm);
    }
    return true;
}

/* Via: SIP/2.0/<transport> SP host[:port] params, one value only. */
static bool fill_via(struct span via, struct sip_msg *out)
{
    /* No list, comment, quote or IPv6 literal anywhere: the transport is
     * tokens, sent-by has none of them (nor blanks) before the parameters,
     * and params_find() takes none of them either. */
    enum { REFUSED = BC_COMMA | BC_PAREN | BC_QUOTE | BC_BRACKET };
    if (via.n < 9 || !span_starts_ci(via, "sip/2.0/"))
        return false;
    size_t sp = span_chr(via, ' ');
    if (sp == via.n || sp == 8) /* no transport: libosip2 refuses it */
        return false;
    struct span transport = {via.p + 8, sp - 8};
    if (span_skip(transport, BC_TOKEN) != transport.n)
        return false;
    struct span sb = span_from(via, sp + 1);
    size_t stop = span_find(sb, BC_SEMI | BC_BLANK | REFUSED);
    if (stop < sb.n && sb.p[stop] != ';')
        return false;
    struct span sent_by = span_head(sb, stop);
    struct span vparams = span_from(sb, stop);
    if (!sent_by.n || sent_by.p[0] == ':')
        return false;
    size_t colon = span_chr(sent_by, ':');
    uint64_t port;
    /* Digits only (a second ':' is refused too), and at most five: libosip2
     * reads a longer port as a C long cut to an int and refuses some of
     * them (11111111111), so those are its to judge. */
    if (colon < sent_by.n &&
        (sent_by.n - colon - 1 > 5 || !span_u64(span_from(sent_by, colon + 1), 65535, &port)))
        return false;
    struct span branch;
    bool has_branch;
    if (sent_by.n >= sizeof(out->via_sent_by) ||
        !params_find(vparams, span_lit("branch"), BC_TOKEN | BC_COLON, &branch, &has_branch))
        return false;
    span_copy(out->via_sent_by, sizeof(out->via_sent_by), sent_by);
    if (has_branch)
        span_copy(out->via_branch, sizeof(out->via_branch), branch);
    return true;
}

/* Expires, else the Contact's expires= parameter. */
static bool fill_expires(const struct headers *hs, struct span contact_params, struct sip_msg *out)
{
    uint64_t ev;
    if (hs->have[H_EXPIRES]) {
        if (!span_u64(hs->value[H_EXPIRES], UINT32_MAX, &ev))
            return false;
        out->expires = (int64_t)ev;
    } else if (hs->have[H_CONTACT]) {
        struct span e;
        bool found;
        if (!params_find(contact_params, span_lit("expires"), PARAM_VALUE, &e, &found))
            return false;
        if (found) {
            if (!span_u64(e, UINT32_MAX, &ev))
                return false;
            out->expires = (int64_t)ev;
        }
    }
    return true;
}

/* Session-Expires: delta[;refresher=uac|uas] */
static bool fill_session_expires(struct span se, struct sip_msg *out)
{
    if (!se.n)
        return true;
    size_t k = span_chr(se, ';');
    uint64_t secs;
    struct span ref;
    bool found;
    if (!span_u64(span_head(se, k), UINT32_MAX, &secs) ||
        !params_find(span_from(se, k), span_lit("refresher"), PARAM_VALUE, &ref, &found))
        return false;
    out->session_expires = (uint32_t)secs;
    if (found) {
        if (span_is_ci(ref, "uac"))
            memcpy(out->session_refresher, "uac", 4);
        else if (span_is_ci(ref, "uas"))
            memcpy(out->session_refresher, "uas", 4);
        else
            return false;
    }
    return true;
}

/* Body: SDP when typed so, or untyped and empty. The SDP is parsed (and so
 * zeroed by sdp_parse) or else left for the caller to zero. */
static bool fill_body(const struct headers *hs, struct span body, struct sip_msg *out,
                      bool *sdp_parsed)
{
    *sdp_parsed = false;
    if (!hs->have[H_CONTENT_TYPE])
        return !body.n; /* untyped body: rare, osip's call */
    struct span ct = hs->value[H_CONTENT_TYPE];
    size_t k = span_chr(ct, ';');
    struct span mt = span_head(ct, k);
    span_trim(&mt);
    bool is_sdp = span_is_ci(mt, "application/sdp");
    if (span_has(ct, BC_QUOTE | BC_BLANK) && !is_sdp)
        return false;
    size_t slash = span_chr(mt, '/');
    if (slash == mt.n || slash == 0 || slash == mt.n - 1 || span_has(mt, BC_BLANK | BC_QUOTE) ||
        span_starts_ci(mt, "multipart/") || span_has(span_from(ct, k), BC_BLANK | BC_QUOTE))
        return false;
    if (is_sdp && body.n) {
        out->has_sdp = sdp_parse(body.p, body.n, &out->sdp) == 0;
        out->sdp_unparsed = !out->has_sdp;
        *sdp_parsed = true;
    }
    return true;
}

/* The headers this pass reads once the header block is in: every check that
 * refuses runs before anything is cut out of the next header. */
static bool fill_headers(const struct headers *hs, struct span body, struct sip_msg *out,
                         bool *sdp_parsed)
{
    const struct span *v = hs->value;
    uint64_t cl;
    if (!span_u64(v[H_CONTENT_LENGTH], SIZE_MAX, &cl) || cl != body.n)
        return false; /* Content-Length must be exactly what follows */
    if (!fill_call_id(v[H_CALL_ID], out) || !fill_cseq(v[H_CSEQ], out) ||
        !name_addr_fill(v[H_FROM], out->from_user, out->from_host, out->from_tag,
                        sizeof(out->from_user), NULL) ||
        !name_addr_fill(v[H_TO], out->to_user, out->to_host, out->to_tag, sizeof(out->to_user),
                        NULL) ||
        !fill_via(v[H_VIA], out))
        return false;

    /* User-Agent, else Server; Reason */
    if (hs->have[H_USER_AGENT])
        span_copy(out->user_agent, sizeof(out->user_agent), v[H_USER_AGENT]);
    else if (hs->have[H_SERVER])
        span_copy(out->user_agent, sizeof(out->user_agent), v[H_SERVER]);
    if (hs->have[H_REASON]) {
        if (span_has(v[H_REASON], BC_COMMA))
            return false;
        span_copy(out->reason_header, sizeof(out->reason_header), v[H_REASON]);
    }

    /* Contact: one plain value; its expires= backs up the Expires header. */
    struct span cparams = {NULL, 0};
    if (hs->have[H_CONTACT]) {
        char user[128];
        if (span_has(v[H_CONTACT], BC_COMMA | BC_STAR) ||
            !name_addr_fill(v[H_CONTACT], user, out->contact_host, NULL, sizeof(out->contact_host),
                            &cparams))
            return false;
    }
    struct span se = hs->have[H_SESSION_EXPIRES]     ? v[H_SESSION_EXPIRES]
                     : hs->have[H_SESSION_EXPIRES_X] ? v[H_SESSION_EXPIRES_X]
                                                     : (struct span){NULL, 0};
    return fill_expires(hs, cparams, out) && fill_session_expires(se, out) &&
           fill_body(hs, body, out, sdp_parsed);
}

int sip_parse_fast(const uint8_t *data, size_t len, struct sip_msg *out)
{
    /* All but the SDP (near half the struct) is zeroed here; the SDP below,
     * unless sdp_parse() filled it (it zeroes it first). */
    memset(out, 0, offsetof(struct sip_msg, sdp));
    out->expires = -1;
    const char *d = (const char *)data, *end = d + len;

    const char *cr = line_end(d, end, false);
    if (!cr || cr == d)
        return SIP_FAST_FALLBACK;
    struct span line = {d, (size_t)(cr - d)};
    bool status = line.n > 12 && memcmp(line.p, "SIP/2.0 ", 8) == 0;
    if (!(status ? parse_status_line(line, out) : parse_request_line(line, out)))
        return SIP_FAST_FALLBACK;

    struct headers hs;
    memset(hs.have, 0, sizeof(hs.have));
    const char *body = read_headers(cr + 2, end, &hs);
    if (!body || !hs.have[H_VIA] || !hs.have[H_FROM] || !hs.have[H_TO] || !hs.have[H_CALL_ID] ||
        !hs.have[H_CSEQ] || !hs.have[H_CONTENT_LENGTH])
        return SIP_FAST_FALLBACK;
    bool sdp_parsed;
    if (!fill_headers(&hs, (struct span){body, (size_t)(end - body)}, out, &sdp_parsed))
        return SIP_FAST_FALLBACK;
    if (!sdp_parsed)
        memset(&out->sdp, 0, sizeof(*out) - offsetof(struct sip_msg, sdp));
    return SIP_FAST_OK;
}

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
 */
#include <string.h>
#include <strings.h>

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

struct hname {
    const char *name;
    enum hdr h;
    size_t len; /* filled by the HN() initialiser */
};
#define HN(n, h)                                                                                   \
    {                                                                                              \
        n, h, sizeof(n) - 1                                                                        \
    }

/* Headers osip parses with a grammar of its own and that siptap does not
 * read: they must be looked at so a value osip would refuse is not accepted
 * here (the message would then be malformed on one path only). */
static const struct hname known[] = {
    HN("via", H_VIA),
    HN("v", H_VIA),
    HN("from", H_FROM),
    HN("f", H_FROM),
    HN("to", H_TO),
    HN("t", H_TO),
    HN("call-id", H_CALL_ID),
    HN("i", H_CALL_ID),
    HN("cseq", H_CSEQ),
    HN("contact", H_CONTACT),
    HN("m", H_CONTACT),
    HN("content-length", H_CONTENT_LENGTH),
    HN("l", H_CONTENT_LENGTH),
    HN("content-type", H_CONTENT_TYPE),
    HN("c", H_CONTENT_TYPE),
    HN("expires", H_EXPIRES),
    HN("session-expires", H_SESSION_EXPIRES),
    HN("x", H_SESSION_EXPIRES_X),
    HN("reason", H_REASON),
    HN("user-agent", H_USER_AGENT),
    HN("server", H_SERVER),
    /* credentials and challenges: always libosip2's job */
    HN("authorization", H_FALLBACK),
    HN("proxy-authorization", H_FALLBACK),
    HN("www-authenticate", H_FALLBACK),
    HN("proxy-authenticate", H_FALLBACK),
    HN("authentication-info", H_FALLBACK),
    HN("proxy-authentication-info", H_FALLBACK),
    /* parsed by osip with their own grammar; not worth mirroring */
    HN("accept", H_FALLBACK),
    HN("accept-encoding", H_FALLBACK),
    HN("accept-language", H_FALLBACK),
    HN("alert-info", H_FALLBACK),
    HN("call-info", H_FALLBACK),
    HN("error-info", H_FALLBACK),
    HN("content-disposition", H_FALLBACK),
    HN("content-encoding", H_FALLBACK),
    HN("e", H_FALLBACK),
    HN("mime-version", H_FALLBACK),
    HN("route", H_ROUTE),
    HN("record-route", H_ROUTE),
};

/* RFC 3261 token characters, as a table: this runs on every header byte. */
static const bool token_chars[256] = {
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,  ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,  ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,  ['x'] = 1,
    ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,  ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1,  ['.'] = 1,
    ['!'] = 1, ['%'] = 1, ['*'] = 1, ['_'] = 1, ['+'] = 1, ['`'] = 1, ['\''] = 1, ['~'] = 1,
};

static inline bool is_token_char(unsigned char c)
{
    return token_chars[c];
}

/* The CR of the CRLF ending the line that starts at p, or NULL when the line
 * has a byte outside printable ASCII (a tab is allowed if allow_tab) before
 * it, a CR not followed by LF, a bare LF, or no end. One pass for both the
 * end and the check: eight bytes at a time while none of them is below 0x20
 * or above 0x7e (core/words.h), then bytewise from the word that holds one. */
static const char *line_end(const char *p, const char *end, bool allow_tab)
{
    while (end - p >= 8) {
        uint64_t x = word_load(p);
        if (word_has_below(x, 0x20) | word_has_from(x, 0x7f))
            break;
        p += 8;
    }
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 0x20 && c <= 0x7e) || (c == '\t' && allow_tab))
            continue;
        return c == '\r' && p + 1 < end && p[1] == '\n' ? p : NULL;
    }
    return NULL;
}

/* Does s contain any of chars? One memchr per (few) character: vectorised,
 * much cheaper than a strchr per byte of s. */
static bool span_has(struct span s, const char *chars)
{
    if (!s.n)
        return false;
    for (; *chars; chars++)
        if (memchr(s.p, *chars, s.n))
            return true;
    return false;
}

static void span_trim(struct span *s)
{
    while (s->n && (s->p[0] == ' ' || s->p[0] == '\t')) {
        s->p++;
        s->n--;
    }
    while (s->n && (s->p[s->n - 1] == ' ' || s->p[s->n - 1] == '\t'))
        s->n--;
}

static void span_copy(char *dst, size_t dst_size, struct span s)
{
    size_t n = s.n < dst_size - 1 ? s.n : dst_size - 1;
    if (n) /* an empty span may have no pointer at all */
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

static bool span_eq_ci(struct span s, const char *lit)
{
    return strlen(lit) == s.n && strncasecmp(s.p, lit, s.n) == 0;
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

/* Finds the first ;name=value parameter in params (which starts at a ';' or
 * is empty). Every parameter must be plain: token name, optional token-ish
 * value, no quotes or spaces. false means "not plain". */
static bool params_find(struct span params, const char *name, struct span *value, bool *found)
{
    *found = false;
    size_t i = 0;
    while (i < params.n) {
        if (params.p[i] != ';')
            return false;
        i++;
        size_t ns = i;
        while (i < params.n && is_token_char((unsigned char)params.p[i]))
            i++;
        struct span pn = {params.p + ns, i - ns};
        if (!pn.n)
            return false;
        struct span pv = {params.p + i, 0}; /* empty, but never a NULL pointer */
        if (i < params.n && params.p[i] == '=') {
            i++;
            size_t vs = i;
            while (i < params.n && params.p[i] != ';') {
                unsigned char c = (unsigned char)params.p[i];
                if (!is_token_char(c) && c != ':' && c != '[' && c != ']')
                    return false;
                i++;
            }
            pv = (struct span){params.p + vs, i - vs};
            if (!pv.n)
                return false;
        }
        if (!*found && span_eq_ci(pn, name)) {
            if (!pv.n)
                return false; /* osip would give a NULL value; let it */
            *found = true;
            *value = pv;
        }
    }
    return true;
}

/* sip: / sips: URI without escapes, passwords, IPv6 or headers: user part
 * (may be absent) and host. Anything else is not plain. */
static bool uri_plain(struct span uri, struct span *user, struct span *host)
{
    size_t skip;
    if (uri.n > 4 && strncasecmp(uri.p, "sip:", 4) == 0)
        skip = 4;
    else if (uri.n > 5 && strncasecmp(uri.p, "sips:", 5) == 0)
        skip = 5;
    else
        return false;
    struct span r = {uri.p + skip, uri.n - skip};
    if (span_has(r, "%?\"[]<> \t,\\"))
        return false;
    const char *at = memchr(r.p, '@', r.n);
    *user = (struct span){r.p, 0}; /* empty, but never a NULL pointer */
    if (at) {
        *user = (struct span){r.p, (size_t)(at - r.p)};
        if (!user->n || span_has(*user, ":;@"))
            return false;
        r = (struct span){at + 1, r.n - user->n - 1};
        if (memchr(r.p, '@', r.n))
            return false;
    }
    size_t h = 0;
    while (h < r.n && r.p[h] != ':' && r.p[h] != ';')
        h++;
    *host = (struct span){r.p, h};
    if (host->n < 2) /* osip refuses some one-letter hosts ("<sip:h>"); not worth mirroring */
        return false;
    if (h < r.n && r.p[h] == ':') {
        size_t q = h + 1, d = q;
        while (q < r.n && r.p[q] >= '0' && r.p[q] <= '9')
            q++;
        /* libosip2 refuses a port of eight digits or more: past five, left to it. */
        if (q == d || q - d > 5 || (q < r.n && r.p[q] != ';'))
            return false;
    }
    /* URI parameters: only checked for plainness. */
    struct span up = {r.p + h, r.n - h};
    while (up.n && up.p[0] != ';') {
        up.p++;
        up.n--;
    }
    struct span dummy;
    bool found;
    return params_find(up, "", &dummy, &found);
}

/* An unquoted display name: tokens and blanks (RFC 3261 token characters),
 * the only form libosip2 takes; anything else is left to it. */
static bool span_is_tokens(struct span s)
{
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != ' ' && c != '\t' && (c == '\0' || !strchr("-.!%*_+`'~", c)))
            return false;
    }
    return true;
}

/* From / To / Contact: `["display"] <uri>;params`, `display <uri>;params` or
 * `uri;params`. Gives the URI and the header parameters. */
static bool name_addr_plain(struct span v, struct span *uri, struct span *params)
{
    const char *lt = memchr(v.p, '<', v.n);
    if (lt) {
        struct span disp = {v.p, (size_t)(lt - v.p)};
        span_trim(&disp);
        if (disp.n) {
            if (disp.p[0] == '"') {
                if (disp.n < 2 || disp.p[disp.n - 1] != '"')
                    return false;
                struct span in = {disp.p + 1, disp.n - 2};
                if (span_has(in, "\"\\"))
                    return false;
            } else if (!span_is_tokens(disp)) {
                return false;
            }
        }
        const char *gt = memchr(lt, '>', (size_t)(v.p + v.n - lt));
        if (!gt)
            return false;
        *uri = (struct span){lt + 1, (size_t)(gt - lt - 1)};
        *params = (struct span){gt + 1, (size_t)(v.p + v.n - gt - 1)};
        span_trim(params);
        if (memchr(params->p, '<', params->n) || memchr(params->p, '>', params->n))
            return false;
    } else {
        if (span_has(v, "\">"))
            return false;
        const char *semi = memchr(v.p, ';', v.n);
        size_t un = semi ? (size_t)(semi - v.p) : v.n;
        *uri = (struct span){v.p, un};
        *params = (struct span){v.p + un, v.n - un};
    }
    return uri->n > 0;
}

static bool name_addr_fill(struct span v, char *user, char *host, char *tag, size_t size,
                           struct span *params_out)
{
    struct span uri, params, u, h, t;
    bool found;
    if (!name_addr_plain(v, &uri, &params) || !uri_plain(uri, &u, &h) ||
        !params_find(params, "tag", &t, &found))
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

static enum sip_method method_from_span(struct span s)
{
    for (int m = SIP_METHOD_INVITE; m <= SIP_METHOD_PUBLISH; m++) {
        const char *n = sip_method_name((enum sip_method)m);
        if (strlen(n) == s.n && memcmp(n, s.p, s.n) == 0)
            return (enum sip_method)m;
    }
    return SIP_METHOD_UNKNOWN;
}

static enum hdr classify(struct span name)
{
    /* Length and first letter (names are lower case; | 0x20 folds an ASCII
     * letter, and no other byte maps onto one here) before the full compare. */
    char first = (char)(name.p[0] | 0x20);
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i].len == name.n && known[i].name[0] == first &&
            strncasecmp(name.p, known[i].name, name.n) == 0)
            return known[i].h;
    return H_OTHER;
}

int sip_parse_fast(const uint8_t *data, size_t len, struct sip_msg *out)
{
    memset(out, 0, sizeof(*out));
    out->expires = -1;
    const char *d = (const char *)data, *end = d + len;

    /* ---- start line ---- */
    const char *cr = line_end(d, end, false);
    if (!cr || cr == d)
        return SIP_FAST_FALLBACK;
    struct span line = {d, (size_t)(cr - d)};
    if (line.n > 12 && memcmp(line.p, "SIP/2.0 ", 8) == 0) {
        struct span code = {line.p + 8, 3};
        uint64_t st;
        if (line.p[11] != ' ' || !span_u64(code, 999, &st) || st < 100 || st > 699)
            return SIP_FAST_FALLBACK;
        struct span reason = {line.p + 12, line.n - 12};
        if (!reason.n || reason.p[0] == ' ' || reason.p[reason.n - 1] == ' ')
            return SIP_FAST_FALLBACK;
        out->status = (int)st;
        span_copy(out->reason, sizeof(out->reason), reason);
    } else {
        const char *sp1 = memchr(line.p, ' ', line.n);
        if (!sp1)
            return SIP_FAST_FALLBACK;
        struct span method = {line.p, (size_t)(sp1 - line.p)};
        const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(line.p + line.n - sp1 - 1));
        if (!sp2 || !method.n || method.n >= sizeof(out->method_name))
            return SIP_FAST_FALLBACK;
        for (size_t i = 0; i < method.n; i++)
            if (!is_token_char((unsigned char)method.p[i]))
                return SIP_FAST_FALLBACK;
        struct span uri = {sp1 + 1, (size_t)(sp2 - sp1 - 1)};
        struct span ver = {sp2 + 1, (size_t)(line.p + line.n - sp2 - 1)};
        if (!span_eq_ci(ver, "SIP/2.0") || memcmp(ver.p, "SIP/2.0", 7) != 0)
            return SIP_FAST_FALLBACK;
        struct span u, h;
        if (!uri.n || uri.n >= sizeof(out->request_uri) || !uri_plain(uri, &u, &h))
            return SIP_FAST_FALLBACK;
        out->is_request = true;
        out->method = method_from_span(method);
        span_copy(out->method_name, sizeof(out->method_name), method);
        span_copy(out->request_uri, sizeof(out->request_uri), uri);
        span_copy(out->request_user, sizeof(out->request_user), u);
    }

    /* ---- headers ---- */
    struct span hv[H_COUNT];
    bool have[H_COUNT] = {false};
    const char *p = cr + 2;
    const char *body = NULL;
    while (p < end) {
        cr = line_end(p, end, true);
        if (!cr)
            return SIP_FAST_FALLBACK;
        line = (struct span){p, (size_t)(cr - p)};
        p = cr + 2;
        if (!line.n) {
            body = p;
            break;
        }
        if (line.p[0] == ' ' || line.p[0] == '\t')
            return SIP_FAST_FALLBACK; /* folded */
        size_t nl = 0;
        while (nl < line.n && is_token_char((unsigned char)line.p[nl]))
            nl++;
        if (!nl || nl == line.n || line.p[nl] != ':')
            return SIP_FAST_FALLBACK;
        struct span name = {line.p, nl};
        struct span value = {line.p + nl + 1, line.n - nl - 1};
        span_trim(&value);
        if (!value.n)
            return SIP_FAST_FALLBACK;
        enum hdr h = classify(name);
        if (h == H_FALLBACK)
            return SIP_FAST_FALLBACK;
        if (h == H_OTHER)
            continue;
        if (h == H_ROUTE) {
            /* osip parses these; only the simple shapes it is sure to accept pass. */
            if (span_has(value, "\"\\") || value.p[0] != '<' || value.p[value.n - 1] != '>')
                return SIP_FAST_FALLBACK;
            continue;
        }
        if (have[h])
            return SIP_FAST_FALLBACK; /* duplicates: osip keeps lists; let it decide */
        have[h] = true;
        hv[h] = value;
    }
    if (!body)
        return SIP_FAST_FALLBACK;
    if (!have[H_VIA] || !have[H_FROM] || !have[H_TO] || !have[H_CALL_ID] || !have[H_CSEQ] ||
        !have[H_CONTENT_LENGTH])
        return SIP_FAST_FALLBACK;

    /* Content-Length must be exactly what follows. */
    uint64_t cl;
    if (!span_u64(hv[H_CONTENT_LENGTH], SIZE_MAX, &cl) || cl != (uint64_t)(end - body))
        return SIP_FAST_FALLBACK;

    /* Call-ID */
    struct span cid = hv[H_CALL_ID];
    if (span_has(cid, " \t\"<>,;") || cid.n >= sizeof(out->call_id))
        return SIP_FAST_FALLBACK;
    const char *at = memchr(cid.p, '@', cid.n);
    if (at && (at == cid.p || at == cid.p + cid.n - 1 ||
               memchr(at + 1, '@', (size_t)(cid.p + cid.n - at - 1))))
        return SIP_FAST_FALLBACK;
    span_copy(out->call_id, sizeof(out->call_id), cid);

    /* CSeq: digits SP method */
    struct span cs = hv[H_CSEQ];
    const char *csp = memchr(cs.p, ' ', cs.n);
    if (!csp)
        return SIP_FAST_FALLBACK;
    struct span csn = {cs.p, (size_t)(csp - cs.p)};
    struct span csm = {csp + 1, (size_t)(cs.p + cs.n - csp - 1)};
    uint64_t cseq;
    if (!span_u64(csn, UINT32_MAX, &cseq) || csn.n > 10 || !csm.n ||
        csm.n >= sizeof(out->method_name))
        return SIP_FAST_FALLBACK;
    for (size_t i = 0; i < csm.n; i++)
        if (!is_token_char((unsigned char)csm.p[i]))
            return SIP_FAST_FALLBACK;
    out->cseq = (uint32_t)cseq;
    if (!out->is_request) {
        out->method = method_from_span(csm);
        span_copy(out->method_name, sizeof(out->method_name), csm);
    }

    /* From / To */
    if (!name_addr_fill(hv[H_FROM], out->from_user, out->from_host, out->from_tag,
                        sizeof(out->from_user), NULL) ||
        !name_addr_fill(hv[H_TO], out->to_user, out->to_host, out->to_tag, sizeof(out->to_user),
                        NULL))
        return SIP_FAST_FALLBACK;

    /* Via: SIP/2.0/<transport> SP host[:port] params, one value only */
    struct span via = hv[H_VIA];
    if (span_has(via, ",()\"[]") || via.n < 9 || strncasecmp(via.p, "SIP/2.0/", 8) != 0)
        return SIP_FAST_FALLBACK;
    const char *vsp = memchr(via.p, ' ', via.n);
    if (!vsp || vsp == via.p + 8) /* no transport: libosip2 refuses it */
        return SIP_FAST_FALLBACK;
    for (const char *q = via.p + 8; q < vsp; q++)
        if (!is_token_char((unsigned char)*q))
            return SIP_FAST_FALLBACK;
    struct span sb = {vsp + 1, (size_t)(via.p + via.n - vsp - 1)};
    size_t sbn = 0;
    while (sbn < sb.n && sb.p[sbn] != ';')
        sbn++;
    struct span sent_by = {sb.p, sbn};
    struct span vparams = {sb.p + sbn, sb.n - sbn};
    if (!sent_by.n || span_has(sent_by, " \t") || sent_by.p[0] == ':')
        return SIP_FAST_FALLBACK;
    const char *colon = memchr(sent_by.p, ':', sent_by.n);
    if (colon) {
        struct span port = {colon + 1, (size_t)(sent_by.p + sent_by.n - colon - 1)};
        uint64_t pv;
        if (!span_u64(port, 65535, &pv) || memchr(port.p, ':', port.n))
            return SIP_FAST_FALLBACK;
    }
    struct span branch;
    bool has_branch;
    if (sent_by.n >= sizeof(out->via_sent_by) ||
        !params_find(vparams, "branch", &branch, &has_branch))
        return SIP_FAST_FALLBACK;
    span_copy(out->via_sent_by, sizeof(out->via_sent_by), sent_by);
    if (has_branch)
        span_copy(out->via_branch, sizeof(out->via_branch), branch);

    /* User-Agent, else Server; Reason */
    if (have[H_USER_AGENT])
        span_copy(out->user_agent, sizeof(out->user_agent), hv[H_USER_AGENT]);
    else if (have[H_SERVER])
        span_copy(out->user_agent, sizeof(out->user_agent), hv[H_SERVER]);
    if (have[H_REASON]) {
        if (span_has(hv[H_REASON], ","))
            return SIP_FAST_FALLBACK;
        span_copy(out->reason_header, sizeof(out->reason_header), hv[H_REASON]);
    }

    /* Contact: one plain value; its expires= backs up the Expires header. */
    struct span cparams = {NULL, 0};
    if (have[H_CONTACT]) {
        char user[128], tag[1];
        (void)tag;
        if (span_has(hv[H_CONTACT], ",*") ||
            !name_addr_fill(hv[H_CONTACT], user, out->contact_host, NULL, sizeof(out->contact_host),
                            &cparams))
            return SIP_FAST_FALLBACK;
    }
    uint64_t ev;
    if (have[H_EXPIRES]) {
        if (!span_u64(hv[H_EXPIRES], UINT32_MAX, &ev))
            return SIP_FAST_FALLBACK;
        out->expires = (int64_t)ev;
    } else if (have[H_CONTACT]) {
        struct span e;
        bool found;
        if (!params_find(cparams, "expires", &e, &found))
            return SIP_FAST_FALLBACK;
        if (found) {
            if (!span_u64(e, UINT32_MAX, &ev))
                return SIP_FAST_FALLBACK;
            out->expires = (int64_t)ev;
        }
    }

    /* Session-Expires: delta[;refresher=uac|uas] */
    struct span se = have[H_SESSION_EXPIRES]     ? hv[H_SESSION_EXPIRES]
                     : have[H_SESSION_EXPIRES_X] ? hv[H_SESSION_EXPIRES_X]
                                                 : (struct span){NULL, 0};
    if (se.n) {
        size_t k = 0;
        while (k < se.n && se.p[k] != ';')
            k++;
        uint64_t secs;
        struct span ref;
        bool found;
        if (!span_u64((struct span){se.p, k}, UINT32_MAX, &secs) ||
            !params_find((struct span){se.p + k, se.n - k}, "refresher", &ref, &found))
            return SIP_FAST_FALLBACK;
        out->session_expires = (uint32_t)secs;
        if (found) {
            if (span_eq_ci(ref, "uac"))
                memcpy(out->session_refresher, "uac", 4);
            else if (span_eq_ci(ref, "uas"))
                memcpy(out->session_refresher, "uas", 4);
            else
                return SIP_FAST_FALLBACK;
        }
    }

    /* Body: SDP when typed so, or untyped. */
    size_t body_len = (size_t)(end - body);
    if (have[H_CONTENT_TYPE]) {
        struct span ct = hv[H_CONTENT_TYPE];
        size_t k = 0;
        while (k < ct.n && ct.p[k] != ';')
            k++;
        struct span mt = {ct.p, k};
        span_trim(&mt);
        if (span_has(ct, "\" \t") && !span_eq_ci(mt, "application/sdp"))
            return SIP_FAST_FALLBACK;
        const char *slash = memchr(mt.p, '/', mt.n);
        if (!slash || slash == mt.p || slash == mt.p + mt.n - 1 || span_has(mt, " \t\""))
            return SIP_FAST_FALLBACK;
        if (mt.n >= 10 && strncasecmp(mt.p, "multipart/", 10) == 0)
            return SIP_FAST_FALLBACK;
        if (k < ct.n && span_has((struct span){ct.p + k, ct.n - k}, " \t\""))
            return SIP_FAST_FALLBACK;
        if (span_eq_ci(mt, "application/sdp") && body_len) {
            out->has_sdp = sdp_parse(body, body_len, &out->sdp) == 0;
            out->sdp_unparsed = !out->has_sdp;
        }
    } else if (body_len) {
        return SIP_FAST_FALLBACK; /* untyped body: rare, osip's call */
    }
    return SIP_FAST_OK;
}

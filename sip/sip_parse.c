/*
 * sip_parse: one complete SIP message -> struct sip_msg, with libosip2.
 *
 * osip does the grammar (start line, header lists, compact forms, URI and
 * name-addr syntax, digest parameters); this file only copies the fields the
 * rest of siptap uses into the fixed-size, self-contained struct sip_msg, so
 * nothing osip allocated outlives the call. Strings are truncated to their
 * field, quotes around digest values are dropped, and the digest response is
 * reduced to a 64-bit hash (a consumer can tell "the same answer again"
 * without ever holding the credential).
 *
 * Plain messages never get here: sip_fast.c fills the same struct without
 * allocating, and sip_parse_message() only falls back to this path when it
 * declines (see sip_fast.c for when).
 *
 * The body is taken from the raw bytes (after the blank line, bounded by
 * Content-Length) rather than from osip's MIME split, so a multipart body
 * osip would refuse still yields its SDP part (see sdp.c). osip is not let
 * split a multipart body at all: its part parser (libosip2 5.3) leaks the
 * first Content-Type of a part that has two, memory a sender could make the
 * tap lose message by message. It gets a copy whose top-level Content-Type
 * says "xultipart" (same length) and keeps the body whole.
 */
#include <ctype.h>
#include <stdarg.h>
#include <osipparser2/osip_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hashtab.h"
#include "sip/sdp_internal.h"
#include "sip/sip.h"
#include "sip/sip_internal.h"

static const char *const method_names[] = {
    [SIP_METHOD_UNKNOWN] = "UNKNOWN",
    [SIP_METHOD_INVITE] = "INVITE",
    [SIP_METHOD_ACK] = "ACK",
    [SIP_METHOD_BYE] = "BYE",
    [SIP_METHOD_CANCEL] = "CANCEL",
    [SIP_METHOD_REGISTER] = "REGISTER",
    [SIP_METHOD_OPTIONS] = "OPTIONS",
    [SIP_METHOD_PRACK] = "PRACK",
    [SIP_METHOD_UPDATE] = "UPDATE",
    [SIP_METHOD_INFO] = "INFO",
    [SIP_METHOD_SUBSCRIBE] = "SUBSCRIBE",
    [SIP_METHOD_NOTIFY] = "NOTIFY",
    [SIP_METHOD_REFER] = "REFER",
    [SIP_METHOD_MESSAGE] = "MESSAGE",
    [SIP_METHOD_PUBLISH] = "PUBLISH",
};

const char *sip_method_name(enum sip_method m)
{
    if ((size_t)m >= sizeof(method_names) / sizeof(method_names[0]))
        return method_names[SIP_METHOD_UNKNOWN];
    return method_names[m];
}

/* Methods are case-sensitive (RFC 3261 7.1). */
static enum sip_method sip_method_from_name(const char *name)
{
    if (!name)
        return SIP_METHOD_UNKNOWN;
    for (size_t i = 1; i < sizeof(method_names) / sizeof(method_names[0]); i++)
        if (strcmp(name, method_names[i]) == 0)
            return (enum sip_method)i;
    return SIP_METHOD_UNKNOWN;
}

static void copy_str(char *dst, size_t dst_size, const char *src)
{
    if (!src) {
        dst[0] = '\0';
        return;
    }
    size_t n = strnlen(src, dst_size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/*
 * The Call-ID (number[@host]) into out. One that does not fit keeps its
 * first bytes and ends with "~" and a hash of the whole of it (16 hex
 * digits), so two Call-IDs alike in their first 255 bytes stay two calls,
 * and the same Call-ID always reads the same.
 */
#define CALL_ID_HASH_LEN 17 /* "~" + 16 hex digits */
static void copy_call_id(char *out, size_t outlen, const char *number, const char *host)
{
    size_t n = strlen(number), h = host ? strlen(host) : 0;
    size_t len = n + (host ? 1 + h : 0);
    char *whole = len < outlen ? out : malloc(len + 1);
    if (!whole) {
        out[0] = '\0'; /* counted as a message without a Call-ID */
        return;
    }
    memcpy(whole, number, n);
    if (host) {
        whole[n] = '@';
        memcpy(whole + n + 1, host, h);
    }
    whole[len] = '\0';
    if (whole == out)
        return;
    uint64_t hash = hashtab_hash_bytes(whole, len);
    size_t keep = outlen - 1 - CALL_ID_HASH_LEN;
    snprintf(out, outlen, "%.*s~%016llx", (int)keep, whole, (unsigned long long)hash);
    free(whole);
}

/* Copies a digest parameter without its surrounding quotes. */
static void copy_unquoted(char *dst, size_t dst_size, const char *src)
{
    if (!src) {
        dst[0] = '\0';
        return;
    }
    size_t n = strlen(src);
    if (n >= 2 && src[0] == '"' && src[n - 1] == '"') {
        src++;
        n -= 2;
    }
    if (n >= dst_size)
        n = dst_size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* "host" or "host:port", brackets around IPv6 literals. */
static void copy_host_port(char *dst, size_t dst_size, const char *host, const char *port)
{
    if (!host) {
        dst[0] = '\0';
        return;
    }
    bool v6 = strchr(host, ':') != NULL && host[0] != '[';
    snprintf(dst, dst_size, "%s%s%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "", port ? ":" : "",
             port ? port : "");
}

/* User part of a URI: the user of sip:/sips:, the number of tel:. */
static void copy_uri_user(char *dst, size_t dst_size, const osip_uri_t *uri)
{
    dst[0] = '\0';
    if (!uri)
        return;
    if (uri->username) {
        copy_str(dst, dst_size, uri->username);
    } else if (uri->scheme && strcasecmp(uri->scheme, "tel") == 0 && uri->string) {
        /* osip keeps a non-SIP URI whole in string, scheme included. */
        const char *s = uri->string;
        if (strncasecmp(s, "tel:", 4) == 0)
            s += 4;
        size_t n = strcspn(s, ";");
        if (n >= dst_size)
            n = dst_size - 1;
        memcpy(dst, s, n);
        dst[n] = '\0';
    }
}

static void copy_name_addr(const osip_from_t *h, char *user, char *host, char *tag, size_t size)
{
    user[0] = host[0] = tag[0] = '\0';
    if (!h)
        return;
    copy_uri_user(user, size, h->url);
    if (h->url)
        copy_str(host, size, h->url->host);
    osip_generic_param_t *p = NULL;
    if (osip_generic_param_get_byname((osip_list_t *)&h->gen_params, "tag", &p) == 0 && p)
        copy_str(tag, size, p->gvalue);
}

static const char *header_value(const osip_message_t *m, const char *name)
{
    osip_header_t *h = NULL;
    if (osip_message_header_get_byname(m, name, 0, &h) >= 0 && h && h->hvalue)
        return h->hvalue;
    return NULL;
}

/* Every Reason value (RFC 3326: several headers, or one with a comma
 * list, which osip splits into headers), joined by ", " as far as they fit:
 * "SIP;cause=487, Q.850;cause=31" keeps its Q.850 cause for calls/. */
static void fill_reason(const osip_message_t *m, struct sip_msg *out)
{
    size_t used = 0, size = sizeof(out->reason_header);
    out->reason_header[0] = '\0';
    osip_header_t *h = NULL;
    for (int pos = 0; (pos = osip_message_header_get_byname(m, "reason", pos, &h)) >= 0; pos++) {
        if (!h || !h->hvalue)
            continue;
        if (!used) { /* the first is cut to fit, as it always was */
            copy_str(out->reason_header, size, h->hvalue);
            used = strlen(out->reason_header);
            continue;
        }
        size_t n = strlen(h->hvalue);
        if (used + 2 + n >= size)
            break; /* a later value is kept whole or not at all */
        memcpy(out->reason_header + used, ", ", 2);
        memcpy(out->reason_header + used + 2, h->hvalue, n + 1);
        used += 2 + n;
    }
}

/* Leading decimal digits; false if there are none. */
static bool parse_leading_u64(const char *s, uint64_t max, uint64_t *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max)
            v = max;
    }
    *out = v;
    return true;
}

static void fill_expires(const osip_message_t *m, struct sip_msg *out)
{
    uint64_t v;
    const char *e = header_value(m, "expires");
    out->expires = -1;
    if (e && parse_leading_u64(e, UINT32_MAX, &v)) {
        out->expires = (int64_t)v;
        return;
    }
    osip_contact_t *c = NULL;
    if (osip_message_get_contact(m, 0, &c) >= 0 && c) {
        osip_generic_param_t *p = NULL;
        if (osip_generic_param_get_byname(&c->gen_params, "expires", &p) == 0 && p && p->gvalue &&
            parse_leading_u64(p->gvalue, UINT32_MAX, &v))
            out->expires = (int64_t)v;
    }
}

/* Session-Expires: 1800;refresher=uac (compact form x:). */
static void fill_session_expires(const osip_message_t *m, struct sip_msg *out)
{
    const char *v = header_value(m, "session-expires");
    if (!v)
        v = header_value(m, "x");
    if (!v)
        return;
    uint64_t secs;
    if (parse_leading_u64(v, UINT32_MAX, &secs))
        out->session_expires = (uint32_t)secs;
    /* The refresher parameter by its name: not any text that ends in
     * "refresher=" (a parameter "xrefresher=uac" is not it). */
    for (const char *p = strchr(v, ';'); p; p = strchr(p + 1, ';')) {
        const char *r = p + 1;
        while (*r == ' ' || *r == '\t')
            r++;
        if (strncasecmp(r, "refresher", 9) != 0)
            continue;
        r += 9;
        while (*r == ' ' || *r == '\t')
            r++;
        if (*r != '=')
            continue;
        r++;
        while (*r == ' ' || *r == '\t')
            r++;
        if (strncasecmp(r, "uac", 3) == 0)
            copy_str(out->session_refresher, sizeof(out->session_refresher), "uac");
        else if (strncasecmp(r, "uas", 3) == 0)
            copy_str(out->session_refresher, sizeof(out->session_refresher), "uas");
        break;
    }
}

static uint64_t hash_response(const char *response)
{
    char buf[256];
    copy_unquoted(buf, sizeof(buf), response);
    if (!buf[0])
        return 0;
    uint64_t h = hashtab_hash_bytes(buf, strlen(buf));
    /* 0 means "no response"; a real one must never look like that. */
    return h ? h : 1;
}

static void fill_credentials(const osip_message_t *m, struct sip_msg *out)
{
    osip_authorization_t *a = NULL;
    if (osip_message_get_authorization(m, 0, &a) < 0 || !a)
        if (osip_message_get_proxy_authorization(m, 0, &a) < 0)
            a = NULL;
    if (a) {
        out->has_credentials = true;
        copy_unquoted(out->credentials_realm, sizeof(out->credentials_realm), a->realm);
        copy_unquoted(out->credentials_nonce, sizeof(out->credentials_nonce), a->nonce);
        out->credentials_response_hash = hash_response(a->response);
    }
    osip_www_authenticate_t *w = NULL;
    if (osip_message_get_www_authenticate(m, 0, &w) < 0 || !w)
        if (osip_message_get_proxy_authenticate(m, 0, &w) < 0)
            w = NULL;
    if (w) {
        out->has_challenge = true;
        copy_unquoted(out->challenge_realm, sizeof(out->challenge_realm), w->realm);
        copy_unquoted(out->challenge_nonce, sizeof(out->challenge_nonce), w->nonce);
        char stale[8];
        copy_unquoted(stale, sizeof(stale), w->stale);
        out->challenge_stale = strcasecmp(stale, "true") == 0;
    }
}

/* The Request-URI as written on the wire: the second token of line one. */
static void fill_request_uri(const uint8_t *data, size_t len, struct sip_msg *out)
{
    const uint8_t *sp = memchr(data, ' ', len);
    if (!sp)
        return;
    const uint8_t *u = sp + 1, *end = data + len;
    size_t n = 0;
    while (u + n < end && u[n] != ' ' && u[n] != '\r' && u[n] != '\n')
        n++;
    if (n >= sizeof(out->request_uri))
        n = sizeof(out->request_uri) - 1;
    memcpy(out->request_uri, u, n);
    out->request_uri[n] = '\0';
}

/* The body in the raw bytes: after the first empty line, bounded by Content-Length. */
static bool find_raw_body(const osip_message_t *m, const uint8_t *data, size_t len,
                          const char **body, size_t *body_len)
{
    const uint8_t *p = data, *end = data + len, *start = NULL;
    while (p < end) {
        const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return false;
        if (eol == p || (eol == p + 1 && p[0] == '\r')) {
            start = eol + 1;
            break;
        }
        p = eol + 1;
    }
    if (!start)
        return false;
    size_t n = (size_t)(end - start);
    uint64_t cl;
    if (m->content_length && m->content_length->value &&
        parse_leading_u64(m->content_length->value, SIZE_MAX, &cl) && cl < n)
        n = (size_t)cl;
    *body = (const char *)start;
    *body_len = n;
    return n > 0;
}

/* Where the "multipart" of the top-level Content-Type (or c:) header's
 * value lies, or 0. */
static size_t multipart_offset(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len;) {
        const uint8_t *eol = memchr(data + i, '\n', len - i);
        size_t end = eol ? (size_t)(eol - data) : len;
        if (end == i || (end == i + 1 && data[i] == '\r'))
            return 0; /* the blank line: no such header */
        size_t name = end - i >= 12 && strncasecmp((const char *)data + i, "content-type", 12) == 0
                          ? 12
                      : (data[i] | 0x20) == 'c' ? 1
                                                : 0;
        size_t j = i + name;
        while (name && j < end && (data[j] == ' ' || data[j] == '\t'))
            j++;
        if (name && j < end && data[j] == ':') {
            for (j++; j < end && (data[j] == ' ' || data[j] == '\t');)
                j++;
            if (end - j >= 9 && strncasecmp((const char *)data + j, "multipart", 9) == 0)
                return j;
        }
        i = end + 1;
    }
    return 0;
}

static bool is_multipart(const char *type, bool hidden)
{
    return strcasecmp(type, "multipart") == 0 || (hidden && strcasecmp(type, "xultipart") == 0);
}

static void fill_sdp(const osip_message_t *m, const uint8_t *data, size_t len, bool hidden,
                     struct sip_msg *out)
{
    const char *body;
    size_t body_len;
    if (!find_raw_body(m, data, len, &body, &body_len))
        return;
    const osip_content_type_t *ct = m->content_type;
    if (ct && ct->type && ct->subtype) {
        if (strcasecmp(ct->type, "application") == 0 && strcasecmp(ct->subtype, "sdp") == 0) {
            out->has_sdp = sdp_parse(body, body_len, &out->sdp) == 0;
            out->sdp_unparsed = !out->has_sdp;
        } else if (is_multipart(ct->type, hidden)) {
            osip_generic_param_t *b = NULL;
            char boundary[80];
            if (osip_generic_param_get_byname((osip_list_t *)&ct->gen_params, "boundary", &b) ==
                    0 &&
                b && b->gvalue) {
                copy_unquoted(boundary, sizeof(boundary), b->gvalue);
                out->has_sdp = sdp_find_in_multipart(body, body_len, boundary, &out->sdp) == 0;
            }
        }
        return;
    }
    /* No Content-Type at all: some gateways still send SDP. */
    if (!ct)
        out->has_sdp = sdp_parse(body, body_len, &out->sdp) == 0;
}

/* libosip2 keeps its header-name table in its own process-wide state and
 * crashes if it is used before parser_init(); sip_parse_message() is callable
 * on its own (tests, fuzzer), so it makes sure of that itself. parser_init()
 * in 5.x only rebuilds a static table, so a second call is harmless. */
static void osip_trace_discard(const char *file, int line, osip_trace_level_t level,
                               const char *fmt, va_list ap)
{
    (void)file;
    (void)line;
    (void)level;
    (void)fmt;
    (void)ap;
}

void sip_parser_ensure_init(void)
{
    static bool done; /* mirrors osip's own global; the daemon is single-threaded */
    if (!done) {
        parser_init();
        /* osip writes its parse errors to stderr; ours are counted instead. */
        osip_trace_initialize_func(TRACE_LEVEL0, osip_trace_discard);
        for (int level = TRACE_LEVEL0; level < END_TRACE_LEVEL; level++)
            osip_trace_disable_level((osip_trace_level_t)level);
        done = true;
    }
}

/* Where the header block ends (just past the empty line), 0 if it does not. */
static size_t header_block_len(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (d[i] != '\n')
            continue;
        if (d[i + 1] == '\n')
            return i + 2;
        if (d[i + 1] == '\r' && i + 2 < len && d[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/*
 * A second chance for messages osip refuses but real stacks (and tshark)
 * accept. Three repairs, all on a private copy:
 *  - a repeated From / To / Call-ID / CSeq / Content-Length / Content-Type
 *    (full or compact name) is dropped: the first one counts;
 *  - a backslash before a double quote in the headers (`From: \"arik\" <...>`)
 *    makes osip look for the end of a quoted string past the end of the
 *    header; the backslash is dropped;
 *  - a Content-Length larger than the body present (a truncated datagram)
 *    makes osip refuse the message; the value is rewritten, in place and
 *    space-padded, to the body actually there.
 * Returns NULL if neither applies (or on allocation failure).
 */
static char *repair_message(const uint8_t *data, size_t len, size_t *out_len)
{
    size_t hdr = header_block_len(data, len);
    size_t body_len = hdr ? len - hdr : 0;
    size_t scan = hdr ? hdr : len;
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    bool changed = false;
    size_t o = 0;
    /* Headers that must appear once: a repeat makes osip refuse the message. */
    static const char *const singles[][2] = {{"from", "f"},           {"to", "t"},
                                             {"call-id", "i"},        {"cseq", ""},
                                             {"content-length", "l"}, {"content-type", "c"}};
    bool seen[sizeof(singles) / sizeof(singles[0])] = {false};
    bool dropping = false;
    for (size_t i = 0; i < scan;) {
        const uint8_t *line = data + i;
        const uint8_t *eol = memchr(line, '\n', scan - i);
        size_t n = eol ? (size_t)(eol - line) + 1 : scan - i;
        i += n;
        if (line[0] == ' ' || line[0] == '\t') {
            if (dropping)
                continue;
        } else {
            dropping = false;
            size_t name_len = 0;
            while (name_len < n && line[name_len] != ':' && line[name_len] != ' ' &&
                   line[name_len] != '\t' && line[name_len] != '\r' && line[name_len] != '\n')
                name_len++;
            for (size_t k = 0; k < sizeof(singles) / sizeof(singles[0]); k++) {
                bool match = false;
                for (int form = 0; form < 2; form++)
                    match |= name_len > 0 && strlen(singles[k][form]) == name_len &&
                             strncasecmp((const char *)line, singles[k][form], name_len) == 0;
                if (!match)
                    continue;
                if (seen[k])
                    dropping = true;
                seen[k] = true;
            }
            if (dropping) {
                changed = true;
                continue;
            }
        }
        for (size_t k = 0; k < n; k++) {
            if (line[k] == '\\' && k + 1 < n && line[k + 1] == '"') {
                changed = true;
                continue;
            }
            copy[o++] = (char)line[k];
        }
    }
    size_t new_hdr = o;
    memcpy(copy + o, data + scan, len - scan);
    o += len - scan;
    copy[o] = '\0';
    /* Content-Length (or l:) at a line start, value longer than the body. */
    for (size_t i = 0; hdr && i < new_hdr;) {
        char *line = copy + i;
        char *eol = memchr(line, '\n', new_hdr - i);
        size_t n = eol ? (size_t)(eol - line) : new_hdr - i;
        size_t k = sip_content_length_value_at(line, n);
        if (k) {
            size_t d0 = k;
            uint64_t v = 0;
            while (k < n && isdigit((unsigned char)line[k]) && v < SIZE_MAX / 10)
                v = v * 10 + (uint64_t)(line[k++] - '0');
            char digits[24];
            int dn = snprintf(digits, sizeof(digits), "%zu", body_len);
            if (k > d0 && v > body_len && dn > 0 && (size_t)dn <= k - d0) {
                memset(line + d0, ' ', k - d0);
                memcpy(line + k - dn, digits, (size_t)dn);
                changed = true;
            }
            break;
        }
        i += n + 1;
    }
    if (!changed) {
        free(copy);
        return NULL;
    }
    *out_len = o;
    return copy;
}

int sip_parse_osip(const uint8_t *data, size_t len, struct sip_msg *out)
{
    sip_parser_ensure_init();
    memset(out, 0, sizeof(*out));
    out->expires = -1;
    if (!sip_sniff(data, len))
        return -1;

    osip_message_t *m = NULL;
    if (osip_message_init(&m) != 0)
        return -1;
    int rc = -1;
    /* A multipart body is hidden from osip (see the top of the file). */
    const uint8_t *input = data;
    uint8_t *copy = NULL;
    size_t mp = multipart_offset(data, len);
    if (mp && (copy = malloc(len)) != NULL) {
        memcpy(copy, data, len);
        copy[mp] = 'x';
        input = copy;
    }
    bool hidden = copy != NULL;
    if (osip_message_parse(m, (const char *)input, len) != 0) {
        size_t fixed_len = 0;
        char *fixed = repair_message(input, len, &fixed_len);
        if (!fixed)
            goto done;
        osip_message_free(m);
        m = NULL;
        int prc = osip_message_init(&m) == 0 ? osip_message_parse(m, fixed, fixed_len) : -1;
        free(fixed);
        if (prc != 0)
            goto done;
    }
    /* Without these no dialog can be named: useless to everyone above. */
    if (!m->call_id || !m->call_id->number || !m->cseq || !m->cseq->number || !m->cseq->method)
        goto done;

    out->is_request = MSG_IS_REQUEST(m);
    if (out->is_request) {
        out->method = sip_method_from_name(m->sip_method);
        copy_str(out->method_name, sizeof(out->method_name), m->sip_method);
        fill_request_uri(data, len, out);
        copy_uri_user(out->request_user, sizeof(out->request_user), m->req_uri);
    } else {
        out->status = m->status_code;
        if (out->status < 100 || out->status > 699)
            goto done;
        copy_str(out->reason, sizeof(out->reason), m->reason_phrase);
        out->method = sip_method_from_name(m->cseq->method);
        copy_str(out->method_name, sizeof(out->method_name), m->cseq->method);
    }

    copy_call_id(out->call_id, sizeof(out->call_id), m->call_id->number, m->call_id->host);

    copy_name_addr(m->from, out->from_user, out->from_host, out->from_tag, sizeof(out->from_user));
    copy_name_addr(m->to, out->to_user, out->to_host, out->to_tag, sizeof(out->to_user));
    uint64_t cseq = 0;
    if (!parse_leading_u64(m->cseq->number, UINT32_MAX, &cseq))
        goto done;
    out->cseq = (uint32_t)cseq;

    osip_via_t *via = NULL;
    if (osip_message_get_via(m, 0, &via) >= 0 && via) {
        osip_generic_param_t *br = NULL;
        if (osip_via_param_get_byname(via, "branch", &br) == 0 && br)
            copy_str(out->via_branch, sizeof(out->via_branch), br->gvalue);
        copy_host_port(out->via_sent_by, sizeof(out->via_sent_by), via->host, via->port);
    }

    const char *ua = header_value(m, "user-agent");
    copy_str(out->user_agent, sizeof(out->user_agent), ua ? ua : header_value(m, "server"));

    osip_contact_t *contact = NULL;
    if (osip_message_get_contact(m, 0, &contact) >= 0 && contact && contact->url)
        copy_str(out->contact_host, sizeof(out->contact_host), contact->url->host);

    fill_expires(m, out);
    fill_session_expires(m, out);
    fill_reason(m, out);
    fill_credentials(m, out);
    fill_sdp(m, data, len, hidden, out);
    rc = 0;
done:
    free(copy);
    if (m)
        osip_message_free(m);
    if (rc != 0) {
        memset(out, 0, sizeof(*out));
        out->expires = -1;
    }
    return rc;
}

int sip_parse_message_path(const uint8_t *data, size_t len, struct sip_msg *out, bool *fast)
{
    *fast = false;
    if (!sip_sniff(data, len)) {
        memset(out, 0, sizeof(*out));
        out->expires = -1;
        return -1;
    }
    return sip_parse_sniffed(data, len, out, fast);
}

int sip_parse_sniffed(const uint8_t *data, size_t len, struct sip_msg *out, bool *fast)
{
    *fast = sip_parse_fast(data, len, out) == SIP_FAST_OK;
    return *fast ? 0 : sip_parse_osip(data, len, out);
}

int sip_parse_message(const uint8_t *data, size_t len, struct sip_msg *out)
{
    bool fast;
    return sip_parse_message_path(data, len, out, &fast);
}

/*
 * sip: the SIP layer -- finds SIP messages in UDP datagrams and TCP streams
 * (plain or WebSocket, RFC 7118), parses them (sip_parse.c) and hands each
 * one to the on_message callback.
 *
 * UDP: a cheap sniff of the first line decides "SIP or not" so RTP never
 * reaches libosip2; a SIP datagram is one message.
 *
 * TCP: the decoder hands in-order bytes and keeps whatever we do not
 * consume, so this layer is a framer that returns "bytes consumed": skip
 * keep-alive CR/LFs, wait for the blank line ending the headers, read
 * Content-Length (or l:), wait for the body, deliver, repeat. While it waits,
 * the decoder's scan_state word remembers how far the headers were searched
 * (or, once found, where they end and how long the body is), so a message
 * arriving in many small segments is scanned once, not once per segment. Bytes that do
 * not start like SIP are skipped up to the next line that does (or given up
 * entirely), so a garbage stream can never wedge the decoder's buffer.
 *
 * WebSocket: an HTTP request or response carrying "Upgrade: websocket" turns
 * that direction into frame mode; frames are unmasked into a scratch buffer,
 * fragmented messages collected per direction, control frames skipped, and
 * each complete text/binary message parsed as one SIP message. Only streams
 * that went WebSocket keep state here (a hash table keyed by stream_id,
 * capped), so ordinary SIP over TCP costs no memory in this layer.
 */
#include "sip/sip.h"
#include "sip/sip_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hashtab.h"
#include "sip/sdp_internal.h"

#define SIP_MAX_HEADERS    (32 * 1024) /* header block of one message */
#define SIP_MAX_BODY       (64 * 1024) /* Content-Length accepted */
#define SIP_MAX_FIRST_LINE 1024        /* sniffing gives up past this */
#define WS_MAX_MESSAGE     (96 * 1024) /* one WebSocket message (all fragments) */
#define SIP_MAX_WS_STREAMS 16384

struct ws_direction {
    bool active;          /* frames expected in this direction */
    bool in_fragment;     /* collecting a fragmented message */
    bool fragment_broken; /* too large: the rest of it is dropped */
    uint64_t skip;        /* payload bytes still to skip of an oversized frame */
    struct buf message;   /* the fragments so far */
};

struct sip_stream {
    uint64_t stream_id; /* hash key */
    struct ws_direction dir[2];
};

/* The "sip" group of counters, named once (core/counters.h). */
#define SIP_COUNTERS(X)                                                                            \
    X(udp_messages)                                                                                \
    X(tcp_messages)                                                                                \
    X(ws_messages)                                                                                 \
    X(sctp_messages)                                                                               \
    X(malformed)                                                                                   \
    X(not_sip)                                                                                     \
    X(too_large)                                                                                   \
    X(keepalive)                                                                                   \
    X(truncated)                                                                                   \
    X(tcp_resync)                                                                                  \
    X(tcp_garbage_bytes)                                                                           \
    X(bad_content_length)                                                                          \
    X(ws_upgrades)                                                                                 \
    X(ws_frames)                                                                                   \
    X(ws_control_frames)                                                                           \
    X(ws_bad_frames)                                                                               \
    X(ws_too_large)                                                                                \
    X(ws_streams_full)                                                                             \
    X(sdp_unparsed)                                                                                \
    X(fast_path)                                                                                   \
    X(osip_path)

struct sip_counters {
    COUNTERS_BLOCK(SIP_COUNTERS);
};

struct sip_layer {
    sip_message_fn on_message;
    void *user;
    struct sip_counters c;
    struct hashtab streams;
    struct sip_msg msg; /* reused: it is large */
    uint8_t *scratch;   /* unmasked WebSocket payloads */
};

struct sip_layer *sip_layer_new(struct counters *counters, sip_message_fn on_message, void *user)
{
    struct sip_layer *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->scratch = malloc(WS_MAX_MESSAGE);
    if (!s->scratch || !hashtab_init(&s->streams, offsetof(struct sip_stream, stream_id),
                                     sizeof(uint64_t), SIP_MAX_WS_STREAMS)) {
        free(s->scratch);
        free(s);
        return NULL;
    }
    sip_parser_ensure_init();
    s->on_message = on_message;
    s->user = user;
    COUNTERS_REGISTER(SIP_COUNTERS, counters, "sip", &s->c);
    return s;
}

static void stream_free(struct sip_stream *st)
{
    buf_free(&st->dir[0].message);
    buf_free(&st->dir[1].message);
    free(st);
}

static void stream_free_each(void *item, void *arg)
{
    (void)arg;
    stream_free(item);
}

void sip_layer_free(struct sip_layer *s)
{
    if (!s)
        return;
    hashtab_foreach(&s->streams, stream_free_each, NULL);
    hashtab_destroy(&s->streams);
    free(s->scratch);
    free(s);
}

/* ---- sniffing ---------------------------------------------------------- */

enum sniff { SNIFF_NO, SNIFF_YES, SNIFF_MORE };

static bool is_upper(uint8_t c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_alpha(uint8_t c)
{
    return is_upper(c) || (c >= 'a' && c <= 'z');
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Does a (possibly incomplete) buffer start with a SIP start line?
 * Requests: METHOD SP scheme ":" ... SP "SIP/2.0" CRLF; responses:
 * "SIP/2.0" SP 3DIGIT. SNIFF_MORE when the bytes so far fit but end early. */
static enum sniff sniff_start_line(const uint8_t *d, size_t len)
{
    static const char version[] = "SIP/2.0";
    size_t i;
    if (len == 0)
        return SNIFF_MORE;
    if (d[0] == 'S') {
        for (i = 0; i < 8 && i < len; i++)
            if (d[i] != (uint8_t) "SIP/2.0 "[i])
                break;
        if (i == 8) {
            for (; i < 11; i++) {
                if (i >= len)
                    return SNIFF_MORE;
                if (!is_digit(d[i]))
                    return SNIFF_NO;
            }
            if (i >= len)
                return SNIFF_MORE;
            return d[i] == ' ' || d[i] == '\r' || d[i] == '\n' ? SNIFF_YES : SNIFF_NO;
        }
        if (i == len)
            return SNIFF_MORE;
        /* "SUBSCRIBE" and other S-methods fall through to the request check. */
    }
    for (i = 0; i < len && is_upper(d[i]); i++)
        if (i >= 32)
            return SNIFF_NO;
    if (i == len)
        return SNIFF_MORE;
    if (i == 0 || d[i] != ' ')
        return SNIFF_NO;
    size_t scheme = ++i;
    for (; i < len && is_alpha(d[i]); i++)
        if (i - scheme > 8)
            return SNIFF_NO;
    if (i == len)
        return SNIFF_MORE;
    if (i == scheme || d[i] != ':')
        return SNIFF_NO;
    for (; i < len && d[i] != ' '; i++)
        if (d[i] < 0x21 || d[i] == 0x7f || i > SIP_MAX_FIRST_LINE)
            return SNIFF_NO;
    if (i == len)
        return SNIFF_MORE;
    i++;
    for (size_t k = 0; k < sizeof(version) - 1; k++, i++) {
        if (i == len)
            return SNIFF_MORE;
        if (d[i] != (uint8_t)version[k])
            return SNIFF_NO;
    }
    if (i == len)
        return SNIFF_MORE;
    return d[i] == '\r' || d[i] == '\n' ? SNIFF_YES : SNIFF_NO;
}

bool sip_sniff(const uint8_t *data, size_t len)
{
    return sniff_start_line(data, len) == SNIFF_YES;
}

/* ---- delivery ---------------------------------------------------------- */

static void deliver(struct sip_layer *s, const uint8_t *data, size_t len, uint64_t ts_us,
                    const struct endpoint *src, const struct endpoint *dst,
                    enum sip_transport transport)
{
    bool fast;
    int rc = sip_parse_sniffed(data, len, &s->msg, &fast); /* every caller has sniffed */
    (*(fast ? s->c.fast_path : s->c.osip_path))++;
    if (rc != 0) {
        (*s->c.malformed)++;
        return;
    }
    if (s->msg.sdp_unparsed)
        (*s->c.sdp_unparsed)++;
    switch (transport) {
    case SIP_TRANSPORT_UDP:
        (*s->c.udp_messages)++;
        break;
    case SIP_TRANSPORT_TCP:
        (*s->c.tcp_messages)++;
        break;
    case SIP_TRANSPORT_WS:
        (*s->c.ws_messages)++;
        break;
    case SIP_TRANSPORT_SCTP:
        (*s->c.sctp_messages)++;
        break;
    }
    struct sip_meta meta = {
        .ts_us = ts_us,
        .src = *src,
        .dst = *dst,
        .transport = transport,
        .raw = data,
        .raw_len = len,
    };
    if (s->on_message)
        s->on_message(s->user, &s->msg, &meta);
}

static bool only_crlf(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (d[i] != '\r' && d[i] != '\n')
            return false;
    return len > 0;
}

bool sip_layer_sctp(struct sip_layer *s, const struct packet *pkt)
{
    if (!pkt->payload || !sip_sniff(pkt->payload, pkt->payload_len)) {
        (*s->c.not_sip)++;
        return false;
    }
    struct endpoint src = {.addr = pkt->src, .port = pkt->sport};
    struct endpoint dst = {.addr = pkt->dst, .port = pkt->dport};
    deliver(s, pkt->payload, pkt->payload_len, pkt->ts_us, &src, &dst, SIP_TRANSPORT_SCTP);
    return true;
}

bool sip_layer_udp(struct sip_layer *s, const struct packet *pkt)
{
    const uint8_t *d = pkt->payload;
    size_t len = pkt->payload_len;
    /* RTP (version 2: 0x80..0xbf) and anything else starting with a byte
     * above ASCII can be neither a start line nor a keep-alive: most UDP on
     * a voice network is told apart here with one compare. */
    if (d && len && d[0] >= 0x80) {
        (*s->c.not_sip)++;
        return false;
    }
    if (!d || !sip_sniff(d, len)) {
        /* RFC 5626 keep-alives are SIP traffic even though they carry no message. */
        if (d && only_crlf(d, len)) {
            (*s->c.keepalive)++;
            return true;
        }
        (*s->c.not_sip)++;
        return false;
    }
    /* Cut by the capture: its headers or body end early, so a parse would
     * report what the message does not say. SIP traffic, but no message. */
    if (pkt->truncated) {
        (*s->c.truncated)++;
        return true;
    }
    struct endpoint src = {.addr = pkt->src, .port = pkt->sport};
    struct endpoint dst = {.addr = pkt->dst, .port = pkt->dport};
    deliver(s, d, len, pkt->ts_us, &src, &dst, SIP_TRANSPORT_UDP);
    return true;
}

/* ---- TCP framing ------------------------------------------------------- */

/* Offset just past the blank line ending the header block, 0 if not there
 * yet. The search starts at `from`: the bytes before it are known not to
 * hold the end (they were searched already). */
static size_t find_header_end(const uint8_t *d, size_t len, size_t from)
{
    for (size_t i = from; i + 1 < len; i++) {
        if (d[i] != '\n')
            continue;
        if (d[i + 1] == '\n')
            return i + 2;
        if (d[i + 1] == '\r' && i + 2 < len && d[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

enum content_length { CL_NONE, CL_OK, CL_BAD };

/* Content-Length (or compact l:) from a header block. */
static enum content_length find_content_length(const uint8_t *d, size_t len, uint64_t *out)
{
    size_t i = 0;
    while (i < len) {
        const uint8_t *line = d + i;
        const uint8_t *eol = memchr(line, '\n', len - i);
        size_t n = eol ? (size_t)(eol - line) : len - i;
        size_t k = sip_content_length_value_at((const char *)line, n);
        if (k) {
            if (k >= n || !is_digit(line[k]))
                return CL_BAD;
            uint64_t v = 0;
            for (; k < n && is_digit(line[k]); k++) {
                v = v * 10 + (uint64_t)(line[k] - '0');
                if (v > SIZE_MAX / 4)
                    v = SIZE_MAX / 4;
            }
            while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
                k++;
            if (k != n)
                return CL_BAD;
            *out = v;
            return CL_OK;
        }
        i += n + 1;
    }
    return CL_NONE;
}

static bool starts_with_ci(const uint8_t *d, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len >= n && strncasecmp((const char *)d, lit, n) == 0;
}

/* An HTTP request or response (the WebSocket handshake) rather than SIP? */
static enum sniff sniff_http(const uint8_t *d, size_t len)
{
    static const char *const starts[] = {"GET ", "HTTP/1."};
    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(starts[k]);
        size_t m = len < n ? len : n;
        if (memcmp(d, starts[k], m) == 0)
            return len < n ? SNIFF_MORE : SNIFF_YES;
    }
    return SNIFF_NO;
}

/* Does an HTTP header block say "Upgrade: websocket"? */
static bool http_upgrades_to_websocket(const uint8_t *d, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const uint8_t *line = d + i;
        const uint8_t *eol = memchr(line, '\n', len - i);
        size_t n = eol ? (size_t)(eol - line) : len - i;
        if (starts_with_ci(line, n, "upgrade:")) {
            for (size_t k = 8; k + 9 <= n; k++)
                if (strncasecmp((const char *)line + k, "websocket", 9) == 0)
                    return true;
        }
        i += n + 1;
    }
    return false;
}

/*
 * What the framer remembers about the message it waits for at the start of
 * the bytes it leaves (tcp_data.scan_state): 0 nothing; SCAN_HEADERS_FOUND
 * with the header length (low 32 bits) and the body length (bits 32..62)
 * when it waits for the body; otherwise how many bytes were searched for
 * the end of the headers.
 */
#define SCAN_HEADERS_FOUND (1ull << 63)

struct scan_resume {
    size_t searched; /* bytes known not to hold the end of the headers */
    size_t hdr;      /* header length, when found (else 0) */
    uint64_t body;   /* body length, when hdr is found */
};

static struct scan_resume scan_state_read(const struct tcp_data *t)
{
    struct scan_resume r = {0, 0, 0};
    uint64_t v = t->scan_state ? *t->scan_state : 0;
    if (v & SCAN_HEADERS_FOUND) {
        r.hdr = (size_t)(v & 0xffffffffu);
        r.body = (v & ~SCAN_HEADERS_FOUND) >> 32;
    } else {
        /* The last bytes may begin a blank line that ends further on. */
        r.searched = v > 3 ? (size_t)v - 3 : 0;
    }
    return r;
}

static void scan_state_write(const struct tcp_data *t, uint64_t v)
{
    if (t->scan_state)
        *t->scan_state = v;
}

static struct sip_stream *stream_get(struct sip_layer *s, uint64_t stream_id, bool create)
{
    struct sip_stream *st = hashtab_find(&s->streams, &stream_id);
    if (st || !create)
        return st;
    st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->stream_id = stream_id;
    buf_init(&st->dir[0].message, WS_MAX_MESSAGE);
    buf_init(&st->dir[1].message, WS_MAX_MESSAGE);
    if (!hashtab_insert(&s->streams, st)) {
        /* Full: this stream's frames will be skipped as garbage. */
        (*s->c.ws_streams_full)++;
        stream_free(st);
        return NULL;
    }
    return st;
}

/* Where the next line that starts like SIP or HTTP begins, after position 0.
 * Returns len if there is none; a trailing partial line that may still turn
 * into one is kept (its offset returned). */
static size_t find_resync_point(const uint8_t *d, size_t len)
{
    for (size_t i = 1; i < len; i++) {
        if (d[i - 1] != '\n')
            continue;
        enum sniff a = sniff_start_line(d + i, len - i);
        enum sniff b = sniff_http(d + i, len - i);
        if (a == SNIFF_YES || b == SNIFF_YES)
            return i;
        if ((a == SNIFF_MORE || b == SNIFF_MORE) && len - i <= SIP_MAX_FIRST_LINE)
            return i;
    }
    return len;
}

/* One WebSocket message (all its fragments) is one SIP message. */
static void deliver_ws(struct sip_layer *s, const struct tcp_data *t, const uint8_t *d, size_t n)
{
    size_t skip = 0;
    while (skip < n && (d[skip] == '\r' || d[skip] == '\n'))
        skip++;
    if (skip == n) {
        (*s->c.keepalive)++;
        return;
    }
    if (!sip_sniff(d + skip, n - skip)) {
        (*s->c.not_sip)++;
        return;
    }
    deliver(s, d + skip, n - skip, t->ts_us, &t->src, &t->dst, SIP_TRANSPORT_WS);
}

/* Frames from d[0..len); returns the bytes consumed (whole frames only). */
static size_t ws_consume(struct sip_layer *s, struct ws_direction *wd, const struct tcp_data *t,
                         const uint8_t *d, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        if (wd->skip) {
            size_t n = len - pos < wd->skip ? len - pos : (size_t)wd->skip;
            wd->skip -= n;
            pos += n;
            continue;
        }
        const uint8_t *f = d + pos;
        size_t avail = len - pos;
        if (avail < 2)
            break;
        bool fin = f[0] & 0x80;
        uint8_t opcode = f[0] & 0x0f;
        bool masked = f[1] & 0x80;
        uint64_t plen = f[1] & 0x7f;
        size_t hlen = 2;
        if ((f[0] & 0x70) || (opcode > 2 && opcode < 8) || opcode > 10) {
            /* RSV bits or reserved opcode: not a frame, likely not WebSocket at all
             * (e.g. the upgrade was refused). Back to SIP framing. */
            (*s->c.ws_bad_frames)++;
            wd->active = false;
            wd->in_fragment = false;
            buf_clear(&wd->message);
            return pos;
        }
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = (uint64_t)f[2] << 8 | f[3];
            hlen = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int k = 0; k < 8; k++)
                plen = plen << 8 | f[2 + k];
            hlen = 10;
        }
        const uint8_t *mask = NULL;
        if (masked) {
            if (avail < hlen + 4)
                break;
            mask = f + hlen;
            hlen += 4;
        }
        (*s->c.ws_frames)++;
        bool control = opcode >= 8;
        if (plen > WS_MAX_MESSAGE || (control && plen > 125)) {
            (*s->c.ws_too_large)++;
            if (!control && (opcode == 0 || !fin)) {
                wd->fragment_broken = !fin;
                wd->in_fragment = false;
                buf_clear(&wd->message);
            }
            pos += hlen;
            wd->skip = plen;
            continue;
        }
        if (avail - hlen < plen)
            break;
        const uint8_t *payload = f + hlen;
        pos += hlen + (size_t)plen;
        if (control) {
            (*s->c.ws_control_frames)++;
            continue;
        }
        if (masked) {
            for (size_t k = 0; k < plen; k++)
                s->scratch[k] = payload[k] ^ mask[k & 3];
            payload = s->scratch;
        }
        if (opcode != 0) {
            /* A new message; an unfinished one before it is lost. */
            if (wd->in_fragment)
                (*s->c.ws_bad_frames)++;
            wd->in_fragment = false;
            wd->fragment_broken = false;
            buf_clear(&wd->message);
            if (fin) {
                deliver_ws(s, t, payload, (size_t)plen);
                continue;
            }
            wd->in_fragment = true;
        } else if (!wd->in_fragment) {
            if (!wd->fragment_broken)
                (*s->c.ws_bad_frames)++;
            wd->fragment_broken = !fin && wd->fragment_broken;
            continue;
        }
        if (!buf_append(&wd->message, payload, (size_t)plen)) {
            (*s->c.ws_too_large)++;
            wd->in_fragment = false;
            wd->fragment_broken = !fin;
            buf_clear(&wd->message);
            continue;
        }
        if (fin) {
            wd->in_fragment = false;
            deliver_ws(s, t, wd->message.data, wd->message.len);
            buf_clear(&wd->message);
        }
    }
    return pos;
}

size_t sip_layer_tcp(struct sip_layer *s, const struct tcp_data *t)
{
    const uint8_t *d = t->data;
    size_t len = t->len, pos = 0;
    int dir = t->direction ? 1 : 0;
    struct sip_stream *st = hashtab_count(&s->streams) ? stream_get(s, t->stream_id, false) : NULL;
    /* Holds for the message at offset 0 only, and only this once. */
    struct scan_resume resume = scan_state_read(t);
    scan_state_write(t, 0);

    while (pos < len) {
        if (st && st->dir[dir].active) {
            size_t used = ws_consume(s, &st->dir[dir], t, d + pos, len - pos);
            pos += used;
            if (st->dir[dir].active)
                break; /* the rest is an incomplete frame */
            continue;  /* fell back to SIP framing */
        }
        if (d[pos] == '\r' || d[pos] == '\n') {
            size_t start = pos;
            while (pos < len && (d[pos] == '\r' || d[pos] == '\n'))
                pos++;
            (void)start;
            (*s->c.keepalive)++;
            continue;
        }
        const uint8_t *m = d + pos;
        size_t avail = len - pos;
        enum sniff sip = sniff_start_line(m, avail);
        enum sniff http = sip == SNIFF_YES ? SNIFF_NO : sniff_http(m, avail);
        if (sip == SNIFF_NO && http == SNIFF_NO) {
            size_t skip = find_resync_point(m, avail);
            (*s->c.tcp_resync)++;
            *s->c.tcp_garbage_bytes += skip;
            pos += skip;
            continue;
        }
        if (sip != SNIFF_YES && http != SNIFF_YES) {
            if (avail > SIP_MAX_FIRST_LINE) {
                /* A first line that never ends: skip it. */
                size_t skip = find_resync_point(m, avail);
                (*s->c.tcp_resync)++;
                *s->c.tcp_garbage_bytes += skip;
                pos += skip;
                continue;
            }
            break; /* wait for the rest of the first line */
        }
        bool resumed = pos == 0 && resume.hdr && resume.hdr <= avail;
        size_t from = pos == 0 && resume.searched < avail ? resume.searched : 0;
        size_t hdr = resumed ? resume.hdr : find_header_end(m, avail, from);
        if (hdr == 0) {
            if (avail > SIP_MAX_HEADERS) {
                (*s->c.too_large)++;
                size_t skip = find_resync_point(m, avail);
                *s->c.tcp_garbage_bytes += skip;
                pos += skip;
                continue;
            }
            scan_state_write(t, avail);
            break; /* wait for the end of the headers */
        }
        if (hdr > SIP_MAX_HEADERS) {
            (*s->c.too_large)++;
            pos += hdr;
            continue;
        }
        uint64_t body = resumed ? resume.body : 0;
        enum content_length cl = resumed ? CL_OK : find_content_length(m, hdr, &body);
        if (cl == CL_BAD || (cl == CL_OK && body > SIP_MAX_BODY)) {
            /* Cannot frame it: drop the headers, the body (if any) resyncs. */
            (*(cl == CL_BAD ? s->c.bad_content_length : s->c.too_large))++;
            pos += hdr;
            continue;
        }
        if (avail - hdr < body) {
            scan_state_write(t, SCAN_HEADERS_FOUND | body << 32 | hdr);
            break; /* wait for the body */
        }
        size_t mlen = hdr + (size_t)body;
        pos += mlen;
        if (http == SNIFF_YES) {
            if (http_upgrades_to_websocket(m, hdr)) {
                if (!st)
                    st = stream_get(s, t->stream_id, true);
                if (st) {
                    (*s->c.ws_upgrades)++;
                    st->dir[dir].active = true;
                }
            } else {
                (*s->c.not_sip)++;
            }
            continue;
        }
        deliver(s, m, mlen, t->ts_us, &t->src, &t->dst, SIP_TRANSPORT_TCP);
    }
    return pos;
}

void sip_layer_tcp_close(struct sip_layer *s, uint64_t stream_id)
{
    struct sip_stream *st = hashtab_find(&s->streams, &stream_id);
    if (!st)
        return;
    hashtab_remove(&s->streams, st);
    stream_free(st);
}

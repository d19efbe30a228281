/*
 * scenario: the line-oriented scenario language of siptap-pcapgen, and the
 * bundled demo capture.
 *
 * One directive per line: a word, then key=value pairs and bare flags.
 * Everything after '#' is a comment. Directives map one to one onto the C
 * API (README.md lists them); state set by link/vlan/qinq/fragment applies to
 * the directives after it. Inline SIP messages follow their directive up to a
 * line holding only "."; within such a block a line "---" separates messages
 * that are sent together in one TCP segment (coalesced).
 */
#include "tools/pcapgen/pcapgen_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS  48
#define MAX_LIST  256
#define MAX_CONNS 16

struct arg {
    char *key;
    char *val; /* NULL for a bare flag */
    bool used;
};

struct conn {
    char name[32];
    struct pcapgen_tcp *tcp;
};

struct ctx {
    struct pcapgen *g;
    const char *file;
    const char *dir; /* for relative file= paths */
    int line;
    char *err;
    size_t errlen;
    struct arg args[MAX_ARGS];
    size_t n_args;
    struct conn conns[MAX_CONNS];
    size_t n_conns;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct ctx *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s:%d: %s", c->file, c->line, msg);
    return -1;
}

static struct arg *arg_find(struct ctx *c, const char *key)
{
    for (size_t i = 0; i < c->n_args; i++) {
        if (strcmp(c->args[i].key, key) == 0) {
            c->args[i].used = true;
            return &c->args[i];
        }
    }
    return NULL;
}

static bool flag(struct ctx *c, const char *key)
{
    struct arg *a = arg_find(c, key);
    return a && !a->val;
}

static const char *str(struct ctx *c, const char *key)
{
    struct arg *a = arg_find(c, key);
    return a ? a->val : NULL;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

/* Seconds with up to six decimals, exactly ("1.5" -> 1500000). */
static bool parse_time(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    uint64_t sec = 0, frac = 0;
    int digits = 0;
    for (; isdigit((unsigned char)*s); s++)
        sec = sec * 10 + (uint64_t)(*s - '0');
    if (*s == '.') {
        for (s++; isdigit((unsigned char)*s) && digits < 6; s++, digits++)
            frac = frac * 10 + (uint64_t)(*s - '0');
        if (isdigit((unsigned char)*s))
            return false;
    }
    if (*s)
        return false;
    for (; digits < 6; digits++)
        frac *= 10;
    *out = sec * 1000000 + frac;
    return true;
}

static bool parse_endpoint(const char *s, struct endpoint *e)
{
    char host[64];
    const char *colon;
    if (!s)
        return false;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            return false;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host))
            return false;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    uint64_t port;
    if (!parse_u64(colon + 1, &port) || port > 65535)
        return false;
    e->port = (uint16_t)port;
    return net_addr_parse(&e->addr, host);
}

/* Optional typed getters: absent leaves *out alone; malformed fails. */
static int get_u64(struct ctx *c, const char *key, uint64_t *out, uint64_t max)
{
    const char *v = str(c, key);
    if (!v)
        return 0;
    uint64_t x;
    if (!parse_u64(v, &x) || x > max)
        return fail(c, "%s=%s: expected a number up to %llu", key, v, (unsigned long long)max);
    *out = x;
    return 0;
}

#define GET_NUM(c, key, field, max)                                                                \
    do {                                                                                           \
        uint64_t v_ = (field);                                                                     \
        if (get_u64((c), (key), &v_, (max)) < 0)                                                   \
            return -1;                                                                             \
        (field) = v_;                                                                              \
    } while (0)

static int get_time(struct ctx *c, const char *key, uint64_t *out)
{
    const char *v = str(c, key);
    if (v && !parse_time(v, out))
        return fail(c, "%s=%s: expected seconds such as 1.25", key, v);
    return 0;
}

static int get_ms(struct ctx *c, const char *key, uint32_t *out)
{
    uint64_t us;
    const char *v = str(c, key);
    if (!v)
        return 0;
    if (!parse_time(v, &us) || us / 1000 > UINT32_MAX)
        return fail(c, "%s=%s: expected seconds such as 1.25", key, v);
    *out = (uint32_t)(us / 1000);
    return 0;
}

static int get_ep(struct ctx *c, const char *key, struct endpoint *e, bool required)
{
    const char *v = str(c, key);
    if (!v)
        return required ? fail(c, "missing %s=ADDR:PORT", key) : 0;
    if (!parse_endpoint(v, e))
        return fail(c, "%s=%s: expected ADDR:PORT or [V6]:PORT", key, v);
    return 0;
}

/* "1,2,3" into u16 list. */
static int get_list16(struct ctx *c, const char *key, uint16_t *list, size_t *n)
{
    const char *v = str(c, key);
    *n = 0;
    if (!v)
        return 0;
    char *copy = strdup(v), *save = NULL;
    if (!copy)
        abort();
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint64_t x;
        if (*n == MAX_LIST || !parse_u64(tok, &x) || x > 65535) {
            free(copy);
            return fail(c, "%s=%s: expected up to %d numbers 0-65535", key, v, MAX_LIST);
        }
        list[(*n)++] = (uint16_t)x;
    }
    free(copy);
    return 0;
}

/* "a:b" or "a:b:c" into up to 3 numbers. */
static int get_tuple(struct ctx *c, const char *key, uint64_t *out, int want)
{
    const char *v = str(c, key);
    if (!v)
        return 0;
    char *copy = strdup(v), *save = NULL;
    if (!copy)
        abort();
    int n = 0;
    for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
        if (n == want || !parse_u64(tok, &out[n])) {
            free(copy);
            return fail(c, "%s=%s: expected %d numbers separated by ':'", key, v, want);
        }
        n++;
    }
    free(copy);
    if (n != want)
        return fail(c, "%s=%s: expected %d numbers separated by ':'", key, v, want);
    return 0;
}

static int check_unused(struct ctx *c)
{
    for (size_t i = 0; i < c->n_args; i++)
        if (!c->args[i].used)
            return fail(c, "unknown or misplaced '%s'", c->args[i].key);
    return 0;
}

static int transport_of(struct ctx *c, enum pcapgen_transport *t)
{
    const char *v = str(c, "transport");
    if (!v || strcmp(v, "udp") == 0)
        *t = PCAPGEN_TRANSPORT_UDP;
    else if (strcmp(v, "tcp") == 0)
        *t = PCAPGEN_TRANSPORT_TCP;
    else
        return fail(c, "transport=%s: expected udp or tcp", v);
    return 0;
}

static int rtcp_of(struct ctx *c, enum pcapgen_rtcp *r)
{
    const char *v = str(c, "rtcp");
    if (!v || strcmp(v, "none") == 0)
        *r = PCAPGEN_RTCP_NONE;
    else if (strcmp(v, "port") == 0)
        *r = PCAPGEN_RTCP_PORT_PLUS_1;
    else if (strcmp(v, "mux") == 0)
        *r = PCAPGEN_RTCP_MUX;
    else if (strcmp(v, "attribute") == 0)
        *r = PCAPGEN_RTCP_ATTRIBUTE;
    else
        return fail(c, "rtcp=%s: expected none, port, mux or attribute", v);
    return 0;
}

static int do_call(struct ctx *c)
{
    struct pcapgen_call_spec s = {0};
    s.call_id = str(c, "id");
    s.from_user = str(c, "from");
    s.to_user = str(c, "to");
    s.request_user = str(c, "request-user");
    s.bye_reason = str(c, "bye-reason");
    s.cancel_reason = str(c, "cancel-reason");
    s.final_reason = str(c, "final-reason");
    if (get_ep(c, "caller", &s.caller, true) < 0 || get_ep(c, "callee", &s.callee, true) < 0 ||
        get_ep(c, "caller-media", &s.caller_media, false) < 0 ||
        get_ep(c, "callee-media", &s.callee_media, false) < 0 ||
        get_ep(c, "caller-rtp-src", &s.caller_rtp_src, false) < 0 ||
        get_ep(c, "callee-rtp-src", &s.callee_rtp_src, false) < 0 ||
        get_ep(c, "reinvite-media", &s.reinvite_media, false) < 0 ||
        transport_of(c, &s.transport) < 0 || rtcp_of(c, &s.rtcp) < 0 ||
        get_time(c, "start", &s.start_us) < 0 || get_ms(c, "ring", &s.ring_ms) < 0 ||
        get_ms(c, "talk", &s.talk_ms) < 0 ||
        get_ms(c, "caller-rtp-stop", &s.caller_rtp_stop_ms) < 0 ||
        get_ms(c, "callee-rtp-stop", &s.callee_rtp_stop_ms) < 0 ||
        get_ms(c, "reinvite", &s.reinvite_ms) < 0 || get_ms(c, "pdd", &s.pdd_ms) < 0)
        return -1;
    uint32_t both = 0;
    if (get_ms(c, "rtp-stop", &both) < 0)
        return -1;
    if (both)
        s.caller_rtp_stop_ms = s.callee_rtp_stop_ms = both;
    GET_NUM(c, "pt", s.pt, 127);
    GET_NUM(c, "status", s.final_status, 699);
    GET_NUM(c, "auth", s.auth, 407);
    GET_NUM(c, "loss-every", s.loss_every, UINT32_MAX);
    GET_NUM(c, "session-expires", s.session_expires, UINT32_MAX);
    GET_NUM(c, "caller-ssrc", s.ssrc_caller, UINT32_MAX);
    GET_NUM(c, "callee-ssrc", s.ssrc_callee, UINT32_MAX);
    GET_NUM(c, "invite-retransmits", s.invite_retransmits, 9);
    if (s.auth && s.auth != 401 && s.auth != 407)
        return fail(c, "auth=%u: expected 401 or 407", (unsigned)s.auth);
    if (s.final_status && s.final_status < 200)
        return fail(c, "status=%u: expected a final status", (unsigned)s.final_status);
    const char *rtp = str(c, "rtp");
    if (!rtp || strcmp(rtp, "both") == 0)
        s.rtp = PCAPGEN_RTP_BOTH;
    else if (strcmp(rtp, "caller") == 0)
        s.rtp = PCAPGEN_RTP_CALLER_ONLY;
    else if (strcmp(rtp, "callee") == 0)
        s.rtp = PCAPGEN_RTP_CALLEE_ONLY;
    else if (strcmp(rtp, "none") == 0)
        s.rtp = PCAPGEN_RTP_NONE;
    else
        return fail(c, "rtp=%s: expected both, caller, callee or none", rtp);
    s.reinvite_direction = str(c, "reinvite-dir");
    if (s.reinvite_direction && strcmp(s.reinvite_direction, "sendonly") != 0 &&
        strcmp(s.reinvite_direction, "inactive") != 0 &&
        strcmp(s.reinvite_direction, "sendrecv") != 0)
        return fail(c, "reinvite-dir=%s: expected sendonly, inactive or sendrecv",
                    s.reinvite_direction);
    s.cancel = flag(c, "cancel");
    s.no_final = flag(c, "no-final");
    s.no_ringing = flag(c, "no-ringing");
    s.forking = flag(c, "forking");
    s.no_ack = flag(c, "no-ack");
    s.no_bye = flag(c, "no-bye");
    s.bye_from_callee = flag(c, "bye-from-callee");
    if (check_unused(c) < 0)
        return -1;
    pcapgen_call(c->g, &s);
    return 0;
}

static int do_register(struct ctx *c)
{
    struct pcapgen_register_spec s = {0};
    s.user = str(c, "user");
    s.realm = str(c, "realm");
    s.call_id = str(c, "id");
    if (get_ep(c, "ua", &s.ua, true) < 0 || get_ep(c, "registrar", &s.registrar, true) < 0 ||
        transport_of(c, &s.transport) < 0 || get_time(c, "start", &s.start_us) < 0 ||
        get_ms(c, "interval", &s.interval_ms) < 0)
        return -1;
    GET_NUM(c, "attempts", s.attempts, 100000);
    GET_NUM(c, "expires", s.expires, UINT32_MAX);
    const char *o = str(c, "outcome");
    if (!o || strcmp(o, "ok") == 0)
        s.outcome = PCAPGEN_REG_OK;
    else if (strcmp(o, "loop") == 0)
        s.outcome = PCAPGEN_REG_LOOP_401;
    else if (strcmp(o, "403") == 0)
        s.outcome = PCAPGEN_REG_403;
    else
        return fail(c, "outcome=%s: expected ok, loop or 403", o);
    s.realm_mismatch = flag(c, "realm-mismatch");
    s.same_response = flag(c, "same-response");
    s.stale = flag(c, "stale");
    if (check_unused(c) < 0)
        return -1;
    pcapgen_register(c->g, &s);
    return 0;
}

static int do_scan(struct ctx *c)
{
    struct pcapgen_scan_spec s = {0};
    s.method = str(c, "method");
    s.user_agent = str(c, "ua");
    if (get_ep(c, "src", &s.src, true) < 0 || get_ep(c, "dst", &s.dst, true) < 0 ||
        get_time(c, "start", &s.start_us) < 0)
        return -1;
    GET_NUM(c, "count", s.count, 100000000);
    GET_NUM(c, "rate", s.rate, 1000000);
    GET_NUM(c, "answer", s.answer, 699);
    if (s.method && strcmp(s.method, "INVITE") && strcmp(s.method, "REGISTER") &&
        strcmp(s.method, "OPTIONS"))
        return fail(c, "method=%s: expected INVITE, REGISTER or OPTIONS", s.method);
    if (check_unused(c) < 0)
        return -1;
    pcapgen_scan(c->g, &s);
    return 0;
}

static int do_rtp(struct ctx *c)
{
    struct pcapgen_rtp_spec s = {0};
    uint16_t lost[MAX_LIST], dup[MAX_LIST], marker[MAX_LIST], swapl[MAX_LIST];
    int32_t offsets[MAX_LIST];
    struct pcapgen_seq_pair swaps[MAX_LIST / 2];
    uint32_t ptime_ms = 20;
    if (get_ep(c, "src", &s.src, true) < 0 || get_ep(c, "dst", &s.dst, true) < 0 ||
        get_time(c, "start", &s.start_us) < 0 || get_time(c, "stop", &s.stop_us) < 0 ||
        rtcp_of(c, &s.rtcp) < 0 || get_list16(c, "lost", lost, &s.n_lost) < 0 ||
        get_list16(c, "dup", dup, &s.n_dup) < 0 || get_list16(c, "marker", marker, &s.n_marker) < 0)
        return -1;
    GET_NUM(c, "ssrc", s.ssrc, UINT32_MAX);
    GET_NUM(c, "pt", s.pt, 127);
    GET_NUM(c, "count", s.count, 10000000);
    GET_NUM(c, "ptime", ptime_ms, 1000);
    GET_NUM(c, "size", s.payload_len, 1400);
    GET_NUM(c, "rate", s.clock_rate, 1000000);
    GET_NUM(c, "seq", s.start_seq, 65535);
    GET_NUM(c, "ts", s.start_ts, UINT32_MAX);
    GET_NUM(c, "loss-every", s.loss_every, UINT32_MAX);
    GET_NUM(c, "jitter", s.jitter_max_us, 10000000);
    GET_NUM(c, "seed", s.jitter_seed, UINT64_MAX);
    s.ptime_us = ptime_ms * 1000;
    s.rtcp_rr = flag(c, "rr");
    s.rtcp_xr = flag(c, "xr");
    if (s.rtcp_xr && !s.rtcp_rr)
        return fail(c, "xr: the XR block rides in the receiver's report; add the flag rr");
    uint64_t t[3];
    if (str(c, "burst")) {
        if (get_tuple(c, "burst", t, 2) < 0)
            return -1;
        s.burst_start = (uint32_t)t[0];
        s.burst_len = (uint32_t)t[1];
    }
    if (str(c, "ssrc-change")) {
        if (get_tuple(c, "ssrc-change", t, 2) < 0)
            return -1;
        s.ssrc_change_at = (uint32_t)t[0];
        s.new_ssrc = (uint32_t)t[1];
    }
    if (str(c, "cn")) {
        if (get_tuple(c, "cn", t, 2) < 0)
            return -1;
        s.cn_at = (uint32_t)t[0];
        s.cn_slots = (uint32_t)t[1];
    }
    if (str(c, "dtmf")) {
        if (get_tuple(c, "dtmf", t, 3) < 0)
            return -1;
        s.dtmf_at = (uint32_t)t[0];
        s.dtmf_slots = (uint32_t)t[1];
        s.dtmf_event = (uint8_t)t[2];
    }
    size_t nswap = 0;
    const char *sw = str(c, "swap");
    if (sw) {
        /* "a:b,c:d" */
        char *copy = strdup(sw), *save = NULL;
        if (!copy)
            abort();
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            unsigned a, b;
            char extra;
            if (nswap == MAX_LIST / 2 || sscanf(tok, "%u:%u%c", &a, &b, &extra) != 2 || a > 65535 ||
                b > 65535) {
                free(copy);
                return fail(c, "swap=%s: expected SEQ:SEQ,SEQ:SEQ", sw);
            }
            swaps[nswap].a = (uint16_t)a;
            swaps[nswap].b = (uint16_t)b;
            nswap++;
        }
        free(copy);
    }
    (void)swapl;
    const char *off = str(c, "offsets");
    if (off) {
        char *copy = strdup(off), *save = NULL;
        if (!copy)
            abort();
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *end;
            long v = strtol(tok, &end, 10);
            if (s.n_offsets == MAX_LIST || *end || v < -10000000 || v > 10000000) {
                free(copy);
                return fail(c, "offsets=%s: expected microsecond offsets", off);
            }
            offsets[s.n_offsets++] = (int32_t)v;
        }
        free(copy);
    }
    s.lost_seqs = lost;
    s.dup_seqs = dup;
    s.marker_seqs = marker;
    s.swaps = swaps;
    s.n_swaps = nswap;
    s.offsets_us = offsets;
    if (check_unused(c) < 0)
        return -1;
    pcapgen_rtp_stream(c->g, &s, NULL);
    return 0;
}

/* Reads an inline block (lines up to ".") starting after *pos. */
static char *read_block(struct ctx *c, const char **pos)
{
    struct buf b;
    buf_init(&b, PCAPGEN_TEXT_MAX);
    const char *p = *pos;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        c->line++;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '\r')) {
            *pos = e ? e + 1 : p + n;
            return pcapgen_buf_take(&b, NULL);
        }
        if (!buf_append(&b, p, n) || !buf_append(&b, "\n", 1))
            abort();
        p = e ? e + 1 : p + n;
    }
    buf_free(&b);
    *pos = p;
    return NULL;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, PCAPGEN_TEXT_MAX);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (!buf_append(&b, chunk, n)) {
            fclose(f);
            buf_free(&b);
            return NULL;
        }
    }
    fclose(f);
    return pcapgen_buf_take(&b, len);
}

/* The SIP text of a sip-udp / sip-tcp directive: file= or the inline block.
 * Messages separated by "---" lines are each normalised and concatenated. */
static char *sip_payload(struct ctx *c, const char **pos, size_t *len)
{
    const char *path = str(c, "file");
    char *raw;
    if (path) {
        char full[4096];
        if (path[0] == '/' || !c->dir)
            snprintf(full, sizeof(full), "%s", path);
        else
            snprintf(full, sizeof(full), "%s/%s", c->dir, path);
        raw = read_file(full, NULL);
        if (!raw) {
            fail(c, "cannot read %s: %s", full, strerror(errno));
            return NULL;
        }
    } else {
        raw = read_block(c, pos);
        if (!raw) {
            fail(c, "inline message not closed by a line holding only '.'");
            return NULL;
        }
    }
    struct buf out;
    buf_init(&out, PCAPGEN_TEXT_MAX);
    char *p = raw;
    while (*p) {
        char *sep = strstr(p, "\n---\n");
        if (p == raw && strncmp(p, "---\n", 4) == 0)
            sep = p - 1;
        if (sep)
            *sep = '\0';
        size_t n;
        char *msg = pcapgen_sip_normalize(p, &n);
        if (!buf_append(&out, msg, n))
            abort();
        free(msg);
        if (!sep)
            break;
        p = sep + 5;
    }
    free(raw);
    return pcapgen_buf_take(&out, len);
}

static struct conn *conn_find(struct ctx *c, const char *name)
{
    for (size_t i = 0; name && i < c->n_conns; i++)
        if (strcmp(c->conns[i].name, name) == 0)
            return &c->conns[i];
    return NULL;
}

static int get_dir(struct ctx *c, enum pcapgen_dir *d)
{
    const char *v = str(c, "dir");
    if (!v || strcmp(v, "c2s") == 0)
        *d = PCAPGEN_C2S;
    else if (strcmp(v, "s2c") == 0)
        *d = PCAPGEN_S2C;
    else
        return fail(c, "dir=%s: expected c2s or s2c", v);
    return 0;
}

static int do_tcp(struct ctx *c, const char *name)
{
    struct endpoint cl, sv;
    uint64_t hs = 0, isn_c = 1000, isn_s = 5000;
    if (!name || strchr(name, '='))
        return fail(c, "tcp needs a connection name first");
    if (strlen(name) >= sizeof(c->conns[0].name) || conn_find(c, name))
        return fail(c, "connection name '%s' too long or already used", name);
    if (c->n_conns == MAX_CONNS)
        return fail(c, "at most %d TCP connections", MAX_CONNS);
    if (get_ep(c, "client", &cl, true) < 0 || get_ep(c, "server", &sv, true) < 0)
        return -1;
    GET_NUM(c, "client-isn", isn_c, UINT32_MAX);
    GET_NUM(c, "server-isn", isn_s, UINT32_MAX);
    bool do_hs = str(c, "handshake") != NULL;
    if (get_time(c, "handshake", &hs) < 0 || check_unused(c) < 0)
        return -1;
    struct conn *k = &c->conns[c->n_conns++];
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->tcp = pcapgen_tcp_new(c->g, &cl, &sv, (uint32_t)isn_c, (uint32_t)isn_s, NULL);
    if (do_hs)
        pcapgen_tcp_handshake(k->tcp, hs);
    return 0;
}

static int do_tcp_op(struct ctx *c, const char *word, const char *name, const char **pos)
{
    struct conn *k = conn_find(c, name);
    if (!k)
        return fail(c, "%s: unknown connection '%s'", word, name ? name : "");
    uint64_t t = 0, step = 1000;
    enum pcapgen_dir d = PCAPGEN_C2S;
    if (get_time(c, "t", &t) < 0 || get_dir(c, &d) < 0 || get_time(c, "step", &step) < 0)
        return -1;
    if (strcmp(word, "sip-tcp") == 0) {
        uint16_t cuts16[MAX_LIST];
        size_t ncut = 0;
        bool reverse = flag(c, "reverse");
        bool has_split = str(c, "split") != NULL;
        if (get_list16(c, "split", cuts16, &ncut) < 0)
            return -1;
        size_t len;
        char *msg = sip_payload(c, pos, &len);
        if (!msg)
            return -1;
        if (check_unused(c) < 0) {
            free(msg);
            return -1;
        }
        if (has_split) {
            size_t cuts[MAX_LIST];
            for (size_t i = 0; i < ncut; i++)
                cuts[i] = cuts16[i];
            pcapgen_tcp_send_split(k->tcp, t, step, d, (const uint8_t *)msg, len, cuts, ncut,
                                   reverse);
        } else {
            pcapgen_tcp_send(k->tcp, t, d, (const uint8_t *)msg, len);
        }
        free(msg);
        return 0;
    }
    if (check_unused(c) < 0)
        return -1;
    if (strcmp(word, "tcp-retransmit") == 0)
        pcapgen_tcp_retransmit(k->tcp, t, d);
    else if (strcmp(word, "tcp-fin") == 0)
        pcapgen_tcp_fin(k->tcp, t, d);
    else if (strcmp(word, "tcp-rst") == 0)
        pcapgen_tcp_rst(k->tcp, t, d);
    else
        pcapgen_tcp_ack(k->tcp, t, d);
    return 0;
}

static int do_tcp_flood(struct ctx *c)
{
    struct pcapgen_tcp_flood f = {.messages = 1, .segment = 1400, .step_us = 100};
    uint64_t streams = 1, messages = 1, header = 0, body = 0, segment = 1400;
    if (get_ep(c, "client", &f.client, true) < 0 || get_ep(c, "server", &f.server, true) < 0)
        return -1;
    GET_NUM(c, "streams", streams, 65535 - f.client.port);
    GET_NUM(c, "messages", messages, 100000);
    GET_NUM(c, "header-bytes", header, 1 << 20);
    GET_NUM(c, "body-bytes", body, 1 << 24);
    GET_NUM(c, "segment", segment, 65000);
    f.hold_first = flag(c, "hold-first");
    if (get_time(c, "t", &f.start_us) < 0 || get_time(c, "step", &f.step_us) < 0 ||
        check_unused(c) < 0)
        return -1;
    if (streams == 0 || messages == 0 || segment == 0)
        return fail(c, "tcp-flood: streams, messages and segment must be at least 1");
    f.streams = (unsigned)streams;
    f.messages = (unsigned)messages;
    f.header_bytes = header;
    f.body_bytes = body;
    f.segment = segment;
    pcapgen_tcp_flood(c->g, &f);
    return 0;
}

static int do_sip_udp(struct ctx *c, const char **pos)
{
    struct endpoint src, dst;
    uint64_t t = 0;
    if (get_ep(c, "src", &src, true) < 0 || get_ep(c, "dst", &dst, true) < 0 ||
        get_time(c, "t", &t) < 0)
        return -1;
    size_t len;
    char *msg = sip_payload(c, pos, &len);
    if (!msg)
        return -1;
    if (check_unused(c) < 0) {
        free(msg);
        return -1;
    }
    pcapgen_udp(c->g, t, &src, &dst, (const uint8_t *)msg, len, NULL);
    free(msg);
    return 0;
}

static int do_encap(struct ctx *c, const char *word, char **words, size_t nw)
{
    struct pcapgen_encap e = *pcapgen_encap(c->g);
    uint64_t a, b;
    bool off = nw == 1 && strcmp(words[0], "off") == 0;
    if (strcmp(word, "vlan") == 0) {
        if (off)
            e.vlan = e.qinq_outer = 0;
        else if (nw == 1 && parse_u64(words[0], &a) && a > 0 && a < 4095)
            e.vlan = (uint16_t)a, e.qinq_outer = 0;
        else
            return fail(c, "usage: vlan ID | vlan off");
    } else if (strcmp(word, "qinq") == 0) {
        if (off)
            e.vlan = e.qinq_outer = 0;
        else if (nw == 2 && parse_u64(words[0], &a) && parse_u64(words[1], &b) && a > 0 &&
                 a < 4095 && b > 0 && b < 4095)
            e.qinq_outer = (uint16_t)a, e.vlan = (uint16_t)b;
        else
            return fail(c, "usage: qinq OUTER INNER | qinq off");
    } else {
        if (off) {
            e.mtu = 0;
            e.frag_reverse = false;
        } else {
            GET_NUM(c, "mtu", e.mtu, 65535);
            if (e.mtu < 68)
                return fail(c, "usage: fragment mtu=N (N >= 68) [reverse] | fragment off");
            e.frag_reverse = flag(c, "reverse");
            if (check_unused(c) < 0)
                return -1;
        }
    }
    pcapgen_set_encap(c->g, &e);
    return 0;
}

static int do_link(struct ctx *c, char **words, size_t nw)
{
    static const struct {
        const char *name;
        int lt;
    } names[] = {{"ethernet", PCAPGEN_LINK_ETHERNET},
                 {"sll", PCAPGEN_LINK_LINUX_SLL},
                 {"raw", PCAPGEN_LINK_RAW},
                 {"null", PCAPGEN_LINK_NULL}};
    for (size_t i = 0; nw == 1 && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(words[0], names[i].name) == 0) {
            if (!pcapgen_set_linktype(c->g, names[i].lt))
                return fail(c, "link must come before any packet");
            return 0;
        }
    }
    return fail(c, "usage: link ethernet|sll|raw|null");
}

static int run_line(struct ctx *c, char *line, const char **pos)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *words[MAX_ARGS + 2];
    size_t nw = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
        if (nw == MAX_ARGS + 2)
            return fail(c, "too many words");
        words[nw++] = tok;
    }
    if (nw == 0)
        return 0;
    const char *word = words[0];
    /* Key=value args (and flags) start after the word, or after a name. */
    c->n_args = 0;
    for (size_t i = 1; i < nw; i++) {
        char *eq = strchr(words[i], '=');
        c->args[c->n_args].key = words[i];
        c->args[c->n_args].val = eq ? eq + 1 : NULL;
        c->args[c->n_args].used = false;
        if (eq)
            *eq = '\0';
        c->n_args++;
    }
    if (strcmp(word, "link") == 0)
        return do_link(c, words + 1, nw - 1);
    if (strcmp(word, "base") == 0) {
        uint64_t s;
        if (nw != 2 || !parse_u64(words[1], &s) || s > 4000000000ULL)
            return fail(c, "usage: base UNIX_SECONDS");
        pcapgen_set_base(c->g, s * 1000000);
        return 0;
    }
    if (strcmp(word, "vlan") == 0 || strcmp(word, "qinq") == 0)
        return do_encap(c, word, words + 1, nw - 1);
    if (strcmp(word, "fragment") == 0) {
        if (nw == 2 && strcmp(words[1], "off") == 0)
            return do_encap(c, word, words + 1, 1);
        return do_encap(c, word, NULL, 0);
    }
    if (strcmp(word, "call") == 0)
        return do_call(c);
    if (strcmp(word, "register") == 0)
        return do_register(c);
    if (strcmp(word, "rtp") == 0)
        return do_rtp(c);
    if (strcmp(word, "scan") == 0)
        return do_scan(c);
    if (strcmp(word, "sip-udp") == 0)
        return do_sip_udp(c, pos);
    if (strcmp(word, "tcp-flood") == 0)
        return do_tcp_flood(c);
    if (strcmp(word, "tcp") == 0 || strncmp(word, "tcp-", 4) == 0 || strcmp(word, "sip-tcp") == 0) {
        /* The first argument is the connection name, a bare word. */
        const char *name = nw > 1 ? words[1] : NULL;
        if (c->n_args > 0) {
            c->args[0].used = true;
        }
        if (strcmp(word, "tcp") == 0)
            return do_tcp(c, name);
        if (strcmp(word, "sip-tcp") && strcmp(word, "tcp-retransmit") && strcmp(word, "tcp-fin") &&
            strcmp(word, "tcp-rst") && strcmp(word, "tcp-ack"))
            return fail(c, "unknown directive '%s'", word);
        return do_tcp_op(c, word, name, pos);
    }
    return fail(c, "unknown directive '%s'", word);
}

static int run(struct ctx *c, const char *text)
{
    const char *pos = text;
    int rc = 0;
    while (*pos && rc == 0) {
        const char *e = strchr(pos, '\n');
        size_t n = e ? (size_t)(e - pos) : strlen(pos);
        char *line = strndup(pos, n);
        if (!line)
            abort();
        pos = e ? e + 1 : pos + n;
        c->line++;
        rc = run_line(c, line, &pos);
        free(line);
    }
    for (size_t i = 0; i < c->n_conns; i++)
        pcapgen_tcp_free(c->conns[i].tcp);
    return rc;
}

int pcapgen_scenario_text(struct pcapgen *g, const char *text, const char *dir, char *err,
                          size_t errlen)
{
    struct ctx c = {.g = g, .file = "<scenario>", .dir = dir, .err = err, .errlen = errlen};
    return run(&c, text);
}

int pcapgen_scenario_file(struct pcapgen *g, const char *path, char *err, size_t errlen)
{
    char *text = read_file(path, NULL);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *dir = strdup(path);
    if (!dir)
        abort();
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    struct ctx c = {.g = g, .file = path, .dir = dir, .err = err, .errlen = errlen};
    int rc = run(&c, text);
    free(dir);
    free(text);
    return rc;
}

static struct endpoint ep(const char *addr, uint16_t port)
{
    struct endpoint e = {.port = port};
    if (!net_addr_parse(&e.addr, addr))
        abort();
    return e;
}

void pcapgen_demo(struct pcapgen *g)
{
    /* A trunk between our SBC (203.0.113.1) and a carrier (198.51.100.10). */
    struct endpoint sbc = ep("203.0.113.1", 5060), carrier = ep("198.51.100.10", 5060);

    struct pcapgen_call_spec ok = {.call_id = "demo-normal@203.0.113.1",
                                   .from_user = "1001",
                                   .to_user = "442071838750",
                                   .caller = sbc,
                                   .callee = carrier,
                                   .start_us = 0,
                                   .ring_ms = 3000,
                                   .talk_ms = 30000,
                                   .rtcp = PCAPGEN_RTCP_PORT_PLUS_1};
    ok.caller_media = ep("203.0.113.1", 16000);
    ok.callee_media = ep("198.51.100.10", 30000);
    pcapgen_call(g, &ok);

    struct pcapgen_call_spec nf = {.call_id = "demo-404@203.0.113.1",
                                   .from_user = "1002",
                                   .to_user = "15550100",
                                   .caller = sbc,
                                   .callee = carrier,
                                   .start_us = 4000000,
                                   .final_status = 404};
    pcapgen_call(g, &nf);

    /* A NATed PBX: SDP says 192.168.1.10, RTP really comes from its public
     * address; the carrier's RTP goes to the private address and never shows. */
    struct pcapgen_call_spec ow = {.call_id = "demo-oneway@203.0.113.50",
                                   .from_user = "2001",
                                   .to_user = "15550123",
                                   .callee = carrier,
                                   .start_us = 8000000,
                                   .ring_ms = 2000,
                                   .talk_ms = 20000,
                                   .rtp = PCAPGEN_RTP_CALLER_ONLY};
    ow.caller = ep("203.0.113.50", 5060);
    ow.caller_media = ep("192.168.1.10", 4000);
    ow.caller_rtp_src = ep("203.0.113.50", 4000);
    ow.callee_media = ep("198.51.100.10", 30100);
    pcapgen_call(g, &ow);

    struct pcapgen_call_spec na = {.call_id = "demo-noack@198.51.100.10",
                                   .from_user = "15550199",
                                   .to_user = "1003",
                                   .caller = carrier,
                                   .callee = sbc,
                                   .start_us = 12000000,
                                   .ring_ms = 1500,
                                   .no_ack = true};
    na.caller_media = ep("198.51.100.10", 30200);
    na.callee_media = ep("203.0.113.1", 16100);
    pcapgen_call(g, &na);

    struct pcapgen_register_spec reg = {.ua = ep("203.0.113.60", 5060),
                                        .registrar = sbc,
                                        .user = "3001",
                                        .realm = "sbc.example.test",
                                        .start_us = 2000000,
                                        .outcome = PCAPGEN_REG_LOOP_401,
                                        .attempts = 6,
                                        .interval_ms = 5000};
    pcapgen_register(g, &reg);
}

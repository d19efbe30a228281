/*
 * redis: events to a Redis stream (XADD) and/or a pub/sub channel (PUBLISH),
 * through hiredis' asynchronous API on the daemon's libev loop.
 *
 *   redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME]
 *
 * Without parameters the sink XADDs to `siptap:events`; with only channel=
 * it only PUBLISHes; with both it does both. Each XADD carries one field,
 * `event`, whose value is the event's JSON text, and `MAXLEN ~ N` when
 * sink_options.redis_maxlen is not 0.
 *
 * Delivery: records stay in the sink's queue until the server acknowledged
 * them. While connected the sink pipelines up to REDIS_WINDOW records ahead
 * of the acknowledgements; a record leaves the queue only when the reply to
 * its last command arrives. If the connection dies, the unacknowledged
 * records are still at the head of the queue and are sent again, in order,
 * after reconnection. The server may have executed some of them before the
 * connection died, so a stream can hold duplicates of at most the in-flight
 * window (consumers dedupe on `seq`); a channel subscriber can likewise see
 * a message twice. Nothing is lost unless the queue overflows, and overflow
 * drops are counted.
 *
 * Reconnection runs on libev timers with exponential backoff (100 ms doubling
 * to 5 s). A connection attempt that has not completed in
 * REDIS_CONNECT_TIMEOUT_S is abandoned and retried. An error reply that means
 * "not now" (LOADING, BUSY, NOAUTH, ...) is treated like a lost connection;
 * any other error reply (WRONGTYPE, a bad stream name) fails that record
 * (counted) so one bad record cannot stall the queue forever.
 *
 * A server that stays connected but stops answering (stopped, swapping, a
 * half-open TCP path) would hold the in-flight window forever: a watchdog
 * drops any connection that has had commands outstanding, or a handshake
 * pending, for sink_options.redis_reply_timeout_ms without a single reply,
 * and the records are sent again on the next connection (counted as
 * reply_timeouts).
 *
 * The connection's state changes are reported on stderr once per change,
 * never per event, so an outage cannot flood the log.
 */
#include <errno.h>
#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/sink.h"

#define REDIS_WINDOW            256
#define REDIS_BACKOFF_MIN_S     0.1
#define REDIS_BACKOFF_MAX_S     5.0
#define REDIS_CONNECT_TIMEOUT_S 5.0
#define REDIS_FORM                                                                                 \
    "redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME], for example "                            \
    "redis://127.0.0.1:6379/0?stream=siptap:events&channel=siptap"

enum redis_state { REDIS_IDLE, REDIS_CONNECTING, REDIS_HANDSHAKE, REDIS_READY };

struct redis_sink {
    struct sink base;
    char host[256];
    int port;
    int db;
    char stream[256];  /* "" = no XADD */
    char channel[256]; /* "" = no PUBLISH */
    char maxlen[24];   /* "" = no cap */
    char *user, *password;

    struct ev_loop *loop;
    redisAsyncContext *ac;
    enum redis_state state;
    unsigned handshake_left;
    bool part_failed;   /* an earlier command of the record in flight failed */
    bool closing;       /* destroy in progress: callbacks must do nothing */
    bool reported_down; /* stderr already says the server is unreachable */
    bool ever_connected;
    uint64_t sent_upto; /* absolute index (see sink.popped) of the next record to send */
    double backoff_s;
    double reply_timeout_s;
    double last_progress; /* ev_now of the last reply, or of the first command awaiting one */
    ev_timer retry_timer, connect_timer, watchdog;
    uint64_t reconnects, connect_failures, transient_errors, reply_timeouts;
    char last_error[320];
};

static void redis_connect(struct redis_sink *r);

static void redis_note_error(struct redis_sink *r, const char *what)
{
    snprintf(r->last_error, sizeof(r->last_error), "%s", what ? what : "unknown error");
}

static void redis_schedule_retry(struct redis_sink *r)
{
    if (r->closing || !r->loop)
        return;
    if (!r->reported_down) {
        r->reported_down = true;
        fprintf(stderr,
                "siptapd: output %s: %s; events are queued (up to %zu) and sent when it is "
                "back\n",
                r->base.name, r->last_error, r->base.queue.capacity);
    }
    ev_timer_stop(r->loop, &r->retry_timer);
    ev_timer_set(&r->retry_timer, r->backoff_s, 0.);
    ev_timer_start(r->loop, &r->retry_timer);
    r->backoff_s *= 2;
    if (r->backoff_s > REDIS_BACKOFF_MAX_S)
        r->backoff_s = REDIS_BACKOFF_MAX_S;
}

/* Drops the connection (if any) and arranges a retry. Safe inside hiredis
 * callbacks: redisAsyncDisconnect defers the teardown. */
static void redis_drop_connection(struct redis_sink *r)
{
    if (r->ac && r->state != REDIS_IDLE) {
        redisAsyncContext *ac = r->ac;
        r->state = REDIS_IDLE;
        redisAsyncDisconnect(ac);
        /* A context that never connected gets no disconnect callback. */
    }
}

static bool redis_error_is_transient(const char *msg)
{
    static const char *const prefixes[] = {"LOADING",  "BUSY",     "MASTERDOWN",
                                           "TRYAGAIN", "NOAUTH",   "CLUSTERDOWN",
                                           "OOM",      "READONLY", "NOREPLICAS"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(msg, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static void redis_send_more(struct redis_sink *r);

static void on_record_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata, bool last)
{
    struct redis_sink *r = ac->data;
    redisReply *reply = reply_ptr;
    if (!r || r->closing || !reply || ac != r->ac || r->state != REDIS_READY)
        return; /* the connection is going away; the record stays queued */
    r->last_progress = ev_now(r->loop);
    if (reply->type == REDIS_REPLY_ERROR) {
        if (redis_error_is_transient(reply->str)) {
            r->transient_errors++;
            redis_note_error(r, reply->str);
            redis_drop_connection(r);
            return;
        }
        if (!r->part_failed && r->base.failed < 5)
            fprintf(stderr, "siptapd: output %s: server refused an event: %s\n", r->base.name,
                    reply->str);
        redis_note_error(r, reply->str);
        r->part_failed = true;
    }
    if (!last)
        return;
    uint64_t abs = (uint64_t)(uintptr_t)privdata;
    bool failed = r->part_failed;
    r->part_failed = false;
    /* abs < popped: the full queue already dropped this record (counted). */
    if (abs == r->base.popped && sink_queue_count(&r->base) > 0) {
        if (failed)
            r->base.failed++;
        else
            r->base.delivered++;
        sink_queue_pop(&r->base);
    }
    redis_send_more(r);
}

static void on_part_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    on_record_reply(ac, reply, privdata, false);
}

static void on_last_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    on_record_reply(ac, reply, privdata, true);
}

static void redis_send_record(struct redis_sink *r, const struct event_record *rec, uint64_t abs)
{
    void *tag = (void *)(uintptr_t)abs;
    bool publish = r->channel[0] != '\0';
    if (r->stream[0]) {
        const char *argv[8];
        size_t lens[8];
        int n = 0;
        argv[n++] = "XADD";
        argv[n++] = r->stream;
        if (r->maxlen[0]) {
            argv[n++] = "MAXLEN";
            argv[n++] = "~";
            argv[n++] = r->maxlen;
        }
        argv[n++] = "*";
        argv[n++] = "event";
        argv[n++] = rec->text;
        for (int i = 0; i < n; i++)
            lens[i] = strlen(argv[i]);
        lens[n - 1] = rec->len;
        redisAsyncCommandArgv(r->ac, publish ? on_part_reply : on_last_reply, tag, n, argv, lens);
    }
    if (publish) {
        const char *argv[3] = {"PUBLISH", r->channel, rec->text};
        size_t lens[3] = {7, strlen(r->channel), rec->len};
        redisAsyncCommandArgv(r->ac, on_last_reply, tag, 3, argv, lens);
    }
}

static void redis_send_more(struct redis_sink *r)
{
    if (r->state != REDIS_READY || !r->ac)
        return;
    struct sink *s = &r->base;
    if (r->sent_upto < s->popped)
        r->sent_upto = s->popped;
    if (r->sent_upto == s->popped && sink_queue_count(s) > 0)
        r->last_progress = ev_now(r->loop); /* nothing was awaited: the wait starts now */
    while (r->sent_upto - s->popped < sink_queue_count(s) &&
           r->sent_upto - s->popped < REDIS_WINDOW) {
        struct event_record *rec = sink_queue_peek(s, (size_t)(r->sent_upto - s->popped));
        redis_send_record(r, rec, r->sent_upto);
        r->sent_upto++;
    }
}

static void redis_become_ready(struct redis_sink *r)
{
    r->state = REDIS_READY;
    r->backoff_s = REDIS_BACKOFF_MIN_S;
    if (r->reported_down)
        fprintf(stderr, "siptapd: output %s: connected; sending %zu queued events\n", r->base.name,
                sink_queue_count(&r->base));
    if (r->ever_connected)
        r->reconnects++;
    r->ever_connected = true;
    r->reported_down = false;
    /* Everything not acknowledged is sent again, from the head. */
    r->sent_upto = r->base.popped;
    r->part_failed = false;
    redis_send_more(r);
}

static void on_handshake_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    (void)privdata;
    struct redis_sink *r = ac->data;
    redisReply *reply = reply_ptr;
    if (!r || r->closing || !reply || ac != r->ac)
        return;
    r->last_progress = ev_now(r->loop);
    if (reply->type == REDIS_REPLY_ERROR) {
        char msg[320];
        snprintf(msg, sizeof(msg), "server refused the handshake: %s", reply->str);
        redis_note_error(r, msg);
        redis_drop_connection(r);
        return;
    }
    if (r->handshake_left > 0 && --r->handshake_left == 0 && r->state == REDIS_HANDSHAKE)
        redis_become_ready(r);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_sink *r = ac->data;
    if (!r || r->closing || ac != r->ac)
        return;
    ev_timer_stop(r->loop, &r->connect_timer);
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        char msg[320];
        snprintf(msg, sizeof(msg), "cannot connect to %.100s:%d: %s", r->host, r->port,
                 ac->errstr[0] ? ac->errstr : "error");
        redis_note_error(r, msg);
        r->ac = NULL;
        r->state = REDIS_IDLE;
        r->connect_failures++;
        redis_schedule_retry(r);
        return;
    }
    if (r->state != REDIS_CONNECTING)
        return;
    r->last_progress = ev_now(r->loop);
    if (r->handshake_left == 0)
        redis_become_ready(r);
    else
        r->state = REDIS_HANDSHAKE;
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_sink *r = ac->data;
    if (!r || r->closing || ac != r->ac)
        return;
    if (status != REDIS_OK || !r->last_error[0]) {
        char msg[320];
        snprintf(msg, sizeof(msg), "lost the connection to %.100s:%d: %s", r->host, r->port,
                 ac->errstr[0] ? ac->errstr : "closed");
        redis_note_error(r, msg);
    }
    r->ac = NULL;
    r->state = REDIS_IDLE;
    redis_schedule_retry(r);
}

/* Frees a connection outside hiredis' callbacks (pending callbacks run with
 * NULL replies and ignore them) and schedules the next attempt. */
static void redis_abandon_connection(struct redis_sink *r)
{
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    r->state = REDIS_IDLE;
    redisAsyncFree(ac);
    redis_schedule_retry(r);
}

static void on_retry_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    redis_connect(w->data);
}

static void on_connect_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct redis_sink *r = w->data;
    if (r->state != REDIS_CONNECTING || !r->ac)
        return;
    snprintf(r->last_error, sizeof(r->last_error), "no answer from %.100s:%d within %.0f s",
             r->host, r->port, REDIS_CONNECT_TIMEOUT_S);
    r->connect_failures++;
    redis_abandon_connection(r);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct redis_sink *r = w->data;
    if (!r->ac || r->closing)
        return;
    bool waiting =
        (r->state == REDIS_READY && r->sent_upto > r->base.popped) || r->state == REDIS_HANDSHAKE;
    if (!waiting || ev_now(loop) - r->last_progress < r->reply_timeout_s)
        return;
    snprintf(r->last_error, sizeof(r->last_error), "no reply from %.100s:%d within %.1f s", r->host,
             r->port, r->reply_timeout_s);
    r->reply_timeouts++;
    redis_abandon_connection(r);
}

static void redis_connect(struct redis_sink *r)
{
    if (r->closing || r->ac)
        return;
    r->last_error[0] = '\0';
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac) {
        redis_note_error(r, "out of memory");
        r->connect_failures++;
        redis_schedule_retry(r);
        return;
    }
    if (ac->err) {
        char msg[320];
        snprintf(msg, sizeof(msg), "cannot connect to %.100s:%d: %s", r->host, r->port, ac->errstr);
        redis_note_error(r, msg);
        redisAsyncFree(ac);
        r->connect_failures++;
        redis_schedule_retry(r);
        return;
    }
    ac->data = r;
    r->ac = ac;
    r->state = REDIS_CONNECTING;
    redisLibevAttach(r->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* The handshake is buffered by hiredis and written once connected. */
    r->handshake_left = 0;
    if (r->password) {
        if (r->user)
            redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s %s", r->user, r->password);
        else
            redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s", r->password);
        r->handshake_left++;
    }
    if (r->db != 0) {
        redisAsyncCommand(ac, on_handshake_reply, NULL, "SELECT %d", r->db);
        r->handshake_left++;
    }
    ev_timer_set(&r->connect_timer, REDIS_CONNECT_TIMEOUT_S, 0.);
    ev_timer_start(r->loop, &r->connect_timer);
}

static int redis_start(struct sink *s, struct ev_loop *loop)
{
    struct redis_sink *r = (struct redis_sink *)s;
    r->loop = loop;
    ev_timer_init(&r->retry_timer, on_retry_timer, 0., 0.);
    r->retry_timer.data = r;
    ev_timer_init(&r->connect_timer, on_connect_timer, REDIS_CONNECT_TIMEOUT_S, 0.);
    r->connect_timer.data = r;
    /* Checked four times per timeout: a stall is noticed within 1.25 of it. */
    double tick = r->reply_timeout_s / 4;
    ev_timer_init(&r->watchdog, on_watchdog, tick, tick);
    r->watchdog.data = r;
    ev_timer_start(loop, &r->watchdog);
    redis_connect(r);
    return 0;
}

static void redis_wake(struct sink *s)
{
    redis_send_more((struct redis_sink *)s);
}

static bool redis_queue_empty(const struct sink *s)
{
    return sink_queue_count(s) == 0;
}

static void redis_drain(struct sink *s, double timeout_s)
{
    struct redis_sink *r = (struct redis_sink *)s;
    redis_send_more(r);
    /* While draining, retry promptly: the deadline bounds the wait. */
    if (r->state == REDIS_IDLE && r->loop && !r->closing) {
        ev_timer_stop(r->loop, &r->retry_timer);
        redis_connect(r);
    }
    if (!sink_run_until(s, r->loop, timeout_s, redis_queue_empty))
        fprintf(stderr, "siptapd: output %s: %zu events not delivered at shutdown (%s)\n", s->name,
                sink_queue_count(s), r->last_error[0] ? r->last_error : "no reply in time");
}

static void redis_add_stats(const struct sink *s, json_t *obj)
{
    const struct redis_sink *r = (const struct redis_sink *)s;
    uint64_t in_flight =
        r->state == REDIS_READY && r->sent_upto > s->popped ? r->sent_upto - s->popped : 0;
    json_object_set_new(obj, "connected", json_boolean(r->state == REDIS_READY));
    json_object_set_new(obj, "reconnects", json_integer((json_int_t)r->reconnects));
    json_object_set_new(obj, "connect_failures", json_integer((json_int_t)r->connect_failures));
    json_object_set_new(obj, "reply_timeouts", json_integer((json_int_t)r->reply_timeouts));
    json_object_set_new(obj, "in_flight", json_integer((json_int_t)in_flight));
    if (r->last_error[0])
        json_object_set_new(obj, "last_error", json_string(r->last_error));
}

static void redis_destroy(struct sink *s)
{
    struct redis_sink *r = (struct redis_sink *)s;
    r->closing = true;
    if (r->loop) {
        ev_timer_stop(r->loop, &r->retry_timer);
        ev_timer_stop(r->loop, &r->connect_timer);
        ev_timer_stop(r->loop, &r->watchdog);
    }
    if (r->ac) {
        r->ac->data = NULL;
        redisAsyncFree(r->ac);
        r->ac = NULL;
    }
    free(r->user);
    free(r->password);
    sink_base_destroy(s);
    free(r);
}

static const struct sink_ops redis_ops = {
    .kind = "redis",
    .start = redis_start,
    .wake = redis_wake,
    .drain = redis_drain,
    .add_stats = redis_add_stats,
    .destroy = redis_destroy,
};

/* Parses a decimal in [lo, hi] that spans exactly [p, end). */
static bool parse_uint_range(const char *p, const char *end, long lo, long hi, long *out)
{
    if (p == end || end - p > 10)
        return false;
    long v = 0;
    for (const char *c = p; c < end; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (*c - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool copy_span(char *dst, size_t dstlen, const char *p, const char *end)
{
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= dstlen)
        return false;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return true;
}

/* Fills host, port, db, stream, channel from the -o text. */
static bool redis_parse_spec(struct redis_sink *r, const char *spec, char *err, size_t errlen)
{
    const char *p = spec + strlen("redis://");
    const char *host_end, *after_host;
    size_t authority = strcspn(p, "/?");
    if (memchr(p, '@', authority)) {
        snprintf(err, errlen,
                 "credentials in the URL are not accepted (they would show in ps and in the "
                 "stats); set redis_user / redis_password in the [output] section of the "
                 "configuration file, and write the output as %s",
                 REDIS_FORM);
        return false;
    }
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) {
            snprintf(err, errlen, "unclosed '[' in '%s'; write it as %s", spec, REDIS_FORM);
            return false;
        }
        if (!copy_span(r->host, sizeof(r->host), p + 1, host_end)) {
            snprintf(err, errlen, "no host in '%s'; write it as %s", spec, REDIS_FORM);
            return false;
        }
        after_host = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?");
        if (!copy_span(r->host, sizeof(r->host), p, host_end)) {
            snprintf(err, errlen, "no host in '%s'; write it as %s", spec, REDIS_FORM);
            return false;
        }
        after_host = host_end;
    }
    p = after_host;
    r->port = 6379;
    if (*p == ':') {
        const char *port_end = p + 1 + strcspn(p + 1, "/?");
        long port;
        if (!parse_uint_range(p + 1, port_end, 1, 65535, &port)) {
            snprintf(err, errlen, "bad port '%.*s' in '%s' (1-65535); write it as %s",
                     (int)(port_end - p - 1), p + 1, spec, REDIS_FORM);
            return false;
        }
        r->port = (int)port;
        p = port_end;
    }
    if (*p == '/') {
        const char *db_end = p + 1 + strcspn(p + 1, "?");
        long db = 0;
        if (db_end != p + 1 && !parse_uint_range(p + 1, db_end, 0, INT_MAX, &db)) {
            snprintf(err, errlen, "bad database number '%.*s' in '%s'; write it as %s",
                     (int)(db_end - p - 1), p + 1, spec, REDIS_FORM);
            return false;
        }
        r->db = (int)db;
        p = db_end;
    }
    if (*p != '\0' && *p != '?') {
        snprintf(err, errlen, "unexpected '%s' in '%s'; write it as %s", p, spec, REDIS_FORM);
        return false;
    }
    bool have_stream = false, have_channel = false;
    while (*p == '?' || *p == '&') {
        p++;
        const char *eq = strchr(p, '=');
        const char *end = p + strcspn(p, "&");
        if (!eq || eq > end) {
            snprintf(err, errlen, "parameter '%.*s' in '%s' has no value; write it as %s",
                     (int)(end - p), p, spec, REDIS_FORM);
            return false;
        }
        char *dst;
        size_t dstlen;
        if ((size_t)(eq - p) == 6 && strncmp(p, "stream", 6) == 0) {
            dst = r->stream, dstlen = sizeof(r->stream), have_stream = true;
        } else if ((size_t)(eq - p) == 7 && strncmp(p, "channel", 7) == 0) {
            dst = r->channel, dstlen = sizeof(r->channel), have_channel = true;
        } else {
            snprintf(err, errlen,
                     "unknown parameter '%.*s' in '%s' (known: stream, channel); write it as %s",
                     (int)(eq - p), p, spec, REDIS_FORM);
            return false;
        }
        if (!copy_span(dst, dstlen, eq + 1, end)) {
            snprintf(err, errlen, "empty or too long value for '%.*s' in '%s'; write it as %s",
                     (int)(eq - p), p, spec, REDIS_FORM);
            return false;
        }
        p = end;
    }
    if (!have_stream && !have_channel)
        snprintf(r->stream, sizeof(r->stream), "siptap:events");
    return true;
}

struct sink *redis_sink_new(const char *spec, const struct sink_options *opts, char *err,
                            size_t errlen)
{
    struct redis_sink *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!redis_parse_spec(r, spec, err, errlen)) {
        free(r);
        return NULL;
    }
    if (!sink_base_init(&r->base, &redis_ops, spec, opts->queue_size)) {
        sink_base_destroy(&r->base);
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (opts->redis_maxlen)
        snprintf(r->maxlen, sizeof(r->maxlen), "%zu", opts->redis_maxlen);
    if (opts->redis_password)
        r->password = strdup(opts->redis_password);
    if (opts->redis_user)
        r->user = strdup(opts->redis_user);
    if (r->user && !r->password) {
        snprintf(err, errlen, "redis_user is set but redis_password is not; set both");
        redis_destroy(&r->base);
        return NULL;
    }
    r->backoff_s = REDIS_BACKOFF_MIN_S;
    r->reply_timeout_s =
        (opts->redis_reply_timeout_ms ? opts->redis_reply_timeout_ms : 10000) / 1000.0;
    return &r->base;
}

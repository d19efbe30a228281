/*
 * redis: events to a Redis stream (XADD) and/or a pub/sub channel (PUBLISH),
 * through hiredis' asynchronous API on the daemon's libev loop.
 *
 *   redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME]
 *           [&stream_events=all|alerts][&channel_events=all|alerts]
 *
 * Without parameters the sink XADDs to `siptap:events`; with only channel=
 * it only PUBLISHes; with both it does both. Each XADD carries one field,
 * `event`, whose value is the event's JSON text, and `MAXLEN ~ N` when
 * sink_options.redis_maxlen is not 0.
 *
 * The stream and the channel each take their own events: every event
 * (`all`) or the alerts (`alerts`: the rule of syslog, sink_is_alert).
 * By default the stream takes every event, the channel the alerts: the
 * stream is the record, the channel what someone subscribed wants to be
 * told. [route redis] still decides what the output takes at all; the two
 * parameters split that between stream and channel. A record neither wants
 * is settled at once, with nothing sent.
 *
 * Delivery: records stay in the sink's queue until the server acknowledged
 * them. While connected the sink pipelines up to REDIS_WINDOW records ahead
 * of the acknowledgements; a record leaves the queue (delivered or failed)
 * once every command of it was answered, in queue order. If the connection
 * dies, the unacknowledged records are still at the head of the queue and
 * are sent again, in order, after reconnection. Records sent and not yet
 * answered are held (sink.held): a full queue never drops them, since the
 * server may have them; it drops the oldest record not sent yet.
 *
 * Exactly once in the stream: each XADD carries an explicit ID
 * `<ms>-<seq>`, the ms part the wall time when the record was first sent
 * (never below the previous one, and above the stream's last ID as read at
 * each connection), the seq part the event's seq: IDs rise with seq, and a
 * resend carries the ID of the first send. Redis refuses an ID at or below
 * the stream's last one, so a resend of a record the server had already
 * executed is refused; the sink then checks with XRANGE that the ID is
 * there (counted delivered, and in resends_refused) and, if another writer
 * took the place, adds it with an ID the server picks. A first send
 * refused for its ID (another writer ahead on the same stream) goes again
 * with an ID the server picks as well (counted in id_conflicts; such a
 * record is no longer protected against a resend). A channel subscriber
 * can still see a message twice after a reconnection (PUBLISH has no ID).
 * Nothing is lost unless the queue overflows, and overflow drops are
 * counted.
 *
 * Reconnection runs on libev timers with exponential backoff (100 ms doubling
 * to 5 s; 0.5 s at most while draining at shutdown). A connection attempt that has not completed in
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
#define REDIS_DRAIN_BACKOFF_S   0.5 /* while draining at shutdown */
#define REDIS_FORM                                                                                 \
    "redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME][&stream_events=all|alerts]"               \
    "[&channel_events=all|alerts], for example "                                                   \
    "redis://127.0.0.1:6379/0?stream=siptap:events&channel=siptap"

enum redis_state { REDIS_IDLE, REDIS_CONNECTING, REDIS_HANDSHAKE, REDIS_READY };

/* Which events the stream or the channel takes. */
enum redis_events { REDIS_EVENTS_ALL, REDIS_EVENTS_ALERTS };

/* id_ms of a record that goes with an ID the server picks ("*"). */
#define REDIS_ID_SERVER UINT64_MAX

/* What the sink knows of a record it has sent, by absolute position. */
struct redis_slot {
    uint64_t id_ms; /* ms part of its stream ID (0: none yet); the seq is the other part */
    uint8_t parts;  /* commands not answered yet on this connection */
    bool failed;    /* a command of it was refused for good */
    bool done;      /* every command answered */
    bool resent;    /* sent on an earlier connection, with the same ID */
};

struct redis_sink {
    struct sink base;
    char host[256];
    int port;
    int db;
    char stream[256];  /* "" = no XADD */
    char channel[256]; /* "" = no PUBLISH */
    enum redis_events stream_events, channel_events;
    bool bad_events; /* parsing: a *_events value that is neither all nor alerts */
    char maxlen[24]; /* "" = no cap */
    char *user, *password;

    struct ev_loop *loop;
    redisAsyncContext *ac;
    enum redis_state state;
    unsigned handshake_left;
    bool closing;       /* destroy in progress: callbacks must do nothing */
    bool reported_down; /* stderr already says the server is unreachable */
    bool draining;      /* shutdown: reconnect within REDIS_DRAIN_BACKOFF_S */
    bool ever_connected;
    uint64_t sent_upto; /* absolute index (see sink.popped) of the next record to send */
    /* Records before this absolute index were sent at least once (they are
     * the sink's held records, see sink.held). */
    uint64_t assigned_upto;
    struct redis_slot *slots; /* queue-capacity entries, by absolute index */
    uint64_t id_floor_ms;     /* the next new ID's ms part is at least this */
    double backoff_s;
    double reply_timeout_s;
    double last_progress; /* ev_now of the last reply, or of the first command awaiting one */
    ev_timer retry_timer, connect_timer, watchdog;
    uint64_t reconnects, connect_failures, transient_errors, reply_timeouts;
    uint64_t resends_refused, id_conflicts;
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
    double max_s = r->draining ? REDIS_DRAIN_BACKOFF_S : REDIS_BACKOFF_MAX_S;
    if (r->backoff_s > max_s)
        r->backoff_s = max_s;
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

/* Redis' answer to an XADD whose ID is not above the stream's last one. */
static bool redis_error_is_id_taken(const char *msg)
{
    return strstr(msg, "equal or smaller") != NULL;
}

static struct redis_slot *redis_slot_of(struct redis_sink *r, uint64_t abs)
{
    return &r->slots[abs % r->base.queue.capacity];
}

static void redis_update_held(struct redis_sink *r)
{
    /* A full queue with nothing held drops its head, moving popped on. */
    if (r->assigned_upto < r->base.popped)
        r->assigned_upto = r->base.popped;
    r->base.held = (size_t)(r->assigned_upto - r->base.popped);
}

/* The ms part of the next new ID: wall time, never below the last one. */
static uint64_t redis_next_id_ms(struct redis_sink *r)
{
    uint64_t now = (uint64_t)(ev_time() * 1000.0);
    if (now > r->id_floor_ms)
        r->id_floor_ms = now;
    return r->id_floor_ms;
}

/* Raises the floor above an ID Redis reported ("MS-SEQ"). */
static void redis_raise_id_floor(struct redis_sink *r, const char *id)
{
    char *end;
    unsigned long long ms = strtoull(id, &end, 10);
    if (end != id && *end == '-' && ms + 1 > r->id_floor_ms)
        r->id_floor_ms = ms + 1;
}

/* Removes the head records whose every command was answered. */
static void redis_settle_head(struct redis_sink *r)
{
    struct sink *s = &r->base;
    while (sink_queue_count(s) > 0 && r->sent_upto > s->popped) {
        struct redis_slot *slot = redis_slot_of(r, s->popped);
        if (!slot->done)
            break;
        if (slot->failed)
            s->failed++;
        else
            s->delivered++;
        memset(slot, 0, sizeof(*slot));
        sink_queue_pop(s);
    }
    redis_update_held(r);
}

static void redis_send_more(struct redis_sink *r);

static void redis_part_done(struct redis_sink *r, uint64_t abs)
{
    struct redis_slot *slot = redis_slot_of(r, abs);
    if (slot->parts > 0 && --slot->parts == 0)
        slot->done = true;
    redis_settle_head(r);
    redis_send_more(r);
}

/* The reply belongs to the live connection and to a record still queued. */
static bool redis_reply_is_current(struct redis_sink *r, redisAsyncContext *ac, void *reply,
                                   uint64_t abs)
{
    if (!r || r->closing || !reply || ac != r->ac || r->state != REDIS_READY)
        return false; /* the connection is going away; the record stays queued */
    r->last_progress = ev_now(r->loop);
    return abs >= r->base.popped && abs < r->sent_upto;
}

static void on_xadd_reply(redisAsyncContext *ac, void *reply, void *privdata);

static void redis_xadd(struct redis_sink *r, uint64_t abs)
{
    const struct event_record *rec = sink_queue_peek(&r->base, (size_t)(abs - r->base.popped));
    struct redis_slot *slot = redis_slot_of(r, abs);
    char id[48];
    if (slot->id_ms == REDIS_ID_SERVER)
        snprintf(id, sizeof(id), "*");
    else
        snprintf(id, sizeof(id), "%llu-%llu", (unsigned long long)slot->id_ms,
                 (unsigned long long)rec->seq);
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
    argv[n++] = id;
    argv[n++] = "event";
    argv[n++] = rec->text;
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    lens[n - 1] = rec->len;
    redisAsyncCommandArgv(r->ac, on_xadd_reply, (void *)(uintptr_t)abs, n, argv, lens);
}

/* An XADD refused because its ID is taken on the first try: another writer
 * is ahead on this stream. The record goes again with an ID the server
 * picks (no longer protected against a resend, counted in id_conflicts). */
static void redis_xadd_with_server_id(struct redis_sink *r, uint64_t abs)
{
    if (r->id_conflicts++ == 0)
        fprintf(stderr,
                "siptapd: output %s: stream %s has entries past this tap's IDs (another "
                "writer?); such events go with IDs the server picks\n",
                r->base.name, r->stream);
    redis_slot_of(r, abs)->id_ms = REDIS_ID_SERVER;
    redis_xadd(r, abs);
}

static void on_verify_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    struct redis_sink *r = ac->data;
    redisReply *reply = reply_ptr;
    uint64_t abs = (uint64_t)(uintptr_t)privdata;
    if (!redis_reply_is_current(r, ac, reply, abs))
        return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1) {
        r->resends_refused++; /* it is there: the earlier send arrived */
        redis_part_done(r, abs);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && redis_error_is_transient(reply->str)) {
        r->transient_errors++; /* ask again on the next connection */
        redis_note_error(r, reply->str);
        redis_drop_connection(r);
        return;
    }
    redis_xadd_with_server_id(r, abs);
}

/* A resend was refused: the ID is taken, most likely by the earlier send of
 * this very record. XRANGE ID ID tells (another writer may have passed it). */
static void redis_verify(struct redis_sink *r, uint64_t abs)
{
    const struct event_record *rec = sink_queue_peek(&r->base, (size_t)(abs - r->base.popped));
    char id[48];
    snprintf(id, sizeof(id), "%llu-%llu", (unsigned long long)redis_slot_of(r, abs)->id_ms,
             (unsigned long long)rec->seq);
    const char *argv[4] = {"XRANGE", r->stream, id, id};
    size_t lens[4] = {6, strlen(r->stream), strlen(id), strlen(id)};
    redisAsyncCommandArgv(r->ac, on_verify_reply, (void *)(uintptr_t)abs, 4, argv, lens);
}

/* An error reply to one command of a record. false: the connection is
 * being dropped. */
static bool redis_part_error(struct redis_sink *r, uint64_t abs, const char *msg)
{
    struct redis_slot *slot = redis_slot_of(r, abs);
    if (redis_error_is_transient(msg)) {
        /* Sent again on the next connection with the same ID, so the IDs
         * keep the queue's order (the records after it keep theirs). */
        r->transient_errors++;
        redis_note_error(r, msg);
        redis_drop_connection(r);
        return false;
    }
    if (!slot->failed && r->base.failed < 5)
        fprintf(stderr, "siptapd: output %s: server refused an event: %s\n", r->base.name, msg);
    redis_note_error(r, msg);
    slot->failed = true;
    return true;
}

static void on_xadd_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    struct redis_sink *r = ac->data;
    redisReply *reply = reply_ptr;
    uint64_t abs = (uint64_t)(uintptr_t)privdata;
    if (!redis_reply_is_current(r, ac, reply, abs))
        return;
    struct redis_slot *slot = redis_slot_of(r, abs);
    if (reply->type == REDIS_REPLY_ERROR && redis_error_is_id_taken(reply->str) &&
        slot->id_ms != REDIS_ID_SERVER) {
        if (slot->resent)
            redis_verify(r, abs);
        else
            redis_xadd_with_server_id(r, abs);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && !redis_part_error(r, abs, reply->str))
        return;
    if (reply->type == REDIS_REPLY_STRING && slot->id_ms == REDIS_ID_SERVER)
        redis_raise_id_floor(r, reply->str);
    redis_part_done(r, abs);
}

static void on_publish_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    struct redis_sink *r = ac->data;
    redisReply *reply = reply_ptr;
    uint64_t abs = (uint64_t)(uintptr_t)privdata;
    if (!redis_reply_is_current(r, ac, reply, abs))
        return;
    if (reply->type == REDIS_REPLY_ERROR && !redis_part_error(r, abs, reply->str))
        return;
    redis_part_done(r, abs);
}

/* Does the stream or channel named (if any) take this record? */
static bool redis_wants(const char *name, enum redis_events which, const struct event_record *rec)
{
    return name[0] && (which == REDIS_EVENTS_ALL || sink_is_alert(rec));
}

/* Sends the record at absolute position abs: an XADD with the ID it got
 * when first sent (a new one if it has none), and/or a PUBLISH. */
static void redis_send_record(struct redis_sink *r, uint64_t abs)
{
    const struct event_record *rec = sink_queue_peek(&r->base, (size_t)(abs - r->base.popped));
    struct redis_slot *slot = redis_slot_of(r, abs);
    if (slot->done)
        return; /* answered on an earlier connection, waiting behind the head */
    slot->parts = 0;
    slot->failed = false;
    if (redis_wants(r->stream, r->stream_events, rec)) {
        if (slot->id_ms == 0)
            slot->id_ms = redis_next_id_ms(r);
        redis_xadd(r, abs);
        slot->parts++;
    }
    if (redis_wants(r->channel, r->channel_events, rec)) {
        const char *argv[3] = {"PUBLISH", r->channel, rec->text};
        size_t lens[3] = {7, strlen(r->channel), rec->len};
        redisAsyncCommandArgv(r->ac, on_publish_reply, (void *)(uintptr_t)abs, 3, argv, lens);
        slot->parts++;
    }
    if (slot->parts == 0)
        slot->done = true; /* for neither: nothing to wait for */
    if (abs >= r->assigned_upto)
        r->assigned_upto = abs + 1;
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
        redis_send_record(r, r->sent_upto);
        r->sent_upto++;
    }
    redis_update_held(r);
    redis_settle_head(r);
}

static void redis_become_ready(struct redis_sink *r)
{
    r->state = REDIS_READY;
    r->backoff_s = REDIS_BACKOFF_MIN_S;
    r->last_error[0] = '\0'; /* kept until now: the stats say why it was down */
    if (r->reported_down)
        fprintf(stderr, "siptapd: output %s: connected; sending %zu queued events\n", r->base.name,
                sink_queue_count(&r->base));
    if (r->ever_connected)
        r->reconnects++;
    r->ever_connected = true;
    r->reported_down = false;
    /* Everything not acknowledged is sent again, from the head, with the
     * IDs it had: Redis refuses what it already holds. */
    for (uint64_t abs = r->base.popped; abs < r->assigned_upto; abs++) {
        struct redis_slot *slot = redis_slot_of(r, abs);
        slot->resent = slot->id_ms != 0 && slot->id_ms != REDIS_ID_SERVER;
    }
    r->sent_upto = r->base.popped;
    redis_send_more(r);
}

/* Handshake: the stream's last ID, so that this run's IDs start above it
 * (a restart within the same millisecond, a clock that went back). */
static void on_stream_end_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata);

static void redis_handshake_step(struct redis_sink *r)
{
    if (r->handshake_left > 0 && --r->handshake_left == 0 && r->state == REDIS_HANDSHAKE)
        redis_become_ready(r);
}

/* The sink a handshake reply is for, its progress noted; NULL when the
 * reply is stale (its connection closed or replaced) or empty. */
static struct redis_sink *handshake_reply_sink(redisAsyncContext *ac, const void *reply)
{
    struct redis_sink *r = ac->data;
    if (!r || r->closing || !reply || ac != r->ac)
        return NULL;
    r->last_progress = ev_now(r->loop);
    return r;
}

static void on_stream_end_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    (void)privdata;
    redisReply *reply = reply_ptr;
    struct redis_sink *r = handshake_reply_sink(ac, reply);
    if (!r)
        return;
    /* An error (no such command for this user, a key of another type) is
     * not the handshake's to judge: XADD will say. */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements >= 1 &&
        reply->element[0]->element[0]->type == REDIS_REPLY_STRING)
        redis_raise_id_floor(r, reply->element[0]->element[0]->str);
    redis_handshake_step(r);
}

static void on_handshake_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    (void)privdata;
    redisReply *reply = reply_ptr;
    struct redis_sink *r = handshake_reply_sink(ac, reply);
    if (!r)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char msg[320];
        snprintf(msg, sizeof(msg), "server refused the handshake: %s", reply->str);
        redis_note_error(r, msg);
        redis_drop_connection(r);
        return;
    }
    redis_handshake_step(r);
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
    if (r->stream[0]) {
        redisAsyncCommand(ac, on_stream_end_reply, NULL, "XREVRANGE %s + - COUNT 1", r->stream);
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

static void redis_drain(struct sink *s, double timeout_s)
{
    (void)timeout_s;
    struct redis_sink *r = (struct redis_sink *)s;
    r->draining = true;
    if (r->backoff_s > REDIS_DRAIN_BACKOFF_S)
        r->backoff_s = REDIS_DRAIN_BACKOFF_S;
    redis_send_more(r);
    /* Retry at once: the bus's deadline bounds the wait. */
    if (r->state == REDIS_IDLE && r->loop && !r->closing) {
        ev_timer_stop(r->loop, &r->retry_timer);
        redis_connect(r);
    }
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
    json_object_set_new(obj, "transient_errors", json_integer((json_int_t)r->transient_errors));
    json_object_set_new(obj, "in_flight", json_integer((json_int_t)in_flight));
    json_object_set_new(obj, "resends_refused", json_integer((json_int_t)r->resends_refused));
    json_object_set_new(obj, "id_conflicts", json_integer((json_int_t)r->id_conflicts));
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
    free(r->slots);
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

/* stream_events= or channel_events= in [p, end) (eq at its '='): true
 * when it was one and its value is right; bad_events set when the value is
 * not all or alerts. */
static bool redis_events_param(struct redis_sink *r, const char *p, const char *eq, const char *end)
{
    enum redis_events *dst;
    if ((size_t)(eq - p) == 13 && strncmp(p, "stream_events", 13) == 0)
        dst = &r->stream_events;
    else if ((size_t)(eq - p) == 14 && strncmp(p, "channel_events", 14) == 0)
        dst = &r->channel_events;
    else
        return false;
    size_t n = (size_t)(end - eq - 1);
    if (n == 3 && strncmp(eq + 1, "all", 3) == 0)
        *dst = REDIS_EVENTS_ALL;
    else if (n == 6 && strncmp(eq + 1, "alerts", 6) == 0)
        *dst = REDIS_EVENTS_ALERTS;
    else
        r->bad_events = true;
    return !r->bad_events;
}

/* Fills host, port, db, stream, channel and what each takes from the -o text. */
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
    r->stream_events = REDIS_EVENTS_ALL;
    r->channel_events = REDIS_EVENTS_ALERTS;
    while (*p == '?' || *p == '&') {
        p++;
        const char *eq = strchr(p, '=');
        const char *end = p + strcspn(p, "&");
        if (!eq || eq > end) {
            snprintf(err, errlen, "parameter '%.*s' in '%s' has no value; write it as %s",
                     (int)(end - p), p, spec, REDIS_FORM);
            return false;
        }
        if (redis_events_param(r, p, eq, end)) {
            p = end;
            continue;
        }
        if (r->bad_events) {
            snprintf(err, errlen, "%.*s = '%.*s' in '%s' must be all or alerts; write it as %s",
                     (int)(eq - p), p, (int)(end - eq - 1), eq + 1, spec, REDIS_FORM);
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
                     "unknown parameter '%.*s' in '%s' (known: stream, channel, stream_events, "
                     "channel_events); write it as %s",
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
    if (!sink_base_init(&r->base, &redis_ops, spec, opts->queue_size) ||
        !(r->slots = calloc(r->base.queue.capacity, sizeof(*r->slots)))) {
        sink_base_destroy(&r->base);
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* Only alerts wanted at all: the bus need not queue the rest. */
    bool stream_all = r->stream[0] && r->stream_events == REDIS_EVENTS_ALL;
    bool channel_all = r->channel[0] && r->channel_events == REDIS_EVENTS_ALL;
    if (!stream_all && !channel_all)
        sink_filter_alerts(&r->base);
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

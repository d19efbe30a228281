/*
 * sink: the part every sink shares (bounded queue, filter, counters) and the
 * factory that turns an `-o` form into a sink.
 *
 * The queue is a ring of record references. It never grows: when full, the
 * oldest record is dropped and counted, because under a long outage the
 * newest events are the ones an operator wants -- except records the
 * transport holds (sent, not yet answered): they may have arrived, so
 * dropping them would count as lost what was delivered. `popped` counts
 * every record that left the head so network sinks can track what they sent
 * ahead.
 */
#include "outputs/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "outputs/hep.h"

void sink_options_defaults(struct sink_options *o)
{
    memset(o, 0, sizeof(*o));
    o->queue_size = 100000;
    o->redis_maxlen = 1000000;
    o->redis_reply_timeout_ms = 10000;
}

bool sink_base_init(struct sink *s, const struct sink_ops *ops, const char *name, size_t queue_size)
{
    memset(s, 0, sizeof(*s));
    s->ops = ops;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->min_severity = SEVERITY_INFO;
    if (queue_size == 0)
        queue_size = 1;
    s->queue.ring = calloc(queue_size, sizeof(*s->queue.ring));
    s->queue.capacity = queue_size;
    return s->queue.ring != NULL;
}

void sink_base_destroy(struct sink *s)
{
    while (s->queue.count)
        sink_queue_pop(s);
    free(s->queue.ring);
    s->queue.ring = NULL;
}

bool sink_accepts(const struct sink *s, const struct event_record *r)
{
    if (r->severity >= s->min_severity)
        return true;
    for (size_t i = 0; i < s->type_count; i++)
        if (strcmp(s->types[i], r->type) == 0)
            return true;
    return false;
}

/* Events that are not warnings but that an operator watching alerts needs. */
static const char *const alert_types[] = {"trunk_down", "trunk_up", "registration_loop"};

bool sink_is_alert(const struct event_record *r)
{
    if (r->severity >= SEVERITY_WARNING)
        return true;
    for (size_t i = 0; i < sizeof(alert_types) / sizeof(alert_types[0]); i++)
        if (strcmp(r->type, alert_types[i]) == 0)
            return true;
    return false;
}

void sink_filter_alerts(struct sink *s)
{
    s->min_severity = SEVERITY_WARNING;
    s->type_count = 0;
    for (size_t i = 0; i < sizeof(alert_types) / sizeof(alert_types[0]); i++)
        snprintf(s->types[s->type_count++], sizeof(s->types[0]), "%s", alert_types[i]);
}

/* A full queue makes room: the oldest record that is not held goes. The
 * held ones move up one slot so that they keep their positions. */
static void sink_queue_drop_unheld(struct sink *s)
{
    struct sink_queue *q = &s->queue;
    size_t held = s->held < q->count ? s->held : q->count;
    if (held == 0) {
        sink_queue_pop(s);
        s->dropped++;
        return;
    }
    event_record_unref(q->ring[(q->head + held) % q->capacity]);
    for (size_t i = held; i > 0; i--)
        q->ring[(q->head + i) % q->capacity] = q->ring[(q->head + i - 1) % q->capacity];
    q->ring[q->head] = NULL;
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    s->dropped++;
}

void sink_queue_push(struct sink *s, struct event_record *r)
{
    struct sink_queue *q = &s->queue;
    if (q->count == q->capacity && s->held >= q->count) {
        event_record_unref(r); /* all held: the new record is the one to go */
        s->queued++;
        s->dropped++;
        return;
    }
    if (q->count == q->capacity)
        sink_queue_drop_unheld(s);
    q->ring[(q->head + q->count) % q->capacity] = r;
    q->count++;
    s->queued++;
}

size_t sink_pending(const struct sink *s)
{
    return s->ops->pending ? s->ops->pending(s) : sink_queue_count(s);
}

struct event_record *sink_queue_peek(const struct sink *s, size_t i)
{
    const struct sink_queue *q = &s->queue;
    if (i >= q->count)
        return NULL;
    return q->ring[(q->head + i) % q->capacity];
}

void sink_queue_pop(struct sink *s)
{
    struct sink_queue *q = &s->queue;
    if (q->count == 0)
        return;
    event_record_unref(q->ring[q->head]);
    q->ring[q->head] = NULL;
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    s->popped++;
}

void sink_queue_push_front(struct sink *s, struct event_record *r)
{
    struct sink_queue *q = &s->queue;
    if (q->count == q->capacity) {
        event_record_unref(r);
        s->dropped++;
        return;
    }
    q->head = (q->head + q->capacity - 1) % q->capacity;
    q->ring[q->head] = r;
    q->count++;
}

static void on_drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

bool sink_run_until(struct sink *s, struct ev_loop *loop, double timeout_s,
                    bool (*done)(const struct sink *s))
{
    if (!loop || done(s))
        return done(s);
    if (timeout_s < 0)
        timeout_s = 0;
    /* The deadline timer guarantees EVRUN_ONCE returns even if the transport
     * stays silent. */
    ev_timer deadline;
    ev_timer_init(&deadline, on_drain_deadline, timeout_s, 0.);
    ev_timer_start(loop, &deadline);
    ev_now_update(loop);
    double end = ev_now(loop) + timeout_s;
    while (!done(s) && ev_now(loop) < end)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &deadline);
    return done(s);
}

struct sink *sink_create(const char *spec, const struct sink_options *opts, char *err,
                         size_t errlen)
{
    if (strcmp(spec, "-") == 0)
        return jsonl_sink_new_stdout(opts->queue_size);
    if (strncmp(spec, "file:", 5) == 0) {
        if (spec[5] == '\0') {
            snprintf(err, errlen,
                     "output '%s' names no file; write it as file:/var/log/siptap/events.jsonl",
                     spec);
            return NULL;
        }
        return jsonl_sink_new_file(spec + 5, opts->queue_size, err, errlen);
    }
    if (strncmp(spec, "redis://", 8) == 0)
        return redis_sink_new(spec, opts, err, errlen);
    if (strncmp(spec, "kafka://", 8) == 0)
        return kafka_sink_new(spec, opts, err, errlen);
    if (strcmp(spec, "syslog") == 0 || strncmp(spec, "syslog:", 7) == 0)
        return syslog_sink_new(spec, opts, err, errlen);
    if (strncmp(spec, "hep://", 6) == 0)
        return hep_sink_new(spec, opts, err, errlen);
    snprintf(err, errlen,
             "unknown output '%s'; use one of: - | file:PATH | "
             "redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME] | "
             "kafka://HOST:PORT[,HOST:PORT...]/TOPIC | syslog[:FACILITY] | "
             "hep://HOST:PORT[?transport=udp|tcp&id=N&password=P&node=NAME]",
             spec);
    return NULL;
}

bool sink_check_spec(const char *spec, const struct sink_options *opts, char *err, size_t errlen)
{
    if (strcmp(spec, "-") == 0)
        return true;
    if (strncmp(spec, "file:", 5) == 0 && spec[5] != '\0')
        return true; /* opening it is the only check: left to the start */
    if (strncmp(spec, "kafka://", 8) == 0)
        return kafka_spec_check(spec, err, errlen);
    /* The others (redis, syslog, hep, and every malformed form) open
     * nothing until started: made and thrown away. */
    struct sink_options small = *opts;
    small.queue_size = 1;
    struct sink *s = sink_create(spec, &small, err, errlen);
    if (!s)
        return false;
    s->ops->destroy(s);
    return true;
}

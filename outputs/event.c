/*
 * event: building, stamping, serialising and fanning out events.
 * Serialisation happens once per event: the common fields, the body the
 * producer wrote and the pre-publish hook's members go into one buffer,
 * copied into the record at its exact size (one allocation holds the
 * record, its text and its key); sinks share it. The bus keeps no jansson
 * object: the few sinks that read fields parse the text (event_record_obj).
 */
#include "outputs/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "core/timefmt.h"
#include "outputs/sink.h"

static const char *const severity_names[] = {"info", "notice", "warning", "error", "critical"};

const char *severity_name(enum severity s)
{
    if ((unsigned)s >= sizeof(severity_names) / sizeof(severity_names[0]))
        return "info";
    return severity_names[s];
}

bool severity_parse(const char *name, enum severity *out)
{
    for (unsigned i = 0; i < sizeof(severity_names) / sizeof(severity_names[0]); i++) {
        if (strcmp(name, severity_names[i]) == 0) {
            *out = (enum severity)i;
            return true;
        }
    }
    return false;
}

struct event_record *event_record_ref(struct event_record *r)
{
    r->refs++;
    return r;
}

void event_record_unref(struct event_record *r)
{
    if (!r || --r->refs > 0)
        return;
    json_decref(r->obj);
    free(r);
}

json_t *event_record_obj(struct event_record *r)
{
    if (!r->obj)
        r->obj = json_loadb(r->text, r->len, 0, NULL);
    return r->obj;
}

bool event_extra_add(struct event_extra *x, const char *key, const char *value)
{
    if (x->count >= EVENT_EXTRA_MAX)
        return false;
    x->key[x->count] = key;
    x->value[x->count] = value;
    x->count++;
    return true;
}

void event_begin(struct event *ev, const char *type, enum severity severity, uint64_t ts_us,
                 const char *call_id, const char *trunk)
{
    /* The head named, the rest (key, subject, the inline text) zeroed. */
    *ev = (struct event){
        .type = type, .severity = severity, .ts_us = ts_us, .call_id = call_id, .trunk = trunk};
    json_writer_init_growing(&ev->body, ev->inline_text, sizeof(ev->inline_text), EVENT_MAX_BYTES);
}

void event_bus_init(struct event_bus *bus, const char *tap_name)
{
    memset(bus, 0, sizeof(*bus));
    snprintf(bus->tap, sizeof(bus->tap), "%s", tap_name ? tap_name : "siptap");
}

bool event_bus_add_sink(struct event_bus *bus, struct sink *sink)
{
    if (bus->sink_count >= EVENT_BUS_MAX_SINKS)
        return false;
    bus->sinks[bus->sink_count++] = sink;
    return true;
}

void event_bus_set_prepublish(struct event_bus *bus, event_prepublish_fn fn, void *user)
{
    bus->prepublish = fn;
    bus->prepublish_user = user;
}

static const char *first_set(const char *a, const char *b)
{
    return a && a[0] ? a : b && b[0] ? b : NULL;
}

/* The fields every event has, in the contract's order, from the opening
 * brace to tap. */
static void write_head(const struct event_bus *bus, const struct event *ev, const char *ts,
                       uint64_t seq, struct json_writer *t)
{
    json_writer_object_begin(t);
    json_writer_member_integer(t, "v", 1);
    json_writer_member_string(t, "type", ev->type);
    json_writer_member_string(t, "ts", ts);
    json_writer_member_string(t, "severity", severity_name(ev->severity));
    if (ev->call_id)
        json_writer_member_wire_string(t, "call_id", ev->call_id);
    json_writer_member_key(t, "trunk");
    if (ev->trunk)
        json_writer_string(t, ev->trunk, strlen(ev->trunk));
    else
        json_writer_null(t);
    json_writer_member_integer(t, "seq", (int64_t)seq);
    json_writer_member_string(t, "tap", bus->tap);
}

/* What follows the body: the pre-publish hook's members, the closing brace. */
static void write_tail(const struct event_extra *extra, struct json_writer *t)
{
    t->fresh = false; /* members follow the head's and the body's */
    for (size_t i = 0; i < extra->count; i++)
        json_writer_member_wire_string(t, extra->key[i], extra->value[i]);
    json_writer_object_end(t);
}

/* The record: head, body and tail joined in one allocation with the key.
 * NULL when out of memory. */
static struct event_record *record_new(const struct json_writer *head, size_t head_len,
                                       const struct json_writer *body, size_t body_len,
                                       const struct json_writer *tail, size_t tail_len,
                                       const char *key)
{
    size_t len = head_len + (body_len ? 1 + body_len : 0) + tail_len;
    size_t key_len = key ? strlen(key) + 1 : 0;
    struct event_record *r = malloc(sizeof(*r) + len + 1 + key_len);
    if (!r)
        return NULL;
    char *p = (char *)(r + 1);
    r->text = p;
    r->len = len;
    memcpy(p, head->start, head_len);
    p += head_len;
    if (body_len) {
        *p++ = ',';
        memcpy(p, body->start, body_len);
        p += body_len;
    }
    memcpy(p, tail->start, tail_len);
    p += tail_len;
    *p++ = '\0';
    r->key = key ? memcpy(p, key, key_len) : NULL;
    return r;
}

/* Queues r on every sink that accepts it; the bus's reference is dropped. */
static void fan_out(struct event_bus *bus, struct event_record *r)
{
    bus->published++;
    for (size_t i = 0; i < bus->sink_count; i++) {
        struct sink *s = bus->sinks[i];
        if (!sink_accepts(s, r))
            continue;
        sink_queue_push(s, event_record_ref(r));
        s->ops->wake(s);
    }
    event_record_unref(r);
}

uint64_t event_publish(struct event_bus *bus, struct event *ev)
{
    uint64_t seq = ++bus->seq;
    char ts[TIMEFMT_RFC3339_LEN];
    timefmt_rfc3339(ev->ts_us, ts, sizeof(ts));
    struct event_info info = {ev->type, ev->severity, ts, ev->call_id,
                              ev->trunk ? ev->trunk : ev->subject};
    struct event_extra extra = {0};
    if (bus->prepublish)
        bus->prepublish(bus->prepublish_user, &info, &extra);

    char head_text[1024], tail_text[512];
    struct json_writer head, tail;
    json_writer_init_growing(&head, head_text, sizeof(head_text), 1u << 20);
    json_writer_init_growing(&tail, tail_text, sizeof(tail_text), 1u << 20);
    write_head(bus, ev, ts, seq, &head);
    write_tail(&extra, &tail);
    size_t head_len = json_writer_finish(&head), body_len = json_writer_finish(&ev->body);
    size_t tail_len = json_writer_finish(&tail);
    struct event_record *r = NULL;
    if (head_len && tail_len && !ev->body.failed)
        r = record_new(&head, head_len, &ev->body, body_len, &tail, tail_len,
                       ev->key ? ev->key : first_set(ev->call_id, ev->trunk));
    if (r) {
        r->refs = 1;
        size_t type_len = strnlen(ev->type, sizeof(r->type) - 1);
        memcpy(r->type, ev->type, type_len);
        r->type[type_len] = '\0';
        r->severity = ev->severity;
        r->seq = seq;
        r->ts_us = ev->ts_us;
        r->obj = NULL;
        fan_out(bus, r);
    } else {
        bus->serialise_failures++;
    }
    json_writer_release(&head);
    json_writer_release(&tail);
    json_writer_release(&ev->body);
    return seq;
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool event_bus_settled(const struct event_bus *bus, const bool *skip)
{
    for (size_t i = 0; i < bus->sink_count; i++)
        if ((!skip || !skip[i]) && sink_pending(bus->sinks[i]) > 0)
            return false;
    return true;
}

static void on_drain_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* Sinks that say what they hold (ops->pending) first: their drain only
 * starts things. Then the others, whose drain may wait (the time left). */
static void event_bus_start_drains(struct event_bus *bus, double end)
{
    for (int waits = 0; waits < 2; waits++) {
        for (size_t i = 0; i < bus->sink_count; i++) {
            struct sink *s = bus->sinks[i];
            if ((s->ops->pending == NULL) != waits)
                continue;
            double left = end - monotonic_s();
            s->ops->drain(s, left > 0 ? left : 0);
        }
    }
}

bool event_bus_drain(struct event_bus *bus, struct ev_loop *loop, double timeout_s,
                     const bool *skip)
{
    bus->drain_aborted = false;
    double end = monotonic_s() + (timeout_s > 0 ? timeout_s : 0);
    event_bus_start_drains(bus, end);
    if (!loop)
        return event_bus_settled(bus, skip);
    /* All sinks share the loop and the deadline: each progresses while the
     * others wait for their servers. The tick bounds every EVRUN_ONCE, so
     * the deadline holds even if no transport says anything. */
    ev_timer tick;
    ev_timer_init(&tick, on_drain_tick, 0.05, 0.05);
    ev_timer_start(loop, &tick);
    while (!event_bus_settled(bus, skip) && !bus->drain_aborted && monotonic_s() < end)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &tick);
    return event_bus_settled(bus, skip);
}

void event_bus_abort_drain(struct event_bus *bus)
{
    bus->drain_aborted = true;
}

/* The sink's last_error from its stats, or a default. */
static void sink_last_error(const struct sink *s, char *out, size_t outlen)
{
    json_t *o = json_object();
    if (s->ops->add_stats)
        s->ops->add_stats(s, o);
    const char *e = json_string_value(json_object_get(o, "last_error"));
    snprintf(out, outlen, "%s", e ? e : "no acknowledgement in time");
    json_decref(o);
}

uint64_t event_bus_report(const struct event_bus *bus, FILE *out)
{
    uint64_t undelivered = 0;
    for (size_t i = 0; i < bus->sink_count; i++) {
        const struct sink *s = bus->sinks[i];
        size_t left = sink_pending(s);
        undelivered += s->dropped + s->failed + left;
        fprintf(out, "siptapd: output %s: %llu delivered, %llu dropped, %llu failed", s->name,
                (unsigned long long)s->delivered, (unsigned long long)s->dropped,
                (unsigned long long)s->failed);
        if (left > 0) {
            char why[320];
            sink_last_error(s, why, sizeof(why));
            fprintf(out, ", %zu not delivered at shutdown (%s)", left, why);
        }
        fputc('\n', out);
    }
    return undelivered;
}

void event_bus_reopen(struct event_bus *bus)
{
    for (size_t i = 0; i < bus->sink_count; i++)
        if (bus->sinks[i]->ops->reopen)
            bus->sinks[i]->ops->reopen(bus->sinks[i]);
}

void event_bus_add_stats(const struct event_bus *bus, json_t *obj)
{
    for (size_t i = 0; i < bus->sink_count; i++) {
        const struct sink *s = bus->sinks[i];
        json_t *o = json_object();
        json_object_set_new_nocheck(o, "kind", json_string(s->ops->kind));
        json_object_set_new_nocheck(o, "queued", json_integer((json_int_t)sink_queue_count(s)));
        json_object_set_new_nocheck(o, "dropped", json_integer((json_int_t)s->dropped));
        json_object_set_new_nocheck(o, "delivered", json_integer((json_int_t)s->delivered));
        json_object_set_new_nocheck(o, "failed", json_integer((json_int_t)s->failed));
        if (s->ops->add_stats)
            s->ops->add_stats(s, o);
        json_object_set_new(obj, s->name, o);
    }
}

void event_bus_destroy(struct event_bus *bus)
{
    for (size_t i = 0; i < bus->sink_count; i++)
        bus->sinks[i]->ops->destroy(bus->sinks[i]);
    bus->sink_count = 0;
}

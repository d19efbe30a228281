/*
 * event: building, stamping, serialising and fanning out events.
 * Serialisation happens once per event; sinks share the resulting text.
 * A jansson event is written into a stack buffer (json_write) and copied
 * out at its exact size; an event whose members came as text is written
 * straight into its record's buffer. The bus keeps no jansson object after
 * publishing: the few sinks that read fields parse the text
 * (event_record_obj).
 */
#include "outputs/event.h"
#include "outputs/json_write.h"

#include "core/json_text.h"

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
    free(r->text);
    free(r->key);
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

json_t *event_wire_string(const char *s)
{
    json_t *v = json_string(s);
    if (v)
        return v;
    /* Not valid UTF-8: each stray byte becomes U+FFFD, as json_text writes it. */
    size_t len = strlen(s);
    char *fixed = malloc(3 * len + 1);
    if (!fixed)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = json_text_utf8_length((const unsigned char *)s + i, len - i);
        if (n) {
            memcpy(fixed + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(fixed + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    fixed[o] = '\0';
    v = json_string(fixed);
    free(fixed);
    return v;
}

json_t *event_new(const char *type, enum severity severity, uint64_t ts_us, const char *call_id,
                  const char *trunk)
{
    char ts[TIMEFMT_RFC3339_LEN];
    json_t *ev = json_object();
    json_object_set_new_nocheck(ev, "v", json_integer(1));
    json_object_set_new_nocheck(ev, "type", json_string(type));
    json_object_set_new_nocheck(ev, "ts", json_string(timefmt_rfc3339(ts_us, ts, sizeof(ts))));
    json_object_set_new_nocheck(ev, "severity", json_string(severity_name(severity)));
    if (call_id)
        json_object_set_new_nocheck(ev, "call_id", event_wire_string(call_id));
    json_object_set_new_nocheck(ev, "trunk", trunk ? json_string(trunk) : json_null());
    /* Placeholders keep the field order stable: seq and tap are stamped at publish. */
    json_object_set_new_nocheck(ev, "seq", json_integer(0));
    json_object_set_new_nocheck(ev, "tap", json_string(""));
    return ev;
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

static const char *default_key(json_t *ev)
{
    static const char *const fields[] = {"call_id", "trunk", "aor"};
    for (unsigned i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(ev, fields[i]));
        if (v && *v)
            return v;
    }
    return NULL;
}

/* ev as one compact line, malloc'd; NULL on failure. */
static char *event_dump(const json_t *ev)
{
    const size_t flags =
        JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10);
    char stack[8192];
    size_t n = json_write(ev, stack, sizeof(stack));
    if (n == 0) /* too long, or a string jansson would refuse too: its way */
        return json_dumps(ev, flags);
    char *text = malloc(n + 1);
    if (text) {
        memcpy(text, stack, n);
        text[n] = '\0';
    }
    return text;
}

/* A record for text, queued on every sink that accepts it; the bus's
 * reference is dropped. text is taken over (freed on failure). */
static void fan_out(struct event_bus *bus, char *text, size_t len, const char *key,
                    const char *type, enum severity severity, uint64_t seq)
{
    struct event_record *r = text ? calloc(1, sizeof(*r)) : NULL;
    if (!r) {
        bus->serialise_failures++;
        free(text);
        return;
    }
    r->refs = 1;
    r->text = text;
    r->len = len;
    r->key = key ? strdup(key) : NULL;
    snprintf(r->type, sizeof(r->type), "%s", type ? type : "");
    r->severity = severity;
    r->seq = seq;
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

static void prepublish(struct event_bus *bus, const struct event_info *info,
                       struct event_extra *extra)
{
    extra->count = 0;
    if (bus->prepublish)
        bus->prepublish(bus->prepublish_user, info, extra);
}

uint64_t event_bus_publish(struct event_bus *bus, json_t *ev, const char *key)
{
    uint64_t seq = ++bus->seq;
    json_object_set_new_nocheck(ev, "seq", json_integer((json_int_t)seq));
    json_object_set_new_nocheck(ev, "tap", json_string(bus->tap));
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *sev = json_string_value(json_object_get(ev, "severity"));
    enum severity severity = SEVERITY_INFO;
    if (!sev || !severity_parse(sev, &severity))
        severity = SEVERITY_INFO;
    const char *trunk = json_string_value(json_object_get(ev, "trunk"));
    struct event_info info = {type, severity, json_string_value(json_object_get(ev, "ts")),
                              json_string_value(json_object_get(ev, "call_id")),
                              trunk ? trunk : json_string_value(json_object_get(ev, "peer"))};
    struct event_extra extra;
    prepublish(bus, &info, &extra);
    for (size_t i = 0; i < extra.count; i++)
        json_object_set_new(ev, extra.key[i], json_string(extra.value[i]));

    /* type and the default key point into ev: fan_out copies them first. */
    char *text = event_dump(ev);
    fan_out(bus, text, text ? strlen(text) : 0, key ? key : default_key(ev), type, severity, seq);
    json_decref(ev);
    return seq;
}

uint64_t event_bus_publish_members(struct event_bus *bus, const struct event_head *head,
                                   const char *members, size_t len)
{
    uint64_t seq = ++bus->seq;
    char ts[TIMEFMT_RFC3339_LEN];
    timefmt_rfc3339(head->ts_us, ts, sizeof(ts));
    struct event_info info = {head->type, head->severity, ts, head->call_id, head->trunk};
    struct event_extra extra;
    prepublish(bus, &info, &extra);

    /* Every string may need escaping to six bytes a character. */
    size_t cap = 160 + len + 6 * (strlen(head->type) + strlen(ts) + strlen(bus->tap));
    if (head->call_id)
        cap += 6 * strlen(head->call_id);
    if (head->trunk)
        cap += 6 * strlen(head->trunk);
    for (size_t i = 0; i < extra.count; i++)
        cap += 8 + 6 * (strlen(extra.key[i]) + strlen(extra.value[i]));
    char *text = members ? malloc(cap) : NULL;
    size_t n = 0;
    if (text) {
        struct json_text t;
        json_text_init(&t, text, cap);
        json_text_object_begin(&t);
        json_text_member_integer(&t, "v", 1);
        json_text_member_string(&t, "type", head->type);
        json_text_member_string(&t, "ts", ts);
        json_text_member_string(&t, "severity", severity_name(head->severity));
        if (head->call_id)
            json_text_member_wire_string(&t, "call_id", head->call_id);
        json_text_member_key(&t, "trunk");
        if (head->trunk)
            json_text_string(&t, head->trunk, strlen(head->trunk));
        else
            json_text_null(&t);
        json_text_member_integer(&t, "seq", (int64_t)seq);
        json_text_member_string(&t, "tap", bus->tap);
        json_text_fragment(&t, members, len);
        for (size_t i = 0; i < extra.count; i++)
            json_text_member_wire_string(&t, extra.key[i], extra.value[i]);
        json_text_object_end(&t);
        n = json_text_finish(&t);
        if (n == 0) {
            free(text);
            text = NULL;
        }
    }
    const char *key = head->call_id && head->call_id[0] ? head->call_id
                      : head->trunk && head->trunk[0]   ? head->trunk
                                                        : NULL;
    fan_out(bus, text, n, key, head->type, head->severity, seq);
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

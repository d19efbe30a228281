/*
 * event: building, stamping, serialising and fanning out events.
 * Serialisation happens once per event; sinks share the resulting text.
 * The text is first dumped into a stack buffer (json_dumpb) and copied out
 * at its exact size: json_dumps() grows a buffer by reallocs and then copies
 * it anyway, which showed in the per-call profile.
 */
#include "outputs/event.h"
#include "outputs/json_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        json_object_set_new_nocheck(ev, "call_id", json_string(call_id));
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

/* ev as one compact line, malloc'd, with raw (may be NULL) spliced in as
 * its last member; NULL on failure. */
static char *event_dump(const json_t *ev, const struct event_raw_member *raw)
{
    const size_t flags =
        JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10);
    char stack[8192];
    char *dumped = NULL; /* jansson's, when ours refused (too long, or a string it refuses too) */
    const char *obj = stack;
    size_t n = json_write(ev, stack, sizeof(stack));
    if (n == 0) {
        dumped = json_dumps(ev, flags);
        if (!dumped)
            return NULL;
        obj = dumped;
        n = strlen(dumped);
    }
    size_t name_len = raw ? strlen(raw->name) : 0;
    size_t extra = raw ? name_len + raw->len + 4 : 0; /* ,"name": */
    char *text = n >= 2 ? malloc(n + extra + 1) : NULL;
    if (text) {
        if (!raw) {
            memcpy(text, obj, n);
        } else {
            /* obj ends with '}': the member goes before it, after a comma
             * unless the object is empty. */
            char *p = text;
            memcpy(p, obj, n - 1);
            p += n - 1;
            if (n > 2)
                *p++ = ',';
            *p++ = '"';
            memcpy(p, raw->name, name_len);
            p += name_len;
            *p++ = '"';
            *p++ = ':';
            memcpy(p, raw->json, raw->len);
            p += raw->len;
            *p++ = '}';
            n = (size_t)(p - text);
        }
        text[n] = '\0';
    }
    free(dumped);
    return text;
}

uint64_t event_bus_publish(struct event_bus *bus, json_t *ev, const char *key)
{
    return event_bus_publish_with(bus, ev, key, NULL);
}

uint64_t event_bus_publish_with(struct event_bus *bus, json_t *ev, const char *key,
                                const struct event_raw_member *raw)
{
    uint64_t seq = ++bus->seq;
    json_object_set_new_nocheck(ev, "seq", json_integer((json_int_t)seq));
    json_object_set_new_nocheck(ev, "tap", json_string(bus->tap));
    if (bus->prepublish)
        bus->prepublish(bus->prepublish_user, ev);

    struct event_record *r = calloc(1, sizeof(*r));
    char *text = event_dump(ev, raw);
    if (!r || !text) {
        bus->serialise_failures++;
        free(r);
        free(text);
        json_decref(ev);
        return seq;
    }
    r->refs = 1;
    r->obj = ev;
    r->text = text;
    r->len = strlen(text);
    if (!key)
        key = default_key(ev);
    r->key = key ? strdup(key) : NULL;
    r->type = json_string_value(json_object_get(ev, "type"));
    const char *sev = json_string_value(json_object_get(ev, "severity"));
    if (!sev || !severity_parse(sev, &r->severity))
        r->severity = SEVERITY_INFO;
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
    return seq;
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void event_bus_drain(struct event_bus *bus, double timeout_s)
{
    /* One deadline for all: sinks share the loop, so while one drains the
     * others progress too, and the whole shutdown stays within timeout_s. */
    double end = monotonic_s() + timeout_s;
    for (size_t i = 0; i < bus->sink_count; i++) {
        double left = end - monotonic_s();
        bus->sinks[i]->ops->drain(bus->sinks[i], left > 0 ? left : 0);
    }
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

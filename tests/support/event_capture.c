/* event_capture: a sink_ops implementation that keeps each event, parsed
 * from its text and checked against the events' schema. */
#include "tests/support/event_capture.h"
#include "tests/support/daemon_events.h"
#include "tests/support/event_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/sink.h"

#define CAPTURE_MAX 4096

struct event_capture {
    struct sink base;
    json_t *events[CAPTURE_MAX];
    size_t count;
    bool skip_schema;
    char types[16384];
};

static int cap_start(struct sink *s, struct ev_loop *loop)
{
    (void)s;
    (void)loop;
    return 0;
}

static void cap_wake(struct sink *s)
{
    struct event_capture *c = (struct event_capture *)s;
    struct event_record *r;
    while ((r = sink_queue_peek(s, 0)) != NULL) {
        /* From the text, as a sink delivers it: members written as raw
         * JSON (a call_end's streams) are in the text only. */
        if (c->count < CAPTURE_MAX) {
            json_t *ev = json_loadb(r->text, r->len, 0, NULL);
            if (!ev) {
                fprintf(stderr, "event_capture: an event's text is not JSON: %s\n", r->text);
                abort();
            }
            if (!c->skip_schema)
                event_schema_check(ev);
            c->events[c->count++] = ev;
        }
        sink_queue_pop(s);
    }
}

static void cap_drain(struct sink *s, double timeout)
{
    (void)timeout;
    cap_wake(s);
}

static void cap_destroy(struct sink *s)
{
    struct event_capture *c = (struct event_capture *)s;
    for (size_t i = 0; i < c->count; i++)
        json_decref(c->events[i]);
    sink_base_destroy(s);
    free(c);
}

static const struct sink_ops cap_ops = {
    .kind = "test",
    .start = cap_start,
    .wake = cap_wake,
    .drain = cap_drain,
    .destroy = cap_destroy,
};

struct event_capture *event_capture_attach(struct event_bus *bus)
{
    struct event_capture *c = calloc(1, sizeof(*c));
    sink_base_init(&c->base, &cap_ops, "test", CAPTURE_MAX);
    event_bus_add_sink(bus, &c->base);
    return c;
}

void event_capture_skip_schema(struct event_capture *c)
{
    c->skip_schema = true;
}

size_t event_capture_count(const struct event_capture *c)
{
    return c->count;
}

json_t *event_capture_get(const struct event_capture *c, size_t i)
{
    return i < c->count ? c->events[i] : NULL;
}

size_t event_capture_count_type(const struct event_capture *c, const char *type)
{
    return events_count_type(c->events, c->count, type);
}

json_t *event_capture_find(const struct event_capture *c, const char *type, size_t n)
{
    return events_find_type(c->events, c->count, type, n);
}

const char *event_capture_types(struct event_capture *c)
{
    size_t off = 0;
    c->types[0] = '\0';
    for (size_t i = 0; i < c->count; i++) {
        const char *t = daemon_event_type(c->events[i]);
        if (strcmp(t, "stats") == 0)
            continue;
        size_t len = strlen(t);
        if (off + len + 2 >= sizeof(c->types))
            break;
        if (off)
            c->types[off++] = ',';
        memcpy(c->types + off, t, len + 1);
        off += len;
    }
    return c->types;
}

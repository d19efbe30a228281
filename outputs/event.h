/*
 * event: the event model and the bus that hands each event to every sink.
 *
 * A producer (decoder stats, call correlation, a detector) builds a jansson
 * object with event_new(), adds its own fields and publishes it. The bus
 * stamps the fields every event shares (v, seq, tap), serialises the object
 * once into an immutable, reference-counted event_record, and queues that
 * record on each sink whose filter accepts it. Publishing never blocks: each
 * sink's queue is bounded and drops its oldest record when full (counted).
 */
#ifndef SIPTAP_OUTPUTS_EVENT_H
#define SIPTAP_OUTPUTS_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum severity {
    SEVERITY_INFO,
    SEVERITY_NOTICE,
    SEVERITY_WARNING,
    SEVERITY_ERROR,
    SEVERITY_CRITICAL
};

const char *severity_name(enum severity s);
/* false if the name is not one of info, notice, warning, error, critical. */
bool severity_parse(const char *name, enum severity *out);

/* One published event, shared read-only by all sinks. */
struct event_record {
    unsigned refs;
    json_t *obj; /* the event but its raw member (event_bus_publish_with); read-only */
    char *text;  /* compact JSON, no trailing newline */
    size_t len;
    char *key; /* partitioning key: Call-ID, else trunk or AOR; may be NULL */
    const char *type;
    enum severity severity;
    uint64_t seq;
};

struct event_record *event_record_ref(struct event_record *r);
void event_record_unref(struct event_record *r);

/* A new event with v, type, ts, severity, call_id (omitted when NULL) and
 * trunk (JSON null when NULL). The caller adds the type's own fields. */
json_t *event_new(const char *type, enum severity severity, uint64_t ts_us, const char *call_id,
                  const char *trunk);

struct sink;

/* Called with every event just before it is serialised (seq and tap already
 * stamped); it may add fields (e.g. capture_path) and count it. */
typedef void (*event_prepublish_fn)(void *user, json_t *ev);

#define EVENT_BUS_MAX_SINKS 16

struct event_bus {
    struct sink *sinks[EVENT_BUS_MAX_SINKS];
    size_t sink_count;
    uint64_t seq;
    char tap[64];
    uint64_t published;
    uint64_t serialise_failures;
    event_prepublish_fn prepublish;
    void *prepublish_user;
};

void event_bus_init(struct event_bus *bus, const char *tap_name);
/* The bus takes ownership of the sink. false if the bus is full. */
bool event_bus_add_sink(struct event_bus *bus, struct sink *sink);
/* One pre-publish hook per bus; NULL fn removes it. Set after event_bus_init. */
void event_bus_set_prepublish(struct event_bus *bus, event_prepublish_fn fn, void *user);
/* Publishes ev (the bus takes the reference). key may be NULL: the bus then
 * uses call_id, trunk or aor from the event. Returns the event's seq. */
uint64_t event_bus_publish(struct event_bus *bus, json_t *ev, const char *key);
/* An event member whose value is JSON text already (core/json_text), for the
 * parts of an event too large to build as a jansson tree at every call: a
 * call_end's `streams`. name is a plain key (no character that needs
 * escaping) that ev does not have. */
struct event_raw_member {
    const char *name;
    const char *json;
    size_t len;
};
/* The same, with raw (may be NULL) written after ev's own members. The
 * record's text has it; its obj does not (in-process readers that need it
 * parse the text). */
uint64_t event_bus_publish_with(struct event_bus *bus, json_t *ev, const char *key,
                                const struct event_raw_member *raw);
/* Shutdown: lets each sink deliver what it holds, up to timeout_s in all. */
void event_bus_drain(struct event_bus *bus, double timeout_s);
/* SIGHUP: sinks that write files reopen them. */
void event_bus_reopen(struct event_bus *bus);
/* Adds {"<sink name>": {queued, dropped, delivered, ...}} per sink to obj. */
void event_bus_add_stats(const struct event_bus *bus, json_t *obj);
void event_bus_destroy(struct event_bus *bus);

#endif

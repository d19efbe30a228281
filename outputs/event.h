/*
 * event: the event model and the bus that hands each event to every sink.
 *
 * A producer (decoder stats, call correlation, a detector) builds a jansson
 * object with event_new(), adds its own fields and publishes it; the events
 * of every call (call_start, call_answer) are written as JSON text instead
 * (event_bus_publish_members). The bus stamps the fields every event shares
 * (v, seq, tap), serialises the event once into an immutable,
 * reference-counted event_record, and queues that record on each sink whose
 * filter accepts it. Publishing never blocks: each sink's queue is bounded
 * and drops its oldest record when full (counted).
 */
#ifndef SIPTAP_OUTPUTS_EVENT_H
#define SIPTAP_OUTPUTS_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ev_loop;

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

#define EVENT_TYPE_MAX 32

/* One published event, shared read-only by all sinks. */
struct event_record {
    unsigned refs;
    char *text; /* compact JSON, no trailing newline */
    size_t len;
    char *key; /* partitioning key: Call-ID, else trunk or AOR; may be NULL */
    char type[EVENT_TYPE_MAX];
    enum severity severity;
    uint64_t seq;
    json_t *obj; /* see event_record_obj */
};

struct event_record *event_record_ref(struct event_record *r);
void event_record_unref(struct event_record *r);
/* The event as a jansson object, parsed from its text on first use (the bus
 * keeps none: most events are only ever written out). Borrowed, read-only;
 * NULL only when memory is exhausted. */
json_t *event_record_obj(struct event_record *r);

/* A new event with v, type, ts, severity, call_id (omitted when NULL) and
 * trunk (JSON null when NULL). The caller adds the type's own fields. */
/* A JSON string of a string copied from the wire: each byte that is not
 * valid UTF-8 becomes U+FFFD (jansson refuses such strings). */
json_t *event_wire_string(const char *s);
json_t *event_new(const char *type, enum severity severity, uint64_t ts_us, const char *call_id,
                  const char *trunk);

/* What every event has, for producers that write their own members as JSON
 * text (event_bus_publish_members) instead of a jansson object. */
struct event_head {
    const char *type; /* shorter than EVENT_TYPE_MAX */
    enum severity severity;
    uint64_t ts_us;
    const char *call_id; /* NULL: omitted */
    const char *trunk;   /* NULL: JSON null */
};

/* What the pre-publish hook sees of an event, and the string members it may
 * add (e.g. capture_path; the strings must outlive the hook's return only
 * until the event is published, which is before event_bus_publish returns). */
struct event_info {
    const char *type;
    enum severity severity;
    const char *ts;      /* RFC 3339, as in the event */
    const char *call_id; /* NULL if none */
    /* The trunk, or for an event about a peer with no trunk (trunk_down,
     * trunk_up) its `peer` address; NULL if neither. */
    const char *trunk;
};
#define EVENT_EXTRA_MAX 4
struct event_extra {
    size_t count;
    const char *key[EVENT_EXTRA_MAX];
    const char *value[EVENT_EXTRA_MAX];
};
/* false when EVENT_EXTRA_MAX members are already added. */
bool event_extra_add(struct event_extra *x, const char *key, const char *value);

struct sink;

/* Called with every event just before it is serialised; it may add string
 * members (event_extra_add) and count it. */
typedef void (*event_prepublish_fn)(void *user, const struct event_info *info,
                                    struct event_extra *extra);

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
    bool drain_aborted;
};

void event_bus_init(struct event_bus *bus, const char *tap_name);
/* The bus takes ownership of the sink. false if the bus is full. */
bool event_bus_add_sink(struct event_bus *bus, struct sink *sink);
/* One pre-publish hook per bus; NULL fn removes it. Set after event_bus_init. */
void event_bus_set_prepublish(struct event_bus *bus, event_prepublish_fn fn, void *user);
/* Publishes ev (the bus takes the reference). key may be NULL: the bus then
 * uses call_id, trunk or aor from the event. Returns the event's seq. */
uint64_t event_bus_publish(struct event_bus *bus, json_t *ev, const char *key);
/* An event whose own members the producer wrote as a JSON text fragment
 * ("k":v,... without braces: core/json_text, e.g. json_text_member_string)
 * after the ones head gives: no jansson object is built, which made most of
 * a call's cost. The key is the Call-ID, else the trunk. members NULL: the
 * producer's text failed (did not fit); nothing is published and it counts
 * as a serialisation failure, as an event that cannot be dumped does. */
uint64_t event_bus_publish_members(struct event_bus *bus, const struct event_head *head,
                                   const char *members, size_t len);
/* Shutdown: every sink starts delivering what it holds, all at once (a
 * sink without ops->pending may wait in its own drain, after the others
 * started), and loop runs until none holds anything, timeout_s passed or
 * event_bus_abort_drain was called. Sinks whose entry in skip is true
 * (skip may be NULL) are not waited for. true when every sink waited for
 * has delivered all it held. */
bool event_bus_drain(struct event_bus *bus, struct ev_loop *loop, double timeout_s,
                     const bool *skip);
/* From a callback of the loop the drain runs (a second SIGTERM): the drain
 * returns at once. */
void event_bus_abort_drain(struct event_bus *bus);
/* At exit: one line per sink on out (delivered, dropped, failed, and what
 * it still holds, with its last error). Returns the events some sink took
 * and did not deliver: dropped + failed + still held, over all sinks. */
uint64_t event_bus_report(const struct event_bus *bus, FILE *out);
/* SIGHUP: sinks that write files reopen them. */
void event_bus_reopen(struct event_bus *bus);
/* Adds {"<sink name>": {queued, dropped, delivered, ...}} per sink to obj. */
void event_bus_add_stats(const struct event_bus *bus, json_t *obj);
void event_bus_destroy(struct event_bus *bus);

#endif

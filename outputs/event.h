/*
 * event: the event model and the bus that hands each event to every sink.
 *
 * Every producer (call correlation, a detector, the daemon's stats) builds
 * its event the same way: event_begin names what every event has, the
 * producer writes its own members as JSON text (core/json_writer), and
 * event_publish stamps the fields every event shares (v, seq, tap), writes
 * the event once into an immutable, reference-counted event_record and
 * queues that record on each sink whose filter accepts it. No tree is built
 * on the way: a tree costs an allocation per member to build and another to
 * free, which made most of a call's cost. Publishing never blocks: each sink's queue is bounded
 * and drops its oldest record when full (counted).
 */
#ifndef SIPTAP_OUTPUTS_EVENT_H
#define SIPTAP_OUTPUTS_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/json_writer.h"

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
    char *text; /* compact JSON, NUL-terminated, no trailing newline (in the record) */
    size_t len;
    char *key; /* partitioning key: Call-ID, else trunk or AOR; may be NULL (in the record) */
    char type[EVENT_TYPE_MAX];
    enum severity severity;
    uint64_t seq;
    uint64_t ts_us; /* the event's ts */
    json_t *obj;    /* see event_record_obj */
};

struct event_record *event_record_ref(struct event_record *r);
void event_record_unref(struct event_record *r);
/* The event as a jansson object, parsed from its text on first use (the bus
 * keeps none: most events are only ever written out). Borrowed, read-only;
 * NULL only when memory is exhausted. */
json_t *event_record_obj(struct event_record *r);

/* An event being built. event_begin fills in what every event has; the
 * producer writes the type's own members into `body` (core/json_writer:
 * json_writer_member_string(&ev->body, ...) and the rest), may set `key` and
 * `subject`, and hands it to event_publish, which stamps seq and tap and
 * writes the event once. The strings it points to must live until then.
 * It lives where the producer puts it (the stack, usually) and must not be
 * moved while being built: the body starts in `inline_text` and moves to the
 * heap only if it outgrows it. */
#define EVENT_INLINE_BYTES 2048
#define EVENT_MAX_BYTES    (4u << 20) /* a body larger than this is refused */
struct event {
    const char *type; /* shorter than EVENT_TYPE_MAX */
    enum severity severity;
    uint64_t ts_us;
    const char *call_id; /* NULL: omitted */
    const char *trunk;   /* NULL: JSON null */
    /* The partitioning key; NULL: call_id, else trunk, else none. */
    const char *key;
    /* What the pre-publish hook is told the event is about when it has no
     * trunk (trunk_down about a peer: its address); NULL: nothing. */
    const char *subject;
    struct json_writer body;
    char inline_text[EVENT_INLINE_BYTES];
};

void event_begin(struct event *ev, const char *type, enum severity severity, uint64_t ts_us,
                 const char *call_id, const char *trunk);

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
/* Publishes ev: {v, type, ts, severity, call_id, trunk, seq, tap, the
 * body's members, the pre-publish hook's}, one compact line, queued on
 * every sink that takes it; ev's memory is released (ev may be begun
 * again). Returns the event's seq. A body that failed (past
 * EVENT_MAX_BYTES, or memory exhausted) publishes nothing and counts as a
 * serialisation failure. */
uint64_t event_publish(struct event_bus *bus, struct event *ev);
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

/*
 * sink: where events go. One implementation per output form of `-o`
 * (jsonl: stdout and files; redis; kafka; syslog), all behind sink_ops.
 *
 * The bus pushes records into the sink's bounded queue (sink_queue_*) and
 * calls ops->wake(); the implementation delivers from the head of the queue
 * whenever its transport can take more, without ever blocking the loop.
 * When the queue is full the oldest record is dropped and counted, so a dead
 * server costs memory up to the bound and nothing else.
 */
#ifndef SIPTAP_OUTPUTS_SINK_H
#define SIPTAP_OUTPUTS_SINK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outputs/event.h"

struct ev_loop;
struct sink;

struct sink_ops {
    const char *kind;
    /* Called once the event loop exists; may start connecting. 0 or -1. */
    int (*start)(struct sink *s, struct ev_loop *loop);
    /* New records are queued: deliver what the transport can take now. */
    void (*wake)(struct sink *s);
    /* Shutdown begins: deliver what is queued as fast as possible (connect
     * at once, retry promptly). A sink with `pending` must not wait: the
     * bus runs the loop for all sinks together, up to timeout_s
     * (event_bus_drain). One without it may still wait here itself, up to
     * timeout_s (sink_run_until); the bus calls it after the others. */
    void (*drain)(struct sink *s, double timeout_s);
    /* Records not settled yet: queued, or handed to the transport and not
     * acknowledged. 0: nothing left to deliver. May be NULL: the queue's
     * count. */
    size_t (*pending)(const struct sink *s);
    /* SIGHUP (files reopen; others may ignore). May be NULL. */
    void (*reopen)(struct sink *s);
    /* Extra per-sink figures for the stats event. May be NULL. */
    void (*add_stats)(const struct sink *s, json_t *obj);
    void (*destroy)(struct sink *s);
};

struct sink_queue {
    struct event_record **ring;
    size_t capacity, head, count;
};

#define SINK_MAX_TYPES 32

struct sink {
    const struct sink_ops *ops;
    char name[160]; /* the -o text, credentials masked */
    struct sink_queue queue;
    /* Filter: an event goes to this sink if its severity >= min_severity or
     * its type is listed in types. */
    enum severity min_severity;
    char types[SINK_MAX_TYPES][32];
    size_t type_count;
    uint64_t queued, dropped, delivered, failed;
    /* Records ever removed from the head (delivered, failed or dropped).
     * A sink that sends ahead of acknowledgements names a record by its
     * absolute position popped + i. */
    uint64_t popped;
    /* The first `held` records of the queue are in the transport's hands
     * (sent, outcome not known yet): a full queue never drops them, since
     * the server may well have them. It drops the oldest record after them
     * (the held ones keep their positions), or, when every record is held,
     * the new one. 0 for sinks that hand records over for good. */
    size_t held;
};

/* Options that apply to every sink built from `-o` (config [output]). */
struct sink_options {
    size_t queue_size;
    size_t redis_maxlen;             /* approximate MAXLEN for XADD */
    unsigned redis_reply_timeout_ms; /* a connection this long without a reply is dropped */
    const char *redis_password;      /* NULL: none */
    const char *redis_user;          /* NULL: none */
    const char *const *kafka_props;  /* NULL-terminated key, value, key, value... */
    /* syslog datagram socket; NULL: $SIPTAP_SYSLOG_SOCKET, else /dev/log */
    const char *syslog_socket;
};

void sink_options_defaults(struct sink_options *o);

/* Builds a sink from an -o form. On error returns NULL and writes a message
 * that says what a right form looks like into err. */
struct sink *sink_create(const char *spec, const struct sink_options *opts, char *err,
                         size_t errlen);

/* Checks an -o form as sink_create() would, opening nothing: no file is
 * created, no connection made, no Kafka producer started. false with
 * sink_create's message in err. What only opening can tell (a file that
 * cannot be written, a server that does not answer) is left to the start. */
bool sink_check_spec(const char *spec, const struct sink_options *opts, char *err, size_t errlen);

/* For implementations: initialise the shared part. */
bool sink_base_init(struct sink *s, const struct sink_ops *ops, const char *name,
                    size_t queue_size);
void sink_base_destroy(struct sink *s);
bool sink_accepts(const struct sink *s, const struct event_record *r);
/* The alert rule (syslog's default filter, Redis' channel_events=alerts):
 * severity warning and above, or trunk_down, trunk_up, registration_loop. */
bool sink_is_alert(const struct event_record *r);
/* Sets the sink's filter to the alert rule. */
void sink_filter_alerts(struct sink *s);
/* Queue operations. push drops (and counts) the oldest record not held
 * when full. */
void sink_queue_push(struct sink *s, struct event_record *r);
static inline size_t sink_queue_count(const struct sink *s)
{
    return s->queue.count;
}
/* What ops->pending says, or the queue's count without it. */
size_t sink_pending(const struct sink *s);
/* i-th record from the head (0 = oldest), not removed; NULL past the end. */
struct event_record *sink_queue_peek(const struct sink *s, size_t i);
/* Removes the head record and releases the queue's reference. */
void sink_queue_pop(struct sink *s);
/* Puts back at the head a record that was taken off it (the queue takes
 * the reference): for a sink whose transport gave records back undelivered.
 * When the queue is full, r is the oldest record, so it is the one dropped
 * (counted). queued and popped are not changed. */
void sink_queue_push_front(struct sink *s, struct event_record *r);

/* Drain helper for sinks whose transport lives on the event loop: runs the
 * loop (nested is fine in libev) until done(s) is true or timeout_s passed.
 * Returns done(s). For a sink without ops->pending (see drain). */
bool sink_run_until(struct sink *s, struct ev_loop *loop, double timeout_s,
                    bool (*done)(const struct sink *s));

/* Implementations (one file each). Each parses its own -o form and, on a
 * malformed one, returns NULL with a message showing the right form. */
struct sink *jsonl_sink_new_stdout(size_t queue_size);
struct sink *jsonl_sink_new_file(const char *path, size_t queue_size, char *err, size_t errlen);
struct sink *redis_sink_new(const char *spec, const struct sink_options *opts, char *err,
                            size_t errlen);
struct sink *kafka_sink_new(const char *spec, const struct sink_options *opts, char *err,
                            size_t errlen);
/* kafka_sink_new's check of its -o form, without making a producer. */
bool kafka_spec_check(const char *spec, char *err, size_t errlen);
struct sink *syslog_sink_new(const char *spec, const struct sink_options *opts, char *err,
                             size_t errlen);

#endif

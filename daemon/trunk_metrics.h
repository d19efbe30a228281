/*
 * trunk_metrics: per-trunk call figures for the Prometheus page, kept by a
 * call observer the daemon registers on the call table.
 *
 * A call counts under its configured trunk's name, or, where no trunk
 * matches, under the peer's address (the caller's for an inbound call, the
 * callee's otherwise). Labels are capped at TRUNK_METRICS_MAX_LABELS; the
 * calls of peers past the cap count under "other". Each call counts once,
 * when it ends, with the outcome its final status and end reason give
 * (docs/kpis.md defines each outcome); calls still ringing at the end of a
 * capture, or evicted before a final response, count in no outcome.
 * siptap_trunk_up follows the trunk_down / trunk_up events (the daemon
 * hands them over as they are published): 1 until a trunk_down.
 *
 * It keeps the KPIs of docs/kpis.md too: per trunk and direction,
 * histograms of the session request delay (SRD, successful and failed),
 * post-dial delay, call duration (ACD, SDT), disconnect delay (SDD) and, at
 * call end, each audio stream's MOS, loss and jitter; per registrar trunk
 * the registration request delay (RRD) and attempts by outcome (IRA); the
 * registrations followed by state; alerts by type and trunk. The same
 * figures, over an interval, make each trunk's trunk_stats event
 * (trunk_metrics_publish_interval).
 */
#ifndef SIPTAP_DAEMON_TRUNK_METRICS_H
#define SIPTAP_DAEMON_TRUNK_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "calls/calls.h"
#include "core/buf.h"

#define TRUNK_METRICS_MAX_LABELS 256

enum trunk_outcome {
    TRUNK_OUTCOME_ANSWERED,
    TRUNK_OUTCOME_BUSY,
    TRUNK_OUTCOME_NO_ANSWER,
    TRUNK_OUTCOME_REJECTED,
    TRUNK_OUTCOME_FAILED,
    TRUNK_OUTCOME_CANCELED,
    TRUNK_OUTCOME_TIMEOUT,
    TRUNK_OUTCOME_COUNT,
    TRUNK_OUTCOME_NONE = TRUNK_OUTCOME_COUNT, /* not counted (see above) */
};

const char *trunk_outcome_name(enum trunk_outcome o);
/* The outcome of a call that has ended (docs/kpis.md). */
enum trunk_outcome trunk_outcome_of(const struct call *c, enum call_end_reason reason);

struct trunk_metrics;

/* Configured trunks get their labels at once (NULL: none). */
struct trunk_metrics *trunk_metrics_new(const struct trunk_list *trunks);
void trunk_metrics_free(struct trunk_metrics *m);
/* The observer to register with call_table_add_observer (user = m). */
void trunk_metrics_observer(struct trunk_metrics *m, struct call_observer *out);
/* A trunk_down (up false) or trunk_up event about trunk (a name or a
 * peer's address). */
void trunk_metrics_set_health(struct trunk_metrics *m, const char *trunk, bool up);
/* An alert (an event of severity warning and above) of type about trunk
 * (a trunk's name, a peer's address, or NULL): counted under the trunk's
 * label if it has one (a configured trunk, or a peer already counted),
 * else under "none". */
void trunk_metrics_alert(struct trunk_metrics *m, const char *type, const char *trunk);
/* Appends the siptap_trunk_*, siptap_stream_*, siptap_registration* and
 * siptap_alerts_total metrics; false if out's cap was hit. */
bool trunk_metrics_render(const struct trunk_metrics *m, struct buf *out);
/* Publishes one trunk_stats event per configured trunk, and per peer (or
 * "other") that had traffic, with the KPIs of the interval from start_us to
 * now_us, and starts the next interval. */
void trunk_metrics_publish_interval(struct trunk_metrics *m, struct event_bus *bus,
                                    uint64_t start_us, uint64_t now_us);

#endif

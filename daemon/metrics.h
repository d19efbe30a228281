/*
 * metrics: Prometheus text exposition on a loopback HTTP port, and the
 * event tally that it (and the replay summary) reports.
 *
 * The responder is a small libev state machine: accept, read one request
 * into a bounded buffer, answer GET /metrics, close. Sockets are
 * non-blocking, connections are few (extra ones are refused and counted) and
 * each has a deadline, so a slow or hostile scraper costs a file descriptor
 * for a few seconds and never blocks the capture. The page is rendered
 * from a metrics_view the daemon fills in at scrape time: the counters
 * registry (every decoder, SIP and calls counter appears without a list
 * here), kernel drops, active calls and RTP flows, events by type and
 * severity, and each output's queue depth, drops and deliveries.
 */
#ifndef SIPTAP_DAEMON_METRICS_H
#define SIPTAP_DAEMON_METRICS_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/counters.h"
#include "daemon/trunk_metrics.h"
#include "outputs/event.h"

#define EVENT_TALLY_MAX_TYPES 48

/* Events published, by type; alerts are those of severity warning and up. */
struct event_tally {
    char types[EVENT_TALLY_MAX_TYPES][32];
    uint64_t counts[EVENT_TALLY_MAX_TYPES];
    uint64_t alerts[EVENT_TALLY_MAX_TYPES];
    size_t count;
    uint64_t by_severity[SEVERITY_CRITICAL + 1];
    uint64_t untallied; /* types past EVENT_TALLY_MAX_TYPES */
};

void event_tally_add(struct event_tally *t, const char *type, enum severity severity);
uint64_t event_tally_get(const struct event_tally *t, const char *type);

struct metrics_view {
    const struct counters *counters;
    const struct event_bus *bus;
    const struct event_tally *tally;
    const struct trunk_metrics *trunks; /* NULL: no siptap_trunk_* metrics */
    uint64_t kernel_drops;              /* the capture's losses, each where it happened */
    uint64_t if_drops;
    uint64_t queue_drops;
    uint64_t capture_backlog; /* frames waiting in the capture queue */
    uint64_t active_calls;
    uint64_t active_rtp_flows;
    uint64_t callcap_memory_bytes;
    uint64_t tcp_buffered_bytes; /* all TCP streams' buffers */
    double uptime_s;
    /* Leave out the process_* figures: the textfile collector's file, where
     * node_exporter's own process_* would collide with them (set by
     * metrics_write_file). */
    bool without_process;
};

/* Appends the exposition text for v to out; false if out's cap was hit. */
bool metrics_render(const struct metrics_view *v, struct buf *out);
/* A label value as the exposition format wants it: backslash, double
 * quote and newline escaped (outlen: at least 3 bytes). */
void metrics_label_value(const char *in, char *out, size_t outlen);

/* Writes the exposition for v to path the way node_exporter's textfile
 * collector wants it: whole, to path.tmp first, then renamed over path, so
 * a reader never sees half a file; without the process_* figures, which
 * node_exporter serves of its own process under the same names (the HTTP
 * page has them). false with a message in err. */
bool metrics_write_file(const struct metrics_view *v, const char *path, char *err, size_t errlen);

typedef void (*metrics_view_fn)(void *user, struct metrics_view *out);

struct metrics_server;

/* address: "127.0.0.1:9977" or "[::1]:9977". NULL with a message in err. */
struct metrics_server *metrics_server_new(struct ev_loop *loop, const char *address,
                                          metrics_view_fn view, void *user,
                                          struct counters *counters, char *err, size_t errlen);
void metrics_server_free(struct metrics_server *m);
/* What a complete request head (NUL-terminated) asks for: /metrics by GET
 * or HEAD, another path (404) or another method (405). */
enum metrics_request {
    METRICS_REQUEST_GET,
    METRICS_REQUEST_HEAD,
    METRICS_REQUEST_NOT_FOUND,
    METRICS_REQUEST_BAD_METHOD,
};
enum metrics_request metrics_request_parse(const char *request);
/* Validates a listen address without binding (for --check-config). */
bool metrics_listen_parse(const char *address, char *host, size_t hostlen, char *port,
                          size_t portlen);

#endif

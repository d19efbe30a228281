/*
 * progress: what a person running `siptapd -r FILE` at a terminal sees.
 *
 * A progress line on stderr (percent of the file read, packets per second,
 * active calls), refreshed at most four times a second by a libev timer and
 * erased when the replay ends; and a readable summary at the end (packets,
 * calls started / answered / failed, alerts by type). The caller decides
 * when they apply (a terminal on stderr, or --summary); this module only
 * draws.
 */
#ifndef SIPTAP_DAEMON_PROGRESS_H
#define SIPTAP_DAEMON_PROGRESS_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "calls/calls.h"
#include "daemon/capture.h"
#include "daemon/metrics.h"

struct progress {
    struct ev_loop *loop;
    ev_timer timer;
    FILE *out;
    const struct capture *capture;
    const uint64_t *packets;
    struct call_table *calls;
    uint64_t last_packets;
    double last_time;
    bool shown; /* a line is on the terminal and must be erased */
    bool running;
};

void progress_start(struct progress *p, struct ev_loop *loop, FILE *out,
                    const struct capture *capture, const uint64_t *packets,
                    struct call_table *calls);
/* Stops refreshing and erases the line. Safe to call when never started. */
void progress_stop(struct progress *p);
/* The end-of-replay summary. */
void progress_print_summary(FILE *out, const char *source, uint64_t packets, double seconds,
                            const struct event_tally *tally);

#endif

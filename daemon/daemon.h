/*
 * daemon: the one top-level context. It owns the engine (engine/: decoders
 * -> sip/rtp -> calls -> rules -> event bus) and what surrounds it: the
 * command line, configuration, libpcap capture, libev loop, signals, the
 * outputs' sinks and operations (call captures, metrics, systemd, HEP).
 * There are no other globals: each module gets the pieces it uses.
 */
#ifndef SIPTAP_DAEMON_DAEMON_H
#define SIPTAP_DAEMON_DAEMON_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/capture.h"
#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/notify.h"
#include "daemon/progress.h"
#include "engine/engine.h"

#define DAEMON_MAX_OUTPUTS  16
#define DAEMON_MAX_TAP_NAME 63 /* as [general] tap_name (struct config) */

/* Exit status: the run went as asked but some output did not deliver every
 * event it took (dropped, failed, or still queued when the drain ended).
 * 0 means everything was delivered; 1 and 2 as in the contract. */
#define DAEMON_EXIT_UNDELIVERED 3

struct daemon_options {
    const char *config_path;
    const char *iface;
    const char *file;
    const char *bpf;
    const char *outputs[DAEMON_MAX_OUTPUTS];
    int output_count;
    /* Where an output came from: 0 for -o, else its line in the
     * configuration file ([output] output, used when no -o is given). */
    int output_lines[DAEMON_MAX_OUTPUTS];
    const char *tap_name;
    bool check_config;
    const char *user; /* -u: drop to this user after opening the capture */
    bool summary;     /* --summary: print the replay summary even without a terminal */
    /* --drain-timeout: seconds the outputs may take at exit; -1: the configuration's */
    int drain_timeout_s;
    const char *metrics_file; /* --metrics-file: overrides [metrics] file */
};

struct siptap {
    struct ev_loop *loop;
    struct config cfg;
    struct engine *engine; /* the analysis: NULL until daemon_init made it */
    struct capture capture;
    bool live;
    bool finished;
    int exit_code;

    struct timer stats_timer; /* on the engine's capture clock */
    /* trunk_stats: every cfg.trunk_stats_interval_s of capture time, the
     * current interval started at trunk_stats_start_us. */
    struct timer trunk_stats_timer;
    uint64_t trunk_stats_start_us;

    ev_signal sig_int, sig_term, sig_usr1, sig_hup;
    ev_timer wall_timer; /* live: advances the capture clock when the wire is quiet */

    /* operations: daemon/{callcap,metrics,notify,progress}.c */
    struct callcap *callcap;
    struct metrics_server *metrics;
    struct trunk_metrics *trunk_metrics; /* siptap_trunk_*: a call observer's */
    bool metrics_file_failing;           /* the last write failed (said once on stderr) */
    struct event_tally tally;
    struct notify notify;
    struct progress progress;
    bool show_summary;
    double started_at;

    /* HEP input and outputs: daemon/daemon_hep.c (NULL without either) */
    struct daemon_hep *hep;
    bool hep_in; /* -i hep://: no libpcap capture */
};

/* Parses argv into opts. Returns -1 to continue, else an exit status.
 * Where to capture may still be missing: the configuration can name it
 * ([capture] interface / file), which daemon_init() checks. */
int daemon_parse_args(int argc, char **argv, struct daemon_options *opts);
/* Builds everything from the options; 0, or an exit status (message printed). */
int daemon_init(struct siptap *d, const struct daemon_options *opts);
/* Runs the loop until the file ends or a signal stops it; returns the exit status. */
int daemon_run(struct siptap *d);
void daemon_destroy(struct siptap *d);
/* Publishes a stats event stamped at ts_us. */
void daemon_publish_stats(struct siptap *d, uint64_t ts_us);

#endif

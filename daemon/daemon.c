/*
 * daemon: command line, start-up, the event loop and shutdown.
 *
 * Time: every packet advances the capture clock (timerq) before it is
 * decoded, so timers due before the packet fire first. In live capture a
 * one-second wall timer also advances the clock when the wire is quiet,
 * lagging wall time by half a second so packets still in the kernel buffer
 * are not overtaken. At the end of a file the clock stays at the last
 * packet's time: only timers that capture time reached fire, and the
 * correlation layer closes what is still open with reason capture_end.
 * A pipe (-r -) is a file that comes slowly: no wall timer, the clock
 * follows its frames and stands still while it is quiet; the capture
 * thread reads it (capture.h), so the loop, signals and metrics go on.
 */
#include "daemon/daemon.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/timefmt.h"
#include "daemon/callcap.h"
#include "daemon/daemon_hep.h"
#include "daemon/hep_input.h"
#include "daemon/privdrop.h"
#include "outputs/sink.h"
#include "rtp/flow.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: siptapd [-c CONFIG] (-i IFACE | -r FILE) [-f BPF] [-o OUTPUT]... [options]\n"
            "\n"
            "Passive SIP/RTP tap: follows every call on a mirror port and reports trunk faults.\n"
            "\n"
            "  -i IFACE          live capture on IFACE (promiscuous)\n"
            "  -i hep://ADDR:PORT[?transport=udp|tcp]\n"
            "                    receive HEPv2/v3 from capture agents and analyse it\n"
            "  -r FILE           read a pcap/pcapng file as fast as possible, then exit;\n"
            "                    - (standard input) or a FIFO: read as it comes, to its end\n"
            "  -f BPF            capture filter (default: everything)\n"
            "  -o OUTPUT         where events go (repeatable); default with -r: -\n"
            "                      -                     JSON Lines on stdout\n"
            "                      file:PATH             JSON Lines appended to PATH\n"
            "                      redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME]\n"
            "                        [&stream_events=all|alerts][&channel_events=all|alerts]\n"
            "                                            stream: every event, channel: alerts\n"
            "                      kafka://HOST:PORT[,HOST:PORT...]/TOPIC\n"
            "                      syslog[:FACILITY]     alerts (warning and above)\n"
            "                      hep://HOST:PORT[?transport=udp|tcp&id=N&password=P&node=NAME]\n"
            "                                            HEPv3 to Homer: SIP, RTCP, alerts\n"
            "  -c CONFIG         configuration file (interface, outputs, trunks, rules);\n"
            "                    -i, -r and -o on the command line win over it\n"
            "  -n, --tap-name N  name stamped on every event (default: host name)\n"
            "  -u USER           after opening the capture, switch to USER and drop\n"
            "                    every capability (start as root)\n"
            "      --summary     with -r: print a summary at the end even without a terminal\n"
            "      --drain-timeout S  at exit, let the outputs deliver what they hold for up\n"
            "                    to S seconds (default 30, [output] drain_timeout_s)\n"
            "      --metrics-file PATH  write the Prometheus metrics to PATH (node_exporter\n"
            "                    textfile format) at exit, and every stats interval when\n"
            "                    live ([metrics] file)\n"
            "      --check-config  validate the configuration and exit (0 good, 2 bad)\n"
            "  -h, --help        this text\n"
            "  -V, --version     version\n"
            "\n"
            "exit status: 0 done, every event delivered; 1 runtime failure; 2 bad usage or\n"
            "configuration; 3 done, but some output did not deliver every event\n"
            "\n"
            "examples:\n"
            "  siptapd -r trunk.pcap                      events of a capture on stdout\n"
            "  siptapd -i eth1 -f 'udp or tcp port 5060' -o redis://127.0.0.1:6379\n"
            "  siptapd -c /etc/siptap/siptap.conf -i eth1 -o kafka://10.0.0.5:9092/voip "
            "-o syslog\n"
            "  siptapd -i eth1 -o 'hep://10.0.0.9:9060?transport=tcp&id=2001' -o -\n"
            "  siptapd -i hep://0.0.0.0:9060 -o -          analyse what HEP agents send\n");
}

static bool parse_drain_timeout(const char *arg, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || v < 0 || v > 3600) {
        fprintf(stderr,
                "siptapd: --drain-timeout '%s' must be a whole number of seconds "
                "from 0 to 3600\n",
                arg);
        return false;
    }
    *out = (int)v;
    return true;
}

int daemon_parse_args(int argc, char **argv, struct daemon_options *opts)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"tap-name", required_argument, NULL, 'n'},
        {"check-config", no_argument, NULL, 1000},
        {"summary", no_argument, NULL, 1001},
        {"drain-timeout", required_argument, NULL, 1002},
        {"metrics-file", required_argument, NULL, 1003},
        {NULL, 0, NULL, 0},
    };
    memset(opts, 0, sizeof(*opts));
    opts->drain_timeout_s = -1;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:i:r:f:o:n:u:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            opts->config_path = optarg;
            break;
        case 'i':
            opts->iface = optarg;
            break;
        case 'r':
            opts->file = optarg;
            break;
        case 'f':
            opts->bpf = optarg;
            break;
        case 'o':
            if (opts->output_count >= DAEMON_MAX_OUTPUTS) {
                fprintf(stderr, "siptapd: at most %d -o outputs\n", DAEMON_MAX_OUTPUTS);
                return 2;
            }
            opts->outputs[opts->output_count++] = optarg;
            break;
        case 'n':
            if (strlen(optarg) > DAEMON_MAX_TAP_NAME) {
                fprintf(stderr,
                        "siptapd: -n: a tap name is at most %d characters (as tap_name in "
                        "[general]); '%.20s...' has %zu\n",
                        DAEMON_MAX_TAP_NAME, optarg, strlen(optarg));
                return 2;
            }
            opts->tap_name = optarg;
            break;
        case 1000:
            opts->check_config = true;
            break;
        case 1001:
            opts->summary = true;
            break;
        case 1002:
            if (!parse_drain_timeout(optarg, &opts->drain_timeout_s))
                return 2;
            break;
        case 1003:
            if (optarg[0] != '/') {
                fprintf(stderr, "siptapd: --metrics-file '%s' must be an absolute path\n", optarg);
                return 2;
            }
            opts->metrics_file = optarg;
            break;
        case 'u':
            opts->user = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("siptapd %s\n", SIPTAP_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "siptapd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (opts->iface && opts->file) {
        fprintf(stderr, "siptapd: give exactly one of -i IFACE or -r FILE\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

/* The command line wins: the configuration's capture source applies when
 * neither -i nor -r is given, its outputs when no -o is. */
static void take_config_defaults(struct daemon_options *o, const struct config *cfg)
{
    if (!o->iface && !o->file) {
        if (cfg->interface[0])
            o->iface = cfg->interface;
        else if (cfg->capture_file[0])
            o->file = cfg->capture_file;
    }
    _Static_assert(CONFIG_MAX_OUTPUTS <= DAEMON_MAX_OUTPUTS, "every configured output fits");
    if (o->output_count == 0) {
        for (size_t i = 0; i < cfg->output_count; i++) {
            o->outputs[i] = cfg->outputs[i];
            o->output_lines[i] = cfg->output_lines[i];
        }
        o->output_count = (int)cfg->output_count;
    }
}

/* How an error about the i-th output starts: "-o SPEC" or "FILE:LINE: output = 'SPEC'". */
static void output_origin(const struct siptap *d, const struct daemon_options *opts, int i,
                          char *out, size_t outlen)
{
    if (opts->output_lines[i])
        snprintf(out, outlen, "%s:%d: output = '%s'", d->cfg.path, opts->output_lines[i],
                 opts->outputs[i]);
    else
        snprintf(out, outlen, "-o %s", opts->outputs[i]);
}

static void schedule_stats(struct siptap *d, uint64_t from_us)
{
    timerq_schedule(engine_timers(d->engine), &d->stats_timer,
                    from_us + (uint64_t)d->cfg.stats_interval_s * 1000000u);
}

#define TRUNK_STATS_CATCH_UP 60u

static void schedule_trunk_stats(struct siptap *d, uint64_t from_us)
{
    if (d->cfg.trunk_stats_interval_s && d->trunk_metrics)
        timerq_schedule(engine_timers(d->engine), &d->trunk_stats_timer,
                        from_us + (uint64_t)d->cfg.trunk_stats_interval_s * 1000000u);
}

/* The capture clock has started at now_us: the periodic events begin. */
static void start_periodic(struct siptap *d, uint64_t now_us)
{
    schedule_stats(d, now_us);
    d->trunk_stats_start_us = now_us;
    schedule_trunk_stats(d, now_us);
}

/* One trunk_stats event per trunk for the interval ending now_us. */
static void publish_trunk_stats(struct siptap *d, uint64_t now_us)
{
    trunk_metrics_publish_interval(d->trunk_metrics, engine_bus(d->engine), d->trunk_stats_start_us,
                                   now_us);
    d->trunk_stats_start_us = now_us;
}

static void on_trunk_stats_timer(struct timer *t, uint64_t now_us, void *arg)
{
    (void)t;
    struct siptap *d = arg;
    publish_trunk_stats(d, now_us);
    /* A gap in the capture has its intervals, as the live capture's clock
     * (moved by the wall clock) gives them, up to TRUNK_STATS_CATCH_UP of
     * them; past that (files merged from days apart) one interval covers
     * the rest of the gap. */
    uint64_t interval = (uint64_t)d->cfg.trunk_stats_interval_s * 1000000u;
    uint64_t target = engine_clock_target(d->engine);
    bool long_gap = target > now_us + TRUNK_STATS_CATCH_UP * interval;
    schedule_trunk_stats(d, long_gap ? target : now_us);
}

/* Resident set size of the process, 0 where /proc does not tell. */
static uint64_t rss_kb(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096) / 1024;
}

static void member_count(struct json_writer *t, const char *key, uint64_t v)
{
    json_writer_member_integer(t, key, (int64_t)v);
}

/* What every table holds now: bounded by what is alive, never by what has
 * been (bench/churn.sh watches them over ten million calls). */
static void member_tables(struct json_writer *t, const struct siptap *d)
{
    struct engine *e = d->engine;
    struct call_table_sizes s;
    call_table_sizes(engine_calls(e), &s);
    json_writer_member_key(t, "tables");
    json_writer_object_begin(t);
    member_count(t, "calls", s.calls);
    member_count(t, "registrations", s.registrations);
    member_count(t, "media_bindings", s.media_bindings);
    member_count(t, "flows", s.flows);
    member_count(t, "flows_of_no_call", s.flows_of_no_call);
    member_count(t, "flow_pool_bytes", s.flow_pool_bytes);
    member_count(t, "detector_states", rules_call_states(engine_rules(e)));
    member_count(t, "timers", timerq_count(engine_timers(e)));
    member_count(t, "tcp_streams", decoder_tcp_stream_count(engine_decoder(e)));
    member_count(t, "ip_fragments", decoder_frag_count(engine_decoder(e)));
    json_writer_object_end(t);
}

/* The outputs' own figures: each sink adds what it knows (a tree, written
 * once a stats interval). */
static void member_outputs(struct json_writer *t, const struct event_bus *bus)
{
    json_t *outputs = json_object();
    event_bus_add_stats(bus, outputs);
    char *text = json_dumps(outputs, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
                                         JSON_REAL_PRECISION(10));
    json_decref(outputs);
    json_writer_member_key(t, "outputs");
    if (text)
        json_writer_raw_value(t, text, strlen(text));
    else
        json_writer_null(t);
    free(text);
}

void daemon_publish_stats(struct siptap *d, uint64_t ts_us)
{
    struct capture_loss loss;
    capture_loss_now(&d->capture, &loss);
    struct event_bus *bus = engine_bus(d->engine);
    const struct counters *counters = engine_counters(d->engine);
    struct event ev;
    event_begin(&ev, "stats", SEVERITY_INFO, ts_us, NULL, NULL);
    ev.key = d->cfg.tap_name;
    struct json_writer *t = &ev.body;
    member_count(t, "packets", engine_packets(d->engine));
    member_count(t, "bytes", engine_bytes(d->engine));
    member_count(t, "kernel_drops", loss.kernel_drops);
    /* Every loss of the tap's own, each where it happened. */
    json_writer_member_key(t, "capture");
    json_writer_object_begin(t);
    member_count(t, "received", capture_received(&d->capture));
    member_count(t, "kernel_drops", loss.kernel_drops);
    member_count(t, "if_drops", loss.if_drops);
    member_count(t, "queue_drops", loss.queue_drops);
    member_count(t, "queue_backlog", capture_backlog(&d->capture));
    member_count(t, "queue_peak_bytes", capture_queue_peak_bytes(&d->capture));
    json_writer_object_end(t);
    member_count(t, "active_calls", call_table_active(engine_calls(d->engine)));
    member_tables(t, d);
    member_count(t, "rss_kb", rss_kb());
    /* Events published before this one. */
    member_count(t, "events", bus->published);
    json_writer_member_key(t, "counters");
    json_writer_object_begin(t);
    for (size_t i = 0; i < counters->count; i++)
        member_count(t, counters->names[i], counters->values[i]);
    json_writer_object_end(t);
    member_outputs(t, bus);
    event_publish(bus, &ev);
}

static void fill_metrics_view(void *user, struct metrics_view *v);

/* [metrics] file / --metrics-file: the exposition, replaced whole. A
 * failure is said on stderr once, until a write succeeds again. */
static void write_metrics_file(struct siptap *d)
{
    if (!d->cfg.metrics_file[0])
        return;
    struct metrics_view v;
    memset(&v, 0, sizeof(v));
    fill_metrics_view(d, &v);
    char err[1200];
    bool ok = metrics_write_file(&v, d->cfg.metrics_file, err, sizeof(err));
    if (!ok && !d->metrics_file_failing)
        fprintf(stderr, "siptapd: %s\n", err);
    d->metrics_file_failing = !ok;
}

static void on_stats_timer(struct timer *t, uint64_t now_us, void *arg)
{
    (void)t;
    struct siptap *d = arg;
    daemon_publish_stats(d, now_us);
    if (d->live)
        write_metrics_file(d);
    /* Periodic, not catching up: across a gap in the capture (files are
     * often merged from days apart) one stats event is enough. */
    uint64_t target = engine_clock_target(d->engine);
    schedule_stats(d, target > now_us ? target : now_us);
}

/* ---- what the daemon watches of the engine (engine_taps) ---- */

/* Each frame, for the call captures. */
static void tap_frame(void *user, const struct pcap_pkthdr *hdr, const uint8_t *data)
{
    struct siptap *d = user;
    if (d->callcap)
        callcap_set_frame(d->callcap, hdr, data);
}

static void tap_clock_started(void *user, uint64_t ts_us)
{
    start_periodic(user, ts_us);
}

static void tap_media(void *user, const struct packet *pkt)
{
    struct siptap *d = user;
    if (d->callcap)
        callcap_frame_is_media(d->callcap);
    if (d->hep)
        daemon_hep_media(d, pkt);
}

static void tap_sip(void *user, const struct sip_msg *msg, const struct sip_meta *meta)
{
    struct siptap *d = user;
    if (d->hep)
        daemon_hep_sip(d, msg, meta);
}

static uint64_t frame_time(const struct pcap_pkthdr *hdr)
{
    return timefmt_capture_us(hdr->ts.tv_sec, hdr->ts.tv_usec);
}

static void on_batch(void *user, const struct capture_frame *frames, size_t count)
{
    struct siptap *d = user;
    /* The tap's own losses before these frames (count >= 1): calls up
     * across them say so. Once per capture batch, not per look-ahead. */
    engine_set_capture_lost(d->engine, capture_loss_total(capture_delivered_loss(&d->capture)),
                            frame_time(&frames[0].hdr));
    engine_frames(d->engine, frames, count);
}

/* Shutdown: the outputs deliver what they hold, all at once, for up to the
 * drain timeout; then the final stats (figures after the drain) go to the
 * outputs that delivered everything, and always to stderr. Events some
 * output did not deliver make the exit status DAEMON_EXIT_UNDELIVERED. */
static void drain_outputs(struct siptap *d, uint64_t now)
{
    double timeout_s = d->cfg.drain_timeout_s;
    struct event_bus *bus = engine_bus(d->engine);
    bool down[EVENT_BUS_MAX_SINKS];
    event_bus_drain(bus, d->loop, timeout_s, NULL);
    for (size_t i = 0; i < bus->sink_count; i++)
        down[i] = sink_pending(bus->sinks[i]) > 0;
    daemon_publish_stats(d, now);
    event_bus_drain(bus, d->loop, timeout_s < 2.0 ? timeout_s : 2.0, down);
    uint64_t undelivered = event_bus_report(bus, stderr);
    if (undelivered > 0 && d->exit_code == 0) {
        fprintf(stderr, "siptapd: %llu events were not delivered (exit status %d)\n",
                (unsigned long long)undelivered, DAEMON_EXIT_UNDELIVERED);
        d->exit_code = DAEMON_EXIT_UNDELIVERED;
    }
}

static void finish(struct siptap *d)
{
    if (d->finished)
        return;
    d->finished = true;
    progress_stop(&d->progress);
    notify_stopping(&d->notify);
    capture_stop(&d->capture);
    daemon_hep_stop(d);
    uint64_t now = engine_now(d->engine);
    if (!engine_clock_started(d->engine)) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        now = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    }
    engine_finish(d->engine, now);
    /* The last, partial interval: its calls all ended above. */
    if (engine_clock_started(d->engine) && d->trunk_metrics && d->cfg.trunk_stats_interval_s &&
        timer_pending(&d->trunk_stats_timer)) {
        timerq_cancel(engine_timers(d->engine), &d->trunk_stats_timer);
        publish_trunk_stats(d, now);
    }
    drain_outputs(d, now);
    write_metrics_file(d);
    ev_break(d->loop, EVBREAK_ALL);
}

/* End of the file, or live capture that failed (the interface went away). */
static void on_capture_end(void *user)
{
    struct siptap *d = user;
    if (capture_failed(&d->capture))
        d->exit_code = 1;
    finish(d);
}

/* SIGHUP: new rule parameters and severities from the same file, applied
 * without touching call state. Everything is checked before anything is
 * applied, so a broken file leaves the running rules as they were. Trunks,
 * outputs and limits are read at start only (a restart applies them). */
static void reload_rules(struct siptap *d)
{
    if (!d->cfg.path[0])
        return;
    char err[1024] = "";
    struct config *fresh = malloc(sizeof(*fresh));
    if (!fresh)
        return;
    config_defaults(fresh);
    if (!config_load(fresh, d->cfg.path, err, sizeof(err)) ||
        !rules_reload(engine_rules(d->engine), &fresh->rules, err, sizeof(err))) {
        fprintf(stderr, "siptapd: reload failed, the running rules stay: %s\n", err);
    } else {
        d->cfg.rules = fresh->rules;
        fprintf(stderr, "siptapd: rules reloaded from %s\n", d->cfg.path);
    }
    config_free(fresh);
    free(fresh);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct siptap *d = w->data;
    if (d->finished && (w->signum == SIGTERM || w->signum == SIGINT)) {
        event_bus_abort_drain(engine_bus(d->engine)); /* a second one: stop draining now */
        return;
    }
    if (w->signum == SIGUSR1) {
        daemon_publish_stats(d, engine_now(d->engine));
    } else if (w->signum == SIGHUP) {
        notify_reloading(&d->notify, false);
        reload_rules(d);
        event_bus_reopen(engine_bus(d->engine));
        notify_reloading(&d->notify, true);
    } else {
        finish(d);
    }
}

static void on_wall_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct siptap *d = w->data;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint64_t wall = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    if (daemon_hep_tick(d, wall))
        return;
    engine_start_clock(d->engine, wall);
    /* Frames still queued are older than the wall: the clock waits for them,
     * or a silence window would close before the media that ends it. */
    if (capture_backlog(&d->capture) == 0 && wall > 500000u)
        engine_tick(d->engine, wall - 500000u);
    else
        engine_tick(d->engine, engine_now(d->engine));
}

static void watch_signal(struct siptap *d, ev_signal *w, int signum)
{
    ev_signal_init(w, on_signal, signum);
    w->data = d;
    ev_signal_start(d->loop, w);
}

/* [route KIND] settings over the sink's own defaults. */
static void apply_route(const struct config *cfg, struct sink *s)
{
    for (size_t i = 0; i < cfg->route_count; i++) {
        const struct route_config *r = &cfg->routes[i];
        if (strcmp(r->kind, s->ops->kind) != 0)
            continue;
        if (r->has_min_severity)
            s->min_severity = r->min_severity;
        if (r->has_types) {
            s->type_count = r->type_count;
            memcpy(s->types, r->types, sizeof(s->types));
        }
    }
}

/* Each output is one siptapd has, written right: checked without opening
 * anything (sink_check_spec), so nothing starts. */
static bool check_outputs(struct siptap *d, const struct daemon_options *opts, char *err,
                          size_t errlen)
{
    for (int i = 0; i < opts->output_count; i++) {
        char why[448] = "", origin[1200];
        if (sink_check_spec(opts->outputs[i], &d->cfg.sink, why, sizeof(why)))
            continue;
        output_origin(d, opts, i, origin, sizeof(origin));
        snprintf(err, errlen, "%s: %s", origin, why);
        return false;
    }
    return true;
}

static int open_outputs(struct siptap *d, const struct daemon_options *opts)
{
    const char *specs[DAEMON_MAX_OUTPUTS];
    int count = opts->output_count;
    for (int i = 0; i < count; i++)
        specs[i] = opts->outputs[i];
    if (count == 0) {
        if (opts->iface) {
            fprintf(stderr, "siptapd: live capture needs at least one -o OUTPUT "
                            "(for example -o - or -o redis://127.0.0.1:6379), or output = "
                            "lines in [output] of the configuration\n");
            return 2;
        }
        specs[count++] = "-";
    }
    for (int i = 0; i < count; i++) {
        char err[512] = "", origin[1200] = "-o -";
        struct sink *s = sink_create(specs[i], &d->cfg.sink, err, sizeof(err));
        if (s)
            apply_route(&d->cfg, s);
        if (!s) {
            if (i < opts->output_count)
                output_origin(d, opts, i, origin, sizeof(origin));
            fprintf(stderr, "siptapd: %s: %s\n", origin, err);
            return 2;
        }
        event_bus_add_sink(engine_bus(d->engine), s);
    }
    return 0;
}

/* ---- operations: call captures, event tally, metrics, systemd ---- */

static void on_prepublish(void *user, const struct event_info *info, struct event_extra *extra)
{
    struct siptap *d = user;
    if (d->callcap)
        callcap_on_event(d->callcap, info, extra);
    if (d->hep)
        daemon_hep_prepublish(d, info, extra);
    event_tally_add(&d->tally, info->type, info->severity);
    if (d->trunk_metrics && info->severity >= SEVERITY_WARNING)
        trunk_metrics_alert(d->trunk_metrics, info->type, info->trunk);
    if (d->trunk_metrics && info->type &&
        (strcmp(info->type, "trunk_down") == 0 || strcmp(info->type, "trunk_up") == 0))
        trunk_metrics_set_health(d->trunk_metrics, info->trunk, info->type[6] == 'u');
}

static void fill_metrics_view(void *user, struct metrics_view *v)
{
    struct siptap *d = user;
    struct capture_loss loss;
    capture_loss_now(&d->capture, &loss);
    v->counters = engine_counters(d->engine);
    v->bus = engine_bus(d->engine);
    v->tally = &d->tally;
    v->trunks = d->trunk_metrics;
    v->kernel_drops = loss.kernel_drops;
    v->if_drops = loss.if_drops;
    v->queue_drops = loss.queue_drops;
    v->capture_backlog = capture_backlog(&d->capture);
    v->active_calls = call_table_active(engine_calls(d->engine));
    v->active_rtp_flows = hashtab_count(&call_table_flows(engine_calls(d->engine))->table);
    v->callcap_memory_bytes = d->callcap ? callcap_memory(d->callcap) : 0;
    v->tcp_buffered_bytes = decoder_tcp_buffered_bytes(engine_decoder(d->engine));
    v->uptime_s = ev_time() - d->started_at;
}

static void notify_status(void *user, char *out, size_t outlen)
{
    struct siptap *d = user;
    struct capture_loss loss;
    capture_loss_now(&d->capture, &loss);
    snprintf(out, outlen,
             "%llu packets, %zu active calls, %llu kernel drops, %llu interface drops, "
             "%llu queue drops, %llu events",
             (unsigned long long)engine_packets(d->engine),
             call_table_active(engine_calls(d->engine)), (unsigned long long)loss.kernel_drops,
             (unsigned long long)loss.if_drops, (unsigned long long)loss.queue_drops,
             (unsigned long long)engine_bus(d->engine)->published);
}

/* After the capture is open: nothing later needs root or a capability. */
static int drop_privileges(struct siptap *d, const struct daemon_options *opts)
{
    char err[512] = "";
    const char *user = opts->user ? opts->user : (d->cfg.user[0] ? d->cfg.user : NULL);
    int rc = 0;
    /* Output files are reopened on SIGHUP (logrotate) by the user. */
    for (int i = 0; user && geteuid() == 0 && i < opts->output_count; i++)
        if (strncmp(opts->outputs[i], "file:", 5) == 0 &&
            privdrop_give_file(user, opts->outputs[i] + 5, err, sizeof(err)) != 0)
            fprintf(stderr, "siptapd: %s\n", err);
    if (user)
        rc = privdrop_to_user(user, err, sizeof(err));
    else if (geteuid() != 0 && !privdrop_caps_empty())
        rc = privdrop_clear_caps(err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "siptapd: %s\n", err);
    return rc == 0 ? 0 : 1;
}

static int start_operations(struct siptap *d, const struct daemon_options *opts)
{
    char err[512] = "";
    d->started_at = ev_time();
    if (d->cfg.callcap.enabled && (d->live || d->cfg.callcap_dir_set) && !d->hep_in) {
        d->callcap =
            callcap_new(&d->cfg.callcap, engine_calls(d->engine), engine_counters(d->engine),
                        capture_datalink(&d->capture), err, sizeof(err));
        if (!d->callcap)
            fprintf(stderr, "siptapd: %s; alerts will carry no capture_path\n", err);
    }
    if (d->cfg.metrics_listen[0]) {
        d->metrics = metrics_server_new(d->loop, d->cfg.metrics_listen, fill_metrics_view, d,
                                        engine_counters(d->engine), err, sizeof(err));
        if (!d->metrics) {
            fprintf(stderr, "siptapd: %s\n", err);
            return 1;
        }
    }
    notify_start(&d->notify, d->loop, notify_status, d);
    bool terminal = isatty(STDERR_FILENO);
    if (!d->live && terminal)
        progress_start(&d->progress, d->loop, stderr, &d->capture,
                       counters_register(engine_counters(d->engine), "capture", "packets"),
                       engine_calls(d->engine));
    d->show_summary = !d->live && (terminal || opts->summary);
    return 0;
}

static int daemon_init_held(struct siptap *d, const struct daemon_options *opts);

/* From the first instruction to the watchers the loop installs, the
 * signals the daemon handles wait (blocked) instead of killing it: loading
 * the configuration, opening outputs and the capture can take a while, and a
 * supervisor may send SIGUSR1 or SIGHUP the moment it has started us. */
static void hold_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, old);
}

int daemon_init(struct siptap *d, const struct daemon_options *opts)
{
    sigset_t old_mask;
    hold_signals(&old_mask);
    int rc = daemon_init_held(d, opts);
    /* Watchers in place (or failing: then the default actions are right). */
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}

/* The taps the operations set up so far need, and no others (each is a call
 * per frame or datagram): set with the engine, and again once the
 * operations run (call captures, HEP), before the first frame. */
static void set_taps(struct siptap *d)
{
    bool hep = d->hep != NULL;
    struct engine_taps taps = {.user = d,
                               .frame = d->callcap ? tap_frame : NULL,
                               .clock_started = tap_clock_started,
                               .media = d->callcap || hep ? tap_media : NULL,
                               .sip = hep ? tap_sip : NULL};
    engine_set_taps(d->engine, &taps);
}

/* The analysis, from the configuration, with the daemon's taps and its
 * observer of calls (per-trunk metrics). */
static int start_engine(struct siptap *d)
{
    char err[1024] = "";
    struct engine_config ec = {
        .tap_name = d->cfg.tap_name,
        .decoder = d->cfg.decoder,
        .trunks = &d->cfg.trunks,
        .rules = &d->cfg.rules,
    };
    call_limits_defaults(&ec.limits);
    ec.limits.max_calls = d->cfg.max_calls;
    /* Four flows a call (audio and video, each way), as the defaults have:
     * raising max_calls alone must not leave media of the extra calls
     * refused (rtp.flows_rejected_full). */
    ec.limits.max_flows = 4 * d->cfg.max_calls;
    ec.limits.registration_idle_s = d->cfg.registration_idle_s;
    ec.limits.challenge_wait_s = d->cfg.challenge_wait_s;
    ec.limits.max_media_without_call = d->cfg.max_media_without_call;
    ec.limits.media_without_call_quiet_s = d->cfg.media_without_call_quiet_s;
    ec.limits.media_without_call_min_packets = d->cfg.media_without_call_min_packets;
    enum engine_error why;
    d->engine = engine_new(&ec, NULL, &why, err, sizeof(err));
    if (!d->engine) {
        fprintf(stderr, "siptapd: %s\n", err);
        return why == ENGINE_ERR_RULES ? 2 : 1;
    }
    set_taps(d);
    event_bus_set_prepublish(engine_bus(d->engine), on_prepublish, d);
    timer_init(&d->stats_timer, on_stats_timer, d);
    timer_init(&d->trunk_stats_timer, on_trunk_stats_timer, d);
    d->trunk_metrics = trunk_metrics_new(&d->cfg.trunks);
    struct call_observer trunk_observer;
    if (d->trunk_metrics) {
        trunk_metrics_observer(d->trunk_metrics, &trunk_observer);
        call_table_add_observer(engine_calls(d->engine), &trunk_observer);
    }
    return 0;
}

/* The exit status when the capture does not open: a filter that does not
 * compile for the source's link type, or options out of range, are usage
 * errors (2); a source that cannot be read is a failure (1). */
static int capture_exit_status(enum capture_error why)
{
    return why == CAPTURE_ERR_FILTER || why == CAPTURE_ERR_OPTIONS ? 2 : 1;
}

/* Opens -i (a HEP listener or an interface) or -r: 0, or the exit status
 * with the reason on stderr. */
static int open_source(struct siptap *d, const struct daemon_options *opts,
                       const struct capture_options *co)
{
    if (d->hep_in)
        return daemon_hep_open_input(d, opts->iface);
    char err[1024] = "";
    enum capture_error why = d->live
                                 ? capture_open_live(&d->capture, opts->iface, co, err, sizeof(err))
                                 : capture_open_file(&d->capture, opts->file, co, err, sizeof(err));
    if (why == CAPTURE_OK)
        return 0;
    fprintf(stderr, "siptapd: %s\n", err);
    return capture_exit_status(why);
}

static int daemon_init_held(struct siptap *d, const struct daemon_options *cmdline)
{
    char err[1024] = "";
    int rc;
    struct daemon_options effective = *cmdline;
    const struct daemon_options *opts = &effective;
    memset(d, 0, sizeof(*d));
    config_defaults(&d->cfg);
    if (opts->config_path && !config_load(&d->cfg, opts->config_path, err, sizeof(err))) {
        fprintf(stderr, "siptapd: %s\n", err);
        return 2;
    }
    take_config_defaults(&effective, &d->cfg);
    if (opts->metrics_file) {
        snprintf(d->cfg.metrics_file, sizeof(d->cfg.metrics_file), "%s", opts->metrics_file);
        d->cfg.metrics_file_line = 0;
    }
    /* The same checks whether asked for or starting: the same failures. */
    if (!config_check(&d->cfg, opts->bpf, opts->user, err, sizeof(err)) ||
        !check_outputs(d, opts, err, sizeof(err))) {
        fprintf(stderr, "siptapd: %s\n", err);
        return 2;
    }
    if (opts->check_config) {
        printf("%s: configuration is valid\n",
               opts->config_path ? opts->config_path : "(defaults)");
        return 0;
    }
    if (!opts->iface && !opts->file) {
        fprintf(stderr, "siptapd: give exactly one of -i IFACE or -r FILE (or set interface or "
                        "file in [capture] of the configuration)\n");
        usage(stderr);
        return 2;
    }
    if (opts->tap_name)
        snprintf(d->cfg.tap_name, sizeof(d->cfg.tap_name), "%s", opts->tap_name);
    if (opts->drain_timeout_s >= 0)
        d->cfg.drain_timeout_s = (unsigned)opts->drain_timeout_s;
    rc = start_engine(d);
    if (rc != 0)
        return rc;

    rc = open_outputs(d, opts);
    if (rc != 0)
        return rc;
    daemon_hep_find_sinks(d);

    struct capture_options co = {
        .snaplen = d->cfg.snaplen,
        .buffer_mb = d->cfg.kernel_buffer_mb,
        .timeout_ms = d->cfg.capture_timeout_ms,
        .queue_mb = d->cfg.capture_queue_mb,
        .bpf = opts->bpf ? opts->bpf : d->cfg.bpf,
    };
    d->live = opts->iface != NULL;
    d->hep_in = hep_input_is_spec(opts->iface);
    if ((rc = open_source(d, opts, &co)) != 0)
        return rc;
    /* The signal watchers go in before the privileges are dropped: a
     * SIGTERM from a supervisor that sees the process switch user must reach
     * on_signal (it runs once the loop does), not the default action. */
    d->loop = ev_default_loop(EVFLAG_AUTO);
    watch_signal(d, &d->sig_int, SIGINT);
    watch_signal(d, &d->sig_term, SIGTERM);
    watch_signal(d, &d->sig_usr1, SIGUSR1);
    watch_signal(d, &d->sig_hup, SIGHUP);
    if ((rc = drop_privileges(d, opts)) != 0)
        return rc;

    int dlt = d->hep_in ? DLT_EN10MB : capture_datalink(&d->capture);
    if (engine_set_linktype(d->engine, dlt) != 0) {
        fprintf(stderr, "siptapd: %s: link type %s (%d) is not supported\n", d->capture.source,
                pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?", dlt);
        return 2;
    }

    struct event_bus *bus = engine_bus(d->engine);
    for (size_t i = 0; i < bus->sink_count; i++)
        if (bus->sinks[i]->ops->start(bus->sinks[i], d->loop) != 0)
            fprintf(stderr, "siptapd: output %s could not start; events for it are queued\n",
                    bus->sinks[i]->name);
    if (d->live && !d->hep_in) {
        /* Live: the capture clock starts now, not with the first packet or
         * tick, so periodic timers keep their cadence on a quiet wire. */
        struct timeval tv;
        gettimeofday(&tv, NULL);
        engine_start_clock(d->engine, (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec);
    }
    if (d->live) {
        ev_timer_init(&d->wall_timer, on_wall_timer, 1.0, 1.0);
        d->wall_timer.data = d;
        ev_timer_start(d->loop, &d->wall_timer);
    }
    return start_operations(d, opts);
}

int daemon_run(struct siptap *d)
{
    if (!d->loop) /* --check-config: nothing was started */
        return 0;
    set_taps(d);
    if (d->hep_in)
        daemon_hep_start(d);
    else
        capture_start(&d->capture, d->loop, on_batch, on_capture_end, d);
    notify_ready(&d->notify);
    ev_run(d->loop, 0);
    if (d->show_summary)
        progress_print_summary(stderr, d->capture.source, engine_packets(d->engine),
                               ev_time() - d->started_at, &d->tally);
    return d->exit_code;
}

void daemon_destroy(struct siptap *d)
{
    /* The engine first: freeing its calls completes flagged call captures
     * and tells the observers (trunk metrics) their calls are gone. */
    engine_free(d->engine);
    d->engine = NULL;
    callcap_free(d->callcap);
    trunk_metrics_free(d->trunk_metrics);
    daemon_hep_free(d);
    metrics_server_free(d->metrics);
    notify_stop(&d->notify);
    capture_close(&d->capture);
    config_free(&d->cfg);
    if (d->loop)
        ev_loop_destroy(d->loop);
    d->loop = NULL;
}

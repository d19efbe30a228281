/*
 * The daemon's outside contract: command line, exit statuses, messages,
 * signals, and the stats event. Runs the built siptapd ($SIPTAPD).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/daemon_events.h"

/* The last run(): its events (stdout) and its messages (stderr, out_buf);
 * the last run_text(): all it wrote. */
static struct daemon_events run_events;
static char *out_buf, *text_buf;

/* Runs siptapd with these arguments (fmt with arg), returns its exit
 * status; its events (stdout, every one held against the schema) in
 * run_events, its stderr in out_buf. */
static int run(const char *fmt, const char *arg)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' ", getenv("SIPTAPD"));
    size_t off = strlen(cmd);
    snprintf(cmd + off, sizeof(cmd) - off, fmt, arg);
    daemon_events_free(&run_events);
    daemon_events_run_err(&run_events, cmd);
    out_buf = run_events.err;
    return run_events.status;
}

/* The same for output that is text, not events (--help, --version). */
static int run_text(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' %s", getenv("SIPTAPD"), args);
    int status;
    free(text_buf);
    text_buf = daemon_run_text(cmd, &status);
    return status;
}

/* A pcap of the given link type with frames of 60 zero bytes at the given times. */
static void write_pcap(const char *path, int dlt, const uint64_t *times_us, size_t n)
{
    pcap_t *dead = pcap_open_dead(dlt, 65535);
    pcap_dumper_t *d = pcap_dump_open(dead, path);
    cr_assert_not_null(d);
    uint8_t frame[60] = {0};
    for (size_t i = 0; i < n; i++) {
        struct pcap_pkthdr h = {.caplen = 60, .len = 60};
        h.ts.tv_sec = (time_t)(times_us[i] / 1000000u);
        h.ts.tv_usec = (suseconds_t)(times_us[i] % 1000000u);
        pcap_dump((u_char *)d, &h, frame);
    }
    pcap_dump_close(d);
    pcap_close(dead);
}

Test(cli, help_and_version)
{
    cr_assert_eq(run_text("--help"), 0);
    cr_assert(strstr(text_buf, "usage: siptapd") && strstr(text_buf, "examples:"));
    cr_assert_eq(run_text("--version"), 0);
    cr_assert(strncmp(text_buf, "siptapd ", 8) == 0);
}

Test(cli, bad_usage_is_2)
{
    cr_assert_eq(run("", ""), 2);
    cr_assert(strstr(out_buf, "exactly one of -i IFACE or -r FILE"));
    cr_assert_eq(run("-r a.pcap -i lo", ""), 2);
    cr_assert_eq(run("--no-such-flag", ""), 2);
    cr_assert_eq(run("-r a.pcap extra", ""), 2);
}

Test(cli, unreadable_file_is_1)
{
    cr_assert_eq(run("-r /nonexistent/%s", "x.pcap"), 1);
    cr_assert(strstr(out_buf, "cannot read /nonexistent/x.pcap"), "%s", out_buf);
    char path[] = "/tmp/siptap-notpcap-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(write(fd, "this is not a capture file at all", 33) == 33);
    close(fd);
    cr_assert_eq(run("-r %s", path), 1);
    unlink(path);
}

Test(cli, unsupported_link_type_is_2)
{
    char path[] = "/tmp/siptap-usb-XXXXXX";
    close(mkstemp(path));
    uint64_t t[] = {1700000000000000ULL};
    write_pcap(path, DLT_USB_LINUX, t, 1);
    cr_assert_eq(run("-r %s", path), 2);
    cr_assert(strstr(out_buf, "is not supported"), "%s", out_buf);
    unlink(path);
}

Test(cli, bad_filter_is_2)
{
    char path[] = "/tmp/siptap-eth-XXXXXX";
    close(mkstemp(path));
    uint64_t t[] = {1700000000000000ULL};
    write_pcap(path, DLT_EN10MB, t, 1);
    char args[256];
    snprintf(args, sizeof(args), "-r %s -f 'udp and and'", path);
    cr_assert_eq(run("%s", args), 2);
    cr_assert(strstr(out_buf, "bad capture filter"), "%s", out_buf);
    unlink(path);
}

/* A filter that compiles for Ethernet, as the configuration check compiles
 * it, but not for the file's link type: refused when the capture opens,
 * and still a usage error. */
Test(cli, filter_wrong_for_the_link_type_is_2)
{
    char path[] = "/tmp/siptap-sll-XXXXXX";
    close(mkstemp(path));
    uint64_t t[] = {1700000000000000ULL};
    write_pcap(path, DLT_LINUX_SLL, t, 1);
    char args[256];
    snprintf(args, sizeof(args), "-r %s -f vlan", path);
    cr_assert_eq(run("%s", args), 2);
    cr_assert(strstr(out_buf, "bad capture filter 'vlan'"), "%s", out_buf);
    unlink(path);
}

Test(cli, bad_config_names_file_and_line)
{
    char path[] = "/tmp/siptap-conf-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "[general]\ntap_name = x\n\n[limits]\nmax_calls = lots\n";
    cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char args[256];
    snprintf(args, sizeof(args), "-c %s -r /dev/null", path);
    cr_assert_eq(run("%s", args), 2);
    char want[300];
    snprintf(want, sizeof(want), "%s:5: max_calls = 'lots' must be a whole number", path);
    cr_assert(strstr(out_buf, want), "got: %s", out_buf);
    unlink(path);
}

/* Regression: a capture whose clock jumps by years gave one stats event per
 * interval of the gap (27,000 of them). Periodic timers do not catch up. */
Test(cli, stats_do_not_catch_up_across_a_gap)
{
    char path[] = "/tmp/siptap-gap-XXXXXX";
    close(mkstemp(path));
    uint64_t t[] = {1300000000000000ULL, 1300000001000000ULL, 1500000000000000ULL};
    write_pcap(path, DLT_EN10MB, t, 3);
    cr_assert_eq(run("-r %s", path), 0);
    size_t stats = daemon_events_count(&run_events, "stats");
    /* one when the clock crosses the first interval, one at the end */
    cr_assert_eq(stats, 2, "got %zu stats events", stats);
    unlink(path);
}

/* A pcap file's seconds are an unsigned 32-bit field that libpcap hands over
 * as signed: past 2038 they came negative, and the events' times wrapped to
 * the year 586000 ("586489-11-03T12:21:05.803374Z", not RFC 3339: the
 * schema check found it on a public capture). Read as Wireshark reads them. */
Test(cli, capture_times_past_2038)
{
    char path[] = "/tmp/siptap-2038-XXXXXX";
    close(mkstemp(path));
    uint64_t t[] = {3215500952000000ULL, 3215500953000000ULL};
    write_pcap(path, DLT_EN10MB, t, 2);
    cr_assert_eq(run("-r %s", path), 0, "%s", out_buf);
    bool seen = false;
    for (size_t i = 0; i < run_events.count; i++)
        seen |= strcmp(json_string_value(json_object_get(run_events.events[i], "ts")),
                       "2071-11-23T10:42:33.000000Z") == 0;
    cr_assert(seen, "no event at 2071-11-23T10:42:33.000000Z (%zu events)", run_events.count);
    unlink(path);
}

/* Live capture on loopback: SIGUSR1 writes a stats event, SIGTERM flushes
 * and exits 0. Needs the right to capture (root or CAP_NET_RAW). */
Test(cli, live_signals)
{
    if (geteuid() != 0)
        cr_skip_test("live capture on lo needs root: skipping");
    char out[] = "/tmp/siptap-live-XXXXXX";
    close(mkstemp(out));
    char spec[300];
    snprintf(spec, sizeof(spec), "file:%s", out);
    char *argv[] = {getenv("SIPTAPD"), "-i", "lo", "-f", "udp port 9", "-o", spec, "-n",
                    "livetest",        NULL};
    pid_t pid = daemon_spawn(argv, NULL, NULL);
    /* Wait until the daemon runs its loop: the capture opens within a second or two. */
    struct timespec pause = {0, 300000000};
    for (int i = 0; i < 5; i++)
        nanosleep(&pause, NULL);
    kill(pid, SIGUSR1);
    for (int i = 0; i < 3; i++)
        nanosleep(&pause, NULL);
    kill(pid, SIGTERM);
    cr_assert_eq(daemon_wait(pid, 30), 0, "siptapd did not exit 0 on SIGTERM");
    struct daemon_events got;
    cr_assert(daemon_events_read_file(&got, out));
    size_t stats = 0;
    for (const json_t *ev; (ev = daemon_events_find(&got, "stats", stats)); stats++) {
        cr_assert_str_eq(json_string_value(json_object_get(ev, "tap")), "livetest");
        cr_assert(json_is_integer(json_object_get(ev, "kernel_drops")));
    }
    daemon_events_free(&got);
    unlink(out);
    /* SIGUSR1's and the one written at exit */
    cr_assert_eq(stats, 2, "got %zu stats events", stats);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static bool file_contains(const char *path, const char *needle)
{
    char *text = daemon_read_text(path);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

/* SIGHUP reloads the rules: a broken file is refused with its line and the
 * daemon keeps running; a good one is applied. */
Test(cli, live_reload)
{
    if (geteuid() != 0)
        cr_skip_test("live capture on lo needs root: skipping");
    char conf[] = "/tmp/siptap-reload-conf-XXXXXX";
    char err[] = "/tmp/siptap-reload-err-XXXXXX";
    close(mkstemp(conf));
    close(mkstemp(err));
    write_text(conf, "[rule one_way_audio]\nwindow_s = 5\n");
    char *argv[] = {getenv("SIPTAPD"), "-c", conf, "-i", "lo", "-f", "udp port 9", "-o",
                    "file:/dev/null",  NULL};
    pid_t pid = daemon_spawn(argv, NULL, err);
    struct timespec pause = {0, 300000000};
    for (int i = 0; i < 5; i++)
        nanosleep(&pause, NULL);
    write_text(conf, "[rule one_way_audio]\nwindow_s = 5\nwindow_z = 7\n");
    kill(pid, SIGHUP);
    for (int i = 0; i < 10 && !file_contains(err, "reload failed"); i++)
        nanosleep(&pause, NULL);
    char want[200];
    snprintf(want, sizeof(want), "%s:3: unknown key 'window_z'", conf);
    cr_assert(file_contains(err, want), "stderr lacks '%s'", want);
    write_text(conf, "[rule one_way_audio]\nwindow_s = 9\n");
    kill(pid, SIGHUP);
    for (int i = 0; i < 10 && !file_contains(err, "rules reloaded"); i++)
        nanosleep(&pause, NULL);
    cr_assert(file_contains(err, "rules reloaded"));
    kill(pid, SIGTERM);
    cr_assert_eq(daemon_wait(pid, 30), 0);
    unlink(conf);
    unlink(err);
}

/* Events in a file output (each held against the schema); -1 if there is
 * no such file. */
static int lines_of(const char *path)
{
    struct daemon_events got;
    if (!daemon_events_read_file(&got, path))
        return -1;
    int n = (int)got.count;
    daemon_events_free(&got);
    return n;
}

/* The configuration can say where to capture ([capture] file / interface)
 * and where events go ([output] output, one per line); -r / -i and -o on
 * the command line win over it. */
Test(cli, the_configuration_holds_the_source_and_the_outputs)
{
    char dir[] = "/tmp/siptap-where-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    char conf[300], a[300], b[300], c[300], text[2048], args[1024];
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(a, sizeof(a), "%s/a.jsonl", dir);
    snprintf(b, sizeof(b), "%s/b.jsonl", dir);
    snprintf(c, sizeof(c), "%s/c.jsonl", dir);
    snprintf(text, sizeof(text),
             "[capture]\nfile = %s/samples/demo.pcap\n[output]\noutput = file:%s\n"
             "output = file:%s\n",
             root, a, b);
    write_text(conf, text);

    cr_assert_eq(run("-c %s", conf), 0, "%s", out_buf);
    int events = lines_of(a);
    cr_assert_gt(events, 10, "the demo's events in the first output: %d", events);
    cr_assert_eq(lines_of(b), events, "the second output has what the first has");

    /* -o replaces the file's outputs. */
    unlink(a);
    unlink(b);
    snprintf(args, sizeof(args), "-c %s -o file:%s", conf, c);
    cr_assert_eq(run("%s", args), 0, "%s", out_buf);
    cr_assert_eq(lines_of(c), events);
    cr_assert_eq(lines_of(a), -1, "-o must replace the configured outputs");
    cr_assert_eq(lines_of(b), -1, "-o must replace the configured outputs");

    /* -r replaces the file's capture source. */
    snprintf(text, sizeof(text), "[capture]\nfile = %s/no-such.pcap\n[output]\noutput = file:%s\n",
             dir, a);
    write_text(conf, text);
    snprintf(args, sizeof(args), "-c %s -r %s/samples/demo.pcap", conf, root);
    cr_assert_eq(run("%s", args), 0, "%s", out_buf);
    cr_assert_eq(lines_of(a), events);
    /* ... and without -r the file's source is the one read. */
    cr_assert_eq(run("-c %s", conf), 1, "%s", out_buf);
    cr_assert(strstr(out_buf, "no-such.pcap"), "%s", out_buf);

    unlink(a);
    unlink(c);
    unlink(conf);
    rmdir(dir);
}

/* [route KIND] decides which events an output takes. */
Test(cli, route_filters_an_output)
{
    char conf[] = "/tmp/siptap-route-XXXXXX";
    char out[] = "/tmp/siptap-route-out-XXXXXX";
    close(mkstemp(conf));
    close(mkstemp(out));
    write_text(conf, "[route jsonl]\nmin_severity = error\ntypes = call_start\n");
    char args[512];
    snprintf(args, sizeof(args), "-c %s -r %s/samples/demo.pcap -o file:%s", conf,
             getenv("SIPTAP_SOURCE_ROOT"), out);
    cr_assert_eq(run("%s", args), 0, "%s", out_buf);
    struct daemon_events got;
    cr_assert(daemon_events_read_file(&got, out));
    int starts = 0, others = 0;
    for (size_t i = 0; i < got.count; i++) {
        const char *type = daemon_event_type(got.events[i]);
        const char *sev = json_string_value(json_object_get(got.events[i], "severity"));
        if (!strcmp(type, "call_start"))
            starts++;
        else {
            others++;
            cr_assert(!strcmp(sev, "error") || !strcmp(sev, "critical"), "%s got through", type);
        }
    }
    daemon_events_free(&got);
    cr_assert_eq(starts, 4, "the demo's four calls");
    cr_assert_gt(others, 0, "the demo's missing ACK is an error-level call_drop");
    unlink(conf);
    unlink(out);
}

/* Live capture on a quiet wire: the capture clock follows wall time, so
 * periodic timers (here the stats interval of 1 s) still fire. */
Test(cli, live_clock_follows_wall_time_when_quiet)
{
    if (geteuid() != 0)
        cr_skip_test("live capture on lo needs root: skipping");
    char conf[] = "/tmp/siptap-quiet-conf-XXXXXX";
    char out[] = "/tmp/siptap-quiet-out-XXXXXX";
    close(mkstemp(conf));
    close(mkstemp(out));
    write_text(conf, "[general]\nstats_interval = 1\n");
    char spec[300];
    snprintf(spec, sizeof(spec), "file:%s", out);
    /* A filter no traffic matches: the wire stays quiet. */
    char *argv[] = {getenv("SIPTAPD"), "-c", conf, "-i", "lo", "-f",
                    "udp port 7",      "-o", spec, NULL};
    pid_t pid = daemon_spawn(argv, NULL, NULL);
    struct timespec pause = {0, 500000000};
    for (int i = 0; i < 10; i++)
        nanosleep(&pause, NULL);
    kill(pid, SIGTERM);
    cr_assert_eq(daemon_wait(pid, 30), 0);
    struct daemon_events got;
    cr_assert(daemon_events_read_file(&got, out));
    int stats = (int)daemon_events_count(&got, "stats");
    daemon_events_free(&got);
    /* ~5 s of wall time at 1 s intervals (minus start-up), plus the one at exit */
    cr_assert_geq(stats, 3, "only %d stats events: the clock did not follow wall time", stats);
    unlink(conf);
    unlink(out);
}

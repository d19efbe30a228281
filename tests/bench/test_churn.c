/*
 * Calls that come and go leave nothing behind (issue #23): bench/gen_load
 * --churn piped into `siptapd -r -` (20,000 calls, 500 at once, from
 * registering phones); every stats event's `tables` must stay bounded by
 * what is alive, and once every call has ended and lingered (the capture's
 * last packet comes 120 s after the last call) no table may hold anything
 * of a call. bench/churn.sh runs the same over ten million calls for RSS.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/event_schema.h"

static const char *env(const char *var)
{
    const char *v = getenv(var);
    cr_assert_not_null(v, "%s is set by tests/bench/meson.build", var);
    return v;
}

#define MAX_STATS 256

struct churn_run {
    json_t *stats[MAX_STATS]; /* in order; the last one after the capture's end */
    size_t stats_count;
    size_t call_ends;
};

/* Runs gen_load --churn CALLS CONCURRENT into siptapd -r - and keeps its
 * stats events. */
static void run_churn(struct churn_run *r, long calls, long concurrent)
{
    char conf[] = "/tmp/siptap-churn-XXXXXX";
    int fd = mkstemp(conf);
    cr_assert_geq(fd, 0);
    const char text[] = "[general]\nstats_interval = 10\n";
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s --churn - %ld %ld 2>/dev/null | %s -c %s -r - -o - 2>/dev/null",
             env("GEN_LOAD"), calls, concurrent, env("SIPTAPD"), conf);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    memset(r, 0, sizeof(*r));
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    while (fgets(line, (int)cap, p)) {
        if (strstr(line, "\"type\":\"call_end\""))
            r->call_ends++;
        if (!strstr(line, "\"type\":\"stats\""))
            continue;
        json_error_t err;
        json_t *ev = json_loads(line, 0, &err);
        cr_assert_not_null(ev, "stats event does not parse: %s", err.text);
        event_schema_check(ev);
        cr_assert_lt(r->stats_count, MAX_STATS);
        r->stats[r->stats_count++] = ev;
    }
    free(line);
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    unlink(conf);
}

static void free_run(struct churn_run *r)
{
    for (size_t i = 0; i < r->stats_count; i++)
        json_decref(r->stats[i]);
}

static long long table(const json_t *stats, const char *name)
{
    const json_t *v = json_object_get(json_object_get(stats, "tables"), name);
    cr_assert(json_is_integer(v), "stats.tables.%s missing", name);
    return json_integer_value(v);
}

Test(churn, calls_that_come_and_go_leave_nothing_behind, .timeout = 600)
{
    struct churn_run one, r;
    run_churn(&one, 1, 1); /* the tables of a tap with nothing alive */
    run_churn(&r, 20000, 500);
    cr_assert_eq(r.call_ends, 20000);
    cr_assert_geq(r.stats_count, 12, "a stats event every 10 s of ~184 s");

    /* Bounded by what is alive: 500 calls up, ~109 starting a second, each
     * kept 2 s for its late media and 32 s lingering (~4,300), two flows
     * each; and flat: the last third of the run holds no more than the
     * middle third. */
    long long peak_mid = 0, peak_last = 0;
    size_t n = r.stats_count - 1; /* during the calls */
    for (size_t i = 0; i < n; i++) {
        long long calls = table(r.stats[i], "calls");
        cr_assert_leq(calls, 5000, "stats %zu: %lld calls held for 500 alive", i, calls);
        cr_assert_leq(table(r.stats[i], "flows"), 2 * calls + 10);
        cr_assert_leq(table(r.stats[i], "detector_states"), calls);
        cr_assert_leq(table(r.stats[i], "media_bindings"), 8 * calls);
        if (i >= n / 3 && i < 2 * n / 3 && calls > peak_mid)
            peak_mid = calls;
        if (i >= 2 * n / 3 && i < n - 1 && calls > peak_last) /* n-1: calls stop starting */
            peak_last = calls;
    }
    cr_assert_gt(peak_mid, 3000, "the run reached its steady state");
    cr_assert_leq(peak_last, peak_mid + peak_mid / 100);

    /* 120 s after the last call: nothing of any call is left. */
    const json_t *end = r.stats[r.stats_count - 1];
    const json_t *idle = one.stats[one.stats_count - 1];
    static const char *const gone[] = {
        "calls",           "media_bindings", "flows",       "flows_of_no_call",
        "detector_states", "tcp_streams",    "ip_fragments"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        cr_assert_eq(table(end, gone[i]), 0, "%s still held after every call ended", gone[i]);
    cr_assert_eq(table(end, "timers"), table(idle, "timers"), "only the tap's own timers are left");
    /* The phones stay registered (Expires 600, refreshed): one each. */
    cr_assert_eq(table(end, "registrations"), 20000);
    cr_assert_eq(json_integer_value(json_object_get(end, "active_calls")), 0);
    cr_assert_gt(json_integer_value(json_object_get(end, "rss_kb")), 0);
    free_run(&one);
    free_run(&r);
}

/* -r - reads the capture from standard input: the same events as the file. */
Test(churn, a_capture_on_standard_input_is_the_file)
{
    char a[4096], b[4096];
    const char *root = env("SIPTAP_SOURCE_ROOT");
    snprintf(a, sizeof(a), "%s -r %s/samples/demo.pcap -o - 2>/dev/null | grep -v '\"stats\"'",
             env("SIPTAPD"), root);
    snprintf(b, sizeof(b), "%s -r - -o - <%s/samples/demo.pcap 2>/dev/null | grep -v '\"stats\"'",
             env("SIPTAPD"), root);
    FILE *pa = popen(a, "r"), *pb = popen(b, "r");
    cr_assert(pa && pb);
    static char la[1 << 16], lb[1 << 16];
    size_t lines = 0;
    for (;;) {
        char *ra = fgets(la, sizeof(la), pa), *rb = fgets(lb, sizeof(lb), pb);
        if (!ra || !rb) {
            cr_assert(!ra && !rb, "one run gave more events than the other");
            break;
        }
        cr_assert_str_eq(la, lb);
        lines++;
    }
    pclose(pa);
    pclose(pb);
    /* The demo's 15 events and its two peers' trunk_stats. */
    cr_assert_eq(lines, 17, "the demo's 15 events and 2 trunk_stats");
}

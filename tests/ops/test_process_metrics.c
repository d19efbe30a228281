/*
 * process_* metrics: /proc/PID/stat is parsed field by field (a command
 * name with spaces and parentheses included), the figures read for this
 * very process match what the test knows of itself (descriptors it opens,
 * its limit, a start time a moment ago), each metric has HELP and TYPE, a
 * figure that cannot be read is left off, and siptapd's --metrics-file
 * carries all six.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "daemon/process_metrics.h"
#include "ops_util.h"

/* A real line's shape (proc(5)): pid, (comm), state, then fields 4 to 52. */
static const char stat_line[] =
    "4242 (sip tap) (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 "
    "250 125 0 0 20 0 3 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 "
    "4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

Test(process_metrics, stat_line_fields)
{
    struct process_figures f = {0};
    cr_assert(process_stat_parse(stat_line, 100, 4096, 1700000000.0, &f));
    cr_assert(f.have_stat);
    cr_assert_float_eq(f.cpu_seconds, 3.75, 1e-9); /* (250 + 125) / 100 */
    cr_assert_float_eq(f.start_time_s, 1700000000.0 + 1234.56, 1e-6);
    cr_assert_eq(f.virtual_bytes, 987654321u);
    cr_assert_eq(f.resident_bytes, 2048u * 4096u);
}

Test(process_metrics, malformed_stat_is_refused)
{
    struct process_figures f = {0};
    cr_assert_not(process_stat_parse("4242 sip tap S 1 2 3", 100, 4096, 0, &f));
    cr_assert_not(process_stat_parse("4242 (siptapd) S 1 2 3\n", 100, 4096, 0, &f));
    cr_assert_not(process_stat_parse(stat_line, 0, 4096, 0, &f));
    cr_assert_not(f.have_stat);
}

static uint64_t open_fds_now(void)
{
    struct process_figures f;
    process_figures_read(&f);
    cr_assert(f.have_fds, "/proc/self/fd unreadable");
    return f.open_fds;
}

Test(process_metrics, figures_of_this_process)
{
    struct process_figures f;
    process_figures_read(&f);
    cr_assert(f.have_stat && f.have_fds && f.have_max_fds);
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert_eq(f.max_fds, (uint64_t)rl.rlim_cur);
    cr_assert_gt(f.resident_bytes, 0);
    cr_assert_geq(f.virtual_bytes, f.resident_bytes);
    cr_assert_geq(f.cpu_seconds, 0.0);
    /* Criterion forks each test: this process started a moment ago (btime
     * has one-second steps, ticks 10 ms). */
    double now = (double)time(NULL);
    cr_assert(f.start_time_s > now - 120 && f.start_time_s < now + 2, "start %.2f, now %.0f",
              f.start_time_s, now);
    /* Every descriptor open, counted another way; the listing's own is not. */
    uint64_t before = open_fds_now(), open_now = 0;
    for (int fd = 0; fd < 65536 && (rlim_t)fd < rl.rlim_cur; fd++)
        open_now += fcntl(fd, F_GETFD) != -1;
    cr_assert_eq(before, open_now);
    /* Three more descriptors, three more counted. */
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = open("/dev/null", O_RDONLY);
    cr_assert_eq(open_fds_now(), before + 3);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    cr_assert_eq(open_fds_now(), before);
}

static char *render(const struct process_figures *f)
{
    struct buf out;
    buf_init(&out, 1 << 16);
    cr_assert(process_metrics_render_figures(f, &out));
    cr_assert(buf_append(&out, "", 1));
    return (char *)out.data;
}

static const char *const names[] = {"process_cpu_seconds_total",
                                    "process_resident_memory_bytes",
                                    "process_virtual_memory_bytes",
                                    "process_start_time_seconds",
                                    "process_open_fds",
                                    "process_max_fds"};
static const char *const types[] = {"counter", "gauge", "gauge", "gauge", "gauge", "gauge"};

Test(process_metrics, each_has_help_and_type)
{
    struct process_figures f = {.have_stat = true,
                                .cpu_seconds = 1.5,
                                .resident_bytes = 3,
                                .virtual_bytes = 4,
                                .start_time_s = 1700000000.25,
                                .have_fds = true,
                                .open_fds = 7,
                                .have_max_fds = true,
                                .max_fds = 1024};
    char *text = render(&f);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "# HELP %s ", names[i]);
        cr_assert(strstr(text, want), "no HELP for %s:\n%s", names[i], text);
        snprintf(want, sizeof(want), "# TYPE %s %s\n", names[i], types[i]);
        cr_assert(strstr(text, want), "no '%s':\n%s", want, text);
    }
    cr_assert(strstr(text, "\nprocess_cpu_seconds_total 1.50\n"), "%s", text);
    cr_assert(strstr(text, "\nprocess_start_time_seconds 1700000000.25\n"), "%s", text);
    cr_assert(strstr(text, "\nprocess_open_fds 7\n"));
    cr_assert(strstr(text, "\nprocess_max_fds 1024\n"));
    free(text);
}

/* No /proc: nothing said rather than zeros. */
Test(process_metrics, unreadable_figures_are_left_off)
{
    struct process_figures f = {.have_max_fds = true, .max_fds = 1024};
    char *text = render(&f);
    cr_assert_null(strstr(text, "process_cpu_seconds_total"), "%s", text);
    cr_assert_null(strstr(text, "process_open_fds"), "%s", text);
    cr_assert(strstr(text, "process_max_fds 1024\n"));
    free(text);
}

/* siptapd's HTTP page has them (a real Prometheus scrapes it in
 * test_prometheus.c); its metrics file does not: node_exporter's textfile
 * collector serves its own process_* under the same names, and two series
 * of one name fail its scrape. */
Test(process_metrics, siptapd_metrics_file_leaves_them_to_node_exporter)
{
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    cr_assert(root && ops_siptapd(), "SIPTAP_SOURCE_ROOT and SIPTAPD must be set");
    char dir[128], pcap[512], prom[256], err[256];
    ops_tmpdir(dir, sizeof(dir));
    snprintf(pcap, sizeof(pcap), "%s/samples/demo.pcap", root);
    snprintf(prom, sizeof(prom), "%s/siptap.prom", dir);
    snprintf(err, sizeof(err), "%s/stderr", dir);
    char *argv[] = {(char *)ops_siptapd(), "-r", pcap, "-o", "file:/dev/null",
                    "--metrics-file",      prom, NULL};
    cr_assert_eq(ops_run(argv, NULL, err), 0, "%s", ops_read_file(err));
    char *page = ops_read_file(prom);
    cr_assert(page);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "\n%s ", names[i]);
        cr_assert_null(strstr(page, want), "%s in the metrics file:\n%s", names[i], page);
    }
    cr_assert(strstr(page, "\nsiptap_uptime_seconds "), "the rest is there:\n%s", page);
    free(page);
    ops_rmtree(dir);
}

/*
 * --metrics-file and [metrics] file: a replay leaves the Prometheus
 * exposition in a file (node_exporter textfile format) holding the run's
 * figures, written whole (no PATH.tmp left behind) and clean for
 * `promtool check metrics`; a bad path is refused by --check-config with
 * the file, the line and what to do.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops_util.h"

static char dir[128];

static void setup(void)
{
    ops_tmpdir(dir, sizeof(dir));
}

static pid_t live_daemon;

/* A failed assertion leaves the test at once: the daemon must not outlive it. */
static void teardown(void)
{
    if (live_daemon > 0)
        ops_stop(live_daemon, SIGKILL);
    live_daemon = 0;
    ops_rmtree(dir);
}

TestSuite(metrics_file, .init = setup, .fini = teardown);

/* The value of the sample named exactly `name` (with its labels), or -1. */
static long long sample(const char *text, const char *name)
{
    char key[512];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* Replays samples/demo.pcap with samples/demo.conf; the metrics file's text. */
static char *replay_demo(const char *extra_conf, char *prom, size_t promlen)
{
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    cr_assert(root && ops_siptapd());
    char pcap[512], conf[512], demo_conf[512], text[4096], err[256];
    snprintf(pcap, sizeof(pcap), "%s/samples/demo.pcap", root);
    snprintf(demo_conf, sizeof(demo_conf), "%s/samples/demo.conf", root);
    char *base = ops_read_file(demo_conf);
    cr_assert(base);
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(text, sizeof(text), "%s\n%s", base, extra_conf ? extra_conf : "");
    free(base);
    cr_assert(ops_write_file(conf, text));
    snprintf(prom, promlen, "%s/siptap.prom", dir);
    snprintf(err, sizeof(err), "%s/stderr", dir);
    char *argv[] = {(char *)ops_siptapd(), "-c", conf, "-r", pcap, "-o", "file:/dev/null",
                    "--metrics-file",      prom, NULL};
    int rc = ops_run(argv, NULL, err);
    cr_assert_eq(rc, 0, "siptapd exited %d: %s", rc, ops_read_file(err));
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", prom);
    cr_assert_neq(access(tmp, F_OK), 0, "%s was left behind", tmp);
    char *page = ops_read_file(prom);
    cr_assert(page, "no metrics file %s", prom);
    return page;
}

/* demo.pcap: four calls on trunk carrier, three inbound (two answered,
 * one 404) and one outbound (answered). */
Test(metrics_file, replay_writes_the_runs_figures)
{
    char prom[256];
    char *page = replay_demo(NULL, prom, sizeof(prom));
    cr_assert_eq(sample(page, "siptap_calls_started_total"), 4, "%s", page);
    cr_assert_eq(sample(page, "siptap_events_total{type=\"call_start\"}"), 4);
    cr_assert_eq(sample(page, "siptap_events_total{type=\"call_end\"}"), 4);
    cr_assert_eq(sample(page, "siptap_events_total{type=\"call_fail\"}"), 1);
    cr_assert_gt(sample(page, "siptap_capture_packets_total"), 0);
    /* At exit every call has ended. */
    cr_assert_eq(sample(page, "siptap_active_calls"), 0);
    free(page);
}

Test(metrics_file, replay_file_passes_promtool)
{
    if (!ops_promtool())
        cr_skip_test("promtool not found on PATH (Debian package prometheus)");
    char prom[256];
    char *page = replay_demo(NULL, prom, sizeof(prom));
    int status;
    char *lint = ops_promtool_check(prom, &status);
    cr_assert_str_eq(lint, "", "promtool check metrics found problems:\n%s", lint);
    cr_assert_eq(status, 0);
    free(lint);
    free(page);
}

/* The configuration key does what the flag does. */
Test(metrics_file, config_key_writes_the_file)
{
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    char pcap[512], conf[512], text[1024], prom[256], err[256];
    snprintf(pcap, sizeof(pcap), "%s/samples/demo.pcap", root);
    snprintf(prom, sizeof(prom), "%s/from-config.prom", dir);
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(text, sizeof(text), "[metrics]\nfile = %s\n", prom);
    cr_assert(ops_write_file(conf, text));
    snprintf(err, sizeof(err), "%s/stderr", dir);
    char *argv[] = {(char *)ops_siptapd(), "-c", conf, "-r", pcap, "-o", "file:/dev/null", NULL};
    cr_assert_eq(ops_run(argv, NULL, err), 0, "%s", ops_read_file(err));
    char *page = ops_read_file(prom);
    cr_assert(page, "no %s", prom);
    cr_assert_eq(sample(page, "siptap_calls_started_total"), 4, "%s", page);
    free(page);
}

static int check_config(const char *conf_text, const char *flag, char **err_text)
{
    char conf[256], err[256];
    snprintf(conf, sizeof(conf), "%s/check.conf", dir);
    cr_assert(ops_write_file(conf, conf_text));
    snprintf(err, sizeof(err), "%s/stderr", dir);
    char *argv[] = {(char *)ops_siptapd(), "--check-config", "-c", conf, NULL, NULL, NULL};
    if (flag) {
        argv[4] = "--metrics-file";
        argv[5] = (char *)flag;
    }
    int rc = ops_run(argv, NULL, err);
    *err_text = ops_read_file(err);
    return rc;
}

Test(metrics_file, check_config_names_a_bad_path)
{
    char *err;
    cr_assert_eq(check_config("[general]\n\n[metrics]\nfile = siptap.prom\n", NULL, &err), 2);
    cr_assert(strstr(err, "check.conf:4: file = 'siptap.prom' must be an absolute path"), "%s",
              err);
    free(err);
    cr_assert_eq(check_config("[metrics]\nfile = /nonexistent-siptap/x.prom\n", NULL, &err), 2);
    cr_assert(strstr(err, "check.conf:2: file = '/nonexistent-siptap/x.prom': "
                          "/nonexistent-siptap is not a directory; create it"),
              "%s", err);
    free(err);
    cr_assert_eq(check_config("[general]\n", "/nonexistent-siptap/x.prom", &err), 2);
    cr_assert(strstr(err, "--metrics-file /nonexistent-siptap/x.prom: /nonexistent-siptap is not "
                          "a directory"),
              "%s", err);
    free(err);
    char good[512];
    snprintf(good, sizeof(good), "[metrics]\nfile = %s/ok.prom\n", dir);
    cr_assert_eq(check_config(good, NULL, &err), 0, "%s", err);
    free(err);
}

static char live_prom[256];

static bool live_file_written(void *arg)
{
    (void)arg;
    return access(live_prom, F_OK) == 0;
}

/* Live: the file is there every stats_interval, before the daemon exits. */
Test(metrics_file, live_daemon_writes_every_interval)
{
    if (geteuid() != 0)
        cr_skip_test("live capture on lo needs root (CAP_NET_RAW)");
    char conf[256], text[256], err[256];
    snprintf(live_prom, sizeof(live_prom), "%s/live.prom", dir);
    snprintf(conf, sizeof(conf), "%s/live.conf", dir);
    snprintf(text, sizeof(text), "[general]\nstats_interval = 1\n[metrics]\nfile = %s\n",
             live_prom);
    cr_assert(ops_write_file(conf, text));
    snprintf(err, sizeof(err), "%s/stderr", dir);
    char *argv[] = {(char *)ops_siptapd(), "-i", "lo", "-c", conf, "-o", "file:/dev/null", NULL};
    pid_t pid = live_daemon = ops_spawn(argv, NULL, err);
    cr_assert(ops_wait_for(live_file_written, NULL, 10.0), "no %s while live; stderr: %s",
              live_prom, ops_read_file(err));
    char *page = ops_read_file(live_prom);
    cr_assert(page && strstr(page, "\nsiptap_active_calls 0\n"), "%s", page);
    free(page);
    /* Written again at exit. */
    cr_assert_eq(unlink(live_prom), 0);
    live_daemon = 0;
    cr_assert_eq(ops_stop(pid, SIGTERM), 0);
    cr_assert(live_file_written(NULL), "no %s after exit", live_prom);
}

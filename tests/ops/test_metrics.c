/*
 * Metrics: the exposition text is well formed (names, labels, values) and
 * the live daemon serves it on a loopback port to a plain socket client.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/metrics.h"
#include "outputs/sink.h"
#include "ops_util.h"

/* Every line is a comment (# HELP / # TYPE) or NAME{LABELS} VALUE. */
static void assert_exposition(const char *text)
{
    regex_t sample, comment;
    cr_assert_eq(
        regcomp(&sample,
                "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
                "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*\\})? [0-9]+(\\.[0-9]+)?$",
                REG_EXTENDED | REG_NOSUB),
        0);
    cr_assert_eq(
        regcomp(&comment, "^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ", REG_EXTENDED | REG_NOSUB), 0);
    char *copy = strdup(text), *save = NULL;
    int lines = 0;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++) {
        bool ok = regexec(l[0] == '#' ? &comment : &sample, l, 0, NULL, 0) == 0;
        cr_assert(ok, "malformed exposition line: '%s'", l);
    }
    cr_assert_gt(lines, 10);
    free(copy);
    regfree(&sample);
    regfree(&comment);
}

Test(metrics, render_is_well_formed_and_complete)
{
    struct counters counters;
    counters_init(&counters);
    *counters_register(&counters, "capture", "packets") = 1234;
    *counters_register(&counters, "decode", "ipv4_bad_ihl") = 7;
    struct event_tally tally = {0};
    event_tally_add(&tally, "one_way_audio", SEVERITY_WARNING);
    event_tally_add(&tally, "one_way_audio", SEVERITY_WARNING);
    struct event_bus bus;
    event_bus_init(&bus, "t");
    struct sink *s = jsonl_sink_new_stdout(4);
    s->dropped = 3;
    snprintf(s->name, sizeof(s->name), "we\"ird");
    event_bus_add_sink(&bus, s);
    struct metrics_view v = {.counters = &counters,
                             .bus = &bus,
                             .tally = &tally,
                             .kernel_drops = 5,
                             .if_drops = 6,
                             .queue_drops = 8,
                             .capture_backlog = 9,
                             .active_calls = 2,
                             .active_rtp_flows = 4};
    struct buf out;
    buf_init(&out, 1 << 20);
    cr_assert(metrics_render(&v, &out));
    cr_assert(buf_append(&out, "", 1));
    const char *text = (const char *)out.data;
    assert_exposition(text);
    cr_assert(strstr(text, "\nsiptap_capture_packets_total 1234\n"), "%s", text);
    cr_assert(strstr(text, "\nsiptap_decode_ipv4_bad_ihl_total 7\n"));
    cr_assert(strstr(text, "\nsiptap_kernel_drops_total 5\n"));
    /* Each of the tap's own losses is its own figure. */
    cr_assert(strstr(text, "\nsiptap_interface_drops_total 6\n"));
    cr_assert(strstr(text, "\nsiptap_capture_queue_drops_total 8\n"));
    cr_assert(strstr(text, "\nsiptap_capture_queue_frames 9\n"));
    cr_assert(strstr(text, "\nsiptap_active_calls 2\n"));
    cr_assert(strstr(text, "\nsiptap_active_rtp_flows 4\n"));
    cr_assert(strstr(text, "\nsiptap_events_total{type=\"one_way_audio\"} 2\n"));
    cr_assert(strstr(text, "\nsiptap_events_by_severity_total{severity=\"warning\"} 2\n"));
    cr_assert(strstr(text, "siptap_output_dropped_total{output=\"we\\\"ird\",kind=\"jsonl\"} 3\n"),
              "%s", text);
    cr_assert(strstr(text, "siptap_output_queue_depth{output=\"we\\\"ird\""));
    /* The output's own state: stdout is writable. */
    cr_assert(strstr(text, "\nsiptap_output_up{output=\"we\\\"ird\",kind=\"jsonl\"} 1\n"), "%s",
              text);
    buf_free(&out);
    event_bus_destroy(&bus);
}

static char *http_get(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    size_t len = strlen(request);
    if (write(fd, request, len) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = read(fd, buf + got, cap - 1 - got)) > 0) {
        got += (size_t)n;
        if (got == cap - 1) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    buf[got] = '\0';
    close(fd);
    return buf;
}

static int scrape_port;

static bool can_connect(void *arg)
{
    (void)arg;
    char *r = http_get(scrape_port, "GET /metrics HTTP/1.0\r\n\r\n");
    bool ok = r && strncmp(r, "HTTP/1.0 200", 12) == 0;
    free(r);
    return ok;
}

static uint64_t value_of(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    cr_assert(p, "no %s in the page", name);
    return strtoull(p + strlen(key), NULL, 10);
}

Test(metrics, live_daemon_serves_metrics_on_loopback)
{
    if (geteuid() != 0)
        cr_skip_test("live capture on lo needs root (CAP_NET_RAW)");
    char dir[128], conf[256], text[256];
    ops_tmpdir(dir, sizeof(dir));
    scrape_port = ops_free_port();
    cr_assert_gt(scrape_port, 0);
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(text, sizeof(text), "[metrics]\nlisten = 127.0.0.1:%d\n[capture]\ncalls = off\n",
             scrape_port);
    cr_assert(ops_write_file(conf, text));
    char *argv[] = {(char *)ops_siptapd(), "-i", "lo", "-c", conf, "-o", "file:/dev/null", NULL};
    char err[256];
    snprintf(err, sizeof(err), "%s/stderr", dir);
    pid_t pid = ops_spawn(argv, NULL, err);
    cr_assert(ops_wait_for(can_connect, NULL, 20.0), "no metrics on port %d; stderr: %s",
              scrape_port, ops_read_file(err));

    /* The earlier connections went over lo, so the tap sees packets: within
     * a capture block's timeout (10 ms), not at once, so scrape until then. */
    char *page = NULL, *body = NULL;
    for (int i = 0; i < 100; i++) {
        free(page);
        page = http_get(scrape_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        cr_assert(page);
        body = strstr(page, "\r\n\r\n");
        cr_assert(body);
        if (value_of(body + 3, "siptap_capture_packets_total") > 0)
            break;
        usleep(20000);
    }
    cr_assert(strstr(page, "Content-Type: text/plain; version=0.0.4"));
    assert_exposition(body + 4);
    cr_assert_gt(value_of(body + 3, "siptap_capture_packets_total"), 0);
    cr_assert_eq(value_of(body + 3, "siptap_active_calls"), 0);
    cr_assert_geq(value_of(body + 3, "siptap_metrics_requests_total"), 1);
    cr_assert(strstr(body, "siptap_output_queue_depth{output=\"file:/dev/null\",kind=\"jsonl\"}"),
              "%s", body);
    free(page);

    page = http_get(scrape_port, "GET /other HTTP/1.0\r\n\r\n");
    cr_assert(page && strncmp(page, "HTTP/1.0 404", 12) == 0, "%s", page);
    free(page);
    page = http_get(scrape_port, "POST /metrics HTTP/1.0\r\n\r\n");
    cr_assert(page && strncmp(page, "HTTP/1.0 405", 12) == 0, "%s", page);
    free(page);
    /* A request head that never ends is refused at the buffer bound. */
    char big[6000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "GET /", 5);
    page = http_get(scrape_port, big);
    cr_assert(page && strncmp(page, "HTTP/1.0 431", 12) == 0, "%s", page);
    free(page);

    cr_assert_eq(ops_stop(pid, SIGTERM), 0);
    ops_rmtree(dir);
}

/* ---- idle connections cannot lock the scraper out ---- */

static struct counters idle_counters;

static void empty_view(void *user, struct metrics_view *v)
{
    (void)user;
    v->counters = &idle_counters;
}

static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Turns the server's loop until fd has bytes or is closed; the bytes read. */
static ssize_t pump_until_readable(struct ev_loop *loop, int fd, char *buf, size_t len)
{
    for (int i = 0; i < 2000; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n >= 0)
            return n;
        usleep(1000);
    }
    return -1;
}

/* 40 clients connect and say nothing (more than the server takes at
 * once): the scraper after them is still answered, and what was closed
 * for it is counted. Before, eight silent connections locked the port for
 * their whole timeout. */
Test(metrics, idle_connections_make_way_for_a_scrape)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    counters_init(&idle_counters);
    int port = ops_free_port();
    char addr[64], err[256] = "";
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    struct metrics_server *m =
        metrics_server_new(loop, addr, empty_view, NULL, &idle_counters, err, sizeof(err));
    cr_assert(m, "%s", err);
    int idle[40];
    for (int i = 0; i < 40; i++) {
        idle[i] = connect_loopback(port);
        ev_run(loop, EVRUN_NOWAIT);
    }
    int fd = connect_loopback(port);
    const char *req = "GET /metrics HTTP/1.0\r\n\r\n";
    cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    char buf[64] = "";
    ssize_t n = pump_until_readable(loop, fd, buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0, "the scrape was refused");
    cr_assert(strncmp(buf, "HTTP/1.0 200", 12) == 0, "%s", buf);
    cr_assert_geq(counters_get(&idle_counters, "metrics.idle_closed"), 9);
    cr_assert_eq(counters_get(&idle_counters, "metrics.connections_refused"), 0);
    close(fd);
    for (int i = 0; i < 40; i++)
        close(idle[i]);
    metrics_server_free(m);
    ev_loop_destroy(loop);
}

/* ---- promtool: the live page is clean ---- */

/* A live siptapd (fed by HEP on loopback, so no capture privilege is
 * needed) is scraped and the page handed to `promtool check metrics`: it
 * must print nothing. Before, 179 registry counters had no HELP. */
static pid_t promtool_daemon;

/* A failed assertion leaves the test at once: the daemon must not outlive it. */
static void stop_promtool_daemon(void)
{
    if (promtool_daemon > 0)
        ops_stop(promtool_daemon, SIGKILL);
}

Test(metrics, live_scrape_passes_promtool, .fini = stop_promtool_daemon)
{
    if (!ops_promtool())
        cr_skip_test("promtool not found on PATH (Debian package prometheus)");
    char dir[128], conf[256], text[256], prom[256], hep[64];
    ops_tmpdir(dir, sizeof(dir));
    scrape_port = ops_free_port();
    int hep_port = ops_free_port();
    cr_assert_gt(scrape_port, 0);
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(text, sizeof(text), "[metrics]\nlisten = 127.0.0.1:%d\n[capture]\ncalls = off\n",
             scrape_port);
    cr_assert(ops_write_file(conf, text));
    snprintf(hep, sizeof(hep), "hep://127.0.0.1:%d", hep_port);
    char *argv[] = {(char *)ops_siptapd(), "-i", hep, "-c", conf, "-o", "file:/dev/null", NULL};
    char err[256];
    snprintf(err, sizeof(err), "%s/stderr", dir);
    pid_t pid = promtool_daemon = ops_spawn(argv, NULL, err);
    cr_assert(ops_wait_for(can_connect, NULL, 20.0), "no metrics on port %d; stderr: %s",
              scrape_port, ops_read_file(err));
    char *page = http_get(scrape_port, "GET /metrics HTTP/1.0\r\n\r\n");
    cr_assert(page);
    char *body = strstr(page, "\r\n\r\n");
    cr_assert(body);
    snprintf(prom, sizeof(prom), "%s/scrape.prom", dir);
    cr_assert(ops_write_file(prom, body + 4));
    int status;
    char *lint = ops_promtool_check(prom, &status);
    cr_assert_str_eq(lint, "", "promtool check metrics found problems:\n%s", lint);
    cr_assert_eq(status, 0);
    free(lint);
    free(page);
    promtool_daemon = 0;
    cr_assert_eq(ops_stop(pid, SIGTERM), 0);
    ops_rmtree(dir);
}

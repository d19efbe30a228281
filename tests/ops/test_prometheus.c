/*
 * A real Prometheus scrapes a live siptapd and computes the dashboard's
 * ASR and NER: the expressions are taken from docs/grafana/siptap-trunks.json
 * (in instant form: each rate(X[w]) as X, the ratio over everything
 * counted) and must give, per trunk and direction, exactly what the
 * generated capture implies (3 answered of 5 calls: 0.6; none of 2: 0, not
 * nothing).
 *
 * siptapd runs live without privileges: fed by HEP on loopback (-i
 * hep://), the way capture agents feed it, with [metrics] listen on
 * loopback. (A replay cannot be scraped: `-r -` from a pipe kept open
 * blocks the daemon's loop in libpcap's read while the pipe is idle, so
 * the metrics port goes unanswered.) The test sends the SIP of a
 * siptap-pcapgen capture as HEP, waits (bounded) until siptapd has counted
 * every call, starts `prometheus` with a 1 s scrape of that port, waits
 * (bounded) for up == 1 and the series, then queries /api/v1/query. Skips,
 * saying so, when prometheus is not installed. Every process it starts is
 * stopped, and its directory removed, pass or fail.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dashboard_util.h"
#include "decoders/hep.h"
#include "ops_util.h"

static char dir[128];
static pid_t daemon_pid, prometheus_pid;

static void setup(void)
{
    ops_tmpdir(dir, sizeof(dir));
}

/* A failed assertion leaves the test at once: nothing may outlive it. */
static void teardown(void)
{
    if (prometheus_pid > 0)
        ops_stop(prometheus_pid, SIGKILL);
    if (daemon_pid > 0)
        ops_stop(daemon_pid, SIGKILL);
    prometheus_pid = daemon_pid = 0;
    ops_rmtree(dir);
}

TestSuite(prometheus, .init = setup, .fini = teardown, .timeout = 110);

/* prometheus on PATH, or NULL. */
static const char *prometheus_path(void)
{
    static char found[512];
    return ops_which("prometheus", found, sizeof(found)) ? found : NULL;
}

/* GET path from 127.0.0.1:port: the body of a 200 (malloc'd), else NULL. */
static char *http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char req[4096];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (n <= 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(fd, buf + got, cap - 1 - got)) > 0) {
        got += (size_t)r;
        if (got == cap - 1) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    buf[got] = '\0';
    close(fd);
    char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 || !body) {
        free(buf);
        return NULL;
    }
    char *copy = strdup(body + 4);
    free(buf);
    return copy;
}

/* ---- siptapd, fed by HEP ---- */

static const char scenario[] =
    "# carrier-a, inbound: 3 answered of 5 (ASR 0.6); busy counts for NER, 503 not (0.8)\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=a-ok-1 start=0 talk=1 rtp=none\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=a-ok-2 start=1 talk=1 rtp=none\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=a-ok-3 start=2 talk=1 rtp=none\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=a-486 start=3 status=486 rtp=none\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=a-503 start=4 status=503 rtp=none\n"
    "# carrier-b, outbound: 1 answered of 4 (ASR 0.25); 404 and 480 count for NER (0.75)\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=b-ok start=5 talk=1 rtp=none\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=b-404 start=6 status=404 rtp=none\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=b-503 start=7 status=503 rtp=none\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=b-480 start=8 status=480 "
    "rtp=none\n"
    "# carrier-c, outbound: 2 calls, both 503: no answered series at all, ASR and NER 0\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.30:5060 id=c-503-1 start=9 status=503 "
    "rtp=none\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.30:5060 id=c-503-2 start=10 status=503 "
    "rtp=none\n";
#define SCENARIO_CALLS 11

static const struct {
    const char *trunk, *direction;
    double asr, ner;
} expected[] = {
    {"carrier-a", "inbound", 3.0 / 5.0, 4.0 / 5.0},
    {"carrier-b", "outbound", 1.0 / 4.0, 3.0 / 4.0},
    {"carrier-c", "outbound", 0.0, 0.0},
};
#define TRUNKS (sizeof(expected) / sizeof(expected[0]))

/* Every UDP datagram to or from port 5060 of the capture, as HEPv3 with
 * the capture's times and addresses; the count sent. */
static int send_capture_as_hep(const char *pcap_path, int port)
{
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(pcap_path, ebuf);
    cr_assert(p, "%s", ebuf);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct pcap_pkthdr *h;
    const u_char *f;
    int sent = 0;
    while (pcap_next_ex(p, &h, &f) == 1) {
        /* Ethernet, IPv4 without options, UDP: what pcapgen writes here. */
        if (h->caplen < 42 || f[12] != 0x08 || f[13] != 0 || f[14] != 0x45 || f[23] != 17)
            continue;
        struct hep_message m = {.version = 3, .ip_proto = 17, .proto_type = HEP_PROTO_SIP};
        net_addr_set_v4(&m.src, f + 26);
        net_addr_set_v4(&m.dst, f + 30);
        m.sport = (uint16_t)(f[34] << 8 | f[35]);
        m.dport = (uint16_t)(f[36] << 8 | f[37]);
        if (m.sport != 5060 && m.dport != 5060)
            continue;
        m.has_time = true;
        m.ts_sec = (uint32_t)h->ts.tv_sec;
        m.ts_usec = (uint32_t)h->ts.tv_usec;
        m.payload = f + 42;
        m.payload_len = h->caplen - 42;
        uint8_t out[4096];
        size_t n = hep_encode(&m, HEP_ORDER_SPEC, out, sizeof(out));
        cr_assert_gt(n, 0);
        cr_assert_eq(sendto(fd, out, n, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)n);
        sent++;
        /* Loopback drops what the receiver's buffer cannot hold. */
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    close(fd);
    pcap_close(p);
    return sent;
}

static int metrics_port;

static bool metrics_served(void *arg)
{
    (void)arg;
    char *page = http_get(metrics_port, "/metrics");
    free(page);
    return page != NULL;
}

/* The sum of siptap_trunk_calls_total on siptapd's own page. */
static long long calls_counted(void)
{
    char *page = http_get(metrics_port, "/metrics");
    long long total = 0;
    for (const char *p = page; p && (p = strstr(p, "\nsiptap_trunk_calls_total{")); p++) {
        const char *v = strchr(p + 1, '\n');
        while (v && v > p && v[-1] != ' ')
            v--;
        if (v)
            total += strtoll(v, NULL, 10);
    }
    free(page);
    return total;
}

static bool all_calls_counted(void *arg)
{
    (void)arg;
    return calls_counted() == SCENARIO_CALLS;
}

static void start_siptapd(void)
{
    const char *pcapgen = getenv("PCAPGEN");
    cr_assert(pcapgen && ops_siptapd(), "PCAPGEN and SIPTAPD must be set");
    char scn[256], pcap[256], conf[256], text[512], err[256], hep[64];
    snprintf(scn, sizeof(scn), "%s/calls.scn", dir);
    snprintf(pcap, sizeof(pcap), "%s/calls.pcap", dir);
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(err, sizeof(err), "%s/siptapd.stderr", dir);
    cr_assert(ops_write_file(scn, scenario));
    char *gen[] = {(char *)pcapgen, scn, pcap, NULL};
    cr_assert_eq(ops_run(gen, NULL, err), 0, "pcapgen: %s", ops_read_file(err));

    metrics_port = ops_free_port();
    int hep_port = ops_free_port();
    cr_assert(metrics_port > 0 && hep_port > 0);
    snprintf(text, sizeof(text),
             "[trunk carrier-a]\nmatch = 203.0.113.10\n[trunk carrier-b]\nmatch = 198.51.100.20\n"
             "[trunk carrier-c]\nmatch = 198.51.100.30\n"
             "[metrics]\nlisten = 127.0.0.1:%d\n[capture]\ncalls = off\n",
             metrics_port);
    cr_assert(ops_write_file(conf, text));
    snprintf(hep, sizeof(hep), "hep://127.0.0.1:%d", hep_port);
    char *argv[] = {(char *)ops_siptapd(), "-i", hep, "-c", conf, "-o", "file:/dev/null", NULL};
    daemon_pid = ops_spawn(argv, NULL, err);
    cr_assert(ops_wait_for(metrics_served, NULL, 20.0), "siptapd serves no metrics on %d: %s",
              metrics_port, ops_read_file(err));
    int sent = send_capture_as_hep(pcap, hep_port);
    cr_assert_gt(sent, 40, "only %d SIP messages in the capture", sent);
    /* Calls count when they end; idle, siptapd's clock follows the wall
     * clock, so the last ones end within seconds. */
    cr_assert(ops_wait_for(all_calls_counted, NULL, 45.0),
              "siptapd counted %lld calls of %d after 45 s; stderr: %s", calls_counted(),
              SCENARIO_CALLS, ops_read_file(err));
}

/* ---- prometheus ---- */

static int prometheus_port;

/* The result array of an instant query (a new reference), or NULL. */
static json_t *query(const char *promql)
{
    char path[8192] = "/api/v1/query?query=";
    size_t n = strlen(path);
    for (const unsigned char *s = (const unsigned char *)promql; *s && n + 4 < sizeof(path); s++)
        n += (size_t)(isalnum(*s) || strchr("-_.~", *s)
                          ? snprintf(path + n, sizeof(path) - n, "%c", *s)
                          : snprintf(path + n, sizeof(path) - n, "%%%02X", *s));
    char *body = http_get(prometheus_port, path);
    json_t *doc = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    json_t *result = json_incref(json_object_get(json_object_get(doc, "data"), "result"));
    json_decref(doc);
    return result;
}

static bool scraped(void *arg)
{
    (void)arg;
    char promql[128];
    snprintf(promql, sizeof(promql), "sum(siptap_trunk_calls_total{job=\"siptap\"}) == %d",
             SCENARIO_CALLS);
    json_t *up = query("up{job=\"siptap\"} == 1");
    json_t *calls = query(promql);
    bool ok = json_array_size(up) == 1 && json_array_size(calls) == 1;
    json_decref(up);
    json_decref(calls);
    return ok;
}

static void start_prometheus(const char *prometheus)
{
    char conf[256], text[512], data[256], listen[64], out[256];
    snprintf(conf, sizeof(conf), "%s/prometheus.yml", dir);
    snprintf(data, sizeof(data), "--storage.tsdb.path=%s/data", dir);
    snprintf(out, sizeof(out), "%s/prometheus.log", dir);
    snprintf(text, sizeof(text),
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "scrape_configs:\n  - job_name: siptap\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n",
             metrics_port);
    cr_assert(ops_write_file(conf, text));
    prometheus_port = ops_free_port();
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", prometheus_port);
    char config_flag[300];
    snprintf(config_flag, sizeof(config_flag), "--config.file=%s", conf);
    char *argv[] = {(char *)prometheus, config_flag, data, listen, "--log.level=warn", NULL};
    prometheus_pid = ops_spawn(argv, NULL, out);
    cr_assert(ops_wait_for(scraped, NULL, 60.0),
              "Prometheus on %d has no up == 1 and %d calls of job siptap after 60 s; its log:\n%s",
              prometheus_port, SCENARIO_CALLS, ops_read_file(out));
}

/* The dashboard panel's expression, variables at All, in instant form. */
static char *dashboard_instant(const json_t *dash, const char *title)
{
    const char *expr = dashboard_panel_expr(dash, title);
    cr_assert(expr, "no panel \"%s\" with a target in the dashboard", title);
    char *all = grafana_substitute(expr, "15m", ".*");
    char *instant = promql_instant_form(all);
    free(all);
    cr_assert_null(strstr(instant, "rate("), "not in instant form: %s", instant);
    return instant;
}

static void assert_ratio(const json_t *result, const char *what, const char *promql)
{
    cr_assert_eq(json_array_size(result), TRUNKS, "%s: %zu series, wanted %zu, from %s", what,
                 json_array_size(result), TRUNKS, promql);
    for (size_t k = 0; k < TRUNKS; k++) {
        double want = strcmp(what, "ASR") == 0 ? expected[k].asr : expected[k].ner;
        bool found = false;
        size_t i;
        const json_t *s;
        json_array_foreach(result, i, s)
        {
            const json_t *m = json_object_get(s, "metric");
            const char *t = json_string_value(json_object_get(m, "trunk"));
            const char *d = json_string_value(json_object_get(m, "direction"));
            if (!t || !d || strcmp(t, expected[k].trunk) || strcmp(d, expected[k].direction))
                continue;
            found = true;
            const char *v = json_string_value(json_array_get(json_object_get(s, "value"), 1));
            cr_assert(v, "%s of %s: no value", what, t);
            cr_assert(strtod(v, NULL) == want, "%s of %s %s: Prometheus says %s, the capture %.17g",
                      what, t, d, v, want);
        }
        cr_assert(found, "%s: no series for %s %s from %s", what, expected[k].trunk,
                  expected[k].direction, promql);
    }
}

Test(prometheus, dashboard_asr_and_ner_from_a_real_scrape)
{
    const char *prometheus = prometheus_path();
    if (!prometheus)
        cr_skip_test("prometheus not found on PATH (Debian package prometheus): the dashboard's "
                     "ASR and NER are not checked against a real Prometheus");
    char err[1200];
    json_t *dash = dashboard_load(err, sizeof(err));
    cr_assert(dash, "%s", err);
    start_siptapd();
    start_prometheus(prometheus);

    char *asr = dashboard_instant(dash, "ASR");
    json_t *r = query(asr);
    assert_ratio(r, "ASR", asr);
    json_decref(r);
    free(asr);
    char *ner = dashboard_instant(dash, "NER");
    r = query(ner);
    assert_ratio(r, "NER", ner);
    json_decref(r);
    free(ner);

    /* The process's own figures, through the dashboard's join on
     * siptap_build_info: siptapd's, and only siptapd's. */
    char *mem = dashboard_instant(dash, "Memory");
    r = query(mem);
    cr_assert_eq(json_array_size(r), 1, "%s: %zu series", mem, json_array_size(r));
    const char *v =
        json_string_value(json_array_get(json_object_get(json_array_get(r, 0), "value"), 1));
    cr_assert(v && strtod(v, NULL) > 0, "%s: %s", mem, v);
    json_decref(r);
    free(mem);

    cr_assert_eq(ops_stop(prometheus_pid, SIGTERM), 0);
    prometheus_pid = 0;
    cr_assert_eq(ops_stop(daemon_pid, SIGTERM), 0);
    daemon_pid = 0;
    json_decref(dash);
}

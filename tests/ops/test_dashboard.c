/*
 * docs/grafana/siptap-trunks.json against the metrics siptapd really
 * serves: every metric name any PromQL of the dashboard reads (panels,
 * nested rows, template variables) must be on the page of a replay that
 * exercises them all (calls answered and failed on configured trunks, RTP
 * with loss, alerts, registrations), and every expression must be PromQL
 * that Prometheus accepts (promtool check rules, Grafana's variables
 * replaced as Grafana replaces them). A name the dashboard reads and
 * siptapd does not serve is a panel that stays empty forever.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/process_metrics.h"
#include "dashboard_util.h"
#include "ops_util.h"

static char dir[128];

static void setup(void)
{
    ops_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
    ops_rmtree(dir);
}

TestSuite(dashboard, .init = setup, .fini = teardown);

static size_t names_of(const char *expr, char names[][128])
{
    return promql_metric_names(expr, names, 0, 16);
}

/* The tokenizer on expressions whose names are known. */
Test(dashboard, tokenizer_finds_metric_names_only)
{
    char n[16][128];
    cr_assert_eq(names_of("sum by (trunk, le) (rate(a_bucket{x=\"y(z)\",le!=\"b\"}[5m]))", n), 1);
    cr_assert_str_eq(n[0], "a_bucket");
    size_t k = names_of("histogram_quantile(0.95, sum without (le) (b)) / on (instance) "
                        "group_left (version) c offset 1h30m and bool d unless sum(e) by (f)",
                        n);
    cr_assert_eq(k, 4, "%zu names, the last %s", k, n[k - 1]);
    cr_assert_str_eq(n[0], "b");
    cr_assert_str_eq(n[1], "c");
    cr_assert_str_eq(n[2], "d");
    cr_assert_str_eq(n[3], "e");
    cr_assert_eq(names_of("time() - x{i=~\"$instance\"} > 1e-3 or vector(0) * Inf", n), 1);
    cr_assert_str_eq(n[0], "x");
    cr_assert_eq(names_of("rate(y[$__rate_interval]) * 60 + y", n), 1);
    cr_assert_eq(names_of("topk(5, ns:recorded_rule)", n), 1);
    cr_assert_str_eq(n[0], "ns:recorded_rule");
}

Test(dashboard, instant_form_and_variables)
{
    char *s = promql_instant_form("sum(rate(a{x=\"rate(\"}[5m]) or 0 * increase(b[$w])) / "
                                  "sum(irate(c[1m]))");
    cr_assert_str_eq(s, "sum(a{x=\"rate(\"} or 0 * b) / sum(irate(c[1m]))");
    free(s);
    s = grafana_substitute("rate(a{t=~\"$trunk\",u=\"${u}\"}[$__rate_interval])", "5m", ".*");
    cr_assert_str_eq(s, "rate(a{t=~\".*\",u=\".*\"}[5m])");
    free(s);
}

static bool on_page(const char *page, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = page; (p = strstr(p, name)); p += n)
        if ((p == page || p[-1] == '\n') && (p[n] == '{' || p[n] == ' '))
            return true;
    return false;
}

/* A classic histogram's series: NAME_bucket needs "# TYPE NAME histogram". */
static bool typed_right(const char *page, const char *name)
{
    size_t n = strlen(name);
    if (n < 7 || strcmp(name + n - 7, "_bucket") != 0)
        return true;
    char want[200];
    snprintf(want, sizeof(want), "# TYPE %.*s histogram\n", (int)(n - 7), name);
    return strstr(page, want) != NULL;
}

static const char scenario[] =
    "# inbound from carrier-a: two answered (one losing every 5th RTP packet: rtp_quality),\n"
    "# one busy, one 503\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-ok-1 start=0 talk=12 "
    "loss-every=5\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-ok-2 start=1 talk=5\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-busy start=2 status=486\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-503 start=3 status=503\n"
    "# outbound to carrier-b: answered with audio one way only (one_way_audio), a 404\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=out-oneway start=4 talk=15 "
    "rtp=caller\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=out-404 start=5 status=404\n"
    "# registrations: one that succeeds, one that loops on 401\n"
    "register ua=192.0.2.50:5060 registrar=192.0.2.10:5060 user=3001 start=6 outcome=ok\n"
    "register ua=192.0.2.51:5060 registrar=192.0.2.10:5060 user=3002 start=7 outcome=loop\n";

static const char conf[] = "[trunk carrier-a]\nmatch = 203.0.113.10\n"
                           "[trunk carrier-b]\nmatch = 198.51.100.20\n";

/* The scenario made into a capture and replayed: the metrics file's text. */
static char *replay_page(void)
{
    const char *pcapgen = getenv("PCAPGEN");
    cr_assert(pcapgen && ops_siptapd(), "PCAPGEN and SIPTAPD must be set");
    char scn[256], pcap[256], cfg[256], prom[256], err[256];
    snprintf(scn, sizeof(scn), "%s/calls.scn", dir);
    snprintf(pcap, sizeof(pcap), "%s/calls.pcap", dir);
    snprintf(cfg, sizeof(cfg), "%s/siptap.conf", dir);
    snprintf(prom, sizeof(prom), "%s/siptap.prom", dir);
    snprintf(err, sizeof(err), "%s/stderr", dir);
    cr_assert(ops_write_file(scn, scenario));
    cr_assert(ops_write_file(cfg, conf));
    char *gen[] = {(char *)pcapgen, scn, pcap, NULL};
    cr_assert_eq(ops_run(gen, NULL, err), 0, "pcapgen: %s", ops_read_file(err));
    char *argv[] = {(char *)ops_siptapd(), "-c", cfg, "-r", pcap, "-o", "file:/dev/null",
                    "--metrics-file",      prom, NULL};
    cr_assert_eq(ops_run(argv, NULL, err), 0, "siptapd: %s", ops_read_file(err));
    char *page = ops_read_file(prom);
    cr_assert(page, "no %s", prom);
    return page;
}

Test(dashboard, every_metric_name_is_served)
{
    char err[1200];
    json_t *dash = dashboard_load(err, sizeof(err));
    cr_assert(dash, "%s", err);
    struct dashboard_exprs e;
    dashboard_collect(dash, &e);
    /* Not vacuous: the walk found the panels, the nested rows' and the
     * variables'. */
    cr_assert_geq(e.count, 20, "only %zu expressions found", e.count);
    static char names[DASHBOARD_MAX_NAMES][128];
    static char where[DASHBOARD_MAX_NAMES][128];
    size_t count = 0;
    for (size_t i = 0; i < e.count; i++) {
        size_t before = count;
        count = promql_metric_names(e.expr[i], names, count, DASHBOARD_MAX_NAMES);
        for (size_t k = before; k < count; k++)
            snprintf(where[k], sizeof(where[k]), "%s", e.where[i]);
    }
    cr_assert_geq(count, 15, "only %zu metric names found", count);

    /* The replay's metrics file, and the process_* figures the HTTP page adds
     * to it (the file leaves them to node_exporter: test_process_metrics.c). */
    char *file = replay_page();
    struct buf process;
    buf_init(&process, 1 << 16);
    cr_assert(process_metrics_render(&process));
    char *page = malloc(strlen(file) + process.len + 1);
    cr_assert(page);
    memcpy(page, file, strlen(file));
    memcpy(page + strlen(file), process.data, process.len);
    page[strlen(file) + process.len] = 0;
    free(file);
    buf_free(&process);
    char missing[4096] = "";
    size_t n_missing = 0, len = 0;
    for (size_t k = 0; k < count; k++) {
        const char *why = !on_page(page, names[k])       ? "not on the page"
                          : !typed_right(page, names[k]) ? "on the page, but not a histogram"
                                                         : NULL;
        if (!why)
            continue;
        n_missing++;
        len += (size_t)snprintf(missing + len, sizeof(missing) - len, "\n  %s (panel \"%s\"): %s",
                                names[k], where[k], why);
        if (len >= sizeof(missing))
            len = sizeof(missing) - 1;
    }
    /* Freed first: the assertion below leaves the test when it fails. */
    free(page);
    dashboard_exprs_free(&e);
    json_decref(dash);
    cr_assert_eq(n_missing, 0, "%zu of the %zu metric names the dashboard reads are not served:%s",
                 n_missing, count, missing);
}

/* Each expression as a recording rule: promtool parses it as Prometheus
 * does. JSON strings are YAML double-quoted scalars. */
Test(dashboard, every_expression_is_promql)
{
    const char *promtool = ops_promtool();
    if (!promtool)
        cr_skip_test("promtool not found on PATH (Debian package prometheus): the dashboard's "
                     "PromQL is not checked");
    char err[1200];
    json_t *dash = dashboard_load(err, sizeof(err));
    cr_assert(dash, "%s", err);
    struct dashboard_exprs e;
    dashboard_collect(dash, &e);
    cr_assert_geq(e.count, 20);
    char rules[256], out[256];
    snprintf(rules, sizeof(rules), "%s/dashboard.rules.yml", dir);
    snprintf(out, sizeof(out), "%s/promtool.out", dir);
    FILE *f = fopen(rules, "w");
    cr_assert(f);
    fprintf(f, "groups:\n  - name: siptap_dashboard\n    rules:\n");
    for (size_t i = 0; i < e.count; i++) {
        char *q = grafana_substitute(e.expr[i], "5m", ".*");
        json_t *s = json_string(q);
        char *yaml = json_dumps(s, JSON_ENCODE_ANY);
        fprintf(f, "      - record: siptap_dashboard:expr_%zu\n        expr: %s\n", i, yaml);
        free(yaml);
        json_decref(s);
        free(q);
    }
    cr_assert_eq(fclose(f), 0);
    char *const argv[] = {
        "/bin/sh", "-c", "\"$0\" check rules \"$1\" > \"$2\" 2>&1", (char *)promtool, rules,
        out,       NULL};
    int status = ops_run(argv, NULL, NULL);
    char *said = ops_read_file(out);
    static char index[8192];
    size_t len = 0;
    for (size_t i = 0; i < e.count && len < sizeof(index) - 200; i++)
        len += (size_t)snprintf(index + len, sizeof(index) - len, "  expr_%zu: \"%s\"\n", i,
                                e.where[i]);
    cr_assert_eq(status, 0, "promtool check rules refused the dashboard's PromQL:\n%s\nwhere:\n%s",
                 said, index);
    char want[64];
    snprintf(want, sizeof(want), "SUCCESS: %zu rules found", e.count);
    cr_assert(said && strstr(said, want), "promtool: %s (wanted '%s')", said, want);
    free(said);
    dashboard_exprs_free(&e);
    json_decref(dash);
}

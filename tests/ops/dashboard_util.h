/*
 * dashboard_util: what the tests of docs/grafana/siptap-trunks.json share:
 * the PromQL of the dashboard (every panel target's expr, rows nested or
 * not, and the template variables' queries), Grafana's variables replaced
 * the way Grafana does before it sends a query, the metric names an
 * expression reads, and the instant form of a windowed ratio.
 *
 * The tokenizer is small and honest rather than a PromQL parser: strings,
 * label matchers ({...}), ranges ([...]), numbers, durations and Grafana
 * variables are skipped; an identifier followed by '(' is a function or an
 * aggregation; the label lists after by, without, on, ignoring, group_left
 * and group_right are skipped; the binary keywords (and, or, unless, bool,
 * offset) and inf/nan are not metrics; every other identifier is a metric
 * name. The tests check its answers on hand-written expressions first.
 */
#ifndef SIPTAP_TESTS_OPS_DASHBOARD_UTIL_H
#define SIPTAP_TESTS_OPS_DASHBOARD_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define DASHBOARD_MAX_EXPRS 128
#define DASHBOARD_MAX_NAMES 128

/* The dashboard's PromQL, in the order met. where[i] says where (a panel's
 * title or a variable's name); variable queries are given as the PromQL
 * they wrap: label_values(SELECTOR, label) as SELECTOR. */
struct dashboard_exprs {
    char *expr[DASHBOARD_MAX_EXPRS];
    char *where[DASHBOARD_MAX_EXPRS];
    size_t count;
};

/* docs/grafana/siptap-trunks.json under $SIPTAP_SOURCE_ROOT; NULL (with
 * the reason in err) if absent or not JSON. */
json_t *dashboard_load(char *err, size_t errlen);
void dashboard_collect(const json_t *dashboard, struct dashboard_exprs *out);
void dashboard_exprs_free(struct dashboard_exprs *e);
/* The expr of the first target of the panel titled title; NULL if none. */
const char *dashboard_panel_expr(const json_t *dashboard, const char *title);

/* The metric names expr reads, each once, added to names (up to max, the
 * new count returned). */
size_t promql_metric_names(const char *expr, char names[][128], size_t count, size_t max);
/* Grafana's variables replaced as Grafana would for one query: inside a
 * range ([$window], [$__rate_interval]) by range, elsewhere (inside
 * label matchers' strings) by value. malloc'd. */
char *grafana_substitute(const char *expr, const char *range, const char *value);
/* The instant form of a windowed expression: each rate(X[w]) and
 * increase(X[w]) becomes X, so a ratio of rates becomes the same ratio of
 * the counters, over everything counted. malloc'd. */
char *promql_instant_form(const char *expr);

#endif

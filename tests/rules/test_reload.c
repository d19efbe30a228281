/*
 * rules_reload: new parameters and severities replace the old ones in place;
 * a broken settings list is refused and the old values stay.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "rules/rules.h"
#include "tests/support/event_capture.h"

static void add(struct rule_settings *s, const char *section, const char *key, const char *value,
                int line)
{
    struct rule_setting *r = &s->items[s->count++];
    snprintf(r->section, sizeof(r->section), "%s", section);
    snprintf(r->key, sizeof(r->key), "%s", key);
    snprintf(r->value, sizeof(r->value), "%s", value);
    r->line = line;
}

/* The rules alone over a call table, as rules_new takes them. */
struct rig {
    struct counters counters;
    struct timerq timers;
    struct event_bus bus;
    struct trunk_list trunks;
    struct call_table *calls;
};

static void rig_init(struct rig *g)
{
    memset(g, 0, sizeof(*g));
    counters_init(&g->counters);
    timerq_init(&g->timers);
    event_bus_init(&g->bus, "t");
    struct call_limits limits;
    call_limits_defaults(&limits);
    g->calls = call_table_new(&limits, &g->trunks, &g->counters, &g->timers, &g->bus);
    cr_assert_not_null(g->calls);
}

static struct rules *rig_rules(struct rig *g, const struct rule_settings *settings)
{
    char err[256] = "";
    struct rules *r = rules_new(settings, g->calls, &g->timers, &g->bus, &g->counters, &g->trunks,
                                err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    return r;
}

static void rig_free(struct rig *g, struct rules *r)
{
    rules_free(r);
    call_table_free(g->calls);
    event_bus_destroy(&g->bus);
    timerq_destroy(&g->timers);
}

Test(rules_reload, applies_good_settings_and_keeps_old_on_error)
{
    static struct rig g;
    rig_init(&g);
    static struct rule_settings a, b, bad;
    snprintf(a.path, sizeof(a.path), "a.conf");
    add(&a, "rule one_way_audio", "window_s", "7", 2);
    char err[256] = "";
    struct rules *r = rig_rules(&g, &a);
    const struct rules_context *ctx = rules_context_of(r, "one_way_audio");
    cr_assert_float_eq(rules_param(ctx, "window_s", NULL), 7, 1e-9);
    snprintf(b.path, sizeof(b.path), "b.conf");
    add(&b, "rule one_way_audio", "window_s", "11", 4);
    cr_assert(rules_reload(r, &b, err, sizeof(err)), "%s", err);
    cr_assert_float_eq(rules_param(ctx, "window_s", NULL), 11, 1e-9);
    snprintf(bad.path, sizeof(bad.path), "bad.conf");
    add(&bad, "rule one_way_audio", "window_s", "-3", 9);
    cr_assert_not(rules_reload(r, &bad, err, sizeof(err)));
    cr_assert(strstr(err, "bad.conf:9: window_s = '-3' must be a number"), "%s", err);
    cr_assert_float_eq(rules_param(ctx, "window_s", NULL), 11, 1e-9, "old values stay");
    rig_free(&g, r);
}

/* A parameter asked for by a name the detector does not have is a bug in
 * the caller: it aborts instead of reading as 0. */
Test(rules_param, a_name_the_detector_lacks_aborts, .signal = SIGABRT)
{
    static struct rig g;
    rig_init(&g);
    static struct rule_settings none;
    struct rules *r = rig_rules(&g, &none);
    const struct rules_context *ctx = rules_context_of(r, "one_way_audio");
    cr_assert_float_eq(rules_param(ctx, "window_s", NULL), 10, 1e-9, "the default");
    rules_param(ctx, "window", NULL);
}

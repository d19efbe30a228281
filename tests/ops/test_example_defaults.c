/*
 * siptap.conf.example shows the built-in defaults: every `key = value` line
 * in it, commented out or not, must hold the value siptapd uses when the
 * configuration says nothing. The file is read line by line; each value is
 * compared with what the code itself holds, never with a copy:
 *
 *   [general] [capture] [limits] [output] [metrics]: config_defaults(),
 *     read back with config_key_value() (the parser's own key tables);
 *   [rule NAME] and a trunk's rule.NAME.KEY: the detector's parameter table;
 *   [route KIND]: the filter a sink of that kind is made with.
 *
 * Keys with no default (user, filter, interface, output, match, kafka.*, a
 * tap name that defaults to the host name) may only appear commented out:
 * there the line shows the form, not a value in force.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "outputs/sink.h"
#include "rules/rules.h"

struct example_line {
    int number;
    bool commented;
    char section[128], key[128], value[512];
};

/* "key = value" with a key of letters, digits, '_', '.' and '-'; false
 * for prose. */
static bool split_key_value(const char *body, struct example_line *l)
{
    size_t k = strspn(body, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
    if (k == 0 || k >= sizeof(l->key))
        return false;
    const char *p = body + k;
    p += strspn(p, " \t");
    if (*p != '=')
        return false;
    memcpy(l->key, body, k);
    l->key[k] = '\0';
    p++;
    p += strspn(p, " \t");
    snprintf(l->value, sizeof(l->value), "%s", p);
    size_t n = strlen(l->value);
    while (n && isspace((unsigned char)l->value[n - 1]))
        l->value[--n] = '\0';
    return true;
}

static const struct detector *detector_named(const char *name)
{
    for (size_t i = 0; i < rules_detector_count; i++)
        if (strcmp(rules_detectors[i]->name, name) == 0)
            return rules_detectors[i];
    return NULL;
}

static void check_rule_param(const struct example_line *l, const char *rule, const char *key)
{
    const struct detector *d = detector_named(rule);
    cr_assert_not_null(d, "line %d: no detector '%s'", l->number, rule);
    for (size_t i = 0; i < d->param_count; i++) {
        if (strcmp(d->params[i].name, key) != 0)
            continue;
        char *end;
        double v = strtod(l->value, &end);
        cr_assert(end != l->value && *end == '\0', "line %d: '%s' is not a number", l->number,
                  l->value);
        cr_assert_float_eq(v, d->params[i].def, 1e-9,
                           "line %d: %s.%s = %s, but the built-in default is %g", l->number, rule,
                           key, l->value, d->params[i].def);
        return;
    }
    cr_assert_fail("line %d: detector %s has no parameter '%s'", l->number, rule, key);
}

/* The filter a sink of this kind starts with: min_severity and types. */
static void check_route(const struct example_line *l, const char *kind)
{
    static const struct {
        const char *kind, *spec;
    } forms[] = {{"jsonl", "-"},
                 {"redis", "redis://127.0.0.1:1"},
                 {"kafka", "kafka://127.0.0.1:1/t"},
                 {"syslog", "syslog"},
                 {"hep", "hep://127.0.0.1:1"}};
    const char *spec = NULL;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        if (strcmp(forms[i].kind, kind) == 0)
            spec = forms[i].spec;
    cr_assert_not_null(spec, "line %d: no output kind '%s'", l->number, kind);
    struct sink_options o;
    sink_options_defaults(&o);
    o.queue_size = 1;
    char err[512] = "";
    struct sink *s = sink_create(spec, &o, err, sizeof(err));
    cr_assert_not_null(s, "%s: %s", spec, err);
    char builtin[SINK_MAX_TYPES * 34] = "";
    if (strcmp(l->key, "min_severity") == 0) {
        snprintf(builtin, sizeof(builtin), "%s", severity_name(s->min_severity));
    } else if (strcmp(l->key, "types") == 0) {
        for (size_t i = 0; i < s->type_count; i++) {
            strcat(builtin, i ? ", " : "");
            strcat(builtin, s->types[i]);
        }
    } else {
        cr_assert_fail("line %d: [route %s] has no key '%s'", l->number, kind, l->key);
    }
    s->ops->destroy(s);
    cr_assert_str_eq(l->value, builtin, "line %d: [route %s] %s = %s, but the built-in is '%s'",
                     l->number, kind, l->key, l->value, builtin);
}

static void check_daemon_key(const struct example_line *l, const struct config *defaults)
{
    if (strncmp(l->key, "kafka.", 6) == 0 ||
        (strcmp(l->section, "output") == 0 && strcmp(l->key, "output") == 0)) {
        cr_assert(l->commented, "line %d: %s has no default; comment it out", l->number, l->key);
        return;
    }
    char builtin[1024];
    cr_assert(config_key_value(defaults, l->section, l->key, builtin, sizeof(builtin)),
              "line %d: [%s] %s is not a key siptapd knows", l->number, l->section, l->key);
    /* The tap name defaults to the host name: no fixed value to show. */
    bool no_default = !builtin[0] || strcmp(l->key, "tap_name") == 0;
    if (no_default) {
        cr_assert(l->commented, "line %d: [%s] %s has no default; comment it out", l->number,
                  l->section, l->key);
        return;
    }
    cr_assert_str_eq(l->value, builtin, "line %d: [%s] %s = %s, but the built-in default is %s",
                     l->number, l->section, l->key, l->value, builtin);
}

static void check_line(const struct example_line *l, const struct config *defaults)
{
    static const char *const daemon_sections[] = {"general", "capture", "limits", "output",
                                                  "metrics"};
    for (size_t i = 0; i < sizeof(daemon_sections) / sizeof(daemon_sections[0]); i++)
        if (strcmp(l->section, daemon_sections[i]) == 0) {
            check_daemon_key(l, defaults);
            return;
        }
    if (strncmp(l->section, "rule ", 5) == 0) {
        check_rule_param(l, l->section + 5, l->key);
    } else if (strncmp(l->section, "trunk ", 6) == 0) {
        if (strcmp(l->key, "match") == 0) {
            cr_assert(l->commented, "line %d: a trunk is no default; comment it out", l->number);
            return;
        }
        char rule[128];
        const char *dot = strchr(l->key + 5, '.');
        cr_assert(strncmp(l->key, "rule.", 5) == 0 && dot, "line %d: trunk key '%s'", l->number,
                  l->key);
        snprintf(rule, sizeof(rule), "%.*s", (int)(dot - (l->key + 5)), l->key + 5);
        check_rule_param(l, rule, dot + 1);
    } else if (strncmp(l->section, "route ", 6) == 0) {
        check_route(l, l->section + 6);
    } else {
        /* [severity] defaults live in each detector's code, not in a table
         * this test can read: the example describes them in prose. */
        cr_assert_fail("line %d: [%s] %s = %s: nothing to check it against", l->number, l->section,
                       l->key, l->value);
    }
}

Test(example_config, every_value_shown_is_the_builtin_default)
{
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    cr_assert(root, "SIPTAP_SOURCE_ROOT is set by tests/meson.build");
    char path[512];
    snprintf(path, sizeof(path), "%s/siptap.conf.example", root);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    static struct config defaults;
    config_defaults(&defaults);

    struct example_line l = {0};
    char raw[1024];
    int checked = 0, commented = 0;
    while (fgets(raw, sizeof(raw), f)) {
        l.number++;
        const char *body = raw + strspn(raw, " \t");
        l.commented = *body == ';' || *body == '#';
        if (l.commented)
            body += 1 + strspn(body + 1, " \t");
        const char *close = body[0] == '[' ? strchr(body, ']') : NULL;
        if (close) {
            snprintf(l.section, sizeof(l.section), "%.*s", (int)(close - body - 1), body + 1);
            continue;
        }
        if (!split_key_value(body, &l))
            continue;
        cr_assert(l.section[0], "line %d: a key before any [section]", l.number);
        check_line(&l, &defaults);
        checked++;
        commented += l.commented;
    }
    fclose(f);
    config_free(&defaults);
    /* The example shows most keys: a reading that found few is broken. */
    cr_assert_gt(checked, 40, "only %d key = value lines found", checked);
    cr_assert_gt(commented, 5, "only %d commented-out lines found", commented);
}

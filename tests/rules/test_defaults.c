/*
 * rules/defaults.conf stays true: it parses as rule settings, and it lists
 * every parameter of every detector with exactly the built-in default.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules.h"

static struct rule_settings settings;

static void load(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/rules/defaults.conf", getenv("SIPTAP_SOURCE_ROOT"));
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    memset(&settings, 0, sizeof(settings));
    snprintf(settings.path, sizeof(settings.path), "defaults.conf");
    char line[512], section[80] = "";
    int lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == ';' || line[0] == '\0')
            continue;
        if (line[0] == '[') {
            cr_assert(sscanf(line, "[%79[^]]]", section) == 1);
            continue;
        }
        struct rule_setting *s = &settings.items[settings.count++];
        cr_assert(sscanf(line, "%79s = %127s", s->key, s->value) == 2, "line %d", lineno);
        snprintf(s->section, sizeof(s->section), "%s", section);
        s->line = lineno;
    }
    fclose(f);
}

Test(rules_defaults, file_parses_and_matches_the_tables)
{
    load();
    char err[512] = "";
    struct trunk_list trunks = {0};
    cr_assert(rules_validate(&settings, &trunks, err, sizeof(err)), "%s", err);
    for (size_t d = 0; d < rules_detector_count; d++) {
        const struct detector *det = rules_detectors[d];
        char section[80];
        snprintf(section, sizeof(section), "rule %s", det->name);
        for (size_t p = 0; p < det->param_count; p++) {
            bool found = false;
            for (size_t i = 0; i < settings.count && !found; i++) {
                const struct rule_setting *s = &settings.items[i];
                if (strcmp(s->section, section) || strcmp(s->key, det->params[p].name))
                    continue;
                found = true;
                cr_assert_float_eq(atof(s->value), det->params[p].def, 1e-9,
                                   "%s.%s: defaults.conf says %s, the table %g", det->name, s->key,
                                   s->value, det->params[p].def);
            }
            cr_assert(found, "defaults.conf lacks [%s] %s", section, det->params[p].name);
        }
    }
}

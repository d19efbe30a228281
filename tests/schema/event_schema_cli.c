/*
 * event_schema_cli: the tests' C validator (tests/support/json_schema) as a
 * filter, so the reference test (test_schema_reference.py) can hold its
 * verdicts against python3-jsonschema's on the same events.
 *
 *     event_schema_cli SCHEMA < LINES
 *
 * Each input line is one JSON text; each output line is the verdict on it:
 * "ok", or "refused" and a tab and what is wrong where. Exit status 0 when
 * every line was judged, 2 when the schema cannot be read or uses a keyword
 * the validator does not know (said on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/json_schema.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCHEMA < JSON-LINES\n", argv[0]);
        return 2;
    }
    json_error_t jerr;
    json_t *schema = json_load_file(argv[1], 0, &jerr);
    if (!schema) {
        fprintf(stderr, "%s:%d: %s\n", argv[1], jerr.line, jerr.text);
        return 2;
    }
    char err[1024];
    if (!json_schema_check_supported(schema, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_t *v = json_loadb(line, (size_t)n, JSON_DECODE_ANY, &jerr);
        if (!v)
            printf("refused\tnot JSON: %s\n", jerr.text);
        else if (json_schema_validate(schema, schema, v, err, sizeof(err)))
            printf("ok\n");
        else
            printf("refused\t%s\n", err);
        json_decref(v);
    }
    free(line);
    json_decref(schema);
    return 0;
}

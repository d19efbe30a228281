/*
 * event_schema: the events' schema loaded once from the source tree and the
 * checks the tests call on each event they read (see event_schema.h).
 */
#include "tests/support/event_schema.h"
#include "tests/support/json_schema.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SIPTAP_SOURCE_DIR
#error "SIPTAP_SOURCE_DIR must name the source tree (meson sets it)"
#endif

static json_t *schema;

const json_t *event_schema(char *err, size_t errlen)
{
    if (schema)
        return schema;
    const char *path = getenv("SIPTAP_EVENTS_SCHEMA");
    char buf[1024];
    if (!path || !*path) {
        snprintf(buf, sizeof(buf), "%s/docs/events.schema.json", SIPTAP_SOURCE_DIR);
        path = buf;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    char why[512];
    if (!json_schema_check_supported(doc, why, sizeof(why))) {
        snprintf(err, errlen, "%s: %s", path, why);
        json_decref(doc);
        return NULL;
    }
    schema = doc;
    return schema;
}

bool event_schema_valid(const json_t *ev, char *err, size_t errlen)
{
    const json_t *root = event_schema(err, errlen);
    return root && json_schema_validate(root, root, ev, err, errlen);
}

bool event_schema_valid_def(const char *def, const json_t *v, char *err, size_t errlen)
{
    const json_t *root = event_schema(err, errlen);
    if (!root)
        return false;
    const json_t *sub = json_object_get(json_object_get(root, "$defs"), def);
    if (!sub) {
        snprintf(err, errlen, "the schema has no $defs/%s", def);
        return false;
    }
    return json_schema_validate(root, sub, v, err, errlen);
}

static void check_def(const char *def, const json_t *v)
{
    char err[1024];
    bool ok = def ? event_schema_valid_def(def, v, err, sizeof(err))
                  : event_schema_valid(v, err, sizeof(err));
    if (ok)
        return;
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    cr_assert_fail("%s does not match docs/events.schema.json%s%s: %s\n  %s",
                   def ? "a value" : "an event", def ? " $defs/" : "", def ? def : "", err,
                   text ? text : "(unprintable)");
    free(text);
}

void event_schema_check(const json_t *ev)
{
    check_def(NULL, ev);
}

void event_schema_check_stream(const json_t *stream)
{
    check_def("stream", stream);
}

void event_schema_check_text(const char *text, size_t len)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    json_error_t jerr;
    json_t *ev = json_loadb(text, len, 0, &jerr);
    cr_assert_not_null(ev, "an event is not JSON (%s): %.*s", jerr.text, (int)len, text);
    check_def(NULL, ev);
    json_decref(ev);
}

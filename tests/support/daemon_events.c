/*
 * daemon_events: see daemon_events.h. getline grows its buffer to the line,
 * so no event is ever cut in two.
 */
#include "tests/support/daemon_events.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/support/event_schema.h"

static void keep(struct daemon_events *e, json_t *ev)
{
    if (e->count == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        json_t **more = realloc(e->events, cap * sizeof(*more));
        cr_assert_not_null(more);
        e->events = more;
        e->cap = cap;
    }
    e->events[e->count++] = ev;
}

void daemon_events_run(struct daemon_events *out, const char *cmd)
{
    memset(out, 0, sizeof(*out));
    out->status = -1;
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "cannot run %s", cmd);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, p)) > 0) {
        json_error_t why;
        json_t *ev = json_loadb(line, (size_t)len, 0, &why);
        cr_assert_not_null(ev, "not JSON (%s): %.300s", why.text, line);
        event_schema_check(ev);
        keep(out, ev);
    }
    free(line);
    int rc = pclose(p);
    out->status = rc >= 0 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool daemon_event_is_periodic(const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    return type && (strcmp(type, "stats") == 0 || strcmp(type, "trunk_stats") == 0);
}

void daemon_events_free(struct daemon_events *e)
{
    for (size_t i = 0; i < e->count; i++)
        json_decref(e->events[i]);
    free(e->events);
    memset(e, 0, sizeof(*e));
}

/*
 * daemon_events: the one way the tests that need a siptapd process read its
 * events. Runs a command line (siptapd with its options, events on stdout),
 * reads every line whatever its length (a call_end with many streams runs to
 * ~100 KB, past any fixed buffer), parses each as JSON and holds it against
 * docs/events.schema.json (event_schema_check): a line that is not JSON, or
 * an event the schema refuses, fails the running test.
 */
#ifndef SIPTAP_TESTS_DAEMON_EVENTS_H
#define SIPTAP_TESTS_DAEMON_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct daemon_events {
    json_t **events; /* owned, in output order */
    size_t count, cap;
    int status; /* the command's exit status (pclose), -1 if it could not run */
};

/* Runs cmd (a shell command line) and reads its events into out. */
void daemon_events_run(struct daemon_events *out, const char *cmd);
/* The periodic figures (stats, trunk_stats): no call's, and not a fault. */
bool daemon_event_is_periodic(const json_t *ev);
void daemon_events_free(struct daemon_events *e);

#endif

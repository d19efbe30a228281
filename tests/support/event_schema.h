/*
 * event_schema: every event a test reads is held against the events' schema,
 * docs/events.schema.json, so no test passes on an event with a field the
 * schema (and docs/events.md) does not name, a missing required field, a
 * wrong JSON type or a value outside a closed set. The in-process sink
 * (event_capture) and every harness that parses siptapd's output call
 * event_schema_check on each event.
 *
 * The schema is read from the source tree (SIPTAP_SOURCE_DIR, set by meson;
 * $SIPTAP_EVENTS_SCHEMA overrides the file) once per process.
 */
#ifndef SIPTAP_TESTS_EVENT_SCHEMA_H
#define SIPTAP_TESTS_EVENT_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The schema document, loaded on first use; NULL (and why in err) when it
 * cannot be read or uses a keyword tests/support/json_schema does not know. */
const json_t *event_schema(char *err, size_t errlen);
/* Is ev an event the schema accepts? false with "pointer: what" in err. */
bool event_schema_valid(const json_t *ev, char *err, size_t errlen);
/* Does v match the schema's $defs/<def> (e.g. "stream" for a streams entry)? */
bool event_schema_valid_def(const char *def, const json_t *v, char *err, size_t errlen);

/* Fails the running criterion test, with the event's text and what is
 * wrong where, unless the schema accepts ev. */
void event_schema_check(const json_t *ev);
/* The same for an event's JSON text (a line of siptapd's output); a text
 * that is not JSON fails too. */
void event_schema_check_text(const char *text, size_t len);
/* The same for a streams entry ($defs/stream). */
void event_schema_check_stream(const json_t *stream);

#endif

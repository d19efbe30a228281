/*
 * event_capture: a sink for tests that keeps every event it is given, so a
 * test can assert the exact events (type and fields) a module published.
 * Each event is held against docs/events.schema.json as it arrives
 * (event_schema_check): one the schema refuses fails the test.
 */
#ifndef SIPTAP_TESTS_EVENT_CAPTURE_H
#define SIPTAP_TESTS_EVENT_CAPTURE_H

#include <jansson.h>
#include <stddef.h>

#include "outputs/event.h"

struct event_capture;

/* Adds a capturing sink to bus; the bus owns it (freed with the bus). */
struct event_capture *event_capture_attach(struct event_bus *bus);
/* For tests of the bus itself, which publish made-up events: they are kept
 * without the schema check. */
void event_capture_skip_schema(struct event_capture *c);
size_t event_capture_count(const struct event_capture *c);
/* i-th event (borrowed). */
json_t *event_capture_get(const struct event_capture *c, size_t i);
/* Number of events of a type. */
size_t event_capture_count_type(const struct event_capture *c, const char *type);
/* The n-th (0-based) event of a type, or NULL. */
json_t *event_capture_find(const struct event_capture *c, const char *type, size_t n);
/* "type,type,..." of all events except stats, for readable assertions. */
const char *event_capture_types(struct event_capture *c);

#endif

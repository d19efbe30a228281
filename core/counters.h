/*
 * counters: named 64-bit counters that every module registers at start-up.
 *
 * A module asks for a counter once ("decode", "ipv4_bad_ihl") and keeps the
 * returned pointer; the hot path then does a plain `(*c)++`. The stats event
 * and the metrics endpoint walk the registry, so a new counter shows up
 * everywhere without touching any central list.
 */
#ifndef SIPTAP_CORE_COUNTERS_H
#define SIPTAP_CORE_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#define COUNTERS_MAX 512

struct counters {
    uint64_t values[COUNTERS_MAX];
    char names[COUNTERS_MAX][48]; /* "group.name" */
    size_t count;
    uint64_t overflow; /* registrations that did not fit */
};

void counters_init(struct counters *c);
/* Returns the counter's storage; registering the same name twice returns the
 * same slot. Never NULL: past COUNTERS_MAX a shared scratch slot is returned. */
uint64_t *counters_register(struct counters *c, const char *group, const char *name);
/* Value by full name ("group.name"), 0 if unknown. For tests and reports. */
uint64_t counters_get(const struct counters *c, const char *full_name);

#endif

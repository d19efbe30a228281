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
/* A module's counters, named once: LIST(X) calls X(name) for each counter
 * of the module's group. Then
 *     struct sip_counters { COUNTERS_BLOCK(SIP_COUNTERS); };
 * has a field `uint64_t *name` for each, and
 *     COUNTERS_REGISTER(SIP_COUNTERS, counters, "sip", &s->c);
 * registers every field under its own name, in the list's order: a field
 * can never be registered under a name other than the one the code uses. */
#define COUNTERS_FIELD_(name) uint64_t *name;
#define COUNTERS_NAME_(name)  #name,
#define COUNTERS_ONE_(name)   +1
#define COUNTERS_BLOCK(LIST)                                                                       \
    union {                                                                                        \
        struct {                                                                                   \
            LIST(COUNTERS_FIELD_)                                                                  \
        };                                                                                         \
        uint64_t *list_[0 LIST(COUNTERS_ONE_)];                                                    \
    }
#define COUNTERS_REGISTER(LIST, counters, group, block)                                            \
    do {                                                                                           \
        static const char *const names_[] = {LIST(COUNTERS_NAME_)};                                \
        _Static_assert(sizeof(names_) / sizeof(names_[0]) ==                                       \
                           sizeof((block)->list_) / sizeof((block)->list_[0]),                     \
                       "one name per field");                                                      \
        counters_register_list((counters), (group), names_, (block)->list_,                        \
                               sizeof(names_) / sizeof(names_[0]));                                \
    } while (0)
void counters_register_list(struct counters *c, const char *group, const char *const *names,
                            uint64_t **out, size_t count);
/* Value by full name ("group.name"), 0 if unknown. For tests and reports. */
uint64_t counters_get(const struct counters *c, const char *full_name);

#endif

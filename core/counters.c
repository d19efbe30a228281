/*
 * counters: a flat registry; lookups by name happen only at registration and
 * in reports, never per packet.
 */
#include "core/counters.h"

#include <stdio.h>
#include <string.h>

static uint64_t scratch_slot;

void counters_init(struct counters *c)
{
    memset(c, 0, sizeof(*c));
}

uint64_t *counters_register(struct counters *c, const char *group, const char *name)
{
    char full[sizeof(c->names[0])];
    snprintf(full, sizeof(full), "%s.%s", group, name);
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->names[i], full) == 0)
            return &c->values[i];
    if (c->count >= COUNTERS_MAX) {
        c->overflow++;
        return &scratch_slot;
    }
    memcpy(c->names[c->count], full, sizeof(full));
    return &c->values[c->count++];
}

void counters_register_list(struct counters *c, const char *group, const char *const *names,
                            uint64_t **out, size_t count)
{
    for (size_t i = 0; i < count; i++)
        out[i] = counters_register(c, group, names[i]);
}

uint64_t counters_get(const struct counters *c, const char *full_name)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->names[i], full_name) == 0)
            return c->values[i];
    return 0;
}

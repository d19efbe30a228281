/*
 * rules: the detectors and their configuration.
 *
 * Each detector lives in its own file (rules/<name>.c) and is described by a
 * struct detector: its name, its tunable parameters with defaults and
 * bounds, and create/destroy. create() registers a call observer (calls.h)
 * and keeps whatever state it needs, per call in rules_call_state() and per
 * registration in rules_registration_state().
 * Detectors are stateful, run on the capture-time clock, raise an episode
 * once and re-arm when the condition clears.
 *
 * Parameters come from rules/defaults.conf semantics (the defaults in each
 * detector's table), overridden in the daemon's config file:
 *   [rule one_way_audio]        window_s = 5
 *   [trunk acme]                rule.one_way_audio.window_s = 10   (per trunk)
 *   [severity]                  call_drop = error
 * A wrong key or value is reported with file, line and the keys that exist.
 * rules_reload() swaps parameters and severities on SIGHUP without touching
 * call state.
 */
#ifndef SIPTAP_RULES_RULES_H
#define SIPTAP_RULES_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "calls/calls.h"
#include "core/counters.h"
#include "core/json_writer.h"
#include "core/timerq.h"
#include "core/trunk.h"
#include "outputs/event.h"

struct rule_param_def {
    const char *name;
    double def, min, max;
    const char *doc;
};

/* One `key = value` line of the config that belongs to the rules. */
struct rule_setting {
    char section[80]; /* "rule one_way_audio", "severity", or "trunk NAME" */
    char key[80];
    char value[128];
    int line;
};

#define RULES_MAX_SETTINGS 512

struct rule_settings {
    struct rule_setting items[RULES_MAX_SETTINGS];
    size_t count;
    char path[256];
};

struct rules_context;

struct detector {
    const char *name;
    const struct rule_param_def *params;
    size_t param_count;
    void *(*create)(struct rules_context *ctx);
    void (*destroy)(void *state);
    /* Bytes of state it keeps per call (rules_call_state; 0: none). */
    size_t call_state_size;
    /* Its per-call timer (rules_call_timer_at), given the call's state. */
    void (*call_timer)(const struct rules_context *ctx, struct call *c, void *state, uint64_t now);
    /* Bytes of state it keeps per registration (rules_registration_state;
     * 0: none). */
    size_t registration_state_size;
};

#define RULES_MAX_PARAMS          16
#define RULES_MAX_TRUNK_OVERRIDES 8

/* What a detector is handed. */
struct rules_context {
    const struct detector *detector;
    struct call_table *calls;
    struct timerq *timers;
    struct event_bus *bus;
    struct counters *counters;
    const struct trunk_list *trunks;
    /* Where its per-call state lies in the call's block, and which of the
     * block's due times is its timer's (rules.c sets both). */
    size_t state_offset;
    size_t timer_index;
    /* Where its per-registration state lies in the registration's block. */
    size_t registration_state_offset;
    uint64_t *c_no_memory; /* rules.<detector>_no_memory (call or registration state) */
    struct rules *rules;
    bool enabled;
    double values[RULES_MAX_PARAMS];
    struct {
        const struct trunk_config *trunk;
        size_t param;
        double value;
    } overrides[RULES_MAX_TRUNK_OVERRIDES];
    size_t override_count;
};

struct rules;

/* Checks settings against every detector's parameters; false with
 * "FILE:LINE: ..." in err. Used by --check-config and before a reload. */
/* Is this the name of an event type siptapd publishes? ([severity] keys.) */
bool rules_event_type_known(const char *type);
bool rules_validate(const struct rule_settings *settings, const struct trunk_list *trunks,
                    char *err, size_t errlen);
struct rules *rules_new(const struct rule_settings *settings, struct call_table *calls,
                        struct timerq *timers, struct event_bus *bus, struct counters *counters,
                        const struct trunk_list *trunks, char *err, size_t errlen);
/* New parameters and severities; false (old ones kept) with a message. */
bool rules_reload(struct rules *r, const struct rule_settings *settings, char *err, size_t errlen);
void rules_free(struct rules *r);
/* Calls holding detector state (rules_call_state) now. */
size_t rules_call_states(const struct rules *r);
/* Registrations holding detector state (rules_registration_state) now. */
size_t rules_registration_states(const struct rules *r);
/* A detector's context by name (parameters in force), NULL if unknown. */
const struct rules_context *rules_context_of(const struct rules *r, const char *detector);

/* For detectors. */
/* A parameter's value, with the trunk's override if it has one: by name
 * (tests, tools; a name the detector does not have aborts, never reads as
 * 0) ... */
double rules_param(const struct rules_context *ctx, const char *name,
                   const struct trunk_config *trunk);
/* ... or, in a detector, by its index in the detector's table. */
double rules_param_at(const struct rules_context *ctx, size_t index,
                      const struct trunk_config *trunk);

/* A detector's parameters come from one list, PARAMS(X) with
 * X(name, default, min, max, doc) for each, so that the table and the names
 * the code reads cannot drift: RULE_PARAM_TABLE(PARAMS) makes the table
 * `params` and an index RULE_PARAM_<name> for each, and RULE_PARAM(ctx,
 * name, trunk) reads one; a name not in the list does not compile. */
#define RULE_PARAM_ROW(name, def, min, max, doc)   {#name, def, min, max, doc},
#define RULE_PARAM_INDEX(name, def, min, max, doc) RULE_PARAM_##name,
#define RULE_PARAM_TABLE(LIST)                                                                     \
    enum { LIST(RULE_PARAM_INDEX) RULE_PARAM_COUNT };                                              \
    _Static_assert(RULE_PARAM_COUNT <= RULES_MAX_PARAMS, "too many parameters");                   \
    static const struct rule_param_def params[] = {LIST(RULE_PARAM_ROW)}
#define RULE_PARAM(ctx, name, trunk) rules_param_at((ctx), RULE_PARAM_##name, (trunk))
/* A parameter in seconds as capture-time microseconds. */
static inline uint64_t rules_seconds_us(double s)
{
    return (uint64_t)(s * 1000000.0 + 0.5);
}
/* Begins ev (outputs/event.h), an event of this type about call c (NULL:
 * none), with the configured severity for the type (default_severity
 * otherwise) and, when the tap lost packets while c was up, capture_loss;
 * the detector writes its members into ev->body and publishes it. */
void rules_event_begin(const struct rules_context *ctx, struct event *ev, const char *type,
                       enum severity default_severity, uint64_t ts_us, const struct call *c);
void rules_publish(const struct rules_context *ctx, struct event *ev);
/* Per-call state. Every detector's state of a call lives in one allocation,
 * call->rule_state, made zeroed when the first of them is needed and freed
 * with the call; it carries one timer for all of them, set at the earliest
 * of their due times (a heap entry, a malloc and its overhead per call
 * instead of one per detector: docs/benchmarks.md, memory). */
/* The detector's state of call c (call_state_size bytes), NULL when none
 * was made for c. */
void *rules_call_state(const struct rules_context *ctx, const struct call *c);
/* The same, made (zeroed, with the call's other detectors' states) when
 * there is none; NULL when it cannot be allocated (counted as
 * rules.<detector>_no_memory). */
void *rules_call_state_make(const struct rules_context *ctx, struct call *c);
/* The detector's call_timer runs for c at `due` (replacing an earlier one):
 * not while the call is ended and its call_end waits for its media. c's
 * state must exist. */
void rules_call_timer_at(const struct rules_context *ctx, struct call *c, uint64_t due);
void rules_call_timer_cancel(const struct rules_context *ctx, struct call *c);
/* Per-registration state, the same way: every detector's state of a
 * registration in one allocation, registration->rule_state, made zeroed
 * when the first is needed and freed when calls/ forgets the registration
 * (registration_freed, after the detectors' own). No timer is shared: a
 * detector keeps its own struct timer in its state if it needs one. */
/* The detector's state of r (registration_state_size bytes), NULL when
 * none was made for r. */
void *rules_registration_state(const struct rules_context *ctx, const struct registration *r);
/* The same, made (zeroed) when there is none; NULL when it cannot be
 * allocated (counted as rules.<detector>_no_memory). */
void *rules_registration_state_make(const struct rules_context *ctx, struct registration *r);
/* Registers o for the detector with user = ctx: what create() returns for a
 * detector that needs nothing but its context (NULL on failure). */
void *rules_observe(struct rules_context *ctx, struct call_observer o);

/* The detectors, one file each (rules/NAME.c defines detector_NAME), in
 * the order rules_new() creates them: named once, so that the registry
 * (rules_detectors[]), its count and the arrays sized by it cannot drift. */
#define RULES_DETECTORS(X)                                                                         \
    X(one_way_audio)                                                                               \
    X(call_drop)                                                                                   \
    X(registration_loop)                                                                           \
    X(call_failure)                                                                                \
    X(codec_mismatch)                                                                              \
    X(trunk_health)                                                                                \
    X(rtp_quality)                                                                                 \
    X(no_audio)                                                                                    \
    X(sip_scan)
#define RULES_DETECTOR_EXTERN(name) extern const struct detector detector_##name;
#define RULES_DETECTOR_ONE(name)    +1
RULES_DETECTORS(RULES_DETECTOR_EXTERN)
enum { RULES_DETECTOR_COUNT = 0 RULES_DETECTORS(RULES_DETECTOR_ONE) };

/* Each detector registers at most one call observer and the rules one more
 * (the state blocks'); calls/call_events.c, daemon/trunk_metrics.c and
 * daemon/callcap.c register the others. The table's fixed array must hold
 * them all: a detector added past it does not compile. */
#define RULES_OTHER_OBSERVERS 3
_Static_assert(RULES_DETECTOR_COUNT + 1 + RULES_OTHER_OBSERVERS <= CALL_TABLE_MAX_OBSERVERS,
               "more detectors than the call table has observer slots (CALL_TABLE_MAX_OBSERVERS)");

/* The list rules_new() creates, in order. */
extern const struct detector *const rules_detectors[RULES_DETECTOR_COUNT];
extern const size_t rules_detector_count;

#endif

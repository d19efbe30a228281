/*
 * rules: the detectors and their configuration.
 *
 * Each detector lives in its own file (rules/<name>.c) and is described by a
 * struct detector: its name, its tunable parameters with defaults and
 * bounds, and create/destroy. create() registers a call observer (calls.h)
 * and keeps whatever state it needs, per call in call->rule_state[slot].
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

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "calls/calls.h"
#include "core/counters.h"
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
    /* Keeps state per call in call->rule_state[ctx->slot]: only these get a
     * slot (CALL_RULE_SLOTS of them at most, checked when rules are made). */
    bool per_call_state;
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
    int slot; /* its index in call->rule_state[], -1 without per_call_state */
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
/* A detector's context by name (parameters in force), NULL if unknown. */
const struct rules_context *rules_context_of(const struct rules *r, const char *detector);

/* For detectors. */
/* A parameter's value, with the trunk's override if it has one. */
double rules_param(const struct rules_context *ctx, const char *name,
                   const struct trunk_config *trunk);
/* A new event of this type for a call (call may be NULL), with the
 * configured severity for the type (default_severity otherwise). */
json_t *rules_event(const struct rules_context *ctx, const char *type,
                    enum severity default_severity, uint64_t ts_us, const struct call *c);
void rules_publish(const struct rules_context *ctx, json_t *event);
/* Detectors that keep one malloc of state per call, in
 * call->rule_state[ctx->slot], driven by a timer (call_drop, one_way_audio,
 * rtp_quality): what they share. The state begins with a
 * rules_call_state; the timer's callback gets the detector as its arg and
 * the state by casting the timer. */
struct rules_timed_detector {
    struct rules_context *ctx;
    uint64_t *c_alloc_failed; /* rules.<detector>_no_memory */
};
struct rules_call_state {
    struct timer timer; /* first: the state is found from it */
    struct call *call;
    timer_fn fn; /* the detector's; not called once the call has ended */
};
/* Makes the detector and registers o for it, with user set to it and
 * call_freed to cancelling and freeing the state. NULL on failure. */
struct rules_timed_detector *rules_timed_detector_new(struct rules_context *ctx,
                                                      struct call_observer o);
void rules_timed_detector_free(void *detector);
/* The call's state, made zeroed (size bytes, starting with a
 * rules_call_state whose timer calls fn while the call is up: not in the
 * seconds between its end and call_end, when its media is being waited
 * for) on first use; NULL when it cannot be allocated (counted). */
void *rules_call_state_get(struct rules_timed_detector *det, struct call *c, size_t size,
                           timer_fn fn);

/* The detectors, one file each. */
extern const struct detector detector_one_way_audio;
extern const struct detector detector_call_drop;
extern const struct detector detector_registration_loop;
extern const struct detector detector_call_failure;
extern const struct detector detector_codec_mismatch;
extern const struct detector detector_trunk_health;
extern const struct detector detector_rtp_quality;
extern const struct detector detector_no_audio;
extern const struct detector detector_sip_scan;

/* The list rules_new() creates, in order. */
extern const struct detector *const rules_detectors[];
extern const size_t rules_detector_count;

#endif

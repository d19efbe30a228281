/*
 * rules: the detector registry, parameter handling and the helpers every
 * detector uses to raise events.
 *
 * Settings arrive as raw (section, key, value, line) entries collected by
 * daemon/config.c, so the config parser needs to know nothing about
 * detectors: this file checks each entry against the detectors' parameter
 * tables and reports the exact line of anything wrong. Per-trunk overrides
 * are resolved once at load into (trunk, param, value) triples; lookups
 * during a call are a short scan, never string parsing.
 */
#include "rules/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#define RULES_DETECTOR_ADDRESS(name) &detector_##name,
const struct detector *const rules_detectors[RULES_DETECTOR_COUNT] = {
    RULES_DETECTORS(RULES_DETECTOR_ADDRESS)};
const size_t rules_detector_count = RULES_DETECTOR_COUNT;

#define RULES_MAX_SEVERITIES 32

struct severity_override {
    char type[32];
    enum severity severity;
};

struct rules {
    struct rules_context contexts[RULES_DETECTOR_COUNT];
    void *states[RULES_DETECTOR_COUNT];
    struct timerq *timers;
    /* The per-call block (rules_call_state): its size, and the detectors
     * with a call timer in the order of its due times. */
    size_t block_size;
    const struct rules_context *timed[RULES_DETECTOR_COUNT];
    size_t timed_count;
    size_t blocks; /* made and not yet freed */
    /* The per-registration block (rules_registration_state): its size, and
     * how many are made and not yet freed. */
    size_t registration_block_size;
    size_t registration_blocks;
    struct severity_override severities[RULES_MAX_SEVERITIES];
    size_t severity_count;
};

/* The parsed form of a settings list, built fully before anything is applied. */
struct parsed_rules {
    bool enabled[RULES_DETECTOR_COUNT];
    double values[RULES_DETECTOR_COUNT][RULES_MAX_PARAMS];
    struct {
        const struct trunk_config *trunk;
        size_t param;
        double value;
    } overrides[RULES_DETECTOR_COUNT][RULES_MAX_TRUNK_OVERRIDES];
    size_t override_count[RULES_DETECTOR_COUNT];
    struct severity_override severities[RULES_MAX_SEVERITIES];
    size_t severity_count;
};

static int find_detector(const char *name)
{
    for (size_t i = 0; i < rules_detector_count; i++)
        if (strcmp(rules_detectors[i]->name, name) == 0)
            return (int)i;
    return -1;
}

static int find_param(const struct detector *d, const char *name)
{
    for (size_t i = 0; i < d->param_count; i++)
        if (strcmp(d->params[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void list_params(const struct detector *d, char *out, size_t len)
{
    size_t off = (size_t)snprintf(out, len, "enabled");
    for (size_t i = 0; i < d->param_count && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, ", %s", d->params[i].name);
}

static void list_detectors(char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < rules_detector_count && off < len; i++)
        off +=
            (size_t)snprintf(out + off, len - off, "%s%s", i ? ", " : "", rules_detectors[i]->name);
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off")) {
        *out = false;
        return true;
    }
    return false;
}

/* Every event type siptapd publishes, for [severity] (a new type goes
 * here too; media_without_call and sip_scan come with their modules). */
static const char *const event_types[] = {
    "call_start",    "call_answer", "call_fail",      "call_end",          "media_without_call",
    "one_way_audio", "no_audio",    "call_drop",      "registration_loop", "codec_mismatch",
    "trunk_down",    "trunk_up",    "trunk_failover", "sip_scan",          "rtp_quality",
    "stats",         "trunk_stats",
};

bool rules_event_type_known(const char *type)
{
    for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
        if (strcmp(event_types[i], type) == 0)
            return true;
    return false;
}

static void list_event_types(char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++) {
        int w = snprintf(out + n, outlen - n, "%s%s", i ? ", " : "", event_types[i]);
        if (w < 0 || (size_t)w >= outlen - n)
            return;
        n += (size_t)w;
    }
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        int n_ = snprintf(err, errlen, "%s:%d: ", settings->path, s->line);                        \
        if (n_ > 0 && (size_t)n_ < errlen)                                                         \
            snprintf(err + n_, errlen - (size_t)n_, __VA_ARGS__);                                  \
        return false;                                                                              \
    } while (0)

/* One detector parameter `key = value` for detector di (trunk may be NULL). */
static bool apply_param(struct parsed_rules *p, const struct rule_settings *settings,
                        const struct rule_setting *s, size_t di, const char *key,
                        const struct trunk_config *trunk, char *err, size_t errlen)
{
    const struct detector *d = rules_detectors[di];
    if (strcmp(key, "enabled") == 0 && !trunk) {
        if (!parse_bool(s->value, &p->enabled[di]))
            FAIL("enabled = '%s' must be yes or no", s->value);
        return true;
    }
    int pi = find_param(d, key);
    if (pi < 0) {
        char names[512];
        list_params(d, names, sizeof(names));
        FAIL("unknown key '%s' for rule %s; it takes: %s", key, d->name, names);
    }
    const struct rule_param_def *def = &d->params[pi];
    char *end;
    errno = 0;
    double v = strtod(s->value, &end);
    if (errno || end == s->value || *end != '\0' || v < def->min || v > def->max)
        FAIL("%s = '%s' must be a number from %g to %g (%s)", key, s->value, def->min, def->max,
             def->doc);
    if (!trunk) {
        p->values[di][pi] = v;
        return true;
    }
    if (p->override_count[di] >= RULES_MAX_TRUNK_OVERRIDES)
        FAIL("too many per-trunk overrides for rule %s (at most %d)", d->name,
             RULES_MAX_TRUNK_OVERRIDES);
    size_t n = p->override_count[di]++;
    p->overrides[di][n].trunk = trunk;
    p->overrides[di][n].param = (size_t)pi;
    p->overrides[di][n].value = v;
    return true;
}

static bool parse_settings(struct parsed_rules *p, const struct rule_settings *settings,
                           const struct trunk_list *trunks, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    for (size_t di = 0; di < rules_detector_count; di++) {
        p->enabled[di] = true;
        for (size_t pi = 0; pi < rules_detectors[di]->param_count && pi < RULES_MAX_PARAMS; pi++)
            p->values[di][pi] = rules_detectors[di]->params[pi].def;
    }
    for (size_t i = 0; i < settings->count; i++) {
        const struct rule_setting *s = &settings->items[i];
        if (strncmp(s->section, "rule ", 5) == 0) {
            int di = find_detector(s->section + 5);
            if (di < 0) {
                char names[512];
                list_detectors(names, sizeof(names));
                FAIL("unknown rule [%s]; rules are: %s", s->section, names);
            }
            if (!apply_param(p, settings, s, (size_t)di, s->key, NULL, err, errlen))
                return false;
        } else if (strcmp(s->section, "severity") == 0) {
            if (!rules_event_type_known(s->key)) {
                char names[512];
                list_event_types(names, sizeof(names));
                FAIL("[severity] %s: no event type has that name; types are: %s", s->key, names);
            }
            enum severity sev;
            if (!severity_parse(s->value, &sev))
                FAIL("%s = '%s': severity must be info, notice, warning, error or critical", s->key,
                     s->value);
            if (p->severity_count >= RULES_MAX_SEVERITIES)
                FAIL("too many [severity] lines (at most %d)", RULES_MAX_SEVERITIES);
            str_copy(p->severities[p->severity_count].type, sizeof(p->severities[0].type), s->key);
            p->severities[p->severity_count++].severity = sev;
        } else if (strncmp(s->section, "trunk ", 6) == 0) {
            /* rule.<detector>.<param> */
            char buf[80];
            str_copy(buf, sizeof(buf), s->key + 5);
            char *dot = strchr(buf, '.');
            if (strncmp(s->key, "rule.", 5) != 0 || !dot)
                FAIL("per-trunk rule settings look like rule.one_way_audio.window_s = 10");
            *dot = '\0';
            int di = find_detector(buf);
            if (di < 0) {
                char names[512];
                list_detectors(names, sizeof(names));
                FAIL("unknown rule '%s' in %s; rules are: %s", buf, s->key, names);
            }
            const struct trunk_config *trunk = NULL;
            for (size_t t = 0; t < trunks->count; t++)
                if (strcmp(trunks->trunks[t].name, s->section + 6) == 0)
                    trunk = &trunks->trunks[t];
            if (!trunk)
                FAIL("[%s] is not a configured trunk", s->section);
            if (!apply_param(p, settings, s, (size_t)di, dot + 1, trunk, err, errlen))
                return false;
        } else {
            FAIL("[%s] holds no rule settings", s->section);
        }
    }
    return true;
}

static void apply_parsed(struct rules *r, const struct parsed_rules *p)
{
    for (size_t di = 0; di < rules_detector_count; di++) {
        struct rules_context *ctx = &r->contexts[di];
        ctx->enabled = p->enabled[di];
        memcpy(ctx->values, p->values[di], sizeof(ctx->values));
        ctx->override_count = p->override_count[di];
        for (size_t i = 0; i < ctx->override_count; i++) {
            ctx->overrides[i].trunk = p->overrides[di][i].trunk;
            ctx->overrides[i].param = p->overrides[di][i].param;
            ctx->overrides[i].value = p->overrides[di][i].value;
        }
    }
    memcpy(r->severities, p->severities, sizeof(r->severities));
    r->severity_count = p->severity_count;
}

bool rules_validate(const struct rule_settings *settings, const struct trunk_list *trunks,
                    char *err, size_t errlen)
{
    struct parsed_rules *p = malloc(sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bool ok = parse_settings(p, settings, trunks, err, errlen);
    free(p);
    return ok;
}

/* A call's detector states: one timer at the earliest due time of the
 * detectors' timers, those due times (0: none), then each detector's state
 * at its state_offset. */
struct call_rule_block {
    struct timer timer;
    struct call *call;
    uint64_t due[];
};

static struct call_rule_block *block_of(const struct call *c)
{
    return c->rule_state;
}

void *rules_call_state(const struct rules_context *ctx, const struct call *c)
{
    struct call_rule_block *b = block_of(c);
    return b ? (char *)b + ctx->state_offset : NULL;
}

static void schedule_block(const struct rules *r, struct call_rule_block *b)
{
    uint64_t next = 0;
    for (size_t i = 0; i < r->timed_count; i++)
        if (b->due[i] && (!next || b->due[i] < next))
            next = b->due[i];
    if (next)
        timerq_schedule(r->timers, &b->timer, next);
    else
        timerq_cancel(r->timers, &b->timer);
}

/* The block's timer: every detector timer due by now, earliest first (in
 * detector order among equals), unless the call has ended (call_ending is
 * next). A timer may set itself again, due later. */
static void on_block_timer(struct timer *tm, uint64_t now, void *arg)
{
    const struct rules *r = arg;
    struct call_rule_block *b = (struct call_rule_block *)tm;
    for (;;) {
        size_t first = r->timed_count;
        for (size_t i = 0; i < r->timed_count; i++)
            if (b->due[i] && b->due[i] <= now &&
                (first == r->timed_count || b->due[i] < b->due[first]))
                first = i;
        if (first == r->timed_count)
            break;
        b->due[first] = 0;
        const struct rules_context *ctx = r->timed[first];
        if (b->call->state != CALL_STATE_ENDED)
            ctx->detector->call_timer(ctx, b->call, (char *)b + ctx->state_offset, now);
    }
    schedule_block(r, b);
}

void *rules_call_state_make(const struct rules_context *ctx, struct call *c)
{
    struct call_rule_block *b = block_of(c);
    if (!b) {
        b = calloc(1, ctx->rules->block_size);
        if (!b) {
            (*ctx->c_no_memory)++;
            return NULL;
        }
        b->call = c;
        timer_init(&b->timer, on_block_timer, ctx->rules);
        c->rule_state = b;
        ctx->rules->blocks++;
    }
    return (char *)b + ctx->state_offset;
}

void rules_call_timer_at(const struct rules_context *ctx, struct call *c, uint64_t due)
{
    struct call_rule_block *b = block_of(c);
    b->due[ctx->timer_index] = due ? due : 1;
    schedule_block(ctx->rules, b);
}

void rules_call_timer_cancel(const struct rules_context *ctx, struct call *c)
{
    struct call_rule_block *b = block_of(c);
    if (!b || !b->due[ctx->timer_index])
        return;
    b->due[ctx->timer_index] = 0;
    schedule_block(ctx->rules, b);
}

void *rules_observe(struct rules_context *ctx, struct call_observer o)
{
    o.user = ctx;
    return call_table_add_observer(ctx->calls, &o) ? ctx : NULL;
}

/* Registered after every detector: their call_freed see their states. */
static void free_call_block(void *user, struct call *c)
{
    struct rules *r = user;
    struct call_rule_block *b = block_of(c);
    if (!b)
        return;
    timerq_cancel(r->timers, &b->timer);
    free(b);
    c->rule_state = NULL;
    r->blocks--;
}

/* A registration's detector states, each at its registration_state_offset
 * from the start (no header: nothing is shared). */
void *rules_registration_state(const struct rules_context *ctx, const struct registration *r)
{
    return r->rule_state ? (char *)r->rule_state + ctx->registration_state_offset : NULL;
}

void *rules_registration_state_make(const struct rules_context *ctx, struct registration *r)
{
    if (!r->rule_state) {
        r->rule_state = calloc(1, ctx->rules->registration_block_size);
        if (!r->rule_state) {
            (*ctx->c_no_memory)++;
            return NULL;
        }
        ctx->rules->registration_blocks++;
    }
    return (char *)r->rule_state + ctx->registration_state_offset;
}

/* Registered after every detector: their registration_freed see their
 * states. */
static void free_registration_block(void *user, struct registration *reg)
{
    struct rules *r = user;
    if (!reg->rule_state)
        return;
    free(reg->rule_state);
    reg->rule_state = NULL;
    r->registration_blocks--;
}

/* Lays out the registration block: each detector's state, 8-byte aligned. */
static void lay_out_registration_block(struct rules *r)
{
    size_t off = 0;
    for (size_t di = 0; di < rules_detector_count; di++) {
        r->contexts[di].registration_state_offset = off;
        off += (rules_detectors[di]->registration_state_size + 7) & ~(size_t)7;
    }
    r->registration_block_size = off;
}

/* Lays out the call block: due times of the detectors with a call timer,
 * then each detector's state, 8-byte aligned. */
static void lay_out_call_block(struct rules *r)
{
    for (size_t di = 0; di < rules_detector_count; di++)
        if (rules_detectors[di]->call_timer)
            r->contexts[di].timer_index = r->timed_count++;
    size_t off = sizeof(struct call_rule_block) + r->timed_count * sizeof(uint64_t);
    for (size_t di = 0; di < rules_detector_count; di++) {
        r->contexts[di].state_offset = off;
        off += (rules_detectors[di]->call_state_size + 7) & ~(size_t)7;
        if (rules_detectors[di]->call_timer)
            r->timed[r->contexts[di].timer_index] = &r->contexts[di];
    }
    r->block_size = off;
}

struct rules *rules_new(const struct rule_settings *settings, struct call_table *calls,
                        struct timerq *timers, struct event_bus *bus, struct counters *counters,
                        const struct trunk_list *trunks, char *err, size_t errlen)
{
    struct rules *r = calloc(1, sizeof(*r));
    struct parsed_rules *p = malloc(sizeof(*p));
    if (!r || !p || !parse_settings(p, settings, trunks, err, errlen)) {
        free(r);
        free(p);
        return NULL;
    }
    apply_parsed(r, p);
    free(p);
    r->timers = timers;
    lay_out_call_block(r);
    lay_out_registration_block(r);
    for (size_t di = 0; di < rules_detector_count; di++) {
        struct rules_context *ctx = &r->contexts[di];
        ctx->detector = rules_detectors[di];
        ctx->calls = calls;
        ctx->timers = timers;
        ctx->bus = bus;
        ctx->counters = counters;
        ctx->trunks = trunks;
        ctx->rules = r;
        if (ctx->detector->call_state_size || ctx->detector->registration_state_size) {
            char name[64];
            snprintf(name, sizeof(name), "%s_no_memory", ctx->detector->name);
            ctx->c_no_memory = counters_register(counters, "rules", name);
        }
        /* A disabled detector is still created (so a reload can enable it);
         * it checks ctx->enabled before raising anything. */
        r->states[di] = ctx->detector->create ? ctx->detector->create(ctx) : NULL;
    }
    struct call_observer o = {
        .user = r, .call_freed = free_call_block, .registration_freed = free_registration_block};
    if (!call_table_add_observer(calls, &o)) {
        snprintf(err, errlen, "internal: no room for the rules' call observer");
        rules_free(r);
        return NULL;
    }
    return r;
}

bool rules_reload(struct rules *r, const struct rule_settings *settings, char *err, size_t errlen)
{
    struct parsed_rules *p = malloc(sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bool ok = parse_settings(p, settings, r->contexts[0].trunks, err, errlen);
    if (ok)
        apply_parsed(r, p);
    free(p);
    return ok;
}

void rules_free(struct rules *r)
{
    if (!r)
        return;
    for (size_t di = 0; di < rules_detector_count; di++)
        if (r->contexts[di].detector && r->contexts[di].detector->destroy)
            r->contexts[di].detector->destroy(r->states[di]);
    free(r);
}

size_t rules_call_states(const struct rules *r)
{
    return r ? r->blocks : 0;
}

size_t rules_registration_states(const struct rules *r)
{
    return r ? r->registration_blocks : 0;
}

const struct rules_context *rules_context_of(const struct rules *r, const char *detector)
{
    int di = find_detector(detector);
    return di < 0 ? NULL : &r->contexts[di];
}

double rules_param(const struct rules_context *ctx, const char *name,
                   const struct trunk_config *trunk)
{
    int pi = find_param(ctx->detector, name);
    if (pi < 0) {
        /* A name the detector does not have is the caller's bug: a 0 would
         * pass for a value and hide it. */
        fprintf(stderr, "rules_param: detector %s has no parameter %s\n", ctx->detector->name,
                name);
        abort();
    }
    return rules_param_at(ctx, (size_t)pi, trunk);
}

double rules_param_at(const struct rules_context *ctx, size_t pi, const struct trunk_config *trunk)
{
    if (trunk)
        for (size_t i = 0; i < ctx->override_count; i++)
            if (ctx->overrides[i].trunk == trunk && ctx->overrides[i].param == pi)
                return ctx->overrides[i].value;
    return ctx->values[pi];
}

void rules_event_begin(const struct rules_context *ctx, struct event *ev, const char *type,
                       enum severity default_severity, uint64_t ts_us, const struct call *c)
{
    enum severity sev = default_severity;
    for (size_t i = 0; i < ctx->rules->severity_count; i++)
        if (strcmp(ctx->rules->severities[i].type, type) == 0)
            sev = ctx->rules->severities[i].severity;
    event_begin(ev, type, sev, ts_us, c ? c->call_id : NULL, c ? call_trunk_name(c) : NULL);
    call_mark_capture_loss(ctx->calls, c, &ev->body);
}

void rules_publish(const struct rules_context *ctx, struct event *ev)
{
    event_publish(ctx->bus, ev);
}

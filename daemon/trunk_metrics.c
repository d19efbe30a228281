/*
 * trunk_metrics: see trunk_metrics.h. One small array of labels, looked up
 * by a linear scan: calls start and end at most a few hundred times a
 * second, far from the packet path, and 257 labels scan in well under a
 * microsecond. Final responses are kept per label as a short list of
 * (direction, code) pairs; codes past the list's end count as code "other".
 */
#include "daemon/trunk_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics.h"

#define TRUNK_METRICS_MAX_CODES 32
#define DIRECTIONS              3 /* enum call_direction */

struct trunk_label {
    char name[64];
    uint64_t calls[DIRECTIONS][TRUNK_OUTCOME_COUNT];
    struct {
        uint8_t direction;
        int code; /* 0: "other" */
        uint64_t count;
    } codes[TRUNK_METRICS_MAX_CODES + DIRECTIONS];
    size_t code_count;
    uint64_t active;
    bool down; /* a trunk_down came, no trunk_up since */
};

struct trunk_metrics {
    /* labels[TRUNK_METRICS_MAX_LABELS] is "other" */
    struct trunk_label labels[TRUNK_METRICS_MAX_LABELS + 1];
    size_t count;
};

static const char *const outcome_names[TRUNK_OUTCOME_COUNT] = {
    "answered", "busy", "no_answer", "rejected", "failed", "canceled", "timeout",
};

const char *trunk_outcome_name(enum trunk_outcome o)
{
    return o < TRUNK_OUTCOME_COUNT ? outcome_names[o] : "none";
}

enum trunk_outcome trunk_outcome_of(const struct call *c, enum call_end_reason reason)
{
    int s = c->final_status;
    if (c->answer_us || (s >= 200 && s < 300))
        return TRUNK_OUTCOME_ANSWERED;
    if (c->cancel_seen || reason == CALL_END_CANCEL)
        return TRUNK_OUTCOME_CANCELED;
    if (s == 486 || s == 600)
        return TRUNK_OUTCOME_BUSY;
    if (s == 408 && reason == CALL_END_TIMEOUT)
        return TRUNK_OUTCOME_TIMEOUT;
    if (s == 408 || s == 480 || s == 487)
        return TRUNK_OUTCOME_NO_ANSWER;
    if (s >= 500 && s < 600)
        return TRUNK_OUTCOME_FAILED;
    if (s >= 300)
        return TRUNK_OUTCOME_REJECTED;
    if (reason == CALL_END_TIMEOUT)
        return TRUNK_OUTCOME_TIMEOUT;
    return TRUNK_OUTCOME_NONE;
}

static struct trunk_label *label_named(struct trunk_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->labels[i].name, name) == 0)
            return &m->labels[i];
    if (m->count == TRUNK_METRICS_MAX_LABELS)
        return &m->labels[TRUNK_METRICS_MAX_LABELS];
    struct trunk_label *l = &m->labels[m->count++];
    snprintf(l->name, sizeof(l->name), "%s", name);
    return l;
}

struct trunk_metrics *trunk_metrics_new(const struct trunk_list *trunks)
{
    struct trunk_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    snprintf(m->labels[TRUNK_METRICS_MAX_LABELS].name, sizeof(m->labels[0].name), "other");
    for (size_t i = 0; trunks && i < trunks->count; i++)
        label_named(m, trunks->trunks[i].name);
    return m;
}

void trunk_metrics_set_health(struct trunk_metrics *m, const char *trunk, bool up)
{
    if (trunk)
        label_named(m, trunk)->down = !up;
}

void trunk_metrics_free(struct trunk_metrics *m)
{
    free(m);
}

/* The trunk's name, or the peer's address: the caller's for an inbound
 * call, the callee's otherwise. */
static void label_of(const struct call *c, char *out, size_t outlen)
{
    const char *trunk = call_trunk_name(c);
    if (trunk) {
        snprintf(out, outlen, "%s", trunk);
        return;
    }
    int peer = c->direction == CALL_DIRECTION_INBOUND ? CALL_CALLER : CALL_CALLEE;
    net_addr_format(&c->party[peer].signalling.addr, out, outlen);
}

static struct trunk_label *label_find(struct trunk_metrics *m, const struct call *c)
{
    char name[64];
    label_of(c, name, sizeof(name));
    return label_named(m, name);
}

static void code_add(struct trunk_label *l, uint8_t direction, int code)
{
    size_t i = 0;
    while (i < l->code_count && !(l->codes[i].direction == direction && l->codes[i].code == code))
        i++;
    if (i == l->code_count) {
        /* Full: the last DIRECTIONS slots are "other", one per direction. */
        if (l->code_count >= TRUNK_METRICS_MAX_CODES && code != 0) {
            code_add(l, direction, 0);
            return;
        }
        l->codes[i].direction = direction;
        l->codes[i].code = code;
        l->code_count++;
    }
    l->codes[i].count++;
}

static void on_started(void *user, struct call *c, uint64_t now_us)
{
    (void)now_us;
    label_find(user, c)->active++;
}

static void on_ending(void *user, struct call *c, enum call_end_reason reason,
                      struct json_text *members, uint64_t now_us)
{
    (void)members;
    (void)now_us;
    struct trunk_label *l = label_find(user, c);
    if (l->active > 0)
        l->active--;
    uint8_t dir = (uint8_t)c->direction < DIRECTIONS ? (uint8_t)c->direction : 0;
    enum trunk_outcome o = trunk_outcome_of(c, reason);
    if (o != TRUNK_OUTCOME_NONE)
        l->calls[dir][o]++;
    /* A timeout's 408 is the tap's verdict, not a response on the wire. */
    if (c->final_status >= 200 && c->final_status < 700 && o != TRUNK_OUTCOME_TIMEOUT)
        code_add(l, dir, c->final_status);
}

void trunk_metrics_observer(struct trunk_metrics *m, struct call_observer *out)
{
    memset(out, 0, sizeof(*out));
    out->user = m;
    out->call_started = on_started;
    out->call_ending = on_ending;
}

#define put buf_appendf

/* Label values here are trunk names (config) and addresses. */
#define escape metrics_label_value

/* Every label in use; "other" once something counted there. */
static bool label_used(const struct trunk_metrics *m, size_t i)
{
    if (i < m->count)
        return true;
    if (i != TRUNK_METRICS_MAX_LABELS)
        return false;
    const struct trunk_label *l = &m->labels[i];
    bool any = l->active || l->code_count || l->down;
    for (int d = 0; d < DIRECTIONS; d++)
        for (int o = 0; o < TRUNK_OUTCOME_COUNT; o++)
            any |= l->calls[d][o] != 0;
    return any;
}

bool trunk_metrics_render(const struct trunk_metrics *m, struct buf *out)
{
    bool ok = put(out, "# HELP siptap_trunk_calls_total calls ended, by trunk (or peer address), "
                       "direction and outcome (docs/kpis.md)\n"
                       "# TYPE siptap_trunk_calls_total counter\n");
    char name[140];
    for (size_t i = 0; i <= TRUNK_METRICS_MAX_LABELS; i++) {
        if (!label_used(m, i))
            continue;
        escape(m->labels[i].name, name, sizeof(name));
        for (int d = 0; d < DIRECTIONS; d++)
            for (int o = 0; o < TRUNK_OUTCOME_COUNT; o++)
                if (m->labels[i].calls[d][o])
                    ok &= put(out,
                              "siptap_trunk_calls_total{trunk=\"%s\",direction=\"%s\","
                              "outcome=\"%s\"} %llu\n",
                              name, call_direction_name((enum call_direction)d), outcome_names[o],
                              (unsigned long long)m->labels[i].calls[d][o]);
    }
    ok &= put(out, "# HELP siptap_trunk_final_responses_total final responses to initial "
                   "INVITEs, by trunk (or peer address), direction and status code\n"
                   "# TYPE siptap_trunk_final_responses_total counter\n");
    for (size_t i = 0; i <= TRUNK_METRICS_MAX_LABELS; i++) {
        const struct trunk_label *l = &m->labels[i];
        escape(l->name, name, sizeof(name));
        for (size_t k = 0; label_used(m, i) && k < l->code_count; k++) {
            char code[8];
            if (l->codes[k].code)
                snprintf(code, sizeof(code), "%d", l->codes[k].code);
            else
                snprintf(code, sizeof(code), "other");
            ok &= put(out,
                      "siptap_trunk_final_responses_total{trunk=\"%s\",direction=\"%s\","
                      "code=\"%s\"} %llu\n",
                      name, call_direction_name((enum call_direction)l->codes[k].direction), code,
                      (unsigned long long)l->codes[k].count);
        }
    }
    ok &= put(out, "# HELP siptap_trunk_active_calls calls not yet ended, by trunk (or peer "
                   "address)\n# TYPE siptap_trunk_active_calls gauge\n");
    for (size_t i = 0; i <= TRUNK_METRICS_MAX_LABELS; i++) {
        if (!label_used(m, i))
            continue;
        escape(m->labels[i].name, name, sizeof(name));
        ok &= put(out, "siptap_trunk_active_calls{trunk=\"%s\"} %llu\n", name,
                  (unsigned long long)m->labels[i].active);
    }
    ok &= put(out, "# HELP siptap_trunk_up 0 after a trunk_down event about the trunk (or peer "
                   "address) until its trunk_up, else 1\n# TYPE siptap_trunk_up gauge\n");
    for (size_t i = 0; i <= TRUNK_METRICS_MAX_LABELS; i++) {
        if (!label_used(m, i))
            continue;
        escape(m->labels[i].name, name, sizeof(name));
        ok &= put(out, "siptap_trunk_up{trunk=\"%s\"} %d\n", name, m->labels[i].down ? 0 : 1);
    }
    return ok;
}

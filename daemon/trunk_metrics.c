/*
 * trunk_metrics: see trunk_metrics.h. One small array of labels, looked up
 * by a linear scan: calls start and end at most a few hundred times a
 * second, far from the packet path, and 257 labels scan in well under a
 * microsecond. Final responses are kept per label as a short list of
 * (direction, code) pairs; codes past the list's end count as code "other".
 *
 * The KPIs (docs/kpis.md) are taken from the call's own times when it ends
 * (call_ending), the disconnect delay when the BYE's final response passes
 * (call_message), the registration figures from each REGISTER and its
 * responses (registration_message). Every figure goes twice: into a
 * histogram or counter of the page, and into the label's interval sums that
 * make its next trunk_stats event.
 */
#include "daemon/trunk_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_writer.h"
#include "core/timefmt.h"
#include "daemon/histogram.h"
#include "daemon/metrics.h"
#include "rtp/flow.h"
#include "rtp/stream.h"

#define TRUNK_METRICS_MAX_CODES 32
#define DIRECTIONS              3 /* enum call_direction */

/* Bucket bounds, fixed (docs/kpis.md lists them). */
static const double delay_le[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30};
static const double duration_le[] = {1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200};
static const double short_delay_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16};
static const double mos_le[] = {1, 1.5, 2, 2.5, 3, 3.5, 3.8, 4, 4.2, 4.3, 4.4, 4.5};
static const double loss_le[] = {0, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1};
static const double jitter_le[] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5};
#define BOUNDS(a)                                                                                  \
    {                                                                                              \
        a, sizeof(a) / sizeof(a[0])                                                                \
    }
static const struct histogram_bounds delay_bounds = BOUNDS(delay_le),
                                     duration_bounds = BOUNDS(duration_le),
                                     short_delay_bounds = BOUNDS(short_delay_le),
                                     mos_bounds = BOUNDS(mos_le), loss_bounds = BOUNDS(loss_le),
                                     jitter_bounds = BOUNDS(jitter_le);

/* The histograms of one trunk and direction. */
struct trunk_direction {
    struct histogram setup, setup_failed, pdd, duration, disconnect;
    struct histogram mos, loss, jitter; /* per audio stream, at call end */
    uint64_t completed;                 /* SCR's completed sessions */
};

/* The histograms of the page, in the order they are rendered. */
static const struct {
    const char *name, *help;
    const struct histogram_bounds *bounds;
    size_t offset;
} direction_histograms[] = {
    {"siptap_trunk_setup_seconds",
     "session request delay of successful setups (RFC 6076 SRD): first INVITE to the first "
     "180/183, or to the 2xx when none came first (docs/kpis.md)",
     &delay_bounds, offsetof(struct trunk_direction, setup)},
    {"siptap_trunk_setup_failed_seconds",
     "session request delay of failed setups (RFC 6076 failed SRD): first INVITE to a final "
     "4xx-6xx (not 401/407, not after CANCEL) with no 18x before it",
     &delay_bounds, offsetof(struct trunk_direction, setup_failed)},
    {"siptap_trunk_pdd_seconds", "post-dial delay: first INVITE to the first 180/183",
     &delay_bounds, offsetof(struct trunk_direction, pdd)},
    {"siptap_trunk_call_duration_seconds",
     "answered calls: 2xx to the end (BYE), RFC 6076 SDT; ACD = sum / count", &duration_bounds,
     offsetof(struct trunk_direction, duration)},
    {"siptap_trunk_disconnect_seconds",
     "session disconnect delay (RFC 6076 SDD): BYE to its final response", &short_delay_bounds,
     offsetof(struct trunk_direction, disconnect)},
    {"siptap_stream_mos", "E-model MOS of each audio stream of a call, at its end", &mos_bounds,
     offsetof(struct trunk_direction, mos)},
    {"siptap_stream_loss_ratio",
     "lost / expected packets (0..1) of each audio stream of a call, at its end", &loss_bounds,
     offsetof(struct trunk_direction, loss)},
    {"siptap_stream_jitter_seconds",
     "mean RFC 3550 interarrival jitter of each audio stream of a call, at its end", &jitter_bounds,
     offsetof(struct trunk_direction, jitter)},
};

/* A mean over an interval. */
struct mean {
    double sum;
    uint64_t count;
};

enum reg_outcome {
    REG_OUTCOME_REGISTERED,
    REG_OUTCOME_UNREGISTERED,
    REG_OUTCOME_FAILED,
    REG_OUTCOME_COUNT
};
static const char *const reg_outcome_names[REG_OUTCOME_COUNT] = {"registered", "unregistered",
                                                                 "failed"};

/* REGISTER attempts to one registrar trunk. */
struct reg_stats {
    struct histogram rrd;
    uint64_t attempts[REG_OUTCOME_COUNT];
};

/* What one trunk_stats event says: the interval's sums. */
struct trunk_interval {
    uint64_t attempts, outcomes[TRUNK_OUTCOME_COUNT];
    uint64_t redirected;  /* 3xx: out of SER's and SEER's denominators */
    uint64_t effective;   /* SEER's numerator: 2xx, 480, 486, 600, 603 */
    uint64_t ineffective; /* ISA: 408, 500, 503, 504, timeouts */
    uint64_t completed;   /* SCR */
    struct mean acd, pdd, srd, srd_failed, sdd, rrd;
    uint64_t reg_attempts[REG_OUTCOME_COUNT];
    bool traffic;
};

struct trunk_label {
    char name[64];
    struct trunk_direction directions[3];
    struct reg_stats reg;
    struct trunk_interval interval;
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

enum reg_state {
    REG_STATE_NONE, /* not counted yet */
    REG_STATE_PENDING,
    REG_STATE_REGISTERED,
    REG_STATE_CHALLENGED,
    REG_STATE_FAILED,
    REG_STATE_UNREGISTERED,
    REG_STATE_COUNT,
};
static const char *const reg_state_names[REG_STATE_COUNT] = {
    "none", "pending", "registered", "challenged", "failed", "unregistered",
};

#define TRUNK_METRICS_MAX_ALERTS 1024
#define LABEL_NONE               UINT16_MAX /* an alert of no known trunk */

struct trunk_metrics {
    /* labels[TRUNK_METRICS_MAX_LABELS] is "other" */
    struct trunk_label labels[TRUNK_METRICS_MAX_LABELS + 1];
    size_t count;
    size_t configured; /* labels[0..configured) are the configured trunks */
    const struct trunk_list *trunks;
    struct reg_stats reg_none; /* registrars of no configured trunk */
    uint64_t registrations[REG_STATE_COUNT];
    struct {
        char type[32];
        uint16_t label;
        uint64_t count;
    } alerts[TRUNK_METRICS_MAX_ALERTS];
    size_t alert_count;
    uint64_t alerts_untallied; /* past TRUNK_METRICS_MAX_ALERTS pairs */
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
    m->configured = m->count;
    m->trunks = trunks;
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

static void on_started(void *user, struct call *c, const struct sip_msg *m,
                       const struct sip_meta *meta)
{
    (void)m;
    (void)meta;
    label_find(user, c)->active++;
}

static void mean_add(struct mean *m, double v)
{
    m->sum += v;
    m->count++;
}

static double seconds_between(uint64_t from_us, uint64_t to_us)
{
    return (double)(to_us - from_us) / 1e6;
}

/* Every audio stream of the call with packets, RFC 4733 event streams left
 * out (rtp_stream_is_dtmf): MOS, loss, mean jitter. */
static void observe_streams(struct trunk_direction *d, const struct call *c)
{
    for (size_t i = 0; i < c->flow_count; i++) {
        if (call_flow_media(c, i) != RTP_MEDIA_AUDIO)
            continue;
        for (size_t k = 0; k < c->flows[i]->stream_count; k++) {
            const struct rtp_stream *s = rtp_flow_stream_const(c->flows[i], k);
            if (s->packets == 0 || rtp_stream_is_dtmf(s))
                continue;
            struct rtp_stream_report r;
            rtp_stream_report(s, &r);
            double loss = r.loss_pct / 100.0;
            histogram_observe(&d->mos, &mos_bounds, r.mos);
            histogram_observe(&d->loss, &loss_bounds, loss < 0 ? 0 : loss > 1 ? 1 : loss);
            histogram_observe(&d->jitter, &jitter_bounds, r.jitter_mean_ms / 1000.0);
        }
    }
}

static bool status_in(int s, const int *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == s)
            return true;
    return false;
}

/* The KPIs of a call that counts as an attempt (docs/kpis.md). */
static void observe_call(struct trunk_label *l, struct trunk_direction *d, const struct call *c,
                         enum call_end_reason reason, enum trunk_outcome o)
{
    static const int effective[] = {480, 486, 600, 603};
    static const int ineffective[] = {408, 500, 503, 504};
    struct trunk_interval *iv = &l->interval;
    int s = c->final_status;
    iv->traffic = true;
    iv->attempts++;
    iv->outcomes[o]++;
    if (s >= 300 && s < 400)
        iv->redirected++;
    if (o == TRUNK_OUTCOME_ANSWERED || status_in(s, effective, 4))
        iv->effective++;
    if (o == TRUNK_OUTCOME_TIMEOUT || status_in(s, ineffective, 4))
        iv->ineffective++;
    bool answered = o == TRUNK_OUTCOME_ANSWERED;
    if (answered && reason == CALL_END_BYE && c->ack_us) {
        iv->completed++;
        d->completed++;
    }
    uint64_t first = c->first_18x_us;
    if (c->answer_us && (!first || c->answer_us < first))
        first = c->answer_us;
    if (first && c->invite_us && first >= c->invite_us) {
        double v = seconds_between(c->invite_us, first);
        histogram_observe(&d->setup, &delay_bounds, v);
        mean_add(&iv->srd, v);
    } else if (s >= 400 && s != 401 && s != 407 && o != TRUNK_OUTCOME_CANCELED &&
               o != TRUNK_OUTCOME_TIMEOUT && c->end_us >= c->invite_us && c->invite_us) {
        double v = seconds_between(c->invite_us, c->end_us);
        histogram_observe(&d->setup_failed, &delay_bounds, v);
        mean_add(&iv->srd_failed, v);
    }
    if (c->first_18x_us && c->invite_us && c->first_18x_us >= c->invite_us) {
        double v = seconds_between(c->invite_us, c->first_18x_us);
        histogram_observe(&d->pdd, &delay_bounds, v);
        mean_add(&iv->pdd, v);
    }
    if (answered && reason != CALL_END_CAPTURE_END && reason != CALL_END_EVICTED &&
        c->end_us >= c->answer_us) {
        double v = seconds_between(c->answer_us, c->end_us);
        histogram_observe(&d->duration, &duration_bounds, v);
        mean_add(&iv->acd, v);
    }
    observe_streams(d, c);
}

static uint8_t direction_index(const struct call *c)
{
    return (uint8_t)c->direction < DIRECTIONS ? (uint8_t)c->direction : 0;
}

static void on_ending(void *user, struct call *c, enum call_end_reason reason, struct event *ev,
                      uint64_t now_us)
{
    (void)ev;
    (void)now_us;
    struct trunk_label *l = label_find(user, c);
    if (l->active > 0)
        l->active--;
    uint8_t dir = direction_index(c);
    enum trunk_outcome o = trunk_outcome_of(c, reason);
    if (o != TRUNK_OUTCOME_NONE) {
        l->calls[dir][o]++;
        observe_call(l, &l->directions[dir], c, reason, o);
    }
    /* A timeout's 408 is the tap's verdict, not a response on the wire. */
    if (c->final_status >= 200 && c->final_status < 700 && o != TRUNK_OUTCOME_TIMEOUT)
        code_add(l, dir, c->final_status);
}

/* SDD: the BYE's first final response (the call ended with that BYE). */
static void on_message(void *user, struct call *c, const struct sip_msg *m,
                       const struct sip_meta *meta, bool retransmission)
{
    (void)retransmission;
    if (m->is_request || m->method != SIP_METHOD_BYE || m->status < 200 || !c->bye_seen ||
        c->kpi_bye_answered || c->state != CALL_STATE_ENDED || c->end_reason != CALL_END_BYE ||
        meta->ts_us < c->end_us)
        return;
    c->kpi_bye_answered = true;
    struct trunk_label *l = label_find(user, c);
    double v = seconds_between(c->end_us, meta->ts_us);
    histogram_observe(&l->directions[direction_index(c)].disconnect, &short_delay_bounds, v);
    mean_add(&l->interval.sdd, v);
    l->interval.traffic = true;
}

/* The registrar's configured trunk, NULL if none. */
static struct trunk_label *registrar_label(struct trunk_metrics *m, const struct registration *r)
{
    const struct trunk_config *t =
        m->trunks ? trunk_list_find(m->trunks, &r->key.registrar.addr) : NULL;
    return t ? label_named(m, t->name) : NULL;
}

static void reg_count(struct trunk_metrics *m, struct trunk_label *l, enum reg_outcome o,
                      double rrd_s)
{
    struct reg_stats *rs = l ? &l->reg : &m->reg_none;
    rs->attempts[o]++;
    if (o == REG_OUTCOME_REGISTERED)
        histogram_observe(&rs->rrd, &short_delay_bounds, rrd_s);
    if (!l)
        return;
    l->interval.traffic = true;
    l->interval.reg_attempts[o]++;
    if (o == REG_OUTCOME_REGISTERED)
        mean_add(&l->interval.rrd, rrd_s);
}

static void reg_set_state(struct trunk_metrics *m, struct registration *r, enum reg_state s)
{
    if (r->kpi_state != REG_STATE_NONE && m->registrations[r->kpi_state] > 0)
        m->registrations[r->kpi_state]--;
    r->kpi_state = (uint8_t)s;
    if (s != REG_STATE_NONE)
        m->registrations[s]++;
}

/* A REGISTER starts an attempt (its retransmissions and the request with
 * credentials after a 401/407 belong to it); its final response other than
 * a challenge ends it. */
static void on_registration(void *user, struct registration *r, const struct sip_msg *msg,
                            const struct sip_meta *meta)
{
    struct trunk_metrics *m = user;
    if (msg->is_request) {
        if (!r->kpi_attempt_us)
            r->kpi_attempt_us = meta->ts_us;
        if (r->kpi_state == REG_STATE_NONE)
            reg_set_state(m, r, REG_STATE_PENDING);
        return;
    }
    int st = msg->status;
    if (st < 200)
        return;
    if (st == 401 || st == 407) {
        reg_set_state(m, r, REG_STATE_CHALLENGED);
        return;
    }
    bool removal = st < 300 && msg->expires == 0;
    enum reg_outcome o = st >= 300 ? REG_OUTCOME_FAILED
                         : removal ? REG_OUTCOME_UNREGISTERED
                                   : REG_OUTCOME_REGISTERED;
    reg_set_state(m, r,
                  st >= 300 ? REG_STATE_FAILED
                  : removal ? REG_STATE_UNREGISTERED
                            : REG_STATE_REGISTERED);
    if (!r->kpi_attempt_us)
        return; /* a retransmitted final response */
    double rrd =
        meta->ts_us >= r->kpi_attempt_us ? seconds_between(r->kpi_attempt_us, meta->ts_us) : 0;
    r->kpi_attempt_us = 0;
    reg_count(m, registrar_label(m, r), o, rrd);
}

static void on_registration_freed(void *user, struct registration *r)
{
    reg_set_state(user, r, REG_STATE_NONE);
}

void trunk_metrics_observer(struct trunk_metrics *m, struct call_observer *out)
{
    *out = (struct call_observer){.user = m,
                                  .call_started = on_started,
                                  .call_ending = on_ending,
                                  .call_message = on_message,
                                  .registration_message = on_registration,
                                  .registration_freed = on_registration_freed};
}

void trunk_metrics_alert(struct trunk_metrics *m, const char *type, const char *trunk)
{
    if (!type)
        return;
    uint16_t label = LABEL_NONE;
    for (size_t i = 0; trunk && i < m->count; i++)
        if (strcmp(m->labels[i].name, trunk) == 0)
            label = (uint16_t)i;
    size_t i = 0;
    while (i < m->alert_count &&
           !(m->alerts[i].label == label && strcmp(m->alerts[i].type, type) == 0))
        i++;
    if (i == m->alert_count) {
        if (i == TRUNK_METRICS_MAX_ALERTS || strlen(type) >= sizeof(m->alerts[0].type)) {
            m->alerts_untallied++;
            return;
        }
        snprintf(m->alerts[i].type, sizeof(m->alerts[i].type), "%s", type);
        m->alerts[i].label = label;
        m->alert_count++;
    }
    m->alerts[i].count++;
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

static bool render_kpis(const struct trunk_metrics *m, struct buf *out)
{
    bool ok = true;
    char name[140], labels[200];
    for (size_t h = 0; h < sizeof(direction_histograms) / sizeof(direction_histograms[0]); h++) {
        ok &= put(out, "# HELP %s %s\n# TYPE %s histogram\n", direction_histograms[h].name,
                  direction_histograms[h].help, direction_histograms[h].name);
        for (size_t i = 0; i <= TRUNK_METRICS_MAX_LABELS; i++) {
            if (!label_used(m, i))
                continue;
            escape(m->labels[i].name, name, sizeof(name));
            for (int d = 0; d < DIRECTIONS; d++) {
                const struct histogram *hist =
                    (const struct histogram *)((const char *)&m->labels[i].directions[d] +
                                               direction_histograms[h].offset);
                snprintf(labels, sizeof(labels), "trunk=\"%s\",direction=\"%s\"", name,
                         call_direction_name((enum call_direction)d));
                ok &= histogram_render(out, direction_histograms[h].name, labels,
                                       direction_histograms[h].bounds, hist);
            }
        }
    }
    ok &= put(out, "# HELP siptap_trunk_completed_calls_total answered calls ended by a BYE after "
                   "their ACK (RFC 6076 SCR's successfully completed sessions)\n"
                   "# TYPE siptap_trunk_completed_calls_total counter\n");
    for (size_t i = 0; i <= TRUNK_METRICS_MAX_LABELS; i++) {
        if (!label_used(m, i))
            continue;
        escape(m->labels[i].name, name, sizeof(name));
        for (int d = 0; d < DIRECTIONS; d++)
            if (m->labels[i].directions[d].completed)
                ok &= put(out,
                          "siptap_trunk_completed_calls_total{trunk=\"%s\",direction=\"%s\"} "
                          "%llu\n",
                          name, call_direction_name((enum call_direction)d),
                          (unsigned long long)m->labels[i].directions[d].completed);
    }
    return ok;
}

/* The registrar trunk's name (configured trunks only), or "none". */
static bool render_reg_stats(const char *trunk, const struct reg_stats *rs, struct buf *out,
                             bool attempts)
{
    char name[140], labels[160];
    escape(trunk, name, sizeof(name));
    bool ok = true;
    if (!attempts) {
        snprintf(labels, sizeof(labels), "trunk=\"%s\"", name);
        return histogram_render(out, "siptap_registration_request_delay_seconds", labels,
                                &short_delay_bounds, &rs->rrd);
    }
    for (int o = 0; o < REG_OUTCOME_COUNT; o++)
        if (rs->attempts[o])
            ok &= put(out, "siptap_registration_attempts_total{trunk=\"%s\",outcome=\"%s\"} %llu\n",
                      name, reg_outcome_names[o], (unsigned long long)rs->attempts[o]);
    return ok;
}

static bool render_registrations(const struct trunk_metrics *m, struct buf *out)
{
    bool ok = put(out, "# HELP siptap_registrations registrations (AOR at a registrar) followed, "
                       "by the state of their latest REGISTER transaction (docs/kpis.md)\n"
                       "# TYPE siptap_registrations gauge\n");
    for (int s = REG_STATE_PENDING; s < REG_STATE_COUNT; s++)
        ok &= put(out, "siptap_registrations{state=\"%s\"} %llu\n", reg_state_names[s],
                  (unsigned long long)m->registrations[s]);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            ok &= put(out, "# HELP siptap_registration_request_delay_seconds registration "
                           "request delay (RFC 6076 RRD): first REGISTER of an attempt to its "
                           "2xx, challenges included, by registrar trunk\n"
                           "# TYPE siptap_registration_request_delay_seconds histogram\n");
        else
            ok &= put(out, "# HELP siptap_registration_attempts_total REGISTER attempts ended, "
                           "by registrar trunk and outcome (IRA = failed / all)\n"
                           "# TYPE siptap_registration_attempts_total counter\n");
        for (size_t i = 0; i < m->configured; i++)
            ok &= render_reg_stats(m->labels[i].name, &m->labels[i].reg, out, pass == 1);
        ok &= render_reg_stats("none", &m->reg_none, out, pass == 1);
    }
    return ok;
}

static bool render_alerts(const struct trunk_metrics *m, struct buf *out)
{
    bool ok = put(out, "# HELP siptap_alerts_total events of severity warning and above, by type "
                       "and trunk (\"none\": of no trunk or peer the trunk metrics know)\n"
                       "# TYPE siptap_alerts_total counter\n");
    char name[140];
    for (size_t i = 0; i < m->alert_count; i++) {
        uint16_t l = m->alerts[i].label;
        escape(l == LABEL_NONE ? "none" : m->labels[l].name, name, sizeof(name));
        ok &= put(out, "siptap_alerts_total{type=\"%s\",trunk=\"%s\"} %llu\n", m->alerts[i].type,
                  name, (unsigned long long)m->alerts[i].count);
    }
    return ok;
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
        if (!label_used(m, i))
            continue; /* not even its name read: its pages stay unmapped */
        const struct trunk_label *l = &m->labels[i];
        escape(l->name, name, sizeof(name));
        for (size_t k = 0; k < l->code_count; k++) {
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
    ok &= render_kpis(m, out);
    ok &= render_registrations(m, out);
    ok &= render_alerts(m, out);
    return ok;
}

/* ---- trunk_stats ---- */

static void member_ratio(struct json_writer *t, const char *key, uint64_t num, uint64_t den)
{
    if (den)
        json_writer_member_real(t, key, (double)num / (double)den);
    else
        json_writer_member_null(t, key);
}

static void member_mean(struct json_writer *t, const char *key, const struct mean *m, double scale)
{
    if (m->count)
        json_writer_member_real(t, key, m->sum * scale / (double)m->count);
    else
        json_writer_member_null(t, key);
}

static void publish_label(const struct trunk_label *l, bool configured, struct event_bus *bus,
                          uint64_t start_us, uint64_t now_us)
{
    const struct trunk_interval *iv = &l->interval;
    char ts[40];
    struct event e;
    event_begin(&e, "trunk_stats", SEVERITY_INFO, now_us, NULL, configured ? l->name : NULL);
    struct json_writer *t = &e.body;
    if (!configured)
        json_writer_member_string(t, "peer", l->name);
    json_writer_member_string(t, "interval_start", timefmt_rfc3339(start_us, ts, sizeof(ts)));
    json_writer_member_real(t, "interval_s", seconds_between(start_us, now_us));
    json_writer_member_integer(t, "attempts", (int64_t)iv->attempts);
    json_writer_member_key(t, "outcomes");
    json_writer_object_begin(t);
    for (int o = 0; o < TRUNK_OUTCOME_COUNT; o++)
        json_writer_member_integer(t, outcome_names[o], (int64_t)iv->outcomes[o]);
    json_writer_object_end(t);
    uint64_t answered = iv->outcomes[TRUNK_OUTCOME_ANSWERED];
    uint64_t delivered =
        answered + iv->outcomes[TRUNK_OUTCOME_BUSY] + iv->outcomes[TRUNK_OUTCOME_NO_ANSWER] +
        iv->outcomes[TRUNK_OUTCOME_REJECTED] + iv->outcomes[TRUNK_OUTCOME_CANCELED];
    json_writer_member_integer(t, "answered", (int64_t)answered);
    member_ratio(t, "asr", answered, iv->attempts);
    member_ratio(t, "ner", delivered, iv->attempts);
    member_mean(t, "acd_s", &iv->acd, 1.0);
    member_mean(t, "pdd_ms", &iv->pdd, 1000.0);
    member_mean(t, "srd_ms", &iv->srd, 1000.0);
    member_mean(t, "srd_failed_ms", &iv->srd_failed, 1000.0);
    member_mean(t, "sdd_ms", &iv->sdd, 1000.0);
    member_ratio(t, "ser", answered, iv->attempts - iv->redirected);
    member_ratio(t, "seer", iv->effective, iv->attempts - iv->redirected);
    member_ratio(t, "isa", iv->ineffective, iv->attempts);
    member_ratio(t, "scr", iv->completed, iv->attempts);
    json_writer_member_integer(t, "completed", (int64_t)iv->completed);
    json_writer_member_integer(t, "active_calls", (int64_t)l->active);
    json_writer_member_integer(t, "up", l->down ? 0 : 1);
    uint64_t reg_all = 0;
    for (int o = 0; o < REG_OUTCOME_COUNT; o++)
        reg_all += iv->reg_attempts[o];
    json_writer_member_integer(t, "registration_attempts", (int64_t)reg_all);
    member_mean(t, "rrd_ms", &iv->rrd, 1000.0);
    member_ratio(t, "ira", iv->reg_attempts[REG_OUTCOME_FAILED], reg_all);
    event_publish(bus, &e);
}

void trunk_metrics_publish_interval(struct trunk_metrics *m, struct event_bus *bus,
                                    uint64_t start_us, uint64_t now_us)
{
    if (now_us < start_us)
        now_us = start_us;
    /* Labels not in use are never touched: their pages stay unmapped. */
    for (size_t i = 0; i <= TRUNK_METRICS_MAX_LABELS; i++) {
        if (i == m->count)
            i = TRUNK_METRICS_MAX_LABELS; /* then "other" */
        struct trunk_label *l = &m->labels[i];
        bool configured = i < m->configured;
        if (configured || l->interval.traffic)
            publish_label(l, configured, bus, start_us, now_us);
        memset(&l->interval, 0, sizeof(l->interval));
    }
}

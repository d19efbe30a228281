/*
 * trunk_health: is a trunk (or, where no trunk is configured, a peer
 * address) answering? trunk_down / trunk_up on each change, and
 * trunk_failover when a failed call is retried on another trunk.
 *
 * Whose health: always the side that should answer. For an INVITE or an
 * OPTIONS that is the request's destination: the configured trunk it belongs
 * to, or, when neither end of the request is a configured trunk, the
 * destination address ("peer"). A request a trunk sends us tells nothing
 * about the trunk, so it is not followed. For REGISTER it is the registrar,
 * and only when the registrar is a configured trunk (a phone that stops
 * refreshing its registration with the PBX is not a PBX outage).
 *
 * Failures, counted per peer while consecutive:
 *   a final 5xx to an INVITE (503 names its own reason) or a 408, explicit
 *   or calls/'s timer B (no response at all)             -> after `failures`
 *                                                           in a row: down;
 *   an OPTIONS keepalive unanswered for options_timeout_s -> down at once;
 *   a registration to a trunk not refreshed by its expiry
 *   (+ registration_grace_s)                              -> down at once.
 * The down reason: options_timeout / registration_lost for those; for call
 * failures "503" or "invite_timeout" when every failure of the run was of
 * that kind, else "consecutive_failures". Any other final answer to an
 * INVITE (a 404, a 486) proves the peer alive and resets the run.
 * Success (a 2xx to an INVITE, any final response to an OPTIONS, a 2xx to a
 * REGISTER) brings a down peer up (trunk_up) and resets the run.
 *
 * Failover: failed calls are remembered in a ring for failover_window_s, and
 * a new call within that time that retries one raises trunk_failover naming
 * both ends and both Call-IDs. A retry is either
 *   by address, whatever the configuration (a first replay of a capture has
 *   no trunks and every direction is unknown): the same caller and callee
 *   (From user; To user, else Request-URI user) from the same source
 *   address to another destination address, after a 5xx, a 408 or a
 *   timeout (not one the caller cancelled); or
 *   by trunk: an outbound call to the same number on another configured
 *   trunk, after any failure but the callee's choice (busy, decline,
 *   cancel), from wherever in the PBX cluster it comes.
 *
 * Tables, each capped with evictions counted (group "rules"): peers (LRU),
 * pending OPTIONS by Call-ID + CSeq (oldest evicted first), and the failure
 * ring. A watched trunk registration is the detector's registration state
 * (rules_registration_state: as many as calls/ follows, freed with the
 * registration). Timers run on the capture clock, one per pending OPTIONS
 * and per watched registration.
 */
#include "rules/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/list.h"
#include "core/str.h"

#define PARAMS(X)                                                                                  \
    X(failures, 5, 1, 1000, "consecutive failures before a trunk is down")                         \
    X(options_timeout_s, 32, 1, 3600, "seconds an OPTIONS may go unanswered")                      \
    X(failover_window_s, 10, 1, 600,                                                               \
      "seconds in which a retry on another trunk counts as failover")                              \
    X(registration_grace_s, 5, 0, 3600,                                                            \
      "seconds past a trunk registration's expiry before it counts as lost")
RULE_PARAM_TABLE(PARAMS);

#define MAX_PEERS           4096
#define MAX_PENDING_OPTIONS 4096
#define FAILURE_RING        256

enum failure_kind { FAIL_503 = 1, FAIL_TIMEOUT = 2, FAIL_OTHER = 4 };

struct peer {
    struct {
        const struct trunk_config *trunk; /* NULL: keyed by address */
        struct net_addr addr;
    } key;
    unsigned failures; /* consecutive */
    unsigned kinds;    /* enum failure_kind bits of the current run */
    bool down;
    struct list_node lru; /* on trunk_health's peers, first: the latest used */
};

struct pending_options {
    struct {
        char call_id[128];
        uint32_t cseq;
    } key;
    struct endpoint dst;
    const struct trunk_config *trunk;
    struct timer timer;
    struct trunk_health *owner;
    struct list_node age; /* on trunk_health's options, first: the oldest */
};

/* The detector's state of a registration (rules_registration_state),
 * zeroed until the first 2xx with an expiry from a trunk: owner NULL. */
struct watched_registration {
    struct registration *reg;
    const struct trunk_config *trunk;
    struct timer timer; /* the expiry + registration_grace_s */
    struct trunk_health *owner;
};

struct recent_failure {
    const struct trunk_config *trunk; /* the outbound trunk, or NULL */
    struct net_addr src, dst;         /* the failed INVITE's addresses */
    char caller[64];
    char number[64];
    char call_id[128];
    uint64_t ts_us;
    int status;
    bool by_trunk;   /* a retry on another trunk is failover */
    bool by_address; /* a retry from src to another address is failover */
    bool used;
};

struct trunk_health {
    struct rules_context *ctx;
    struct hashtab peers;
    struct list peers_lru;
    struct hashtab options;
    struct list options_by_age;
    struct recent_failure ring[FAILURE_RING];
    size_t ring_next;
    size_t ring_unused; /* entries a retry may still match: none, and a new call skips the ring */
    uint64_t *c_peers_evicted, *c_options_evicted, *c_failures_overwritten;
};

/* ---- peers ---- */

static struct peer *peer_get(struct trunk_health *d, const struct trunk_config *trunk,
                             const struct net_addr *addr)
{
    struct peer probe;
    memset(&probe.key, 0, sizeof(probe.key));
    probe.key.trunk = trunk;
    if (!trunk)
        probe.key.addr = *addr;
    struct peer *p = hashtab_find(&d->peers, &probe.key);
    if (p) {
        list_move_front(&d->peers_lru, &p->lru);
        return p;
    }
    if (hashtab_count(&d->peers) >= MAX_PEERS && !list_empty(&d->peers_lru)) {
        struct peer *victim = list_entry(list_last(&d->peers_lru), struct peer, lru);
        list_unlink(&d->peers_lru, &victim->lru);
        hashtab_remove(&d->peers, victim);
        free(victim);
        (*d->c_peers_evicted)++;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    memcpy(&p->key, &probe.key, sizeof(p->key));
    if (!hashtab_insert(&d->peers, p)) {
        free(p);
        return NULL;
    }
    list_push_front(&d->peers_lru, &p->lru);
    return p;
}

/* The peer whose health a request from src to dst tells, or NULL. */
static struct peer *peer_for_request(struct trunk_health *d, const struct net_addr *src,
                                     const struct net_addr *dst,
                                     const struct trunk_config **trunk_out)
{
    const struct trunk_config *to = trunk_list_find(d->ctx->trunks, dst);
    *trunk_out = to;
    if (to)
        return peer_get(d, to, NULL);
    if (trunk_list_find(d->ctx->trunks, src))
        return NULL;
    return peer_get(d, NULL, dst);
}

static void raise_health(struct trunk_health *d, struct peer *p, const char *type,
                         enum severity sev, const char *reason, const struct call *c, uint64_t now)
{
    if (!d->ctx->enabled)
        return;
    struct event ev;
    rules_event_begin(d->ctx, &ev, type, sev, now, NULL);
    char buf[NETADDR_STRLEN];
    if (p->key.trunk) {
        ev.trunk = p->key.trunk->name;
    } else {
        ev.subject = net_addr_format(&p->key.addr, buf, sizeof(buf));
        json_writer_member_string(&ev.body, "peer", ev.subject);
    }
    json_writer_member_string(&ev.body, "reason", reason);
    json_writer_member_integer(&ev.body, "failures", p->failures);
    if (c)
        json_writer_member_wire_string(&ev.body, "last_call_id", c->call_id);
    rules_publish(d->ctx, &ev);
}

static void peer_failure(struct trunk_health *d, struct peer *p, enum failure_kind kind,
                         const char *immediate_reason, const struct call *c, uint64_t now)
{
    p->failures++;
    p->kinds |= (unsigned)kind;
    if (p->down)
        return;
    const char *reason = immediate_reason;
    if (!reason) {
        unsigned need = (unsigned)RULE_PARAM(d->ctx, failures, p->key.trunk);
        if (p->failures < need)
            return;
        reason = p->kinds == FAIL_503       ? "503"
                 : p->kinds == FAIL_TIMEOUT ? "invite_timeout"
                                            : "consecutive_failures";
    }
    p->down = true;
    raise_health(d, p, "trunk_down", SEVERITY_ERROR, reason, c, now);
}

/* The peer answered. success: a 2xx (or an OPTIONS answer), which brings a
 * down peer up; otherwise only the run of failures ends. */
static void peer_alive(struct trunk_health *d, struct peer *p, bool success, const char *how,
                       const struct call *c, uint64_t now)
{
    if (!success) {
        if (!p->down) {
            p->failures = 0;
            p->kinds = 0;
        }
        return;
    }
    if (p->down) {
        p->down = false;
        raise_health(d, p, "trunk_up", SEVERITY_NOTICE, how, c, now);
    }
    p->failures = 0;
    p->kinds = 0;
}

/* ---- INVITEs ---- */

/* The peer a call's INVITE went to, or NULL (inbound calls: the PBX). */
static struct peer *peer_of_call(struct trunk_health *d, const struct call *c)
{
    if (c->direction == CALL_DIRECTION_OUTBOUND && c->trunk)
        return peer_get(d, c->trunk, NULL);
    if (c->direction == CALL_DIRECTION_UNKNOWN)
        return peer_get(d, NULL, &c->party[CALL_CALLEE].signalling.addr);
    return NULL;
}

static bool callee_choice(int st)
{
    return st == 486 || st == 487 || st == 600 || st == 603;
}

/* A failure the far end (or the path to it) is to blame for: what a
 * router fails over on, trunks configured or not. */
static bool failover_status(int st, const struct call *c)
{
    return (st >= 500 && st < 600) || (st == 408 && !c->cancel_seen);
}

static uint64_t failover_window_us(const struct trunk_health *d, const struct trunk_config *trunk)
{
    return (uint64_t)(RULE_PARAM(d->ctx, failover_window_s, trunk) * 1e6);
}

/* The configured trunk a call was sent to, or NULL (inbound, or no trunk). */
static const struct trunk_config *destination_trunk(const struct call *c)
{
    return c->direction == CALL_DIRECTION_OUTBOUND ? c->trunk : NULL;
}

static void remember_failure(struct trunk_health *d, const struct call *c, int st, uint64_t now)
{
    bool by_trunk = destination_trunk(c) && !callee_choice(st);
    bool by_address = failover_status(st, c);
    if (!c->party[CALL_CALLEE].user[0] || (!by_trunk && !by_address))
        return;
    struct recent_failure *f = &d->ring[d->ring_next];
    if ((f->by_trunk || f->by_address) && !f->used) {
        d->ring_unused--;
        if (now - f->ts_us <= failover_window_us(d, f->trunk))
            (*d->c_failures_overwritten)++;
    }
    d->ring_unused++;
    d->ring_next = (d->ring_next + 1) % FAILURE_RING;
    f->trunk = destination_trunk(c);
    f->src = c->party[CALL_CALLER].signalling.addr;
    f->dst = c->party[CALL_CALLEE].signalling.addr;
    str_copy(f->caller, sizeof(f->caller), c->party[CALL_CALLER].user);
    str_copy(f->number, sizeof(f->number), c->party[CALL_CALLEE].user);
    str_copy(f->call_id, sizeof(f->call_id), c->call_id);
    f->ts_us = now;
    f->status = st;
    f->by_trunk = by_trunk;
    f->by_address = by_address;
    f->used = false;
}

static void on_call_failed(void *user, struct call *c, const char *reason, struct event *ev,
                           uint64_t now)
{
    struct trunk_health *d = user;
    (void)reason;
    (void)ev;
    int st = c->final_status; /* the failure's (408 for a timeout): set before observers run */
    remember_failure(d, c, st, now);
    struct peer *p = peer_of_call(d, c);
    if (!p)
        return;
    if (st == 503)
        peer_failure(d, p, FAIL_503, NULL, c, now);
    else if (st == 408 && !c->cancel_seen)
        peer_failure(d, p, FAIL_TIMEOUT, NULL, c, now);
    else if (st >= 500 && st < 600)
        peer_failure(d, p, FAIL_OTHER, NULL, c, now);
    else if (st != 408)
        peer_alive(d, p, false, NULL, c, now);
}

static void on_call_answered(void *user, struct call *c, uint64_t now)
{
    struct trunk_health *d = user;
    struct peer *p = peer_of_call(d, c);
    if (p)
        peer_alive(d, p, true, "invite_answered", c, now);
}

/* Does call c retry the failed call f on another trunk or address? */
static bool failover_of(const struct recent_failure *f, const struct call *c)
{
    if (strcmp(f->number, c->party[CALL_CALLEE].user) != 0)
        return false;
    if (f->by_trunk && destination_trunk(c) && destination_trunk(c) != f->trunk)
        return true;
    return f->by_address && net_addr_equal(&f->src, &c->party[CALL_CALLER].signalling.addr) &&
           !net_addr_equal(&f->dst, &c->party[CALL_CALLEE].signalling.addr) &&
           strcmp(f->caller, c->party[CALL_CALLER].user) == 0;
}

static void raise_failover(struct trunk_health *d, const struct recent_failure *f,
                           const struct call *c, uint64_t now)
{
    char buf[NETADDR_STRLEN];
    struct event ev;
    rules_event_begin(d->ctx, &ev, "trunk_failover", SEVERITY_WARNING, now, c);
    struct json_writer *b = &ev.body;
    json_writer_member_string_or_null(b, "from_trunk", f->trunk ? f->trunk->name : NULL);
    const struct trunk_config *to = destination_trunk(c);
    json_writer_member_string_or_null(b, "to_trunk", to ? to->name : NULL);
    json_writer_member_string(b, "from_peer", net_addr_format(&f->dst, buf, sizeof(buf)));
    json_writer_member_string(
        b, "to_peer", net_addr_format(&c->party[CALL_CALLEE].signalling.addr, buf, sizeof(buf)));
    json_writer_member_wire_string(b, "failed_call_id", f->call_id);
    json_writer_member_integer(b, "failed_status", f->status);
    json_writer_member_wire_string(b, "number", f->number);
    json_writer_member_integer(b, "after_ms", (int64_t)((now - f->ts_us) / 1000));
    rules_publish(d->ctx, &ev);
}

static void on_call_started(void *user, struct call *c, const struct sip_msg *m,
                            const struct sip_meta *meta)
{
    struct trunk_health *d = user;
    (void)m;
    uint64_t now = meta->ts_us;
    if (!c->party[CALL_CALLEE].user[0] || d->ring_unused == 0)
        return;
    /* Newest first: the retry follows the latest failure for the number. */
    for (size_t k = 1; k <= FAILURE_RING; k++) {
        struct recent_failure *f = &d->ring[(d->ring_next + FAILURE_RING - k) % FAILURE_RING];
        if (!(f->by_trunk || f->by_address) || f->used || now < f->ts_us)
            continue;
        if (now - f->ts_us > failover_window_us(d, f->trunk) || !failover_of(f, c))
            continue;
        f->used = true;
        d->ring_unused--;
        if (d->ctx->enabled)
            raise_failover(d, f, c, now);
        return;
    }
}

/* ---- OPTIONS ---- */

static struct pending_options *options_oldest(const struct trunk_health *d)
{
    return list_entry(list_first(&d->options_by_age), struct pending_options, age);
}

static void options_free(struct trunk_health *d, struct pending_options *o)
{
    timerq_cancel(d->ctx->timers, &o->timer);
    list_unlink(&d->options_by_age, &o->age);
    hashtab_remove(&d->options, o);
    free(o);
}

static void on_options_timeout(struct timer *t, uint64_t now, void *arg)
{
    (void)t;
    struct pending_options *o = arg;
    struct trunk_health *d = o->owner;
    const struct trunk_config *trunk = o->trunk;
    struct net_addr addr = o->dst.addr;
    options_free(d, o);
    struct peer *p = peer_get(d, trunk, &addr);
    if (p)
        peer_failure(d, p, FAIL_TIMEOUT, "options_timeout", NULL, now);
}

static void options_key(struct pending_options *probe, const struct sip_msg *m)
{
    memset(&probe->key, 0, sizeof(probe->key));
    str_copy(probe->key.call_id, sizeof(probe->key.call_id), m->call_id);
    probe->key.cseq = m->cseq;
}

static void on_other_message(void *user, const struct sip_msg *m, const struct sip_meta *meta)
{
    struct trunk_health *d = user;
    if (m->method != SIP_METHOD_OPTIONS)
        return;
    struct pending_options probe;
    options_key(&probe, m);
    struct pending_options *o = hashtab_find(&d->options, &probe.key);
    if (!m->is_request) {
        if (!o || m->status < 200)
            return;
        const struct trunk_config *trunk = o->trunk;
        struct net_addr addr = o->dst.addr;
        options_free(d, o);
        struct peer *p = peer_get(d, trunk, &addr);
        if (p)
            peer_alive(d, p, true, "options_answered", NULL, meta->ts_us);
        return;
    }
    if (o)
        return; /* a retransmission: the first copy's timer stands */
    const struct trunk_config *trunk;
    if (!peer_for_request(d, &meta->src.addr, &meta->dst.addr, &trunk))
        return;
    if (hashtab_count(&d->options) >= MAX_PENDING_OPTIONS && !list_empty(&d->options_by_age)) {
        options_free(d, options_oldest(d));
        (*d->c_options_evicted)++;
    }
    o = calloc(1, sizeof(*o));
    if (!o)
        return;
    o->key = probe.key;
    o->dst = meta->dst;
    o->trunk = trunk;
    o->owner = d;
    if (!hashtab_insert(&d->options, o)) {
        free(o);
        return;
    }
    list_push_back(&d->options_by_age, &o->age);
    timer_init(&o->timer, on_options_timeout, o);
    double timeout_s = RULE_PARAM(d->ctx, options_timeout_s, trunk);
    timerq_schedule(d->ctx->timers, &o->timer, meta->ts_us + (uint64_t)(timeout_s * 1e6));
}

/* ---- registrations to trunks ---- */

static void on_registration_expired(struct timer *t, uint64_t now, void *arg)
{
    (void)t;
    struct watched_registration *w = arg;
    struct trunk_health *d = w->owner;
    /* A refresh moved the expiry (or an un-REGISTER cleared it) since. */
    if (!w->reg->expires_at_us || w->reg->expires_at_us > now)
        return;
    struct peer *p = peer_get(d, w->trunk, NULL);
    if (p)
        peer_failure(d, p, FAIL_OTHER, "registration_lost", NULL, now);
}

/* r's watch, NULL if it has none (made, when `make`, unless out of
 * memory). */
static struct watched_registration *watch_of(struct trunk_health *d, struct registration *r,
                                             bool make)
{
    struct watched_registration *w =
        make ? rules_registration_state_make(d->ctx, r) : rules_registration_state(d->ctx, r);
    if (w && !w->owner && make) {
        w->reg = r;
        w->owner = d;
        timer_init(&w->timer, on_registration_expired, w);
    }
    return w && w->owner ? w : NULL;
}

static void on_registration(void *user, struct registration *r, const struct sip_msg *m,
                            const struct sip_meta *meta)
{
    struct trunk_health *d = user;
    if (m->is_request || m->status < 200)
        return;
    const struct trunk_config *trunk = trunk_list_find(d->ctx->trunks, &r->key.registrar.addr);
    if (!trunk)
        return;
    if (m->status >= 300)
        return; /* the expiry timer, if any, keeps running */
    struct peer *p = peer_get(d, trunk, NULL);
    if (p)
        peer_alive(d, p, true, "registered", NULL, meta->ts_us);
    struct watched_registration *w = watch_of(d, r, r->expires_at_us != 0);
    if (!r->expires_at_us) {
        if (w)
            timerq_cancel(d->ctx->timers, &w->timer);
        return;
    }
    if (!w)
        return; /* out of memory: counted as rules.trunk_health_no_memory */
    w->trunk = trunk;
    double grace_s = RULE_PARAM(d->ctx, registration_grace_s, trunk);
    timerq_schedule(d->ctx->timers, &w->timer, r->expires_at_us + (uint64_t)(grace_s * 1e6));
}

static void on_registration_freed(void *user, struct registration *r)
{
    struct trunk_health *d = user;
    struct watched_registration *w = watch_of(d, r, false);
    if (w)
        timerq_cancel(d->ctx->timers, &w->timer); /* the rules free the state */
}

/* ---- lifecycle ---- */

static void *trunk_health_create(struct rules_context *ctx)
{
    struct trunk_health *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ctx = ctx;
    if (!hashtab_init(&d->peers, offsetof(struct peer, key), sizeof(((struct peer *)0)->key),
                      MAX_PEERS) ||
        !hashtab_init(&d->options, offsetof(struct pending_options, key),
                      sizeof(((struct pending_options *)0)->key), MAX_PENDING_OPTIONS)) {
        hashtab_destroy(&d->peers);
        hashtab_destroy(&d->options);
        free(d);
        return NULL;
    }
    d->c_peers_evicted = counters_register(ctx->counters, "rules", "trunk_health_peers_evicted");
    d->c_options_evicted =
        counters_register(ctx->counters, "rules", "trunk_health_options_evicted");
    d->c_failures_overwritten =
        counters_register(ctx->counters, "rules", "trunk_health_failures_overwritten");
    struct call_observer o = {.user = d,
                              .call_started = on_call_started,
                              .call_answered = on_call_answered,
                              .call_failed = on_call_failed,
                              .registration_message = on_registration,
                              .registration_freed = on_registration_freed,
                              .other_message = on_other_message};
    call_table_add_observer(ctx->calls, &o);
    return d;
}

static void free_item(void *item, void *arg)
{
    (void)arg;
    free(item);
}

static void trunk_health_destroy(void *state)
{
    struct trunk_health *d = state;
    if (!d)
        return;
    while (!list_empty(&d->options_by_age))
        options_free(d, options_oldest(d));
    hashtab_foreach(&d->peers, free_item, NULL);
    hashtab_destroy(&d->peers);
    hashtab_destroy(&d->options);
    free(d);
}

const struct detector detector_trunk_health = {
    .name = "trunk_health",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
    .create = trunk_health_create,
    .destroy = trunk_health_destroy,
    .registration_state_size = sizeof(struct watched_registration),
};

/*
 * registrations: REGISTER followed per AOR (user@host of the To URI) and
 * registrar (the address the REGISTER went to): requests, challenges,
 * successes, failures, the granted expiry, the realms on both sides and
 * whether the same digest answer is being sent again. The state is what the
 * registration-loop and trunk-health detectors read; this file raises no
 * events of its own.
 *
 * Phones come and go over days, so a registration nobody has refreshed is
 * forgotten: a sweep every REGISTRATION_SWEEP_S of capture time frees those
 * idle for limits.registration_idle_s and for twice their granted expiry
 * (a live client refreshes well within one), after telling the observers
 * (registration_freed). Without it the table would fill and refuse new
 * AORs for good. Freeing the table tells them too, as freeing a call does
 * (call_freed): the detectors' per-registration state goes that way.
 */
#include "calls/calls_internal.h"
#include "core/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRATION_SWEEP_S 60

static void on_sweep(struct timer *tm, uint64_t now, void *arg);

bool registrations_init(struct call_table *t)
{
    COUNTERS_REGISTER(REGISTRATIONS_COUNTERS, t->counters, "registrations",
                      &t->registrations_count);
    timer_init(&t->registration_sweep, on_sweep, t);
    return hashtab_init(&t->registrations, offsetof(struct registration, key),
                        sizeof(((struct registration *)0)->key), t->limits.max_registrations);
}

/* Tells the observers r goes (registration_freed), then frees it. */
static void forget(struct call_table *t, struct registration *r)
{
    for (size_t i = 0; i < t->observer_count; i++)
        if (t->observers[i].registration_freed)
            t->observers[i].registration_freed(t->observers[i].user, r);
    free(r);
}

static void free_registration(void *item, void *arg)
{
    forget(arg, item);
}

size_t call_table_registration_count(const struct call_table *t)
{
    return hashtab_count(&t->registrations);
}

struct sweep {
    struct call_table *t;
    uint64_t now;
};

static bool forget_if_idle(void *item, void *arg)
{
    const struct sweep *sw = arg;
    struct registration *r = item;
    uint64_t idle = (uint64_t)sw->t->limits.registration_idle_s * 1000000u;
    if (r->expires_s > 0 && (uint64_t)r->expires_s * 2000000u > idle)
        idle = (uint64_t)r->expires_s * 2000000u;
    if (sw->now < r->last_us || sw->now - r->last_us < idle)
        return false;
    (*sw->t->registrations_count.expired)++;
    forget(sw->t, r);
    return true;
}

static void on_sweep(struct timer *tm, uint64_t now, void *arg)
{
    struct call_table *t = arg;
    struct sweep sw = {t, now};
    hashtab_remove_if(&t->registrations, forget_if_idle, &sw);
    if (hashtab_count(&t->registrations))
        timerq_schedule(t->timers, tm, now + REGISTRATION_SWEEP_S * 1000000u);
}

void registrations_destroy(struct call_table *t)
{
    if (t->timers)
        timerq_cancel(t->timers, &t->registration_sweep);
    if (!t->registrations.slots)
        return;
    hashtab_foreach(&t->registrations, free_registration, t);
    hashtab_destroy(&t->registrations);
}

static void make_key(struct registration *probe, const struct sip_msg *m,
                     const struct endpoint *registrar)
{
    memset(&probe->key, 0, sizeof(probe->key));
    size_t user_len = strnlen(m->to_user, sizeof(probe->key.aor) / 2);
    memcpy(probe->key.aor, m->to_user, user_len);
    probe->key.aor[user_len] = '@';
    str_copy(probe->key.aor + user_len + 1, sizeof(probe->key.aor) - user_len - 1, m->to_host);
    probe->key.registrar.addr = registrar->addr;
    probe->key.registrar.port = registrar->port;
}

static struct registration *find_or_create(struct call_table *t, const struct sip_msg *m,
                                           const struct endpoint *registrar, bool create,
                                           uint64_t now)
{
    struct registration probe;
    make_key(&probe, m, registrar);
    struct registration *r = hashtab_find(&t->registrations, &probe.key);
    if (r || !create)
        return r;
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    memcpy(&r->key, &probe.key, sizeof(r->key));
    r->expires_s = -1;
    if (!hashtab_insert(&t->registrations, r)) {
        (*t->registrations_count.table_full)++;
        free(r);
        return NULL;
    }
    if (!timer_pending(&t->registration_sweep))
        timerq_schedule(t->timers, &t->registration_sweep, now + REGISTRATION_SWEEP_S * 1000000u);
    return r;
}

static void on_request(struct registration *r, const struct sip_msg *m, const struct sip_meta *meta)
{
    if (!r->first_us)
        r->first_us = meta->ts_us;
    r->last_us = meta->ts_us;
    r->client = meta->src;
    r->requests++;
    str_copy(r->call_id, sizeof(r->call_id), m->call_id);
    if (m->has_credentials) {
        str_copy(r->credentials_realm, sizeof(r->credentials_realm), m->credentials_realm);
        if (m->credentials_response_hash && m->credentials_response_hash == r->last_response_hash)
            r->same_response_repeats++;
        r->last_response_hash = m->credentials_response_hash;
    }
}

static void on_response(struct registration *r, const struct sip_msg *m,
                        const struct sip_meta *meta)
{
    r->last_us = meta->ts_us;
    r->last_status = m->status;
    if (m->status < 200)
        return;
    if (m->status == 401 || m->status == 407) {
        r->challenges++;
        if (r->challenges_since_success++ == 0)
            r->window_start_us = meta->ts_us;
        str_copy(r->challenge_realm, sizeof(r->challenge_realm), m->challenge_realm);
        r->challenge_stale = m->challenge_stale;
    } else if (m->status < 300) {
        r->successes++;
        r->challenges_since_success = 0;
        r->same_response_repeats = 0;
        r->window_start_us = 0;
        r->expires_s = m->expires;
        r->expires_at_us = m->expires > 0 ? meta->ts_us + (uint64_t)m->expires * 1000000u : 0;
    } else {
        r->failures++;
    }
}

void registrations_message(struct call_table *t, const struct sip_msg *m,
                           const struct sip_meta *meta)
{
    /* The registrar is where requests go and where responses come from. */
    const struct endpoint *registrar = m->is_request ? &meta->dst : &meta->src;
    struct registration *r = find_or_create(t, m, registrar, m->is_request, meta->ts_us);
    if (!r)
        return;
    if (m->is_request)
        on_request(r, m, meta);
    else
        on_response(r, m, meta);
    for (size_t i = 0; i < t->observer_count; i++)
        if (t->observers[i].registration_message)
            t->observers[i].registration_message(t->observers[i].user, r, m, meta);
}

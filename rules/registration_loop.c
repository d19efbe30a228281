/*
 * registration_loop: a client that keeps being challenged (401/407) for one
 * AOR at one registrar without ever getting a 2xx.
 *
 * calls/registrations.c keeps the REGISTER state per (AOR, registrar); this
 * detector keeps, per registration, the capture times of the most recent
 * challenges in a small ring. When the configured number of challenges fall
 * within window_s (a sliding window: the oldest of the last N is compared with
 * the newest) and no 2xx came in between, one registration_loop is raised.
 * A 403 to a REGISTER that answered a challenge with credentials is the
 * registrar refusing them outright: no retry will fix it, so by default
 * (forbidden_raises = 1) it raises the loop at once, with the attempts seen so
 * far; with forbidden_raises = 0 it only counts as one more attempt.
 *
 * A 401/407 without stale=true to credentials that carried the nonce of the
 * registrar's latest challenge is a refusal too (RFC 7616 3.3: the username
 * or password is invalid, prompt the user again), but one a client may well
 * retry, and a client retrying it is counted as above. One that gives up
 * instead, sending no REGISTER for the AOR within window_s, never reaches
 * the count: sngrep's aaa.pcap has a softphone answering each challenge 17 s
 * late, refused with "401 nonce has changed", then moving to its next
 * account. So with give_up_raises = 1 (the default) that silence raises the
 * loop, hint rechallenged, from a capture-clock timer armed by the refusal
 * and cancelled by the client's next REGISTER.
 *
 * The hint says why the client loops, from what the registration state saw
 * during the episode, strongest evidence first:
 *   realm_mismatch            the Authorization realm differs from the realm
 *                             the registrar challenged with;
 *   stale_nonce               a challenge carried stale=true (the password was
 *                             right; the client keeps a dead nonce);
 *   same_credentials_repeated the same digest answer was sent again (only a
 *                             hash of it is ever kept): a wrong password;
 *   credentials_rejected      a 403 answered the credentials (an extension of
 *                             the contract's list: wrong password or user);
 *   rechallenged              a 401/407 without stale=true answered
 *                             credentials for the registrar's own latest
 *                             nonce (an extension too).
 * Only realms leave the daemon, never a nonce or a digest response (the
 * nonces are compared as hashes).
 *
 * An episode is raised once; it re-arms after a 2xx or after window_s with no
 * challenge. The per-registration state is the detector's registration state
 * (rules_registration_state), made at the first challenge and freed with the
 * registration; one that cannot be allocated is not followed and the miss is
 * counted (rules.registration_loop_no_memory).
 */
#include "rules/rules.h"

#include <stdlib.h>
#include <string.h>

#include "core/hashtab.h"
#include "core/str.h"

#define RING_MAX 32

#define PARAMS(X)                                                                                  \
    X(challenges, 3, 2, RING_MAX,                                                                  \
      "401/407 challenges (or 403 after credentials) for one AOR "                                 \
      "without a success before the loop is raised")                                               \
    X(window_s, 60, 1, 86400, "seconds in which those challenges must fall")                       \
    X(forbidden_raises, 1, 0, 1,                                                                   \
      "a 403 to a REGISTER that answered a challenge raises the loop at once (1 yes, 0 no: it "    \
      "only counts as one more challenge)")                                                        \
    X(give_up_raises, 1, 0, 1,                                                                     \
      "a 401/407 (not stale) refusing credentials for the latest nonce, after which the client "   \
      "sends no REGISTER for window_s, raises the loop (1 yes, 0 no)")
RULE_PARAM_TABLE(PARAMS);

struct registration_loop;

/* The detector's state of a registration (rules_registration_state),
 * zeroed until its first challenge: owner NULL. */
struct reg_episode {
    /* Kept across episode_reset: */
    struct registration *reg;
    struct registration_loop *owner;
    struct timer give_up; /* armed by a refusal of the latest nonce */
    /* The episode: */
    uint64_t times[RING_MAX]; /* capture times of the latest challenges */
    unsigned count;           /* challenges since the episode (re)started */
    bool raised;
    bool realm_mismatch, stale, repeated;
    bool last_had_credentials; /* the latest REGISTER carried Authorization */
    unsigned rejected;         /* 403s after credentials */
    uint64_t last_response_hash;
    unsigned hash_count;           /* e->count when last_response_hash was sent */
    uint64_t challenge_nonce_hash; /* of the latest challenge, 0 if none */
    uint64_t answered_latest_us;   /* the latest REGISTER's credentials carried it: the
                                      challenge-to-answer delay + 1, else 0 */
    bool nonce_refused;            /* a 401/407 (not stale) refused that answer */
    char last_reason[64];          /* the latest response's reason phrase */
};

struct registration_loop {
    struct rules_context *ctx;
};

static void on_give_up(struct timer *t, uint64_t now, void *arg);

static void episode_reset(struct reg_episode *e)
{
    timerq_cancel(e->owner->ctx->timers, &e->give_up);
    struct registration *reg = e->reg;
    struct registration_loop *owner = e->owner;
    memset(e, 0, sizeof(*e));
    e->reg = reg;
    e->owner = owner;
    timer_init(&e->give_up, on_give_up, e);
}

static uint64_t nonce_hash(const char *nonce)
{
    return nonce[0] ? hashtab_hash_bytes(nonce, strlen(nonce)) | 1 : 0;
}

/* r's episode, NULL if it has none (made, when `make`, unless out of
 * memory). */
static struct reg_episode *episode_of(struct registration_loop *d, struct registration *r,
                                      bool make)
{
    struct reg_episode *e =
        make ? rules_registration_state_make(d->ctx, r) : rules_registration_state(d->ctx, r);
    if (e && !e->owner && make) {
        e->reg = r;
        e->owner = d;
        timer_init(&e->give_up, on_give_up, e);
    }
    return e && e->owner ? e : NULL;
}

static const char *episode_hint(const struct reg_episode *e)
{
    if (e->realm_mismatch)
        return "realm_mismatch";
    if (e->stale)
        return "stale_nonce";
    if (e->repeated)
        return "same_credentials_repeated";
    if (e->rejected)
        return "credentials_rejected";
    if (e->nonce_refused)
        return "rechallenged";
    return NULL;
}

/* Text from the wire, null when there is none. */
static void member_text_or_null(struct json_writer *t, const char *key, const char *s)
{
    if (s && s[0])
        json_writer_member_wire_string(t, key, s);
    else
        json_writer_member_null(t, key);
}

static void raise_loop(struct registration_loop *d, struct registration *r, struct reg_episode *e,
                       const struct trunk_config *trunk, unsigned n, double window_s, uint64_t now)
{
    struct event ev;
    rules_event_begin(d->ctx, &ev, "registration_loop", SEVERITY_WARNING, now, NULL);
    if (trunk)
        ev.trunk = trunk->name;
    else
        ev.key = r->key.aor; /* the partitioning key: the trunk, else the AOR */
    struct json_writer *b = &ev.body;
    json_writer_member_wire_string(b, "aor", r->key.aor);
    endpoint_member(b, "registrar", &r->key.registrar);
    endpoint_member(b, "client", &r->client);
    json_writer_member_integer(b, "challenges", n);
    json_writer_member_real(b, "window_s", window_s);
    member_text_or_null(b, "hint", episode_hint(e));
    member_text_or_null(b, "realm_challenge", r->challenge_realm);
    member_text_or_null(b, "realm_response", r->credentials_realm);
    json_writer_member_integer(b, "rejected", e->rejected);
    json_writer_member_integer(b, "last_status", r->last_status);
    member_text_or_null(b, "last_reason", e->last_reason);
    if (e->answered_latest_us)
        json_writer_member_integer(b, "answer_delay_ms",
                                   (int64_t)((e->answered_latest_us - 1) / 1000));
    else
        json_writer_member_null(b, "answer_delay_ms");
    rules_publish(d->ctx, &ev);
}

static const struct trunk_config *registrar_trunk(const struct registration_loop *d,
                                                  const struct registration *r)
{
    return trunk_list_find(d->ctx->trunks, &r->key.registrar.addr);
}

static uint64_t window_us_of(const struct registration_loop *d, const struct registration *r)
{
    return (uint64_t)(RULE_PARAM(d->ctx, window_s, registrar_trunk(d, r)) * 1e6);
}

/* A quiet window ends the episode: the next loop is a new one. */
static void episode_expire_if_quiet(struct registration_loop *d, struct registration *r,
                                    struct reg_episode *e, uint64_t now)
{
    if (e->count && now - e->times[(e->count - 1) % RING_MAX] > window_us_of(d, r))
        episode_reset(e);
}

/* One more failed attempt (a challenge, or a 403 after credentials). */
static void count_attempt(struct registration_loop *d, struct registration *r,
                          struct reg_episode *e, bool forbidden, uint64_t now)
{
    const struct trunk_config *trunk = registrar_trunk(d, r);
    unsigned n = (unsigned)RULE_PARAM(d->ctx, challenges, trunk);
    double window_s = RULE_PARAM(d->ctx, window_s, trunk);
    uint64_t window_us = (uint64_t)(window_s * 1e6);
    if (n < 2)
        n = 2;
    if (n > RING_MAX)
        n = RING_MAX;
    e->times[e->count % RING_MAX] = now;
    e->count++;
    if (e->raised || !d->ctx->enabled)
        return;
    if (forbidden && RULE_PARAM(d->ctx, forbidden_raises, trunk) >= 0.5) {
        /* The registrar has refused the credentials outright: no retry
         * will fix that, so there is no point waiting for more. */
        e->raised = true;
        raise_loop(d, r, e, trunk, e->count, window_s, now);
        return;
    }
    if (e->count < n)
        return;
    uint64_t oldest = e->times[(e->count - n) % RING_MAX];
    if (now - oldest > window_us)
        return;
    e->raised = true;
    raise_loop(d, r, e, trunk, n, window_s, now);
}

/* The client sent nothing for window_s after its latest nonce was refused. */
static void on_give_up(struct timer *t, uint64_t now, void *arg)
{
    (void)t;
    struct reg_episode *e = arg;
    struct registration_loop *d = e->owner;
    if (e->raised || !d->ctx->enabled)
        return;
    e->raised = true;
    const struct trunk_config *trunk = registrar_trunk(d, e->reg);
    raise_loop(d, e->reg, e, trunk, e->count, RULE_PARAM(d->ctx, window_s, trunk), now);
}

static void on_request(struct reg_episode *e, const struct sip_msg *m, uint64_t now)
{
    timerq_cancel(e->owner->ctx->timers, &e->give_up); /* the client goes on */
    e->last_had_credentials = m->has_credentials;
    e->answered_latest_us = 0;
    if (!m->has_credentials)
        return;
    if (e->count && e->challenge_nonce_hash &&
        nonce_hash(m->credentials_nonce) == e->challenge_nonce_hash)
        e->answered_latest_us = now - e->times[(e->count - 1) % RING_MAX] + 1;
    /* Compare with the challenge this request answers. */
    if (e->reg->challenge_realm[0] && m->credentials_realm[0] &&
        strcmp(m->credentials_realm, e->reg->challenge_realm) != 0)
        e->realm_mismatch = true;
    /* A retransmitted REGISTER is the same request, not a second answer:
     * only count a repeat that answers a new challenge. */
    if (m->credentials_response_hash && m->credentials_response_hash == e->last_response_hash &&
        e->count > e->hash_count)
        e->repeated = true;
    e->last_response_hash = m->credentials_response_hash;
    e->hash_count = e->count;
}

static void on_challenge(struct registration_loop *d, struct registration *r, struct reg_episode *e,
                         const struct sip_msg *m, uint64_t now)
{
    /* Read before a quiet window resets the episode: the refusal is this
     * response's, whatever the gap before it. */
    uint64_t answered = e->answered_latest_us;
    bool refused = answered && !m->challenge_stale;
    episode_expire_if_quiet(d, r, e, now);
    if (refused) {
        e->nonce_refused = true;
        e->answered_latest_us = answered;
    }
    if (m->challenge_stale)
        e->stale = true;
    str_copy(e->last_reason, sizeof(e->last_reason), m->reason);
    count_attempt(d, r, e, false, now);
    e->challenge_nonce_hash = nonce_hash(m->challenge_nonce);
    if (refused && !e->raised && RULE_PARAM(d->ctx, give_up_raises, registrar_trunk(d, r)) >= 0.5)
        timerq_schedule(d->ctx->timers, &e->give_up, now + window_us_of(d, r));
}

static void on_registration(void *user, struct registration *r, const struct sip_msg *m,
                            const struct sip_meta *meta)
{
    struct registration_loop *d = user;
    uint64_t now = meta->ts_us;
    struct reg_episode *e = episode_of(d, r, false);
    if (m->is_request) {
        if (e)
            on_request(e, m, now);
        return;
    }
    int st = m->status;
    if (st >= 200 && st < 300) {
        if (e)
            episode_reset(e);
        return;
    }
    if (st == 401 || st == 407) {
        e = episode_of(d, r, true);
        if (e)
            on_challenge(d, r, e, m, now);
    } else if (st == 403 && e && e->last_had_credentials) {
        /* The episode exists only once a challenge was seen. */
        episode_expire_if_quiet(d, r, e, now);
        str_copy(e->last_reason, sizeof(e->last_reason), m->reason);
        e->rejected++;
        count_attempt(d, r, e, true, now);
    }
}

/* calls/ forgets an idle registration: its episode goes with it. */
static void on_registration_freed(void *user, struct registration *r)
{
    struct registration_loop *d = user;
    struct reg_episode *e = episode_of(d, r, false);
    if (e)
        timerq_cancel(d->ctx->timers, &e->give_up); /* the rules free the state */
}

static void *registration_loop_create(struct rules_context *ctx)
{
    struct registration_loop *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ctx = ctx;
    struct call_observer o = {.user = d,
                              .registration_message = on_registration,
                              .registration_freed = on_registration_freed};
    call_table_add_observer(ctx->calls, &o);
    return d;
}

static void registration_loop_destroy(void *state)
{
    free(state); /* the episodes go with their registrations */
}

const struct detector detector_registration_loop = {
    .name = "registration_loop",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
    .create = registration_loop_create,
    .destroy = registration_loop_destroy,
    .registration_state_size = sizeof(struct reg_episode),
};

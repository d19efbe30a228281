/*
 * sip_scan: a source flooding the tap's SIP with new requests that nobody
 * answers: sipvicious' "friendly-scanner" enumerating extensions with
 * INVITE, REGISTER or OPTIONS, a password cracker, a toll-fraud probe.
 *
 * Per source address (scanners change ports), the requests that begin
 * something (an INVITE with no To-tag, REGISTER, OPTIONS and the other
 * out-of-dialog requests) are counted in windows of window_s, and so are
 * the 2xx answers sent back to it. A window that reaches min_requests with
 * at most max_answered_pct of them answered raises sip_scan phase `start`
 * (once: the episode lasts while the source goes on); a User-Agent that
 * names a known scanning tool raises it whatever the answers. The episode
 * ends, phase `end` with the totals, once the source has been quiet
 * quiet_s. A busy peer is not a scanner: its calls and pings are answered,
 * and configured trunks are never followed.
 *
 * Every new call on an SBC may come from an address of its own, so what is
 * kept per source must cost nothing per call: a source is first counted in
 * a fixed sketch (SKETCH_SLOTS slots of 24 bytes, 1.5 MiB, direct-mapped by a
 * hash of the address: its window's requests and answers). Only a source
 * that reaches a quarter of min_requests in a window, or sends a known
 * tool's User-Agent, gets a record of its own, in a table capped at
 * MAX_SOURCES (past it, counted and not followed); a sweep on the capture
 * clock forgets the quiet ones. A slot busy with another source's live
 * window is not taken (counted as a collision). Only the address, counts,
 * the last Request-URI user and the User-Agent are kept: nothing a scanner
 * sends reaches an event unbounded.
 */
#include "rules/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hashtab.h"
#include "core/str.h"
#include "core/timefmt.h"

#define MAX_SOURCES    4096
#define SKETCH_SLOTS   65536 /* 1.5 MiB */
#define USER_AGENT_MAX 64
#define TARGET_MAX     32

#define PARAMS(X)                                                                                  \
    X(window_s, 10, 1, 3600, "seconds over which a source's requests are counted")                 \
    X(min_requests, 100, 2, 1e6, "new requests in a window that make a scan")                      \
    X(max_answered_pct, 10, 0, 100,                                                                \
      "a window with more of its requests answered 2xx than this percentage is no scan")           \
    X(quiet_s, 60, 1, 86400, "seconds without a request from the source that end the episode")
RULE_PARAM_TABLE(PARAMS);

enum scan_method { SCAN_INVITE, SCAN_REGISTER, SCAN_OPTIONS, SCAN_OTHER, SCAN_METHODS };
static const char *const method_names[SCAN_METHODS] = {"INVITE", "REGISTER", "OPTIONS", "other"};

struct scan_source {
    struct net_addr addr; /* hashtab key */
    uint64_t first_us, last_us, window_start_us;
    uint32_t window_requests, window_answered;
    uint64_t requests, answered;
    uint32_t methods[SCAN_METHODS];
    bool raised, known_scanner;
    char user_agent[USER_AGENT_MAX];
    char target[TARGET_MAX]; /* the last Request-URI user */
};

/* A source before it has a record: one window's counts, by address hash
 * (24 bytes; the counts stay far below 2^16: the source is followed from
 * a quarter of min_requests, at most PROMOTE_MAX). */
struct sketch_slot {
    uint64_t window_start_us;
    uint32_t addr_hash; /* 0: empty */
    uint16_t answered;
    uint16_t methods[SCAN_METHODS];
};
#define PROMOTE_MAX 60000

static uint32_t slot_requests(const struct sketch_slot *slot)
{
    uint32_t n = 0;
    for (int i = 0; i < SCAN_METHODS; i++)
        n += slot->methods[i];
    return n;
}

struct sip_scan {
    struct rules_context *ctx;
    struct sketch_slot *sketch; /* SKETCH_SLOTS */
    struct hashtab sources;     /* struct scan_source, the sources followed */
    struct timer sweep;         /* at the earliest time a source followed goes quiet */
    uint64_t sweep_next;
    uint64_t *c_untracked, *c_collisions;
};

/* User-Agents of the tools that scan SIP on the internet. */
static bool known_scanner_agent(const char *ua)
{
    static const char *const tools[] = {
        "friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sipscan", "vaxsipuseragent",
        "sundayddr",        "iwar",       "pplsip", "smap",     "sipsak"};
    for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
        if (strcasestr(ua, tools[i]))
            return true;
    return false;
}

#define param(d, name) RULE_PARAM((d)->ctx, name, NULL)

static void member_methods(struct json_writer *t, const struct scan_source *s)
{
    json_writer_member_key(t, "methods");
    json_writer_object_begin(t);
    for (int i = 0; i < SCAN_METHODS; i++)
        if (s->methods[i])
            json_writer_member_integer(t, method_names[i], s->methods[i]);
    json_writer_object_end(t);
}

static void publish(struct sip_scan *d, const struct scan_source *s, const char *phase,
                    uint64_t now)
{
    char addr[NETADDR_STRLEN], ts[TIMEFMT_RFC3339_LEN];
    net_addr_format(&s->addr, addr, sizeof(addr));
    struct event ev;
    rules_event_begin(d->ctx, &ev, "sip_scan", SEVERITY_WARNING, now, NULL);
    ev.key = addr;
    struct json_writer *b = &ev.body;
    json_writer_member_string(b, "phase", phase);
    json_writer_member_string(b, "source", addr);
    if (s->user_agent[0])
        json_writer_member_wire_string(b, "user_agent", s->user_agent);
    else
        json_writer_member_null(b, "user_agent");
    json_writer_member_bool(b, "known_scanner", s->known_scanner);
    json_writer_member_string(b, "first_ts", timefmt_rfc3339(s->first_us, ts, sizeof(ts)));
    double window_s = param(d, window_s);
    if (strcmp(phase, "start") == 0) {
        /* Requests per second in the window so far: its intervals over its
         * span, or the count when they all came at once. */
        double span = (double)(now - s->window_start_us) / 1e6;
        double rate = span > 0 ? (s->window_requests - 1) / span : s->window_requests;
        json_writer_member_real(b, "rate", rate);
        json_writer_member_integer(b, "requests", s->window_requests);
        json_writer_member_integer(b, "answered", s->window_answered);
    } else {
        double span = (double)(s->last_us - s->first_us) / 1e6;
        json_writer_member_real(b, "rate", span > 0 ? (s->requests - 1) / span : 0);
        json_writer_member_integer(b, "requests", (int64_t)s->requests);
        json_writer_member_integer(b, "answered", (int64_t)s->answered);
        json_writer_member_real(b, "duration_s", span);
    }
    json_writer_member_real(b, "window_s", window_s);
    json_writer_member_wire_string(b, "last_target", s->target);
    member_methods(b, s);
    rules_publish(d->ctx, &ev);
}

static bool forget_quiet(void *item, void *arg)
{
    struct sip_scan *d = arg;
    struct scan_source *s = item;
    uint64_t now = timerq_now(d->ctx->timers);
    uint64_t quiet_us = (uint64_t)(param(d, quiet_s) * 1e6);
    if (now < s->last_us + quiet_us) {
        if (s->last_us + quiet_us < d->sweep_next)
            d->sweep_next = s->last_us + quiet_us;
        return false;
    }
    if (s->raised)
        publish(d, s, "end", s->last_us + quiet_us);
    free(s);
    return true;
}

static void on_sweep(struct timer *tm, uint64_t now, void *arg)
{
    (void)tm;
    struct sip_scan *d = arg;
    /* The clock reads the sweep's due time while it fires (timerq). */
    d->sweep_next = UINT64_MAX;
    hashtab_remove_if(&d->sources, forget_quiet, d);
    if (d->sweep_next != UINT64_MAX)
        timerq_schedule(d->ctx->timers, &d->sweep, d->sweep_next > now ? d->sweep_next : now + 1);
}

static struct net_addr addr_key(const struct net_addr *addr)
{
    struct net_addr key;
    memset(&key, 0, sizeof(key));
    key.family = addr->family;
    memcpy(key.bytes, addr->bytes, sizeof(key.bytes));
    return key;
}

static uint32_t addr_hash(const struct net_addr *key)
{
    return (uint32_t)hashtab_hash_bytes(key, sizeof(*key)) | 1u; /* 0: empty slot */
}

static struct scan_source *source_find(struct sip_scan *d, const struct net_addr *addr)
{
    struct net_addr key = addr_key(addr);
    return hashtab_find(&d->sources, &key);
}

/* The record of a source that outgrew its sketch slot, with its window's
 * counts; NULL when the table is full (counted). */
static struct scan_source *source_follow(struct sip_scan *d, const struct net_addr *addr,
                                         const struct sketch_slot *slot, uint64_t now)
{
    struct scan_source *s;
    if (hashtab_count(&d->sources) >= MAX_SOURCES || !(s = calloc(1, sizeof(*s)))) {
        (*d->c_untracked)++;
        return NULL;
    }
    s->addr = addr_key(addr);
    s->first_us = s->window_start_us = slot->window_start_us;
    s->window_requests = slot_requests(slot);
    s->window_answered = slot->answered;
    s->requests = s->window_requests;
    s->answered = slot->answered;
    for (int i = 0; i < SCAN_METHODS; i++)
        s->methods[i] = slot->methods[i];
    if (!hashtab_insert(&d->sources, s)) {
        free(s);
        (*d->c_untracked)++;
        return NULL;
    }
    uint64_t quiet_at = now + (uint64_t)(param(d, quiet_s) * 1e6);
    if (!timer_pending(&d->sweep) || d->sweep.due_us > quiet_at)
        timerq_schedule(d->ctx->timers, &d->sweep, quiet_at);
    return s;
}

/* The sketch slot of addr for a request at now (its window renewed when
 * over), or NULL when another source's live window holds it. */
static struct sketch_slot *sketch_slot_for(struct sip_scan *d, const struct net_addr *addr,
                                           uint64_t now)
{
    struct net_addr key = addr_key(addr);
    uint32_t h = addr_hash(&key);
    struct sketch_slot *slot = &d->sketch[h & (SKETCH_SLOTS - 1)];
    bool expired = now >= slot->window_start_us + (uint64_t)(param(d, window_s) * 1e6);
    if (slot->addr_hash != h) {
        if (slot->addr_hash && !expired && slot_requests(slot) > 1) {
            (*d->c_collisions)++;
            return NULL;
        }
        slot->addr_hash = h;
        expired = true;
    }
    if (expired) {
        memset(slot, 0, sizeof(*slot));
        slot->addr_hash = h;
        slot->window_start_us = now;
    }
    return slot;
}

static enum scan_method method_of(const struct sip_msg *m)
{
    switch (m->method) {
    case SIP_METHOD_INVITE:
        return SCAN_INVITE;
    case SIP_METHOD_REGISTER:
        return SCAN_REGISTER;
    case SIP_METHOD_OPTIONS:
        return SCAN_OPTIONS;
    default:
        return SCAN_OTHER;
    }
}

/* A request that begins something, from meta->src. */
static void count_request(struct sip_scan *d, const struct sip_msg *m, const struct sip_meta *meta)
{
    if (!d->ctx->enabled || trunk_list_find(d->ctx->trunks, &meta->src.addr))
        return;
    uint64_t now = meta->ts_us;
    struct scan_source *s = source_find(d, &meta->src.addr);
    if (!s) {
        struct sketch_slot *slot = sketch_slot_for(d, &meta->src.addr, now);
        if (!slot)
            return;
        double promote = param(d, min_requests) / 4;
        bool known = m->user_agent[0] && known_scanner_agent(m->user_agent);
        if (!known && slot_requests(slot) + 1 < (promote < PROMOTE_MAX ? promote : PROMOTE_MAX)) {
            slot->methods[method_of(m)]++;
            return;
        }
        s = source_follow(d, &meta->src.addr, slot, now);
        slot->addr_hash = 0; /* the record counts from here */
        if (!s)
            return;
    }
    uint64_t window_us = (uint64_t)(param(d, window_s) * 1e6);
    if (now >= s->window_start_us + window_us) {
        s->window_start_us = now;
        s->window_requests = s->window_answered = 0;
    }
    s->window_requests++;
    s->requests++;
    s->last_us = now;
    s->methods[method_of(m)]++;
    /* A source sends the same User-Agent request after request: it is
     * judged when it changes (one kept whole, or every time if cut). */
    if (m->user_agent[0] && (strlen(m->user_agent) >= sizeof(s->user_agent) - 1 ||
                             strcmp(s->user_agent, m->user_agent) != 0)) {
        str_copy(s->user_agent, sizeof(s->user_agent), m->user_agent);
        s->known_scanner |= known_scanner_agent(m->user_agent);
    }
    str_copy(s->target, sizeof(s->target), m->request_user);
    if (s->raised || s->window_requests < param(d, min_requests))
        return;
    double answered_pct = 100.0 * s->window_answered / s->window_requests;
    if (!s->known_scanner && answered_pct > param(d, max_answered_pct))
        return;
    s->raised = true;
    publish(d, s, "start", now);
}

/* A 2xx goes back to the source that asked. */
static void count_answer(struct sip_scan *d, const struct sip_msg *m, const struct sip_meta *meta)
{
    if (m->status < 200 || m->status > 299)
        return;
    struct scan_source *s = source_find(d, &meta->dst.addr);
    if (s) {
        s->window_answered++;
        s->answered++;
        return;
    }
    struct net_addr key = addr_key(&meta->dst.addr);
    uint32_t h = addr_hash(&key);
    struct sketch_slot *slot = &d->sketch[h & (SKETCH_SLOTS - 1)];
    if (slot->addr_hash == h && slot->answered < UINT16_MAX)
        slot->answered++;
}

static void on_message(struct sip_scan *d, const struct sip_msg *m, const struct sip_meta *meta,
                       bool begins)
{
    if (!m->is_request)
        count_answer(d, m, meta);
    else if (begins)
        count_request(d, m, meta);
}

static void on_call_message(void *user, struct call *c, const struct sip_msg *m,
                            const struct sip_meta *meta, bool retransmission)
{
    (void)c;
    if (retransmission)
        return;
    /* In a call, only the INVITE that opens the dialog begins something. */
    on_message(user, m, meta, m->method == SIP_METHOD_INVITE && !m->to_tag[0]);
}

static void on_registration_message(void *user, struct registration *r, const struct sip_msg *m,
                                    const struct sip_meta *meta)
{
    (void)r;
    on_message(user, m, meta, true);
}

static void on_other_message(void *user, const struct sip_msg *m, const struct sip_meta *meta)
{
    /* Out of any dialog the tap follows: a request without a To-tag. */
    on_message(user, m, meta, !m->to_tag[0]);
}

static void *sip_scan_create(struct rules_context *ctx)
{
    struct sip_scan *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ctx = ctx;
    d->sketch = calloc(SKETCH_SLOTS, sizeof(*d->sketch));
    if (!d->sketch || !hashtab_init(&d->sources, offsetof(struct scan_source, addr),
                                    sizeof(struct net_addr), MAX_SOURCES)) {
        free(d->sketch);
        free(d);
        return NULL;
    }
    timer_init(&d->sweep, on_sweep, d);
    d->c_untracked = counters_register(ctx->counters, "rules", "sip_scan_untracked");
    d->c_collisions = counters_register(ctx->counters, "rules", "sip_scan_sketch_collisions");
    struct call_observer o = {.user = d,
                              .call_message = on_call_message,
                              .registration_message = on_registration_message,
                              .other_message = on_other_message};
    call_table_add_observer(ctx->calls, &o);
    return d;
}

static void free_source(void *item, void *arg)
{
    (void)arg;
    free(item);
}

static void sip_scan_destroy(void *state)
{
    struct sip_scan *d = state;
    if (!d)
        return;
    timerq_cancel(d->ctx->timers, &d->sweep);
    hashtab_foreach(&d->sources, free_source, NULL);
    hashtab_destroy(&d->sources);
    free(d->sketch);
    free(d);
}

const struct detector detector_sip_scan = {
    .name = "sip_scan",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
    .create = sip_scan_create,
    .destroy = sip_scan_destroy,
};

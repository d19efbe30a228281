/*
 * calls: the INVITE dialog state machine and the call table.
 *
 * A call is keyed by Call-ID (one hash table of string keys) and kept on an
 * LRU list; when the table is full the least recently active call is ended
 * with reason "evicted" (counted) to make room. Each call has one timer on
 * the capture clock whose meaning follows the state:
 *   CALLING      timer B: no response at all within invite_timeout_s;
 *   PROCEEDING   provisional responses but no final one within ringing_timeout_s;
 *   CHALLENGED   a 401/407 not followed by an INVITE with credentials
 *                within challenge_wait_s: long enough for a person typing a
 *                password into a softphone (sngrep's aaa.pcap retries 32 s
 *                and 51 s after its 407), so the call's final status is the
 *                answer to the retry, not the challenge;
 *   ANSWERED / CONFIRMED
 *                silence: no SIP and no media for silence_timeout_s (the
 *                timer re-arms from the last activity instead of being moved
 *                on every RTP packet);
 *   ENDED        linger: the call stays to absorb retransmitted BYEs, late
 *                RTP and 200s, then is freed.
 * Which party sent a message is told by tags: a request's From tag, a
 * response's To tag, falling back to the signalling address.
 */
#include "calls/calls_internal.h"
#include "core/str.h"
#include "rtp/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const end_reason_names[] = {"bye",     "cancel",      "failed",
                                               "timeout", "capture_end", "evicted"};

const char *call_end_reason_name(enum call_end_reason r)
{
    return end_reason_names[r];
}

const char *call_direction_name(enum call_direction d)
{
    switch (d) {
    case CALL_DIRECTION_INBOUND:
        return "inbound";
    case CALL_DIRECTION_OUTBOUND:
        return "outbound";
    default:
        return "unknown";
    }
}

void call_limits_defaults(struct call_limits *l)
{
    l->max_calls = 100000;
    l->max_registrations = 100000;
    l->max_flows = 400000;
    l->max_media_without_call = 1024;
    l->media_without_call_quiet_s = 30;
    l->media_without_call_min_packets = 5;
    l->invite_timeout_s = 32;
    l->ringing_timeout_s = 180;
    l->challenge_wait_s = 90;
    l->silence_timeout_s = 300;
    l->linger_s = 32;
    l->end_media_quiet_ms = 2000;
    l->end_media_max_s = 10;
    l->registration_idle_s = 3600;
}

const char *call_trunk_name(const struct call *c)
{
    return c->trunk ? c->trunk->name : NULL;
}

/* ---- LRU list ---- */

static struct call *lru_oldest(const struct call_table *t)
{
    return list_entry(list_last(&t->lru), struct call, lru);
}

/* The call active just before c, NULL for the oldest. */
static struct call *lru_older(const struct call *c)
{
    return list_entry(list_prev(&c->lru), struct call, lru);
}

/* ---- lifecycle ---- */

static void on_call_timer(struct timer *tm, uint64_t now, void *arg);

/* The callee's To-tag is the one string of a call that arrives after the
 * call was allocated: a separate allocation, "" (not owned) until then. */
static void set_callee_tag(struct call *c, const char *tag)
{
    const char *old = c->party[CALL_CALLEE].tag;
    if (strcmp(old, tag) == 0)
        return;
    char *copy = tag[0] ? strndup(tag, CALL_PARTY_STRING_MAX) : NULL;
    if (old[0])
        free((char *)old);
    c->party[CALL_CALLEE].tag = copy ? copy : "";
}

static void release_call_memory(struct call *c)
{
    set_callee_tag(c, "");
    for (int p = 0; p < 2; p++) {
        media_sdp_release(&c->party[p].sdp);
        if (c->party[p].video)
            media_sdp_release(c->party[p].video);
        free(c->party[p].video);
    }
    free(c); /* the Call-ID, users and caller tag live in the same block */
}

static void publish_end(struct call_table *t, struct call *c, uint64_t now);

static void free_call(struct call_table *t, struct call *c, uint64_t now)
{
    if (c->end_pending)
        publish_end(t, c, now); /* evicted before its media went quiet */
    for (size_t i = 0; i < t->observer_count; i++)
        if (t->observers[i].call_freed)
            t->observers[i].call_freed(t->observers[i].user, c);
    timerq_cancel(t->timers, &c->timer);
    media_release_call(t, c);
    hashtab_remove(&t->calls, c);
    list_unlink(&t->lru, &c->lru);
    release_call_memory(c);
}

/* call_end, with the streams as they are now (the observers write it:
 * calls/call_events.c first); the event is stamped with the call's end,
 * and the call lingers linger_s from now. */
static void publish_end(struct call_table *t, struct call *c, uint64_t now)
{
    c->end_pending = false;
    uint64_t end = c->end_us;
    enum call_end_reason reason = (enum call_end_reason)c->end_reason;
    struct event ev;
    event_begin(&ev, "call_end", SEVERITY_INFO, end, c->call_id, call_trunk_name(c));
    for (size_t i = 0; i < t->observer_count; i++)
        if (t->observers[i].call_ending)
            t->observers[i].call_ending(t->observers[i].user, c, reason, &ev, end);
    call_mark_capture_loss(t, c, &ev.body);
    event_publish(t->bus, &ev);
    timerq_schedule(t->timers, &c->timer, now + (uint64_t)t->limits.linger_s * 1000000u);
}

/* Media may still come for a call that has a binding or a flow. */
static bool media_may_follow(const struct call *c)
{
    if (c->flow_count)
        return true;
    for (size_t i = 0; i < CALL_MAX_BINDINGS; i++)
        if (c->bindings[i].used)
            return true;
    return false;
}

/* When call_end is due: the media quiet for end_media_quiet_ms after the
 * end (media in flight past the BYE, a failed call's early media), and no
 * later than end_media_max_s after it (media that never stops). */
static uint64_t end_due_us(const struct call_table *t, const struct call *c)
{
    /* A call without media yet may still get its early media, as a failed
     * call's 183 announced, unless it ended by timing out (quiet for that
     * long); one whose media had stopped is quiet already. */
    uint64_t quiet_from = call_last_media_us(c);
    if (!quiet_from && c->end_reason != CALL_END_TIMEOUT)
        quiet_from = c->end_us;
    uint64_t due = quiet_from + (uint64_t)t->limits.end_media_quiet_ms * 1000u;
    uint64_t latest = c->end_us + (uint64_t)t->limits.end_media_max_s * 1000000u;
    return due < latest ? due : latest;
}

/* The call is over: its state is final, call_end follows when its media
 * is quiet (flush: now, as at the end of the capture). */
static void end_call_flush(struct call_table *t, struct call *c, enum call_end_reason reason,
                           uint64_t now, bool flush)
{
    if (c->state == CALL_STATE_ENDED)
        return;
    c->end_us = now;
    c->end_reason = (uint8_t)reason;
    c->state = CALL_STATE_ENDED;
    t->active--;
    uint64_t due = end_due_us(t, c);
    if (flush || !media_may_follow(c) || due <= now) {
        publish_end(t, c, now);
        return;
    }
    c->end_pending = true;
    timerq_schedule(t->timers, &c->timer, due);
}

static void end_call(struct call_table *t, struct call *c, enum call_end_reason reason,
                     uint64_t now)
{
    end_call_flush(t, c, reason, now, false);
}

static enum severity fail_severity(int status)
{
    /* Busy, cancelled and declined calls are the callee's choice, not a fault. */
    if (status == 486 || status == 487 || status == 600 || status == 603)
        return SEVERITY_NOTICE;
    return SEVERITY_WARNING;
}

/* timed_out: no final response came (timer B, or no final after ringing),
 * so the call ends with reason "timeout" rather than "failed". */
static void fail_call(struct call_table *t, struct call *c, int status, const char *reason,
                      bool timed_out, uint64_t now)
{
    c->final_status = status;
    str_copy(c->final_reason, sizeof(c->final_reason), reason);
    struct event ev;
    event_begin(&ev, "call_fail", fail_severity(status), now, c->call_id, call_trunk_name(c));
    call_mark_capture_loss(t, c, &ev.body);
    for (size_t i = 0; i < t->observer_count; i++)
        if (t->observers[i].call_failed)
            t->observers[i].call_failed(t->observers[i].user, c, reason, &ev, now);
    event_publish(t->bus, &ev);
    enum call_end_reason why = CALL_END_FAILED;
    if (c->cancel_seen && status == 487)
        why = CALL_END_CANCEL;
    else if (timed_out)
        why = CALL_END_TIMEOUT;
    end_call(t, c, why, now);
}

static void arm_timer(struct call_table *t, struct call *c, uint64_t now)
{
    uint64_t s;
    switch (c->state) {
    case CALL_STATE_CALLING:
        s = t->limits.invite_timeout_s;
        break;
    case CALL_STATE_PROCEEDING:
        s = t->limits.ringing_timeout_s;
        break;
    case CALL_STATE_CHALLENGED:
        s = t->limits.challenge_wait_s;
        break;
    case CALL_STATE_ANSWERED:
    case CALL_STATE_CONFIRMED:
        s = t->limits.silence_timeout_s;
        break;
    default:
        return;
    }
    timerq_schedule(t->timers, &c->timer, now + s * 1000000u);
}

static uint64_t last_activity(const struct call *c)
{
    uint64_t media = call_last_media_us(c);
    return media > c->last_active_us ? media : c->last_active_us;
}

static void on_call_timer(struct timer *tm, uint64_t now, void *arg)
{
    struct call_table *t = arg;
    struct call *c = (struct call *)((char *)tm - offsetof(struct call, timer));
    switch (c->state) {
    case CALL_STATE_CALLING:
        fail_call(t, c, 408, "Request Timeout (no response)", true, now);
        break;
    case CALL_STATE_PROCEEDING:
        fail_call(t, c, 408, "Request Timeout (no final response)", true, now);
        break;
    case CALL_STATE_CHALLENGED:
        /* Nobody answered the challenge: the call failed with it. */
        fail_call(t, c, c->final_status, c->final_reason, false, now);
        break;
    case CALL_STATE_ANSWERED:
    case CALL_STATE_CONFIRMED: {
        uint64_t due = last_activity(c) + (uint64_t)t->limits.silence_timeout_s * 1000000u;
        if (due > now)
            timerq_schedule(t->timers, tm, due);
        else
            end_call(t, c, CALL_END_TIMEOUT, now);
        break;
    }
    case CALL_STATE_ENDED:
        if (!c->end_pending) {
            free_call(t, c, now);
            break;
        }
        uint64_t due = end_due_us(t, c);
        if (due > now)
            timerq_schedule(t->timers, tm, due);
        else
            publish_end(t, c, now);
        break;
    }
}

/* What the table gives up first when it is full: a call already published
 * and lingering, then a dialog nobody answered with no media (what a SIP
 * scanner's flood is made of: its INVITEs get no answer, or a final
 * response that ends them at once), and only then a live call. */
enum evict_class {
    EVICT_LINGERING,
    EVICT_UNANSWERED_SILENT, /* no response at all */
    EVICT_SETUP_SILENT,      /* provisional or challenged, no media */
    EVICT_LIVE,
};

static enum evict_class evict_class_of(const struct call *c)
{
    if (c->state == CALL_STATE_ENDED)
        return c->end_pending ? EVICT_LIVE : EVICT_LINGERING;
    if (c->flow_count)
        return EVICT_LIVE;
    switch (c->state) {
    case CALL_STATE_CALLING:
        return EVICT_UNANSWERED_SILENT;
    case CALL_STATE_PROCEEDING:
    case CALL_STATE_CHALLENGED:
        return EVICT_SETUP_SILENT;
    default:
        return EVICT_LIVE;
    }
}

/* Calls looked at from the LRU tail for a victim, and calls at most moved
 * to the front for their media on the way: a bounded scan, so a flood
 * costs O(1) per new call. */
#define EVICT_SCAN        64
#define EVICT_REFRESH_MAX 1024
/* Once a call that is not live is in hand, how many more are looked at
 * for one of a lower class. */
#define EVICT_BETTER 8

/* The call to end for room: the least recently active of the lowest class
 * among the EVICT_SCAN calls at the tail. RTP does not move a call on the
 * list (the per-packet path never writes to the call); a call met here whose
 * media is newer than its place says goes to the front instead, so media
 * keeps a call alive. When every call looked at had newer media (a table
 * full of live calls), the one whose media is the oldest goes. */
static struct call *pick_victim(struct call_table *t)
{
    struct call *best = NULL, *stalest = NULL;
    enum evict_class best_class = EVICT_LIVE;
    uint64_t stalest_media = UINT64_MAX;
    size_t looked = 0, refreshed = 0, best_at = 0;
    for (struct call *c = lru_oldest(t), *older; c && looked < EVICT_SCAN; c = older) {
        older = lru_older(c);
        enum evict_class k = evict_class_of(c);
        uint64_t media = k == EVICT_LIVE ? call_last_media_us(c) : 0;
        if (media > c->last_active_us && refreshed < EVICT_REFRESH_MAX) {
            c->last_active_us = media;
            list_move_front(&t->lru, &c->lru);
            refreshed++;
            if (media < stalest_media) {
                stalest = c;
                stalest_media = media;
            }
            continue;
        }
        looked++;
        if (!best || k < best_class) {
            best = c;
            best_class = k;
            best_at = looked;
            if (k == EVICT_LINGERING)
                break;
        } else if (best_class < EVICT_LIVE && looked >= best_at + EVICT_BETTER) {
            break; /* a dead dialog in hand: a better one further on is unlikely */
        }
    }
    if (best)
        return best;
    return stalest ? stalest : lru_oldest(t);
}

static struct call *create_call(struct call_table *t, const struct sip_msg *m,
                                const struct sip_meta *meta)
{
    if (hashtab_count(&t->calls) >= t->limits.max_calls && !list_empty(&t->lru)) {
        struct call *victim = pick_victim(t);
        (*t->calls_count.evicted)++;
        if (victim->state != CALL_STATE_ENDED)
            end_call_flush(t, victim, CALL_END_EVICTED, meta->ts_us, true);
        free_call(t, victim, meta->ts_us);
    }
    /* One allocation for the call and the strings it keeps for its whole
     * life, each at its exact length: Call-ID, From user, From-tag, To user
     * and, right after it, the Request-URI user (call_request_user). */
    const char *to_user = m->to_user[0] ? m->to_user : m->request_user;
    bool request_user_is_callee = strncmp(to_user, m->request_user, CALL_PARTY_STRING_MAX) == 0;
    const char *strings[5] = {m->call_id, m->from_user, m->from_tag, to_user,
                              request_user_is_callee ? "" : m->request_user};
    size_t lens[5], total = 0;
    for (int i = 0; i < 5; i++) {
        /* Users and tags keep the 63-char cut they always had. */
        lens[i] = (i == 0 ? strlen(strings[i]) : strnlen(strings[i], CALL_PARTY_STRING_MAX)) + 1;
        total += lens[i];
    }
    struct call *c = calloc(1, sizeof(*c) + total);
    if (!c)
        return NULL;
    char *tail = (char *)(c + 1);
    char *copies[5];
    for (int i = 0; i < 5; i++) {
        memcpy(tail, strings[i], lens[i] - 1);
        tail[lens[i] - 1] = '\0';
        copies[i] = tail;
        tail += lens[i];
    }
    c->call_id = copies[0];
    c->party[CALL_CALLER].user = copies[1];
    c->party[CALL_CALLER].tag = copies[2];
    c->party[CALL_CALLEE].user = copies[3];
    c->party[CALL_CALLEE].tag = "";
    c->request_user_is_callee = request_user_is_callee;
    if (!hashtab_insert(&t->calls, c)) {
        free(c);
        return NULL;
    }
    list_push_front(&t->lru, &c->lru);
    timer_init(&c->timer, on_call_timer, t);
    c->state = CALL_STATE_CALLING;
    c->invite_us = meta->ts_us;
    c->capture_lost_at_start = (uint32_t)t->loss.total;
    c->party[CALL_CALLER].signalling = meta->src;
    c->party[CALL_CALLEE].signalling = meta->dst;
    c->invite_dst = meta->dst;
    const struct trunk_config *from_trunk = trunk_list_find(t->trunks, &meta->src.addr);
    const struct trunk_config *to_trunk = trunk_list_find(t->trunks, &meta->dst.addr);
    if (from_trunk) {
        c->direction = CALL_DIRECTION_INBOUND;
        c->trunk = from_trunk;
    } else if (to_trunk) {
        c->direction = CALL_DIRECTION_OUTBOUND;
        c->trunk = to_trunk;
    }
    t->active++;
    (*t->calls_count.started)++;
    return c;
}

static void start_call(struct call_table *t, struct call *c, const struct sip_msg *m,
                       const struct sip_meta *meta)
{
    for (size_t i = 0; i < t->observer_count; i++)
        if (t->observers[i].call_started)
            t->observers[i].call_started(t->observers[i].user, c, m, meta);
}

/* ---- message handling ---- */

static int sender_party(const struct call *c, const struct sip_msg *m, const struct sip_meta *meta)
{
    const char *tag = m->is_request ? m->from_tag : m->to_tag;
    if (tag[0]) {
        if (strcmp(tag, c->party[CALL_CALLER].tag) == 0)
            return CALL_CALLER;
        if (c->party[CALL_CALLEE].tag[0] && strcmp(tag, c->party[CALL_CALLEE].tag) == 0)
            return CALL_CALLEE;
    }
    if (endpoint_equal(&meta->src, &c->party[CALL_CALLER].signalling))
        return CALL_CALLER;
    /* Responses to the caller's requests come from the callee. */
    return m->is_request ? CALL_CALLER : CALL_CALLEE;
}

static void take_sdp(struct call_table *t, struct call *c, int party, const struct sip_msg *m)
{
    if (!m->has_sdp)
        return;
    media_sdp_from_message(&c->party[party].sdp, &m->sdp, SDP_MEDIA_AUDIO);
    /* Video is rare: its SDP is kept apart, from the first m=video on. */
    struct call_party *p = &c->party[party];
    if (!p->video)
        for (size_t i = 0; i < m->sdp.media_count && !p->video; i++)
            if (m->sdp.media[i].type == SDP_MEDIA_VIDEO)
                p->video = calloc(1, sizeof(*p->video));
    if (p->video)
        media_sdp_from_message(p->video, &m->sdp, SDP_MEDIA_VIDEO);
    media_bind_party(t, c, party);
}

static uint64_t branch_hash(const char *branch)
{
    return hashtab_hash_bytes(branch, strlen(branch));
}

static bool seen_fork_tag(struct call *c, const char *tag)
{
    if (!tag[0])
        return true;
    /* Tags were once kept as 31-char strings compared by prefix; hashing
     * the same prefix keeps that behaviour. */
    uint64_t h = hashtab_hash_bytes(tag, strnlen(tag, 31));
    for (unsigned i = 0; i < c->forks && i < 4; i++)
        if (c->fork_tag_hash[i] == h)
            return true;
    if (c->forks < 4)
        c->fork_tag_hash[c->forks] = h;
    c->forks++;
    return false;
}

/* The Q.850 cause of a BYE, CANCEL or final response that carries one
 * (RFC 3326): the call record keeps the latest. */
static void take_q850_cause(struct call *c, const struct sip_msg *m)
{
    int cause = sip_reason_q850_cause(m->reason_header);
    if (cause < 0)
        return;
    c->q850_cause = (uint8_t)cause;
    c->q850_known = 1;
}

/* Returns true if the message was a retransmission. */
static bool handle_invite(struct call_table *t, struct call **cp, const struct sip_msg *m,
                          const struct sip_meta *meta)
{
    struct call *c = *cp;
    uint64_t now = meta->ts_us;
    if (!c) {
        if (m->to_tag[0]) {
            /* In-dialog INVITE of a call that started before the capture. */
            (*t->calls_count.reinvite_unknown_call)++;
            return false;
        }
        c = create_call(t, m, meta);
        if (!c)
            return false;
        *cp = c;
        c->invite_cseq = m->cseq;
        c->invite_branch_hash = branch_hash(m->via_branch);
        take_sdp(t, c, CALL_CALLER, m);
        arm_timer(t, c, now);
        start_call(t, c, m, meta);
        return false;
    }
    if (c->state == CALL_STATE_ENDED) {
        (*t->calls_count.late_messages)++;
        /* Credentials for a challenge the call already failed with: the
         * retry came after challenge_wait_s (too short for this UA). */
        if (!m->to_tag[0] && m->has_credentials &&
            (c->final_status == 401 || c->final_status == 407))
            (*t->calls_count.challenge_answered_late)++;
        return true;
    }
    if (!m->to_tag[0]) {
        if (m->cseq == c->invite_cseq && branch_hash(m->via_branch) == c->invite_branch_hash) {
            c->invite_retransmits++;
            (*t->calls_count.invite_retransmissions)++;
            return true;
        }
        if (c->state >= CALL_STATE_ANSWERED)
            return false;
        /* A new initial INVITE transaction: credentials after a challenge.
         * The challenge is no longer the call's final response: the
         * retry's answer will be (none yet). */
        c->invite_cseq = m->cseq;
        c->invite_branch_hash = branch_hash(m->via_branch);
        c->state = CALL_STATE_CALLING;
        c->final_status = 0;
        take_sdp(t, c, CALL_CALLER, m);
        arm_timer(t, c, now);
        return false;
    }
    /* re-INVITE */
    if (c->reinvite_pending && m->cseq == c->invite_cseq) {
        (*t->calls_count.invite_retransmissions)++;
        return true;
    }
    c->reinvite_pending = true;
    c->invite_cseq = m->cseq;
    take_sdp(t, c, sender_party(c, m, meta), m);
    return false;
}

static bool handle_invite_response(struct call_table *t, struct call *c, const struct sip_msg *m,
                                   const struct sip_meta *meta)
{
    uint64_t now = meta->ts_us;
    int st = m->status;
    if (c->state == CALL_STATE_ENDED) {
        if (st >= 200 && st < 300)
            c->ok_retransmits++;
        (*t->calls_count.late_messages)++;
        return true;
    }
    if (m->cseq != c->invite_cseq)
        return false; /* a stale transaction's response */
    if (c->reinvite_pending) {
        if (st >= 200) {
            c->reinvite_pending = false;
            if (st < 300) {
                take_sdp(t, c, sender_party(c, m, meta), m);
                c->last_refresh_us = now;
            }
        }
        return false;
    }
    if (c->state >= CALL_STATE_ANSWERED) {
        if (st >= 200 && st < 300) {
            c->ok_retransmits++;
            (*t->calls_count.response_retransmissions)++;
            take_sdp(t, c, CALL_CALLEE, m);
            return true;
        }
        return false;
    }
    if (st < 200) {
        if (!c->first_provisional_us)
            c->first_provisional_us = now;
        if ((st == 180 || st == 183) && !c->first_18x_us)
            c->first_18x_us = now;
        seen_fork_tag(c, m->to_tag);
        take_sdp(t, c, CALL_CALLEE, m);
        if (c->state == CALL_STATE_CALLING || c->state == CALL_STATE_CHALLENGED) {
            c->state = CALL_STATE_PROCEEDING;
            arm_timer(t, c, now);
        }
        return false;
    }
    if (st < 300) {
        seen_fork_tag(c, m->to_tag);
        take_q850_cause(c, m);
        c->state = CALL_STATE_ANSWERED;
        c->answer_us = now;
        c->last_refresh_us = now;
        c->final_status = st;
        str_copy(c->final_reason, sizeof(c->final_reason), m->reason);
        set_callee_tag(c, m->to_tag);
        c->party[CALL_CALLEE].signalling = meta->src;
        if (m->session_expires)
            c->session_expires = m->session_expires;
        take_sdp(t, c, CALL_CALLEE, m);
        arm_timer(t, c, now);
        for (size_t i = 0; i < t->observer_count; i++)
            if (t->observers[i].call_answered)
                t->observers[i].call_answered(t->observers[i].user, c, now);
        return false;
    }
    if ((st == 401 || st == 407) && !c->cancel_seen) {
        if (c->state == CALL_STATE_CHALLENGED)
            return true; /* the challenge retransmitted */
        c->challenges++;
        c->final_status = st;
        str_copy(c->final_reason, sizeof(c->final_reason), m->reason);
        c->state = CALL_STATE_CHALLENGED;
        arm_timer(t, c, now);
        return false;
    }
    take_q850_cause(c, m);
    fail_call(t, c, st, m->reason, false, now);
    return false;
}

static void handle_request_in_call(struct call_table *t, struct call *c, const struct sip_msg *m,
                                   const struct sip_meta *meta)
{
    uint64_t now = meta->ts_us;
    switch (m->method) {
    case SIP_METHOD_ACK:
        if (m->cseq == c->invite_cseq && c->state == CALL_STATE_ANSWERED) {
            c->state = CALL_STATE_CONFIRMED;
            c->ack_us = now;
        }
        if (c->state != CALL_STATE_ENDED)
            take_sdp(t, c, sender_party(c, m, meta), m);
        break;
    case SIP_METHOD_BYE:
        if (c->bye_seen || c->state == CALL_STATE_ENDED)
            break;
        c->bye_seen = true;
        c->bye_sender = (uint8_t)sender_party(c, m, meta);
        take_q850_cause(c, m);
        end_call(t, c, CALL_END_BYE, now);
        break;
    case SIP_METHOD_CANCEL:
        c->cancel_seen = true;
        if (c->state != CALL_STATE_ENDED)
            take_q850_cause(c, m);
        break;
    case SIP_METHOD_UPDATE:
    case SIP_METHOD_PRACK:
        if (c->state != CALL_STATE_ENDED)
            take_sdp(t, c, sender_party(c, m, meta), m);
        break;
    default:
        break;
    }
}

static void handle_response_in_call(struct call_table *t, struct call *c, const struct sip_msg *m,
                                    const struct sip_meta *meta)
{
    if (c->state == CALL_STATE_ENDED)
        return;
    if ((m->method == SIP_METHOD_UPDATE || m->method == SIP_METHOD_PRACK) && m->status >= 200 &&
        m->status < 300) {
        take_sdp(t, c, sender_party(c, m, meta), m);
        if (m->method == SIP_METHOD_UPDATE)
            c->last_refresh_us = meta->ts_us;
    }
}

static void notify_message(struct call_table *t, struct call *c, const struct sip_msg *m,
                           const struct sip_meta *meta, bool retransmission)
{
    for (size_t i = 0; i < t->observer_count; i++)
        if (t->observers[i].call_message)
            t->observers[i].call_message(t->observers[i].user, c, m, meta, retransmission);
}

static void notify_other(struct call_table *t, const struct sip_msg *m, const struct sip_meta *meta)
{
    for (size_t i = 0; i < t->observer_count; i++)
        if (t->observers[i].other_message)
            t->observers[i].other_message(t->observers[i].user, m, meta);
}

void call_table_sip(struct call_table *t, const struct sip_msg *m, const struct sip_meta *meta)
{
    if (m->method == SIP_METHOD_REGISTER) {
        registrations_message(t, m, meta);
        return;
    }
    if (!m->call_id[0]) {
        (*t->calls_count.messages_without_call_id)++;
        return;
    }
    struct call *c = hashtab_find(&t->calls, m->call_id);
    /* Before the events this message causes, so a call's frames are all
     * attributed when its events are out; again below for a new call. */
    if (c)
        call_frame_attributed(t, c, meta->ts_us);
    bool retransmission = false;
    if (m->is_request && m->method == SIP_METHOD_INVITE) {
        retransmission = handle_invite(t, &c, m, meta);
    } else if (!c) {
        notify_other(t, m, meta);
        return;
    } else if (m->is_request) {
        handle_request_in_call(t, c, m, meta);
    } else if (m->method == SIP_METHOD_INVITE) {
        retransmission = handle_invite_response(t, c, m, meta);
    } else {
        handle_response_in_call(t, c, m, meta);
    }
    if (!c)
        return;
    c->last_active_us = meta->ts_us;
    list_move_front(&t->lru, &c->lru);
    notify_message(t, c, m, meta, retransmission);
    call_frame_attributed(t, c, meta->ts_us);
}

/* ---- table ---- */

struct call_table *call_table_new(const struct call_limits *limits, const struct trunk_list *trunks,
                                  struct counters *counters, struct timerq *timers,
                                  struct event_bus *bus)
{
    struct call_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->limits = *limits;
    t->trunks = trunks;
    t->counters = counters;
    t->timers = timers;
    t->bus = bus;
    if (!hashtab_init(&t->calls, offsetof(struct call, call_id), 0, limits->max_calls) ||
        !media_init(t) || !media_orphans_init(t) || !registrations_init(t) ||
        !call_events_observe(t)) {
        call_table_free(t);
        return NULL;
    }
    COUNTERS_REGISTER(CALLS_COUNTERS, counters, "calls", &t->calls_count);
    return t;
}

static void free_each(void *item, void *arg)
{
    struct call *c = item;
    struct call_table *t = arg;
    for (size_t i = 0; i < t->observer_count; i++)
        if (t->observers[i].call_freed)
            t->observers[i].call_freed(t->observers[i].user, c);
    timerq_cancel(t->timers, &c->timer);
    media_release_call(t, c); /* what its flows share with other calls */
    release_call_memory(c);
}

void call_table_free(struct call_table *t)
{
    if (!t)
        return;
    if (t->calls.slots)
        hashtab_foreach(&t->calls, free_each, t);
    hashtab_destroy(&t->calls);
    media_orphans_destroy(t);
    media_destroy(t);
    registrations_destroy(t);
    free(t);
}

bool call_table_add_observer(struct call_table *t, const struct call_observer *o)
{
    if (t->observer_count >= CALL_TABLE_MAX_OBSERVERS)
        return false;
    t->observers[t->observer_count++] = *o;
    return true;
}

void call_table_set_frame_hook(struct call_table *t, call_frame_fn fn, void *user)
{
    t->frame_hook = fn;
    t->frame_hook_user = user;
}

bool call_table_udp(struct call_table *t, const struct packet *pkt)
{
    return media_udp(t, pkt);
}

/* Publishes call_end of every call still waiting for its media to go quiet. */
static void flush_pending_ends(struct call_table *t, uint64_t now_us)
{
    for (struct call *c = lru_oldest(t); c; c = lru_older(c))
        if (c->end_pending)
            publish_end(t, c, now_us);
}

void call_table_close_all(struct call_table *t, uint64_t now_us)
{
    /* The calls that ended before the capture did come out first; then the
     * open ones, oldest first, in the order they began to idle. */
    flush_pending_ends(t, now_us);
    for (struct call *c = lru_oldest(t); c; c = lru_older(c)) {
        if (c->state == CALL_STATE_ENDED)
            continue;
        if (c->state == CALL_STATE_CHALLENGED)
            fail_call(t, c, c->final_status, c->final_reason, false, now_us);
        else
            end_call_flush(t, c, CALL_END_CAPTURE_END, now_us, true);
    }
    flush_pending_ends(t, now_us); /* the challenged ones */
    media_orphans_close_all(t, now_us);
}

size_t call_table_active(const struct call_table *t)
{
    return t->active;
}

void call_table_sizes(const struct call_table *t, struct call_table_sizes *out)
{
    out->calls = hashtab_count(&t->calls);
    out->registrations = hashtab_count(&t->registrations);
    out->media_bindings = hashtab_count(&t->bindings);
    out->flows = hashtab_count(&t->flows.table);
    out->flows_of_no_call = t->orphans.count;
    out->flow_pool_bytes = pool_bytes(&t->flows.flows);
}

struct call *call_table_find(struct call_table *t, const char *call_id)
{
    return hashtab_find(&t->calls, call_id);
}

struct rtp_flow_table *call_table_flows(struct call_table *t)
{
    return &t->flows;
}

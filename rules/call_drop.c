/*
 * call_drop: an answered call torn down abnormally, and why.
 *
 * The verdict is taken when the call ends (the call_ending observer, before
 * call_end is published, which then carries the same `drop_cause`), from the
 * state the correlation layer kept; only answered calls ending by BYE or by
 * the silence timeout are candidates (capture_end and eviction are the tap's
 * own limits, not the call's). Causes, first match wins:
 *
 *   missing_ack     no ACK was ever seen while the 2xx was retransmitted
 *                   (the UAS did not get the ACK either), and the call ended
 *                   within end_tolerance_s of ack_timeout_s (64*T1) after
 *                   the answer: the UAS gave up at timer H and sent BYE.
 *                   If the call is still up end_tolerance_s after timer H,
 *                   the event is raised then (from a timer) instead, and
 *                   not again at the end. A late ACK (retransmitted 2xx,
 *                   then ACK) is not a drop.
 *   session_timer   a Session-Expires was negotiated and the call ended
 *                   near its expiry counted from the last refresh (the
 *                   answer when never refreshed): RFC 4028 has the side
 *                   that misses the refresh send BYE at SE - min(32, SE/3),
 *                   so the window is [that - tolerance, SE + tolerance].
 *   media_timeout   media had flowed, the last packet either way was at
 *                   least media_timeout_s before the end, and the SDP did
 *                   not put the call on hold (no audio expected then).
 *   unknown         the call ended by the silence timeout (no BYE seen)
 *                   for none of the reasons above.
 *
 * Severity: error for missing_ack (the call is certainly dead, and the
 * cause — ACKs lost on some path — usually kills every call on that path),
 * warning otherwise; [severity] call_drop = ... overrides both.
 */
#include "core/json_writer.h"
#include "rules/rules.h"

#include <stdlib.h>
#include <string.h>

#define PARAMS(X)                                                                                  \
    X(ack_timeout_s, 32, 1, 300,                                                                   \
      "seconds after a 2xx without ACK before the call counts as dropped (64*T1)")                 \
    X(media_timeout_s, 20, 1, 3600,                                                                \
      "seconds without media both ways before a teardown counts as media_timeout")                 \
    X(end_tolerance_s, 5, 0, 60,                                                                   \
      "seconds a teardown may miss the expected moment (timer H, session expiry) and still "       \
      "count")
RULE_PARAM_TABLE(PARAMS);

struct drop_call {
    bool raised; /* its timer: timer H + tolerance */
    const char *cause;
};

static bool on_hold(const struct call *c)
{
    for (int p = 0; p < 2; p++) {
        const struct call_sdp *s = &c->party[p].sdp;
        if (s->present && (s->direction != SDP_SENDRECV || s->port == 0))
            return true;
    }
    return false;
}

static void raise_drop(const struct rules_context *ctx, const struct call *c, struct drop_call *st,
                       const char *cause, uint64_t now)
{
    st->raised = true;
    st->cause = cause;
    if (!ctx->enabled)
        return;
    bool ack = strcmp(cause, "missing_ack") == 0;
    struct event ev;
    rules_event_begin(ctx, &ev, "call_drop", ack ? SEVERITY_ERROR : SEVERITY_WARNING, now, c);
    struct json_writer *b = &ev.body;
    json_writer_member_string(b, "cause", cause);
    double after = now > c->answer_us ? (double)((now - c->answer_us + 500) / 1000) / 1000.0 : 0;
    json_writer_member_real(b, "seconds_after_answer", after);
    json_writer_member_integer(b, "ok_retransmits", c->ok_retransmits);
    if (c->session_expires)
        json_writer_member_integer(b, "session_expires", c->session_expires);
    else
        json_writer_member_null(b, "session_expires");
    json_writer_member_bool(b, "ack_seen", c->ack_us != 0);
    json_writer_member_bool(b, "bye_seen", c->bye_seen);
    if (c->bye_seen)
        json_writer_member_string(b, "bye_from",
                                  c->bye_sender == CALL_CALLER ? "caller" : "callee");
    json_writer_member_string(b, "direction", call_direction_name(c->direction));
    rules_publish(ctx, &ev);
}

static bool missing_ack(const struct call *c)
{
    return c->ack_us == 0 && c->ok_retransmits > 0;
}

static void on_timer_h(const struct rules_context *ctx, struct call *c, void *state, uint64_t now)
{
    struct drop_call *st = state;
    if (!st->raised && missing_ack(c) && !c->bye_seen && c->state == CALL_STATE_ANSWERED)
        raise_drop(ctx, c, st, "missing_ack", now);
}

static const char *judge(const struct rules_context *ctx, const struct call *c,
                         enum call_end_reason reason, uint64_t now)
{
    const struct trunk_config *tr = c->trunk;
    uint64_t tol = rules_seconds_us(RULE_PARAM(ctx, end_tolerance_s, tr));
    uint64_t after = now - c->answer_us;

    uint64_t ack_timeout = rules_seconds_us(RULE_PARAM(ctx, ack_timeout_s, tr));
    if (missing_ack(c) && after + tol >= ack_timeout && after <= ack_timeout + tol)
        return "missing_ack";

    if (c->session_expires) {
        uint64_t se = (uint64_t)c->session_expires * 1000000u;
        uint64_t early = se / 3 < 32000000u ? se / 3 : 32000000u;
        uint64_t expiry = c->last_refresh_us + se;
        if (now + early + tol >= expiry && now <= expiry + tol)
            return "session_timer";
    }

    struct call_media_direction sent[2];
    call_media_of(c, CALL_CALLER, &sent[0]);
    call_media_of(c, CALL_CALLEE, &sent[1]);
    uint64_t last_media = sent[0].last_us > sent[1].last_us ? sent[0].last_us : sent[1].last_us;
    uint64_t media_timeout = rules_seconds_us(RULE_PARAM(ctx, media_timeout_s, tr));
    if ((sent[0].packets || sent[1].packets) && last_media + media_timeout <= now && !on_hold(c))
        return "media_timeout";

    if (reason == CALL_END_TIMEOUT)
        return "unknown";
    return NULL;
}

static void on_ending(void *user, struct call *c, enum call_end_reason reason, struct event *ev,
                      uint64_t now)
{
    const struct rules_context *ctx = user;
    struct drop_call *st = rules_call_state(ctx, c);
    if (!st || !c->answer_us || now < c->answer_us)
        return;
    rules_call_timer_cancel(ctx, c);
    if (!st->raised && (reason == CALL_END_BYE || reason == CALL_END_TIMEOUT)) {
        const char *cause = judge(ctx, c, reason, now);
        if (cause)
            raise_drop(ctx, c, st, cause, now);
    }
    if (st->raised && ctx->enabled)
        json_writer_member_string(&ev->body, "drop_cause", st->cause);
}

static void on_answered(void *user, struct call *c, uint64_t now)
{
    const struct rules_context *ctx = user;
    if (!rules_call_state_make(ctx, c))
        return;
    uint64_t due = now + rules_seconds_us(RULE_PARAM(ctx, ack_timeout_s, c->trunk)) +
                   rules_seconds_us(RULE_PARAM(ctx, end_tolerance_s, c->trunk));
    rules_call_timer_at(ctx, c, due);
}

static void *create(struct rules_context *ctx)
{
    struct call_observer o = {.call_answered = on_answered, .call_ending = on_ending};
    return rules_observe(ctx, o);
}

const struct detector detector_call_drop = {
    .name = "call_drop",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
    .create = create,
    .call_state_size = sizeof(struct drop_call),
    .call_timer = on_timer_h,
};

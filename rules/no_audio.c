/*
 * no_audio: an answered call whose media flows in neither direction.
 *
 * Judged, like one_way_audio, only while the SDP of both parties asks for
 * audio both ways (rules/media_silence.h), from the baseline (the answer or
 * the last SDP change). Both directions are silent when each has carried
 * nothing, and shown no other sign of life, for window_s since the later
 * of its last sign and the baseline (pause_s for a direction whose sender
 * said it went quiet: comfort noise, DTX). Phase `start`: neither carried
 * anything since the baseline (both SDPs private behind NAT, a firewall
 * dropping the RTP range); `midcall`: media flowed, then stopped both
 * ways. The event comes when the window passes, not at the BYE (where
 * call_drop may still say media_timeout).
 *
 * Nothing is raised while the tap has seen no RTP of any call: a capture
 * of SIP alone, or a mirror port that does not carry the media, would
 * otherwise raise it on every call.
 *
 * One event per episode: it re-arms when a packet newer than the event
 * arrives in either direction, or when the SDP changes. As in
 * one_way_audio, the window counts only from the tap's own last loss.
 *
 * Hints, most specific first: nat_private_sdp (a party announced a private
 * SDP address while signalling from a public one; the callee's first),
 * sdp_address_mismatch (media of the call came from an address its
 * sender's SDP did not name), no_rtp_from_party (neither party sent any RTP
 * in the call). sdp_addr: the private SDP endpoint for nat_private_sdp,
 * else the callee's.
 */
#include "rules/media_silence.h"
#include "rules/rules.h"

#include <stdlib.h>

#define PARAMS(X)                                                                                  \
    X(window_s, 10, 1, 3600, "seconds both directions must carry nothing")                         \
    X(pause_s, 60, 1, 3600,                                                                        \
      "seconds a direction may be silent after comfort noise (RFC 3389) or in a DTX codec's "      \
      "silence")                                                                                   \
    X(poll_s, 1, 0.1, 60, "how often (capture time) an answered call's media is looked at")
RULE_PARAM_TABLE(PARAMS);

struct no_audio_call {
    struct media_watch watch; /* first: media_watch_answered makes the state */
    uint64_t alert_us;        /* when the open episode was raised, 0 none (1 for time 0) */
};

/* The party the hint points at: a private one behind NAT (callee first), else the callee. */
static int hinted_party(const struct call *c)
{
    if (media_private_behind_nat(&c->party[CALL_CALLEE]))
        return CALL_CALLEE;
    if (media_private_behind_nat(&c->party[CALL_CALLER]))
        return CALL_CALLER;
    return CALL_CALLEE;
}

static const char *hint_for(const struct call *c, const struct call_media_direction sent[2])
{
    if (media_private_behind_nat(&c->party[hinted_party(c)]))
        return "nat_private_sdp";
    if (sent[0].sdp_address_mismatch || sent[1].sdp_address_mismatch)
        return "sdp_address_mismatch";
    if (sent[0].packets == 0 && sent[1].packets == 0)
        return "no_rtp_from_party";
    return NULL;
}

static void raise_event(const struct rules_context *ctx, const struct call *c,
                        const struct no_audio_call *st, uint64_t since, uint64_t now,
                        const struct call_media_direction sent[2])
{
    bool flowed = false;
    for (int p = 0; p < 2; p++)
        if (sent[p].packets && sent[p].last_us >= st->watch.session.baseline_us)
            flowed = true;
    struct event ev;
    rules_event_begin(ctx, &ev, "no_audio", SEVERITY_WARNING, now, c);
    struct json_writer *b = &ev.body;
    json_writer_member_string(b, "phase", flowed ? "midcall" : "start");
    json_writer_member_real(b, "silent_s", (double)((now - since + 500) / 1000) / 1000.0);
    json_writer_member_string_or_null(b, "hint", hint_for(c, sent));
    struct endpoint sdp_hinted = media_sdp_endpoint(c, hinted_party(c));
    endpoint_member(b, "sdp_addr", &sdp_hinted);
    struct endpoint caller = media_sdp_endpoint(c, CALL_CALLER);
    struct endpoint callee = media_sdp_endpoint(c, CALL_CALLEE);
    endpoint_member(b, "caller_sdp", &caller);
    endpoint_member(b, "callee_sdp", &callee);
    json_writer_member_integer(b, "caller_packets", (int64_t)sent[0].packets);
    json_writer_member_integer(b, "callee_packets", (int64_t)sent[1].packets);
    json_writer_member_string(b, "direction", call_direction_name(c->direction));
    rules_publish(ctx, &ev);
}

static void check(const struct rules_context *ctx, struct call *c, struct no_audio_call *st,
                  uint64_t now)
{
    uint64_t window = rules_seconds_us(RULE_PARAM(ctx, window_s, c->trunk));
    uint64_t pause = rules_seconds_us(RULE_PARAM(ctx, pause_s, c->trunk));
    uint64_t next = now + rules_seconds_us(RULE_PARAM(ctx, poll_s, c->trunk));

    struct call_media_direction sent[2];
    call_media_of(c, CALL_CALLER, &sent[0]);
    call_media_of(c, CALL_CALLEE, &sent[1]);
    for (int p = 0; p < 2; p++)
        if (st->alert_us && sent[p].packets && sent[p].last_us > st->alert_us)
            st->alert_us = 0; /* media resumed: the episode is over */
    /* A tap that has seen no RTP of any call (SIP alone is mirrored or
     * captured) cannot tell a call without media from its own blindness. */
    if (st->alert_us || !media_both_ways_expected(c) || !call_table_rtp_packets(ctx->calls))
        goto reschedule;

    /* Silent both ways since the later of the two last signs of life (and
     * the tap's own last loss); due when the later direction reaches its window. */
    uint64_t since = st->watch.session.baseline_us, due = 0;
    uint64_t vouched = call_table_last_capture_loss_us(ctx->calls);
    for (int p = 0; p < 2; p++) {
        uint64_t from = media_alive_us(&sent[p], st->watch.session.baseline_us);
        if (from < st->watch.session.baseline_us)
            from = st->watch.session.baseline_us;
        if (vouched > from)
            from = vouched;
        if (from > since)
            since = from;
        uint64_t d = from + media_silence_allowed_us(&sent[p], window, pause);
        if (d > due)
            due = d;
    }
    if (due > now) {
        if (due < next)
            next = due;
        goto reschedule;
    }
    if (!ctx->enabled)
        goto reschedule;
    st->alert_us = now ? now : 1;
    raise_event(ctx, c, st, since, now, sent);
reschedule:
    rules_call_timer_at(ctx, c, next);
}

static void on_timer(const struct rules_context *ctx, struct call *c, void *state, uint64_t now)
{
    check(ctx, c, state, now);
}

static void on_message(void *user, struct call *c, const struct sip_msg *m,
                       const struct sip_meta *meta, bool retransmission)
{
    const struct rules_context *ctx = user;
    struct no_audio_call *st =
        (struct no_audio_call *)media_watch_changed(ctx, c, m, meta, retransmission);
    if (!st)
        return;
    st->alert_us = 0;
    check(ctx, c, st, meta->ts_us);
}

static void on_ending(void *user, struct call *c, enum call_end_reason reason, struct event *ev,
                      uint64_t now)
{
    (void)reason;
    (void)ev;
    (void)now;
    rules_call_timer_cancel(user, c);
}

static void *create(struct rules_context *ctx)
{
    struct call_observer o = {.call_answered = media_watch_on_answered,
                              .call_message = on_message,
                              .call_ending = on_ending};
    return rules_observe(ctx, o);
}

const struct detector detector_no_audio = {
    .name = "no_audio",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
    .create = create,
    .call_state_size = sizeof(struct no_audio_call),
    .call_timer = on_timer,
};

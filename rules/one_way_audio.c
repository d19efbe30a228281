/*
 * one_way_audio: an answered call whose media flows in one direction only.
 *
 * A direction is judged only while the SDP of both parties says audio should
 * flow both ways (each party sends: sendrecv/sendonly, the other receives:
 * sendrecv/recvonly, a port and a non-zero address). A call on hold
 * (sendonly / recvonly / inactive, c=0.0.0.0) or with audio rejected is
 * therefore never judged: one direction flowing is what was negotiated.
 *
 * Nothing happens per RTP packet: the correlation layer sums, per sending
 * party, the packets and latest arrival of its flows (call_media_of), and a
 * timer on the capture clock reads them. The timer is due at the earliest instant a
 * direction could have been silent for the window (so the event's time is
 * exact), and at least every poll_s to notice media that resumes.
 *
 * A direction is silent when it has carried nothing for window_s since the
 * later of its last packet and the baseline (the answer, or the last SDP
 * change of either party); the other direction is active when its last
 * packet is less than active_s old (a direction paused by voice activity
 * detection merely delays the verdict). A direction is alive also when its
 * sender's RTCP SR counts no more RTP than the tap saw (quiet on purpose:
 * VAD, mute), and one whose last packet was comfort noise or whose codec
 * has DTX may be silent for pause_s (rules/media_silence.h). Phase `start`: the silent direction
 * carried nothing since the baseline; `midcall`: it did, then stopped. One
 * event per episode: the direction re-arms when a packet newer than the
 * event arrives, or when the SDP changes (a new media session).
 *
 * A call that ends (BYE) before window_s, with one direction silent since
 * the baseline while the other carried at least short_call_active_s of
 * media, raises at its end, before call_end: the caller who hears nothing
 * and hangs up within seconds (phase `start`, silent_s the call's length).
 *
 * The window counts only from the tap's own last loss (kernel, interface or
 * capture queue drops: call_table_last_capture_loss_us), so packets the tap
 * dropped never make a direction look silent; the event then carries
 * capture_loss like every event of a call the tap lost packets in.
 *
 * Hints, most specific first: nat_private_sdp (a party of the silent
 * direction announced a private SDP address while its signalling comes from a
 * public one — the receiver first, because media sent to a private address
 * behind someone else's NAT is the classic missing external_media_address;
 * then the sender, the silent party itself), sdp_address_mismatch (media of
 * the call came from an address other than its sender's SDP said),
 * no_rtp_from_party (the silent party never sent any RTP in this call).
 * sdp_addr is the SDP endpoint the hint points at: the private one for
 * nat_private_sdp, else the silent party's.
 */
#include "rules/media_silence.h"
#include "rules/rules.h"

#include <stdlib.h>
#include <string.h>

/* window_s: 10 s. What crosses 5 s in ordinary calls: a voice-activity
 * pause of a listener (5.8 s in a public capture, 7.5 s in another), a
 * muted phone's keepalive every 5.0 s, RTCP every 5 s randomised up to
 * 6.2 s (RFC 3550 6.3.1). A G.711 sender without VAD misses 500 packets in
 * 10 s; calls shorter than the window are judged at their end. See
 * docs/detectors-media.md. */
#define PARAMS(X)                                                                                  \
    X(window_s, 10, 1, 3600, "seconds one direction must be silent while the other flows")         \
    X(active_s, 2, 0.1, 60,                                                                        \
      "the other direction counts as flowing if its last packet is at most this old")              \
    X(poll_s, 1, 0.1, 60, "how often (capture time) an answered call's media is looked at")        \
    X(pause_s, 60, 1, 3600,                                                                        \
      "seconds a direction may be silent after comfort noise (RFC 3389) or in a DTX codec's "      \
      "silence")                                                                                   \
    X(short_call_active_s, 1, 0.1, 60,                                                             \
      "a call ending within window_s with one direction silent raises if the other carried this "  \
      "much media")
RULE_PARAM_TABLE(PARAMS);

/* What the SDP said last time we looked: a change starts a new baseline. */
struct owa_call {
    struct media_watch watch; /* first: media_watch_answered makes the state */
    /* Per sending party: when its silence episode was raised, 0 while none
     * is open (an episode raised at capture time 0 is stored as 1 us). */
    uint64_t alert_us[2];
};

/* The party whose SDP the hint is about (see the top comment). */
static int hinted_party(const struct call *c, int silent)
{
    if (media_private_behind_nat(&c->party[1 - silent]))
        return 1 - silent;
    return silent;
}

static const char *hint_for(const struct call *c, int silent,
                            const struct call_media_direction sent[2])
{
    if (media_private_behind_nat(&c->party[hinted_party(c, silent)]))
        return "nat_private_sdp";
    if (sent[silent].sdp_address_mismatch || sent[1 - silent].sdp_address_mismatch)
        return "sdp_address_mismatch";
    if (sent[silent].packets == 0)
        return "no_rtp_from_party";
    return NULL;
}

static void raise_event(const struct rules_context *ctx, const struct call *c, struct owa_call *st,
                        int silent, uint64_t silent_since, uint64_t now,
                        const struct call_media_direction sent[2], bool at_end)
{
    int active = 1 - silent;
    const struct call_media_direction *sm = &sent[silent], *am = &sent[active];
    bool flowed = sm->packets && sm->last_us >= st->watch.session.baseline_us;

    struct event ev;
    rules_event_begin(ctx, &ev, "one_way_audio", SEVERITY_WARNING, now, c);
    struct json_writer *b = &ev.body;
    json_writer_member_string(b, "phase", flowed ? "midcall" : "start");
    struct endpoint sdp_silent = media_sdp_endpoint(c, silent);
    struct endpoint sdp_active = media_sdp_endpoint(c, active);
    /* A direction never seen on the wire is described by where the SDP says
     * it should run. */
    if (sm->packets)
        media_path_member(b, "silent", &sm->src, &sm->dst);
    else
        media_path_member(b, "silent", &sdp_silent, &sdp_active);
    media_path_member(b, "active", &am->src, &am->dst);
    json_writer_member_real(b, "silent_s", (double)((now - silent_since + 500) / 1000) / 1000.0);
    json_writer_member_string_or_null(b, "hint", hint_for(c, silent, sent));
    struct endpoint sdp_hinted = media_sdp_endpoint(c, hinted_party(c, silent));
    endpoint_member(b, "sdp_addr", &sdp_hinted);
    json_writer_member_string(b, "silent_party", silent == CALL_CALLER ? "caller" : "callee");
    json_writer_member_string(b, "direction", call_direction_name(c->direction));
    json_writer_member_bool(b, "at_end", at_end);
    rules_publish(ctx, &ev);
}

/* When the silence of party `silent` began, as far as the tap vouches for
 * it: the later of the baseline, the party's last sign of life and the
 * tap's own last loss (its loss must not read as the party's silence). */
static uint64_t silent_since(const struct rules_context *ctx, const struct owa_call *st,
                             const struct call_media_direction *sm)
{
    uint64_t since = st->watch.session.baseline_us;
    uint64_t alive = media_alive_us(sm, st->watch.session.baseline_us);
    if (alive > since)
        since = alive;
    uint64_t vouched = call_table_last_capture_loss_us(ctx->calls);
    return vouched > since ? vouched : since; /* and silent_s is the silence it vouches for */
}

static void check(const struct rules_context *ctx, struct call *c, struct owa_call *st,
                  uint64_t now)
{
    uint64_t window = rules_seconds_us(RULE_PARAM(ctx, window_s, c->trunk));
    uint64_t pause = rules_seconds_us(RULE_PARAM(ctx, pause_s, c->trunk));
    uint64_t active_us = rules_seconds_us(RULE_PARAM(ctx, active_s, c->trunk));
    uint64_t next = now + rules_seconds_us(RULE_PARAM(ctx, poll_s, c->trunk));

    struct call_media_direction sent[2];
    call_media_of(c, CALL_CALLER, &sent[0]);
    call_media_of(c, CALL_CALLEE, &sent[1]);
    for (int p = 0; p < 2; p++)
        if (st->alert_us[p] && sent[p].packets && sent[p].last_us > st->alert_us[p])
            st->alert_us[p] = 0; /* media resumed: the episode is over */

    if (!media_both_ways_expected(c))
        goto reschedule;
    for (int silent = 0; silent < 2; silent++) {
        if (st->alert_us[silent])
            continue;
        const struct call_media_direction *sm = &sent[silent];
        const struct call_media_direction *am = &sent[1 - silent];
        uint64_t since = silent_since(ctx, st, sm);
        uint64_t due = since + media_silence_allowed_us(sm, window, pause);
        if (due > now) {
            if (due < next)
                next = due;
            continue;
        }
        bool active = am->packets && am->last_us >= st->watch.session.baseline_us &&
                      am->last_us + active_us > now;
        if (!active || !ctx->enabled)
            continue;
        st->alert_us[silent] = now ? now : 1;
        raise_event(ctx, c, st, silent, since, now, sent, false);
    }
reschedule:
    rules_call_timer_at(ctx, c, next);
}

/* A call torn down before its window: the silent direction never carried
 * anything since the baseline (nor reported itself quiet), the other
 * carried at least short_call_active_s of media. */
static void check_short_call(const struct rules_context *ctx, const struct call *c,
                             struct owa_call *st, uint64_t now)
{
    uint64_t window = rules_seconds_us(RULE_PARAM(ctx, window_s, c->trunk));
    uint64_t enough = rules_seconds_us(RULE_PARAM(ctx, short_call_active_s, c->trunk));
    if (!ctx->enabled || !media_both_ways_expected(c))
        return;
    struct call_media_direction sent[2];
    call_media_of(c, CALL_CALLER, &sent[0]);
    call_media_of(c, CALL_CALLEE, &sent[1]);
    for (int silent = 0; silent < 2; silent++) {
        const struct call_media_direction *sm = &sent[silent], *am = &sent[1 - silent];
        if (st->alert_us[silent] || media_alive_us(sm, st->watch.session.baseline_us))
            continue;
        uint64_t since = silent_since(ctx, st, sm);
        if (since + window <= now || !am->packets || am->last_us < st->watch.session.baseline_us)
            continue; /* judged by the timer already, or nothing flowed */
        uint64_t first = am->first_us > st->watch.session.baseline_us
                             ? am->first_us
                             : st->watch.session.baseline_us;
        if (am->last_us - first < enough)
            continue;
        st->alert_us[silent] = now ? now : 1;
        raise_event(ctx, c, st, silent, since, now, sent, true);
    }
}

static void on_timer(const struct rules_context *ctx, struct call *c, void *state, uint64_t now)
{
    check(ctx, c, state, now);
}

static void on_message(void *user, struct call *c, const struct sip_msg *m,
                       const struct sip_meta *meta, bool retransmission)
{
    const struct rules_context *ctx = user;
    struct owa_call *st = (struct owa_call *)media_watch_changed(ctx, c, m, meta, retransmission);
    if (!st)
        return;
    st->alert_us[0] = st->alert_us[1] = 0;
    check(ctx, c, st, meta->ts_us);
}

static void on_ending(void *user, struct call *c, enum call_end_reason reason, struct event *ev,
                      uint64_t now)
{
    (void)ev;
    const struct rules_context *ctx = user;
    struct owa_call *st = rules_call_state(ctx, c);
    if (!st || !st->watch.started)
        return;
    rules_call_timer_cancel(ctx, c);
    /* Only a teardown ends the call; capture_end and eviction are the tap's. */
    if (reason == CALL_END_BYE && c->answer_us)
        check_short_call(ctx, c, st, now);
}

static void *create(struct rules_context *ctx)
{
    struct call_observer o = {.call_answered = media_watch_on_answered,
                              .call_message = on_message,
                              .call_ending = on_ending};
    return rules_observe(ctx, o);
}

const struct detector detector_one_way_audio = {
    .name = "one_way_audio",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
    .create = create,
    .call_state_size = sizeof(struct owa_call),
    .call_timer = on_timer,
};

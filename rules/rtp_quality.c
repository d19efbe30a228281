/*
 * rtp_quality: an RTP stream of a call whose loss, jitter or MOS crosses the
 * rule's thresholds.
 *
 * The figures are the stream's own (rtp/stream.c, Wireshark's definitions,
 * cumulative since the stream's first packet), so the event's `stream`
 * agrees with the `streams` entry of call_end. Nothing happens per packet:
 * a timer on the capture clock looks at every stream of an answered call
 * each check_s, and once more when the call ends (before call_end), for
 * any call with streams (early media of a failed call too). A stream is
 * judged only once it has min_packets packets, so three packets with one
 * lost are not "33 % loss".
 *
 * Crossing means loss_pct > max_loss_pct, rtcp_loss_pct > max_rtcp_loss_pct,
 * jitter_mean_ms > max_jitter_ms, rtcp_jitter_ms > max_rtcp_jitter_ms,
 * mos < min_mos or rtcp_xr_mos_lq < min_mos. rtcp_loss_pct and
 * rtcp_jitter_ms are the far end's own figures: the fraction lost and the
 * interarrival jitter in the last receiver report about the stream, which
 * see loss and jitter past the tap that the tap's own figures cannot.
 * rtcp_xr_mos_lq is the receiving endpoint's own
 * MOS (its last RTCP XR VoIP Metrics block), which sees the last hop and
 * its jitter buffer's discards. One event per stream per episode: `metric` /
 * `value` / `threshold` name the first crossed in that order (loss and
 * jitter are causes, MOS their consequence) and `metrics` lists all of
 * them. When the tap itself lost at least as many packets while the call was
 * up as the stream lost (call_capture_lost), loss_pct and mos are not judged:
 * the network cannot be blamed for the tap's own drops; far-end RTCP figures
 * and jitter still are, and the event carries capture_loss. The
 * stream re-arms once every figure is back within its threshold (a
 * cumulative figure recovers slowly: after a burst, a long clean stretch).
 */
#include "rules/rules.h"
#include "rtp/flow.h"
#include "rtp/rtcp.h"
#include "rtp/stream.h"

_Static_assert(CALL_MAX_FLOWS *RTP_FLOW_MAX_STREAMS <= 32, "alerted is a 32-bit mask");

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PARAMS(X)                                                                                  \
    X(max_loss_pct, 5, 0, 100, "loss above this percentage raises rtp_quality")                    \
    X(max_rtcp_loss_pct, 5, 0, 100,                                                                \
      "loss the far end reports (RTCP, last report) above this percentage raises rtp_quality")     \
    X(max_jitter_ms, 30, 0, 10000, "mean jitter above this raises rtp_quality")                    \
    X(max_rtcp_jitter_ms, 30, 0, 10000,                                                            \
      "jitter the far end reports (RTCP, last report) above this raises rtp_quality")              \
    X(min_mos, 3.5, 1, 4.5,                                                                        \
      "MOS below this (the tap's, or the endpoint's own in RTCP XR) raises rtp_quality (1 = "      \
      "never)")                                                                                    \
    X(min_packets, 100, 1, 1000000, "packets a stream must have before it is judged")              \
    X(check_s, 5, 1, 3600, "how often (capture time) the streams of an answered call are judged")
RULE_PARAM_TABLE(PARAMS);

#define SEC 1000000.0

struct quality_call {
    /* Bit f * RTP_FLOW_MAX_STREAMS + i: stream i of flow f is in an
     * episode. A bitmask rather than a bool table: every answered call has
     * this state. */
    uint32_t alerted;
};

static uint64_t seconds_us(double s)
{
    return (uint64_t)(s * SEC + 0.5);
}

static double rounded(double v, double scale)
{
    return round(v * scale) / scale;
}

struct crossing {
    const char *metric;
    double value, threshold, scale;
};

#define METRICS_MAX 6

/* The thresholds crossed by one stream, in reporting order; returns how many. */
static size_t crossings(const struct rules_context *ctx, const struct call *c,
                        const struct rtp_flow *flow, const struct rtp_stream *s,
                        struct crossing out[METRICS_MAX])
{
    struct rtp_stream_report r;
    rtp_stream_report(s, &r);
    size_t n = 0;
    /* The tap's own loss while the call was up could be all of the stream's:
     * then its loss, and the MOS that loss lowers, blame nobody. */
    if (r.lost > 0 && (uint64_t)r.lost <= call_capture_lost(ctx->calls, c)) {
        r.loss_pct = 0;
        r.mos = 0;
    }
    double max_loss = RULE_PARAM(ctx, max_loss_pct, c->trunk);
    double max_rtcp_loss = RULE_PARAM(ctx, max_rtcp_loss_pct, c->trunk);
    double max_jitter = RULE_PARAM(ctx, max_jitter_ms, c->trunk);
    double min_mos = RULE_PARAM(ctx, min_mos, c->trunk);
    if (r.loss_pct > max_loss)
        out[n++] = (struct crossing){"loss_pct", r.loss_pct, max_loss, 100};
    double rtcp_loss = rtcp_view_fraction_lost_pct(&s->rtcp);
    if (rtcp_view_seen(&s->rtcp) && rtcp_loss > max_rtcp_loss)
        out[n++] = (struct crossing){"rtcp_loss_pct", rtcp_loss, max_rtcp_loss, 100};
    if (r.jitter_mean_ms > max_jitter)
        out[n++] = (struct crossing){"jitter_mean_ms", r.jitter_mean_ms, max_jitter, 1000};
    double max_rtcp_jitter = RULE_PARAM(ctx, max_rtcp_jitter_ms, c->trunk);
    if (rtcp_view_seen(&s->rtcp) && s->rtcp.jitter_ms > max_rtcp_jitter)
        out[n++] = (struct crossing){"rtcp_jitter_ms", s->rtcp.jitter_ms, max_rtcp_jitter, 1000};
    if (r.mos > 0 && r.mos < min_mos)
        out[n++] = (struct crossing){"mos", r.mos, min_mos, 100};
    const struct rtcp_xr_view *xr = rtp_flow_stream_xr(flow, s);
    if (xr && xr->last.mos_lq != RTCP_XR_UNAVAILABLE && xr->last.mos_lq / 10.0 < min_mos)
        out[n++] = (struct crossing){"rtcp_xr_mos_lq", xr->last.mos_lq / 10.0, min_mos, 100};
    return n;
}

static void raise_event(const struct rules_context *ctx, const struct call *c,
                        const struct rtp_flow *flow, const struct rtp_stream *s,
                        const struct crossing *x, size_t n, bool at_end, uint64_t now)
{
    struct event ev;
    rules_event_begin(ctx, &ev, "rtp_quality", SEVERITY_WARNING, now, c);
    struct json_writer *b = &ev.body;
    json_writer_member_key(b, "stream");
    rtp_stream_json(s, &flow->key.src, &flow->key.dst, rtp_flow_stream_xr(flow, s), b);
    json_writer_member_string(b, "metric", x[0].metric);
    json_writer_member_real(b, "value", rounded(x[0].value, x[0].scale));
    json_writer_member_real(b, "threshold", x[0].threshold);
    json_writer_member_key(b, "metrics");
    json_writer_array_begin(b);
    for (size_t i = 0; i < n; i++)
        json_writer_string(b, x[i].metric, strlen(x[i].metric));
    json_writer_array_end(b);
    json_writer_member_string(b, "phase", at_end ? "end" : "midcall");
    json_writer_member_string(b, "direction", call_direction_name(c->direction));
    rules_publish(ctx, &ev);
}

/* alerted may be NULL (a call never answered: judged once, at its end). */
static void judge_call(const struct rules_context *ctx, const struct call *c, uint32_t *alerted,
                       bool at_end, uint64_t now)
{
    double min_packets = RULE_PARAM(ctx, min_packets, c->trunk);
    for (size_t f = 0; f < c->flow_count && f < CALL_MAX_FLOWS; f++) {
        const struct rtp_flow *flow = c->flows[f];
        /* The E-model and these thresholds are for voice: a video stream's
         * frames come in bursts that would read as jitter. */
        if (call_flow_media(c, f) != RTP_MEDIA_AUDIO)
            continue;
        for (size_t i = 0; i < flow->stream_count && i < RTP_FLOW_MAX_STREAMS; i++) {
            const struct rtp_stream *s = rtp_flow_stream_const(flow, i);
            /* Nor are a telephone-event stream's figures voice quality. */
            if ((double)s->packets < min_packets || rtp_stream_is_dtmf(s))
                continue;
            struct crossing x[METRICS_MAX];
            size_t n = crossings(ctx, c, flow, s, x);
            uint32_t bit = UINT32_C(1) << (f * RTP_FLOW_MAX_STREAMS + i);
            if (alerted && (*alerted & bit)) {
                if (n == 0)
                    *alerted &= ~bit; /* back within every threshold */
                continue;
            }
            if (n == 0 || !ctx->enabled)
                continue;
            if (alerted)
                *alerted |= bit;
            raise_event(ctx, c, flow, s, x, n, at_end, now);
        }
    }
}

static void on_timer(const struct rules_context *ctx, struct call *c, void *state, uint64_t now)
{
    struct quality_call *st = state;
    judge_call(ctx, c, &st->alerted, false, now);
    rules_call_timer_at(ctx, c, now + seconds_us(RULE_PARAM(ctx, check_s, c->trunk)));
}

static void on_answered(void *user, struct call *c, uint64_t now)
{
    const struct rules_context *ctx = user;
    if (!rules_call_state_make(ctx, c))
        return;
    rules_call_timer_at(ctx, c, now + seconds_us(RULE_PARAM(ctx, check_s, c->trunk)));
}

static void on_ending(void *user, struct call *c, enum call_end_reason reason, struct event *ev,
                      uint64_t now)
{
    (void)reason;
    (void)ev;
    const struct rules_context *ctx = user;
    struct quality_call *st = rules_call_state(ctx, c);
    rules_call_timer_cancel(ctx, c);
    judge_call(ctx, c, st ? &st->alerted : NULL, true, now);
}

static void *create(struct rules_context *ctx)
{
    struct call_observer o = {.call_answered = on_answered, .call_ending = on_ending};
    return rules_observe(ctx, o);
}

const struct detector detector_rtp_quality = {
    .name = "rtp_quality",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
    .create = create,
    .call_state_size = sizeof(struct quality_call),
    .call_timer = on_timer,
};

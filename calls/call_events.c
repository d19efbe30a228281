/*
 * call_events: the contract's call lifecycle events (call_start,
 * call_answer, call_fail, call_end), written from the call's state.
 *
 * The dialog state machine (calls.c) only says what happened, through the
 * observer hooks every detector gets; this is the first observer, so that a
 * call's own events come before what a detector publishes about it, and its
 * members come first in call_fail and call_end, which the other observers
 * extend (as Suricata keeps its output-json-*.c apart from protocol state).
 * Nothing here changes the call.
 */
#include "calls/calls_internal.h"
#include "core/json_writer.h"
#include "core/timefmt.h"
#include "rtp/flow.h"
#include "rtp/stream.h"

#include <string.h>

void calls_text_flow_streams(struct json_writer *t, const struct rtp_flow *f)
{
    for (size_t s = 0; s < f->stream_count; s++) {
        const struct rtp_stream *stream = rtp_flow_stream_const(f, s);
        rtp_stream_json(stream, &f->key.src, &f->key.dst, rtp_flow_stream_xr(f, stream), t);
    }
}

/* Milliseconds from one instant to another, rounded; null when either is unknown. */
static void member_ms_between(struct json_writer *t, const char *key, uint64_t from, uint64_t to)
{
    if (!from || !to || to < from)
        json_writer_member_null(t, key);
    else
        json_writer_member_integer(t, key, (int64_t)((to - from + 500) / 1000));
}

/* The contract's `streams`, written as the next member of t. */
static void member_streams(struct json_writer *t, const struct call *c)
{
    json_writer_member_key(t, "streams");
    json_writer_array_begin(t);
    for (size_t i = 0; i < c->flow_count; i++)
        calls_text_flow_streams(t, c->flows[i]);
    json_writer_array_end(t);
}

/* An instant of the call as RFC 3339 text, null when it did not happen (0). */
static void member_time(struct json_writer *t, const char *key, uint64_t ts_us)
{
    char buf[TIMEFMT_RFC3339_LEN];
    if (ts_us)
        json_writer_member_string(t, key, timefmt_rfc3339(ts_us, buf, sizeof(buf)));
    else
        json_writer_member_null(t, key);
}

static void member_optional_integer(struct json_writer *t, const char *key, bool known, int value)
{
    if (known)
        json_writer_member_integer(t, key, value);
    else
        json_writer_member_null(t, key);
}

/* call_end's call record: who, the INVITE's path, when each step came, how
 * it ended and the media each party sent, so that no consumer has to join
 * call_start, call_answer and call_end. */
static void member_call_record(struct json_writer *t, const struct call *c)
{
    json_writer_member_wire_string(t, "from", c->party[CALL_CALLER].user);
    json_writer_member_wire_string(t, "to", c->party[CALL_CALLEE].user);
    if (call_request_user(c)[0])
        json_writer_member_wire_string(t, "request_user", call_request_user(c));
    else
        json_writer_member_null(t, "request_user");
    endpoint_member(t, "src", &c->party[CALL_CALLER].signalling);
    endpoint_member(t, "dst", &c->invite_dst);
    member_time(t, "invite_ts", c->invite_us);
    member_time(t, "ringing_ts", c->first_18x_us);
    member_time(t, "answer_ts", c->answer_us);
    member_time(t, "end_ts", c->end_us);
    member_optional_integer(t, "final_status", c->final_status != 0, c->final_status);
    member_optional_integer(t, "q850_cause", c->q850_known, c->q850_cause);
    member_ms_between(t, "setup_ms", c->invite_us, c->answer_us);
    member_ms_between(t, "pdd_ms", c->invite_us, c->first_18x_us);
    if (c->bye_seen)
        json_writer_member_string(t, "bye_from",
                                  c->bye_sender == CALL_CALLER ? "caller" : "callee");
    else
        json_writer_member_null(t, "bye_from");
    calls_text_media_summary(t, c);
}

static void on_started(void *user, struct call *c, const struct sip_msg *m,
                       const struct sip_meta *meta)
{
    struct call_table *t = user;
    struct event ev;
    event_begin(&ev, "call_start", SEVERITY_INFO, meta->ts_us, c->call_id, call_trunk_name(c));
    struct json_writer *b = &ev.body;
    json_writer_member_wire_string(b, "from", c->party[CALL_CALLER].user);
    json_writer_member_wire_string(b, "to", c->party[CALL_CALLEE].user);
    endpoint_member(b, "src", &meta->src);
    endpoint_member(b, "dst", &meta->dst);
    json_writer_member_string(b, "direction", call_direction_name(c->direction));
    if (m->request_user[0])
        json_writer_member_wire_string(b, "request_user", m->request_user);
    if (m->user_agent[0])
        json_writer_member_wire_string(b, "user_agent", m->user_agent);
    call_mark_capture_loss(t, c, b);
    event_publish(t->bus, &ev);
}

static void on_answered(void *user, struct call *c, uint64_t now)
{
    struct call_table *t = user;
    struct event ev;
    event_begin(&ev, "call_answer", SEVERITY_INFO, now, c->call_id, call_trunk_name(c));
    member_ms_between(&ev.body, "setup_ms", c->invite_us, now);
    member_ms_between(&ev.body, "pdd_ms", c->invite_us, c->first_18x_us);
    json_writer_member_string(&ev.body, "direction", call_direction_name(c->direction));
    call_mark_capture_loss(t, c, &ev.body);
    event_publish(t->bus, &ev);
}

/* call_fail's own members; the table began the event, the detectors add theirs. */
static void on_failed(void *user, struct call *c, const char *reason, struct event *ev,
                      uint64_t now)
{
    (void)user;
    (void)now;
    struct json_writer *b = &ev->body;
    json_writer_member_integer(b, "status", c->final_status);
    json_writer_member_wire_string(b, "reason", reason);
    json_writer_member_string(b, "direction", call_direction_name(c->direction));
    json_writer_member_wire_string(b, "from", c->party[CALL_CALLER].user);
    json_writer_member_wire_string(b, "to", c->party[CALL_CALLEE].user);
    if (call_request_user(c)[0])
        json_writer_member_wire_string(b, "request_user", call_request_user(c));
    endpoint_member(b, "src", &c->party[CALL_CALLER].signalling);
    endpoint_member(b, "dst", &c->party[CALL_CALLEE].signalling);
}

/* call_end's own members, the streams as they are now. */
static void on_ending(void *user, struct call *c, enum call_end_reason reason, struct event *ev,
                      uint64_t end)
{
    (void)user;
    struct json_writer *b = &ev->body;
    json_writer_member_string(b, "reason", call_end_reason_name(reason));
    if (c->answer_us && end >= c->answer_us)
        json_writer_member_real(b, "duration_s", (double)(end - c->answer_us) / 1e6);
    else
        json_writer_member_null(b, "duration_s");
    member_streams(b, c);
    json_writer_member_string(b, "direction", call_direction_name(c->direction));
    if (c->final_status)
        json_writer_member_integer(b, "status", c->final_status);
    member_call_record(b, c);
}

bool call_events_observe(struct call_table *t)
{
    struct call_observer o = {.user = t,
                              .call_started = on_started,
                              .call_answered = on_answered,
                              .call_failed = on_failed,
                              .call_ending = on_ending};
    return call_table_add_observer(t, &o);
}

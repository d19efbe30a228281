/*
 * Tests of the call_drop detector: each cause with its exact event, and the
 * near-misses that must stay quiet (a normal 35 s call, a late ACK, a
 * refreshed session timer, a call on hold, the end of the capture).
 */
#include "tests/rules/media_harness.h"

static const struct dialog D = {"drop-1@pbx", "198.51.100.20", "203.0.113.10", "ft", "tt"};

static struct leg a, b;

static void legs(void)
{
    a = caller_leg();
    b = callee_leg();
}

/* Media both ways in [from, to) while the callee retransmits its 2xx the way
 * RFC 3261 13.3.1.4 says (T1, doubling up to T2) until ok_until; returns the
 * number of retransmissions. */
static unsigned talk_retransmitting(uint64_t from, uint64_t to, uint64_t ok_until)
{
    unsigned n = 0;
    uint64_t iv = 500 * MSEC, at = ANSWER + iv, t = from;
    while (at < ok_until && at < to) {
        if (at > t) {
            talk(&a, &b, t, at);
            t = at;
        }
        response(&D, SIP_METHOD_INVITE, 1, 200, &CALLEE_SDP, 0, false, at);
        n++;
        iv = iv * 2 > 4 * SEC ? 4 * SEC : iv * 2;
        at += iv;
    }
    talk(&a, &b, t, to);
    return n;
}

static void assert_drop(json_t *ev, const char *cause, double after, unsigned retransmits,
                        const char *severity)
{
    cr_assert_str_eq(str_field(ev, "cause"), cause);
    cr_assert_float_eq(num_field(ev, "seconds_after_answer"), after, 1e-6);
    cr_assert_eq(json_integer_value(field(ev, "ok_retransmits")), retransmits);
    cr_assert_str_eq(str_field(ev, "severity"), severity);
    cr_assert_str_eq(str_field(ev, "call_id"), "drop-1@pbx");
    cr_assert_str_eq(str_field(ev, "trunk"), "acme");
}

TestSuite(call_drop, .init = harness_setup, .fini = harness_teardown);

Test(call_drop, missing_ack_uas_hangs_up_at_64_t1)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, false);
    unsigned n = talk_retransmitting(MEDIA0, ANSWER + 32 * SEC, ANSWER + 32 * SEC);
    cr_assert_eq(n, 10); /* 0.5 1.5 3.5 7.5 11.5 15.5 19.5 23.5 27.5 31.5 */
    bye(&D, 1, true, ANSWER + 32 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_drop,call_end");
    json_t *ev = event_capture_find(hx->events, "call_drop", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 32 * SEC);
    assert_drop(ev, "missing_ack", 32.0, 10, "error");
    cr_assert(json_is_null(field(ev, "session_expires")));
    cr_assert(json_is_false(field(ev, "ack_seen")));
    cr_assert_str_eq(str_field(ev, "bye_from"), "callee");
    cr_assert_str_eq(str_field(event_capture_find(hx->events, "call_end", 0), "drop_cause"),
                     "missing_ack");
}

Test(call_drop, missing_ack_raised_at_timer_h_when_nobody_hangs_up)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, false);
    unsigned n = talk_retransmitting(MEDIA0, ANSWER + 60 * SEC, ANSWER + 32 * SEC);
    cr_assert_eq(n, 10);
    cr_assert_eq(event_capture_count_type(hx->events, "call_drop"), 1);
    bye(&D, 2, false, ANSWER + 60 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_drop,call_end");
    json_t *ev = event_capture_find(hx->events, "call_drop", 0);
    /* Timer H (32 s) plus the 5 s tolerance a BYE gets to arrive. */
    cr_assert_eq(ts_of(ev), ANSWER + 37 * SEC);
    assert_drop(ev, "missing_ack", 37.0, 10, "error");
    cr_assert(json_is_false(field(ev, "bye_seen")));
    cr_assert_str_eq(str_field(event_capture_find(hx->events, "call_end", 0), "drop_cause"),
                     "missing_ack");
}

Test(call_drop, late_ack_is_not_a_drop)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, false);
    unsigned n = talk_retransmitting(MEDIA0, ANSWER + 2 * SEC, ANSWER + 2 * SEC);
    cr_assert_eq(n, 2);
    request(&D, SIP_METHOD_ACK, 1, "z9hG4bK-ack", true, false, NULL, ANSWER + 2 * SEC);
    talk(&a, &b, ANSWER + 2 * SEC, ANSWER + 35 * SEC);
    bye(&D, 2, false, ANSWER + 35 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
    cr_assert_null(json_object_get(event_capture_find(hx->events, "call_end", 0), "drop_cause"));
}

Test(call_drop, normal_35_second_call_is_not_a_drop)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 1800, true);
    talk(&a, &b, MEDIA0, ANSWER + 35 * SEC);
    bye(&D, 2, true, ANSWER + 35 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
    cr_assert_null(json_object_get(event_capture_find(hx->events, "call_end", 0), "drop_cause"));
}

Test(call_drop, session_timer_not_refreshed_bye_before_expiry)
{
    /* RFC 4028: the side missing the refresh sends BYE at SE - min(32, SE/3). */
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 90, true);
    talk(&a, &b, MEDIA0, ANSWER + 60 * SEC);
    bye(&D, 2, true, ANSWER + 60 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_drop,call_end");
    json_t *ev = event_capture_find(hx->events, "call_drop", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 60 * SEC);
    assert_drop(ev, "session_timer", 60.0, 0, "warning");
    cr_assert_eq(json_integer_value(field(ev, "session_expires")), 90);
    cr_assert_str_eq(str_field(event_capture_find(hx->events, "call_end", 0), "drop_cause"),
                     "session_timer");
}

Test(call_drop, session_timer_not_refreshed_bye_at_expiry)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 120, true);
    talk(&a, &b, MEDIA0, ANSWER + 121 * SEC);
    bye(&D, 2, false, ANSWER + 121 * SEC);
    json_t *ev = event_capture_find(hx->events, "call_drop", 0);
    assert_drop(ev, "session_timer", 121.0, 0, "warning");
    cr_assert_eq(json_integer_value(field(ev, "session_expires")), 120);
}

Test(call_drop, refreshed_session_timer_is_not_a_drop)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 90, true);
    talk(&a, &b, MEDIA0, ANSWER + 45 * SEC);
    request(&D, SIP_METHOD_INVITE, 2, "z9hG4bK-refresh", true, false, &CALLER_SDP,
            ANSWER + 45 * SEC);
    response(&D, SIP_METHOD_INVITE, 2, 200, &CALLEE_SDP, 0, false, ANSWER + 45 * SEC + 20 * MSEC);
    request(&D, SIP_METHOD_ACK, 2, "z9hG4bK-rack", true, false, NULL,
            ANSWER + 45 * SEC + 40 * MSEC);
    talk(&a, &b, ANSWER + 45 * SEC + 50 * MSEC, ANSWER + 60 * SEC);
    bye(&D, 3, true, ANSWER + 60 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(call_drop, media_timeout_then_bye)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    bye(&D, 2, false, ANSWER + 40 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,no_audio,call_drop,call_end");
    json_t *ev = event_capture_find(hx->events, "call_drop", 0);
    assert_drop(ev, "media_timeout", 40.0, 0, "warning");
    cr_assert(json_is_true(field(ev, "ack_seen")));
}

Test(call_drop, media_gap_shorter_than_timeout_is_not_a_drop)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    bye(&D, 2, false, MEDIA0 + 29 * SEC); /* 19 s of silence < 20 s: no drop (no_audio at 10 s) */
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,no_audio,call_end");
}

Test(call_drop, media_stopped_on_hold_is_not_a_drop)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    const struct sdp_spec off_a = {"198.51.100.20", 10000, SDP_INACTIVE};
    const struct sdp_spec off_b = {"203.0.113.10", 20000, SDP_INACTIVE};
    uint64_t re = MEDIA0 + 10 * SEC;
    request(&D, SIP_METHOD_INVITE, 2, "z9hG4bK-re", true, false, &off_a, re);
    response(&D, SIP_METHOD_INVITE, 2, 200, &off_b, 0, false, re + 20 * MSEC);
    bye(&D, 3, false, re + 60 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(call_drop, media_stopped_then_silence_timeout)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    uint64_t last = b.last_us;
    timerq_advance(hx->timers, last + 301 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,no_audio,call_drop,call_end");
    cr_assert_str_eq(str_field(event_capture_find(hx->events, "call_end", 0), "reason"), "timeout");
    json_t *ev = event_capture_find(hx->events, "call_drop", 0);
    cr_assert_eq(ts_of(ev), last + 300 * SEC);
    cr_assert_str_eq(str_field(ev, "cause"), "media_timeout");
}

Test(call_drop, silence_timeout_without_media_is_unknown)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    timerq_advance(hx->timers, ANSWER + 301 * SEC);
    /* No RTP anywhere on this tap: no_audio cannot tell, call_drop can. */
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_drop,call_end");
    json_t *ev = event_capture_find(hx->events, "call_drop", 0);
    /* 300 s after the last SIP message, the ACK. */
    cr_assert_eq(ts_of(ev), ANSWER + 20 * MSEC + 300 * SEC);
    assert_drop(ev, "unknown", 300.02, 0, "warning");
    cr_assert_str_eq(str_field(event_capture_find(hx->events, "call_end", 0), "drop_cause"),
                     "unknown");
}

Test(call_drop, capture_end_is_not_a_drop)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, false);
    talk_retransmitting(MEDIA0, ANSWER + 20 * SEC, ANSWER + 20 * SEC);
    call_table_close_all(hx->table, ANSWER + 20 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
    cr_assert_str_eq(str_field(event_capture_find(hx->events, "call_end", 0), "reason"),
                     "capture_end");
}

Test(call_drop_settings, disabled_raises_nothing, .fini = harness_teardown)
{
    static const char *const s[][3] = {{"rule call_drop", "enabled", "no"}, {NULL}};
    harness_start(s);
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, false);
    talk_retransmitting(MEDIA0, ANSWER + 32 * SEC, ANSWER + 32 * SEC);
    bye(&D, 1, true, ANSWER + 32 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
    cr_assert_null(json_object_get(event_capture_find(hx->events, "call_end", 0), "drop_cause"));
}

Test(call_drop_settings, severity_and_media_timeout_override, .fini = harness_teardown)
{
    static const char *const s[][3] = {
        {"severity", "call_drop", "critical"}, {"rule call_drop", "media_timeout_s", "5"}, {NULL}};
    harness_start(s);
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    bye(&D, 2, false, MEDIA0 + 16 * SEC);
    json_t *ev = event_capture_find(hx->events, "call_drop", 0);
    cr_assert_str_eq(str_field(ev, "cause"), "media_timeout");
    cr_assert_str_eq(str_field(ev, "severity"), "critical");
}

/* ---- end to end: pcapgen captures through siptapd -r ----
 * (missing ACK and the unrefreshed session timer are golden cases:
 * tests/golden/cases/missing_ack, session_timer) */

Test(call_drop_e2e, media_stops_both_ways)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = e2e_call("e2e-drop-media");
    c.caller_rtp_stop_ms = 10000;
    c.callee_rtp_stop_ms = 10000;
    c.talk_ms = 40000;
    pcapgen_call(g, &c);
    json_t *all = e2e_run(g, "drop-media");
    pcapgen_free(g);
    char t[512];
    cr_assert_str_eq(e2e_types(all, CALL_TYPES, t, sizeof(t)),
                     "call_start,call_answer,no_audio,call_drop,call_end");
    json_t *ev = e2e_find(all, "call_drop", 0);
    cr_assert_str_eq(str_field(ev, "cause"), "media_timeout");
    cr_assert_float_eq(num_field(ev, "seconds_after_answer"), 40.0, 1e-6);
    json_decref(all);
}

/*
 * Tests of what a call's events say when the tap itself lost packets while
 * the call was up (call_table_set_capture_lost, fed by the daemon from the
 * capture's kernel, interface and queue drops): capture_loss and
 * capture_lost_packets on the events after the loss, none before it and
 * none on a call that began after it; rtp_quality does not blame the
 * network for loss the tap's own could explain, and one_way_audio counts
 * its silence window only from the tap's last loss.
 */
#include "tests/rules/media_harness.h"

static const struct dialog D = {"cl-1@pbx", "198.51.100.20", "203.0.113.10", "ft", "tt"};
static const struct dialog D2 = {"cl-2@pbx", "198.51.100.20", "203.0.113.10", "ft2", "tt2"};

static struct leg a, b;

static void legs(void)
{
    a = caller_leg();
    b = callee_leg();
}

static bool flagged(json_t *ev)
{
    return json_is_true(json_object_get(ev, "capture_loss"));
}

TestSuite(capture_loss, .init = harness_setup, .fini = harness_teardown);

Test(capture_loss, events_after_the_loss_say_so_with_the_count)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 10 * SEC);
    call_table_set_capture_lost(hx->table, 7, ANSWER + 10 * SEC);
    talk(&a, &b, ANSWER + 10 * SEC, ANSWER + 20 * SEC);
    bye(&D, 2, false, ANSWER + 20 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
    cr_assert_not(flagged(event_capture_find(hx->events, "call_start", 0)));
    cr_assert_null(
        json_object_get(event_capture_find(hx->events, "call_answer", 0), "capture_lost_packets"));
    json_t *end = event_capture_find(hx->events, "call_end", 0);
    cr_assert(flagged(end));
    cr_assert_float_eq(num_field(end, "capture_lost_packets"), 7, 1e-9);
}

Test(capture_loss, a_call_that_began_after_the_loss_is_clean)
{
    legs();
    call_table_set_capture_lost(hx->table, 40, T0 - SEC);
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 10 * SEC);
    bye(&D, 2, false, ANSWER + 10 * SEC);
    json_t *end = event_capture_find(hx->events, "call_end", 0);
    cr_assert_not_null(end);
    cr_assert_null(json_object_get(end, "capture_loss"));
    cr_assert_null(json_object_get(end, "capture_lost_packets"));
}

Test(capture_loss, only_the_losses_during_the_call_count)
{
    legs();
    call_table_set_capture_lost(hx->table, 40, T0 - SEC); /* before either call */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 5 * SEC);
    call_table_set_capture_lost(hx->table, 45, ANSWER + 5 * SEC);
    /* A lower total (a stale figure) changes nothing. */
    call_table_set_capture_lost(hx->table, 44, ANSWER + 6 * SEC);
    talk(&a, &b, ANSWER + 5 * SEC, ANSWER + 10 * SEC);
    bye(&D, 2, false, ANSWER + 10 * SEC);
    json_t *end = event_capture_find(hx->events, "call_end", 0);
    cr_assert(flagged(end));
    cr_assert_float_eq(num_field(end, "capture_lost_packets"), 5, 1e-9);
}

Test(capture_loss, call_fail_after_a_loss_says_so)
{
    request(&D2, SIP_METHOD_INVITE, 1, "z9hG4bK-inv2", false, false, &CALLER_SDP, T0);
    call_table_set_capture_lost(hx->table, 3, T0 + SEC);
    response(&D2, SIP_METHOD_INVITE, 1, 503, NULL, 0, false, T0 + 2 * SEC);
    json_t *fail = event_capture_find(hx->events, "call_fail", 0);
    cr_assert(flagged(fail));
    cr_assert_float_eq(num_field(fail, "capture_lost_packets"), 3, 1e-9);
}

/* b loses 10 % (150 of 1,500 packets over 30 s). */
static void lossy_call_with_tap_loss(uint64_t tap_lost)
{
    legs();
    b.loss_every = 10;
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    call_table_set_capture_lost(hx->table, tap_lost, MEDIA0);
    talk(&a, &b, MEDIA0, ANSWER + 30 * SEC);
    bye(&D, 2, false, ANSWER + 30 * SEC);
}

Test(capture_loss, rtp_quality_does_not_blame_the_network_for_the_taps_loss)
{
    lossy_call_with_tap_loss(150);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
    json_t *end = event_capture_find(hx->events, "call_end", 0);
    cr_assert(flagged(end));
    cr_assert_float_eq(num_field(end, "capture_lost_packets"), 150, 1e-9);
}

/* The tap lost 100: the checks every 5 s see 25, 50, 75 and 100 lost, which
 * its loss could all be, then 125, which it cannot. */
Test(capture_loss, rtp_quality_raises_loss_the_tap_cannot_explain)
{
    lossy_call_with_tap_loss(100);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,call_end");
    json_t *ev = event_capture_find(hx->events, "rtp_quality", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 25 * SEC);
    double lost = num_field(field(ev, "stream"), "lost");
    cr_assert(lost > 100 && lost <= 125, "lost %f", lost);
    cr_assert_str_eq(str_field(ev, "metric"), "loss_pct");
    cr_assert_str_eq(path_field(ev, "stream", "ssrc"), "0x00002222");
    cr_assert(flagged(ev));
    cr_assert_float_eq(num_field(ev, "capture_lost_packets"), 100, 1e-9);
}

Test(capture_loss, rtp_quality_without_tap_loss_is_unchanged)
{
    lossy_call_with_tap_loss(0);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,call_end");
    json_t *ev = event_capture_find(hx->events, "rtp_quality", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 5 * SEC);
    cr_assert_null(json_object_get(ev, "capture_loss"));
}

/* The callee never sends; the tap loses packets 3 s after the answer: the
 * window of silence counts from there, so the event comes 3 s later than
 * without the loss, and says the silence it vouches for. */
Test(capture_loss, one_way_audio_window_counts_from_the_taps_last_loss)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, NULL, MEDIA0, ANSWER + 3 * SEC);
    call_table_set_capture_lost(hx->table, 12, ANSWER + 3 * SEC);
    talk(&a, NULL, ANSWER + 3 * SEC, ANSWER + 30 * SEC);
    bye(&D, 2, false, ANSWER + 30 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 13 * SEC);
    cr_assert_float_eq(num_field(ev, "silent_s"), 10.0, 1e-9);
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert(flagged(ev));
    cr_assert_float_eq(num_field(ev, "capture_lost_packets"), 12, 1e-9);
}

Test(capture_loss, one_way_audio_without_tap_loss_is_unchanged)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, NULL, MEDIA0, ANSWER + 30 * SEC);
    bye(&D, 2, false, ANSWER + 30 * SEC);
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 10 * SEC);
    cr_assert_null(json_object_get(ev, "capture_loss"));
}

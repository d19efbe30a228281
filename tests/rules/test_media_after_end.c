/*
 * Media past a call's end belongs to the call (issue #18 items 1 and 2):
 * RTP in flight when the BYE passes, RTP that goes on until the 200 to the
 * BYE, and the early media of a call that failed are in its call_end's
 * streams, as tshark counts them. call_end waits until the media has been
 * quiet for call_limits.end_media_quiet_ms (2 s), at most end_media_max_s
 * (10 s) after the end, and is stamped with the end itself.
 */
#include <criterion/criterion.h>

#include "media_harness.h"

static const struct dialog D = {"grace-1@pbx", "198.51.100.20", "203.0.113.10", "ft", "tt"};

TestSuite(media_after_end, .init = harness_setup, .fini = harness_teardown);

static json_t *call_end(void)
{
    cr_assert_eq(event_capture_count_type(hx->events, "call_end"), 1, "types: %s",
                 types(CALL_TYPES));
    return event_capture_find(hx->events, "call_end", 0);
}

/* The packets of the stream with this SSRC in call_end, -1 if none. */
static json_int_t stream_packets(json_t *end, uint32_t ssrc)
{
    char want[16];
    snprintf(want, sizeof(want), "0x%08X", ssrc);
    json_t *streams = field(end, "streams");
    for (size_t i = 0; i < json_array_size(streams); i++) {
        json_t *s = json_array_get(streams, i);
        if (strcmp(str_field(s, "ssrc"), want) == 0)
            return json_integer_value(field(s, "packets"));
    }
    return -1;
}

static void bye_only(uint64_t ts)
{
    request(&D, SIP_METHOD_BYE, 2, "z9hG4bK-bye", true, false, NULL, ts);
}

Test(media_after_end, rtp_in_flight_past_the_bye_is_counted)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    uint64_t bye_at = MEDIA0 + 10 * SEC;
    talk(&a, &b, MEDIA0, bye_at);
    bye_only(bye_at);
    /* The callee goes on until it answers the BYE 150 ms later. */
    for (uint64_t t = bye_at; t < bye_at + 150 * MSEC; t += 20 * MSEC)
        rtp_send(&b, t + 10 * MSEC);
    response(&D, SIP_METHOD_BYE, 2, 200, NULL, 0, true, bye_at + 150 * MSEC);
    cr_assert_eq(event_capture_count_type(hx->events, "call_end"), 0,
                 "call_end waits for the media to go quiet");
    settle(b.last_us);
    json_t *end = call_end();
    cr_assert_eq(ts_of(end), bye_at, "call_end is stamped with the BYE");
    cr_assert_eq(stream_packets(end, 0x1111), (json_int_t)a.sent);
    cr_assert_eq(stream_packets(end, 0x2222), (json_int_t)b.sent);
    cr_assert_eq(num_field(end, "duration_s"), (double)(bye_at - ANSWER) / 1e6);
}

Test(media_after_end, media_that_never_stops_ends_the_wait_after_10_s)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    uint64_t bye_at = MEDIA0 + 5 * SEC;
    talk(&a, &b, MEDIA0, bye_at);
    bye_only(bye_at);
    talk(NULL, &b, bye_at, bye_at + 10 * SEC);
    cr_assert_eq(event_capture_count_type(hx->events, "call_end"), 0);
    uint64_t counted = b.sent;
    talk(NULL, &b, bye_at + 10 * SEC, bye_at + 11 * SEC); /* after call_end: absorbed */
    json_t *end = call_end();
    cr_assert_eq(ts_of(end), bye_at);
    cr_assert_eq(stream_packets(end, 0x2222), (json_int_t)counted);
}

/* sngrep's aaa.pcap, frames 620-632: 183 with SDP, 480, then RTP. */
Test(media_after_end, early_media_of_a_failed_call_is_counted)
{
    request(&D, SIP_METHOD_INVITE, 1, "z9hG4bK-inv", false, false, &CALLER_SDP, T0);
    response(&D, SIP_METHOD_INVITE, 1, 183, &CALLEE_SDP, 0, false, T0 + SEC);
    response(&D, SIP_METHOD_INVITE, 1, 480, NULL, 0, false, T0 + 2 * SEC);
    struct leg b = callee_leg();
    for (int i = 0; i < 9; i++)
        rtp_send(&b, T0 + 2 * SEC + 5 * MSEC + (uint64_t)i * 20 * MSEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_fail");
    settle(b.last_us);
    json_t *end = call_end();
    cr_assert_str_eq(str_field(end, "reason"), "failed");
    cr_assert_eq(json_integer_value(field(end, "status")), 480);
    cr_assert_eq(ts_of(end), T0 + 2 * SEC);
    cr_assert_eq(stream_packets(end, 0x2222), 9);
}

/* No SDP, no media to wait for: call_end comes with the failure. */
Test(media_after_end, a_call_without_sdp_ends_at_once)
{
    request(&D, SIP_METHOD_INVITE, 1, "z9hG4bK-inv", false, false, NULL, T0);
    response(&D, SIP_METHOD_INVITE, 1, 404, NULL, 0, false, T0 + SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_fail,call_end");
}

/* The capture ends during the wait: call_end is out, with what came. */
Test(media_after_end, capture_end_publishes_the_waiting_call)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    uint64_t bye_at = MEDIA0 + 2 * SEC;
    talk(&a, &b, MEDIA0, bye_at);
    bye_only(bye_at);
    rtp_send(&b, bye_at + 10 * MSEC);
    call_table_close_all(hx->table, bye_at + 20 * MSEC);
    json_t *end = call_end();
    cr_assert_str_eq(str_field(end, "reason"), "bye");
    cr_assert_eq(stream_packets(end, 0x2222), (json_int_t)b.sent);
}

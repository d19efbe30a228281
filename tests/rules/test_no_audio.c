/*
 * Tests of the no_audio detector: answered calls with no media either way,
 * from the start (private SDPs, RTP dropped) and mid-call, and the
 * near-misses (one way, hold, a short gap, silence both sides announced).
 */
#include "tests/rules/media_harness.h"

static const struct dialog D = {"nva-1@pbx", "198.51.100.20", "203.0.113.10", "ft", "tt"};

TestSuite(no_audio, .init = harness_setup, .fini = harness_teardown);

/* The tap carries other calls' media (calls/ counts it as media.rtp_packets):
 * what is missing from this one is missing from the wire. */
static void tap_sees_media(void)
{
    (*counters_register(hx->counters, "media", "rtp_packets")) += 1000;
}

/* A capture of SIP alone (26 calls of heplify's sip_ipv4_tcp_fragmented,
 * sipnab's sipp-branch-scenario): no RTP anywhere, nothing to judge. */
Test(no_audio, nothing_when_the_tap_sees_no_media_at_all)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    bye(&D, 2, false, ANSWER + 30 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(no_audio, start_both_sdps_private)
{
    const struct sdp_spec caller = {"192.168.1.10", 10000, SDP_SENDRECV};
    const struct sdp_spec callee = {"10.0.0.5", 20000, SDP_SENDRECV};
    tap_sees_media();
    call_setup(&D, &caller, &callee, 0, true);
    bye(&D, 2, false, ANSWER + 30 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,no_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "no_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 10 * SEC);
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert_str_eq(str_field(ev, "call_id"), "nva-1@pbx");
    cr_assert_str_eq(str_field(ev, "trunk"), "acme");
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert_str_eq(str_field(ev, "hint"), "nat_private_sdp");
    cr_assert_str_eq(str_field(ev, "sdp_addr"), "10.0.0.5:20000");
    cr_assert_str_eq(str_field(ev, "caller_sdp"), "192.168.1.10:10000");
    cr_assert_float_eq(num_field(ev, "silent_s"), 10.0, 1e-9);
    cr_assert_float_eq(num_field(ev, "caller_packets"), 0, 1e-9);
}

Test(no_audio, start_rtp_dropped)
{
    tap_sees_media();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    bye(&D, 2, false, ANSWER + 30 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,no_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "no_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 10 * SEC);
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert_str_eq(str_field(ev, "hint"), "no_rtp_from_party");
    cr_assert_str_eq(str_field(ev, "sdp_addr"), "203.0.113.10:20000");
}

Test(no_audio, midcall_both_ways_stop)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, ANSWER + 10 * SEC);
    bye(&D, 2, false, ANSWER + 40 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,no_audio,call_drop,call_end");
    json_t *ev = event_capture_find(hx->events, "no_audio", 0);
    /* From the later of the two last packets (the caller's). */
    cr_assert_gt(a.last_us, b.last_us);
    cr_assert_eq(ts_of(ev), a.last_us + 10 * SEC);
    cr_assert_str_eq(str_field(ev, "phase"), "midcall");
    cr_assert(json_is_null(field(ev, "hint")));
    cr_assert_float_eq(num_field(ev, "silent_s"), 10.0, 1e-9);
    cr_assert_str_eq(str_field(event_capture_find(hx->events, "call_drop", 0), "cause"),
                     "media_timeout");
}

Test(no_audio, stop_resume_stop_gives_two_episodes)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, ANSWER + 5 * SEC);
    talk(&a, &b, ANSWER + 20 * SEC, ANSWER + 25 * SEC);
    bye(&D, 2, false, ANSWER + 40 * SEC);

    cr_assert_str_eq(types("no_audio"), "no_audio,no_audio");
}

Test(no_audio, one_way_is_not_no_audio)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg();
    talk(&a, NULL, MEDIA0, ANSWER + 30 * SEC);
    bye(&D, 2, false, ANSWER + 30 * SEC);

    cr_assert_str_eq(types("no_audio,one_way_audio"), "one_way_audio");
}

Test(no_audio, gap_shorter_than_window_is_nothing)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, ANSWER + 5 * SEC);
    talk(&a, &b, ANSWER + 13 * SEC, ANSWER + 20 * SEC);
    bye(&D, 2, false, ANSWER + 20 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(no_audio, hold_inactive_gives_nothing)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, ANSWER + 5 * SEC);
    const struct sdp_spec hold = {"198.51.100.20", 10000, SDP_INACTIVE};
    const struct sdp_spec held = {"203.0.113.10", 20000, SDP_INACTIVE};
    request(&D, SIP_METHOD_INVITE, 2, "z9hG4bK-hold", true, false, &hold, ANSWER + 5 * SEC);
    response(&D, SIP_METHOD_INVITE, 2, 200, &held, 0, false, ANSWER + 5 * SEC + 20 * MSEC);
    bye(&D, 3, false, ANSWER + 60 * SEC);

    cr_assert_str_eq(types("no_audio,one_way_audio"), "");
}

Test(no_audio, both_parties_in_comfort_noise_is_nothing)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, ANSWER + 5 * SEC);
    rtp_send_pt(&a, ANSWER + 5 * SEC, 13, 1);
    rtp_send_pt(&b, ANSWER + 5 * SEC + 10 * MSEC, 13, 1);
    talk(&a, &b, ANSWER + 35 * SEC, ANSWER + 40 * SEC);
    bye(&D, 2, false, ANSWER + 40 * SEC);

    cr_assert_str_eq(types("no_audio,one_way_audio"), "");
}

Test(no_audio_settings, disabled_raises_nothing, .fini = harness_teardown)
{
    static const char *const s[][3] = {{"rule no_audio", "enabled", "no"}, {NULL, NULL, NULL}};
    harness_start(s);
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    bye(&D, 2, false, ANSWER + 30 * SEC);

    cr_assert_str_eq(types("no_audio"), "");
}

/*
 * Tests of the one_way_audio detector: hand-built calls and RTP through the
 * real call table, asserting the exact events, with the fault and with each
 * near-miss (hold, inactive, short gap, both silent, disabled).
 */
#include "tests/rules/media_harness.h"

static const struct dialog D = {"owa-1@pbx", "198.51.100.20", "203.0.113.10", "ft", "tt"};

TestSuite(one_way_audio, .init = harness_setup, .fini = harness_teardown);

Test(one_way_audio, start_callee_never_sends)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg();
    talk(&a, NULL, MEDIA0, ANSWER + 30 * SEC);
    bye(&D, 2, false, ANSWER + 30 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 5 * SEC);
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert_str_eq(str_field(ev, "call_id"), "owa-1@pbx");
    cr_assert_str_eq(str_field(ev, "trunk"), "acme");
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert_str_eq(str_field(ev, "hint"), "no_rtp_from_party");
    cr_assert_str_eq(str_field(ev, "silent_party"), "callee");
    /* Never seen on the wire: the SDP endpoints, callee to caller. */
    cr_assert_str_eq(path_field(ev, "silent", "src"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "silent", "dst"), "198.51.100.20:10000");
    cr_assert_str_eq(path_field(ev, "active", "src"), "198.51.100.20:10000");
    cr_assert_str_eq(path_field(ev, "active", "dst"), "203.0.113.10:20000");
    cr_assert_float_eq(num_field(ev, "silent_s"), 5.0, 1e-9);
    cr_assert_str_eq(str_field(ev, "sdp_addr"), "203.0.113.10:20000");
}

Test(one_way_audio, start_nat_private_sdp)
{
    /* The caller announces a private address; its signalling is public. */
    const struct sdp_spec nat = {"192.168.1.10", 10000, SDP_SENDRECV};
    call_setup(&D, &nat, &CALLEE_SDP, 0, true);
    struct leg b = leg("203.0.113.10", 20000, "192.168.1.10", 10000, 0x2222);
    talk(NULL, &b, MEDIA0, ANSWER + 20 * SEC);
    bye(&D, 2, false, ANSWER + 20 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 5 * SEC);
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert_str_eq(str_field(ev, "hint"), "nat_private_sdp");
    cr_assert_str_eq(str_field(ev, "silent_party"), "caller");
    cr_assert_str_eq(path_field(ev, "silent", "src"), "192.168.1.10:10000");
    cr_assert_str_eq(path_field(ev, "silent", "dst"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "active", "src"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "active", "dst"), "192.168.1.10:10000");
    cr_assert_str_eq(str_field(ev, "sdp_addr"), "192.168.1.10:10000");
}

Test(one_way_audio, start_sdp_address_mismatch)
{
    /* The callee's media comes from an address its SDP did not name. */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg b = leg("203.0.113.99", 30000, "198.51.100.20", 10000, 0x2222);
    talk(NULL, &b, MEDIA0, ANSWER + 20 * SEC);
    bye(&D, 2, false, ANSWER + 20 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 5 * SEC);
    cr_assert_str_eq(str_field(ev, "hint"), "sdp_address_mismatch");
    cr_assert_str_eq(path_field(ev, "silent", "src"), "198.51.100.20:10000");
    cr_assert_str_eq(path_field(ev, "silent", "dst"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "active", "src"), "203.0.113.99:30000");
    cr_assert_str_eq(path_field(ev, "active", "dst"), "198.51.100.20:10000");
    cr_assert_str_eq(str_field(ev, "sdp_addr"), "198.51.100.20:10000");
}

Test(one_way_audio, midcall_stop_resume_stop_gives_two_episodes)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    uint64_t stop1 = b.last_us;
    talk(&a, NULL, MEDIA0 + 10 * SEC, MEDIA0 + 20 * SEC);
    cr_assert_eq(event_capture_count_type(hx->events, "one_way_audio"), 1);
    talk(&a, &b, MEDIA0 + 20 * SEC, MEDIA0 + 25 * SEC); /* resumes: re-armed */
    uint64_t stop2 = b.last_us;
    talk(&a, NULL, MEDIA0 + 25 * SEC, MEDIA0 + 40 * SEC);
    bye(&D, 2, true, MEDIA0 + 40 * SEC);

    cr_assert_str_eq(types(CALL_TYPES),
                     "call_start,call_answer,one_way_audio,one_way_audio,call_end");
    for (size_t i = 0; i < 2; i++) {
        json_t *ev = event_capture_find(hx->events, "one_way_audio", i);
        cr_assert_eq(ts_of(ev), (i ? stop2 : stop1) + 5 * SEC);
        cr_assert_str_eq(str_field(ev, "phase"), "midcall");
        cr_assert(json_is_null(field(ev, "hint")));
        cr_assert_float_eq(num_field(ev, "silent_s"), 5.0, 1e-9);
        cr_assert_str_eq(path_field(ev, "silent", "src"), "203.0.113.10:20000");
        cr_assert_str_eq(path_field(ev, "silent", "dst"), "198.51.100.20:10000");
        cr_assert_str_eq(path_field(ev, "active", "src"), "198.51.100.20:10000");
        cr_assert_str_eq(str_field(ev, "sdp_addr"), "203.0.113.10:20000");
    }
}

Test(one_way_audio, gap_shorter_than_window_is_nothing)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    talk(&a, NULL, MEDIA0 + 10 * SEC, MEDIA0 + 14 * SEC + 900 * MSEC);
    talk(&a, &b, MEDIA0 + 14 * SEC + 900 * MSEC, MEDIA0 + 30 * SEC);
    bye(&D, 2, false, MEDIA0 + 30 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(one_way_audio, both_directions_silent_is_not_one_way)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, MEDIA0 + 5 * SEC);
    /* Both stop within 10 ms of each other: no direction is "active". */
    timerq_advance(&hx->timers, MEDIA0 + 15 * SEC);
    bye(&D, 2, false, MEDIA0 + 15 * SEC);
    cr_assert_str_eq(types("one_way_audio"), "");
}

Test(one_way_audio, hold_with_sendonly_gives_nothing)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    const struct sdp_spec hold = {"198.51.100.20", 10000, SDP_SENDONLY};
    const struct sdp_spec held = {"203.0.113.10", 20000, SDP_RECVONLY};
    uint64_t re = MEDIA0 + 10 * SEC;
    request(&D, SIP_METHOD_INVITE, 2, "z9hG4bK-re", true, false, &hold, re);
    response(&D, SIP_METHOD_INVITE, 2, 200, &held, 0, false, re + 20 * MSEC);
    request(&D, SIP_METHOD_ACK, 2, "z9hG4bK-reack", true, false, NULL, re + 40 * MSEC);
    /* Music on hold from the caller only, for 30 s. */
    talk(&a, NULL, re + 50 * MSEC, re + 30 * SEC);
    bye(&D, 3, false, re + 30 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(one_way_audio, inactive_gives_nothing_even_if_one_side_keeps_sending)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    const struct sdp_spec off_a = {"198.51.100.20", 10000, SDP_INACTIVE};
    const struct sdp_spec off_b = {"203.0.113.10", 20000, SDP_INACTIVE};
    uint64_t re = MEDIA0 + 10 * SEC;
    request(&D, SIP_METHOD_INVITE, 2, "z9hG4bK-re", true, false, &off_a, re);
    response(&D, SIP_METHOD_INVITE, 2, 200, &off_b, 0, false, re + 20 * MSEC);
    talk(NULL, &b, re + 50 * MSEC, re + 20 * SEC);
    bye(&D, 3, false, re + 20 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(one_way_audio, resume_after_hold_without_callee_media)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, MEDIA0 + 10 * SEC);
    const struct sdp_spec hold = {"198.51.100.20", 10000, SDP_SENDONLY};
    const struct sdp_spec held = {"203.0.113.10", 20000, SDP_RECVONLY};
    uint64_t re = MEDIA0 + 10 * SEC;
    request(&D, SIP_METHOD_INVITE, 2, "z9hG4bK-re", true, false, &hold, re);
    response(&D, SIP_METHOD_INVITE, 2, 200, &held, 0, false, re + 20 * MSEC);
    talk(&a, NULL, re + 50 * MSEC, re + 10 * SEC);
    /* Off hold: both sendrecv again, but the callee never sends. */
    uint64_t un = re + 10 * SEC;
    request(&D, SIP_METHOD_INVITE, 3, "z9hG4bK-un", true, false, &CALLER_SDP, un);
    response(&D, SIP_METHOD_INVITE, 3, 200, &CALLEE_SDP, 0, false, un + 20 * MSEC);
    talk(&a, NULL, un + 50 * MSEC, un + 20 * SEC);
    bye(&D, 4, false, un + 20 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    /* Judged from the answer that took the call off hold. */
    cr_assert_eq(ts_of(ev), un + 20 * MSEC + 5 * SEC);
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert(json_is_null(field(ev, "hint"))); /* the callee did send, before the hold */
    cr_assert_str_eq(path_field(ev, "silent", "src"), "203.0.113.10:20000");
    cr_assert_float_eq(num_field(ev, "silent_s"), 5.0, 1e-9);
}

Test(one_way_audio, sdp_rejected_audio_is_not_judged)
{
    const struct sdp_spec rejected = {"203.0.113.10", 0, SDP_SENDRECV};
    call_setup(&D, &CALLER_SDP, &rejected, 0, true);
    struct leg a = caller_leg();
    talk(&a, NULL, MEDIA0, MEDIA0 + 20 * SEC);
    bye(&D, 2, false, MEDIA0 + 20 * SEC);
    cr_assert_str_eq(types("one_way_audio"), "");
}

static void one_way_call(void)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg();
    talk(&a, NULL, MEDIA0, ANSWER + 30 * SEC);
    bye(&D, 2, false, ANSWER + 30 * SEC);
}

Test(one_way_audio_settings, disabled_raises_nothing, .fini = harness_teardown)
{
    static const char *const s[][3] = {{"rule one_way_audio", "enabled", "no"}, {NULL}};
    harness_start(s);
    one_way_call();
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(one_way_audio_settings, trunk_override_of_window, .fini = harness_teardown)
{
    static const char *const s[][3] = {{"trunk acme", "rule.one_way_audio.window_s", "10"}, {NULL}};
    harness_start(s);
    one_way_call();
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 10 * SEC);
    cr_assert_float_eq(num_field(ev, "silent_s"), 10.0, 1e-9);
    cr_assert_eq(event_capture_count_type(hx->events, "one_way_audio"), 1);
}

Test(one_way_audio_settings, severity_override, .fini = harness_teardown)
{
    static const char *const s[][3] = {{"severity", "one_way_audio", "critical"}, {NULL}};
    harness_start(s);
    one_way_call();
    cr_assert_str_eq(str_field(event_capture_find(hx->events, "one_way_audio", 0), "severity"),
                     "critical");
}

/* ---- end to end: pcapgen captures through siptapd -r ---- */

Test(one_way_audio_e2e, nat_private_sdp_caller_silent)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = e2e_call("e2e-owa-nat");
    c.caller_media = ep("192.168.1.10", 10000);
    c.rtp = PCAPGEN_RTP_CALLEE_ONLY;
    pcapgen_call(g, &c);
    json_t *all = e2e_run(g, "owa-nat");
    pcapgen_free(g);
    char t[512];
    cr_assert_str_eq(e2e_types(all, CALL_TYPES, t, sizeof(t)),
                     "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = e2e_find(all, "one_way_audio", 0);
    cr_assert_str_eq(str_field(ev, "ts"), "2024-01-01T00:00:07.000000Z"); /* answer + 5 s */
    cr_assert_str_eq(str_field(ev, "call_id"), "e2e-owa-nat");
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert_str_eq(str_field(ev, "hint"), "nat_private_sdp");
    cr_assert_str_eq(path_field(ev, "silent", "src"), "192.168.1.10:10000");
    cr_assert_str_eq(path_field(ev, "silent", "dst"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "active", "src"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "active", "dst"), "192.168.1.10:10000");
    cr_assert_str_eq(str_field(ev, "sdp_addr"), "192.168.1.10:10000");
    cr_assert_float_eq(num_field(ev, "silent_s"), 5.0, 1e-9);
    json_decref(all);
}

Test(one_way_audio_e2e, callee_stops_midcall)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = e2e_call("e2e-owa-mid");
    c.callee_rtp_stop_ms = 10000;
    pcapgen_call(g, &c);
    json_t *all = e2e_run(g, "owa-mid");
    pcapgen_free(g);
    char t[512];
    cr_assert_str_eq(e2e_types(all, CALL_TYPES, t, sizeof(t)),
                     "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = e2e_find(all, "one_way_audio", 0);
    cr_assert_str_eq(str_field(ev, "phase"), "midcall");
    cr_assert(json_is_null(field(ev, "hint")));
    cr_assert_str_eq(path_field(ev, "silent", "src"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "silent", "dst"), "198.51.100.20:10000");
    cr_assert_float_eq(num_field(ev, "silent_s"), 5.0, 1e-9);
    /* The callee's last packet: answer + 40 ms + k * 20 ms < answer + 10 s. */
    cr_assert_str_eq(str_field(ev, "ts"), "2024-01-01T00:00:16.980000Z");
    json_decref(all);
}

Test(one_way_audio_e2e, hold_and_normal_calls_are_quiet)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = e2e_call("e2e-owa-hold");
    c.reinvite_ms = 10000;
    c.reinvite_direction = "sendonly";
    pcapgen_call(g, &c);
    struct pcapgen_call_spec n = e2e_call("e2e-owa-normal");
    n.caller = ep("198.51.100.21", 5060);
    n.callee = ep("203.0.113.11", 5060);
    n.start_us = 60 * SEC;
    pcapgen_call(g, &n);
    json_t *all = e2e_run(g, "owa-hold");
    pcapgen_free(g);
    char t[512];
    cr_assert_str_eq(e2e_types(all, CALL_TYPES, t, sizeof(t)),
                     "call_start,call_answer,call_end,call_start,call_answer,call_end");
    json_decref(all);
}

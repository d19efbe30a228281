/*
 * Tests of the one_way_audio detector: hand-built calls and RTP through the
 * real call table, asserting the exact events, with the fault and with each
 * near-miss (hold, inactive, short gap, both silent, disabled).
 */
#include "tests/rules/media_harness.h"
#include "tests/support/daemon_events.h"

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
    cr_assert_eq(ts_of(ev), ANSWER + 10 * SEC);
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
    cr_assert_float_eq(num_field(ev, "silent_s"), 10.0, 1e-9);
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
    cr_assert_eq(ts_of(ev), ANSWER + 10 * SEC);
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
    cr_assert_eq(ts_of(ev), ANSWER + 10 * SEC);
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
    talk(&a, NULL, MEDIA0 + 10 * SEC, MEDIA0 + 25 * SEC);
    cr_assert_eq(event_capture_count_type(hx->events, "one_way_audio"), 1);
    talk(&a, &b, MEDIA0 + 25 * SEC, MEDIA0 + 30 * SEC); /* resumes: re-armed */
    uint64_t stop2 = b.last_us;
    talk(&a, NULL, MEDIA0 + 30 * SEC, MEDIA0 + 50 * SEC);
    bye(&D, 2, true, MEDIA0 + 50 * SEC);

    cr_assert_str_eq(types(CALL_TYPES),
                     "call_start,call_answer,one_way_audio,one_way_audio,call_end");
    for (size_t i = 0; i < 2; i++) {
        json_t *ev = event_capture_find(hx->events, "one_way_audio", i);
        cr_assert_eq(ts_of(ev), (i ? stop2 : stop1) + 10 * SEC);
        cr_assert_str_eq(str_field(ev, "phase"), "midcall");
        cr_assert(json_is_null(field(ev, "hint")));
        cr_assert_float_eq(num_field(ev, "silent_s"), 10.0, 1e-9);
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
    timerq_advance(hx->timers, MEDIA0 + 15 * SEC);
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
    cr_assert_eq(ts_of(ev), un + 20 * MSEC + 10 * SEC);
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert(json_is_null(field(ev, "hint"))); /* the callee did send, before the hold */
    cr_assert_str_eq(path_field(ev, "silent", "src"), "203.0.113.10:20000");
    cr_assert_float_eq(num_field(ev, "silent_s"), 10.0, 1e-9);
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
    static const char *const s[][3] = {{"trunk acme", "rule.one_way_audio.window_s", "20"}, {NULL}};
    harness_start(s);
    one_way_call();
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 20 * SEC);
    cr_assert_float_eq(num_field(ev, "silent_s"), 20.0, 1e-9);
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
    cr_assert_str_eq(str_field(ev, "ts"), "2024-01-01T00:00:12.000000Z"); /* answer + 10 s */
    cr_assert_str_eq(str_field(ev, "call_id"), "e2e-owa-nat");
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert_str_eq(str_field(ev, "hint"), "nat_private_sdp");
    cr_assert_str_eq(path_field(ev, "silent", "src"), "192.168.1.10:10000");
    cr_assert_str_eq(path_field(ev, "silent", "dst"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "active", "src"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "active", "dst"), "192.168.1.10:10000");
    cr_assert_str_eq(str_field(ev, "sdp_addr"), "192.168.1.10:10000");
    cr_assert_float_eq(num_field(ev, "silent_s"), 10.0, 1e-9);
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
    cr_assert_float_eq(num_field(ev, "silent_s"), 10.0, 1e-9);
    /* The callee's last packet: answer + 40 ms + k * 20 ms < answer + 10 s. */
    cr_assert_str_eq(str_field(ev, "ts"), "2024-01-01T00:00:21.980000Z");
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

/* ---- silence suppression is not one-way audio (issue #18, item 7) ---- */

/* The callee talks until `stop`, then is quiet; the caller talks on to `end`. */
static void callee_pauses(struct leg *a, struct leg *b, uint64_t stop, uint64_t end)
{
    talk(a, b, MEDIA0, stop);
    talk(a, NULL, stop, end);
}

Test(one_way_audio, pause_after_comfort_noise_is_not_one_way)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    callee_pauses(&a, &b, ANSWER + 10 * SEC, ANSWER + 10 * SEC);
    rtp_send_pt(&b, ANSWER + 10 * SEC, 13, 1); /* RFC 3389: silence begins */
    callee_pauses(&a, NULL, ANSWER + 10 * SEC, ANSWER + 40 * SEC);
    talk(&a, &b, ANSWER + 40 * SEC, ANSWER + 50 * SEC);
    bye(&D, 2, false, ANSWER + 50 * SEC);

    cr_assert_str_eq(types("one_way_audio,no_audio"), "");
}

Test(one_way_audio, comfort_noise_then_silence_past_pause_s)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, ANSWER + 10 * SEC);
    rtp_send_pt(&b, ANSWER + 10 * SEC, 13, 1);
    talk(&a, NULL, ANSWER + 10 * SEC, ANSWER + 80 * SEC);
    bye(&D, 2, false, ANSWER + 80 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 70 * SEC);
    cr_assert_str_eq(str_field(ev, "phase"), "midcall");
    cr_assert_str_eq(str_field(ev, "silent_party"), "callee");
    cr_assert(json_is_null(field(ev, "hint")));
    cr_assert_float_eq(num_field(ev, "silent_s"), 60.0, 1e-9);
}

Test(one_way_audio, quiet_sender_reports_keep_it_alive)
{
    /* The callee stops sending but its RTCP SRs, every 5 s, count exactly
     * what it sent: alive and quiet on purpose (VAD, mute). */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    uint64_t stop = ANSWER + 10 * SEC;
    talk(&a, &b, MEDIA0, stop);
    for (uint64_t t = stop; t < ANSWER + 40 * SEC; t += 5 * SEC) {
        talk(&a, NULL, t, t + 5 * SEC);
        rtcp_sender_report(&b, (uint32_t)b.sent, t + 5 * SEC);
    }
    bye(&D, 2, false, ANSWER + 40 * SEC);

    cr_assert_str_eq(types("one_way_audio,no_audio"), "");
}

Test(one_way_audio, sender_report_counting_unseen_rtp_is_still_silence)
{
    /* SRs that count RTP the tap never saw: the sender sends, the packets
     * are lost before the tap. That is one-way audio. */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    uint64_t stop = ANSWER + 10 * SEC;
    talk(&a, &b, MEDIA0, stop);
    uint64_t last = b.last_us;
    for (uint64_t t = stop; t < ANSWER + 40 * SEC; t += 5 * SEC) {
        talk(&a, NULL, t, t + 5 * SEC);
        rtcp_sender_report(&b, (uint32_t)(b.sent + (t + 5 * SEC - stop) / (20 * MSEC)),
                           t + 5 * SEC);
    }
    bye(&D, 2, false, ANSWER + 40 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), last + 10 * SEC);
    cr_assert_str_eq(str_field(ev, "phase"), "midcall");
    cr_assert_str_eq(str_field(ev, "silent_party"), "callee");
}

Test(one_way_audio, vad_pause_shorter_than_default_window)
{
    /* A listener's 8 s pause without comfort noise (a 7.5 s one in a
     * public capture): not a fault at the default window. */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    callee_pauses(&a, &b, ANSWER + 10 * SEC, ANSWER + 18 * SEC);
    talk(&a, &b, ANSWER + 18 * SEC, ANSWER + 30 * SEC);
    bye(&D, 2, false, ANSWER + 30 * SEC);

    cr_assert_str_eq(types("one_way_audio,no_audio"), "");
}

Test(one_way_audio, muted_phone_packet_every_5s)
{
    /* Muted: one packet every 5.0 s. */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, ANSWER + 5 * SEC);
    for (uint64_t t = ANSWER + 5 * SEC; t < ANSWER + 40 * SEC; t += 5 * SEC) {
        talk(&a, NULL, t, t + 5 * SEC);
        rtp_send(&b, t + 5 * SEC);
    }
    bye(&D, 2, false, ANSWER + 40 * SEC);

    cr_assert_str_eq(types("one_way_audio,no_audio"), "");
}

Test(one_way_audio, dtx_codec_pause_is_not_one_way)
{
    /* G.729 (Annex B on unless the SDP says annexb=no): the encoder stops
     * in silence, SID frames only when the noise changes. */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    for (uint64_t t = MEDIA0; t < ANSWER + 10 * SEC; t += 20 * MSEC) {
        rtp_send(&a, t);
        rtp_send_pt(&b, t + 10 * MSEC, 18, 20);
    }
    rtp_send_pt(&b, ANSWER + 10 * SEC, 18, 2); /* SID */
    talk(&a, NULL, ANSWER + 10 * SEC, ANSWER + 40 * SEC);
    bye(&D, 2, false, ANSWER + 40 * SEC);

    cr_assert_str_eq(types("one_way_audio,no_audio"), "");
}

/* ---- one-way audio in short calls (issue #18, item 8) ---- */

Test(one_way_audio, short_call_caller_hears_nothing_and_hangs_up)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg();
    talk(&a, NULL, MEDIA0, ANSWER + 4 * SEC);
    bye(&D, 2, false, ANSWER + 4 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,one_way_audio,call_end");
    json_t *ev = event_capture_find(hx->events, "one_way_audio", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 4 * SEC);
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert_str_eq(str_field(ev, "hint"), "no_rtp_from_party");
    cr_assert_str_eq(str_field(ev, "silent_party"), "callee");
    cr_assert_str_eq(path_field(ev, "silent", "src"), "203.0.113.10:20000");
    cr_assert_str_eq(path_field(ev, "active", "src"), "198.51.100.20:10000");
    cr_assert_float_eq(num_field(ev, "silent_s"), 4.0, 1e-9);
    cr_assert(json_is_true(field(ev, "at_end")));
}

Test(one_way_audio, short_call_under_a_second_of_media_is_nothing)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg();
    talk(&a, NULL, MEDIA0, MEDIA0 + 500 * MSEC);
    bye(&D, 2, false, ANSWER + 3 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(one_way_audio, short_call_both_ways_is_nothing)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, ANSWER + 4 * SEC);
    bye(&D, 2, true, ANSWER + 4 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(one_way_audio, short_call_cut_by_capture_end_is_nothing)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg();
    talk(&a, NULL, MEDIA0, ANSWER + 4 * SEC);
    timerq_advance(hx->timers, ANSWER + 4 * SEC);
    call_table_close_all(hx->table, ANSWER + 4 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

/* ---- public captures: the VAD pauses that were false alarms ---- */

/* Runs siptapd -r on a public capture; NULL (test skipped) when absent. */
static json_t *public_events(const char *name)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    const char *siptapd = getenv("SIPTAPD");
    char path[512], cmd[1200];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "", name);
    if (!dir || access(path, R_OK) != 0)
        cr_skip_test("public capture %s is absent: skipping", path);
    if (!siptapd || access(siptapd, X_OK) != 0)
        cr_skip_test("SIPTAPD is not set to the daemon; skipped");
    snprintf(cmd, sizeof(cmd), "'%s' -r '%s' -n public", siptapd, path);
    struct daemon_events run;
    daemon_events_run(&run, cmd);
    cr_assert_eq(run.status, 0, "siptapd failed on %s", path);
    json_t *all = json_array();
    for (size_t i = 0; i < run.count; i++)
        json_array_append(all, run.events[i]);
    daemon_events_free(&run);
    return all;
}

Test(one_way_audio_public, vad_pause_with_sender_reports_rtp_rtcp_sip)
{
    /* 200.57.7.204 pauses 5.84 s (RTP timestamp jumps, sequence goes on)
     * and sends an SR in the pause counting the 158 packets it sent. */
    json_t *all = public_events("heplify__example__pcap__rtp_rtcp_sip_ipv4_udp.pcap");
    char buf[512];
    cr_assert_str_eq(e2e_types(all, "one_way_audio,no_audio,call_answer", buf, sizeof(buf)),
                     "call_answer");
    json_decref(all);
}

Test(one_way_audio_public, vad_pause_b2bua_asterisk)
{
    /* Zoiper sends one packet of silence (marker bit) after the answer and
     * nothing in the 7.5 s until it hangs up: VAD without comfort noise. */
    json_t *all = public_events("sipnab__tests__pcap-samples__b2bua-asterisk.pcapng");
    char buf[512];
    cr_assert_str_eq(e2e_types(all, "one_way_audio,no_audio,call_end", buf, sizeof(buf)),
                     "call_end,call_end");
    json_decref(all);
}

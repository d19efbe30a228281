/*
 * Tests of the rtp_quality detector: loss, jitter and MOS crossings with the
 * exact stream named, once per episode, judged periodically and at the end
 * of the call, and quiet for clean or too-short streams.
 */
#include "tests/rules/media_harness.h"

static const struct dialog D = {"rq-1@pbx", "198.51.100.20", "203.0.113.10", "ft", "tt"};

static struct leg a, b;

static void legs(void)
{
    a = caller_leg();
    b = callee_leg();
}

static json_t *stream_of(json_t *ev)
{
    json_t *s = field(ev, "stream");
    cr_assert(json_is_object(s));
    return s;
}

TestSuite(rtp_quality, .init = harness_setup, .fini = harness_teardown);

Test(rtp_quality, loss_raised_once_for_the_lossy_stream)
{
    legs();
    b.loss_every = 10; /* 10 % */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 30 * SEC);
    bye(&D, 2, false, ANSWER + 30 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,call_end");
    json_t *ev = event_capture_find(hx->events, "rtp_quality", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 5 * SEC); /* the first check */
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert_str_eq(str_field(ev, "trunk"), "acme");
    cr_assert_str_eq(str_field(ev, "phase"), "midcall");
    json_t *s = stream_of(ev);
    cr_assert_str_eq(str_field(s, "src"), "203.0.113.10:20000");
    cr_assert_str_eq(str_field(s, "dst"), "198.51.100.20:10000");
    cr_assert_str_eq(str_field(s, "ssrc"), "0x00002222");
    cr_assert_str_eq(str_field(ev, "metric"), "loss_pct");
    cr_assert_float_eq(num_field(ev, "value"), num_field(s, "loss_pct"), 1e-9);
    cr_assert(num_field(ev, "value") > 9.0 && num_field(ev, "value") < 11.0, "loss %f",
              num_field(ev, "value"));
    cr_assert_float_eq(num_field(ev, "threshold"), 5.0, 1e-9);
    json_t *metrics = field(ev, "metrics");
    cr_assert_str_eq(json_string_value(json_array_get(metrics, 0)), "loss_pct");
}

/* The tap sees every packet, the far end reports losing some (past the
 * tap): raised on the far end's word, re-armed by a clean report, raised
 * again by the next lossy one. */
Test(rtp_quality, far_end_loss_from_rtcp_while_the_tap_sees_none)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 3 * SEC);
    rtcp_report(&a, 26, ANSWER + 3 * SEC); /* 26/256: 10.16 % */
    talk(&a, &b, ANSWER + 3 * SEC, ANSWER + 8 * SEC);
    rtcp_report(&a, 0, ANSWER + 8 * SEC);
    talk(&a, &b, ANSWER + 8 * SEC, ANSWER + 12 * SEC);
    rtcp_report(&a, 64, ANSWER + 12 * SEC); /* 25 % */
    talk(&a, &b, ANSWER + 12 * SEC, ANSWER + 20 * SEC);
    bye(&D, 2, false, ANSWER + 20 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,rtp_quality,call_end");
    const double want[] = {10.16, 25.0};
    const uint64_t at[] = {ANSWER + 5 * SEC, ANSWER + 15 * SEC};
    for (size_t i = 0; i < 2; i++) {
        json_t *ev = event_capture_find(hx->events, "rtp_quality", i);
        cr_assert_eq(ts_of(ev), at[i]);
        json_t *s = stream_of(ev);
        cr_assert_str_eq(str_field(s, "src"), "198.51.100.20:10000");
        cr_assert_float_eq(num_field(s, "loss_pct"), 0.0, 1e-9, "the tap lost nothing");
        cr_assert_str_eq(str_field(ev, "metric"), "rtcp_loss_pct");
        cr_assert_float_eq(num_field(ev, "value"), want[i], 1e-9);
        cr_assert_float_eq(num_field(ev, "threshold"), 5.0, 1e-9);
        cr_assert_float_eq(num_field(field(s, "rtcp"), "fraction_lost_pct"), want[i], 1e-9);
        json_t *metrics = field(ev, "metrics");
        cr_assert_eq(json_array_size(metrics), 1);
        cr_assert_str_eq(json_string_value(json_array_get(metrics, 0)), "rtcp_loss_pct");
    }
}

/* The tap sees a steady stream, the far end reports jitter (past the tap):
 * raised on its word as rtcp_jitter_ms, in ms at the stream's 8 kHz clock;
 * a calm report after it raises nothing. */
Test(rtp_quality, far_end_jitter_from_rtcp_while_the_tap_sees_none)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 3 * SEC);
    rtcp_report_jitter(&a, 0, 400, ANSWER + 3 * SEC); /* 400 / 8 kHz: 50 ms */
    talk(&a, &b, ANSWER + 3 * SEC, ANSWER + 8 * SEC);
    rtcp_report_jitter(&a, 0, 80, ANSWER + 8 * SEC); /* 10 ms */
    talk(&a, &b, ANSWER + 8 * SEC, ANSWER + 20 * SEC);
    bye(&D, 2, false, ANSWER + 20 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,call_end");
    json_t *ev = event_capture_find(hx->events, "rtp_quality", 0);
    cr_assert_eq(ts_of(ev), ANSWER + 5 * SEC);
    json_t *s = stream_of(ev);
    cr_assert_str_eq(str_field(s, "src"), "198.51.100.20:10000");
    cr_assert(num_field(s, "jitter_mean_ms") < 1.0, "the tap's own jitter is low");
    cr_assert_str_eq(str_field(ev, "metric"), "rtcp_jitter_ms");
    cr_assert_float_eq(num_field(ev, "value"), 50.0, 1e-9);
    cr_assert_float_eq(num_field(ev, "threshold"), 30.0, 1e-9);
    cr_assert_float_eq(num_field(field(s, "rtcp"), "jitter_ms"), 50.0, 1e-9);
    json_t *metrics = field(ev, "metrics");
    cr_assert_eq(json_array_size(metrics), 1);
    cr_assert_str_eq(json_string_value(json_array_get(metrics, 0)), "rtcp_jitter_ms");
}

/* The tap sees a clean stream, the receiving phone reports (RTCP XR) a poor
 * MOS of its own: raised on the phone's word, named rtcp_xr_mos_lq, the
 * stream's rtcp_xr beside it; re-armed by a good report, which a figure the
 * phone marks unavailable leaves so; raised again by the next poor one. */
Test(rtp_quality, endpoint_reports_poor_mos_in_rtcp_xr)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 3 * SEC);
    rtcp_xr_report(&a, 31, ANSWER + 3 * SEC); /* MOS-LQ 3.1 */
    talk(&a, &b, ANSWER + 3 * SEC, ANSWER + 8 * SEC);
    rtcp_xr_report(&a, 42, ANSWER + 8 * SEC);
    talk(&a, &b, ANSWER + 8 * SEC, ANSWER + 12 * SEC);
    rtcp_xr_report(&a, RTCP_XR_UNAVAILABLE, ANSWER + 12 * SEC);
    talk(&a, &b, ANSWER + 12 * SEC, ANSWER + 16 * SEC);
    rtcp_xr_report(&a, 28, ANSWER + 16 * SEC); /* MOS-LQ 2.8 */
    talk(&a, &b, ANSWER + 16 * SEC, ANSWER + 22 * SEC);
    bye(&D, 2, false, ANSWER + 22 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,rtp_quality,call_end");
    const double want[] = {3.1, 2.8};
    const uint64_t at[] = {ANSWER + 5 * SEC, ANSWER + 20 * SEC};
    for (size_t i = 0; i < 2; i++) {
        json_t *ev = event_capture_find(hx->events, "rtp_quality", i);
        cr_assert_eq(ts_of(ev), at[i]);
        json_t *s = stream_of(ev);
        cr_assert_str_eq(str_field(s, "src"), "198.51.100.20:10000");
        cr_assert(num_field(s, "mos") > 4.0, "the tap's own MOS is good: %f", num_field(s, "mos"));
        cr_assert_str_eq(str_field(ev, "metric"), "rtcp_xr_mos_lq");
        cr_assert_float_eq(num_field(ev, "value"), want[i], 1e-9);
        cr_assert_float_eq(num_field(ev, "threshold"), 3.5, 1e-9);
        cr_assert_float_eq(num_field(field(s, "rtcp_xr"), "mos_lq"), want[i], 1e-9);
        json_t *metrics = field(ev, "metrics");
        cr_assert_eq(json_array_size(metrics), 1);
        cr_assert_str_eq(json_string_value(json_array_get(metrics, 0)), "rtcp_xr_mos_lq");
    }
}

Test(rtp_quality, clean_call_is_quiet)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 30 * SEC);
    bye(&D, 2, false, ANSWER + 30 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(rtp_quality, short_lossy_call_judged_at_the_end)
{
    legs();
    b.loss_every = 5; /* 20 %: 120 of 150 packets arrive */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, MEDIA0 + 3 * SEC);
    bye(&D, 2, false, MEDIA0 + 3 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,call_end");
    json_t *ev = event_capture_find(hx->events, "rtp_quality", 0);
    cr_assert_eq(ts_of(ev), MEDIA0 + 3 * SEC);
    cr_assert_str_eq(str_field(ev, "phase"), "end");
    cr_assert_str_eq(str_field(ev, "metric"), "loss_pct");
    cr_assert_str_eq(str_field(stream_of(ev), "src"), "203.0.113.10:20000");
}

Test(rtp_quality, too_few_packets_are_not_judged)
{
    legs();
    b.loss_every = 2; /* 50 %, but only 25 packets */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, MEDIA0 + SEC);
    bye(&D, 2, false, MEDIA0 + SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

Test(rtp_quality, episode_rearms_when_the_stream_recovers)
{
    legs();
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    b.loss_every = 2;
    talk(&a, &b, MEDIA0, MEDIA0 + 5 * SEC);
    b.loss_every = 0;
    talk(&a, &b, MEDIA0 + 5 * SEC, MEDIA0 + 70 * SEC);
    cr_assert_eq(event_capture_count_type(hx->events, "rtp_quality"), 1);
    b.loss_every = 2;
    talk(&a, &b, MEDIA0 + 70 * SEC, MEDIA0 + 80 * SEC);
    bye(&D, 2, false, MEDIA0 + 80 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,rtp_quality,call_end");
    for (size_t i = 0; i < 2; i++) {
        json_t *ev = event_capture_find(hx->events, "rtp_quality", i);
        cr_assert_str_eq(str_field(stream_of(ev), "ssrc"), "0x00002222");
        cr_assert_str_eq(str_field(ev, "metric"), "loss_pct");
    }
}

Test(rtp_quality_settings, jitter_threshold, .fini = harness_teardown)
{
    static const char *const s[][3] = {{"rule rtp_quality", "max_jitter_ms", "5"}, {NULL}};
    harness_start(s);
    legs();
    a.odd_delay_us = 9 * MSEC; /* every other packet 9 ms late: jitter ~9 ms */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 20 * SEC);
    bye(&D, 2, false, ANSWER + 20 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,call_end");
    json_t *ev = event_capture_find(hx->events, "rtp_quality", 0);
    cr_assert_str_eq(str_field(ev, "metric"), "jitter_mean_ms");
    cr_assert_float_eq(num_field(ev, "threshold"), 5.0, 1e-9);
    json_t *st = stream_of(ev);
    cr_assert_str_eq(str_field(st, "src"), "198.51.100.20:10000");
    cr_assert_float_eq(num_field(ev, "value"), num_field(st, "jitter_mean_ms"), 1e-9);
    cr_assert(num_field(ev, "value") > 5.0 && num_field(ev, "value") < 10.0, "jitter %f",
              num_field(ev, "value"));
    cr_assert_eq(json_array_size(field(ev, "metrics")), 1);
}

/* The far end's word on its own threshold: 100 % is never crossed (an
 * 8-bit fraction tops out at 99.6 %), 20 % only by the worse report. */
Test(rtp_quality_settings, far_end_loss_threshold, .fini = harness_teardown)
{
    static const char *const never[][3] = {{"rule rtp_quality", "max_rtcp_loss_pct", "100"},
                                           {NULL}};
    static const char *const twenty[][3] = {{"rule rtp_quality", "max_rtcp_loss_pct", "20"},
                                            {NULL}};
    const char *const(*settings[])[3] = {never, twenty};
    const char *want[] = {"call_start,call_answer,call_end",
                          "call_start,call_answer,rtp_quality,call_end"};
    for (size_t k = 0; k < 2; k++) {
        harness_start(settings[k]);
        legs();
        call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
        talk(&a, &b, MEDIA0, ANSWER + 3 * SEC);
        rtcp_report(&a, 26, ANSWER + 3 * SEC);
        talk(&a, &b, ANSWER + 3 * SEC, ANSWER + 8 * SEC);
        rtcp_report(&a, 255, ANSWER + 8 * SEC);
        talk(&a, &b, ANSWER + 8 * SEC, ANSWER + 12 * SEC);
        bye(&D, 2, false, ANSWER + 12 * SEC);
        cr_assert_str_eq(types(CALL_TYPES), want[k], "max_rtcp_loss_pct %s", settings[k][0][2]);
        if (k == 1)
            cr_assert_float_eq(num_field(event_capture_find(hx->events, "rtp_quality", 0), "value"),
                               99.61, 1e-9);
        harness_teardown();
    }
}

Test(rtp_quality_settings, mos_threshold_alone, .fini = harness_teardown)
{
    static const char *const s[][3] = {{"rule rtp_quality", "min_mos", "4.2"}, {NULL}};
    harness_start(s);
    legs();
    b.loss_every = 33; /* 3 %: under the loss threshold, but it costs MOS */
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 20 * SEC);
    bye(&D, 2, false, ANSWER + 20 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,rtp_quality,call_end");
    json_t *ev = event_capture_find(hx->events, "rtp_quality", 0);
    cr_assert_str_eq(str_field(ev, "metric"), "mos");
    cr_assert_eq(json_array_size(field(ev, "metrics")), 1);
    cr_assert(num_field(ev, "value") < 4.2);
    cr_assert_float_eq(num_field(ev, "value"), num_field(stream_of(ev), "mos"), 1e-9);
    cr_assert_str_eq(str_field(stream_of(ev), "src"), "203.0.113.10:20000");
}

Test(rtp_quality_settings, disabled_raises_nothing, .fini = harness_teardown)
{
    static const char *const s[][3] = {{"rule rtp_quality", "enabled", "no"}, {NULL}};
    harness_start(s);
    legs();
    b.loss_every = 5;
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    talk(&a, &b, MEDIA0, ANSWER + 20 * SEC);
    bye(&D, 2, false, ANSWER + 20 * SEC);
    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
}

/* ---- end to end: pcapgen captures through siptapd -r ---- */

Test(rtp_quality_e2e, loss_on_both_streams)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = e2e_call("e2e-rq-loss");
    c.loss_every = 10;
    pcapgen_call(g, &c);
    json_t *all = e2e_run(g, "rq-loss");
    pcapgen_free(g);
    char t[512];
    cr_assert_str_eq(e2e_types(all, CALL_TYPES, t, sizeof(t)),
                     "call_start,call_answer,rtp_quality,rtp_quality,call_end");
    const char *srcs[2];
    for (size_t i = 0; i < 2; i++) {
        json_t *ev = e2e_find(all, "rtp_quality", i);
        cr_assert_str_eq(str_field(ev, "ts"), "2024-01-01T00:00:07.000000Z");
        cr_assert_str_eq(str_field(ev, "metric"), "loss_pct");
        cr_assert_float_eq(num_field(ev, "value"), 10.0, 0.5);
        srcs[i] = str_field(stream_of(ev), "src");
    }
    cr_assert_str_eq(srcs[0], "198.51.100.20:10000");
    cr_assert_str_eq(srcs[1], "203.0.113.10:20000");
    json_decref(all);
}

Test(rtp_quality_e2e, clean_call_is_quiet)
{
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = e2e_call("e2e-rq-clean");
    pcapgen_call(g, &c);
    json_t *all = e2e_run(g, "rq-clean");
    pcapgen_free(g);
    char t[512];
    cr_assert_str_eq(e2e_types(all, CALL_TYPES, t, sizeof(t)), "call_start,call_answer,call_end");
    json_decref(all);
}

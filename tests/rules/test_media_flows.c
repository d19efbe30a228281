/*
 * Strays must not hide the real media (issue #18 item 5): a call keeps at
 * most CALL_MAX_FLOWS (8) flows. Eight stray packets to the SDP port from
 * other addresses (port reuse, NAT rebinding, RTP scanners) before the real
 * media used to take every slot, leaving both real directions unmeasured
 * and a false one_way_audio. The parties' own media (from their SDP or
 * signalling address) replaces one-packet strays; what is refused is
 * counted (media.flows_per_call_full), and so is what is replaced
 * (media.flows_replaced).
 */
#include <criterion/criterion.h>

#include "media_harness.h"

static const struct dialog D = {"strays-1@pbx", "198.51.100.20", "203.0.113.10", "ft", "tt"};

TestSuite(media_flows, .init = harness_setup, .fini = harness_teardown);

/* One RTP packet to the caller's SDP port from a scanner's port. */
static void stray(unsigned i, uint64_t ts)
{
    struct leg l = leg("192.0.2.66", (uint16_t)(40000 + i), "198.51.100.20", 10000, 0x5000 + i);
    rtp_send(&l, ts);
}

static json_int_t packets_of(json_t *end, const char *ssrc)
{
    json_t *streams = field(end, "streams");
    for (size_t i = 0; i < json_array_size(streams); i++) {
        json_t *s = json_array_get(streams, i);
        if (!strcmp(str_field(s, "ssrc"), ssrc))
            return json_integer_value(field(s, "packets"));
    }
    return -1;
}

Test(media_flows, eight_strays_first_do_not_hide_the_real_media)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    for (unsigned i = 0; i < 8; i++)
        stray(i, ANSWER + 5 * MSEC + i * MSEC);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, MEDIA0 + 20 * SEC);
    stray(8, MEDIA0 + 20 * SEC); /* the ninth takes a one-packet stray's slot */
    bye(&D, 2, false, MEDIA0 + 20 * SEC);

    cr_assert_str_eq(types(CALL_TYPES), "call_start,call_answer,call_end");
    json_t *end = event_capture_find(hx->events, "call_end", 0);
    cr_assert_eq(packets_of(end, "0x00001111"), (json_int_t)a.sent);
    cr_assert_eq(packets_of(end, "0x00002222"), (json_int_t)b.sent);
    cr_assert_eq(json_array_size(field(end, "streams")), 8, "6 strays and the 2 real flows");
    cr_assert_eq(counters_get(&hx->counters, "media.flows_replaced"), 3);
    cr_assert_eq(counters_get(&hx->counters, "media.flows_per_call_full"), 0);
}

/* A stray that keeps sending holds its slot against another stray. */
Test(media_flows, a_stray_does_not_replace_a_flow)
{
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true);
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, MEDIA0 + SEC);
    for (unsigned i = 0; i < 6; i++) {
        stray(i, MEDIA0 + SEC + i * MSEC);
        stray(i, MEDIA0 + SEC + 100 * MSEC + i * MSEC); /* two packets each */
    }
    stray(7, MEDIA0 + 2 * SEC);
    bye(&D, 2, false, MEDIA0 + 2 * SEC);
    json_t *end = event_capture_find(hx->events, "call_end", 0);
    cr_assert_eq(packets_of(end, "0x00001111"), (json_int_t)a.sent);
    cr_assert_eq(packets_of(end, "0x00002222"), (json_int_t)b.sent);
    cr_assert_eq(packets_of(end, "0x00005007"), -1);
    cr_assert_eq(counters_get(&hx->counters, "media.flows_replaced"), 0);
    cr_assert_eq(counters_get(&hx->counters, "media.flows_per_call_full"), 1);
}

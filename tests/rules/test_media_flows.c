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
    cr_assert_eq(counters_get(hx->counters, "media.flows_replaced"), 3);
    cr_assert_eq(counters_get(hx->counters, "media.flows_per_call_full"), 0);
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
    cr_assert_eq(counters_get(hx->counters, "media.flows_replaced"), 0);
    cr_assert_eq(counters_get(hx->counters, "media.flows_per_call_full"), 1);
}

/* One stream, two dialogs (issue #18 item 3; sipnab's b2bua-asterisk
 * capture): a PBX on both legs with direct media. Leg A, phone 1 to the
 * PBX, answered with phone 2's media address; leg B, the PBX to phone 2,
 * offered with phone 1's. Both legs' SDPs name the same two endpoints:
 * the media between them is each leg's, whole. */
static const struct dialog LEG_A = {"leg-a@phone1", "198.51.100.20", "192.0.2.10", "fa", "ta"};
static const struct dialog LEG_B = {"leg-b@pbx", "192.0.2.10", "203.0.113.10", "fb", "tb"};
static const struct sdp_spec PHONE1 = {"198.51.100.20", 10000, SDP_SENDRECV};
static const struct sdp_spec PHONE2 = {"203.0.113.10", 20000, SDP_SENDRECV};

static void two_legs(uint64_t phone2_early_packets, struct leg *b)
{
    request(&LEG_A, SIP_METHOD_INVITE, 1, "z9hG4bK-a", false, false, &PHONE1, T0);
    request(&LEG_B, SIP_METHOD_INVITE, 1, "z9hG4bK-b", false, false, &PHONE1, T0 + 10 * MSEC);
    response(&LEG_B, SIP_METHOD_INVITE, 1, 180, NULL, 0, false, T0 + SEC);
    response(&LEG_B, SIP_METHOD_INVITE, 1, 200, &PHONE2, 0, false, ANSWER - 200 * MSEC);
    /* Phone 2 talks at once, before leg A is answered. */
    for (uint64_t i = 0; i < phone2_early_packets; i++)
        rtp_send(b, ANSWER - 150 * MSEC + i * 20 * MSEC);
    response(&LEG_A, SIP_METHOD_INVITE, 1, 200, &PHONE2, 0, false, ANSWER);
    request(&LEG_B, SIP_METHOD_ACK, 1, "z9hG4bK-b-ack", true, false, NULL, ANSWER + 5 * MSEC);
    request(&LEG_A, SIP_METHOD_ACK, 1, "z9hG4bK-a-ack", true, false, NULL, ANSWER + 10 * MSEC);
}

static void assert_both_legs_have_both_streams(const struct leg *a, const struct leg *b)
{
    cr_assert_eq(event_capture_count_type(hx->events, "call_end"), 2, "types: %s",
                 types(CALL_TYPES));
    cr_assert_eq(event_capture_count_type(hx->events, "one_way_audio"), 0, "types: %s",
                 types(CALL_TYPES));
    for (size_t i = 0; i < 2; i++) {
        json_t *end = event_capture_find(hx->events, "call_end", i);
        cr_assert_eq(json_array_size(field(end, "streams")), 2, "%s", str_field(end, "call_id"));
        cr_assert_eq(packets_of(end, "0x00001111"), (json_int_t)a->sent);
        cr_assert_eq(packets_of(end, "0x00002222"), (json_int_t)b->sent);
    }
}

Test(media_flows, direct_media_of_a_b2bua_is_each_legs)
{
    struct leg a = caller_leg(), b = callee_leg();
    two_legs(0, &b);
    talk(&a, &b, MEDIA0, MEDIA0 + 20 * SEC);
    bye(&LEG_A, 2, false, MEDIA0 + 20 * SEC);
    bye(&LEG_B, 2, false, MEDIA0 + 20 * SEC + 10 * MSEC);
    assert_both_legs_have_both_streams(&a, &b);
    cr_assert_eq(counters_get(hx->counters, "media.flows_shared"), 2);
}

/* Phone 2's media starts before leg A names it: leg A takes the flow when
 * its answer binds the second endpoint, with what it had counted. */
Test(media_flows, a_leg_answered_after_the_media_began_takes_it)
{
    struct leg a = caller_leg(), b = callee_leg();
    two_legs(5, &b);
    talk(&a, &b, MEDIA0, MEDIA0 + 20 * SEC);
    bye(&LEG_B, 2, false, MEDIA0 + 20 * SEC);
    bye(&LEG_A, 2, false, MEDIA0 + 20 * SEC + 10 * MSEC);
    assert_both_legs_have_both_streams(&a, &b);
}

/* A port reused by a newer call does not give the older one its media
 * (it binds one end only). */
Test(media_flows, a_reused_port_is_the_newer_calls)
{
    const struct dialog old = {"old@pbx", "198.51.100.20", "203.0.113.99", "fo", "to"};
    const struct sdp_spec old_far = {"203.0.113.99", 30000, SDP_SENDRECV};
    request(&old, SIP_METHOD_INVITE, 1, "z9hG4bK-o", false, false, &PHONE1, T0 - 60 * SEC);
    response(&old, SIP_METHOD_INVITE, 1, 200, &old_far, 0, false, T0 - 59 * SEC);
    request(&old, SIP_METHOD_ACK, 1, "z9hG4bK-o-ack", true, false, NULL, T0 - 59 * SEC);
    call_setup(&D, &CALLER_SDP, &CALLEE_SDP, 0, true); /* phone 1's port again */
    struct leg a = caller_leg(), b = callee_leg();
    talk(&a, &b, MEDIA0, MEDIA0 + 2 * SEC);
    bye(&D, 2, false, MEDIA0 + 2 * SEC);
    json_t *end = event_capture_find(hx->events, "call_end", 0);
    cr_assert_str_eq(str_field(end, "call_id"), "strays-1@pbx");
    cr_assert_eq(packets_of(end, "0x00002222"), (json_int_t)b.sent);
    cr_assert_eq(counters_get(hx->counters, "media.flows_shared"), 0);
}

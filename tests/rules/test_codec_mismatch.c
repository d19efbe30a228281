/*
 * Tests of rules/codec_mismatch.c: 488/606 to initial and re-INVITEs, answers
 * sharing no codec with the offer, audio rejected with port 0, late offers,
 * and the near misses that must stay quiet.
 */
#include "tests/rules/signalling_fixture.h"

TestSuite(codec_mismatch, .init = setup, .fini = teardown);

static const char *const OFFER[] = {"PCMU", "PCMA", "telephone-event"};
static const char *const G729_ONLY[] = {"G729", "telephone-event"};
static const char *const PCMA_ONLY[] = {"PCMA", "telephone-event"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void offer_invite(const char *id, uint32_t cseq, const char *branch, bool in_dialog,
                         const char *const *codecs, size_t n, uint64_t ts)
{
    struct sip_msg m = msg_new(id, SIP_METHOD_INVITE, cseq);
    msg_request(&m, branch);
    if (in_dialog)
        snprintf(m.to_tag, sizeof(m.to_tag), "tt");
    if (codecs)
        msg_sdp(&m, 4000, codecs, n);
    feed_at(&m, PBX_IP, ACME_IP, ts);
}

static void answer(const char *id, uint32_t cseq, int status, uint16_t port,
                   const char *const *codecs, size_t n, uint64_t ts)
{
    struct sip_msg m = msg_new(id, SIP_METHOD_INVITE, cseq);
    msg_response(&m, status, "tt");
    if (codecs)
        msg_sdp(&m, port, codecs, n);
    feed_at(&m, ACME_IP, PBX_IP, ts);
}

static void ack(const char *id, uint32_t cseq, const char *const *codecs, size_t n, uint64_t ts)
{
    struct sip_msg m = msg_new(id, SIP_METHOD_ACK, cseq);
    msg_request(&m, "back");
    snprintf(m.to_tag, sizeof(m.to_tag), "tt");
    if (codecs)
        msg_sdp(&m, 4000, codecs, n);
    feed_at(&m, PBX_IP, ACME_IP, ts);
}

static void assert_list(json_t *arr, const char *const *names, size_t n)
{
    cr_assert(json_is_array(arr));
    cr_assert_eq(json_array_size(arr), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(json_string_value(json_array_get(arr, i)), names[i]);
}

static json_t *only_mismatch(void)
{
    cr_assert_eq(event_capture_count_type(fx.events, "codec_mismatch"), 1, "types: %s",
                 event_capture_types(fx.events));
    return event_capture_find(fx.events, "codec_mismatch", 0);
}

Test(codec_mismatch, status_488_to_initial_invite)
{
    offer_invite("c488", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("c488", 1, 488, 0, NULL, 0, T0 + 20000);
    json_t *ev = only_mismatch();
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert_str_eq(str_field(ev, "call_id"), "c488");
    cr_assert_str_eq(str_field(ev, "trunk"), "acme");
    assert_list(field(ev, "offered"), OFFER, N(OFFER));
    cr_assert(json_is_null(field(ev, "answered")));
    cr_assert_eq(json_integer_value(field(ev, "status")), 488);
    cr_assert_str_eq(str_field(ev, "cause"), "status");
    /* calls/ reports the failure itself; the detector sees the response
     * after; call_end waits for any early media the offer could bring. */
    cr_assert_str_eq(event_capture_types(fx.events), "call_start,call_fail,codec_mismatch");
    timerq_advance(fx.timers, T0 + 20000 + 2 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events),
                     "call_start,call_fail,codec_mismatch,call_end");
}

Test(codec_mismatch, status_606_with_sdp_lists_the_answer)
{
    offer_invite("c606", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("c606", 1, 606, 0, G729_ONLY, N(G729_ONLY), T0 + 20000);
    answer("c606", 1, 606, 0, G729_ONLY, N(G729_ONLY), T0 + 520000); /* retransmitted */
    json_t *ev = only_mismatch();
    cr_assert_eq(json_integer_value(field(ev, "status")), 606);
    assert_list(field(ev, "answered"), G729_ONLY, N(G729_ONLY));
}

/* heplify's FAX-Call capture: the gateway re-INVITEs to T.38 (m=image
 * udptl t38 alone, and audio with image) and the far end answers 488. */
Test(codec_mismatch, t38_offer_refused_lists_t38)
{
    offer_invite("cfax", 1, "b1", false, PCMA_ONLY, N(PCMA_ONLY), T0);
    answer("cfax", 1, 200, 5000, PCMA_ONLY, N(PCMA_ONLY), T0 + SEC);
    ack("cfax", 1, NULL, 0, T0 + SEC + 1000);
    struct sip_msg m = msg_new("cfax", SIP_METHOD_INVITE, 2);
    msg_request(&m, "b2");
    snprintf(m.to_tag, sizeof(m.to_tag), "tt");
    m.has_sdp = true;
    struct sdp_media *image = &m.sdp.media[m.sdp.media_count++];
    image->type = SDP_MEDIA_IMAGE;
    net_addr_parse(&image->addr, "198.51.100.99");
    image->port = 4002;
    snprintf(image->proto, sizeof(image->proto), "udptl");
    image->formats[0].payload_type = SDP_PAYLOAD_TYPE_NONE;
    snprintf(image->formats[0].name, sizeof(image->formats[0].name), "t38");
    image->format_count = 1;
    feed_at(&m, PBX_IP, ACME_IP, T0 + 10 * SEC);
    answer("cfax", 2, 488, 0, NULL, 0, T0 + 10 * SEC + 1000);
    json_t *ev = only_mismatch();
    static const char *const T38[] = {"t38"};
    assert_list(field(ev, "offered"), T38, N(T38));
    cr_assert(json_is_null(field(ev, "answered")));
    cr_assert_str_eq(str_field(ev, "cause"), "status");
}

Test(codec_mismatch, status_488_to_reinvite_keeps_the_call)
{
    offer_invite("cre", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("cre", 1, 200, 5000, PCMA_ONLY, N(PCMA_ONLY), T0 + SEC);
    ack("cre", 1, NULL, 0, T0 + SEC + 1000);
    offer_invite("cre", 2, "b2", true, G729_ONLY, N(G729_ONLY), T0 + 10 * SEC);
    answer("cre", 2, 488, 0, NULL, 0, T0 + 10 * SEC + 1000);
    json_t *ev = only_mismatch();
    assert_list(field(ev, "offered"), G729_ONLY, N(G729_ONLY));
    cr_assert_eq(json_integer_value(field(ev, "status")), 488);
    cr_assert_eq(event_capture_count_type(fx.events, "call_fail"), 0);
    cr_assert_eq(event_capture_count_type(fx.events, "call_end"), 0);
}

Test(codec_mismatch, answer_without_a_common_codec)
{
    offer_invite("cnc", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("cnc", 1, 183, 5000, G729_ONLY, N(G729_ONLY), T0 + SEC);
    answer("cnc", 1, 200, 5000, G729_ONLY, N(G729_ONLY), T0 + 2 * SEC);
    json_t *ev = only_mismatch();
    cr_assert_eq(json_integer_value(field(ev, "status")), 183, "raised at the first answer");
    cr_assert_str_eq(str_field(ev, "cause"), "no_common_codec");
    assert_list(field(ev, "offered"), OFFER, N(OFFER));
    assert_list(field(ev, "answered"), G729_ONLY, N(G729_ONLY));
}

Test(codec_mismatch, audio_rejected_with_port_zero)
{
    offer_invite("cp0", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("cp0", 1, 200, 0, PCMA_ONLY, N(PCMA_ONLY), T0 + SEC);
    json_t *ev = only_mismatch();
    cr_assert_eq(json_integer_value(field(ev, "status")), 200);
    cr_assert_str_eq(str_field(ev, "cause"), "audio_rejected");
}

Test(codec_mismatch, common_codec_is_quiet)
{
    offer_invite("cok", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("cok", 1, 183, 5000, PCMA_ONLY, N(PCMA_ONLY), T0 + SEC);
    answer("cok", 1, 200, 5000, PCMA_ONLY, N(PCMA_ONLY), T0 + 2 * SEC);
    ack("cok", 1, NULL, 0, T0 + 2 * SEC + 1000);
    cr_assert_eq(event_capture_count_type(fx.events, "codec_mismatch"), 0);
}

Test(codec_mismatch, only_telephone_event_in_common_is_a_mismatch)
{
    static const char *const G722_DTMF[] = {"G722", "telephone-event"};
    offer_invite("cte", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("cte", 1, 200, 5000, G722_DTMF, N(G722_DTMF), T0 + SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "codec_mismatch"), 1);
}

Test(codec_mismatch, codec_names_compare_without_case)
{
    static const char *const LOWER[] = {"pcmu"};
    offer_invite("ccase", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("ccase", 1, 200, 5000, LOWER, N(LOWER), T0 + SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "codec_mismatch"), 0);
}

Test(codec_mismatch, late_offer_answered_in_ack)
{
    static const char *const G722[] = {"G722"};
    offer_invite("clate", 1, "b1", false, NULL, 0, T0);
    answer("clate", 1, 200, 5000, OFFER, N(OFFER), T0 + SEC);
    ack("clate", 1, G722, N(G722), T0 + SEC + 1000);
    json_t *ev = only_mismatch();
    assert_list(field(ev, "offered"), OFFER, N(OFFER));
    assert_list(field(ev, "answered"), G722, N(G722));
}

Test(codec_mismatch, late_offer_with_matching_ack_is_quiet)
{
    static const char *const PCMU[] = {"PCMU"};
    offer_invite("clate2", 1, "b1", false, NULL, 0, T0);
    answer("clate2", 1, 200, 5000, OFFER, N(OFFER), T0 + SEC);
    ack("clate2", 1, PCMU, N(PCMU), T0 + SEC + 1000);
    cr_assert_eq(event_capture_count_type(fx.events, "codec_mismatch"), 0);
}

Test(codec_mismatch, other_failures_are_not_codec_problems)
{
    offer_invite("c503", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("c503", 1, 503, 0, NULL, 0, T0 + SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "codec_mismatch"), 0);
}

static void no_answers_setup(void)
{
    fixture_init();
    fixture_setting("rule codec_mismatch", "check_answers", "0");
    fixture_start();
}

Test(codec_mismatch_configured, check_answers_off_keeps_status_checks, .init = no_answers_setup,
     .fini = teardown)
{
    offer_invite("cx1", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("cx1", 1, 200, 5000, G729_ONLY, N(G729_ONLY), T0 + SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "codec_mismatch"), 0);
    offer_invite("cx2", 1, "b1", false, OFFER, N(OFFER), T0 + 2 * SEC);
    answer("cx2", 1, 488, 0, NULL, 0, T0 + 3 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "codec_mismatch"), 1);
}

static void disabled_setup(void)
{
    fixture_init();
    fixture_setting("rule codec_mismatch", "enabled", "no");
    fixture_start();
}

Test(codec_mismatch_configured, disabled_raises_nothing, .init = disabled_setup, .fini = teardown)
{
    offer_invite("cd", 1, "b1", false, OFFER, N(OFFER), T0);
    answer("cd", 1, 488, 0, NULL, 0, T0 + 20000);
    cr_assert_eq(event_capture_count_type(fx.events, "codec_mismatch"), 0);
}

/* ---- end-to-end on a public capture with a known truth ---- */

/* sipnab's sip-488-codec-reject: Linphone offers PCMU only, is challenged
 * (401), offers again with credentials and gets 488. Three OPTIONS
 * keepalives before it are all answered. */
Test(codec_mismatch_e2e, sipnab_488)
{
    char path[1024];
    if (!e2e_public_pcap("sipnab__tests__pcap-samples__sip-488-codec-reject.pcapng", path,
                         sizeof(path)))
        return;
    struct e2e_run run;
    e2e_run_daemon(&run, path, NULL);
    cr_assert_eq(e2e_count(&run, "codec_mismatch"), 1);
    json_t *ev = e2e_find(&run, "codec_mismatch", 0);
    cr_assert_str_eq(str_field(ev, "call_id"), "NA4y5nr9Jk");
    cr_assert_eq(json_integer_value(field(ev, "status")), 488);
    static const char *const PCMU[] = {"PCMU"};
    assert_list(field(ev, "offered"), PCMU, 1);
    cr_assert(json_is_null(field(ev, "answered")));
    cr_assert_str_eq(str_field(ev, "cause"), "status");
    cr_assert_eq(e2e_count(&run, "trunk_down"), 0, "every OPTIONS was answered");
    cr_assert_eq(e2e_count(&run, "call_fail"), 1);
    e2e_free(&run);
}

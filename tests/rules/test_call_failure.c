/*
 * Tests of rules/call_failure.c: the hint added to call_fail, for inbound
 * (trunk -> PBX) and outbound (PBX -> trunk) calls and their near misses.
 */
#include "tests/rules/signalling_fixture.h"

TestSuite(call_failure, .init = setup, .fini = teardown);

static json_t *only_fail(void)
{
    cr_assert_eq(event_capture_count_type(fx.events, "call_fail"), 1, "types: %s",
                 event_capture_types(fx.events));
    return event_capture_find(fx.events, "call_fail", 0);
}

static void assert_fail(int status, const char *direction, const char *trunk, const char *hint)
{
    json_t *ev = only_fail();
    cr_assert_eq(json_integer_value(field(ev, "status")), status);
    cr_assert_str_eq(str_field(ev, "direction"), direction);
    if (trunk)
        cr_assert_str_eq(str_field(ev, "trunk"), trunk);
    else
        cr_assert(json_is_null(field(ev, "trunk")));
    json_t *h = json_object_get(ev, "hint");
    cr_assert_not_null(h, "call_fail always carries a hint (null when none)");
    if (hint)
        cr_assert_str_eq(json_string_value(h), hint, "hint %s", json_string_value(h));
    else
        cr_assert(json_is_null(h), "unexpected hint %s", json_string_value(h));
}

/* An INVITE answered at once with `status` by its recipient. */
static void answered_with(const char *id, const char *src, const char *dst, int status)
{
    invite(id, 1, "b1", src, dst, T0);
    invite_response(id, 1, 100, dst, src, T0 + 10000);
    invite_response(id, 1, status, dst, src, T0 + 50000);
}

Test(call_failure, inbound_404_is_no_route_for_did)
{
    answered_with("in-404", ACME_IP, PBX_IP, 404);
    assert_fail(404, "inbound", "acme", "no_route_for_did");
}

Test(call_failure, inbound_484_is_no_route_for_did)
{
    answered_with("in-484", ACME_IP, PBX_IP, 484);
    assert_fail(484, "inbound", "acme", "no_route_for_did");
}

Test(call_failure, inbound_no_response_at_all_is_no_answer_from_pbx)
{
    invite("in-408", 1, "b1", ACME_IP, PBX_IP, T0);
    invite("in-408", 1, "b1", ACME_IP, PBX_IP, T0 + SEC / 2); /* retransmission */
    timerq_advance(fx.timers, T0 + 31 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "call_fail"), 0);
    timerq_advance(fx.timers, T0 + 33 * SEC);
    assert_fail(408, "inbound", "acme", "no_answer_from_pbx");
}

Test(call_failure, inbound_trying_only_is_no_answer_from_pbx)
{
    invite("in-100", 1, "b1", ACME_IP, PBX_IP, T0);
    invite_response("in-100", 1, 100, PBX_IP, ACME_IP, T0 + 10000);
    timerq_advance(fx.timers, T0 + 200 * SEC);
    assert_fail(408, "inbound", "acme", "no_answer_from_pbx");
}

Test(call_failure, inbound_ringing_then_timeout_is_not_the_pbx_silent)
{
    invite("in-180", 1, "b1", ACME_IP, PBX_IP, T0);
    invite_response("in-180", 1, 180, PBX_IP, ACME_IP, T0 + SEC);
    timerq_advance(fx.timers, T0 + 200 * SEC);
    assert_fail(408, "inbound", "acme", NULL);
}

Test(call_failure, inbound_503_is_pbx_unavailable)
{
    answered_with("in-503", ACME_IP, PBX_IP, 503);
    assert_fail(503, "inbound", "acme", "pbx_unavailable");
}

Test(call_failure, inbound_busy_has_no_hint)
{
    answered_with("in-486", ACME_IP, PBX_IP, 486);
    assert_fail(486, "inbound", "acme", NULL);
}

Test(call_failure, outbound_404_does_not_get_the_inbound_hint)
{
    answered_with("out-404", PBX_IP, ACME_IP, 404);
    assert_fail(404, "outbound", "acme", NULL);
}

Test(call_failure, outbound_403_is_trunk_rejected_auth)
{
    answered_with("out-403", PBX_IP, BETA_IP, 403);
    assert_fail(403, "outbound", "beta", "trunk_rejected_auth");
}

Test(call_failure, outbound_503_is_trunk_unavailable)
{
    answered_with("out-503", PBX_IP, ACME_IP, 503);
    assert_fail(503, "outbound", "acme", "trunk_unavailable");
}

Test(call_failure, outbound_timeout_is_no_answer_from_trunk)
{
    invite("out-408", 1, "b1", PBX_IP, ACME_IP, T0);
    timerq_advance(fx.timers, T0 + 40 * SEC);
    assert_fail(408, "outbound", "acme", "no_answer_from_trunk");
}

Test(call_failure, outbound_unanswered_challenge)
{
    invite("out-407", 1, "b1", PBX_IP, ACME_IP, T0);
    invite_response("out-407", 1, 407, ACME_IP, PBX_IP, T0 + 10000);
    timerq_advance(fx.timers, T0 + 91 * SEC); /* challenge_wait_s: 90 */
    assert_fail(407, "outbound", "acme", "trunk_auth_unanswered");
}

Test(call_failure, answered_challenge_then_403)
{
    invite("out-407-403", 1, "b1", PBX_IP, ACME_IP, T0);
    invite_response("out-407-403", 1, 407, ACME_IP, PBX_IP, T0 + 10000);
    invite("out-407-403", 2, "b2", PBX_IP, ACME_IP, T0 + 20000);
    invite_response("out-407-403", 2, 403, ACME_IP, PBX_IP, T0 + 30000);
    assert_fail(403, "outbound", "acme", "trunk_rejected_auth");
}

/* The PBX's user types the password: the retry with credentials comes 32.5 s
 * after the 407 (challenge_wait_s is 90), and the 403 to it is the call's
 * answer, not the challenge. */
Test(call_failure, late_retry_with_credentials_then_403)
{
    invite("out-407-late", 1, "b1", PBX_IP, ACME_IP, T0);
    invite_response("out-407-late", 1, 407, ACME_IP, PBX_IP, T0 + 10000);
    timerq_advance(fx.timers, T0 + 32 * SEC + SEC / 2);
    invite("out-407-late", 2, "b2", PBX_IP, ACME_IP, T0 + 32 * SEC + SEC / 2);
    invite_response("out-407-late", 2, 403, ACME_IP, PBX_IP, T0 + 33 * SEC);
    assert_fail(403, "outbound", "acme", "trunk_rejected_auth");
}

Test(call_failure, call_without_trunk_has_no_hint)
{
    answered_with("local-404", PHONE_IP, PBX_IP, 404);
    assert_fail(404, "unknown", NULL, NULL);
}

static void disabled_setup(void)
{
    fixture_init();
    fixture_setting("rule call_failure", "enabled", "no");
    fixture_start();
}

Test(call_failure_configured, disabled_adds_nothing, .init = disabled_setup, .fini = teardown)
{
    answered_with("in-404-off", ACME_IP, PBX_IP, 404);
    json_t *ev = only_fail();
    cr_assert_null(json_object_get(ev, "hint"));
}

static void per_trunk_off_setup(void)
{
    fixture_init();
    fixture_setting("trunk beta", "rule.call_failure.hints", "0");
    fixture_start();
}

Test(call_failure_configured, per_trunk_override_turns_hints_off, .init = per_trunk_off_setup,
     .fini = teardown)
{
    answered_with("beta-404", BETA_IP, PBX_IP, 404);
    cr_assert_null(json_object_get(only_fail(), "hint"));
}

/* ---- end-to-end on public captures with a known truth ---- */

/* sngrep's aaa.pcap: two INVITEs from the softphone at 192.168.1.2 are
 * challenged (407) and retried with credentials 32.5 s (frames 321-349) and
 * 51.2 s (frames 548-582) later, while its user typed a password; both
 * retries are answered "403 Wrong password or domain". No trunk is
 * configured, so the direction is unknown and there is no hint. */
static void assert_public_fail(const struct e2e_run *run, size_t nth, const char *call_id,
                               int status, const char *reason)
{
    json_t *ev = e2e_find(run, "call_fail", nth);
    cr_assert_not_null(ev);
    cr_assert_str_eq(str_field(ev, "call_id"), call_id);
    cr_assert_eq(json_integer_value(field(ev, "status")), status, "%s: status %lld", call_id,
                 (long long)json_integer_value(field(ev, "status")));
    cr_assert_str_eq(str_field(ev, "reason"), reason);
    cr_assert_str_eq(str_field(ev, "direction"), "unknown");
    cr_assert(json_is_null(field(ev, "hint")));
}

Test(call_failure_e2e, sngrep_aaa_late_digest_retry_keeps_the_403)
{
    char path[1024];
    if (!e2e_public_pcap("sngrep__tests__aaa.pcap", path, sizeof(path)))
        return;
    struct e2e_run run;
    e2e_run_daemon(&run, path, NULL);
    cr_assert_eq(e2e_count(&run, "call_start"), 4);
    cr_assert_eq(e2e_count(&run, "call_fail"), 4);
    assert_public_fail(&run, 0, "105090259-446faf7a@192.168.1.2", 408, "Request Timeout");
    assert_public_fail(&run, 1, "85216695-42dcdb1d@192.168.1.2", 403, "Wrong password or domain");
    assert_public_fail(&run, 2, "24487391-449bf2a0@192.168.1.2", 403, "Wrong password or domain");
    assert_public_fail(&run, 3, "11894297-4432a9f8@192.168.1.2", 480, "Error");
    e2e_free(&run);
}

/* [limits] challenge_wait_s shorter than the user's typing: both calls fail
 * with their challenge, and the retries are late messages. */
Test(call_failure_e2e, sngrep_aaa_short_challenge_wait)
{
    char path[1024], conf[64];
    if (!e2e_public_pcap("sngrep__tests__aaa.pcap", path, sizeof(path)))
        return;
    e2e_config("[limits]\nchallenge_wait_s = 30\n", conf, sizeof(conf));
    struct e2e_run run;
    e2e_run_daemon(&run, path, conf);
    unlink(conf);
    cr_assert_eq(e2e_count(&run, "call_fail"), 4);
    assert_public_fail(&run, 1, "85216695-42dcdb1d@192.168.1.2", 407, "authentication required");
    assert_public_fail(&run, 2, "24487391-449bf2a0@192.168.1.2", 407, "authentication required");
    e2e_free(&run);
}

/*
 * Tests of rules/trunk_health.c: trunk_down after consecutive INVITE
 * failures, unanswered OPTIONS and lost registrations, trunk_up on recovery,
 * peers without a configured trunk, trunk_failover, per-trunk overrides, and
 * the caps on its tables.
 */
#include "tests/rules/signalling_fixture.h"

TestSuite(trunk_health, .init = setup, .fini = teardown);

/* An outbound call (PBX -> dst) that ends with `status` (0: no response at
 * all, left to timer B). */
static void call_to(const char *dst, const char *id, int status, uint64_t ts)
{
    invite(id, 1, "b1", PBX_IP, dst, ts);
    if (status)
        invite_response(id, 1, status, dst, PBX_IP, ts + 20000);
    else
        timerq_advance(fx.timers, ts + 33 * SEC);
}

static void failing_calls(const char *dst, int status, int n, uint64_t t0)
{
    for (int i = 0; i < n; i++) {
        char id[48];
        snprintf(id, sizeof(id), "f-%d-%d-%llu", status, i, (unsigned long long)t0);
        call_to(dst, id, status, t0 + (uint64_t)i * 40 * SEC);
    }
}

static json_t *health(const char *type, size_t n)
{
    json_t *ev = event_capture_find(fx.events, type, n);
    cr_assert_not_null(ev, "no %s #%zu in %s", type, n, event_capture_types(fx.events));
    return ev;
}

static void assert_down(json_t *ev, const char *trunk, const char *reason, long failures)
{
    cr_assert_str_eq(str_field(ev, "severity"), "error");
    if (trunk)
        cr_assert_str_eq(str_field(ev, "trunk"), trunk);
    else
        cr_assert(json_is_null(field(ev, "trunk")));
    cr_assert_str_eq(str_field(ev, "reason"), reason);
    cr_assert_eq(json_integer_value(field(ev, "failures")), failures);
}

Test(trunk_health, five_503s_take_the_trunk_down)
{
    failing_calls(ACME_IP, 503, 4, T0);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_down"), 0);
    failing_calls(ACME_IP, 503, 1, T0 + 1000 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_down"), 1);
    assert_down(health("trunk_down", 0), "acme", "503", 5);
    /* Down once: more failures do not raise it again. */
    failing_calls(ACME_IP, 503, 3, T0 + 2000 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_down"), 1);
}

Test(trunk_health, invite_timeouts)
{
    failing_calls(ACME_IP, 0, 5, T0);
    assert_down(health("trunk_down", 0), "acme", "invite_timeout", 5);
}

Test(trunk_health, mixed_failures_are_consecutive_failures)
{
    call_to(ACME_IP, "m1", 503, T0);
    call_to(ACME_IP, "m2", 500, T0 + SEC);
    call_to(ACME_IP, "m3", 0, T0 + 2 * SEC);
    call_to(ACME_IP, "m4", 408, T0 + 40 * SEC);
    call_to(ACME_IP, "m5", 502, T0 + 41 * SEC);
    assert_down(health("trunk_down", 0), "acme", "consecutive_failures", 5);
}

Test(trunk_health, recovers_with_an_answered_call)
{
    failing_calls(ACME_IP, 503, 5, T0);
    call_to(ACME_IP, "ok-1", 200, T0 + 1000 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events) + strlen(event_capture_types(fx.events)) -
                         strlen("trunk_down,call_fail,call_end,call_start,call_answer,trunk_up"),
                     "trunk_down,call_fail,call_end,call_start,call_answer,trunk_up");
    json_t *up = health("trunk_up", 0);
    cr_assert_str_eq(str_field(up, "severity"), "notice");
    cr_assert_str_eq(str_field(up, "trunk"), "acme");
    cr_assert_str_eq(str_field(up, "reason"), "invite_answered");
    cr_assert_eq(json_integer_value(field(up, "failures")), 5);
    /* Re-armed: five more failures take it down again. */
    failing_calls(ACME_IP, 503, 5, T0 + 2000 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_down"), 2);
}

Test(trunk_health, a_non_failure_answer_breaks_the_run)
{
    failing_calls(ACME_IP, 503, 4, T0);
    call_to(ACME_IP, "nf-404", 404, T0 + 500 * SEC);
    failing_calls(ACME_IP, 503, 4, T0 + 1000 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_down"), 0);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_up"), 0);
}

Test(trunk_health, an_answered_call_on_a_healthy_trunk_is_quiet)
{
    call_to(ACME_IP, "ok-only", 200, T0);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_up"), 0);
}

Test(trunk_health, inbound_failures_are_not_the_trunks)
{
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof(id), "in-%d", i);
        invite(id, 1, "b1", ACME_IP, PBX_IP, T0 + (uint64_t)i * SEC);
        invite_response(id, 1, 503, PBX_IP, ACME_IP, T0 + (uint64_t)i * SEC + 1000);
    }
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_down"), 0);
}

Test(trunk_health, peer_address_without_a_trunk)
{
    failing_calls("198.51.100.40", 503, 5, T0);
    json_t *ev = health("trunk_down", 0);
    assert_down(ev, NULL, "503", 5);
    cr_assert_str_eq(str_field(ev, "peer"), "198.51.100.40");
}

/* ---- OPTIONS ---- */

static void options(const char *id, uint32_t cseq, const char *src, const char *dst, uint64_t ts)
{
    struct sip_msg m = msg_new(id, SIP_METHOD_OPTIONS, cseq);
    msg_request(&m, "bo");
    feed_at(&m, src, dst, ts);
}

static void options_answer(const char *id, uint32_t cseq, int status, const char *src,
                           const char *dst, uint64_t ts)
{
    struct sip_msg m = msg_new(id, SIP_METHOD_OPTIONS, cseq);
    msg_response(&m, status, "to");
    feed_at(&m, src, dst, ts);
}

Test(trunk_health, unanswered_options_then_answered)
{
    options("opt-1", 1, PBX_IP, ACME_IP, T0);
    timerq_advance(fx.timers, T0 + 31 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
    timerq_advance(fx.timers, T0 + 33 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "trunk_down");
    json_t *down = health("trunk_down", 0);
    assert_down(down, "acme", "options_timeout", 1);
    cr_assert_null(json_object_get(down, "call_id"));
    /* A late answer to the expired OPTIONS changes nothing... */
    options_answer("opt-1", 1, 200, ACME_IP, PBX_IP, T0 + 34 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 1);
    /* ...the next keepalive answered brings it up. */
    options("opt-1", 2, PBX_IP, ACME_IP, T0 + 60 * SEC);
    options_answer("opt-1", 2, 200, ACME_IP, PBX_IP, T0 + 60 * SEC + 30000);
    cr_assert_str_eq(event_capture_types(fx.events), "trunk_down,trunk_up");
    json_t *up = health("trunk_up", 0);
    cr_assert_str_eq(str_field(up, "reason"), "options_answered");
    cr_assert_str_eq(str_field(up, "trunk"), "acme");
}

Test(trunk_health, answered_options_are_quiet)
{
    for (uint32_t i = 0; i < 10; i++) {
        uint64_t t = T0 + (uint64_t)i * 30 * SEC;
        options("opt-q", i + 1, PBX_IP, ACME_IP, t);
        options("opt-q", i + 1, PBX_IP, ACME_IP, t + 500000); /* retransmission */
        options_answer("opt-q", i + 1, i % 2 ? 200 : 404, ACME_IP, PBX_IP, t + SEC);
    }
    timerq_advance(fx.timers, T0 + 1000 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

Test(trunk_health, options_from_a_trunk_tell_nothing_about_it)
{
    options("opt-in", 1, ACME_IP, PBX_IP, T0);
    timerq_advance(fx.timers, T0 + 100 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

static void options_override_setup(void)
{
    fixture_init();
    fixture_setting("trunk acme", "rule.trunk_health.options_timeout_s", "5");
    fixture_start();
}

Test(trunk_health_configured, per_trunk_options_timeout, .init = options_override_setup,
     .fini = teardown)
{
    options("opt-a", 1, PBX_IP, ACME_IP, T0);
    options("opt-b", 1, PBX_IP, BETA_IP, T0);
    timerq_advance(fx.timers, T0 + 6 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "trunk_down");
    cr_assert_str_eq(str_field(health("trunk_down", 0), "trunk"), "acme");
    timerq_advance(fx.timers, T0 + 33 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_down"), 2);
    cr_assert_str_eq(str_field(health("trunk_down", 1), "trunk"), "beta");
}

Test(trunk_health, pending_options_and_peers_are_capped)
{
    /* 4097 keepalives to 4097 distinct addresses, none answered yet. */
    for (unsigned i = 0; i <= 4096; i++) {
        char ip[32], id[32];
        snprintf(ip, sizeof(ip), "10.%u.%u.1", i / 256, i % 256);
        snprintf(id, sizeof(id), "cap-%u", i);
        options(id, 1, PBX_IP, ip, T0 + i);
    }
    cr_assert_eq(counters_get(fx.counters, "rules.trunk_health_options_evicted"), 1);
    cr_assert_eq(counters_get(fx.counters, "rules.trunk_health_peers_evicted"), 1);
}

/* ---- registrations ---- */

static void trunk_register(uint32_t cseq, int status, int64_t expires, const char *registrar,
                           const char *client, uint64_t ts)
{
    struct sip_msg m = msg_new("treg@pbx", SIP_METHOD_REGISTER, cseq);
    msg_request(&m, "br");
    snprintf(m.to_user, sizeof(m.to_user), "pbx");
    snprintf(m.to_host, sizeof(m.to_host), "provider.example");
    feed_at(&m, client, registrar, ts);
    msg_response(&m, status, "rt");
    m.expires = expires;
    feed_at(&m, registrar, client, ts + 30000);
}

Test(trunk_health, registration_lost_and_regained)
{
    trunk_register(1, 200, 60, ACME_IP, PBX_IP, T0);
    timerq_advance(fx.timers, T0 + 64 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0, "within the grace period");
    timerq_advance(fx.timers, T0 + 66 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "trunk_down");
    assert_down(health("trunk_down", 0), "acme", "registration_lost", 1);
    trunk_register(2, 200, 60, ACME_IP, PBX_IP, T0 + 100 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "trunk_down,trunk_up");
    cr_assert_str_eq(str_field(health("trunk_up", 0), "reason"), "registered");
}

Test(trunk_health, refreshed_registration_is_quiet)
{
    for (uint32_t i = 0; i < 5; i++)
        trunk_register(i + 1, 200, 60, ACME_IP, PBX_IP, T0 + (uint64_t)i * 50 * SEC);
    timerq_advance(fx.timers, T0 + 230 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
    /* Un-REGISTER (expires 0): nothing is expected any more. */
    trunk_register(6, 200, 0, ACME_IP, PBX_IP, T0 + 240 * SEC);
    timerq_advance(fx.timers, T0 + 1000 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

Test(trunk_health, failed_refresh_loses_the_registration)
{
    trunk_register(1, 200, 60, ACME_IP, PBX_IP, T0);
    trunk_register(2, 403, -1, ACME_IP, PBX_IP, T0 + 50 * SEC);
    timerq_advance(fx.timers, T0 + 70 * SEC);
    assert_down(health("trunk_down", 0), "acme", "registration_lost", 1);
}

/* calls/ forgets a registration idle for an hour (and twice its expiry):
 * trunk_health drops its watch of it (ASan would see a use after free
 * otherwise), the table empties, and a later REGISTER starts afresh. */
Test(trunk_health, idle_registrations_are_forgotten)
{
    trunk_register(1, 200, 60, ACME_IP, PBX_IP, T0);
    cr_assert_eq(call_table_registration_count(fx.table), 1);
    cr_assert_eq(rules_registration_states(fx.rules), 1, "the watch is a registration state");
    timerq_advance(fx.timers, T0 + 66 * SEC);
    assert_down(health("trunk_down", 0), "acme", "registration_lost", 1);
    timerq_advance(fx.timers, T0 + 3500 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 1, "not idle for an hour yet");
    cr_assert_eq(counters_get(fx.counters, "registrations.expired"), 0);
    timerq_advance(fx.timers, T0 + 3700 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 0);
    cr_assert_eq(rules_registration_states(fx.rules), 0, "freed with the registration");
    cr_assert_eq(counters_get(fx.counters, "registrations.expired"), 1);
    trunk_register(2, 200, 60, ACME_IP, PBX_IP, T0 + 3800 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 1);
    cr_assert_str_eq(str_field(health("trunk_up", 0), "reason"), "registered");
    timerq_advance(fx.timers, T0 + 3870 * SEC);
    assert_down(health("trunk_down", 1), "acme", "registration_lost", 1);
}

/* A trunk registration challenged first: registration_loop's episode and
 * trunk_health's watch are two slots of one block, and a registration to
 * no trunk that is never challenged gets none. */
Test(trunk_health, registration_states_share_one_block)
{
    trunk_register(1, 401, -1, ACME_IP, PBX_IP, T0);
    cr_assert_eq(rules_registration_states(fx.rules), 1, "registration_loop's episode");
    trunk_register(2, 200, 60, ACME_IP, PBX_IP, T0 + SEC);
    cr_assert_eq(rules_registration_states(fx.rules), 1, "the watch joins the same block");
    trunk_register(1, 200, 60, "198.51.100.77", PBX_IP, T0 + 2 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 2);
    cr_assert_eq(rules_registration_states(fx.rules), 1, "no detector wanted the other");
    timerq_advance(fx.timers, T0 + 67 * SEC);
    assert_down(health("trunk_down", 0), "acme", "registration_lost", 1);
}

/* A long granted expiry keeps its registration for twice that long. */
Test(trunk_health, a_long_expiry_outlives_the_idle_limit)
{
    trunk_register(1, 200, 7200, ACME_IP, PBX_IP, T0);
    timerq_advance(fx.timers, T0 + 14000 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 1);
    timerq_advance(fx.timers, T0 + 14500 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 0);
}

static void long_grace_setup(void)
{
    fixture_init();
    fixture_setting("rule trunk_health", "registration_grace_s", "3600");
    fixture_start();
}

/* With the longest grace the lost-registration timer is still pending when
 * calls/ forgets the registration (idle 3,600 s < 60 s expiry + 3,600 s
 * grace): trunk_health must cancel it, or it would read the freed
 * registration (ASan) and report a trunk down for a registration nobody
 * follows any more. */
Test(trunk_health_configured, a_forgotten_registration_cancels_its_watch, .init = long_grace_setup,
     .fini = teardown)
{
    trunk_register(1, 200, 60, ACME_IP, PBX_IP, T0);
    timerq_advance(fx.timers, T0 + 3659 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 1);
    timerq_advance(fx.timers, T0 + 7200 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 0);
    cr_assert_eq(event_capture_count(fx.events), 0, "%s", event_capture_types(fx.events));
}

Test(trunk_health, phone_registrations_to_the_pbx_are_not_followed)
{
    trunk_register(1, 200, 60, PBX_IP, PHONE_IP, T0);
    timerq_advance(fx.timers, T0 + 1000 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

/* ---- failover ---- */

static void numbered_call(const char *id, const char *dst, const char *number, int status,
                          uint64_t ts)
{
    struct sip_msg m = msg_new(id, SIP_METHOD_INVITE, 1);
    msg_request(&m, "bf");
    snprintf(m.to_user, sizeof(m.to_user), "%s", number);
    feed_at(&m, PBX_IP, dst, ts);
    msg_response(&m, status, "tt");
    feed_at(&m, dst, PBX_IP, ts + 20000);
}

Test(trunk_health, failover_to_another_trunk)
{
    numbered_call("fo-1", ACME_IP, "+4930123", 503, T0);
    numbered_call("fo-2", BETA_IP, "+4930123", 200, T0 + 2 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_failover"), 1);
    json_t *ev = health("trunk_failover", 0);
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert_str_eq(str_field(ev, "from_trunk"), "acme");
    cr_assert_str_eq(str_field(ev, "to_trunk"), "beta");
    cr_assert_str_eq(str_field(ev, "trunk"), "beta");
    cr_assert_str_eq(str_field(ev, "failed_call_id"), "fo-1");
    cr_assert_str_eq(str_field(ev, "call_id"), "fo-2");
    cr_assert_str_eq(str_field(ev, "number"), "+4930123");
}

Test(trunk_health, no_failover_when_not_a_retry)
{
    numbered_call("nf-1", ACME_IP, "+4930123", 503, T0);
    numbered_call("nf-2", ACME_IP, "+4930123", 200, T0 + SEC);      /* same trunk */
    numbered_call("nf-3", BETA_IP, "+4930999", 200, T0 + 2 * SEC);  /* another number */
    numbered_call("nf-4", BETA_IP, "+4930123", 200, T0 + 15 * SEC); /* too late */
    numbered_call("nf-5", ACME_IP, "+4930555", 486, T0 + 20 * SEC); /* busy: callee's choice */
    numbered_call("nf-6", BETA_IP, "+4930555", 200, T0 + 21 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_failover"), 0, "%s",
                 event_capture_types(fx.events));
}

/* A configured trunk's failure retried to an address that is no trunk:
 * failover by address (same caller, callee and source). */
Test(trunk_health, failover_from_a_trunk_to_an_unconfigured_address)
{
    numbered_call("ft-1", ACME_IP, "+4930123", 503, T0);
    numbered_call("ft-2", "198.51.100.40", "+4930123", 200, T0 + 3 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_failover"), 1);
    json_t *ev = health("trunk_failover", 0);
    cr_assert_str_eq(str_field(ev, "from_trunk"), "acme");
    cr_assert(json_is_null(field(ev, "to_trunk")));
    cr_assert(json_is_null(field(ev, "trunk")));
    cr_assert_str_eq(str_field(ev, "from_peer"), ACME_IP);
    cr_assert_str_eq(str_field(ev, "to_peer"), "198.51.100.40");
    cr_assert_eq(json_integer_value(field(ev, "failed_status")), 503);
}

/* ---- no configuration: every direction unknown, health per address ---- */

static void no_trunks_setup(void)
{
    fixture_init();
    fx.trunks.count = 0;
    fixture_start();
}

TestSuite(trunk_health_unconfigured, .init = no_trunks_setup, .fini = teardown);

#define CARRIER_A "203.0.113.10"
#define CARRIER_B "192.0.2.10"

static void assert_failover(json_t *ev, const char *failed_id, const char *retry_id,
                            int failed_status, long after_ms)
{
    cr_assert_str_eq(str_field(ev, "type"), "trunk_failover");
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert(json_is_null(field(ev, "trunk")));
    cr_assert(json_is_null(field(ev, "from_trunk")));
    cr_assert(json_is_null(field(ev, "to_trunk")));
    cr_assert_str_eq(str_field(ev, "from_peer"), CARRIER_A);
    cr_assert_str_eq(str_field(ev, "to_peer"), CARRIER_B);
    cr_assert_str_eq(str_field(ev, "failed_call_id"), failed_id);
    cr_assert_str_eq(str_field(ev, "call_id"), retry_id);
    cr_assert_eq(json_integer_value(field(ev, "failed_status")), failed_status);
    cr_assert_str_eq(str_field(ev, "number"), "+4930123");
    cr_assert_eq(json_integer_value(field(ev, "after_ms")), after_ms);
}

Test(trunk_health_unconfigured, a_503_retried_elsewhere_is_failover)
{
    numbered_call("u-1", CARRIER_A, "+4930123", 503, T0);
    numbered_call("u-2", CARRIER_B, "+4930123", 200, T0 + 2 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events),
                     "call_start,call_fail,call_end,call_start,trunk_failover,call_answer");
    cr_assert_str_eq(str_field(event_capture_find(fx.events, "call_fail", 0), "direction"),
                     "unknown");
    assert_failover(health("trunk_failover", 0), "u-1", "u-2", 503, 1980);
}

Test(trunk_health_unconfigured, a_timeout_retried_elsewhere_is_failover)
{
    call_to(CARRIER_A, "t-1", 0, T0); /* timer B: 408 at T0 + 32 s */
    numbered_call("t-2", CARRIER_B, "+15559870000", 200, T0 + 34 * SEC);
    json_t *ev = health("trunk_failover", 0);
    cr_assert_str_eq(str_field(ev, "failed_call_id"), "t-1");
    cr_assert_eq(json_integer_value(field(ev, "failed_status")), 408);
    cr_assert_str_eq(str_field(ev, "from_peer"), CARRIER_A);
    cr_assert_str_eq(str_field(ev, "to_peer"), CARRIER_B);
}

/* A retry by address needs a 5xx/408, the same caller, callee and source,
 * another destination, within failover_window_s (10 s). */
Test(trunk_health_unconfigured, near_misses_are_not_failover)
{
    numbered_call("n-1", CARRIER_A, "+4930123", 404, T0); /* not the carrier's fault */
    numbered_call("n-2", CARRIER_B, "+4930123", 200, T0 + SEC);
    numbered_call("n-3", CARRIER_A, "+4930124", 503, T0 + 100 * SEC);
    numbered_call("n-4", CARRIER_A, "+4930124", 200, T0 + 101 * SEC); /* same destination */
    numbered_call("n-5", CARRIER_A, "+4930125", 503, T0 + 200 * SEC);
    numbered_call("n-6", CARRIER_B, "+4930125", 200, T0 + 211 * SEC); /* too late */
    numbered_call("n-7", CARRIER_A, "+4930126", 503, T0 + 300 * SEC);
    numbered_call("n-8", CARRIER_B, "+4930999", 200, T0 + 301 * SEC); /* another callee */
    numbered_call("n-9", CARRIER_A, "+4930127", 503, T0 + 400 * SEC);
    struct sip_msg m = msg_new("n-10", SIP_METHOD_INVITE, 1); /* another caller */
    msg_request(&m, "bf");
    snprintf(m.to_user, sizeof(m.to_user), "+4930127");
    snprintf(m.from_user, sizeof(m.from_user), "+15550000000");
    feed_at(&m, PBX_IP, CARRIER_B, T0 + 401 * SEC);
    numbered_call("n-11", CARRIER_A, "+4930128", 503, T0 + 500 * SEC);
    m = msg_new("n-12", SIP_METHOD_INVITE, 1); /* another source */
    msg_request(&m, "bf");
    snprintf(m.to_user, sizeof(m.to_user), "+4930128");
    feed_at(&m, PHONE_IP, CARRIER_B, T0 + 501 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_failover"), 0, "%s",
                 event_capture_types(fx.events));
}

/* Trunk health per peer address, as without configuration. */
Test(trunk_health_unconfigured, five_503s_take_the_peer_down_and_an_answer_up)
{
    failing_calls(CARRIER_A, 503, 5, T0);
    json_t *down = health("trunk_down", 0);
    assert_down(down, NULL, "503", 5);
    cr_assert_str_eq(str_field(down, "peer"), CARRIER_A);
    call_to(CARRIER_A, "up-1", 200, T0 + 1000 * SEC);
    json_t *up = health("trunk_up", 0);
    cr_assert_str_eq(str_field(up, "peer"), CARRIER_A);
    cr_assert_str_eq(str_field(up, "reason"), "invite_answered");
}

static void failures_override_setup(void)
{
    fixture_init();
    fixture_setting("trunk beta", "rule.trunk_health.failures", "2");
    fixture_setting("rule trunk_health", "failover_window_s", "30");
    fixture_start();
}

Test(trunk_health_configured, per_trunk_failures_and_global_window, .init = failures_override_setup,
     .fini = teardown)
{
    failing_calls(BETA_IP, 503, 2, T0);
    assert_down(health("trunk_down", 0), "beta", "503", 2);
    failing_calls(ACME_IP, 503, 4, T0 + 1000 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_down"), 1, "acme keeps 5");
    numbered_call("w-1", ACME_IP, "+4930123", 503, T0 + 2000 * SEC);
    numbered_call("w-2", BETA_IP, "+4930123", 200, T0 + 2020 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_failover"), 1);
}

static void disabled_setup(void)
{
    fixture_init();
    fixture_setting("rule trunk_health", "enabled", "no");
    fixture_start();
}

Test(trunk_health_configured, disabled_raises_nothing, .init = disabled_setup, .fini = teardown)
{
    failing_calls(ACME_IP, 503, 6, T0);
    options("opt-d", 1, PBX_IP, ACME_IP, T0 + 500 * SEC);
    timerq_advance(fx.timers, T0 + 600 * SEC);
    numbered_call("d-1", ACME_IP, "+1", 503, T0 + 700 * SEC);
    numbered_call("d-2", BETA_IP, "+1", 200, T0 + 701 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_down"), 0);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_failover"), 0);
    cr_assert_eq(event_capture_count_type(fx.events, "trunk_up"), 0);
}

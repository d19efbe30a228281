/*
 * Tests of rules/sip_scan.c: a source sending new requests that nobody
 * answers raises sip_scan (start, then end once quiet, with the exact
 * figures); busy peers whose requests are answered, configured trunks and
 * sources below the threshold stay quiet; a known scanning tool's
 * User-Agent raises whatever the answers.
 */
#include "tests/rules/signalling_fixture.h"

TestSuite(sip_scan, .init = setup, .fini = teardown);

#define SCANNER_IP "100.64.0.66"

/* n requests of method from src, one every step_us from t, each a new
 * dialog to the next extension; answered with status (0: not at all). */
static void requests(enum sip_method method, const char *src, const char *ua, unsigned n,
                     uint64_t t, uint64_t step_us, int status)
{
    for (unsigned i = 0; i < n; i++, t += step_us) {
        char id[32];
        snprintf(id, sizeof(id), "scan-%u-%llu", i, (unsigned long long)t);
        struct sip_msg m = msg_new(id, method, 1);
        msg_request(&m, id);
        snprintf(m.request_user, sizeof(m.request_user), "%u", 100 + i);
        snprintf(m.user_agent, sizeof(m.user_agent), "%s", ua);
        m.to_user[0] = '\0';
        feed_at(&m, src, PBX_IP, t);
        if (!status)
            continue;
        struct sip_msg r = msg_new(id, method, 1);
        msg_response(&r, status, "tt");
        feed_at(&r, PBX_IP, src, t + 500);
    }
}

static json_t *only(const char *type)
{
    cr_assert_eq(event_capture_count_type(fx.events, type), 1, "types: %s",
                 event_capture_types(fx.events));
    return event_capture_find(fx.events, type, 0);
}

static long long int_field(json_t *ev, const char *name)
{
    json_t *v = field(ev, name);
    cr_assert(json_is_integer(v), "field %s is not an integer", name);
    return json_integer_value(v);
}

static double real_field(json_t *ev, const char *name)
{
    json_t *v = field(ev, name);
    cr_assert(json_is_number(v), "field %s is not a number", name);
    return json_number_value(v);
}

Test(sip_scan, unanswered_invites_raise_start_then_end)
{
    /* 150 INVITEs, 10 ms apart, nobody answers (the PBX drops them). */
    requests(SIP_METHOD_INVITE, SCANNER_IP, "Asterisk PBX 16", 150, T0, 10000, 0);
    json_t *ev = only("sip_scan");
    cr_assert_str_eq(str_field(ev, "phase"), "start");
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert(json_is_null(field(ev, "trunk")));
    cr_assert_null(field(ev, "call_id"));
    cr_assert_str_eq(str_field(ev, "source"), SCANNER_IP);
    cr_assert_str_eq(str_field(ev, "user_agent"), "Asterisk PBX 16");
    cr_assert(json_is_false(field(ev, "known_scanner")));
    /* Raised by the 100th request: 99 intervals of 10 ms. */
    cr_assert_eq(int_field(ev, "requests"), 100);
    cr_assert_eq(int_field(ev, "answered"), 0);
    cr_assert_float_eq(real_field(ev, "rate"), 100.0, 1e-9);
    cr_assert_float_eq(real_field(ev, "window_s"), 10.0, 1e-9);
    cr_assert_str_eq(str_field(ev, "last_target"), "199");
    cr_assert_eq(json_integer_value(json_object_get(field(ev, "methods"), "INVITE")), 100);

    /* Quiet for quiet_s (60 s) after the last request, at T0 + 1.49 s. */
    timerq_advance(fx.timers, T0 + 70 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "sip_scan"), 2, "types: %s",
                 event_capture_types(fx.events));
    json_t *end = event_capture_find(fx.events, "sip_scan", 1);
    cr_assert_str_eq(str_field(end, "phase"), "end");
    cr_assert_eq(int_field(end, "requests"), 150);
    cr_assert_float_eq(real_field(end, "duration_s"), 1.49, 1e-9);
    cr_assert_float_eq(real_field(end, "rate"), 100.0, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(field(end, "methods"), "INVITE")), 150);
}

Test(sip_scan, rejected_registers_of_a_known_tool_raise)
{
    requests(SIP_METHOD_REGISTER, SCANNER_IP, "friendly-scanner", 120, T0, 1000, 401);
    json_t *ev = only("sip_scan");
    cr_assert(json_is_true(field(ev, "known_scanner")));
    cr_assert_eq(int_field(ev, "requests"), 100);
    cr_assert_float_eq(real_field(ev, "rate"), 1000.0, 1e-6);
    cr_assert_eq(json_integer_value(json_object_get(field(ev, "methods"), "REGISTER")), 100);
}

/* svmap's OPTIONS find live devices, which answer 200: the tool's name is
 * what gives it away. */
Test(sip_scan, known_tool_raises_even_when_answered)
{
    requests(SIP_METHOD_OPTIONS, SCANNER_IP, "sipvicious", 100, T0, 1000, 200);
    json_t *ev = only("sip_scan");
    cr_assert_eq(int_field(ev, "answered"), 99, "the 100th is answered after it raised");
}

Test(sip_scan, a_busy_peer_whose_calls_are_answered_is_no_scan)
{
    requests(SIP_METHOD_INVITE, "100.64.0.7", "Kamailio", 300, T0, 1000, 200);
    requests(SIP_METHOD_OPTIONS, "100.64.0.8", "Kamailio", 300, T0, 1000, 200);
    cr_assert_eq(event_capture_count_type(fx.events, "sip_scan"), 0, "types: %s",
                 event_capture_types(fx.events));
}

Test(sip_scan, a_configured_trunk_is_never_a_scanner)
{
    requests(SIP_METHOD_INVITE, ACME_IP, "friendly-scanner", 300, T0, 1000, 0);
    cr_assert_eq(event_capture_count_type(fx.events, "sip_scan"), 0, "types: %s",
                 event_capture_types(fx.events));
}

/* 60 requests in each of two windows: under 100 in any window. */
Test(sip_scan, below_the_threshold_in_every_window_is_no_scan)
{
    requests(SIP_METHOD_INVITE, SCANNER_IP, "friendly-scanner", 60, T0, 10000, 404);
    requests(SIP_METHOD_INVITE, SCANNER_IP, "friendly-scanner", 60, T0 + 10 * SEC, 10000, 404);
    timerq_advance(fx.timers, T0 + 100 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "sip_scan"), 0, "types: %s",
                 event_capture_types(fx.events));
}

Test(sip_scan, disabled_raises_nothing)
{
    engine_free(fx.engine); /* setup's: a new one with the setting */
    fixture_setting("rule sip_scan", "enabled", "no");
    fixture_start();
    requests(SIP_METHOD_INVITE, SCANNER_IP, "friendly-scanner", 300, T0, 1000, 0);
    cr_assert_eq(event_capture_count_type(fx.events, "sip_scan"), 0);
}

/*
 * Tests of rules/registration_loop.c (and of the rules settings machinery:
 * rules_validate's file:line messages, per-trunk overrides): hand-built
 * REGISTER exchanges fed through the call table, exact events checked.
 */
#include "tests/rules/signalling_fixture.h"

#define AOR_USER "alice"
#define AOR_HOST "example.com"
#define NONCE    "5f1e9c0ddeadbeefnonce"

struct reg_exchange {
    const char *registrar;
    uint32_t cseq;
};

static void reg_request(struct reg_exchange *x, const char *realm, uint64_t hash, uint64_t ts)
{
    struct sip_msg m = msg_new("reg-1@phone", SIP_METHOD_REGISTER, ++x->cseq);
    char branch[32];
    snprintf(branch, sizeof(branch), "z9hG4bKr%u", x->cseq);
    msg_request(&m, branch);
    snprintf(m.to_user, sizeof(m.to_user), AOR_USER);
    snprintf(m.to_host, sizeof(m.to_host), AOR_HOST);
    snprintf(m.from_user, sizeof(m.from_user), AOR_USER);
    if (realm) {
        m.has_credentials = true;
        snprintf(m.credentials_realm, sizeof(m.credentials_realm), "%s", realm);
        snprintf(m.credentials_nonce, sizeof(m.credentials_nonce), NONCE);
        m.credentials_response_hash = hash;
    }
    feed_at(&m, PHONE_IP, x->registrar, ts);
}

static void reg_response(struct reg_exchange *x, int status, const char *realm, bool stale,
                         uint64_t ts)
{
    struct sip_msg m = msg_new("reg-1@phone", SIP_METHOD_REGISTER, x->cseq);
    msg_response(&m, status, "rt");
    snprintf(m.to_user, sizeof(m.to_user), AOR_USER);
    snprintf(m.to_host, sizeof(m.to_host), AOR_HOST);
    if (realm) {
        m.has_challenge = true;
        snprintf(m.challenge_realm, sizeof(m.challenge_realm), "%s", realm);
        snprintf(m.challenge_nonce, sizeof(m.challenge_nonce), NONCE);
        m.challenge_stale = stale;
    }
    if (status >= 200 && status < 300)
        m.expires = 3600;
    feed_at(&m, x->registrar, PHONE_IP, ts);
}

/* One REGISTER answered by a challenge (realm "example.com"). */
static void challenged(struct reg_exchange *x, const char *cred_realm, uint64_t hash, bool stale,
                       uint64_t ts)
{
    reg_request(x, cred_realm, hash, ts);
    reg_response(x, 401, "example.com", stale, ts + 20000);
}

TestSuite(registration_loop, .init = setup, .fini = teardown);

Test(registration_loop, wrong_password_same_answer_repeated)
{
    struct reg_exchange x = {PBX_IP, 0};
    challenged(&x, NULL, 0, false, T0);
    challenged(&x, "example.com", 0x1111, false, T0 + 1 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
    challenged(&x, "example.com", 0x1111, false, T0 + 2 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "registration_loop");
    json_t *ev = event_capture_find(fx.events, "registration_loop", 0);
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert_str_eq(str_field(ev, "aor"), "alice@example.com");
    cr_assert_str_eq(str_field(ev, "registrar"), "198.51.100.20:5060");
    cr_assert_eq(json_integer_value(field(ev, "challenges")), 3);
    cr_assert_float_eq(json_number_value(field(ev, "window_s")), 60.0, 1e-9);
    cr_assert_str_eq(str_field(ev, "hint"), "same_credentials_repeated");
    cr_assert_str_eq(str_field(ev, "realm_challenge"), "example.com");
    cr_assert_str_eq(str_field(ev, "realm_response"), "example.com");
    cr_assert(json_is_null(field(ev, "trunk")));
    cr_assert_null(json_object_get(ev, "call_id"), "a registration is not a call");
    cr_assert_eq(json_integer_value(field(ev, "rejected")), 0);
    /* Credentials never leave the daemon: not even the nonce. */
    char *text = json_dumps(ev, JSON_COMPACT);
    cr_assert_null(strstr(text, NONCE), "event leaks the nonce: %s", text);
    cr_assert_null(strstr(text, "1111"));
    free(text);
}

Test(registration_loop, realm_mismatch)
{
    struct reg_exchange x = {PBX_IP, 0};
    challenged(&x, NULL, 0, false, T0);
    challenged(&x, "asterisk", 0x21, false, T0 + 1 * SEC);
    challenged(&x, "asterisk", 0x22, false, T0 + 2 * SEC);
    json_t *ev = event_capture_find(fx.events, "registration_loop", 0);
    cr_assert_str_eq(str_field(ev, "hint"), "realm_mismatch");
    cr_assert_str_eq(str_field(ev, "realm_challenge"), "example.com");
    cr_assert_str_eq(str_field(ev, "realm_response"), "asterisk");
}

Test(registration_loop, stale_nonce)
{
    struct reg_exchange x = {PBX_IP, 0};
    challenged(&x, NULL, 0, false, T0);
    challenged(&x, "example.com", 0x31, true, T0 + 1 * SEC);
    challenged(&x, "example.com", 0x32, true, T0 + 2 * SEC);
    json_t *ev = event_capture_find(fx.events, "registration_loop", 0);
    cr_assert_str_eq(str_field(ev, "hint"), "stale_nonce");
}

Test(registration_loop, no_evidence_gives_null_hint)
{
    struct reg_exchange x = {PBX_IP, 0};
    challenged(&x, NULL, 0, false, T0);
    challenged(&x, NULL, 0, false, T0 + 1 * SEC);
    challenged(&x, NULL, 0, false, T0 + 2 * SEC);
    json_t *ev = event_capture_find(fx.events, "registration_loop", 0);
    cr_assert(json_is_null(field(ev, "hint")));
    cr_assert(json_is_null(field(ev, "realm_response")));
}

Test(registration_loop, one_challenge_then_success_is_normal)
{
    struct reg_exchange x = {PBX_IP, 0};
    /* A phone refreshing every 20 s, each time challenged once: normal. */
    for (int i = 0; i < 10; i++) {
        uint64_t t = T0 + (uint64_t)i * 20 * SEC;
        challenged(&x, NULL, 0, false, t);
        reg_request(&x, "example.com", 0x100 + (uint64_t)i, t + SEC);
        reg_response(&x, 200, NULL, false, t + SEC + 10000);
    }
    cr_assert_eq(event_capture_count(fx.events), 0);
}

Test(registration_loop, once_per_episode_and_rearms_after_success)
{
    struct reg_exchange x = {PBX_IP, 0};
    for (int i = 0; i < 6; i++)
        challenged(&x, "example.com", 0x40 + (uint64_t)i, false, T0 + (uint64_t)i * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "registration_loop"), 1);
    reg_request(&x, "example.com", 0x50, T0 + 7 * SEC);
    reg_response(&x, 200, NULL, false, T0 + 7 * SEC + 1000);
    for (int i = 0; i < 3; i++)
        challenged(&x, "example.com", 0x60 + (uint64_t)i, false, T0 + (uint64_t)(10 + i) * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "registration_loop"), 2);
}

Test(registration_loop, challenges_spread_wider_than_the_window)
{
    struct reg_exchange x = {PBX_IP, 0};
    /* Three challenges over 80 s: never three within 60 s. */
    for (int i = 0; i < 3; i++)
        challenged(&x, "example.com", 0x70 + (uint64_t)i, false, T0 + (uint64_t)i * 40 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
    /* A fourth 10 s later: the last three fall within 60 s. */
    challenged(&x, "example.com", 0x80, false, T0 + 90 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "registration_loop"), 1);
}

Test(registration_loop, rearms_after_a_quiet_window)
{
    struct reg_exchange x = {PBX_IP, 0};
    for (int i = 0; i < 3; i++)
        challenged(&x, "example.com", 0x90 + (uint64_t)i, false, T0 + (uint64_t)i * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "registration_loop"), 1);
    for (int i = 0; i < 3; i++)
        challenged(&x, "example.com", 0xa0 + (uint64_t)i, false,
                   T0 + 200 * SEC + (uint64_t)i * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "registration_loop"), 2);
}

Test(registration_loop, forbidden_after_credentials_raises_at_once)
{
    struct reg_exchange x = {PBX_IP, 0};
    challenged(&x, NULL, 0, false, T0);
    reg_request(&x, "example.com", 0xb1, T0 + SEC);
    reg_response(&x, 403, NULL, false, T0 + SEC + 1000);
    cr_assert_str_eq(event_capture_types(fx.events), "registration_loop");
    json_t *ev = event_capture_find(fx.events, "registration_loop", 0);
    cr_assert_eq(json_integer_value(field(ev, "challenges")), 2);
    cr_assert_eq(json_integer_value(field(ev, "rejected")), 1);
    cr_assert_eq(json_integer_value(field(ev, "last_status")), 403);
    cr_assert_str_eq(str_field(ev, "hint"), "credentials_rejected");
    /* The same episode goes on: no second event. */
    challenged(&x, NULL, 0, false, T0 + 2 * SEC);
    challenged(&x, "example.com", 0xb2, false, T0 + 3 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 1);
}

Test(registration_loop, forbidden_without_credentials_does_not_count)
{
    struct reg_exchange x = {PBX_IP, 0};
    challenged(&x, NULL, 0, false, T0);
    reg_request(&x, NULL, 0, T0 + SEC);
    reg_response(&x, 403, NULL, false, T0 + SEC + 1000);
    challenged(&x, NULL, 0, false, T0 + 2 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

/* ---- a refusal of the latest nonce, then silence ---- */

/* The client answers the challenge 17 s later with its nonce; the registrar
 * refuses (401, stale not set) and the client sends nothing more. */
static void refused_then(struct reg_exchange *x, bool stale)
{
    challenged(x, NULL, 0, false, T0);
    reg_request(x, "example.com", 0xd1, T0 + 17 * SEC);
    reg_response(x, 401, "example.com", stale, T0 + 17 * SEC + 20000);
}

Test(registration_loop, refused_latest_nonce_then_silence_raises_rechallenged)
{
    struct reg_exchange x = {PBX_IP, 0};
    refused_then(&x, false);
    timerq_advance(fx.timers, T0 + 77 * SEC + 19999);
    cr_assert_eq(event_capture_count(fx.events), 0, "the client may still retry");
    timerq_advance(fx.timers, T0 + 77 * SEC + 20000);
    cr_assert_str_eq(event_capture_types(fx.events), "registration_loop");
    json_t *ev = event_capture_find(fx.events, "registration_loop", 0);
    cr_assert_str_eq(str_field(ev, "ts"), "2023-11-14T22:14:37.020000Z");
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert_str_eq(str_field(ev, "aor"), "alice@example.com");
    cr_assert_str_eq(str_field(ev, "registrar"), "198.51.100.20:5060");
    cr_assert_str_eq(str_field(ev, "client"), "198.51.100.30:5060");
    cr_assert_str_eq(str_field(ev, "hint"), "rechallenged");
    cr_assert_eq(json_integer_value(field(ev, "challenges")), 2);
    cr_assert_eq(json_integer_value(field(ev, "rejected")), 0);
    cr_assert_eq(json_integer_value(field(ev, "last_status")), 401);
    cr_assert_str_eq(str_field(ev, "last_reason"), "reason 401");
    cr_assert_eq(json_integer_value(field(ev, "answer_delay_ms")), 16980);
    char *text = json_dumps(ev, JSON_COMPACT);
    cr_assert_null(strstr(text, NONCE), "event leaks the nonce: %s", text);
    free(text);
}

Test(registration_loop, refused_latest_nonce_then_a_retry_is_not_giving_up)
{
    struct reg_exchange x = {PBX_IP, 0};
    refused_then(&x, false);
    reg_request(&x, "example.com", 0xd2, T0 + 18 * SEC);
    reg_response(&x, 200, NULL, false, T0 + 18 * SEC + 20000);
    timerq_advance(fx.timers, T0 + 300 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

Test(registration_loop, stale_refusal_then_silence_is_not_rechallenged)
{
    struct reg_exchange x = {PBX_IP, 0};
    refused_then(&x, true);
    timerq_advance(fx.timers, T0 + 300 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

/* A refresh whose credentials carry an older nonce than the latest
 * challenge's is only challenged, not refused. */
Test(registration_loop, old_nonce_challenged_then_silence_is_quiet)
{
    struct reg_exchange x = {PBX_IP, 0};
    challenged(&x, NULL, 0, false, T0);
    struct sip_msg m = msg_new("reg-1@phone", SIP_METHOD_REGISTER, ++x.cseq);
    msg_request(&m, "z9hG4bKold");
    snprintf(m.to_user, sizeof(m.to_user), AOR_USER);
    snprintf(m.to_host, sizeof(m.to_host), AOR_HOST);
    m.has_credentials = true;
    snprintf(m.credentials_realm, sizeof(m.credentials_realm), "example.com");
    snprintf(m.credentials_nonce, sizeof(m.credentials_nonce), "an-older-nonce");
    m.credentials_response_hash = 0xd3;
    feed_at(&m, PHONE_IP, PBX_IP, T0 + SEC);
    reg_response(&x, 401, "example.com", false, T0 + SEC + 20000);
    timerq_advance(fx.timers, T0 + 300 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

/* A client that retries each refusal loops: counted as before, raised on
 * the third challenge (not on the first silence), hint rechallenged. */
Test(registration_loop, refused_again_and_again_is_counted)
{
    struct reg_exchange x = {PBX_IP, 0};
    challenged(&x, NULL, 0, false, T0);
    challenged(&x, "example.com", 0xe1, false, T0 + SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
    challenged(&x, "example.com", 0xe2, false, T0 + 2 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "registration_loop");
    json_t *ev = event_capture_find(fx.events, "registration_loop", 0);
    cr_assert_eq(json_integer_value(field(ev, "challenges")), 3);
    cr_assert_str_eq(str_field(ev, "hint"), "rechallenged");
    timerq_advance(fx.timers, T0 + 300 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 1, "once per episode");
}

static void give_up_off_setup(void)
{
    fixture_init();
    fixture_setting("rule registration_loop", "give_up_raises", "0");
    fixture_start();
}

Test(registration_loop_configured, give_up_raises_off, .init = give_up_off_setup, .fini = teardown)
{
    struct reg_exchange x = {PBX_IP, 0};
    refused_then(&x, false);
    timerq_advance(fx.timers, T0 + 300 * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

static void forbidden_counts_setup(void)
{
    fixture_init();
    fixture_setting("rule registration_loop", "forbidden_raises", "0");
    fixture_start();
}

Test(registration_loop_configured, forbidden_only_counts_when_told, .init = forbidden_counts_setup,
     .fini = teardown)
{
    struct reg_exchange x = {PBX_IP, 0};
    challenged(&x, NULL, 0, false, T0);
    reg_request(&x, "example.com", 0xc1, T0 + SEC);
    reg_response(&x, 403, NULL, false, T0 + SEC + 1000);
    cr_assert_eq(event_capture_count(fx.events), 0);
    challenged(&x, NULL, 0, false, T0 + 2 * SEC);
    json_t *ev = event_capture_find(fx.events, "registration_loop", 0);
    cr_assert_eq(json_integer_value(field(ev, "challenges")), 3);
    cr_assert_eq(json_integer_value(field(ev, "rejected")), 1);
    cr_assert_eq(json_integer_value(field(ev, "last_status")), 401);
    cr_assert_str_eq(str_field(ev, "hint"), "credentials_rejected");
}

static void disabled_setup(void)
{
    fixture_init();
    fixture_setting("rule registration_loop", "enabled", "no");
    fixture_start();
}

Test(registration_loop_configured, disabled_raises_nothing, .init = disabled_setup,
     .fini = teardown)
{
    struct reg_exchange x = {PBX_IP, 0};
    for (int i = 0; i < 5; i++)
        challenged(&x, "example.com", 0x11, false, T0 + (uint64_t)i * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0);
}

static void override_setup(void)
{
    fixture_init();
    fixture_setting("trunk acme", "rule.registration_loop.challenges", "5");
    fixture_start();
}

Test(registration_loop_configured, per_trunk_override_changes_the_threshold, .init = override_setup,
     .fini = teardown)
{
    struct reg_exchange to_trunk = {ACME_IP, 0};
    for (int i = 0; i < 4; i++)
        challenged(&to_trunk, NULL, 0, false, T0 + (uint64_t)i * SEC);
    cr_assert_eq(event_capture_count(fx.events), 0, "acme needs 5 challenges");
    challenged(&to_trunk, NULL, 0, false, T0 + 4 * SEC);
    json_t *ev = event_capture_find(fx.events, "registration_loop", 0);
    cr_assert_str_eq(str_field(ev, "trunk"), "acme");
    cr_assert_eq(json_integer_value(field(ev, "challenges")), 5);
    cr_assert_str_eq(str_field(ev, "registrar"), "203.0.113.10:5060");
    /* The default (3) still holds for a registrar that is not acme. */
    struct reg_exchange to_pbx = {PBX_IP, 0};
    for (int i = 0; i < 3; i++)
        challenged(&to_pbx, NULL, 0, false, T0 + (uint64_t)(10 + i) * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "registration_loop"), 2);
    json_t *ev2 = event_capture_find(fx.events, "registration_loop", 1);
    cr_assert_eq(json_integer_value(field(ev2, "challenges")), 3);
    cr_assert(json_is_null(field(ev2, "trunk")));
}

/* ---- the settings machinery ---- */

static bool validate(char *err, size_t len)
{
    return rules_validate(&fx.settings, &fx.trunks, err, len);
}

static void settings_fini(void)
{
    engine_free(fx.engine); /* none was made: the settings are only validated */
}

Test(rules_settings, reports_file_and_line, .init = fixture_init, .fini = settings_fini)
{
    char err[512];
    fixture_setting("rule registration_loop", "window_s", "30");
    cr_assert(validate(err, sizeof(err)), "%s", err);

    fixture_setting("rule no_such_rule", "x", "1");
    cr_assert_not(validate(err, sizeof(err)));
    cr_assert_not_null(strstr(err, "test.conf:2: unknown rule [rule no_such_rule]"), "%s", err);
    cr_assert_not_null(strstr(err, "registration_loop"), "lists the rules: %s", err);

    fx.settings.count = 1;
    fixture_setting("rule trunk_health", "failurez", "3");
    cr_assert_not(validate(err, sizeof(err)));
    cr_assert_not_null(strstr(err, "test.conf:2: unknown key 'failurez' for rule trunk_health"),
                       "%s", err);
    cr_assert_not_null(strstr(err, "options_timeout_s"), "lists the keys: %s", err);

    fx.settings.count = 1;
    fixture_setting("rule registration_loop", "challenges", "1");
    cr_assert_not(validate(err, sizeof(err)));
    cr_assert_not_null(strstr(err, "test.conf:2: challenges = '1' must be a number from 2 to"),
                       "%s", err);

    fx.settings.count = 1;
    fixture_setting("rule codec_mismatch", "check_answers", "maybe");
    cr_assert_not(validate(err, sizeof(err)));
    cr_assert_not_null(strstr(err, "test.conf:2:"), "%s", err);

    fx.settings.count = 1;
    fixture_setting("trunk nosuch", "rule.trunk_health.failures", "3");
    cr_assert_not(validate(err, sizeof(err)));
    cr_assert_not_null(strstr(err, "test.conf:2: [trunk nosuch] is not a configured trunk"), "%s",
                       err);

    fx.settings.count = 1;
    fixture_setting("trunk acme", "rule.trunk_health.failures", "2");
    cr_assert(validate(err, sizeof(err)), "%s", err);
}

/* ---- end-to-end on public captures with a known truth ---- */

/* sngrep's aaa.pcap: a softphone at 192.168.1.2 registering three accounts at
 * 212.242.33.35. voi18063 is challenged (401), answers, and is refused with
 * "403 Wrong password" at 49.6 s: that is the loop, raised at once. Five
 * more attempts (two AORs) answer their challenge 17-34 s late and are
 * refused with "401 nonce has changed", no stale=true, after which the
 * softphone leaves that AOR alone for over 60 s: each is raised when
 * that minute is up (see sngrep_aaa_nonce_has_changed). */
Test(registration_loop_e2e, sngrep_aaa_wrong_password)
{
    char path[1024];
    if (!e2e_public_pcap("sngrep__tests__aaa.pcap", path, sizeof(path)))
        return;
    struct e2e_run run;
    e2e_run_daemon(&run, path, NULL);
    cr_assert_eq(e2e_count(&run, "registration_loop"), 6);
    static const char *const given_up[][2] = {
        {"voi18063@sip.cybercity.dk", "2005-07-04T09:35:57.621120Z"},
        {"voi18062@sip.cybercity.dk", "2005-07-04T09:38:45.145161Z"},
        {"voi18062@sip.cybercity.dk", "2005-07-04T09:48:53.676412Z"},
        {"35104723@sip.cybercity.dk", "2005-07-04T09:49:29.599796Z"},
        {"35104723@sip.cybercity.dk", "2005-07-04T09:55:25.804796Z"},
    };
    for (size_t i = 0; i < 5; i++) {
        json_t *g = e2e_find(&run, "registration_loop", i + 1);
        cr_assert_str_eq(str_field(g, "aor"), given_up[i][0]);
        cr_assert_str_eq(str_field(g, "ts"), given_up[i][1]);
        cr_assert_str_eq(str_field(g, "hint"), "rechallenged");
        cr_assert_str_eq(str_field(g, "last_reason"), "nonce has changed");
    }
    json_t *ev = e2e_find(&run, "registration_loop", 0);
    cr_assert_str_eq(str_field(ev, "ts"), "2005-07-04T09:33:10.455801Z");
    cr_assert_str_eq(str_field(ev, "severity"), "warning");
    cr_assert_str_eq(str_field(ev, "aor"), "voi18063@sip.cybercity.dk");
    cr_assert_str_eq(str_field(ev, "registrar"), "212.242.33.35:5060");
    cr_assert_eq(json_integer_value(field(ev, "challenges")), 2);
    cr_assert_str_eq(str_field(ev, "hint"), "credentials_rejected");
    cr_assert_str_eq(str_field(ev, "realm_challenge"), "sip.cybercity.dk");
    cr_assert_str_eq(str_field(ev, "realm_response"), "sip.cybercity.dk");
    cr_assert_eq(json_integer_value(field(ev, "last_status")), 403);
    cr_assert_str_eq(str_field(ev, "last_reason"), "Wrong password");
    cr_assert(json_is_null(field(ev, "trunk")));
    e2e_free(&run);
}

/* aaa.pcap frames 421-454: four 401s in 53 s from one client under one
 * Call-ID, but for two AORs, two each: voi18062 challenged at 915.4 s,
 * answers 17.2 s later with that nonce, "401 nonce has changed" (stale=false)
 * at 932.8 s; then 35104723 the same (answer 18.7 s late, refused at
 * 968.8 s). The softphone gives up on each AOR (next REGISTER for 35104723
 * at 1256 s; voi18062 never again). Before: nothing (two challenges per AOR,
 * three needed). Now: one loop per AOR, raised window_s (60 s) after its
 * refusal, hint rechallenged. */
Test(registration_loop_e2e, sngrep_aaa_nonce_has_changed)
{
    char path[1024];
    if (!e2e_public_pcap("sngrep__tests__aaa.pcap", path, sizeof(path)))
        return;
    struct e2e_run run;
    e2e_run_daemon(&run, path, NULL);
    static const struct {
        const char *aor, *ts;
        long answer_delay_ms;
    } want[] = {
        {"voi18062@sip.cybercity.dk", "2005-07-04T09:48:53.676412Z", 17242},
        {"35104723@sip.cybercity.dk", "2005-07-04T09:49:29.599796Z", 18668},
    };
    for (size_t i = 0; i < 2; i++) {
        json_t *ev = e2e_find(&run, "registration_loop", 3 + i);
        cr_assert_not_null(ev, "%zu registration_loop events",
                           e2e_count(&run, "registration_loop"));
        cr_assert_str_eq(str_field(ev, "aor"), want[i].aor);
        cr_assert_str_eq(str_field(ev, "ts"), want[i].ts);
        cr_assert_str_eq(str_field(ev, "severity"), "warning");
        cr_assert_str_eq(str_field(ev, "registrar"), "212.242.33.35:5060");
        cr_assert_str_eq(str_field(ev, "client"), "192.168.1.2:5060");
        cr_assert_eq(json_integer_value(field(ev, "challenges")), 2);
        cr_assert_str_eq(str_field(ev, "hint"), "rechallenged");
        cr_assert_eq(json_integer_value(field(ev, "rejected")), 0);
        cr_assert_eq(json_integer_value(field(ev, "last_status")), 401);
        cr_assert_str_eq(str_field(ev, "last_reason"), "nonce has changed");
        cr_assert_eq(json_integer_value(field(ev, "answer_delay_ms")), want[i].answer_delay_ms);
        cr_assert_str_eq(str_field(ev, "realm_challenge"), "sip.cybercity.dk");
        cr_assert(json_is_null(field(ev, "trunk")));
    }
    e2e_free(&run);
}

/* With 403 and give-up only counting and a two-minute window, the capture
 * holds two loops: voi18063 (401, 403, 401 within 107 s) and voi18062 (three
 * 401s within 91 s before its 200; the second refused its answer). */
Test(registration_loop_e2e, sngrep_aaa_wider_window)
{
    char path[1024], conf[64];
    if (!e2e_public_pcap("sngrep__tests__aaa.pcap", path, sizeof(path)))
        return;
    e2e_config("[rule registration_loop]\nwindow_s = 120\nforbidden_raises = 0\n"
               "give_up_raises = 0\n",
               conf, sizeof(conf));
    struct e2e_run run;
    e2e_run_daemon(&run, path, conf);
    unlink(conf);
    cr_assert_eq(e2e_count(&run, "registration_loop"), 2);
    json_t *a = e2e_find(&run, "registration_loop", 0);
    cr_assert_str_eq(str_field(a, "aor"), "voi18063@sip.cybercity.dk");
    cr_assert_str_eq(str_field(a, "ts"), "2005-07-04T09:34:40.330692Z");
    cr_assert_eq(json_integer_value(field(a, "challenges")), 3);
    cr_assert_eq(json_integer_value(field(a, "rejected")), 1);
    json_t *b = e2e_find(&run, "registration_loop", 1);
    cr_assert_str_eq(str_field(b, "aor"), "voi18062@sip.cybercity.dk");
    cr_assert_str_eq(str_field(b, "ts"), "2005-07-04T09:38:59.047813Z");
    cr_assert_str_eq(str_field(b, "hint"), "rechallenged");
    e2e_free(&run);
}

/* sipnab's sip-auth-failure: REGISTER -> 401 -> REGISTER with credentials
 * -> 403, then the same for a SUBSCRIBE. Decision: the REGISTER is one
 * registration_loop (credentials_rejected, 2 attempts); the SUBSCRIBE is
 * neither a registration nor a call, so it gives nothing. */
Test(registration_loop_e2e, sipnab_auth_failure)
{
    char path[1024];
    if (!e2e_public_pcap("sipnab__tests__pcap-samples__sip-auth-failure.pcapng", path,
                         sizeof(path)))
        return;
    struct e2e_run run;
    e2e_run_daemon(&run, path, NULL);
    cr_assert_eq(run.count, 1, "only the registration_loop");
    json_t *ev = e2e_find(&run, "registration_loop", 0);
    cr_assert_not_null(ev);
    cr_assert_str_eq(str_field(ev, "aor"), "telephone1@172.16.98.101");
    cr_assert_str_eq(str_field(ev, "registrar"), "172.16.98.101:5060");
    cr_assert_eq(json_integer_value(field(ev, "challenges")), 2);
    cr_assert_str_eq(str_field(ev, "hint"), "credentials_rejected");
    cr_assert_str_eq(str_field(ev, "realm_challenge"), "asterisk");
    cr_assert_eq(json_integer_value(field(ev, "last_status")), 403);
    e2e_free(&run);
}

/* A looping AOR that goes quiet is forgotten after an hour with its episode
 * (two AORs, the older episode, at the tail of the detector's list, freed
 * first: ASan checks the unlinking); coming back later it is judged afresh
 * and loops again. */
Test(registration_loop, an_idle_episode_is_forgotten_with_its_registration)
{
    struct reg_exchange x = {PBX_IP, 0}, y = {ACME_IP, 0};
    for (int i = 0; i < 3; i++)
        challenged(&y, "example.com", 0x77, false, T0 + (uint64_t)i * SEC);
    for (int i = 0; i < 3; i++)
        challenged(&x, "example.com", 0x55, false, T0 + 600 * SEC + (uint64_t)i * SEC);
    cr_assert_eq(event_capture_count(fx.events), 2);
    cr_assert_eq(call_table_registration_count(fx.table), 2);
    timerq_advance(fx.timers, T0 + 3700 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 1, "the first AOR went quiet first");
    timerq_advance(fx.timers, T0 + 4300 * SEC);
    cr_assert_eq(call_table_registration_count(fx.table), 0);
    cr_assert_eq(counters_get(fx.counters, "registrations.expired"), 2);
    for (int i = 0; i < 3; i++)
        challenged(&x, "example.com", 0x55, false, T0 + 5000 * SEC + (uint64_t)i * SEC);
    cr_assert_eq(event_capture_count(fx.events), 3, "a fresh episode raises again");
}

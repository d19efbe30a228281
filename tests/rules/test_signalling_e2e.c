/*
 * End-to-end tests of the signalling detectors: captures written with the
 * project's generator (tools/pcapgen), replayed by the real daemon
 * ($SIPTAPD -r FILE [-c CONFIG]), exact events checked on its JSON Lines.
 */
#include "tests/rules/signalling_fixture.h"
#include "tools/pcapgen/pcapgen.h"

#define BASE PCAPGEN_DEFAULT_BASE_US
#define MS   1000ULL

/* The trunks as the daemon sees them. */
static const char *const TRUNKS_CONF = "[trunk acme]\nmatch = 203.0.113.0/24\n"
                                       "[trunk beta]\nmatch = 192.0.2.0/24\n";

struct capture {
    struct pcapgen *g;
    char path[64];
};

static void capture_new(struct capture *c)
{
    c->g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    cr_assert_not_null(c->g);
    snprintf(c->path, sizeof(c->path), "/tmp/siptap-rules-e2e-XXXXXX");
    int fd = mkstemp(c->path);
    cr_assert(fd >= 0);
    close(fd);
}

static void capture_run(struct capture *c, struct e2e_run *run, const char *config_text)
{
    cr_assert_eq(pcapgen_write(c->g, c->path), 0);
    pcapgen_free(c->g);
    char conf[64];
    if (config_text)
        e2e_config(config_text, conf, sizeof(conf));
    e2e_run_daemon(run, c->path, config_text ? conf : NULL);
    if (config_text)
        unlink(conf);
    unlink(c->path);
}

static struct call_spec_defaults {
    struct endpoint pbx, acme, beta, phone;
} eps;

static void init_eps(void)
{
    eps.pbx = ep(PBX_IP, 5060);
    eps.acme = ep(ACME_IP, 5060);
    eps.beta = ep(BETA_IP, 5060);
    eps.phone = ep(PHONE_IP, 5060);
}

TestSuite(signalling_e2e, .init = init_eps);

Test(signalling_e2e, registration_loop_same_response)
{
    struct capture c;
    capture_new(&c);
    struct pcapgen_register_spec r = {.ua = eps.phone,
                                      .registrar = eps.pbx,
                                      .user = "alice",
                                      .realm = "pcapgen.test",
                                      .outcome = PCAPGEN_REG_LOOP_401,
                                      .attempts = 5,
                                      .same_response = true};
    pcapgen_register(c.g, &r);
    struct e2e_run run;
    capture_run(&c, &run, NULL);
    cr_assert_eq(e2e_count(&run, "registration_loop"), 1);
    json_t *ev = e2e_find(&run, "registration_loop", 0);
    cr_assert_str_eq(str_field(ev, "registrar"), "198.51.100.20:5060");
    cr_assert_eq(json_integer_value(field(ev, "challenges")), 3);
    cr_assert_str_eq(str_field(ev, "hint"), "same_credentials_repeated");
    cr_assert_str_eq(str_field(ev, "realm_challenge"), "pcapgen.test");
    e2e_free(&run);
}

Test(signalling_e2e, registration_loop_realm_mismatch_and_stale)
{
    struct capture c;
    capture_new(&c);
    struct pcapgen_register_spec r = {.ua = eps.phone,
                                      .registrar = eps.pbx,
                                      .user = "bob",
                                      .realm = "pcapgen.test",
                                      .outcome = PCAPGEN_REG_LOOP_401,
                                      .realm_mismatch = true};
    pcapgen_register(c.g, &r);
    struct pcapgen_register_spec s = {.ua = eps.phone,
                                      .registrar = eps.pbx,
                                      .user = "carol",
                                      .realm = "pcapgen.test",
                                      .outcome = PCAPGEN_REG_LOOP_401,
                                      .stale = true,
                                      .start_us = 100 * SEC};
    pcapgen_register(c.g, &s);
    struct e2e_run run;
    capture_run(&c, &run, NULL);
    cr_assert_eq(e2e_count(&run, "registration_loop"), 2);
    json_t *a = e2e_find(&run, "registration_loop", 0);
    cr_assert_not_null(strstr(str_field(a, "aor"), "bob@"), "%s", str_field(a, "aor"));
    cr_assert_str_eq(str_field(a, "hint"), "realm_mismatch");
    cr_assert_str_neq(str_field(a, "realm_response"), "pcapgen.test");
    json_t *b = e2e_find(&run, "registration_loop", 1);
    cr_assert_not_null(strstr(str_field(b, "aor"), "carol@"));
    cr_assert_str_eq(str_field(b, "hint"), "stale_nonce");
    e2e_free(&run);
}

Test(signalling_e2e, registrations_that_succeed_are_quiet)
{
    struct capture c;
    capture_new(&c);
    for (int i = 0; i < 5; i++) {
        struct pcapgen_register_spec r = {.ua = eps.phone,
                                          .registrar = eps.pbx,
                                          .user = "dave",
                                          .realm = "pcapgen.test",
                                          .outcome = PCAPGEN_REG_OK,
                                          .start_us = (uint64_t)i * 20 * SEC};
        pcapgen_register(c.g, &r);
    }
    struct e2e_run run;
    capture_run(&c, &run, NULL);
    cr_assert_eq(e2e_count(&run, "registration_loop"), 0);
    e2e_free(&run);
}

Test(signalling_e2e, register_403_is_credentials_rejected)
{
    struct capture c;
    capture_new(&c);
    struct pcapgen_register_spec r = {.ua = eps.phone,
                                      .registrar = eps.pbx,
                                      .user = "erin",
                                      .realm = "pcapgen.test",
                                      .outcome = PCAPGEN_REG_403};
    pcapgen_register(c.g, &r);
    struct e2e_run run;
    capture_run(&c, &run, NULL);
    cr_assert_eq(e2e_count(&run, "registration_loop"), 1);
    json_t *ev = e2e_find(&run, "registration_loop", 0);
    cr_assert_str_eq(str_field(ev, "hint"), "credentials_rejected");
    cr_assert_eq(json_integer_value(field(ev, "last_status")), 403);
    e2e_free(&run);
}

static void call(struct pcapgen *g, const char *id, struct endpoint from, struct endpoint to,
                 const char *to_user, uint16_t status, uint64_t start)
{
    struct pcapgen_call_spec s = {.call_id = id,
                                  .from_user = "100",
                                  .to_user = to_user,
                                  .caller = from,
                                  .callee = to,
                                  .start_us = start,
                                  .ring_ms = 500,
                                  .talk_ms = 2000,
                                  .final_status = status,
                                  .rtp = PCAPGEN_RTP_NONE};
    pcapgen_call(g, &s);
}

Test(signalling_e2e, inbound_404_and_outbound_404)
{
    struct capture c;
    capture_new(&c);
    call(c.g, "in-404", eps.acme, eps.pbx, "4930555", 404, 0);
    call(c.g, "out-404", eps.pbx, eps.acme, "4930666", 404, 10 * SEC);
    struct e2e_run run;
    capture_run(&c, &run, TRUNKS_CONF);
    cr_assert_eq(e2e_count(&run, "call_fail"), 2);
    json_t *in = e2e_find(&run, "call_fail", 0);
    cr_assert_str_eq(str_field(in, "call_id"), "in-404");
    cr_assert_str_eq(str_field(in, "direction"), "inbound");
    cr_assert_str_eq(str_field(in, "trunk"), "acme");
    cr_assert_str_eq(str_field(in, "hint"), "no_route_for_did");
    json_t *out = e2e_find(&run, "call_fail", 1);
    cr_assert_str_eq(str_field(out, "direction"), "outbound");
    cr_assert(json_is_null(field(out, "hint")));
    e2e_free(&run);
}

Test(signalling_e2e, inbound_invite_the_pbx_never_answers)
{
    struct capture c;
    capture_new(&c);
    /* A lone INVITE from the trunk, then later traffic moves the clock past
     * timer B (an unrelated OPTIONS exchange between other hosts). */
    char *inv = pcapgen_sip_build("INVITE sip:4930555@198.51.100.20 SIP/2.0",
                                  "Via: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKsilent\n"
                                  "From: <sip:100@203.0.113.10>;tag=a\n"
                                  "To: <sip:4930555@198.51.100.20>\n"
                                  "Call-ID: silent-1\nCSeq: 1 INVITE\n"
                                  "Contact: <sip:100@203.0.113.10>\nMax-Forwards: 70",
                                  NULL, NULL);
    pcapgen_sip_udp(c.g, 0, &eps.acme, &eps.pbx, inv, NULL);
    free(inv);
    char *opt = pcapgen_sip_build("OPTIONS sip:10.1.1.2 SIP/2.0",
                                  "Via: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKo\n"
                                  "From: <sip:a@10.1.1.1>;tag=o\nTo: <sip:b@10.1.1.2>\n"
                                  "Call-ID: tick\nCSeq: 1 OPTIONS\nMax-Forwards: 70",
                                  NULL, NULL);
    struct endpoint x = ep("10.1.1.1", 5060), y = ep("10.1.1.2", 5060);
    pcapgen_sip_udp(c.g, 40 * SEC, &x, &y, opt, NULL);
    free(opt);
    char *ok = pcapgen_sip_build("SIP/2.0 200 OK",
                                 "Via: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKo\n"
                                 "From: <sip:a@10.1.1.1>;tag=o\nTo: <sip:b@10.1.1.2>;tag=p\n"
                                 "Call-ID: tick\nCSeq: 1 OPTIONS",
                                 NULL, NULL);
    pcapgen_sip_udp(c.g, 40 * SEC + 1000, &y, &x, ok, NULL);
    free(ok);
    struct e2e_run run;
    capture_run(&c, &run, TRUNKS_CONF);
    json_t *fail = e2e_find(&run, "call_fail", 0);
    cr_assert_not_null(fail);
    cr_assert_eq(json_integer_value(field(fail, "status")), 408);
    cr_assert_str_eq(str_field(fail, "hint"), "no_answer_from_pbx");
    cr_assert_eq(e2e_count(&run, "trunk_down"), 0);
    e2e_free(&run);
}

Test(signalling_e2e, codec_reject_488)
{
    struct capture c;
    capture_new(&c);
    call(c.g, "c488", eps.pbx, eps.acme, "4930777", 488, 0);
    struct e2e_run run;
    capture_run(&c, &run, TRUNKS_CONF);
    cr_assert_eq(e2e_count(&run, "codec_mismatch"), 1);
    json_t *ev = e2e_find(&run, "codec_mismatch", 0);
    cr_assert_str_eq(str_field(ev, "call_id"), "c488");
    cr_assert_str_eq(str_field(ev, "trunk"), "acme");
    cr_assert_eq(json_integer_value(field(ev, "status")), 488);
    json_t *offered = field(ev, "offered");
    cr_assert(json_array_size(offered) >= 1);
    cr_assert_str_eq(json_string_value(json_array_get(offered, 0)), "PCMU");
    e2e_free(&run);
}

/* The first run of every user: `siptapd -r trunk.pcap`, no configuration,
 * every direction unknown. The PBX's calls to one carrier address fail 503
 * five times (that address goes down), the last is retried on another
 * carrier address 2 s later (failover by address), and the first carrier
 * answers again later (up). */
Test(signalling_e2e, trunk_down_up_and_failover_without_configuration)
{
    struct capture c;
    capture_new(&c);
    char id[32];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "down-%d", i);
        call(c.g, id, eps.pbx, eps.acme, "4930100", 503, (uint64_t)i * 60 * SEC);
    }
    call(c.g, "retry-beta", eps.pbx, eps.beta, "4930100", 200, 4 * 60 * SEC + 2 * SEC);
    call(c.g, "acme-ok", eps.pbx, eps.acme, "4930200", 200, 10 * 60 * SEC);
    struct e2e_run run;
    capture_run(&c, &run, NULL);
    cr_assert_eq(e2e_count(&run, "trunk_down"), 1);
    json_t *down = e2e_find(&run, "trunk_down", 0);
    cr_assert(json_is_null(field(down, "trunk")));
    cr_assert_str_eq(str_field(down, "peer"), ACME_IP);
    cr_assert_str_eq(str_field(down, "reason"), "503");
    cr_assert_eq(json_integer_value(field(down, "failures")), 5);
    cr_assert_eq(e2e_count(&run, "trunk_failover"), 1);
    json_t *fo = e2e_find(&run, "trunk_failover", 0);
    cr_assert(json_is_null(field(fo, "from_trunk")));
    cr_assert(json_is_null(field(fo, "to_trunk")));
    cr_assert_str_eq(str_field(fo, "from_peer"), ACME_IP);
    cr_assert_str_eq(str_field(fo, "to_peer"), BETA_IP);
    cr_assert_str_eq(str_field(fo, "failed_call_id"), "down-4");
    cr_assert_eq(json_integer_value(field(fo, "failed_status")), 503);
    cr_assert_str_eq(str_field(fo, "call_id"), "retry-beta");
    cr_assert_str_eq(str_field(fo, "number"), "4930100");
    cr_assert_eq(e2e_count(&run, "trunk_up"), 1);
    json_t *up = e2e_find(&run, "trunk_up", 0);
    cr_assert_str_eq(str_field(up, "peer"), ACME_IP);
    cr_assert_str_eq(str_field(up, "reason"), "invite_answered");
    cr_assert_str_eq(str_field(e2e_find(&run, "call_fail", 0), "direction"), "unknown");
    e2e_free(&run);
}

Test(signalling_e2e, trunk_down_up_and_failover)
{
    struct capture c;
    capture_new(&c);
    char id[32];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "down-%d", i);
        call(c.g, id, eps.pbx, eps.acme, "4930100", 503, (uint64_t)i * 60 * SEC);
    }
    /* The last failure is retried on beta 2 s later; then acme recovers. */
    call(c.g, "retry-beta", eps.pbx, eps.beta, "4930100", 200, 4 * 60 * SEC + 2 * SEC);
    call(c.g, "acme-ok", eps.pbx, eps.acme, "4930200", 200, 10 * 60 * SEC);
    struct e2e_run run;
    capture_run(&c, &run, TRUNKS_CONF);
    cr_assert_eq(e2e_count(&run, "trunk_down"), 1);
    json_t *down = e2e_find(&run, "trunk_down", 0);
    cr_assert_str_eq(str_field(down, "trunk"), "acme");
    cr_assert_str_eq(str_field(down, "reason"), "503");
    cr_assert_eq(json_integer_value(field(down, "failures")), 5);
    cr_assert_str_eq(str_field(down, "severity"), "error");
    cr_assert_eq(e2e_count(&run, "trunk_failover"), 1);
    json_t *fo = e2e_find(&run, "trunk_failover", 0);
    cr_assert_str_eq(str_field(fo, "from_trunk"), "acme");
    cr_assert_str_eq(str_field(fo, "to_trunk"), "beta");
    cr_assert_str_eq(str_field(fo, "failed_call_id"), "down-4");
    cr_assert_str_eq(str_field(fo, "call_id"), "retry-beta");
    cr_assert_eq(e2e_count(&run, "trunk_up"), 1);
    json_t *up = e2e_find(&run, "trunk_up", 0);
    cr_assert_str_eq(str_field(up, "trunk"), "acme");
    cr_assert_str_eq(str_field(up, "reason"), "invite_answered");
    e2e_free(&run);
}

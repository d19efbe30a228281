/*
 * End-to-end tests of the signalling detectors: captures written with the
 * project's generator (tools/pcapgen), replayed by the real daemon
 * ($SIPTAPD -r FILE [-c CONFIG]), exact events checked on its JSON Lines.
 * The cases whose every event is pinned (registration loops, 404 in and
 * out, 488, trunk down/up and failover with and without trunks) are golden
 * files in tests/golden/cases; what stays here builds its capture in C.
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

/*
 * Per-trunk metrics: a capture made by siptap-pcapgen with a known outcome
 * for every call, on two configured trunks and one unconfigured peer, is
 * replayed with --metrics-file; each siptap_trunk_* sample must hold the
 * exact count (outcomes as docs/kpis.md defines them). Past 256 peers the
 * calls count under trunk="other". siptap_trunk_up follows trunk_down and
 * trunk_up.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/trunk_metrics.h"
#include "ops_util.h"

static char dir[128];

static void setup(void)
{
    ops_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
    ops_rmtree(dir);
}

TestSuite(trunk_metrics, .init = setup, .fini = teardown);

static long long sample(const char *text, const char *name)
{
    char key[512];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* Writes the scenario, makes the capture with siptap-pcapgen, replays it
 * with the configuration: the metrics file's text. */
static char *replay(const char *scenario, const char *conf_text)
{
    const char *pcapgen = getenv("PCAPGEN");
    cr_assert(pcapgen && ops_siptapd(), "PCAPGEN and SIPTAPD must be set");
    char scn[256], pcap[256], conf[256], prom[256], err[256];
    snprintf(scn, sizeof(scn), "%s/calls.scn", dir);
    snprintf(pcap, sizeof(pcap), "%s/calls.pcap", dir);
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(prom, sizeof(prom), "%s/siptap.prom", dir);
    snprintf(err, sizeof(err), "%s/stderr", dir);
    cr_assert(ops_write_file(scn, scenario));
    cr_assert(ops_write_file(conf, conf_text));
    char *gen[] = {(char *)pcapgen, scn, pcap, NULL};
    cr_assert_eq(ops_run(gen, NULL, err), 0, "pcapgen: %s", ops_read_file(err));
    char *argv[] = {(char *)ops_siptapd(), "-c", conf, "-r", pcap, "-o", "file:/dev/null",
                    "--metrics-file",      prom, NULL};
    cr_assert_eq(ops_run(argv, NULL, err), 0, "siptapd: %s", ops_read_file(err));
    char *page = ops_read_file(prom);
    cr_assert(page);
    return page;
}

static const char scenario[] =
    "# inbound from carrier-a\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-ok-1 start=0 talk=5\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-ok-2 start=1 talk=5\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-busy start=2 status=486\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-cancel start=3 cancel\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-nofinal start=4 no-final\n"
    "call caller=203.0.113.10:5060 callee=192.0.2.10:5060 id=in-404 start=5 status=404\n"
    "# outbound to carrier-b\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=out-ok start=6 talk=5\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=out-503-1 start=7 status=503\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=out-503-2 start=8 status=503\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=out-480 start=9 status=480\n"
    "call caller=192.0.2.10:5060 callee=198.51.100.20:5060 id=out-603 start=10 status=603\n"
    "# no trunk: counted under the peer's address\n"
    "call caller=192.0.2.10:5060 callee=192.0.2.99:5060 id=peer-ok start=11 talk=5\n"
    "call caller=192.0.2.10:5060 callee=192.0.2.99:5060 id=peer-open start=12 no-bye\n"
    "# the capture goes on past in-nofinal's ringing timeout (180 s after its 180)\n"
    "call caller=192.0.2.10:5060 callee=192.0.2.98:5060 id=late start=200 status=404 rtp=none\n";

static const char conf[] = "[trunk carrier-a]\nmatch = 203.0.113.10\n"
                           "[trunk carrier-b]\nmatch = 198.51.100.20\n";

#define CALLS(trunk, dir, outcome)                                                                 \
    "siptap_trunk_calls_total{trunk=\"" trunk "\",direction=\"" dir "\",outcome=\"" outcome "\"}"
#define CODES(trunk, dir, code)                                                                    \
    "siptap_trunk_final_responses_total{trunk=\"" trunk "\",direction=\"" dir "\",code=\"" code    \
    "\"}"

Test(trunk_metrics, every_outcome_counts_under_its_trunk)
{
    char *page = replay(scenario, conf);
    cr_assert_eq(sample(page, CALLS("carrier-a", "inbound", "answered")), 2, "%s", page);
    cr_assert_eq(sample(page, CALLS("carrier-a", "inbound", "busy")), 1);
    cr_assert_eq(sample(page, CALLS("carrier-a", "inbound", "canceled")), 1);
    cr_assert_eq(sample(page, CALLS("carrier-a", "inbound", "timeout")), 1);
    cr_assert_eq(sample(page, CALLS("carrier-a", "inbound", "rejected")), 1);
    cr_assert_eq(sample(page, CALLS("carrier-a", "inbound", "failed")), -1);
    cr_assert_eq(sample(page, CALLS("carrier-b", "outbound", "answered")), 1);
    cr_assert_eq(sample(page, CALLS("carrier-b", "outbound", "failed")), 2);
    cr_assert_eq(sample(page, CALLS("carrier-b", "outbound", "no_answer")), 1);
    cr_assert_eq(sample(page, CALLS("carrier-b", "outbound", "rejected")), 1);
    cr_assert_eq(sample(page, CALLS("carrier-b", "inbound", "answered")), -1);
    cr_assert_eq(sample(page, CALLS("192.0.2.99", "unknown", "answered")), 2);
    cr_assert_eq(sample(page, CALLS("192.0.2.98", "unknown", "rejected")), 1);

    cr_assert_eq(sample(page, CODES("carrier-a", "inbound", "200")), 2);
    cr_assert_eq(sample(page, CODES("carrier-a", "inbound", "486")), 1);
    cr_assert_eq(sample(page, CODES("carrier-a", "inbound", "487")), 1);
    cr_assert_eq(sample(page, CODES("carrier-a", "inbound", "404")), 1);
    /* The timeout's 408 came from no one. */
    cr_assert_eq(sample(page, CODES("carrier-a", "inbound", "408")), -1);
    cr_assert_eq(sample(page, CODES("carrier-b", "outbound", "503")), 2);
    cr_assert_eq(sample(page, CODES("carrier-b", "outbound", "480")), 1);
    cr_assert_eq(sample(page, CODES("carrier-b", "outbound", "603")), 1);
    cr_assert_eq(sample(page, CODES("carrier-b", "outbound", "200")), 1);

    /* At exit every call has ended. */
    cr_assert_eq(sample(page, "siptap_trunk_active_calls{trunk=\"carrier-a\"}"), 0);
    cr_assert_eq(sample(page, "siptap_trunk_active_calls{trunk=\"192.0.2.99\"}"), 0);
    free(page);
}

/* 260 unconfigured peers: 256 keep their address, the last 4 are "other". */
Test(trunk_metrics, peers_past_the_cap_count_as_other)
{
    size_t cap = 300 * 128;
    char *scn = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < 260; i++)
        n += (size_t)snprintf(scn + n, cap - n,
                              "call caller=192.0.2.10:5060 callee=10.%d.%d.1:5060 id=c%d "
                              "start=%d.%03d status=404 rtp=none\n",
                              i / 200, i % 200, i, i / 10, (i % 10) * 100);
    char *page = replay(scn, "[general]\n");
    cr_assert_eq(sample(page, CALLS("10.0.0.1", "unknown", "rejected")), 1, "%s", page);
    cr_assert_eq(sample(page, CALLS("10.1.55.1", "unknown", "rejected")), 1);
    cr_assert_eq(sample(page, CALLS("10.1.56.1", "unknown", "rejected")), -1);
    cr_assert_eq(sample(page, CALLS("other", "unknown", "rejected")), 4);
    cr_assert_eq(sample(page, CODES("other", "unknown", "404")), 4);
    free(scn);
    free(page);
}

/* The mapping of docs/kpis.md, case by case, for what pcapgen cannot make. */
Test(trunk_metrics, outcome_mapping)
{
    struct call c;
    memset(&c, 0, sizeof(c));
    c.final_status = 600;
    cr_assert_str_eq(trunk_outcome_name(trunk_outcome_of(&c, CALL_END_FAILED)), "busy");
    c.final_status = 487;
    cr_assert_str_eq(trunk_outcome_name(trunk_outcome_of(&c, CALL_END_FAILED)), "no_answer");
    c.cancel_seen = true;
    cr_assert_str_eq(trunk_outcome_name(trunk_outcome_of(&c, CALL_END_CANCEL)), "canceled");
    c.cancel_seen = false;
    c.final_status = 408;
    cr_assert_str_eq(trunk_outcome_name(trunk_outcome_of(&c, CALL_END_FAILED)), "no_answer");
    cr_assert_str_eq(trunk_outcome_name(trunk_outcome_of(&c, CALL_END_TIMEOUT)), "timeout");
    c.final_status = 0;
    cr_assert_str_eq(trunk_outcome_name(trunk_outcome_of(&c, CALL_END_TIMEOUT)), "timeout");
    cr_assert_eq(trunk_outcome_of(&c, CALL_END_CAPTURE_END), TRUNK_OUTCOME_NONE);
    c.final_status = 302;
    cr_assert_str_eq(trunk_outcome_name(trunk_outcome_of(&c, CALL_END_FAILED)), "rejected");
    c.final_status = 500;
    cr_assert_str_eq(trunk_outcome_name(trunk_outcome_of(&c, CALL_END_FAILED)), "failed");
    c.answer_us = 1;
    cr_assert_str_eq(trunk_outcome_name(trunk_outcome_of(&c, CALL_END_CAPTURE_END)), "answered");
}

/* siptap_trunk_up follows trunk_down / trunk_up: five 503s in a row take a
 * trunk down (rule trunk_health, failures = 5); an answered call brings it
 * back. A configured trunk with no calls is there, up, with none active. */
Test(trunk_metrics, trunk_up_follows_trunk_health)
{
    char scn[4096];
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        n += (size_t)snprintf(scn + n, sizeof(scn) - n,
                              "call caller=192.0.2.10:5060 callee=198.51.100.30:5060 id=down-%d "
                              "start=%d status=503 rtp=none\n",
                              i, i);
        n += (size_t)snprintf(scn + n, sizeof(scn) - n,
                              "call caller=192.0.2.10:5060 callee=198.51.100.40:5060 id=back-%d "
                              "start=%d.5 status=503 rtp=none\n",
                              i, i);
    }
    snprintf(scn + n, sizeof(scn) - n,
             "call caller=192.0.2.10:5060 callee=198.51.100.40:5060 id=back-ok start=6 talk=1\n");
    char *page = replay(scn, "[trunk down]\nmatch = 198.51.100.30\n"
                             "[trunk back]\nmatch = 198.51.100.40\n"
                             "[trunk idle]\nmatch = 198.51.100.50\n");
    cr_assert_eq(sample(page, "siptap_events_total{type=\"trunk_down\"}"), 2, "%s", page);
    cr_assert_eq(sample(page, "siptap_events_total{type=\"trunk_up\"}"), 1);
    cr_assert_eq(sample(page, "siptap_trunk_up{trunk=\"down\"}"), 0);
    cr_assert_eq(sample(page, "siptap_trunk_up{trunk=\"back\"}"), 1);
    cr_assert_eq(sample(page, "siptap_trunk_up{trunk=\"idle\"}"), 1);
    cr_assert_eq(sample(page, "siptap_trunk_active_calls{trunk=\"idle\"}"), 0);
    cr_assert_eq(sample(page, CALLS("down", "outbound", "failed")), 5);
    cr_assert_eq(sample(page, CALLS("back", "outbound", "answered")), 1);
    free(page);
}

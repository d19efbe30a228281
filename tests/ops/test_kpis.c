/*
 * KPIs (docs/kpis.md), one test per KPI: a capture made by siptap-pcapgen
 * with a known outcome and known delays for every call, on two configured
 * trunks, is replayed with --metrics-file; each KPI is worked out by hand
 * below and asserted exactly, from the Prometheus page (as a dashboard's
 * PromQL would compute it) and from the trunk's trunk_stats event. Every
 * event read is held against docs/events.schema.json.
 *
 * The capture (times in seconds from its start; every call goes out from
 * 192.0.2.10 to the trunk, so direction is outbound; 100 at +10 ms):
 *
 *   carrier-a (203.0.113.10)
 *   a-ok-1     INVITE 0, 180 +0.2, 200 +1, BYE 10 s after the 200, its 200 +10 ms
 *   a-ok-2     INVITE 1 sent 3 times (2 retransmissions), 180 +0.4, 200 +2, talk 20
 *   a-auth     INVITE 2, 407 +20 ms, ACK, INVITE with credentials +40 ms,
 *              180 0.3 after it (+0.34 from the first INVITE), 200 1.5 after it, talk 30
 *   a-486      180 +0.1, 486 +2
 *   a-480      180 +0.1, 480 +2
 *   a-503      503 +50 ms (no 18x); retried at 5.2 on carrier-b (b-retry)
 *   a-404      404 +50 ms
 *   a-302      302 +50 ms
 *   a-timeout  180 +0.1 then nothing: the ringing timeout (180 s after the
 *              100) ends it at 188.01 with status 408, outcome timeout
 *   a-cancel   180 +0.1, CANCEL at +1, 487
 *   a-direct   no 18x at all, 200 +0.5, talk 4, every 25th RTP packet lost
 *   REGISTERs to 203.0.113.10: 3001 and 3002 (401, then 200 60 ms after the
 *   first REGISTER), 3003 (401, then 403)
 *
 *   carrier-b (198.51.100.20)
 *   b-retry    180 +0.1, 200 +2, talk 5 (the failover of a-503)
 *   b-603      180 +0.1, 603 +2 (at 30 s: no failover of anything)
 *   REGISTER 4001: 401, then 200 60 ms after the first REGISTER
 *
 *   no trunk: "late", a 404 from 192.0.2.98 at 200 s, so that the capture
 *   outlives a-timeout's ringing timeout.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_util.h"
#include "tests/support/event_schema.h"

static char dir[128];

static void setup(void)
{
    ops_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
    ops_rmtree(dir);
}

TestSuite(kpis, .init = setup, .fini = teardown);

#define A "203.0.113.10:5060"
#define B "198.51.100.20:5060"
#define C "caller=192.0.2.10:5060 "

static const char scenario[] =
    "call " C "callee=" A " id=a-ok-1 start=0 pdd=0.2 ring=1 talk=10"
    " caller-media=192.0.2.10:10002 callee-media=203.0.113.10:20002\n"
    /* An RFC 4733 stream inside a-ok-1's media: not an audio stream. */
    "rtp src=192.0.2.10:10002 dst=203.0.113.10:20002 ssrc=0x5555 pt=101 start=4 count=10\n"
    "call " C "callee=" A " id=a-ok-2 start=1 pdd=0.4 ring=2 talk=20 invite-retransmits=2"
    " caller-media=192.0.2.10:10004 callee-media=203.0.113.10:20004\n"
    "call " C "callee=" A " id=a-auth start=2 auth=407 pdd=0.3 ring=1.5 talk=30"
    " caller-media=192.0.2.10:10006 callee-media=203.0.113.10:20006\n"
    "call " C "callee=" A " id=a-486 start=3 status=486 rtp=none\n"
    "call " C "callee=" A " id=a-480 start=4 status=480 rtp=none\n"
    "call " C "callee=" A " id=a-503 start=5 status=503 rtp=none\n"
    "call " C "callee=" B " id=b-retry start=5.2 talk=5"
    " caller-media=192.0.2.10:10008 callee-media=198.51.100.20:20008\n"
    "call " C "callee=" A " id=a-404 start=6 status=404 rtp=none\n"
    "call " C "callee=" A " id=a-302 start=7 status=302 rtp=none\n"
    "call " C "callee=" A " id=a-timeout start=8 no-final rtp=none\n"
    "call " C "callee=" A " id=a-cancel start=9 ring=1 cancel rtp=none\n"
    "call " C "callee=" A " id=a-direct start=10 no-ringing ring=0.5 talk=4 loss-every=25"
    " caller-media=192.0.2.10:10010 callee-media=203.0.113.10:20010\n"
    "register ua=192.0.2.50:5060 registrar=" A " user=3001 start=12\n"
    "register ua=192.0.2.50:5060 registrar=" A " user=3002 start=13\n"
    "register ua=192.0.2.50:5060 registrar=" A " user=3003 start=14 outcome=403\n"
    "register ua=192.0.2.50:5060 registrar=" B " user=4001 start=15\n"
    "call " C "callee=" B " id=b-603 start=30 status=603 rtp=none\n"
    "call " C "callee=192.0.2.98:5060 id=late start=200 status=404 rtp=none\n";

static const char trunks[] = "[trunk carrier-a]\nmatch = 203.0.113.10\n"
                             "[trunk carrier-b]\nmatch = 198.51.100.20\n";

struct replay {
    char *page;     /* the metrics file */
    json_t *events; /* every event, in order */
    char prom[256]; /* the metrics file's path */
};

/* Makes the capture of scenario_text, replays it with the trunks and
 * [metrics] trunk_stats_interval_s = interval_s; every event is
 * schema-checked. */
static void replay_scenario(struct replay *r, const char *scenario_text, unsigned interval_s)
{
    const char *pcapgen = getenv("PCAPGEN");
    cr_assert(pcapgen && ops_siptapd(), "PCAPGEN and SIPTAPD must be set");
    char scn[256], pcap[256], conf[256], out[256], err[256], text[512];
    snprintf(scn, sizeof(scn), "%s/kpis.scn", dir);
    snprintf(pcap, sizeof(pcap), "%s/kpis.pcap", dir);
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(r->prom, sizeof(r->prom), "%s/siptap.prom", dir);
    snprintf(out, sizeof(out), "%s/events.jsonl", dir);
    snprintf(err, sizeof(err), "%s/stderr", dir);
    snprintf(text, sizeof(text), "%s[metrics]\ntrunk_stats_interval_s = %u\n", trunks, interval_s);
    cr_assert(ops_write_file(scn, scenario_text));
    cr_assert(ops_write_file(conf, text));
    char *gen[] = {(char *)pcapgen, scn, pcap, NULL};
    cr_assert_eq(ops_run(gen, NULL, err), 0, "pcapgen: %s", ops_read_file(err));
    char *argv[] = {(char *)ops_siptapd(), "-c", conf, "-r", pcap, "--metrics-file", r->prom, NULL};
    cr_assert_eq(ops_run(argv, out, err), 0, "siptapd: %s", ops_read_file(err));
    r->page = ops_read_file(r->prom);
    cr_assert(r->page);
    char *lines = ops_read_file(out);
    cr_assert(lines);
    r->events = json_array();
    for (char *line = strtok(lines, "\n"); line; line = strtok(NULL, "\n")) {
        event_schema_check_text(line, strlen(line));
        json_array_append_new(r->events, json_loads(line, 0, NULL));
    }
    free(lines);
}

static void replay(struct replay *r, unsigned interval_s)
{
    replay_scenario(r, scenario, interval_s);
}

static void replay_free(struct replay *r)
{
    free(r->page);
    json_decref(r->events);
}

/* A sample's value; -1 when the page has no such sample. */
static double sample(const char *page, const char *series)
{
    char key[512];
    snprintf(key, sizeof(key), "\n%s ", series);
    const char *p = strstr(page, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

/* A sample that is not there counts 0 (a counter never incremented). */
static double count(const char *page, const char *series)
{
    double v = sample(page, series);
    return v < 0 ? 0 : v;
}

#define OUT(trunk)              "trunk=\"" trunk "\",direction=\"outbound\""
#define CALLS(trunk, o)         "siptap_trunk_calls_total{" OUT(trunk) ",outcome=\"" o "\"}"
#define CODES(trunk, c)         "siptap_trunk_final_responses_total{" OUT(trunk) ",code=\"" c "\"}"
#define HIST(name, trunk, part) name "_" part "{" OUT(trunk) "}"
#define BUCKET(name, trunk, le) name "_bucket{" OUT(trunk) ",le=\"" le "\"}"

static const char *const outcomes[] = {"answered", "busy",     "no_answer", "rejected",
                                       "failed",   "canceled", "timeout"};

/* All calls of the trunk (outbound) with an outcome: the seizures. */
static double seizures(const char *page, const char *trunk)
{
    double n = 0;
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        char series[256];
        snprintf(series, sizeof(series),
                 "siptap_trunk_calls_total{trunk=\"%s\",direction=\"outbound\",outcome=\"%s\"}",
                 trunk, outcomes[i]);
        n += count(page, series);
    }
    return n;
}

/* The trunk's only trunk_stats event (one interval covers the capture). */
static json_t *stats_of(const struct replay *r, const char *trunk)
{
    json_t *found = NULL, *ev;
    size_t i;
    json_array_foreach(r->events, i, ev)
    {
        const char *t = json_string_value(json_object_get(ev, "trunk"));
        if (strcmp(json_string_value(json_object_get(ev, "type")), "trunk_stats") == 0 && t &&
            strcmp(t, trunk) == 0) {
            cr_assert_null(found, "more than one trunk_stats for %s", trunk);
            found = ev;
        }
    }
    cr_assert(found, "no trunk_stats for %s", trunk);
    return found;
}

static double num(const json_t *ev, const char *key)
{
    const json_t *v = json_object_get(ev, key);
    cr_assert(json_is_number(v), "%s is not a number in %s", key, json_dumps(ev, 0));
    return json_number_value(v);
}

#define NEAR(got, want)                                                                            \
    cr_assert(fabs((got) - (want)) < 1e-6, "%s: %.10g, want %.10g", #got, (double)(got),           \
              (double)(want))

/* One replay per test, an hour per interval: one trunk_stats per trunk. */
static struct replay run;

static void setup_replay(void)
{
    setup();
    replay(&run, 3600);
}

static void teardown_replay(void)
{
    replay_free(&run);
    teardown();
}

/* ASR (E.411) = answered / seizures. carrier-a: a-ok-1, a-ok-2, a-auth and
 * a-direct answered of 11 seizures (a-auth's two INVITEs and a-ok-2's
 * retransmissions are one seizure each): 4/11. carrier-b: 1/2 (b-retry is
 * a seizure of carrier-b, a-503 one of carrier-a). */
Test(kpis, asr, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    cr_assert_eq(seizures(p, "carrier-a"), 11, "%s", p);
    NEAR(count(p, CALLS("carrier-a", "answered")) / seizures(p, "carrier-a"), 4.0 / 11);
    NEAR(count(p, CALLS("carrier-b", "answered")) / seizures(p, "carrier-b"), 0.5);
    /* The 407 and the retransmitted INVITEs are no final response of a call. */
    cr_assert_eq(sample(p, CODES("carrier-a", "407")), -1);
    json_t *a = stats_of(&run, "carrier-a"), *b = stats_of(&run, "carrier-b");
    cr_assert_eq(num(a, "attempts"), 11);
    cr_assert_eq(num(a, "answered"), 4);
    NEAR(num(a, "asr"), 4.0 / 11);
    cr_assert_eq(num(b, "attempts"), 2);
    NEAR(num(b, "asr"), 0.5);
}

/* NER (E.425) = (answered + busy + no answer + rejected + canceled) /
 * seizures. carrier-a: 4 + 1 (486) + 1 (480) + 2 (404, 302) + 1 (CANCEL) of
 * 11; left out: the 503 (failed) and a-timeout. carrier-b: 2/2. */
Test(kpis, ner, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    double delivered =
        count(p, CALLS("carrier-a", "answered")) + count(p, CALLS("carrier-a", "busy")) +
        count(p, CALLS("carrier-a", "no_answer")) + count(p, CALLS("carrier-a", "rejected")) +
        count(p, CALLS("carrier-a", "canceled"));
    NEAR(delivered / seizures(p, "carrier-a"), 9.0 / 11);
    cr_assert_eq(count(p, CALLS("carrier-a", "failed")), 1);
    cr_assert_eq(count(p, CALLS("carrier-a", "timeout")), 1);
    json_t *a = stats_of(&run, "carrier-a");
    NEAR(num(a, "ner"), 9.0 / 11);
    json_t *o = json_object_get(a, "outcomes");
    cr_assert_eq(num(o, "busy"), 1);
    cr_assert_eq(num(o, "no_answer"), 1);
    cr_assert_eq(num(o, "rejected"), 2);
    cr_assert_eq(num(o, "failed"), 1);
    cr_assert_eq(num(o, "canceled"), 1);
    cr_assert_eq(num(o, "timeout"), 1);
    NEAR(num(stats_of(&run, "carrier-b"), "ner"), 1.0);
}

#define DURATION "siptap_trunk_call_duration_seconds"

/* ACD = mean duration of answered calls: (10 + 20 + 30 + 4) / 4 = 16 s on
 * carrier-a, 5 s on carrier-b. */
Test(kpis, acd, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    NEAR(sample(p, HIST(DURATION, "carrier-a", "sum")) /
             sample(p, HIST(DURATION, "carrier-a", "count")),
         16.0);
    NEAR(sample(p, HIST(DURATION, "carrier-b", "sum")), 5.0);
    NEAR(num(stats_of(&run, "carrier-a"), "acd_s"), 16.0);
    NEAR(num(stats_of(&run, "carrier-b"), "acd_s"), 5.0);
}

/* SDT (RFC 6076): each answered call's 2xx to BYE, the histogram's
 * observations: 4, 10, 20 and 30 s on carrier-a. The event carries their
 * mean (acd_s) and count (completed). */
Test(kpis, sdt, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    cr_assert_eq(sample(p, BUCKET(DURATION, "carrier-a", "1")), 0, "%s", p);
    cr_assert_eq(sample(p, BUCKET(DURATION, "carrier-a", "5")), 1);
    cr_assert_eq(sample(p, BUCKET(DURATION, "carrier-a", "10")), 2);
    cr_assert_eq(sample(p, BUCKET(DURATION, "carrier-a", "30")), 4);
    cr_assert_eq(sample(p, BUCKET(DURATION, "carrier-a", "+Inf")), 4);
    NEAR(sample(p, HIST(DURATION, "carrier-a", "sum")), 64.0);
    json_t *a = stats_of(&run, "carrier-a");
    NEAR(num(a, "acd_s") * num(a, "completed"), 64.0);
}

#define PDD "siptap_trunk_pdd_seconds"

/* PDD = first INVITE to first 18x, over the calls that had one: a-ok-1
 * 0.2, a-ok-2 0.4, a-auth 0.34 (its challenge included), a-486, a-480,
 * a-timeout and a-cancel 0.1 each: 1.34 s over 7, mean 191.43 ms; a-direct
 * had no 18x. carrier-b: 0.1 twice. */
Test(kpis, pdd, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    cr_assert_eq(sample(p, HIST(PDD, "carrier-a", "count")), 7, "%s", p);
    NEAR(sample(p, HIST(PDD, "carrier-a", "sum")), 1.34);
    cr_assert_eq(sample(p, BUCKET(PDD, "carrier-a", "0.05")), 0);
    cr_assert_eq(sample(p, BUCKET(PDD, "carrier-a", "0.1")), 4);
    cr_assert_eq(sample(p, BUCKET(PDD, "carrier-a", "0.25")), 5);
    cr_assert_eq(sample(p, BUCKET(PDD, "carrier-a", "0.5")), 7);
    NEAR(num(stats_of(&run, "carrier-a"), "pdd_ms"), 1340.0 / 7);
    NEAR(num(stats_of(&run, "carrier-b"), "pdd_ms"), 100.0);
}

#define SETUP  "siptap_trunk_setup_seconds"
#define FAILED "siptap_trunk_setup_failed_seconds"

/* SRD (RFC 6076), successful: first INVITE to the first 18x, or to the 2xx
 * if none came first: the 7 PDDs above and a-direct's 0.5 s: 1.84 s over
 * 8, mean 230 ms. Failed: first INVITE to a 4xx-6xx with no 18x before:
 * a-503 and a-404, 50 ms each (the 302 is no failure, a-cancel's 487 the
 * caller's doing, a-486 and a-480 rang first). */
Test(kpis, srd, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    cr_assert_eq(sample(p, HIST(SETUP, "carrier-a", "count")), 8, "%s", p);
    NEAR(sample(p, HIST(SETUP, "carrier-a", "sum")), 1.84);
    cr_assert_eq(sample(p, BUCKET(SETUP, "carrier-a", "0.25")), 5);
    cr_assert_eq(sample(p, BUCKET(SETUP, "carrier-a", "0.5")), 8);
    cr_assert_eq(sample(p, HIST(FAILED, "carrier-a", "count")), 2);
    NEAR(sample(p, HIST(FAILED, "carrier-a", "sum")), 0.1);
    cr_assert_eq(sample(p, BUCKET(FAILED, "carrier-a", "0.05")), 2);
    json_t *a = stats_of(&run, "carrier-a"), *b = stats_of(&run, "carrier-b");
    NEAR(num(a, "srd_ms"), 230.0);
    NEAR(num(a, "srd_failed_ms"), 50.0);
    NEAR(num(b, "srd_ms"), 100.0);
    cr_assert(json_is_null(json_object_get(b, "srd_failed_ms")));
}

#define SDD "siptap_trunk_disconnect_seconds"

/* SDD (RFC 6076): BYE to its 200, 10 ms for each of the 4 answered calls of
 * carrier-a and b-retry. */
Test(kpis, sdd, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    cr_assert_eq(sample(p, HIST(SDD, "carrier-a", "count")), 4, "%s", p);
    NEAR(sample(p, HIST(SDD, "carrier-a", "sum")), 0.04);
    cr_assert_eq(sample(p, BUCKET(SDD, "carrier-a", "0.005")), 0);
    cr_assert_eq(sample(p, BUCKET(SDD, "carrier-a", "0.01")), 4);
    cr_assert_eq(sample(p, HIST(SDD, "carrier-b", "count")), 1);
    NEAR(num(stats_of(&run, "carrier-a"), "sdd_ms"), 10.0);
    NEAR(num(stats_of(&run, "carrier-b"), "sdd_ms"), 10.0);
}

/* SER (RFC 6076) = answered / (INVITEs - those answered 3xx): 4 / (11 - 1)
 * on carrier-a; 1/2 on carrier-b. */
Test(kpis, ser, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    double redirected = count(p, CODES("carrier-a", "302"));
    cr_assert_eq(redirected, 1, "%s", p);
    NEAR(count(p, CALLS("carrier-a", "answered")) / (seizures(p, "carrier-a") - redirected), 0.4);
    NEAR(num(stats_of(&run, "carrier-a"), "ser"), 0.4);
    NEAR(num(stats_of(&run, "carrier-b"), "ser"), 0.5);
}

/* SEER (RFC 6076) = (answered + 480, 486, 600, 603) / (INVITEs - 3xx):
 * (4 + 1 + 1) / 10 on carrier-a; (1 + 1 (603)) / 2 on carrier-b. */
Test(kpis, seer, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    double effective = count(p, CALLS("carrier-a", "answered")) +
                       count(p, CODES("carrier-a", "480")) + count(p, CODES("carrier-a", "486")) +
                       count(p, CODES("carrier-a", "600")) + count(p, CODES("carrier-a", "603"));
    NEAR(effective / (seizures(p, "carrier-a") - count(p, CODES("carrier-a", "302"))), 0.6);
    NEAR(num(stats_of(&run, "carrier-a"), "seer"), 0.6);
    NEAR(num(stats_of(&run, "carrier-b"), "seer"), 1.0);
}

/* ISA (RFC 6076) = (408, 500, 503, 504 and timeouts) / INVITEs: a-503 and
 * a-timeout, 2/11 on carrier-a; none on carrier-b. */
Test(kpis, isa, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    double ineffective = count(p, CODES("carrier-a", "408")) + count(p, CODES("carrier-a", "500")) +
                         count(p, CODES("carrier-a", "503")) + count(p, CODES("carrier-a", "504")) +
                         count(p, CALLS("carrier-a", "timeout"));
    NEAR(ineffective / seizures(p, "carrier-a"), 2.0 / 11);
    NEAR(num(stats_of(&run, "carrier-a"), "isa"), 2.0 / 11);
    NEAR(num(stats_of(&run, "carrier-b"), "isa"), 0.0);
}

/* SCR (RFC 6076) = completed sessions (answered, ACKed, ended by BYE) /
 * INVITEs: 4/11 on carrier-a, 1/2 on carrier-b. */
Test(kpis, scr, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    double completed = count(p, "siptap_trunk_completed_calls_total{" OUT("carrier-a") "}");
    cr_assert_eq(completed, 4, "%s", p);
    NEAR(completed / seizures(p, "carrier-a"), 4.0 / 11);
    json_t *a = stats_of(&run, "carrier-a");
    cr_assert_eq(num(a, "completed"), 4);
    NEAR(num(a, "scr"), 4.0 / 11);
    NEAR(num(stats_of(&run, "carrier-b"), "scr"), 0.5);
}

#define RRD "siptap_registration_request_delay_seconds"

/* RRD (RFC 6076) = first REGISTER of an attempt to its 2xx, the 401 and the
 * REGISTER with credentials inside: 60 ms for 3001 and 3002 on carrier-a
 * (3003 failed: no RRD), 60 ms for 4001 on carrier-b. */
Test(kpis, rrd, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    cr_assert_eq(sample(p, RRD "_count{trunk=\"carrier-a\"}"), 2, "%s", p);
    NEAR(sample(p, RRD "_sum{trunk=\"carrier-a\"}"), 0.12);
    cr_assert_eq(sample(p, RRD "_bucket{trunk=\"carrier-a\",le=\"0.05\"}"), 0);
    cr_assert_eq(sample(p, RRD "_bucket{trunk=\"carrier-a\",le=\"0.1\"}"), 2);
    cr_assert_eq(sample(p, RRD "_count{trunk=\"carrier-b\"}"), 1);
    NEAR(num(stats_of(&run, "carrier-a"), "rrd_ms"), 60.0);
    NEAR(num(stats_of(&run, "carrier-b"), "rrd_ms"), 60.0);
    /* Where each binding stands at the end. */
    cr_assert_eq(sample(p, "siptap_registrations{state=\"registered\"}"), 3);
    cr_assert_eq(sample(p, "siptap_registrations{state=\"failed\"}"), 1);
    cr_assert_eq(sample(p, "siptap_registrations{state=\"challenged\"}"), 0);
    cr_assert_eq(sample(p, "siptap_registrations{state=\"pending\"}"), 0);
}

#define ATTEMPTS "siptap_registration_attempts_total"

/* IRA (RFC 6076) = attempts ended by a final 3xx-6xx other than a
 * challenge / attempts: 3003's 403 of 3 attempts on carrier-a, 0 of 1 on
 * carrier-b. */
Test(kpis, ira, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    double failed = count(p, ATTEMPTS "{trunk=\"carrier-a\",outcome=\"failed\"}");
    double all = failed + count(p, ATTEMPTS "{trunk=\"carrier-a\",outcome=\"registered\"}") +
                 count(p, ATTEMPTS "{trunk=\"carrier-a\",outcome=\"unregistered\"}");
    cr_assert_eq(all, 3, "%s", p);
    NEAR(failed / all, 1.0 / 3);
    json_t *a = stats_of(&run, "carrier-a"), *b = stats_of(&run, "carrier-b");
    cr_assert_eq(num(a, "registration_attempts"), 3);
    NEAR(num(a, "ira"), 1.0 / 3);
    cr_assert_eq(num(b, "registration_attempts"), 1);
    NEAR(num(b, "ira"), 0.0);
}

/* The audio streams of the answered calls at their end: two per call, 8
 * on carrier-a (a-ok-1's telephone-event stream is not audio), 2 on
 * carrier-b; a-direct's two lose 1 packet in 25 (0.03 < 0.04 <= 0.05), the
 * others none. The sums agree with call_end's streams. */
Test(kpis, streams, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    cr_assert_eq(sample(p, HIST("siptap_stream_mos", "carrier-a", "count")), 8, "%s", p);
    cr_assert_eq(sample(p, HIST("siptap_stream_mos", "carrier-b", "count")), 2);
    cr_assert_eq(sample(p, BUCKET("siptap_stream_loss_ratio", "carrier-a", "0")), 6);
    cr_assert_eq(sample(p, BUCKET("siptap_stream_loss_ratio", "carrier-a", "0.03")), 6);
    cr_assert_eq(sample(p, BUCKET("siptap_stream_loss_ratio", "carrier-a", "0.05")), 8);
    cr_assert_eq(sample(p, BUCKET("siptap_stream_jitter_seconds", "carrier-a", "0.001")), 8);
    double mos = 0, loss = 0;
    int audio = 0;
    json_t *ev, *st;
    size_t i, k;
    json_array_foreach(run.events, i, ev)
    {
        const char *t = json_string_value(json_object_get(ev, "trunk"));
        if (strcmp(json_string_value(json_object_get(ev, "type")), "call_end") != 0 || !t ||
            strcmp(t, "carrier-a") != 0)
            continue;
        json_array_foreach(json_object_get(ev, "streams"), k, st)
        {
            const char *codec = json_string_value(json_object_get(st, "codec"));
            if (codec && strcmp(codec, "telephone-event") == 0)
                continue;
            mos += num(st, "mos");
            loss += num(st, "loss_pct") / 100;
            audio++;
        }
    }
    cr_assert_eq(audio, 8);
    cr_assert(fabs(sample(p, HIST("siptap_stream_mos", "carrier-a", "sum")) - mos) < 8 * 0.01);
    cr_assert(fabs(sample(p, HIST("siptap_stream_loss_ratio", "carrier-a", "sum")) - loss) <
              8 * 1e-4);
}

/* Alerts (warning and above) by type and trunk: call_fail for 480, 503, 404,
 * 302 and the timeout on carrier-a (486 and 487 are notices), the failover
 * on carrier-b, the 403 to credentials' registration_loop on carrier-a,
 * late's call_fail, of no trunk ("none"). */
Test(kpis, alerts, .init = setup_replay, .fini = teardown_replay)
{
    const char *p = run.page;
    cr_assert_eq(sample(p, "siptap_alerts_total{type=\"call_fail\",trunk=\"carrier-a\"}"), 5, "%s",
                 p);
    cr_assert_eq(sample(p, "siptap_alerts_total{type=\"trunk_failover\",trunk=\"carrier-b\"}"), 1);
    cr_assert_eq(sample(p, "siptap_alerts_total{type=\"registration_loop\",trunk=\"carrier-a\"}"),
                 1);
    cr_assert_eq(sample(p, "siptap_alerts_total{type=\"call_fail\",trunk=\"none\"}"), 1);
    /* The trunk_stats are info, no alert. */
    cr_assert_eq(strstr(p, "type=\"trunk_stats\",trunk="), NULL);
}

/* Every new family is on the page with samples, and promtool finds nothing
 * to say about it. */
Test(kpis, page_passes_promtool, .init = setup_replay, .fini = teardown_replay)
{
    static const char *const families[] = {
        "siptap_trunk_setup_seconds",
        "siptap_trunk_setup_failed_seconds",
        "siptap_trunk_pdd_seconds",
        "siptap_trunk_call_duration_seconds",
        "siptap_trunk_disconnect_seconds",
        "siptap_stream_mos",
        "siptap_stream_loss_ratio",
        "siptap_stream_jitter_seconds",
        "siptap_registration_request_delay_seconds",
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char t[200];
        snprintf(t, sizeof(t), "# TYPE %s histogram\n%s_bucket{", families[i], families[i]);
        cr_assert(strstr(run.page, t), "%s: no samples", families[i]);
    }
    cr_assert(strstr(run.page, "# TYPE siptap_registrations gauge\nsiptap_registrations{"));
    cr_assert(strstr(run.page, "# TYPE siptap_registration_attempts_total counter\n"
                               "siptap_registration_attempts_total{"));
    cr_assert(strstr(run.page, "# TYPE siptap_alerts_total counter\nsiptap_alerts_total{"));
    cr_assert(strstr(run.page, "# TYPE siptap_trunk_completed_calls_total counter\n"
                               "siptap_trunk_completed_calls_total{"));
    if (!ops_promtool())
        cr_skip_test("promtool not found on PATH (Debian package prometheus)");
    int status;
    char *lint = ops_promtool_check(run.prom, &status);
    cr_assert_str_eq(lint, "", "promtool check metrics found problems:\n%s", lint);
    cr_assert_eq(status, 0);
    free(lint);
}

/* Every 60 s of capture time: carrier-a and carrier-b each interval, idle
 * or not (at 60, 120 and 180 s, then the last, partial one at the end,
 * 200.06 s); the peer 192.0.2.98 only in the interval of its call. Each
 * call counts in the interval it ended in: a-timeout (188.01 s) in the
 * last, every other call of carrier-a in the first. */
Test(kpis, intervals_on_capture_time)
{
    struct replay r;
    replay(&r, 60);
    static const char *const ends[] = {"2024-01-01T00:01:00.000000Z", "2024-01-01T00:02:00.000000Z",
                                       "2024-01-01T00:03:00.000000Z",
                                       "2024-01-01T00:03:20.060000Z"};
    static const int a_attempts[] = {10, 0, 0, 1};
    static const int b_attempts[] = {2, 0, 0, 0};
    int a = 0, b = 0, peer = 0;
    json_t *ev;
    size_t i;
    json_array_foreach(r.events, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "type")), "trunk_stats") != 0)
            continue;
        const char *t = json_string_value(json_object_get(ev, "trunk"));
        const char *ts = json_string_value(json_object_get(ev, "ts"));
        cr_assert_str_eq(json_string_value(json_object_get(ev, "severity")), "info");
        if (!t) {
            cr_assert_str_eq(json_string_value(json_object_get(ev, "peer")), "192.0.2.98");
            cr_assert_str_eq(ts, ends[3]);
            cr_assert_eq(num(ev, "attempts"), 1);
            peer++;
        } else if (strcmp(t, "carrier-a") == 0) {
            cr_assert_lt(a, 4);
            cr_assert_str_eq(ts, ends[a]);
            cr_assert_eq(num(ev, "attempts"), a_attempts[a], "interval %d", a);
            if (a_attempts[a] == 0)
                cr_assert(json_is_null(json_object_get(ev, "asr")));
            a++;
        } else {
            cr_assert_str_eq(t, "carrier-b");
            cr_assert_lt(b, 4);
            cr_assert_str_eq(ts, ends[b]);
            cr_assert_eq(num(ev, "attempts"), b_attempts[b]);
            b++;
        }
    }
    cr_assert_eq(a, 4);
    cr_assert_eq(b, 4);
    cr_assert_eq(peer, 1);
    replay_free(&r);
}

/* trunk_stats_interval_s = 0: none at all; the page is the same. */
Test(kpis, interval_zero_is_off)
{
    struct replay r;
    replay(&r, 0);
    json_t *ev;
    size_t i;
    json_array_foreach(r.events, i, ev)
    {
        cr_assert_str_neq(json_string_value(json_object_get(ev, "type")), "trunk_stats");
    }
    cr_assert_eq(sample(r.page, HIST(SETUP, "carrier-a", "count")), 8);
    replay_free(&r);
}

/* What the main capture has none of: a de-registration (Expires 0, its 200
 * retransmitted), a REGISTER never answered, a registrar of no trunk, and a
 * BYE whose 200 is retransmitted. */
static const char registrations[] =
    "sip-udp t=1 src=192.0.2.60:5060 dst=" A "\n"
    "REGISTER sip:203.0.113.10 SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.60:5060;branch=z9hG4bKu1\n"
    "From: <sip:5001@203.0.113.10>;tag=u1\n"
    "To: <sip:5001@203.0.113.10>\n"
    "Call-ID: unreg-1@kpis\n"
    "CSeq: 1 REGISTER\n"
    "Contact: <sip:5001@192.0.2.60:5060>\n"
    "Expires: 0\n"
    ".\n"
    "sip-udp t=1.03 src=" A " dst=192.0.2.60:5060\n"
    "SIP/2.0 200 OK\n"
    "Via: SIP/2.0/UDP 192.0.2.60:5060;branch=z9hG4bKu1\n"
    "From: <sip:5001@203.0.113.10>;tag=u1\n"
    "To: <sip:5001@203.0.113.10>;tag=r1\n"
    "Call-ID: unreg-1@kpis\n"
    "CSeq: 1 REGISTER\n"
    "Expires: 0\n"
    ".\n"
    "sip-udp t=1.53 src=" A " dst=192.0.2.60:5060\n"
    "SIP/2.0 200 OK\n"
    "Via: SIP/2.0/UDP 192.0.2.60:5060;branch=z9hG4bKu1\n"
    "From: <sip:5001@203.0.113.10>;tag=u1\n"
    "To: <sip:5001@203.0.113.10>;tag=r1\n"
    "Call-ID: unreg-1@kpis\n"
    "CSeq: 1 REGISTER\n"
    "Expires: 0\n"
    ".\n"
    "sip-udp t=2 src=192.0.2.61:5060 dst=" A "\n"
    "REGISTER sip:203.0.113.10 SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.61:5060;branch=z9hG4bKp1\n"
    "From: <sip:5002@203.0.113.10>;tag=p1\n"
    "To: <sip:5002@203.0.113.10>\n"
    "Call-ID: pending-1@kpis\n"
    "CSeq: 1 REGISTER\n"
    "Contact: <sip:5002@192.0.2.61:5060>\n"
    "Expires: 3600\n"
    ".\n"
    "register ua=192.0.2.50:5060 registrar=192.0.2.200:5060 user=6001 start=3\n"
    "call " C "callee=" A " id=d-1 start=4 ring=0.5 talk=1 no-bye rtp=none\n"
    "sip-udp t=10 src=192.0.2.10:5060 dst=" A "\n"
    "BYE sip:bob@203.0.113.10 SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKb1\n"
    "From: <sip:alice@192.0.2.10>;tag=x\n"
    "To: <sip:bob@203.0.113.10>;tag=y\n"
    "Call-ID: d-1\n"
    "CSeq: 9 BYE\n"
    ".\n"
    "sip-udp t=10.02 src=" A " dst=192.0.2.10:5060\n"
    "SIP/2.0 200 OK\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKb1\n"
    "From: <sip:alice@192.0.2.10>;tag=x\n"
    "To: <sip:bob@203.0.113.10>;tag=y\n"
    "Call-ID: d-1\n"
    "CSeq: 9 BYE\n"
    ".\n"
    "sip-udp t=10.52 src=" A " dst=192.0.2.10:5060\n"
    "SIP/2.0 200 OK\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKb1\n"
    "From: <sip:alice@192.0.2.10>;tag=x\n"
    "To: <sip:bob@203.0.113.10>;tag=y\n"
    "Call-ID: d-1\n"
    "CSeq: 9 BYE\n"
    ".\n";

/* 5001 unregistered (its retransmitted 200 is not a second attempt, and a
 * de-registration has no RRD), 5002 pending, 6001 registered at a
 * registrar of no trunk ("none"); d-1's BYE answered in 20 ms, once. */
Test(kpis, registration_states_and_retransmitted_final_responses)
{
    struct replay r;
    replay_scenario(&r, registrations, 3600);
    const char *p = r.page;
    cr_assert_eq(sample(p, "siptap_registrations{state=\"unregistered\"}"), 1, "%s", p);
    cr_assert_eq(sample(p, "siptap_registrations{state=\"pending\"}"), 1);
    cr_assert_eq(sample(p, "siptap_registrations{state=\"registered\"}"), 1);
    cr_assert_eq(sample(p, ATTEMPTS "{trunk=\"carrier-a\",outcome=\"unregistered\"}"), 1);
    cr_assert_eq(sample(p, ATTEMPTS "{trunk=\"none\",outcome=\"registered\"}"), 1);
    cr_assert_eq(sample(p, RRD "_count{trunk=\"carrier-a\"}"), -1);
    cr_assert_eq(sample(p, RRD "_count{trunk=\"none\"}"), 1);
    cr_assert_eq(sample(p, HIST(SDD, "carrier-a", "count")), 1);
    NEAR(sample(p, HIST(SDD, "carrier-a", "sum")), 0.02);
    json_t *a = stats_of(&r, "carrier-a");
    cr_assert_eq(num(a, "registration_attempts"), 1);
    NEAR(num(a, "ira"), 0.0);
    cr_assert(json_is_null(json_object_get(a, "rrd_ms")));
    NEAR(num(a, "sdd_ms"), 20.0);
    replay_free(&r);
}

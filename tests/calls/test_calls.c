/*
 * Tests of calls/: the dialog state machine fed with hand-built sip_msg
 * values (no parser involved), checking the exact events published.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "calls/calls.h"
#include "tests/support/event_capture.h"

struct fixture {
    struct counters counters;
    struct timerq timers;
    struct event_bus bus;
    struct trunk_list trunks;
    struct call_table *table;
    struct event_capture *events;
};

static struct fixture fx;

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    counters_init(&fx.counters);
    timerq_init(&fx.timers);
    event_bus_init(&fx.bus, "test");
    fx.events = event_capture_attach(&fx.bus);
    struct trunk_config *tr = &fx.trunks.trunks[fx.trunks.count++];
    snprintf(tr->name, sizeof(tr->name), "acme");
    net_prefix_parse(&tr->prefixes[tr->prefix_count++], "203.0.113.0/24");
    struct call_limits limits;
    call_limits_defaults(&limits);
    limits.max_calls = 4;
    fx.table = call_table_new(&limits, &fx.trunks, &fx.counters, &fx.timers, &fx.bus);
    cr_assert_not_null(fx.table);
}

static void teardown(void)
{
    call_table_free(fx.table);
    event_bus_destroy(&fx.bus);
    timerq_destroy(&fx.timers);
}

#define T0  1700000000000000ULL
#define SEC 1000000ULL

static const char *TRUNK_EP = "203.0.113.10";
static const char *PBX_EP = "198.51.100.20";

static struct endpoint ep(const char *ip, uint16_t port)
{
    struct endpoint e = {.port = port};
    net_addr_parse(&e.addr, ip);
    return e;
}

struct dialog {
    const char *call_id;
    const char *caller_ip, *callee_ip;
    const char *from_tag, *to_tag;
};

static struct sip_msg base_msg(const struct dialog *d, uint32_t cseq, enum sip_method method)
{
    struct sip_msg m;
    memset(&m, 0, sizeof(m));
    m.method = method;
    snprintf(m.method_name, sizeof(m.method_name), "%s", sip_method_name(method));
    snprintf(m.call_id, sizeof(m.call_id), "%s", d->call_id);
    snprintf(m.from_user, sizeof(m.from_user), "+15551230000");
    snprintf(m.to_user, sizeof(m.to_user), "+15559870000");
    snprintf(m.from_tag, sizeof(m.from_tag), "%s", d->from_tag);
    m.cseq = cseq;
    m.expires = -1;
    return m;
}

static void feed(const struct sip_msg *m, const char *src, const char *dst, uint64_t ts)
{
    struct sip_meta meta = {.ts_us = ts, .src = ep(src, 5060), .dst = ep(dst, 5060)};
    timerq_advance(&fx.timers, ts);
    call_table_sip(fx.table, m, &meta);
}

static void request(const struct dialog *d, enum sip_method method, uint32_t cseq,
                    const char *branch, bool in_dialog, bool from_callee, uint64_t ts)
{
    struct sip_msg m = base_msg(d, cseq, method);
    m.is_request = true;
    snprintf(m.via_branch, sizeof(m.via_branch), "%s", branch);
    if (in_dialog)
        snprintf(m.to_tag, sizeof(m.to_tag), "%s", d->to_tag);
    if (from_callee) {
        snprintf(m.from_tag, sizeof(m.from_tag), "%s", d->to_tag);
        snprintf(m.to_tag, sizeof(m.to_tag), "%s", d->from_tag);
        feed(&m, d->callee_ip, d->caller_ip, ts);
    } else {
        feed(&m, d->caller_ip, d->callee_ip, ts);
    }
}

static void response(const struct dialog *d, enum sip_method method, uint32_t cseq, int status,
                     const char *reason, const char *to_tag, uint64_t ts)
{
    struct sip_msg m = base_msg(d, cseq, method);
    m.status = status;
    snprintf(m.reason, sizeof(m.reason), "%s", reason);
    if (to_tag)
        snprintf(m.to_tag, sizeof(m.to_tag), "%s", to_tag);
    feed(&m, d->callee_ip, d->caller_ip, ts);
}

static json_t *field(json_t *ev, const char *name)
{
    cr_assert_not_null(ev);
    return json_object_get(ev, name);
}

TestSuite(calls, .init = setup, .fini = teardown);

/* "k1,k2,..." of an event's members, in their order. */
static const char *keys_of(json_t *ev)
{
    static char buf[512];
    buf[0] = '\0';
    for (void *it = json_object_iter(ev); it; it = json_object_iter_next(ev, it)) {
        size_t used = strlen(buf);
        snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "," : "", json_object_iter_key(it));
    }
    return buf;
}

Test(calls, normal_inbound_call)
{
    struct dialog d = {"call-1@trunk", "203.0.113.10", "198.51.100.20", "ft1", "tt1"};
    request(&d, SIP_METHOD_INVITE, 1, "z9hG4bK1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 100, "Trying", NULL, T0 + 10000);
    response(&d, SIP_METHOD_INVITE, 1, 180, "Ringing", "tt1", T0 + 1 * SEC);
    response(&d, SIP_METHOD_INVITE, 1, 200, "OK", "tt1", T0 + 3 * SEC);
    request(&d, SIP_METHOD_ACK, 1, "z9hG4bK2", true, false, T0 + 3 * SEC + 20000);
    request(&d, SIP_METHOD_BYE, 2, "z9hG4bK3", true, true, T0 + 33 * SEC);
    response(&d, SIP_METHOD_BYE, 2, 200, "OK", "tt1", T0 + 33 * SEC + 5000);

    cr_assert_str_eq(event_capture_types(fx.events), "call_start,call_answer,call_end");
    json_t *start = event_capture_find(fx.events, "call_start", 0);
    cr_assert_str_eq(json_string_value(field(start, "direction")), "inbound");
    cr_assert_str_eq(json_string_value(field(start, "trunk")), "acme");
    cr_assert_str_eq(json_string_value(field(start, "from")), "+15551230000");
    cr_assert_str_eq(json_string_value(field(start, "to")), "+15559870000");
    cr_assert_str_eq(json_string_value(field(start, "src")), "203.0.113.10:5060");
    cr_assert_str_eq(json_string_value(field(start, "dst")), "198.51.100.20:5060");
    cr_assert_str_eq(json_string_value(field(start, "call_id")), "call-1@trunk");
    json_t *answer = event_capture_find(fx.events, "call_answer", 0);
    cr_assert_eq(json_integer_value(field(answer, "setup_ms")), 3000);
    cr_assert_eq(json_integer_value(field(answer, "pdd_ms")), 1000);
    json_t *end = event_capture_find(fx.events, "call_end", 0);
    cr_assert_str_eq(json_string_value(field(end, "reason")), "bye");
    cr_assert_float_eq(json_real_value(field(end, "duration_s")), 30.0, 1e-6);
    cr_assert(json_is_array(field(end, "streams")));
    cr_assert_eq(call_table_active(fx.table), 0);
    /* Fields come in the order docs/events.md shows. */
    cr_assert_str_eq(keys_of(start),
                     "v,type,ts,severity,call_id,trunk,seq,tap,from,to,src,dst,direction");
    cr_assert_str_eq(keys_of(answer),
                     "v,type,ts,severity,call_id,trunk,seq,tap,setup_ms,pdd_ms,direction");
    cr_assert_str_eq(keys_of(end), "v,type,ts,severity,call_id,trunk,seq,tap,reason,duration_s,"
                                   "streams,direction,status,from,to,request_user,src,dst,"
                                   "invite_ts,ringing_ts,answer_ts,end_ts,final_status,q850_cause,"
                                   "setup_ms,pdd_ms,bye_from,media");
    (void)TRUNK_EP;
    (void)PBX_EP;
}

/* A challenge answered by a new INVITE is not the call's final response:
 * the retry still ringing when the capture ends has none (status absent,
 * final_status null). It used to say 407. */
Test(calls, answered_challenge_is_no_final_status)
{
    struct dialog d = {"call-407", "198.51.100.20", "203.0.113.10", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 407, "Proxy Authentication Required", "x", T0 + 20000);
    request(&d, SIP_METHOD_ACK, 1, "br1", false, false, T0 + 30000);
    request(&d, SIP_METHOD_INVITE, 2, "br2", false, false, T0 + 40000);
    response(&d, SIP_METHOD_INVITE, 2, 180, "Ringing", "b", T0 + SEC);
    call_table_close_all(fx.table, T0 + 5 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "call_start,call_end");
    json_t *end = event_capture_find(fx.events, "call_end", 0);
    cr_assert_str_eq(json_string_value(field(end, "reason")), "capture_end");
    cr_assert_null(json_object_get(end, "status"));
    cr_assert(json_is_null(field(end, "final_status")));
    /* from the first INVITE, as call_answer measures it */
    cr_assert_eq(json_integer_value(field(end, "pdd_ms")), 1000);
}

Test(calls, retransmitted_invite_is_not_a_new_request)
{
    struct dialog d = {"call-2", "198.51.100.20", "203.0.113.10", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "z9hG4bKx", false, false, T0);
    request(&d, SIP_METHOD_INVITE, 1, "z9hG4bKx", false, false, T0 + 500000);
    request(&d, SIP_METHOD_INVITE, 1, "z9hG4bKx", false, false, T0 + 1500000);
    cr_assert_eq(event_capture_count_type(fx.events, "call_start"), 1);
    cr_assert_eq(counters_get(&fx.counters, "calls.invite_retransmissions"), 2);
    json_t *start = event_capture_find(fx.events, "call_start", 0);
    cr_assert_str_eq(json_string_value(field(start, "direction")), "outbound");
}

Test(calls, challenge_then_success_is_one_call_without_failure)
{
    struct dialog d = {"call-3", "198.51.100.20", "203.0.113.10", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 407, "Proxy Authentication Required", "x", T0 + 20000);
    request(&d, SIP_METHOD_ACK, 1, "br1", false, false, T0 + 30000);
    request(&d, SIP_METHOD_INVITE, 2, "br2", false, false, T0 + 40000);
    response(&d, SIP_METHOD_INVITE, 2, 200, "OK", "b", T0 + 2 * SEC);
    request(&d, SIP_METHOD_ACK, 2, "br3", true, false, T0 + 2 * SEC + 1000);
    request(&d, SIP_METHOD_BYE, 3, "br4", true, false, T0 + 10 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "call_start,call_answer,call_end");
    json_t *answer = event_capture_find(fx.events, "call_answer", 0);
    cr_assert_eq(json_integer_value(field(answer, "setup_ms")), 2000);
    cr_assert(json_is_null(field(answer, "pdd_ms")));
}

/* The wait is challenge_wait_s (90 s) from the challenge. */
Test(calls, unanswered_challenge_fails_after_wait)
{
    struct dialog d = {"call-4", "198.51.100.20", "203.0.113.10", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 401, "Unauthorized", "x", T0 + 20000);
    timerq_advance(&fx.timers, T0 + 90 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "call_start");
    timerq_advance(&fx.timers, T0 + 91 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "call_start,call_fail,call_end");
    json_t *fail = event_capture_find(fx.events, "call_fail", 0);
    cr_assert_eq(json_integer_value(field(fail, "status")), 401);
    cr_assert_str_eq(
        json_string_value(field(event_capture_find(fx.events, "call_end", 0), "reason")), "failed");
}

/* A retry with credentials (new CSeq and branch, no To-tag). */
static void invite_with_credentials(const struct dialog *d, uint32_t cseq, const char *branch,
                                    uint64_t ts)
{
    struct sip_msg m = base_msg(d, cseq, SIP_METHOD_INVITE);
    m.is_request = true;
    snprintf(m.via_branch, sizeof(m.via_branch), "%s", branch);
    m.has_credentials = true;
    snprintf(m.credentials_realm, sizeof(m.credentials_realm), "sip.example");
    m.credentials_response_hash = 0x5eed;
    feed(&m, d->caller_ip, d->callee_ip, ts);
}

/* sngrep's aaa.pcap, frames 321-349: a softphone whose user types the
 * password. 407 at 1.65 s, ACK, the retry with credentials 32.5 s after
 * the challenge, 403. The call failed with the 403, once: the retry came
 * within challenge_wait_s, so neither the 407 nor a second call is seen. */
Test(calls, late_retry_after_a_challenge_keeps_the_final_status)
{
    struct dialog d = {"85216695-42dcdb1d@192.168.1.2", "192.168.1.2", "212.242.33.35", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 407, "authentication required", "x", T0 + 1654269);
    request(&d, SIP_METHOD_ACK, 1, "br1", false, false, T0 + 1726615);
    invite_with_credentials(&d, 2, "br2", T0 + 34129153);
    response(&d, SIP_METHOD_INVITE, 2, 403, "Wrong password or domain", "y", T0 + 34333713);
    request(&d, SIP_METHOD_ACK, 2, "br2", false, false, T0 + 34386493);
    timerq_advance(&fx.timers, T0 + 300 * SEC);
    cr_assert_str_eq(event_capture_types(fx.events), "call_start,call_fail,call_end");
    json_t *fail = event_capture_find(fx.events, "call_fail", 0);
    cr_assert_eq(json_integer_value(field(fail, "status")), 403);
    cr_assert_str_eq(json_string_value(field(fail, "reason")), "Wrong password or domain");
    json_t *end = event_capture_find(fx.events, "call_end", 0);
    cr_assert_eq(json_integer_value(field(end, "status")), 403);
    cr_assert_str_eq(json_string_value(field(end, "reason")), "failed");
    cr_assert_eq(counters_get(&fx.counters, "calls.late_messages"), 0);
    cr_assert_eq(counters_get(&fx.counters, "calls.challenge_answered_late"), 0);
}

/* The same call answered 51 s after the challenge (aaa.pcap's second one). */
Test(calls, retry_51_s_after_the_challenge_is_the_same_call)
{
    struct dialog d = {"24487391-449bf2a0@192.168.1.2", "192.168.1.2", "212.242.33.35", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 407, "authentication required", "x", T0 + 154093);
    invite_with_credentials(&d, 2, "br2", T0 + 51334057);
    response(&d, SIP_METHOD_INVITE, 2, 100, "Trying", NULL, T0 + 51508241);
    response(&d, SIP_METHOD_INVITE, 2, 403, "Wrong password or domain", "y", T0 + 51527910);
    cr_assert_str_eq(event_capture_types(fx.events), "call_start,call_fail,call_end");
    cr_assert_eq(json_integer_value(field(event_capture_find(fx.events, "call_fail", 0), "status")),
                 403);
    cr_assert_eq(counters_get(&fx.counters, "calls.late_messages"), 0);
}

/* A retry later than challenge_wait_s finds the call failed with its
 * challenge: counted apart, so the operator knows to raise the wait. */
Test(calls, retry_after_the_wait_is_counted)
{
    struct dialog d = {"call-late", "198.51.100.20", "203.0.113.10", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 407, "Proxy Authentication Required", "x", T0 + 20000);
    invite_with_credentials(&d, 2, "br2", T0 + 100 * SEC);
    response(&d, SIP_METHOD_INVITE, 2, 403, "Forbidden", "y", T0 + 100 * SEC + 20000);
    cr_assert_str_eq(event_capture_types(fx.events), "call_start,call_fail,call_end");
    cr_assert_eq(json_integer_value(field(event_capture_find(fx.events, "call_fail", 0), "status")),
                 407);
    cr_assert_eq(counters_get(&fx.counters, "calls.challenge_answered_late"), 1);
    cr_assert_eq(counters_get(&fx.counters, "calls.late_messages"), 2);
}

Test(calls, cancel_gives_487_fail_and_cancel_end)
{
    struct dialog d = {"call-5", "203.0.113.10", "198.51.100.20", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 180, "Ringing", "b", T0 + SEC);
    request(&d, SIP_METHOD_CANCEL, 1, "br1", false, false, T0 + 5 * SEC);
    response(&d, SIP_METHOD_CANCEL, 1, 200, "OK", "b", T0 + 5 * SEC + 1000);
    response(&d, SIP_METHOD_INVITE, 1, 487, "Request Terminated", "b", T0 + 5 * SEC + 2000);
    cr_assert_str_eq(event_capture_types(fx.events), "call_start,call_fail,call_end");
    json_t *fail = event_capture_find(fx.events, "call_fail", 0);
    cr_assert_eq(json_integer_value(field(fail, "status")), 487);
    cr_assert_str_eq(json_string_value(field(fail, "severity")), "notice");
    cr_assert_str_eq(json_string_value(field(fail, "direction")), "inbound");
    json_t *end = event_capture_find(fx.events, "call_end", 0);
    cr_assert_str_eq(json_string_value(field(end, "reason")), "cancel");
    cr_assert(json_is_null(field(end, "duration_s")));
}

Test(calls, failures_404_486_488_503)
{
    const int codes[] = {404, 486, 488, 503};
    const char *sev[] = {"warning", "notice", "warning", "warning"};
    for (int i = 0; i < 4; i++) {
        char id[32];
        snprintf(id, sizeof(id), "fail-%d", codes[i]);
        struct dialog d = {id, "203.0.113.10", "198.51.100.20", "a", "b"};
        request(&d, SIP_METHOD_INVITE, 1, "br", false, false, T0 + (uint64_t)i * SEC);
        response(&d, SIP_METHOD_INVITE, 1, codes[i], "x", "b", T0 + (uint64_t)i * SEC + 1000);
        json_t *fail = event_capture_find(fx.events, "call_fail", (size_t)i);
        cr_assert_eq(json_integer_value(field(fail, "status")), codes[i]);
        cr_assert_str_eq(json_string_value(field(fail, "severity")), sev[i]);
        json_t *end = event_capture_find(fx.events, "call_end", (size_t)i);
        cr_assert_str_eq(json_string_value(field(end, "reason")), "failed");
    }
}

Test(calls, timer_b_timeout_is_408)
{
    struct dialog d = {"call-6", "198.51.100.20", "203.0.113.10", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0 + SEC / 2);
    timerq_advance(&fx.timers, T0 + 31 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "call_fail"), 0);
    timerq_advance(&fx.timers, T0 + 33 * SEC);
    json_t *fail = event_capture_find(fx.events, "call_fail", 0);
    cr_assert_eq(json_integer_value(field(fail, "status")), 408);
    cr_assert_str_eq(
        json_string_value(field(event_capture_find(fx.events, "call_end", 0), "reason")),
        "timeout");
}

Test(calls, forking_and_capture_end)
{
    struct dialog d = {"call-7", "198.51.100.20", "203.0.113.10", "a", "b2"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 180, "Ringing", "b1", T0 + SEC);
    response(&d, SIP_METHOD_INVITE, 1, 180, "Ringing", "b2", T0 + SEC + 1000);
    response(&d, SIP_METHOD_INVITE, 1, 200, "OK", "b2", T0 + 4 * SEC);
    struct call *c = call_table_find(fx.table, "call-7");
    cr_assert_not_null(c);
    cr_assert_eq(c->forks, 2);
    cr_assert_str_eq(c->party[CALL_CALLEE].tag, "b2");
    /* 2xx retransmitted without ACK */
    response(&d, SIP_METHOD_INVITE, 1, 200, "OK", "b2", T0 + 4 * SEC + 500000);
    response(&d, SIP_METHOD_INVITE, 1, 200, "OK", "b2", T0 + 5 * SEC + 500000);
    cr_assert_eq(c->ok_retransmits, 2);
    cr_assert_eq(c->state, CALL_STATE_ANSWERED);
    call_table_close_all(fx.table, T0 + 10 * SEC);
    json_t *end = event_capture_find(fx.events, "call_end", 0);
    cr_assert_str_eq(json_string_value(field(end, "reason")), "capture_end");
    cr_assert_float_eq(json_real_value(field(end, "duration_s")), 6.0, 1e-6);
}

Test(calls, eviction_when_table_full)
{
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof(id), "evict-%d", i);
        struct dialog d = {id, "198.51.100.20", "203.0.113.10", "a", "b"};
        request(&d, SIP_METHOD_INVITE, 1, "br", false, false, T0 + (uint64_t)i * 1000);
    }
    cr_assert_eq(counters_get(&fx.counters, "calls.evicted"), 1);
    json_t *end = event_capture_find(fx.events, "call_end", 0);
    cr_assert_str_eq(json_string_value(field(end, "call_id")), "evict-0");
    cr_assert_str_eq(json_string_value(field(end, "reason")), "evicted");
    cr_assert_null(call_table_find(fx.table, "evict-0"));
    cr_assert_not_null(call_table_find(fx.table, "evict-4"));
}

Test(calls, silent_answered_call_times_out)
{
    struct dialog d = {"call-8", "198.51.100.20", "203.0.113.10", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 200, "OK", "b", T0 + SEC);
    request(&d, SIP_METHOD_ACK, 1, "br2", true, false, T0 + SEC + 1000);
    timerq_advance(&fx.timers, T0 + 200 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "call_end"), 0);
    timerq_advance(&fx.timers, T0 + 302 * SEC);
    json_t *end = event_capture_find(fx.events, "call_end", 0);
    cr_assert_str_eq(json_string_value(field(end, "reason")), "timeout");
}

Test(calls, ringing_without_final_times_out)
{
    struct dialog d = {"call-9", "203.0.113.10", "198.51.100.20", "a", "b"};
    request(&d, SIP_METHOD_INVITE, 1, "br1", false, false, T0);
    response(&d, SIP_METHOD_INVITE, 1, 180, "Ringing", "b", T0 + SEC);
    timerq_advance(&fx.timers, T0 + 100 * SEC);
    cr_assert_eq(event_capture_count_type(fx.events, "call_fail"), 0, "timer B stops at 1xx");
    timerq_advance(&fx.timers, T0 + 182 * SEC);
    json_t *fail = event_capture_find(fx.events, "call_fail", 0);
    cr_assert_eq(json_integer_value(field(fail, "status")), 408);
    cr_assert_str_eq(
        json_string_value(field(event_capture_find(fx.events, "call_end", 0), "reason")),
        "timeout");
}

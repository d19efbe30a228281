/*
 * In-process tests of the sinks: each test owns an event bus and a libev
 * loop, publishes events and drives the loop until the transport has them.
 * Servers are real (redis-server on a free loopback port, librdkafka's mock
 * cluster, an AF_UNIX datagram socket standing in for /dev/log).
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <sys/un.h>

#include "helpers.h"
#include "outputs/alert.h"
#include "outputs/event.h"
#include "outputs/sink.h"

static uint64_t test_ts = 1775124930123456ull; /* 2026-04-02T10:15:30.123456Z */

/* ---- malformed -o forms ---- */

static void expect_bad(const char *spec, const char *needle)
{
    struct sink_options o;
    sink_options_defaults(&o);
    char err[512] = "";
    struct sink *s = sink_create(spec, &o, err, sizeof(err));
    cr_assert_null(s, "'%s' must be refused", spec);
    cr_assert(strstr(err, needle), "message for '%s' should mention '%s', got: %s", spec, needle,
              err);
}

Test(sink_create, malformed_forms_say_the_right_form)
{
    expect_bad("redis://127.0.0.1:99999", "bad port '99999'");
    expect_bad("redis://127.0.0.1:abc", "redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME]");
    expect_bad("redis://127.0.0.1:6379?strem=x", "unknown parameter 'strem'");
    expect_bad("redis://127.0.0.1:6379/x", "bad database number");
    expect_bad("redis://:6379", "no host");
    expect_bad("redis://127.0.0.1:6379?stream=", "empty");
    expect_bad("redis://u:p@127.0.0.1:6379", "redis_password");
    expect_bad("kafka://127.0.0.1:9092", "no topic");
    expect_bad("kafka://127.0.0.1:9092/", "no topic");
    expect_bad("kafka://127.0.0.1:70000/t", "bad port '70000'");
    expect_bad("kafka://127.0.0.1/t", "needs HOST:PORT");
    expect_bad("kafka://a:1,/t", "kafka://HOST:PORT[,HOST:PORT...]/TOPIC");
    expect_bad("kafka://a:1/bad topic", "bad topic");
    expect_bad("syslog:local8", "unknown syslog facility 'local8'");
    expect_bad("syslog:", "daemon, user, local0");
    expect_bad("mqtt://x", "use one of");
}

Test(sink_create, kafka_property_error_is_reported)
{
    struct sink_options o;
    sink_options_defaults(&o);
    const char *props[] = {"no.such.property", "1", NULL};
    o.kafka_props = props;
    char err[512] = "";
    cr_assert_null(sink_create("kafka://127.0.0.1:9/t", &o, err, sizeof(err)));
    cr_assert(strstr(err, "no.such.property"), "got: %s", err);
}

/* ---- alert lines ---- */

static json_t *ev_of(const char *json)
{
    json_error_t e;
    json_t *v = json_loads(json, 0, &e);
    cr_assert_not_null(v, "bad test JSON: %s", e.text);
    return v;
}

static void expect_line(const char *json, const char *want)
{
    json_t *ev = ev_of(json);
    char buf[1024];
    size_t n = alert_format(ev, buf, sizeof(buf));
    cr_assert_eq(n, strlen(buf));
    cr_assert_str_eq(buf, want);
    json_decref(ev);
}

Test(alert, one_line_per_type)
{
    expect_line("{\"type\":\"trunk_down\",\"trunk\":\"acme-primary\",\"reason\":\"503\","
                "\"failures\":5,\"peer\":\"203.0.113.10\"}",
                "trunk acme-primary down: 5 consecutive 503 from 203.0.113.10; fix: check the "
                "carrier's status and route calls to a backup trunk");
    expect_line("{\"type\":\"trunk_up\",\"trunk\":\"acme-primary\",\"reason\":\"503\"}",
                "trunk acme-primary up again");
    expect_line(
        "{\"type\":\"one_way_audio\",\"call_id\":\"abc@h\",\"trunk\":\"t1\",\"phase\":\"start\","
        "\"silent\":{\"src\":\"198.51.100.7:4000\",\"dst\":\"10.0.0.5:20000\"},"
        "\"active\":{\"src\":\"10.0.0.5:20000\",\"dst\":\"198.51.100.7:4000\"},\"silent_s\":5,"
        "\"hint\":\"nat_private_sdp\",\"sdp_addr\":\"192.168.1.20\"}",
        "one-way audio on call abc@h (trunk t1): no RTP 198.51.100.7:4000 -> 10.0.0.5:20000 for "
        "5 s while 10.0.0.5:20000 -> 198.51.100.7:4000 flows (from the start); hint: the SDP "
        "announces the private address 192.168.1.20; fix: enable NAT handling (symmetric RTP / "
        "comedia) or set the external media address on the PBX or SBC");
    expect_line("{\"type\":\"call_drop\",\"call_id\":\"c1\",\"trunk\":null,\"cause\":"
                "\"missing_ack\",\"seconds_after_answer\":32,\"ok_retransmits\":7}",
                "call dropped on call c1 32 s after answer: cause missing_ack (7 200 OK "
                "retransmissions, no ACK); fix: the ACK does not come back - check NAT, "
                "Record-Route and the Contact of the 200 OK");
    expect_line("{\"type\":\"registration_loop\",\"aor\":\"sip:100@pbx\",\"registrar\":"
                "\"203.0.113.1:5060\",\"challenges\":12,\"window_s\":60,\"hint\":"
                "\"realm_mismatch\",\"realm_challenge\":\"a\",\"realm_response\":\"b\"}",
                "registration loop for sip:100@pbx at 203.0.113.1:5060: 12 challenges in 60 s "
                "without success; hint: realm mismatch (challenge 'a', response 'b'); fix: "
                "configure the realm the registrar asks for");
    expect_line("{\"type\":\"registration_loop\",\"aor\":\"voi18062@sip.cybercity.dk\","
                "\"registrar\":\"212.242.33.35:5060\",\"challenges\":2,\"window_s\":60,"
                "\"hint\":\"rechallenged\",\"last_reason\":\"nonce has changed\","
                "\"answer_delay_ms\":17242}",
                "registration loop for voi18062@sip.cybercity.dk at 212.242.33.35:5060: 2 "
                "challenges in 60 s without success; hint: the answer to the registrar's latest "
                "nonce was challenged again ('nonce has changed'), answered 17.2 s after the "
                "challenge; fix: check the password, then the registrar's nonce lifetime against "
                "the client's answer delay");
    expect_line("{\"type\":\"codec_mismatch\",\"call_id\":\"c2\",\"offered\":[\"PCMU\",\"G729\"],"
                "\"answered\":null,\"status\":488}",
                "codec mismatch on call c2: offered PCMU,G729, answered none (488); fix: allow a "
                "common codec on both sides (e.g. PCMA/PCMU)");
    expect_line("{\"type\":\"call_fail\",\"call_id\":\"c3\",\"trunk\":\"acme\",\"status\":503,"
                "\"reason\":\"Service Unavailable\",\"direction\":\"outbound\"}",
                "call failed (call c3): 503 Service Unavailable (outbound, trunk acme); fix: the "
                "carrier or the next hop has a problem - check its status and the trunk");
    expect_line("{\"type\":\"rtp_quality\",\"call_id\":\"c4\",\"stream\":{\"src\":\"1.2.3.4:10\","
                "\"dst\":\"5.6.7.8:20\",\"codec\":\"PCMA\",\"loss_pct\":5.25,\"jitter_max_ms\":"
                "45.1,\"mos\":3.12}}",
                "poor RTP quality on call c4: 1.2.3.4:10 -> 5.6.7.8:20 PCMA, loss 5.2%, jitter "
                "max 45.1 ms, MOS 3.1; fix: check the network path for loss and jitter (QoS "
                "marking, congested links, Wi-Fi)");
}

/* The lines an operator tripped over: trunk_failover had only a generic
 * line, a configured trunk's trunk_down named no call to look at, an
 * inbound 404 did not say which DID. The events are as siptapd publishes
 * them (a trunk pair configured, and the same traffic without trunks). */
Test(alert, trunk_failover_trunk_down_and_the_did_of_a_failed_call)
{
    expect_line("{\"type\":\"trunk_failover\",\"severity\":\"warning\",\"call_id\":\"retry1@x\","
                "\"trunk\":\"carrier-b\",\"from_trunk\":\"carrier-a\",\"to_trunk\":\"carrier-b\","
                "\"from_peer\":\"198.51.100.1\",\"to_peer\":\"198.51.100.2\",\"failed_call_id\":"
                "\"fail1@x\",\"failed_status\":503,\"number\":\"4930555\",\"after_ms\":450}",
                "trunk failover for 4930555: call fail1@x got 503 from trunk carrier-a "
                "(198.51.100.1) and was retried 450 ms later on trunk carrier-b (198.51.100.2) as "
                "call retry1@x; fix: check trunk carrier-a - its calls are going to the backup");
    expect_line("{\"type\":\"trunk_failover\",\"severity\":\"warning\",\"call_id\":\"retry1@x\","
                "\"trunk\":null,\"from_trunk\":null,\"to_trunk\":null,\"from_peer\":"
                "\"198.51.100.1\",\"to_peer\":\"198.51.100.2\",\"failed_call_id\":\"fail1@x\","
                "\"failed_status\":408,\"number\":\"4930555\",\"after_ms\":3050}",
                "trunk failover for 4930555: call fail1@x got 408 from 198.51.100.1 and was "
                "retried 3050 ms later on 198.51.100.2 as call retry1@x; fix: check 198.51.100.1 - "
                "its calls are going to the backup");
    expect_line("{\"type\":\"trunk_down\",\"severity\":\"error\",\"trunk\":\"carrier-a\","
                "\"reason\":\"503\",\"failures\":5,\"last_call_id\":\"f5@x\"}",
                "trunk carrier-a down: 5 consecutive 503 (last call f5@x); fix: check the "
                "carrier's status and route calls to a backup trunk");
    expect_line("{\"type\":\"trunk_down\",\"severity\":\"error\",\"trunk\":null,\"peer\":"
                "\"198.51.100.1\",\"reason\":\"503\",\"failures\":5,\"last_call_id\":\"f5@x\"}",
                "trunk 198.51.100.1 down: 5 consecutive 503 (last call f5@x); fix: check the "
                "carrier's status and route calls to a backup trunk");
    expect_line("{\"type\":\"call_fail\",\"severity\":\"warning\",\"call_id\":"
                "\"demo-404@203.0.113.1\",\"trunk\":\"carrier\",\"status\":404,\"reason\":"
                "\"Not Found\",\"direction\":\"inbound\",\"from\":\"15550001\",\"to\":"
                "\"15550100\",\"src\":\"203.0.113.1:5060\",\"dst\":\"198.51.100.10:5060\","
                "\"hint\":\"no_route_for_did\"}",
                "call failed (call demo-404@203.0.113.1): 404 Not Found (inbound, trunk carrier) "
                "to DID 15550100; hint: the PBX has no route for this DID; fix: add the DID to the "
                "PBX's inbound routes, or check the number format the carrier sends");
    /* The Request-URI's user, where the event carries it, is the DID. */
    expect_line("{\"type\":\"call_fail\",\"call_id\":\"c5\",\"status\":484,\"direction\":"
                "\"inbound\",\"to\":\"reception\",\"request_user\":\"4930555\"}",
                "call failed (call c5): 484 (inbound) to DID 4930555; fix: check the dialled "
                "number format");
    expect_line("{\"type\":\"call_fail\",\"call_id\":\"c6\",\"trunk\":\"acme\",\"status\":403,"
                "\"reason\":\"Forbidden\",\"direction\":\"outbound\",\"to\":\"0049305\","
                "\"hint\":\"trunk_rejected_auth\"}",
                "call failed (call c6): 403 Forbidden (outbound, trunk acme) to 0049305; hint: the "
                "provider refused the call; fix: check the credentials, the IP allow-list, barring "
                "and credit with the provider");
}

Test(alert, control_characters_cannot_split_the_line)
{
    expect_line("{\"type\":\"call_fail\",\"call_id\":\"x\\ny\\rz\",\"status\":404}",
                "call failed (call x y z): 404; fix: check the dialled number format");
}

/* ---- syslog ---- */

struct syslog_fixture {
    char dir[40], path[64];
    int fd;
};

static void syslog_bind(struct syslog_fixture *f)
{
    f->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    cr_assert_eq(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s", f->path);
    struct timeval tv = {5, 0};
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void syslog_fixture_init(struct syslog_fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/siptap-syslog-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/log", f->dir);
    f->fd = -1;
}

static void syslog_fixture_fini(struct syslog_fixture *f)
{
    if (f->fd >= 0)
        close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
}

/* Receives one datagram; splits it into priority and the text after "]: ". */
static bool syslog_recv(struct syslog_fixture *f, int *pri, char *text, size_t textlen)
{
    char buf[4096];
    ssize_t n = recv(f->fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    cr_assert_eq(buf[0], '<', "datagram: %s", buf);
    *pri = atoi(buf + 1);
    char *close_angle = strchr(buf, '>');
    cr_assert_not_null(close_angle);
    /* RFC 3164 header: "Mmm dd hh:mm:ss siptapd[PID]: " */
    int mday, hh, mm, ss;
    long pid;
    char mon[4];
    cr_assert_eq(
        sscanf(close_angle + 1, "%3s %d %d:%d:%d siptapd[%ld]:", mon, &mday, &hh, &mm, &ss, &pid),
        6, "header of: %s", buf);
    cr_assert_eq(pid, (long)getpid());
    char *body = strstr(buf, "]: ");
    cr_assert_not_null(body);
    snprintf(text, textlen, "%s", body + 3);
    return true;
}

static bool sink_empty(void *arg)
{
    return sink_queue_count(arg) == 0;
}

Test(syslog, lines_priorities_and_filter)
{
    struct syslog_fixture f;
    syslog_fixture_init(&f);
    syslog_bind(&f);
    struct sink_options o;
    sink_options_defaults(&o);
    o.syslog_socket = f.path;
    char err[256];
    struct sink *s = sink_create("syslog:local3", &o, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    struct event_bus bus;
    event_bus_init(&bus, "tap1");
    event_bus_add_sink(&bus, s);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_eq(s->ops->start(s, loop), 0);

    helper_publish(&bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL); /* info: filtered */
    helper_publish(&bus, "call_fail", SEVERITY_INFO, test_ts, "info-call", "acme"); /* filtered */
    struct event ev;
    event_begin(&ev, "trunk_down", SEVERITY_ERROR, test_ts, NULL, "acme-primary");
    json_writer_member_string(&ev.body, "reason", "503");
    json_writer_member_integer(&ev.body, "failures", 5);
    json_writer_member_string(&ev.body, "peer", "203.0.113.10");
    uint64_t seq_down = event_publish(&bus, &ev);
    /* notice, but a listed type */
    uint64_t seq_up =
        helper_publish(&bus, "trunk_up", SEVERITY_NOTICE, test_ts, NULL, "acme-primary");
    event_begin(&ev, "call_fail", SEVERITY_WARNING, test_ts, "c9@h", NULL);
    json_writer_member_integer(&ev.body, "status", 408);
    uint64_t seq_fail = event_publish(&bus, &ev);
    uint64_t seq_owa =
        helper_publish(&bus, "one_way_audio", SEVERITY_CRITICAL, test_ts, "c10@h", NULL);
    cr_assert(helper_run_loop_until(loop, 5, sink_empty, s));

    /* local3 = 19; err 3, notice 5, warning 4, crit 2 */
    struct {
        int pri;
        uint64_t seq;
        const char *text;
    } want[] = {
        {19 * 8 + 3, seq_down,
         "trunk acme-primary down: 5 consecutive 503 from 203.0.113.10; fix: check the "
         "carrier's status and route calls to a backup trunk"},
        {19 * 8 + 5, seq_up, "trunk acme-primary up again"},
        {19 * 8 + 4, seq_fail,
         "call failed (call c9@h): 408; fix: no answer to the INVITE - check reachability and "
         "the route to the peer"},
        {19 * 8 + 2, seq_owa, "one-way audio on call c10@h"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int pri;
        char text[2048], expect[2048];
        cr_assert(syslog_recv(&f, &pri, text, sizeof(text)), "datagram %zu missing", i);
        snprintf(expect, sizeof(expect), "%s [seq %llu]", want[i].text,
                 (unsigned long long)want[i].seq);
        cr_assert_eq(pri, want[i].pri, "datagram %zu priority", i);
        cr_assert_str_eq(text, expect);
    }
    /* Nothing else: the info events were filtered. */
    struct timeval tv = {0, 200000};
    setsockopt(f.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char extra[64];
    cr_assert_lt(recv(f.fd, extra, sizeof(extra), 0), 0, "an info event reached syslog");
    cr_assert_eq(s->delivered, 4);

    event_bus_destroy(&bus);
    ev_loop_destroy(loop);
    syslog_fixture_fini(&f);
}

/* The RFC 3164 stamp is the event's ts (capture time) in local time, not
 * the time of sending: a replay (-r) logs when things happened. */
Test(syslog, the_stamp_is_the_events_time)
{
    setenv("TZ", "UTC-2", 1); /* POSIX: two hours east of UTC, no tzdata needed */
    tzset();
    struct syslog_fixture f;
    syslog_fixture_init(&f);
    syslog_bind(&f);
    struct sink_options o;
    sink_options_defaults(&o);
    o.syslog_socket = f.path;
    char err[256];
    struct sink *s = sink_create("syslog", &o, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    struct event_bus bus;
    event_bus_init(&bus, "tap1");
    event_bus_add_sink(&bus, s);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_eq(s->ops->start(s, loop), 0);
    /* 2026-04-02T10:15:30.123456Z, and a year and a half earlier. */
    helper_publish(&bus, "call_drop", SEVERITY_ERROR, test_ts, "c1", NULL);
    helper_publish(&bus, "call_drop", SEVERITY_ERROR, 1727827199000000ull, "c2", NULL);
    cr_assert(helper_run_loop_until(loop, 5, sink_empty, s));
    const char *want[] = {"<27>Apr  2 12:15:30 siptapd[%ld]: call dropped on call c1 [seq 1]",
                          "<27>Oct  2 01:59:59 siptapd[%ld]: call dropped on call c2 [seq 2]"};
    for (size_t i = 0; i < 2; i++) {
        char buf[2048], expect[256];
        ssize_t n = recv(f.fd, buf, sizeof(buf) - 1, 0);
        cr_assert_gt(n, 0, "datagram %zu missing", i);
        buf[n] = '\0';
        snprintf(expect, sizeof(expect), want[i], (long)getpid());
        cr_assert_str_eq(buf, expect);
    }
    event_bus_destroy(&bus);
    ev_loop_destroy(loop);
    syslog_fixture_fini(&f);
    unsetenv("TZ");
    tzset();
}

Test(syslog, waits_for_the_socket_then_delivers_in_order)
{
    struct syslog_fixture f;
    syslog_fixture_init(&f);
    struct sink_options o;
    sink_options_defaults(&o);
    o.syslog_socket = f.path; /* not bound yet: the syslog daemon is "down" */
    char err[256];
    struct sink *s = sink_create("syslog", &o, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    struct event_bus bus;
    event_bus_init(&bus, "tap1");
    event_bus_add_sink(&bus, s);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_eq(s->ops->start(s, loop), 0);
    for (int i = 0; i < 10; i++) {
        helper_publish(&bus, "trunk_down", SEVERITY_WARNING, test_ts, NULL, "t");
    }
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert_eq(sink_queue_count(s), 10, "events must wait for the socket");
    syslog_bind(&f);
    cr_assert(helper_run_loop_until(loop, 10, sink_empty, s), "not delivered after reconnect");
    for (unsigned i = 1; i <= 10; i++) {
        int pri;
        char text[2048], want[64];
        cr_assert(syslog_recv(&f, &pri, text, sizeof(text)));
        cr_assert_eq(pri, 3 * 8 + 4); /* daemon.warning */
        snprintf(want, sizeof(want), "[seq %u]", i);
        cr_assert(strstr(text, want), "out of order: %s (want %s)", text, want);
    }
    cr_assert_eq(s->dropped, 0);
    event_bus_destroy(&bus);
    ev_loop_destroy(loop);
    syslog_fixture_fini(&f);
}

/* ---- JSON Lines file reopened on SIGHUP ---- */

Test(jsonl, reopen_after_rename)
{
    char dir[] = "/tmp/siptap-jsonl-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128], moved[128], spec[160];
    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    snprintf(moved, sizeof(moved), "%s/events.jsonl.1", dir);
    snprintf(spec, sizeof(spec), "file:%s", path);
    struct sink_options o;
    sink_options_defaults(&o);
    char err[256];
    struct sink *s = sink_create(spec, &o, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    struct event_bus bus;
    event_bus_init(&bus, "tap1");
    event_bus_add_sink(&bus, s);
    helper_publish(&bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    cr_assert_eq(rename(path, moved), 0);
    helper_publish(&bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    event_bus_reopen(&bus);
    helper_publish(&bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    event_bus_destroy(&bus);
    size_t n_old, n_new;
    char **old_lines = helper_read_lines(moved, &n_old);
    char **new_lines = helper_read_lines(path, &n_new);
    cr_assert_eq(n_old, 2, "before SIGHUP the renamed file still gets events");
    cr_assert_eq(n_new, 1);
    cr_assert(strstr(old_lines[1], "\"seq\":2"));
    cr_assert(strstr(new_lines[0], "\"seq\":3"));
    helper_free_lines(old_lines);
    helper_free_lines(new_lines);
    unlink(path);
    unlink(moved);
    rmdir(dir);
}

/* ---- redis outage ---- */

static void redis_stream_seqs(int port, const char *stream, uint64_t *seqs, size_t *count,
                              size_t cap)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    cr_assert(c && !c->err);
    redisReply *r = redisCommand(c, "XRANGE %s - +", stream);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    *count = 0;
    for (size_t i = 0; i < r->elements && *count < cap; i++) {
        redisReply *fields = r->element[i]->element[1];
        cr_assert_str_eq(fields->element[0]->str, "event");
        json_t *ev = json_loads(fields->element[1]->str, 0, NULL);
        cr_assert_not_null(ev);
        seqs[(*count)++] = (uint64_t)json_integer_value(json_object_get(ev, "seq"));
        json_decref(ev);
    }
    freeReplyObject(r);
    redisFree(c);
}

struct outage_result {
    uint64_t seqs[400];
    size_t count;
    uint64_t dropped, delivered;
};

static bool redis_connected(void *arg)
{
    json_t *o = json_object();
    struct sink *s = arg;
    s->ops->add_stats(s, o);
    bool c = json_is_true(json_object_get(o, "connected"));
    json_decref(o);
    return c;
}

static bool redis_disconnected(void *arg)
{
    return !redis_connected(arg);
}

/* redis-server on a free loopback port and a redis sink writing to `stream`
 * there, on a bus and loop of its own, started and connected. */
struct redis_rig {
    pid_t server;
    int port;
    char spec[128];
    struct sink *sink;
    struct event_bus bus;
    struct ev_loop *loop;
};

static void redis_rig_start(struct redis_rig *g, const char *stream, const struct sink_options *o)
{
    if (!helper_have_redis())
        cr_skip_test("redis-server is not installed");
    g->port = helper_free_port();
    g->server = helper_redis_start(g->port);
    cr_assert_gt(g->server, 0, "redis-server did not start on port %d", g->port);
    char err[256];
    snprintf(g->spec, sizeof(g->spec), "redis://127.0.0.1:%d?stream=%s", g->port, stream);
    g->sink = sink_create(g->spec, o, err, sizeof(err));
    cr_assert_not_null(g->sink, "%s", err);
    event_bus_init(&g->bus, "tap1");
    event_bus_add_sink(&g->bus, g->sink);
    g->loop = ev_loop_new(EVFLAG_AUTO);
    g->sink->ops->start(g->sink, g->loop);
    cr_assert(helper_run_loop_until(g->loop, 10, redis_connected, g->sink));
}

static void redis_rig_stop(struct redis_rig *g)
{
    event_bus_destroy(&g->bus);
    ev_loop_destroy(g->loop);
    helper_redis_stop(g->server);
}

static void run_redis_outage(size_t queue_size, struct outage_result *res)
{
    struct sink_options o;
    sink_options_defaults(&o);
    o.queue_size = queue_size;
    struct redis_rig g;
    redis_rig_start(&g, "outage", &o);
    struct sink *s = g.sink;
    struct ev_loop *loop = g.loop;
    struct event_bus *bus = &g.bus;
    int port = g.port;

    /* One at a time, so even a tiny queue holds them while connected. */
    for (int i = 0; i < 100; i++) {
        helper_publish(bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
        cr_assert(helper_run_loop_until(loop, 10, sink_empty, s));
    }
    cr_assert_eq(s->delivered, 100);
    cr_assert_eq(s->dropped, 0);

    helper_redis_stop(g.server);
    cr_assert(helper_run_loop_until(loop, 10, redis_disconnected, s));
    for (int i = 0; i < 200; i++)
        helper_publish(bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    ev_run(loop, EVRUN_NOWAIT);

    /* The stream lived in memory only (--save ''): the restarted server is
     * empty, so what it holds afterwards is exactly what came after. */
    g.server = helper_redis_start(port);
    cr_assert_gt(g.server, 0, "redis-server did not restart on port %d", port);
    cr_assert(helper_run_loop_until(loop, 20, sink_empty, s), "queue not drained after restart");
    redis_stream_seqs(port, "outage", res->seqs, &res->count, 400);
    res->dropped = s->dropped;
    res->delivered = s->delivered;

    json_t *stats = json_object();
    event_bus_add_stats(bus, stats);
    json_t *mine = json_object_get(stats, g.spec);
    cr_assert_not_null(mine);
    cr_assert_eq(json_integer_value(json_object_get(mine, "reconnects")), 1);
    cr_assert_eq(json_integer_value(json_object_get(mine, "dropped")), (json_int_t)s->dropped);
    json_decref(stats);

    redis_rig_stop(&g);
}

Test(redis, outage_loses_nothing_with_the_default_queue)
{
    struct outage_result res;
    run_redis_outage(100000, &res);
    cr_assert_eq(res.dropped, 0);
    cr_assert_eq(res.delivered, 300);
    cr_assert_eq(res.count, 200, "the restarted server should hold the 200 queued events");
    for (size_t i = 0; i < res.count; i++)
        cr_assert_eq(res.seqs[i], 101 + i, "gap or reorder at %zu: seq %llu", i,
                     (unsigned long long)res.seqs[i]);
}

Test(redis, outage_with_a_tiny_queue_counts_drops_exactly)
{
    struct outage_result res;
    run_redis_outage(5, &res);
    /* 200 events during the outage, 5 fit: the 195 oldest are dropped and the
     * newest five (seq 296..300) arrive. */
    cr_assert_eq(res.dropped, 195);
    cr_assert_eq(res.delivered, 105);
    cr_assert_eq(res.count, 5);
    for (size_t i = 0; i < res.count; i++)
        cr_assert_eq(res.seqs[i], 296 + i);
}

static json_int_t redis_stat(struct sink *s, const char *key)
{
    json_t *o = json_object();
    s->ops->add_stats(s, o);
    json_int_t v = json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

static bool redis_timed_out(void *arg)
{
    return redis_stat(arg, "reply_timeouts") >= 2;
}

/* A server that keeps its connections but stops answering (SIGSTOP: the
 * kernel still accepts connections and buffers commands): the watchdog
 * drops the connection after the reply timeout, again on each new
 * connection, and once the server answers again everything queued arrives,
 * once: the resends carry the IDs of the first sends and Redis refuses them. */
Test(redis, a_server_that_stops_answering_is_dropped_and_nothing_is_lost)
{
    struct sink_options o;
    sink_options_defaults(&o);
    o.redis_reply_timeout_ms = 300;
    struct redis_rig g;
    redis_rig_start(&g, "stall", &o);
    struct sink *s = g.sink;
    struct ev_loop *loop = g.loop;
    for (int i = 0; i < 10; i++)
        helper_publish(&g.bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    cr_assert(helper_run_loop_until(loop, 10, sink_empty, s));
    cr_assert_eq(redis_stat(s, "reply_timeouts"), 0, "a live server never times out");

    kill(g.server, SIGSTOP);
    for (int i = 0; i < 20; i++)
        helper_publish(&g.bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    double t0 = helper_now();
    cr_assert(helper_run_loop_until(loop, 10, redis_timed_out, s),
              "the stalled connection was never dropped");
    double waited = helper_now() - t0;
    cr_assert(waited >= 0.55 && waited < 5, "two timeouts of 0.3 s took %.2f s", waited);
    cr_assert_eq(s->delivered, 10);
    cr_assert_eq(sink_queue_count(s), 20, "the unanswered events stay queued");

    kill(g.server, SIGCONT);
    cr_assert(helper_run_loop_until(loop, 20, sink_empty, s), "queue not drained after SIGCONT");
    cr_assert_eq(s->delivered, 30);
    cr_assert_eq(s->dropped, 0);
    uint64_t seqs[400];
    size_t count = 0;
    redis_stream_seqs(g.port, "stall", seqs, &count, 400);
    cr_assert_eq(count, 30, "the stream holds %zu records", count);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(seqs[i], i + 1, "gap, duplicate or reorder at %zu", i);

    redis_rig_stop(&g);
}

/* ---- redis: the stream and the channel each take their own events ---- */

/* What the routing tests publish: info events, alerts by severity, and
 * notice events that are alerts by their type (as for syslog). */
static const struct {
    const char *type;
    enum severity severity;
} split_events[] = {
    {"call_start", SEVERITY_INFO},           {"trunk_up", SEVERITY_NOTICE},
    {"one_way_audio", SEVERITY_WARNING},     {"stats", SEVERITY_INFO},
    {"registration_loop", SEVERITY_NOTICE},  {"call_drop", SEVERITY_ERROR},
    {"media_without_call", SEVERITY_NOTICE},
};
#define SPLIT_ALL                                                                                  \
    "call_start trunk_up one_way_audio stats registration_loop call_drop "                         \
    "media_without_call"
#define SPLIT_ALERTS "trunk_up one_way_audio registration_loop call_drop"

static void append_type(char *list, size_t len, const char *json)
{
    json_t *ev = json_loads(json, 0, NULL);
    cr_assert_not_null(ev, "not JSON: %s", json);
    const char *type = json_string_value(json_object_get(ev, "type"));
    size_t used = strlen(list);
    snprintf(list + used, len - used, "%s%s", used ? " " : "", type ? type : "?");
    json_decref(ev);
}

/* Publishes split_events to a redis sink made with `params` after
 * ?stream=s, and checks the types the stream and the channel c got, in
 * order, against the lists given (space-separated). */
static void expect_split(const char *params, const char *stream_types, const char *channel_types)
{
    struct sink_options o;
    sink_options_defaults(&o);
    struct redis_rig g;
    char stream_arg[160];
    snprintf(stream_arg, sizeof(stream_arg), "s&channel=c%s", params);
    redis_rig_start(&g, stream_arg, &o);
    redisContext *sub = redisConnect("127.0.0.1", g.port);
    cr_assert(sub && !sub->err);
    redisReply *r = redisCommand(sub, "SUBSCRIBE c");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    freeReplyObject(r);

    for (size_t i = 0; i < sizeof(split_events) / sizeof(split_events[0]); i++)
        helper_publish(&g.bus, split_events[i].type, split_events[i].severity, test_ts, "c1", NULL);
    cr_assert(helper_run_loop_until(g.loop, 10, sink_empty, g.sink));
    cr_assert_eq(g.sink->failed, 0);

    char got[512] = "";
    redisContext *c = redisConnect("127.0.0.1", g.port);
    cr_assert(c && !c->err);
    r = redisCommand(c, "XRANGE s - +");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++)
        append_type(got, sizeof(got), r->element[i]->element[1]->element[1]->str);
    freeReplyObject(r);
    redisFree(c);
    cr_assert_str_eq(got, stream_types, "the stream with '%s'", params);

    /* Every message the channel got: it ends when none comes for a while
     * (the sink has settled all: anything published has arrived). */
    got[0] = '\0';
    struct timeval tv = {0, 300000};
    redisSetTimeout(sub, tv);
    void *reply = NULL;
    while (redisGetReply(sub, &reply) == REDIS_OK) {
        redisReply *m = reply;
        cr_assert_eq(m->elements, 3);
        append_type(got, sizeof(got), m->element[2]->str);
        freeReplyObject(m);
    }
    redisFree(sub);
    cr_assert_str_eq(got, channel_types, "the channel with '%s'", params);
    redis_rig_stop(&g);
}

Test(redis, by_default_the_stream_takes_every_event_the_channel_the_alerts)
{
    expect_split("", SPLIT_ALL, SPLIT_ALERTS);
}

Test(redis, stream_events_and_channel_events_choose)
{
    expect_split("&stream_events=alerts&channel_events=all", SPLIT_ALERTS, SPLIT_ALL);
    expect_split("&stream_events=all&channel_events=all", SPLIT_ALL, SPLIT_ALL);
    expect_split("&channel_events=alerts&stream_events=alerts", SPLIT_ALERTS, SPLIT_ALERTS);
}

Test(sink_create, redis_events_take_all_or_alerts)
{
    expect_bad("redis://127.0.0.1:6379?stream_events=some", "stream_events = 'some' in");
    expect_bad("redis://127.0.0.1:6379?channel=c&channel_events=", "must be all or alerts");
}

/* ---- kafka outage with the mock cluster ---- */

struct kafka_probe {
    struct sink *sink;
    uint64_t want;
};

static bool kafka_done(void *arg)
{
    struct kafka_probe *p = arg;
    return p->sink->delivered + p->sink->dropped + p->sink->failed >= p->want;
}

static size_t kafka_consume_seqs(const char *bootstraps, const char *topic, uint64_t *seqs,
                                 size_t cap, size_t want)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "outage-test", errstr, sizeof(errstr));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    cr_assert_not_null(c, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t n = 0;
    double end = helper_now() + 20;
    while (n < want && n < cap && helper_now() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err) {
            json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
            cr_assert_not_null(ev);
            seqs[n++] = (uint64_t)json_integer_value(json_object_get(ev, "seq"));
            json_decref(ev);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

Test(kafka, broker_outage_delivers_in_order_after_it_returns)
{
    char errstr[256];
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof(errstr));
    cr_assert_not_null(mrk, "%s", errstr);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    cr_assert_not_null(mc);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    cr_assert_eq(rd_kafka_mock_topic_create(mc, "outage", 1, 1), 0);

    struct sink_options o;
    sink_options_defaults(&o);
    const char *props[] = {"reconnect.backoff.max.ms", "200", NULL};
    o.kafka_props = props;
    char spec[256], err[512];
    snprintf(spec, sizeof(spec), "kafka://%s/outage", boot);
    struct sink *s = sink_create(spec, &o, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    struct event_bus bus;
    event_bus_init(&bus, "tap1");
    event_bus_add_sink(&bus, s);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    s->ops->start(s, loop);

    struct kafka_probe probe = {s, 50};
    for (int i = 0; i < 50; i++)
        helper_publish(&bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    cr_assert(helper_run_loop_until(loop, 20, kafka_done, &probe));
    cr_assert_eq(s->delivered, 50);

    rd_kafka_mock_broker_set_down(mc, 1);
    for (int i = 0; i < 50; i++)
        helper_publish(&bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    /* Give the producer time to notice the outage; nothing may fail meanwhile. */
    probe.want = 100;
    helper_run_loop_until(loop, 1.0, kafka_done, &probe);
    cr_assert_eq(s->failed, 0);
    rd_kafka_mock_broker_set_up(mc, 1);
    cr_assert(helper_run_loop_until(loop, 30, kafka_done, &probe), "not delivered after outage");
    cr_assert_eq(s->delivered, 100);
    cr_assert_eq(s->dropped, 0);
    cr_assert_eq(s->failed, 0);

    uint64_t seqs[200];
    size_t n = kafka_consume_seqs(boot, "outage", seqs, 200, 100);
    cr_assert_eq(n, 100);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(seqs[i], i + 1, "gap, duplicate or reorder at %zu", i);

    event_bus_destroy(&bus);
    ev_loop_destroy(loop);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

Test(kafka, outage_with_a_tiny_queue_counts_drops_exactly)
{
    char errstr[256];
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof(errstr));
    cr_assert_not_null(mrk, "%s", errstr);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    cr_assert_not_null(mc);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    cr_assert_eq(rd_kafka_mock_topic_create(mc, "tiny", 1, 1), 0);

    struct sink_options o;
    sink_options_defaults(&o);
    o.queue_size = 5; /* ours, and librdkafka's queue.buffering.max.messages */
    const char *props[] = {"reconnect.backoff.max.ms", "200", NULL};
    o.kafka_props = props;
    char spec[256], err[512];
    snprintf(spec, sizeof(spec), "kafka://%s/tiny", boot);
    struct sink *s = sink_create(spec, &o, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    struct event_bus bus;
    event_bus_init(&bus, "tap1");
    event_bus_add_sink(&bus, s);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    rd_kafka_mock_broker_set_down(mc, 1);
    s->ops->start(s, loop);
    for (int i = 0; i < 50; i++)
        helper_publish(&bus, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    /* 5 are in librdkafka's queue, 5 in ours, the 40 oldest of the rest dropped. */
    cr_assert_eq(s->dropped, 40);
    rd_kafka_mock_broker_set_up(mc, 1);
    struct kafka_probe probe = {s, 50};
    cr_assert(helper_run_loop_until(loop, 30, kafka_done, &probe), "not delivered after outage");
    cr_assert_eq(s->delivered, 10);
    cr_assert_eq(s->failed, 0);
    uint64_t seqs[64];
    size_t n = kafka_consume_seqs(boot, "tiny", seqs, 64, 10);
    cr_assert_eq(n, 10);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(seqs[i], i + 1, "librdkafka held the first five");
    for (size_t i = 5; i < 10; i++)
        cr_assert_eq(seqs[i], 46 + (i - 5), "our queue kept the newest five");

    event_bus_destroy(&bus);
    ev_loop_destroy(loop);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

/*
 * Outputs under faults, in process: a full disk under a JSON Lines file,
 * a Kafka producer that hits a fatal error, a Redis server that freezes
 * while its queue overflows. Each test counts exactly: every event is
 * delivered, dropped or failed, and what the server or the file holds is
 * what `delivered` says, no more (no duplicates) and no less.
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <sys/resource.h>

#include "helpers.h"
#include "outputs/event.h"
#include "outputs/sink.h"

static const uint64_t test_ts = 1775124930123456ull; /* 2026-04-02T10:15:30.123456Z */

/* A stats-typed event padded to about `size` bytes of JSON. */
static void publish_padded(struct event_bus *bus, size_t size)
{
    struct event ev;
    event_begin(&ev, "stats", SEVERITY_INFO, test_ts, NULL, NULL);
    char pad[4096];
    size_t n = size < sizeof(pad) ? size : sizeof(pad) - 1;
    memset(pad, 'x', n);
    pad[n] = '\0';
    json_writer_member_string(&ev.body, "pad", pad);
    event_publish(bus, &ev);
}

/* ---- JSON Lines on a full disk ---- */

static struct sink *jsonl_open(const char *path)
{
    char spec[256], err[256];
    snprintf(spec, sizeof(spec), "file:%s", path);
    struct sink_options o;
    sink_options_defaults(&o);
    struct sink *s = sink_create(spec, &o, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    return s;
}

Test(jsonl_full, dev_full_counts_every_event_as_failed)
{
    struct sink *s = jsonl_open("/dev/full");
    struct event_bus bus;
    event_bus_init(&bus, "tap1");
    event_bus_add_sink(&bus, s);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_eq(s->ops->start(s, loop), 0);
    for (int i = 0; i < 25; i++)
        publish_padded(&bus, 100);
    ev_run(loop, EVRUN_NOWAIT); /* the loop's flush writes them */
    s->ops->drain(s, 1.0);
    cr_assert_eq(s->delivered, 0, "nothing reached /dev/full, %llu counted delivered",
                 (unsigned long long)s->delivered);
    cr_assert_eq(s->failed, 25);
    cr_assert_eq(s->dropped, 0);
    cr_assert_eq(sink_queue_count(s), 0);
    event_bus_destroy(&bus);
    ev_loop_destroy(loop);
}

/* Every line of path is a whole JSON object; returns how many. */
static size_t count_whole_lines(const char *path, size_t *bytes)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = 0, total = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        total += (size_t)len;
        cr_assert_eq(line[len - 1], '\n', "a cut line was left at the end: %.40s...", line);
        json_t *v = json_loadb(line, (size_t)len - 1, 0, NULL);
        cr_assert_not_null(v, "line %zu is not JSON", n + 1);
        json_decref(v);
        n++;
    }
    free(line);
    fclose(f);
    *bytes = total;
    return n;
}

/* The file may grow to `limit` bytes (RLIMIT_FSIZE stands in for a disk
 * that fills: the write that crosses it is cut short, the next fails with
 * EFBIG). 40 events of ~300 bytes are written, with a loop (batched) or
 * without (one by one). The child reports delivered and failed. */
static void run_fsize_limited(const char *path, bool with_loop, uint64_t out[3])
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {5000, 5000};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(2);
        struct sink *s = jsonl_open(path);
        struct event_bus bus;
        event_bus_init(&bus, "tap1");
        event_bus_add_sink(&bus, s);
        struct ev_loop *loop = with_loop ? ev_loop_new(EVFLAG_AUTO) : NULL;
        if (loop)
            s->ops->start(s, loop);
        for (int i = 0; i < 40; i++)
            publish_padded(&bus, 300);
        if (loop)
            ev_run(loop, EVRUN_NOWAIT);
        s->ops->drain(s, 1.0);
        uint64_t res[3] = {s->delivered, s->failed, s->dropped};
        if (write(fds[1], res, sizeof(res)) != (ssize_t)sizeof(res))
            _exit(3);
        event_bus_destroy(&bus);
        if (loop)
            ev_loop_destroy(loop);
        _exit(0);
    }
    close(fds[1]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    cr_assert_eq(read(fds[0], out, 3 * sizeof(uint64_t)), (ssize_t)(3 * sizeof(uint64_t)));
    close(fds[0]);
}

static void expect_whole_lines_when_the_disk_fills(bool with_loop)
{
    char dir[] = "/tmp/siptap-full-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    uint64_t res[3];
    run_fsize_limited(path, with_loop, res);
    size_t bytes;
    size_t lines = count_whole_lines(path, &bytes);
    cr_assert_leq(bytes, 5000);
    cr_assert_gt(lines, 10, "the first lines fit: %zu", lines);
    cr_assert_lt(lines, 40);
    cr_assert_eq(res[0], lines, "delivered %llu, the file holds %zu lines",
                 (unsigned long long)res[0], lines);
    cr_assert_eq(res[1], 40 - lines, "failed %llu", (unsigned long long)res[1]);
    cr_assert_eq(res[2], 0);
    unlink(path);
    rmdir(dir);
}

Test(jsonl_full, a_disk_that_fills_leaves_whole_lines_counted_exactly)
{
    expect_whole_lines_when_the_disk_fills(false);
}

Test(jsonl_full, a_disk_that_fills_under_the_loop_leaves_whole_lines)
{
    expect_whole_lines_when_the_disk_fills(true);
}

static json_int_t sink_stat(struct sink *s, const char *key)
{
    json_t *o = json_object();
    s->ops->add_stats(s, o);
    json_int_t v = json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

/* ---- Kafka: a fatal producer error ---- */

struct kafka_rig {
    rd_kafka_t *mrk;
    rd_kafka_mock_cluster_t *mc;
    const char *boot;
    struct sink *sink;
    struct event_bus bus;
    struct ev_loop *loop;
};

static void kafka_rig_start(struct kafka_rig *g, const char *topic, size_t queue_size)
{
    char errstr[256];
    g->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof(errstr));
    cr_assert_not_null(g->mrk, "%s", errstr);
    g->mc = rd_kafka_mock_cluster_new(g->mrk, 1);
    cr_assert_not_null(g->mc);
    g->boot = rd_kafka_mock_cluster_bootstraps(g->mc);
    cr_assert_eq(rd_kafka_mock_topic_create(g->mc, topic, 1, 1), 0);
    struct sink_options o;
    sink_options_defaults(&o);
    o.queue_size = queue_size;
    static const char *props[] = {"reconnect.backoff.max.ms", "200", NULL};
    o.kafka_props = props;
    char spec[256], err[512];
    snprintf(spec, sizeof(spec), "kafka://%s/%s", g->boot, topic);
    g->sink = sink_create(spec, &o, err, sizeof(err));
    cr_assert_not_null(g->sink, "%s", err);
    event_bus_init(&g->bus, "tap1");
    event_bus_add_sink(&g->bus, g->sink);
    g->loop = ev_loop_new(EVFLAG_AUTO);
    g->sink->ops->start(g->sink, g->loop);
}

static void kafka_rig_stop(struct kafka_rig *g)
{
    event_bus_destroy(&g->bus);
    ev_loop_destroy(g->loop);
    rd_kafka_mock_cluster_destroy(g->mc);
    rd_kafka_destroy(g->mrk);
}

struct kafka_want {
    struct sink *sink;
    uint64_t settled;
};

static bool kafka_settled(void *arg)
{
    struct kafka_want *w = arg;
    struct sink *s = w->sink;
    return s->delivered + s->dropped + s->failed >= w->settled;
}

/* How many times each seq (1..max) is on the topic; returns the count. */
static size_t kafka_topic_tally(const char *boot, const char *topic, unsigned *times, size_t max,
                                size_t want)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", boot, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "faults-test", errstr, sizeof(errstr));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    cr_assert_not_null(c, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    memset(times, 0, (max + 1) * sizeof(*times));
    size_t n = 0;
    /* Past the wanted count, a little longer: duplicates would come late. */
    double end = helper_now() + 20, quiet_end = 0;
    while (helper_now() < end && (quiet_end == 0 || helper_now() < quiet_end)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err) {
            json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
            cr_assert_not_null(ev);
            json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
            cr_assert(seq >= 1 && (size_t)seq <= max, "seq %lld", (long long)seq);
            times[seq]++;
            json_decref(ev);
            if (++n == want)
                quiet_end = helper_now() + 1.0;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

static bool kafka_stat_true(struct sink *s, const char *key)
{
    json_t *o = json_object();
    s->ops->add_stats(s, o);
    bool v = json_is_true(json_object_get(o, key));
    json_decref(o);
    return v;
}

static bool kafka_two_fatal_errors(void *arg)
{
    return sink_stat(arg, "fatal_errors") >= 2;
}

/* An OUT_OF_ORDER_SEQUENCE_NUMBER answer makes librdkafka's idempotent
 * producer raise a fatal error: it accepts nothing more. Three of them in a
 * row kill the producer and the next two built after it: the sink must
 * build a new one each time and send again what the old one failed. */
Test(kafka_fatal, a_fatal_error_recreates_the_producer_and_loses_nothing)
{
    struct kafka_rig g;
    kafka_rig_start(&g, "fatal", 100000);
    struct kafka_want want = {g.sink, 50};
    for (int i = 0; i < 50; i++)
        publish_padded(&g.bus, 10);
    cr_assert(helper_run_loop_until(g.loop, 20, kafka_settled, &want));
    cr_assert_eq(g.sink->delivered, 50);

    rd_kafka_mock_push_request_errors(g.mc, 0 /* Produce */, 3,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    want.settled = 250;
    for (int i = 0; i < 200; i++) {
        publish_padded(&g.bus, 10);
        if (i % 20 == 0)
            ev_run(g.loop, EVRUN_NOWAIT);
    }
    /* The second producer dies too; the third is built no sooner than a
     * second after the second: meanwhile the stats say so. */
    cr_assert(helper_run_loop_until(g.loop, 20, kafka_two_fatal_errors, g.sink));
    cr_assert_not(kafka_stat_true(g.sink, "connected"), "a dead producer is not connected");
    cr_assert(helper_run_loop_until(g.loop, 30, kafka_settled, &want),
              "settled %llu of 250 (delivered %llu, failed %llu)",
              (unsigned long long)(g.sink->delivered + g.sink->dropped + g.sink->failed),
              (unsigned long long)g.sink->delivered, (unsigned long long)g.sink->failed);
    cr_assert_eq(g.sink->failed, 0, "failed %llu", (unsigned long long)g.sink->failed);
    cr_assert_eq(g.sink->dropped, 0);
    cr_assert_eq(g.sink->delivered, 250);
    cr_assert(kafka_stat_true(g.sink, "connected"));
    /* Each refused request is fatal to the producer that sent it. */
    cr_assert_eq(sink_stat(g.sink, "fatal_errors"), 3);
    cr_assert_eq(sink_stat(g.sink, "producer_restarts"), 3);

    unsigned times[251];
    size_t n = kafka_topic_tally(g.boot, "fatal", times, 250, 250);
    for (int q = 1; q <= 250; q++)
        cr_assert_geq(times[q], 1, "seq %d never reached the topic", q);
    cr_assert_eq(n, 250, "the topic holds %zu messages for 250 events", n);
    kafka_rig_stop(&g);
}

/* ---- Redis: resends are refused, in-flight records are never dropped ---- */

struct redis_rig {
    pid_t server;
    int port;
    struct sink *sink;
    struct event_bus bus;
    struct ev_loop *loop;
};

static bool sink_settled(void *arg)
{
    return sink_queue_count(arg) == 0;
}

static bool redis_connected(void *arg)
{
    json_t *o = json_object();
    struct sink *s = arg;
    s->ops->add_stats(s, o);
    bool c = json_is_true(json_object_get(o, "connected"));
    json_decref(o);
    return c;
}

static void redis_rig_start(struct redis_rig *g, const char *stream, size_t queue_size,
                            unsigned reply_timeout_ms)
{
    if (!helper_have_redis())
        cr_skip_test("redis-server is not installed");
    g->port = helper_free_port();
    g->server = helper_redis_start(g->port);
    cr_assert_gt(g->server, 0, "redis-server did not start on port %d", g->port);
    struct sink_options o;
    sink_options_defaults(&o);
    o.queue_size = queue_size;
    o.redis_reply_timeout_ms = reply_timeout_ms;
    char spec[128], err[256];
    snprintf(spec, sizeof(spec), "redis://127.0.0.1:%d?stream=%s", g->port, stream);
    g->sink = sink_create(spec, &o, err, sizeof(err));
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

/* How many times each seq (1..max) is in the stream; returns the length. */
static size_t redis_stream_tally(int port, const char *stream, unsigned *times, size_t max)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    cr_assert(c && !c->err);
    redisReply *r = redisCommand(c, "XRANGE %s - +", stream);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    memset(times, 0, (max + 1) * sizeof(*times));
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *fields = r->element[i]->element[1];
        json_t *ev = json_loads(fields->element[1]->str, 0, NULL);
        cr_assert_not_null(ev);
        json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
        cr_assert(seq >= 1 && (size_t)seq <= max, "seq %lld", (long long)seq);
        times[seq]++;
        json_decref(ev);
    }
    size_t n = r->elements;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static bool redis_timed_out_twice(void *arg)
{
    return sink_stat(arg, "reply_timeouts") >= 2;
}

/* The server freezes with 20 events unanswered (SIGSTOP: it still accepts
 * connections and buffers commands); the watchdog drops the connection
 * twice and each new one sends the 20 again. When the server thaws it runs
 * every copy: the stream must hold each event once. */
Test(redis_exact, a_frozen_server_gets_no_duplicates)
{
    struct redis_rig g;
    redis_rig_start(&g, "frozen", 1000, 300);
    for (int i = 0; i < 10; i++)
        publish_padded(&g.bus, 10);
    cr_assert(helper_run_loop_until(g.loop, 10, sink_settled, g.sink));
    kill(g.server, SIGSTOP);
    for (int i = 0; i < 20; i++)
        publish_padded(&g.bus, 10);
    cr_assert(helper_run_loop_until(g.loop, 10, redis_timed_out_twice, g.sink));
    kill(g.server, SIGCONT);
    cr_assert(helper_run_loop_until(g.loop, 20, sink_settled, g.sink));
    unsigned times[31];
    size_t len = redis_stream_tally(g.port, "frozen", times, 30);
    for (int q = 1; q <= 30; q++)
        cr_assert_eq(times[q], 1, "seq %d is in the stream %u times", q, times[q]);
    cr_assert_eq(len, 30);
    cr_assert_eq(sink_stat(g.sink, "id_conflicts"), 0, "one writer: every ID in order");
    cr_assert_eq(g.sink->delivered, 30);
    cr_assert_eq(g.sink->dropped, 0);
    cr_assert_eq(g.sink->failed, 0);
    redis_rig_stop(&g);
}

/* The queue (50) overflows while the server is frozen with everything sent
 * to it: records already sent are the server's to answer and must not be
 * counted dropped; what the stream holds is exactly what was delivered. */
Test(redis_exact, a_queue_that_overflows_in_flight_counts_exactly)
{
    struct redis_rig g;
    redis_rig_start(&g, "overflow", 50, 60000);
    for (int i = 0; i < 10; i++)
        publish_padded(&g.bus, 10);
    cr_assert(helper_run_loop_until(g.loop, 10, sink_settled, g.sink));
    kill(g.server, SIGSTOP);
    for (int i = 0; i < 100; i++) {
        publish_padded(&g.bus, 10);
        ev_run(g.loop, EVRUN_NOWAIT);
    }
    kill(g.server, SIGCONT);
    cr_assert(helper_run_loop_until(g.loop, 20, sink_settled, g.sink));
    unsigned times[111];
    size_t len = redis_stream_tally(g.port, "overflow", times, 110);
    for (int q = 1; q <= 110; q++)
        cr_assert_leq(times[q], 1, "seq %d is in the stream %u times", q, times[q]);
    cr_assert_eq(g.sink->delivered, len, "delivered %llu, the stream holds %zu",
                 (unsigned long long)g.sink->delivered, len);
    cr_assert_eq(g.sink->delivered + g.sink->dropped, 110, "delivered %llu + dropped %llu",
                 (unsigned long long)g.sink->delivered, (unsigned long long)g.sink->dropped);
    /* The 50 sent before the queue filled are delivered, the 50 that found
     * it full of them are dropped. */
    cr_assert_eq(g.sink->delivered, 60);
    cr_assert_eq(g.sink->dropped, 50);
    redis_rig_stop(&g);
}

/* Another writer puts an entry with an ID far ahead of this tap's clock on
 * the stream mid-run: the tap's next XADDs are refused for their IDs on
 * the first try (not a resend), so they go with IDs the server picks. */
Test(redis_exact, another_writer_ahead_on_the_stream_loses_nothing)
{
    struct redis_rig g;
    redis_rig_start(&g, "shared", 1000, 10000);
    for (int i = 0; i < 5; i++)
        publish_padded(&g.bus, 10);
    cr_assert(helper_run_loop_until(g.loop, 10, sink_settled, g.sink));
    redisContext *c = redisConnect("127.0.0.1", g.port);
    cr_assert(c && !c->err);
    redisReply *r = redisCommand(c, "XADD shared 99999999999999-0 event {\"seq\":1}");
    cr_assert(r && r->type == REDIS_REPLY_STRING, "XADD: %s", r ? r->str : "no reply");
    freeReplyObject(r);
    redisFree(c);
    for (int i = 0; i < 5; i++)
        publish_padded(&g.bus, 10);
    cr_assert(helper_run_loop_until(g.loop, 10, sink_settled, g.sink));
    unsigned times[11];
    size_t len = redis_stream_tally(g.port, "shared", times, 10);
    cr_assert_eq(len, 11);
    cr_assert_eq(times[1], 2, "ours and the other writer's");
    for (int q = 2; q <= 10; q++)
        cr_assert_eq(times[q], 1, "seq %d is in the stream %u times", q, times[q]);
    cr_assert_eq(g.sink->delivered, 10);
    cr_assert_eq(g.sink->failed, 0);
    cr_assert_eq(sink_stat(g.sink, "id_conflicts"), 5);
    redis_rig_stop(&g);
}

static void redis_config_set(int port, const char *key, const char *value)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    cr_assert(c && !c->err);
    redisReply *r = redisCommand(c, "CONFIG SET %s %s", key, value);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET %s: %s", key, r ? r->str : "?");
    freeReplyObject(r);
    redisFree(c);
}

static bool redis_two_transient_errors(void *arg)
{
    return sink_stat(arg, "transient_errors") >= 2;
}

/* A server out of memory answers OOM (a "not now" error) to part of a
 * pipelined window: the connection is dropped and the window sent again;
 * once memory is there, each event is in the stream once. */
Test(redis_exact, oom_answers_are_retried_without_duplicates)
{
    struct redis_rig g;
    redis_rig_start(&g, "oom", 1000, 10000);
    for (int i = 0; i < 5; i++)
        publish_padded(&g.bus, 10);
    cr_assert(helper_run_loop_until(g.loop, 10, sink_settled, g.sink));
    redis_config_set(g.port, "maxmemory", "1");
    for (int i = 0; i < 20; i++)
        publish_padded(&g.bus, 10);
    cr_assert(helper_run_loop_until(g.loop, 10, redis_two_transient_errors, g.sink));
    cr_assert_eq(sink_queue_count(g.sink), 20, "OOM is not a failure: the events wait");
    redis_config_set(g.port, "maxmemory", "0");
    cr_assert(helper_run_loop_until(g.loop, 20, sink_settled, g.sink));
    unsigned times[26];
    size_t len = redis_stream_tally(g.port, "oom", times, 25);
    for (int q = 1; q <= 25; q++)
        cr_assert_eq(times[q], 1, "seq %d is in the stream %u times", q, times[q]);
    cr_assert_eq(len, 25);
    cr_assert_eq(g.sink->delivered, 25);
    cr_assert_eq(g.sink->failed + g.sink->dropped, 0);
    cr_assert_eq(sink_stat(g.sink, "id_conflicts"), 0, "one writer: every ID in order");
    redis_rig_stop(&g);
}

/*
 * siptapd end to end with network outputs: the same run writes JSON Lines on
 * stdout and to Redis (stream and channel) or Kafka, and every record read
 * back from the server must equal the stdout line of the same position.
 * The input is a small pcap written here (one UDP datagram a second) with
 * stats_interval = 1, so the daemon publishes one stats event per second of
 * capture time plus one at the end.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <sys/un.h>

#include "helpers.h"
#include "tests/support/event_schema.h"

struct run_files {
    char dir[64], pcap[96], conf[96], out[96], err[96];
};

static void run_files_init(struct run_files *f, unsigned packets)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/siptap-outputs-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->pcap, sizeof(f->pcap), "%s/in.pcap", f->dir);
    snprintf(f->conf, sizeof(f->conf), "%s/siptap.conf", f->dir);
    snprintf(f->out, sizeof(f->out), "%s/stdout", f->dir);
    snprintf(f->err, sizeof(f->err), "%s/stderr", f->dir);
    cr_assert(helper_write_pcap(f->pcap, packets, 1775124930u));
    FILE *c = fopen(f->conf, "w");
    cr_assert_not_null(c);
    fprintf(c, "[general]\nstats_interval = 1\n");
    fclose(c);
}

static void run_files_fini(struct run_files *f)
{
    unlink(f->pcap);
    unlink(f->conf);
    unlink(f->out);
    unlink(f->err);
    rmdir(f->dir);
}

static const char *siptapd_path(void)
{
    const char *p = getenv("SIPTAPD");
    if (!p || access(p, X_OK) != 0)
        cr_skip_test("SIPTAPD is not set or not executable");
    return p;
}

/* siptapd's stdout, each line an event the schema accepts. */
static char **read_events(const char *path, size_t *count)
{
    char **lines = helper_read_lines(path, count);
    for (size_t i = 0; i < *count; i++)
        event_schema_check_text(lines[i], strlen(lines[i]));
    return lines;
}

Test(daemon_outputs, redis_stream_and_channel_equal_stdout)
{
    const char *siptapd = siptapd_path();
    if (!helper_have_redis())
        cr_skip_test("redis-server is not installed");
    int port = helper_free_port();
    pid_t srv = helper_redis_start(port);
    cr_assert_gt(srv, 0);

    redisContext *sub = redisConnect("127.0.0.1", port);
    cr_assert(sub && !sub->err);
    redisReply *r = redisCommand(sub, "SUBSCRIBE c");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    freeReplyObject(r);

    struct run_files f;
    run_files_init(&f, 30);
    char spec[128];
    snprintf(spec, sizeof(spec), "redis://127.0.0.1:%d/3?stream=s&channel=c&channel_events=all",
             port);
    char *argv[] = {(char *)siptapd, "-c", f.conf, "-r", f.pcap, "-n",
                    "tap-test",      "-o", "-",    "-o", spec,   NULL};
    int rc = helper_run(argv, f.out, f.err);
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 0, "siptapd failed: %s", errtext);
    free(errtext);

    size_t n;
    char **lines = read_events(f.out, &n);
    cr_assert_geq(n, 30, "expected about one stats event per second, got %zu", n);

    /* The stream, in database 3. */
    redisContext *c = redisConnect("127.0.0.1", port);
    cr_assert(c && !c->err);
    r = redisCommand(c, "SELECT 3");
    freeReplyObject(r);
    r = redisCommand(c, "XRANGE s - +");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, n, "stream has %zu records, stdout %zu", r->elements, n);
    for (size_t i = 0; i < n; i++) {
        redisReply *fields = r->element[i]->element[1];
        cr_assert_eq(fields->elements, 2);
        cr_assert_str_eq(fields->element[0]->str, "event");
        cr_assert_str_eq(fields->element[1]->str, lines[i], "record %zu differs", i);
    }
    freeReplyObject(r);
    r = redisCommand(c, "DBSIZE");
    freeReplyObject(r);
    redisFree(c);

    /* The channel: every message, in order. */
    struct timeval tv = {10, 0};
    redisSetTimeout(sub, tv);
    for (size_t i = 0; i < n; i++) {
        void *reply = NULL;
        cr_assert_eq(redisGetReply(sub, &reply), REDIS_OK, "message %zu missing", i);
        redisReply *m = reply;
        cr_assert_eq(m->elements, 3);
        cr_assert_str_eq(m->element[0]->str, "message");
        cr_assert_str_eq(m->element[1]->str, "c");
        cr_assert_str_eq(m->element[2]->str, lines[i], "message %zu differs", i);
        freeReplyObject(m);
    }
    redisFree(sub);

    /* The last stats event reports the redis sink's counters (an offline run
     * may well end before the connection is up: the events wait and are
     * drained at exit, as checked above). */
    json_t *last = json_loads(lines[n - 1], 0, NULL);
    json_t *mine = json_object_get(json_object_get(last, "outputs"), spec);
    cr_assert_not_null(mine, "stats event has no entry for %s", spec);
    cr_assert(json_is_boolean(json_object_get(mine, "connected")));
    cr_assert_str_eq(json_string_value(json_object_get(mine, "kind")), "redis");
    cr_assert_eq(json_integer_value(json_object_get(mine, "failed")), 0);
    cr_assert_eq(json_integer_value(json_object_get(mine, "dropped")), 0);
    json_decref(last);

    helper_free_lines(lines);
    run_files_fini(&f);
    helper_redis_stop(srv);
}

/* The figures of output spec in the last stats event on stdout. */
static json_t *final_output_stats(const char *out_path, const char *spec, size_t *lines_out)
{
    size_t n;
    char **lines = read_events(out_path, &n);
    cr_assert_gt(n, 0, "nothing on stdout");
    json_t *last = json_loads(lines[n - 1], 0, NULL);
    cr_assert_not_null(last);
    cr_assert_str_eq(json_string_value(json_object_get(last, "type")), "stats");
    json_t *mine = json_object_get(json_object_get(last, "outputs"), spec);
    cr_assert_not_null(mine, "the final stats event has no entry for %s", spec);
    json_incref(mine);
    json_decref(last);
    helper_free_lines(lines);
    *lines_out = n;
    return mine;
}

static json_int_t stat_of(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* Redis is never there: the drain gives up after --drain-timeout, the
 * final stats (after the drain) and stderr say what was not delivered,
 * and the exit status is 3. */
Test(daemon_outputs, redis_that_never_comes_exits_3_and_says_so)
{
    const char *siptapd = siptapd_path();
    int port = helper_free_port();
    struct run_files f;
    run_files_init(&f, 3);
    char spec[128];
    snprintf(spec, sizeof(spec), "redis://127.0.0.1:%d", port);
    char *argv[] = {(char *)siptapd,   "-c", f.conf, "-r", f.pcap, "-o", "-", "-o", spec,
                    "--drain-timeout", "1",  NULL};
    double t0 = helper_now();
    int rc = helper_run(argv, f.out, f.err);
    double took = helper_now() - t0;
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 3, "exit %d, stderr: %s", rc, errtext);
    cr_assert_lt(took, 4.0, "a 1 s drain took %.1f s", took);
    cr_assert(strstr(errtext, "events are queued"), "stderr: %s", errtext);
    size_t n;
    json_t *mine = final_output_stats(f.out, spec, &n);
    /* Every event before the final stats is still queued; the final stats
     * event itself was not waited for (the output was down). */
    cr_assert_eq(stat_of(mine, "queued"), (json_int_t)(n - 1));
    cr_assert_eq(stat_of(mine, "delivered"), 0);
    cr_assert_eq(stat_of(mine, "dropped"), 0);
    cr_assert(json_is_false(json_object_get(mine, "connected")));
    json_decref(mine);
    char want[512];
    snprintf(want, sizeof(want),
             "output %s: 0 delivered, 0 dropped, 0 failed, %zu not delivered at shutdown", spec, n);
    cr_assert(strstr(errtext, want), "want '%s' in stderr: %s", want, errtext);
    snprintf(want, sizeof(want), "%zu events were not delivered (exit status 3)", n);
    cr_assert(strstr(errtext, want), "want '%s' in stderr: %s", want, errtext);
    free(errtext);
    run_files_fini(&f);
}

/* A SIGTERM during the drain (here: at the end of the file, toward a
 * Redis that is not there, with the default 30 s) ends it at once. */
Test(daemon_outputs, sigterm_during_the_drain_ends_it)
{
    const char *siptapd = siptapd_path();
    int port = helper_free_port();
    struct run_files f;
    run_files_init(&f, 3);
    char spec[128];
    snprintf(spec, sizeof(spec), "redis://127.0.0.1:%d", port);
    char *argv[] = {(char *)siptapd, "-c", f.conf, "-r", f.pcap, "-o", "-", "-o", spec, NULL};
    pid_t pid = helper_start(argv, f.out, f.err);
    cr_assert_gt(pid, 0);
    helper_pause_ms(1500);
    double t0 = helper_now();
    kill(pid, SIGTERM);
    int rc = helper_wait(pid);
    double took = helper_now() - t0;
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 3, "exit %d, stderr: %s", rc, errtext);
    cr_assert_lt(took, 3.0, "the drain went on for %.1f s after SIGTERM", took);
    cr_assert(strstr(errtext, "not delivered at shutdown"), "stderr: %s", errtext);
    free(errtext);
    run_files_fini(&f);
}

/* Redis comes back 6 s after the end of the file (longer than the 5 s the
 * drain used to have): with the default drain every event arrives, the
 * final stats come after the drain and say so, and the exit status is 0. */
Test(daemon_outputs, redis_back_late_gets_everything_in_the_drain)
{
    const char *siptapd = siptapd_path();
    if (!helper_have_redis())
        cr_skip_test("redis-server is not installed");
    int port = helper_free_port();
    struct run_files f;
    run_files_init(&f, 30);
    char spec[128];
    snprintf(spec, sizeof(spec), "redis://127.0.0.1:%d?stream=late", port);
    char *argv[] = {(char *)siptapd, "-c", f.conf, "-r", f.pcap, "-o", "-", "-o", spec, NULL};
    pid_t pid = helper_start(argv, f.out, f.err);
    cr_assert_gt(pid, 0);
    helper_pause_ms(6000);
    pid_t srv = helper_redis_start(port);
    cr_assert_gt(srv, 0);
    int rc = helper_wait(pid);
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 0, "exit %d, stderr: %s", rc, errtext);
    size_t n;
    json_t *mine = final_output_stats(f.out, spec, &n);
    cr_assert_geq(n, 30);
    cr_assert_eq(stat_of(mine, "delivered"), (json_int_t)(n - 1), "stats: %s", json_dumps(mine, 0));
    cr_assert_eq(stat_of(mine, "queued"), 0);
    cr_assert_eq(stat_of(mine, "dropped"), 0);
    cr_assert(json_is_true(json_object_get(mine, "connected")));
    json_decref(mine);
    char want[512];
    snprintf(want, sizeof(want), "output %s: %zu delivered, 0 dropped, 0 failed\n", spec, n);
    cr_assert(strstr(errtext, want), "want '%s' in stderr: %s", want, errtext);
    free(errtext);

    redisContext *c = redisConnect("127.0.0.1", port);
    cr_assert(c && !c->err);
    redisReply *r = redisCommand(c, "XLEN late");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER);
    cr_assert_eq(r->integer, (long long)n, "the stream holds %lld of %zu events", r->integer, n);
    freeReplyObject(r);
    redisFree(c);
    helper_redis_stop(srv);
    run_files_fini(&f);
}

/* Kafka's only broker is down until 6 s after the end of the file. */
Test(daemon_outputs, kafka_back_late_gets_everything_in_the_drain)
{
    const char *siptapd = siptapd_path();
    char errstr[256];
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof(errstr));
    cr_assert_not_null(mrk, "%s", errstr);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    cr_assert_not_null(mc);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    cr_assert_eq(rd_kafka_mock_topic_create(mc, "late", 1, 1), 0);
    rd_kafka_mock_broker_set_down(mc, 1);

    struct run_files f;
    run_files_init(&f, 30);
    FILE *c = fopen(f.conf, "a");
    fprintf(c, "[output]\nkafka.reconnect.backoff.max.ms = 200\n");
    fclose(c);
    char spec[256];
    snprintf(spec, sizeof(spec), "kafka://%s/late", boot);
    char *argv[] = {(char *)siptapd, "-c", f.conf, "-r", f.pcap, "-o", "-", "-o", spec, NULL};
    pid_t pid = helper_start(argv, f.out, f.err);
    cr_assert_gt(pid, 0);
    helper_pause_ms(6000);
    rd_kafka_mock_broker_set_up(mc, 1);
    int rc = helper_wait(pid);
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 0, "exit %d, stderr: %s", rc, errtext);
    size_t n;
    json_t *mine = final_output_stats(f.out, spec, &n);
    cr_assert_geq(n, 30);
    cr_assert_eq(stat_of(mine, "delivered"), (json_int_t)(n - 1), "stats: %s", json_dumps(mine, 0));
    cr_assert_eq(stat_of(mine, "queued") + stat_of(mine, "in_flight"), 0);
    cr_assert_eq(stat_of(mine, "dropped"), 0);
    cr_assert_eq(stat_of(mine, "failed"), 0);
    json_decref(mine);
    char want[512];
    snprintf(want, sizeof(want), "output %s: %zu delivered, 0 dropped, 0 failed\n", spec, n);
    cr_assert(strstr(errtext, want), "want '%s' in stderr: %s", want, errtext);
    free(errtext);
    run_files_fini(&f);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

/* Syslog from a replay: each alert of the demo capture is one line stamped
 * with its capture time (2024-01-01, here in UTC), not the time of the
 * replay, and the inbound 404 names its DID. */
Test(daemon_outputs, syslog_lines_of_a_replay_carry_capture_time)
{
    const char *siptapd = siptapd_path();
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    cr_assert(root);
    struct run_files f;
    run_files_init(&f, 1);
    char sock[128], demo[512], conf[512];
    snprintf(sock, sizeof(sock), "%s/log", f.dir);
    snprintf(demo, sizeof(demo), "%s/samples/demo.pcap", root);
    snprintf(conf, sizeof(conf), "%s/samples/demo.conf", root);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setenv("SIPTAP_SYSLOG_SOCKET", sock, 1);
    setenv("TZ", "UTC", 1);
    char *argv[] = {(char *)siptapd, "-c", conf, "-r", demo, "-o", "syslog", NULL};
    int rc = helper_run(argv, f.out, f.err);
    unsetenv("SIPTAP_SYSLOG_SOCKET");
    unsetenv("TZ");
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 0, "exit %d, stderr: %s", rc, errtext);
    free(errtext);

    static const char *const want[] = {
        "<28>Jan  1 00:00:04 siptapd[]: call failed (call demo-404@203.0.113.1): 404 Not Found "
        "(inbound, trunk carrier) to DID 15550100; hint: the PBX has no route for this DID; fix: "
        "add the DID to the PBX's inbound routes, or check the number format the carrier sends "
        "[seq 4]",
        "<28>Jan  1 00:00:07 siptapd[]: registration loop for 3001@203.0.113.1",
        "<28>Jan  1 00:00:20 siptapd[]: one-way audio on call demo-oneway@203.0.113.50",
        "<27>Jan  1 00:00:45 siptapd[]: call dropped on call demo-noack@198.51.100.10",
    };
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char buf[2048], line[2048];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        cr_assert_gt(n, 0, "datagram %zu missing", i);
        buf[n] = '\0';
        /* The PID left out: "siptapd[1234]: " becomes "siptapd[]: ". */
        char *open = strchr(buf, '['), *close = open ? strchr(open, ']') : NULL;
        cr_assert(open && close, "%s", buf);
        snprintf(line, sizeof(line), "%.*s%s", (int)(open - buf + 1), buf, close);
        if (i == 0)
            cr_assert_str_eq(line, want[i]);
        else
            cr_assert(strncmp(line, want[i], strlen(want[i])) == 0, "datagram %zu: %s", i, line);
    }
    close(fd);
    unlink(sock);
    run_files_fini(&f);
}

/* A full disk: nothing written, every event failed, said once, exit 3. */
Test(daemon_outputs, dev_full_fails_every_event_and_exits_3)
{
    const char *siptapd = siptapd_path();
    struct run_files f;
    run_files_init(&f, 10);
    char *argv[] = {(char *)siptapd,  "-c", f.conf, "-r", f.pcap, "-o", "-", "-o",
                    "file:/dev/full", NULL};
    int rc = helper_run(argv, f.out, f.err);
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 3, "exit %d, stderr: %s", rc, errtext);
    const char *first = strstr(errtext, "No space left on device");
    cr_assert(first, "stderr: %s", errtext);
    cr_assert_null(strstr(first + 1, "No space left on device"), "said more than once: %s",
                   errtext);
    size_t n;
    json_t *mine = final_output_stats(f.out, "file:/dev/full", &n);
    cr_assert_eq(stat_of(mine, "delivered"), 0);
    cr_assert_eq(stat_of(mine, "failed"), (json_int_t)(n - 1));
    cr_assert(json_is_false(json_object_get(mine, "writable")));
    json_decref(mine);
    char want[512];
    snprintf(want, sizeof(want), "output file:/dev/full: 0 delivered, 0 dropped, %zu failed\n", n);
    cr_assert(strstr(errtext, want), "want '%s' in stderr: %s", want, errtext);
    free(errtext);
    run_files_fini(&f);
}

Test(daemon_outputs, kafka_records_equal_stdout)
{
    const char *siptapd = siptapd_path();
    char errstr[256];
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof(errstr));
    cr_assert_not_null(mrk, "%s", errstr);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    cr_assert_not_null(mc);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    cr_assert_eq(rd_kafka_mock_topic_create(mc, "siptap-events", 1, 1), 0);

    struct run_files f;
    run_files_init(&f, 20);
    char spec[256];
    snprintf(spec, sizeof(spec), "kafka://%s/siptap-events", boot);
    char *argv[] = {(char *)siptapd, "-c", f.conf, "-r", f.pcap, "-n",
                    "tap-test",      "-o", "-",    "-o", spec,   NULL};
    int rc = helper_run(argv, f.out, f.err);
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 0, "siptapd failed: %s", errtext);
    cr_assert_null(strstr(errtext, "not delivered"), "stderr: %s", errtext);
    free(errtext);
    size_t n;
    char **lines = read_events(f.out, &n);
    cr_assert_geq(n, 20);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", boot, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "daemon-test", errstr, sizeof(errstr));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    cr_assert_not_null(c, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "siptap-events", 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t got = 0;
    double end = helper_now() + 30;
    while (got < n && helper_now() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err) {
            cr_assert_eq(m->len, strlen(lines[got]));
            cr_assert_eq(memcmp(m->payload, lines[got], m->len), 0, "record %zu differs", got);
            /* stats events are keyed by the tap name */
            cr_assert_eq(m->key_len, strlen("tap-test"));
            cr_assert_eq(memcmp(m->key, "tap-test", m->key_len), 0);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    cr_assert_eq(got, n, "consumed %zu of %zu", got, n);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    helper_free_lines(lines);
    run_files_fini(&f);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

static void expect_exit2(const char *spec, const char *needle)
{
    const char *siptapd = siptapd_path();
    struct run_files f;
    run_files_init(&f, 1);
    char *argv[] = {(char *)siptapd, "-r", f.pcap, "-o", (char *)spec, NULL};
    int rc = helper_run(argv, f.out, f.err);
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 2, "-o %s: exit %d, stderr: %s", spec, rc, errtext);
    cr_assert(strstr(errtext, needle), "-o %s: stderr should mention '%s': %s", spec, needle,
              errtext);
    free(errtext);
    run_files_fini(&f);
}

Test(daemon_outputs, malformed_outputs_exit_2_with_the_right_form)
{
    expect_exit2("redis://127.0.0.1:0", "redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME]");
    expect_exit2("redis://127.0.0.1:6379?topic=x", "unknown parameter 'topic'");
    expect_exit2("kafka://127.0.0.1:9092", "kafka://HOST:PORT[,HOST:PORT...]/TOPIC");
    expect_exit2("syslog:kern", "local0");
    expect_exit2("file:", "file:/var/log/siptap/events.jsonl");
}

Test(daemon_outputs, a_bad_drain_timeout_exits_2)
{
    const char *siptapd = siptapd_path();
    struct run_files f;
    run_files_init(&f, 1);
    char *argv[] = {(char *)siptapd, "-r", f.pcap, "--drain-timeout", "soon", NULL};
    int rc = helper_run(argv, f.out, f.err);
    char *errtext = helper_read_file(f.err);
    cr_assert_eq(rc, 2, "exit %d, stderr: %s", rc, errtext);
    cr_assert(strstr(errtext, "--drain-timeout 'soon' must be a whole number of seconds"), "%s",
              errtext);
    free(errtext);
    run_files_fini(&f);
}

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
    json_t *ev = event_new("stats", SEVERITY_INFO, test_ts, NULL, NULL);
    char pad[4096];
    size_t n = size < sizeof(pad) ? size : sizeof(pad) - 1;
    memset(pad, 'x', n);
    pad[n] = '\0';
    json_object_set_new(ev, "pad", json_string(pad));
    event_bus_publish(bus, ev, NULL);
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

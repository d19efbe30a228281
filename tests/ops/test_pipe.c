/*
 * siptapd -r - fed from a pipe that the test holds open, as `tcpdump -w - -U
 * | siptapd -r -` is: half of samples/demo.pcap (cut in the middle of a
 * frame), then nothing for a while. While the pipe is quiet the loop must
 * go on: the metrics port answers and SIGUSR1 writes a stats event; then
 * the rest ends the capture with the events a replay of the file gives. A
 * SIGTERM on the quiet pipe stops siptapd at once, exit 0, with the events
 * of every whole frame it was given. Before the capture thread read pipes,
 * the loop waited in libpcap's read of the pipe: no answer, no stats, and
 * the SIGTERM waited for the writer.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops_util.h"
#include "tests/support/event_schema.h"

/* How long a quiet pipe may keep an answer or a stop waiting. */
#define PROMPT_S 2.0

static char dir[128];
static pid_t daemon_pid;
static int pipe_w = -1;

static void setup(void)
{
    ops_tmpdir(dir, sizeof(dir));
    signal(SIGPIPE, SIG_IGN); /* a daemon that died is an assertion, not our death */
}

/* A failed assertion leaves the test at once: the daemon must not outlive it. */
static void teardown(void)
{
    if (pipe_w >= 0)
        close(pipe_w);
    pipe_w = -1;
    if (daemon_pid > 0)
        ops_stop(daemon_pid, SIGKILL);
    daemon_pid = 0;
    ops_rmtree(dir);
}

TestSuite(pipe, .init = setup, .fini = teardown);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* The exit status of pid if it exits within timeout_s (-1 if not normally),
 * -2 if it is still running then. */
static int wait_exit(pid_t pid, double timeout_s)
{
    for (double end = now_s() + timeout_s;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            daemon_pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_s() > end)
            return -2;
        pause_s(0.02);
    }
}

/* Writes all of buf to the (non-blocking) pipe within timeout_s. */
static bool write_all(int fd, const uint8_t *buf, size_t len, double timeout_s)
{
    double end = now_s() + timeout_s;
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return false;
        double left = end - now_s();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, (int)(left * 1000) + 1);
    }
    return true;
}

struct capture_bytes {
    uint8_t *data;
    size_t len;
    size_t half;        /* where the first write stops: mid-frame */
    int frames_in_half; /* whole frames before it */
};

/* samples/demo.pcap, and the frames wholly within its first half. */
static void read_demo(struct capture_bytes *c)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/samples/demo.pcap", getenv("SIPTAP_SOURCE_ROOT"));
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    c->len = (size_t)ftell(f);
    rewind(f);
    c->data = malloc(c->len);
    cr_assert_eq(fread(c->data, 1, c->len, f), c->len);
    fclose(f);
    c->half = c->len / 2;
    /* A little-endian pcap file: 24 bytes of header, 16 of each record's. */
    cr_assert_eq(c->data[0], 0xd4);
    size_t off = 24;
    c->frames_in_half = 0;
    for (;;) {
        uint32_t caplen;
        memcpy(&caplen, c->data + off + 8, 4);
        if (off + 16 + caplen > c->half)
            break;
        off += 16 + caplen;
        c->frames_in_half++;
    }
    cr_assert_neq(off, c->half, "the cut is to fall inside a frame");
}

static void write_conf(char *conf, size_t conflen, int metrics_port)
{
    char demo_conf[512], text[4096];
    snprintf(demo_conf, sizeof(demo_conf), "%s/samples/demo.conf", getenv("SIPTAP_SOURCE_ROOT"));
    char *base = ops_read_file(demo_conf);
    cr_assert_not_null(base);
    snprintf(conf, conflen, "%s/siptap-%d.conf", dir, metrics_port);
    if (metrics_port > 0)
        snprintf(text, sizeof(text), "%s\n[metrics]\nlisten = 127.0.0.1:%d\n", base, metrics_port);
    else
        snprintf(text, sizeof(text), "%s", base);
    free(base);
    cr_assert(ops_write_file(conf, text));
}

/* siptapd -c conf -r - -o file:out, its standard input the read end of a
 * pipe whose write end (non-blocking, not inherited) is pipe_w. */
static void spawn_on_pipe(const char *conf, const char *out, const char *err)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    char spec[512];
    snprintf(spec, sizeof(spec), "file:%s", out);
    daemon_pid = fork();
    cr_assert_geq(daemon_pid, 0);
    if (daemon_pid == 0) {
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(e, 2);
        dup2(p[0], 0);
        execl(ops_siptapd(), "siptapd", "-c", conf, "-r", "-", "-o", spec, (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    pipe_w = p[1];
    cr_assert_eq(fcntl(pipe_w, F_SETFL, O_NONBLOCK), 0);
}

/* An HTTP GET of /metrics answered within timeout_s: whether the answer is
 * a 200. */
static bool metrics_answer(int port, double timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    bool ok = false;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char buf[64] = "";
        if (poll(&p, 1, (int)(timeout_s * 1000)) == 1 && read(fd, buf, sizeof(buf) - 1) > 0)
            ok = strncmp(buf, "HTTP/1.", 7) == 0 && strstr(buf, " 200 ");
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

static int count_in_file(const char *path, const char *needle)
{
    char *text = ops_read_file(path);
    int n = 0;
    for (const char *p = text ? text : ""; (p = strstr(p, needle)); p++)
        n++;
    free(text);
    return n;
}

/* The events of a JSON Lines file but stats, each without its seq (a stats
 * event takes a number from those after it), as sorted text: equal
 * multisets compare equal. The call_end events' count in *call_ends. */
static json_t *events_but_stats(const char *path, int *call_ends)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    json_t *all = json_array();
    char line[1 << 16];
    *call_ends = 0;
    while (fgets(line, sizeof(line), f)) {
        json_t *ev = json_loads(line, 0, NULL);
        cr_assert_not_null(ev, "not JSON: %s", line);
        event_schema_check(ev);
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (strcmp(type, "stats") != 0) {
            *call_ends += strcmp(type, "call_end") == 0;
            json_object_del(ev, "seq");
            char *text = json_dumps(ev, JSON_SORT_KEYS | JSON_COMPACT);
            json_array_append_new(all, json_string(text));
            free(text);
        }
        json_decref(ev);
    }
    fclose(f);
    return all;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static void assert_same_events(const char *got_path, const char *want_path)
{
    int got_ends, want_ends;
    json_t *got = events_but_stats(got_path, &got_ends);
    json_t *want = events_but_stats(want_path, &want_ends);
    cr_assert_gt(want_ends, 0, "the demo has calls that end");
    cr_assert_eq(got_ends, want_ends, "call_end events: %d from the pipe, %d from the file",
                 got_ends, want_ends);
    size_t n = json_array_size(got);
    cr_assert_eq(n, json_array_size(want), "%zu events from the pipe, %zu from the file", n,
                 json_array_size(want));
    json_t **g = calloc(n, sizeof(*g)), **w = calloc(n, sizeof(*w));
    for (size_t i = 0; i < n; i++) {
        g[i] = json_array_get(got, i);
        w[i] = json_array_get(want, i);
    }
    qsort(g, n, sizeof(*g), by_text);
    qsort(w, n, sizeof(*w), by_text);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(json_string_value(g[i]), json_string_value(w[i]));
    free(g);
    free(w);
    json_decref(got);
    json_decref(want);
}

struct stats_wait {
    const char *path;
    int more_than;
};

static bool more_stats(void *arg)
{
    struct stats_wait *s = arg;
    return count_in_file(s->path, "\"type\":\"stats\"") > s->more_than;
}

Test(pipe, a_quiet_pipe_leaves_the_loop_answering_then_ends_as_the_file)
{
    cr_assert_not_null(ops_siptapd());
    struct capture_bytes cap;
    read_demo(&cap);
    int port = ops_free_port();
    cr_assert_gt(port, 0);
    char conf[512], out[512], err[512], file_out[512];
    write_conf(conf, sizeof(conf), port);
    snprintf(out, sizeof(out), "%s/pipe.jsonl", dir);
    snprintf(err, sizeof(err), "%s/pipe.err", dir);
    spawn_on_pipe(conf, out, err);

    cr_assert(write_all(pipe_w, cap.data, cap.half, 20.0), "siptapd did not read the first half");
    /* Read and processed, and nothing more comes. */
    pause_s(0.5);
    double t0 = now_s();
    cr_assert(metrics_answer(port, PROMPT_S),
              "the metrics port did not answer within %.0f s while the pipe was quiet", PROMPT_S);
    double answered = now_s() - t0;

    struct stats_wait sw = {out, count_in_file(out, "\"type\":\"stats\"")};
    t0 = now_s();
    kill(daemon_pid, SIGUSR1);
    cr_assert(ops_wait_for(more_stats, &sw, PROMPT_S),
              "no stats event within %.0f s of SIGUSR1 while the pipe was quiet", PROMPT_S);
    double stats_after = now_s() - t0;
    cr_log_info("quiet pipe: metrics answered in %.3f s, SIGUSR1's stats in %.3f s", answered,
                stats_after);

    cr_assert(write_all(pipe_w, cap.data + cap.half, cap.len - cap.half, 20.0));
    close(pipe_w);
    pipe_w = -1;
    int rc = wait_exit(daemon_pid, 30.0);
    char *errtext = ops_read_file(err);
    cr_assert_eq(rc, 0, "siptapd -r - exited %d at the end of the pipe; stderr: %s", rc,
                 errtext ? errtext : "");
    free(errtext);

    /* The same capture from the file. */
    char plain_conf[512], demo[512];
    write_conf(plain_conf, sizeof(plain_conf), 0);
    snprintf(file_out, sizeof(file_out), "%s/file.jsonl", dir);
    snprintf(demo, sizeof(demo), "%s/samples/demo.pcap", getenv("SIPTAP_SOURCE_ROOT"));
    char spec[600];
    snprintf(spec, sizeof(spec), "file:%s", file_out);
    char *argv[] = {(char *)ops_siptapd(), "-c", plain_conf, "-r", demo, "-o", spec, NULL};
    cr_assert_eq(ops_run(argv, "/dev/null", "/dev/null"), 0);
    assert_same_events(out, file_out);
    free(cap.data);
}

Test(pipe, sigterm_on_a_quiet_pipe_stops_at_once)
{
    cr_assert_not_null(ops_siptapd());
    struct capture_bytes cap;
    read_demo(&cap);
    char conf[512], out[512], err[512];
    write_conf(conf, sizeof(conf), 0);
    snprintf(out, sizeof(out), "%s/pipe.jsonl", dir);
    snprintf(err, sizeof(err), "%s/pipe.err", dir);
    spawn_on_pipe(conf, out, err);
    cr_assert(write_all(pipe_w, cap.data, cap.half, 20.0), "siptapd did not read the first half");
    pause_s(0.5);

    double t0 = now_s();
    kill(daemon_pid, SIGTERM);
    int rc = wait_exit(daemon_pid, 10.0);
    double took = now_s() - t0;
    cr_log_info("SIGTERM on a quiet pipe: exit %d after %.3f s", rc, took);
    cr_assert_neq(rc, -2, "siptapd still ran 10 s after SIGTERM on a quiet pipe");
    cr_assert_leq(took, PROMPT_S, "siptapd took %.1f s to stop on a quiet pipe", took);
    char *errtext = ops_read_file(err);
    cr_assert_eq(rc, 0, "exit %d; stderr: %s", rc, errtext ? errtext : "");
    free(errtext);

    /* Every whole frame it was given was processed: the last stats event
     * (written at exit) counts them; the frame cut in two is not one. */
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    char line[1 << 16];
    json_int_t packets = -1;
    int starts = 0;
    while (fgets(line, sizeof(line), f)) {
        json_t *ev = json_loads(line, 0, NULL);
        cr_assert_not_null(ev, "not JSON: %s", line);
        event_schema_check(ev);
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (!strcmp(type, "stats"))
            packets = json_integer_value(json_object_get(ev, "packets"));
        starts += !strcmp(type, "call_start");
        json_decref(ev);
    }
    fclose(f);
    cr_assert_eq(packets, cap.frames_in_half, "the last stats event counts %lld packets, not %d",
                 (long long)packets, cap.frames_in_half);
    cr_assert_gt(starts, 0, "the calls of the first half");
    free(cap.data);
}

/*
 * Live capture end to end: a generated load (bench/gen_load, 100 calls of
 * 2 s, ~21,000 frames) replayed with tcpreplay into one end of a veth pair in
 * a network namespace the test makes, siptapd capturing on the other end.
 * The live run must give what `siptapd -r` gives on the same file (every
 * call ended, every stream's packets and lost), before it is told to stop
 * (events leave as their packets arrive, not at shutdown), with no frame
 * lost by the kernel or the capture queue and every frame received.
 *
 * An idle tap (on the loopback of a namespace of its own) costs what
 * docs/deployment.md says: its ring, mapped once and resident from the
 * start, plus a few MiB.
 *
 * Skipped, saying why, when not root, or without tcpreplay or ip.
 * The namespaces (siptap-test-PID, siptap-idle-PID) are removed at the end.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/daemon_events.h"

#define CALLS 100

static char dir[256], ns[64];

static bool in_path(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

static void run(const char *fmt, const char *a, const char *b)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), fmt, a, b);
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "'%s' failed (%d)", cmd, rc);
}

static void teardown(void)
{
    char cmd[512];
    if (ns[0]) {
        snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns);
        (void)system(cmd);
    }
    if (dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        (void)system(cmd);
    }
}

static size_t frames_in(const char *path)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    cr_assert_not_null(p, "%s", err);
    struct pcap_pkthdr *h;
    const u_char *d;
    size_t n = 0;
    while (pcap_next_ex(p, &h, &d) == 1)
        n++;
    pcap_close(p);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line a stream of every call_end, sorted: what live and -r must share. */
static char **stream_lines(const struct daemon_events *all, size_t *count)
{
    size_t cap = 1024, n = 0, j;
    char **lines = malloc(cap * sizeof(*lines));
    json_t *s;
    for (size_t i = 0; i < all->count; i++) {
        const json_t *ev = all->events[i];
        if (strcmp(daemon_event_type(ev), "call_end") != 0)
            continue;
        json_array_foreach(json_object_get(ev, "streams"), j, s)
        {
            if (n == cap)
                lines = realloc(lines, (cap *= 2) * sizeof(*lines));
            char buf[512];
            snprintf(buf, sizeof(buf), "%s %s>%s %s packets %lld lost %lld",
                     json_string_value(json_object_get(ev, "call_id")),
                     json_string_value(json_object_get(s, "src")),
                     json_string_value(json_object_get(s, "dst")),
                     json_string_value(json_object_get(s, "ssrc")),
                     (long long)json_integer_value(json_object_get(s, "packets")),
                     (long long)json_integer_value(json_object_get(s, "lost")));
            lines[n++] = strdup(buf);
        }
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    *count = n;
    return lines;
}

static size_t threads_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

Test(live, replay_into_a_veth_equals_the_file_run, .fini = teardown, .timeout = 120)
{
    if (geteuid() != 0)
        cr_skip_test("live capture needs root (a network namespace and a packet socket)");
    if (!in_path("tcpreplay") || !in_path("ip"))
        cr_skip_test("tcpreplay or ip (iproute2) is not installed");
    const char *siptapd = getenv("SIPTAPD"), *build = getenv("SIPTAP_BUILD_ROOT");
    cr_assert(siptapd && build, "SIPTAPD and SIPTAP_BUILD_ROOT are set by meson");
    snprintf(dir, sizeof(dir), "/tmp/siptap-live-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char cap[512], off[512], live[512], gen[512], err[512];
    snprintf(cap, sizeof(cap), "%s/load.pcap", dir);
    snprintf(off, sizeof(off), "%s/offline.jsonl", dir);
    snprintf(live, sizeof(live), "%s/live.jsonl", dir);
    snprintf(err, sizeof(err), "%s/stderr", dir);
    snprintf(gen, sizeof(gen), "%s/bench/gen_load", build);
    run("%s %s 100 2 2>/dev/null", gen, cap);
    size_t frames = frames_in(cap);
    {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "%s -r %s -o file:%s", siptapd, cap, off);
        cr_assert_eq(system(cmd), 0);
    }

    snprintf(ns, sizeof(ns), "siptap-test-%d", (int)getpid());
    run("ip netns add %s%s", ns, "");
    run("ip -n %s link add va type veth peer name vb%s", ns, "");
    run("ip -n %s link set va up && ip -n %s link set vb up", ns, ns);
    run("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1%s", ns, "");

    char out[600];
    snprintf(out, sizeof(out), "file:%s", live);
    char *argv[] = {"ip",        "netns", "exec", ns,  (char *)siptapd, "-i", "vb", "-n",
                    "live-test", "-o",    out,    NULL};
    pid_t pid = daemon_spawn(argv, NULL, err);
    /* Ready once its capture thread runs (ip netns exec execs siptapd). */
    for (int i = 0; i < 100 && threads_of(pid) < 2; i++)
        sleep_ms(100);
    cr_assert_geq(threads_of(pid), 2, "siptapd did not start capturing: %s", daemon_read_text(err));
    run("ip netns exec %s tcpreplay -q -i va --pps=10000 %s >/dev/null 2>&1", ns, cap);
    /* Every call ends on the wire: its call_end comes without a stop. */
    struct daemon_events got = {0};
    for (int i = 0; i < 50; i++) {
        sleep_ms(100);
        daemon_events_free(&got);
        daemon_events_read_file(&got, live);
        if (daemon_events_count(&got, "call_end") == CALLS)
            break;
    }
    cr_assert_eq(daemon_events_count(&got, "call_end"), CALLS,
                 "call_end events before the stop: %zu", daemon_events_count(&got, "call_end"));
    daemon_events_free(&got);
    kill(pid, SIGTERM);
    int status = daemon_wait(pid, 60);
    cr_assert_eq(status, 0, "siptapd exit status %d: %s", status, daemon_read_text(err));

    struct daemon_events offline, online;
    cr_assert(daemon_events_read_file(&offline, off));
    cr_assert(daemon_events_read_file(&online, live));
    cr_assert_eq(daemon_events_count(&offline, "call_end"), CALLS);
    cr_assert_eq(daemon_events_count(&online, "call_end"), CALLS);
    size_t n_off, n_live;
    char **a = stream_lines(&offline, &n_off), **b = stream_lines(&online, &n_live);
    cr_assert_eq(n_off, 2 * CALLS, "two streams a call");
    cr_assert_eq(n_live, n_off);
    for (size_t i = 0; i < n_off; i++)
        cr_assert_str_eq(b[i], a[i]);
    for (size_t i = 0; i < n_off; i++) {
        free(a[i]);
        free(b[i]);
    }
    free(a);
    free(b);

    json_t *stats = daemon_events_last(&online, "stats");
    cr_assert_not_null(stats, "a final stats event");
    json_t *c = json_object_get(stats, "capture");
    cr_assert(json_is_object(c));
    cr_assert_eq(json_integer_value(json_object_get(stats, "kernel_drops")), 0);
    cr_assert_eq(json_integer_value(json_object_get(c, "kernel_drops")), 0);
    cr_assert_eq(json_integer_value(json_object_get(c, "queue_drops")), 0);
    cr_assert_eq(json_integer_value(json_object_get(c, "queue_backlog")), 0);
    cr_assert_eq((size_t)json_integer_value(json_object_get(stats, "packets")), frames);
    cr_assert_eq((size_t)json_integer_value(json_object_get(c, "received")), frames);
    cr_assert_null(json_object_get(daemon_events_last(&online, "call_end"), "capture_loss"));
    daemon_events_free(&offline);
    daemon_events_free(&online);
}

/* The ring mapping's Rss and the process's VmRSS, in kB, from /proc; false
 * until the ring is mapped. *rings counts the packet-socket mappings. */
static bool rss_of(pid_t pid, long *vm_rss_kb, long *ring_kb, int *rings)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool in_socket = false;
    *ring_kb = 0;
    *rings = 0;
    while (fgets(line, sizeof(line), f)) {
        long kb;
        size_t hex = strspn(line, "0123456789abcdef");
        if (hex > 0 && line[hex] == '-') {
            /* A mapping's header line: "start-end perms offset dev inode name". */
            in_socket = strstr(line, " socket:[") != NULL;
            *rings += in_socket;
        } else if (in_socket && sscanf(line, "Rss: %ld kB", &kb) == 1) {
            *ring_kb += kb;
        }
    }
    fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    *vm_rss_kb = 0;
    while (fgets(line, sizeof(line), f))
        sscanf(line, "VmRSS: %ld kB", vm_rss_kb);
    fclose(f);
    return *rings > 0 && *vm_rss_kb > 0;
}

/* What docs/deployment.md says an idle tap costs: the kernel's ring
 * ([capture] buffer_mb, 64 MiB by default), mapped once and resident from
 * the start, plus a few MiB of its own and of the libraries. */
Test(live, an_idle_tap_costs_its_ring_and_a_few_mib, .fini = teardown, .timeout = 60)
{
    if (geteuid() != 0)
        cr_skip_test("live capture needs root (a network namespace and a packet socket)");
    if (!in_path("ip"))
        cr_skip_test("ip (iproute2) is not installed");
    const char *siptapd = getenv("SIPTAPD");
    cr_assert(siptapd, "SIPTAPD is set by meson");
    snprintf(ns, sizeof(ns), "siptap-idle-%d", (int)getpid());
    run("ip netns add %s%s", ns, "");
    run("ip -n %s link set lo up%s", ns, "");
    char *argv[] = {"ip", "netns", "exec",           ns,  (char *)siptapd, "-i",
                    "lo", "-o",    "file:/dev/null", NULL};
    pid_t pid = daemon_spawn(argv, NULL, NULL);
    /* ip netns exec execs siptapd in place: pid is the daemon. */
    long vm_rss = 0, ring = 0;
    int rings = 0;
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        sleep_ms(100);
        up = threads_of(pid) >= 2 && rss_of(pid, &vm_rss, &ring, &rings);
    }
    cr_assert(up, "siptapd did not map its ring");
    sleep_ms(1000);
    cr_assert(rss_of(pid, &vm_rss, &ring, &rings));
    kill(pid, SIGTERM);
    int st = daemon_wait(pid, 30);
    cr_assert_eq(st, 0, "status %d", st);
    cr_log_info("idle tap: VmRSS %ld kB, ring %ld kB", vm_rss, ring);
    cr_assert_eq(rings, 1, "the ring is mapped %d times", rings);
    cr_assert_eq(ring, 64 * 1024, "ring of %ld kB resident, not the default 64 MiB", ring);
    cr_assert_lt(vm_rss - ring, 16 * 1024, "%ld kB besides the ring", vm_rss - ring);
}

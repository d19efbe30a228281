/* Tests of capture's batching: frames read from a file reach the caller in
 * order, whole, in batches of at most CAPTURE_BATCH_FRAMES copied frames, and
 * a frame too large for the copy arena comes alone, after those before it.
 * A file libpcap cannot read (Network Monitor) is refused with the command
 * that converts it. A capture that does not open says why in its result
 * (enum capture_error), which callers decide on, not the message. A pipe is
 * read by the capture thread: it waits for room in the queue rather than
 * drop, and a quiet pipe neither holds the loop nor delays a stop. */
#include <criterion/criterion.h>
#include <ev.h>
#include <pcap/pcap.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/capture.h"

#define FRAMES   100
#define JUMBO_AT 57
#define JUMBO    (CAPTURE_ARENA_BYTES + 1000)

struct seen {
    size_t frames, batches, largest_batch;
    size_t jumbo_batch_size;
    bool in_order, bytes_ok, ended;
};

/* Frame i: length and contents derived from i, so any mix-up shows. */
static size_t frame_len(size_t i)
{
    return i == JUMBO_AT ? JUMBO : 60 + (i * 37) % 1400;
}

static uint8_t frame_byte(size_t i, size_t k)
{
    return (uint8_t)(i * 31 + k * 7);
}

static void write_capture(const char *path)
{
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 262144);
    cr_assert_not_null(dead);
    pcap_dumper_t *dump = pcap_dump_open(dead, path);
    cr_assert_not_null(dump);
    uint8_t *buf = malloc(JUMBO);
    cr_assert_not_null(buf);
    for (size_t i = 0; i < FRAMES; i++) {
        struct pcap_pkthdr h = {.ts = {.tv_sec = 1000, .tv_usec = (suseconds_t)i}};
        h.caplen = h.len = (bpf_u_int32)frame_len(i);
        for (size_t k = 0; k < h.caplen; k++)
            buf[k] = frame_byte(i, k);
        pcap_dump((u_char *)dump, &h, buf);
    }
    free(buf);
    pcap_dump_close(dump);
    pcap_close(dead);
}

static void on_batch(void *user, const struct capture_frame *frames, size_t count)
{
    struct seen *s = user;
    cr_assert_geq(count, 1);
    cr_assert_leq(count, CAPTURE_BATCH_FRAMES);
    s->batches++;
    if (count > s->largest_batch)
        s->largest_batch = count;
    for (size_t j = 0; j < count; j++) {
        size_t i = s->frames++;
        const struct capture_frame *fr = &frames[j];
        if ((size_t)fr->hdr.ts.tv_usec != i)
            s->in_order = false;
        if (fr->hdr.caplen != frame_len(i))
            s->bytes_ok = false;
        for (size_t k = 0; k < fr->hdr.caplen && s->bytes_ok; k++)
            if (fr->data[k] != frame_byte(i, k))
                s->bytes_ok = false;
        if (i == JUMBO_AT)
            s->jumbo_batch_size = count;
    }
}

static void on_end(void *user)
{
    struct seen *s = user;
    s->ended = true;
}

Test(capture, file_frames_arrive_in_order_whole_and_batched)
{
    char path[] = "/tmp/siptap-capture-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    write_capture(path);

    struct capture c;
    char err[256];
    struct capture_options o = {.snaplen = 262144};
    cr_assert_eq(capture_open_file(&c, path, &o, err, sizeof(err)), 0, "%s", err);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct seen s = {.in_order = true, .bytes_ok = true};
    capture_start(&c, loop, on_batch, on_end, &s);
    ev_run(loop, 0);
    capture_close(&c);
    ev_loop_destroy(loop);
    unlink(path);

    cr_assert(s.ended);
    cr_assert_eq(s.frames, FRAMES);
    cr_assert(s.in_order);
    cr_assert(s.bytes_ok);
    cr_assert_eq(s.largest_batch, CAPTURE_BATCH_FRAMES); /* batching does happen */
    cr_assert_eq(s.jumbo_batch_size, 1);                 /* the jumbo frame alone */
    /* 57 frames before the jumbo one need at least 4 batches, the 42 after at
     * least 3; the jumbo frame is one more. */
    cr_assert_geq(s.batches, 8);
}

/* The kernel ring of a live capture, as mapped into the process: its size in
 * MiB (the packet socket's mapping), 0 if there is none. */
static size_t ring_mib(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512];
    size_t mib = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && strstr(line, "socket:["))
            mib = (hi - lo) >> 20;
    }
    fclose(f);
    return mib;
}

/* buffer_mb once went through an int of bytes: 2048 and above overflowed to
 * a 4 MiB ring, silently. The largest the configuration allows must give a
 * ring of that size, and one past it must be refused with the bound. */
Test(capture, largest_buffer_gives_a_ring_that_large)
{
    if (geteuid() != 0)
        cr_skip_test("a live capture on lo needs root (CAP_NET_RAW)");
    struct capture c;
    char err[512] = "";
    struct capture_options o = {.snaplen = 65535, .buffer_mb = CAPTURE_MAX_BUFFER_MB};
    cr_assert_eq(capture_open_live(&c, "lo", &o, err, sizeof(err)), 0, "%s", err);
    size_t mib = ring_mib();
    capture_close(&c);
    cr_assert(mib >= CAPTURE_MAX_BUFFER_MB - 1 && mib <= CAPTURE_MAX_BUFFER_MB,
              "a ring of %zu MiB for buffer_mb = %d", mib, CAPTURE_MAX_BUFFER_MB);

    o.buffer_mb = CAPTURE_MAX_BUFFER_MB + 1;
    cr_assert_eq(capture_open_live(&c, "lo", &o, err, sizeof(err)), CAPTURE_ERR_OPTIONS);
    cr_assert(strstr(err, "1 to 2047 MiB"), "%s", err);
}

Test(capture, netmon_file_is_refused_with_the_command_that_converts_it)
{
    /* The start of a Network Monitor 2.x file: libpcap has no reader for it. */
    char path[] = "/tmp/siptap-netmon-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    static const uint8_t head[32] = {'G', 'M', 'B', 'U', 0x02, 0x02, 0x01, 0x00};
    cr_assert_eq(write(fd, head, sizeof(head)), (ssize_t)sizeof(head));
    close(fd);
    struct capture c;
    char err[512];
    struct capture_options o = {.snaplen = 262144};
    cr_assert_eq(capture_open_file(&c, path, &o, err, sizeof(err)), CAPTURE_ERR_NOT_A_CAPTURE);
    cr_assert(strstr(err, "Network Monitor"), "%s", err);
    cr_assert(strstr(err, "editcap -F pcapng"), "%s", err);
    unlink(path);
}

/* ---- why a capture does not open ---- */

Test(capture, a_missing_file_is_no_such_source)
{
    struct capture c;
    char err[512];
    struct capture_options o = {.snaplen = 262144};
    cr_assert_eq(capture_open_file(&c, "/nonexistent/x.pcap", &o, err, sizeof(err)),
                 CAPTURE_ERR_NO_SUCH_SOURCE);
    cr_assert(strstr(err, "cannot read /nonexistent/x.pcap"), "%s", err);
}

Test(capture, a_file_of_text_is_not_a_capture)
{
    char path[] = "/tmp/siptap-text-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    static const char text[] = "INVITE sip:bob@example.com SIP/2.0\r\n\r\n";
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    struct capture c;
    char err[512];
    struct capture_options o = {.snaplen = 262144};
    cr_assert_eq(capture_open_file(&c, path, &o, err, sizeof(err)), CAPTURE_ERR_NOT_A_CAPTURE);
    cr_assert(strstr(err, "cannot read"), "%s", err);
    unlink(path);
}

/* The filter is the user's: a usage error the daemon exits 2 for. */
Test(capture, a_filter_that_does_not_compile_is_a_bad_filter)
{
    char path[] = "/tmp/siptap-capture-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    write_capture(path);
    struct capture c;
    char err[512];
    struct capture_options o = {.snaplen = 262144, .bpf = "udp and and"};
    cr_assert_eq(capture_open_file(&c, path, &o, err, sizeof(err)), CAPTURE_ERR_FILTER);
    cr_assert(strstr(err, "bad capture filter 'udp and and'"), "%s", err);
    o.bpf = "udp port 5060";
    cr_assert_eq(capture_open_file(&c, path, &o, err, sizeof(err)), CAPTURE_OK, "%s", err);
    capture_close(&c);
    unlink(path);
}

/* The buffer is checked before libpcap is asked for anything: no root needed. */
Test(capture, a_buffer_out_of_range_is_an_options_error)
{
    struct capture c;
    char err[512];
    struct capture_options o = {.snaplen = 65535, .buffer_mb = 0};
    cr_assert_eq(capture_open_live(&c, "lo", &o, err, sizeof(err)), CAPTURE_ERR_OPTIONS);
    cr_assert(strstr(err, "1 to 2047 MiB"), "%s", err);
}

Test(capture, a_missing_interface_is_no_such_source)
{
    if (geteuid() != 0)
        cr_skip_test("without CAP_NET_RAW any interface is refused first");
    struct capture c;
    char err[512];
    struct capture_options o = {.snaplen = 65535, .buffer_mb = 4};
    cr_assert_eq(capture_open_live(&c, "siptap-none0", &o, err, sizeof(err)),
                 CAPTURE_ERR_NO_SUCH_SOURCE, "%s", err);
    cr_assert(strstr(err, "siptap-none0"), "%s", err);
}

/* capture_open_live (live) or capture_open_file of source as a user who may
 * neither read the file nor capture: as root, in a child that becomes
 * nobody first. */
static enum capture_error open_unprivileged(const char *source, bool live)
{
    struct capture c;
    char err[512];
    struct capture_options o = {.snaplen = 65535, .buffer_mb = 4};
    if (geteuid() != 0)
        return live ? capture_open_live(&c, source, &o, err, sizeof(err))
                    : capture_open_file(&c, source, &o, err, sizeof(err));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(100);
        _exit(live ? capture_open_live(&c, source, &o, err, sizeof(err))
                   : capture_open_file(&c, source, &o, err, sizeof(err)));
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    if (WEXITSTATUS(status) == 100)
        cr_skip_test("cannot become nobody here");
    return (enum capture_error)WEXITSTATUS(status);
}

Test(capture, a_file_this_user_may_not_read_is_no_permission)
{
    char path[] = "/tmp/siptap-capture-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    write_capture(path);
    cr_assert_eq(chmod(path, 0), 0);
    enum capture_error why = open_unprivileged(path, false);
    unlink(path);
    cr_assert_eq(why, CAPTURE_ERR_NO_PERMISSION);
}

Test(capture, an_interface_this_user_may_not_capture_on_is_no_permission)
{
    cr_assert_eq(open_unprivileged("lo", true), CAPTURE_ERR_NO_PERMISSION);
}

/* ---- -r of a pipe: the capture thread reads it ---- */

#define PIPE_FRAMES    8000
#define PIPE_FRAME_LEN 1400

struct piped {
    struct capture *c;
    size_t frames, batches;
    bool in_order, ended;
    struct ev_loop *loop;
};

/* The writer of a pipe's capture, on a thread of its own: `frames` frames
 * (frame i: its number in the first bytes, its index in microseconds for
 * time), then the pipe held open until the test closes it (hold) or
 * closed (the end of the capture). */
struct pipe_writer {
    int fd;
    size_t frames;
    bool hold;
    pthread_t thread;
    pcap_dumper_t *dump;
    pcap_t *dead;
};

static void *write_frames(void *arg)
{
    struct pipe_writer *w = arg;
    uint8_t frame[PIPE_FRAME_LEN] = {0};
    for (size_t i = 0; i < w->frames; i++) {
        struct pcap_pkthdr h = {
            .ts = {.tv_sec = 1000 + (time_t)(i / 1000000), .tv_usec = (suseconds_t)(i % 1000000)},
            .caplen = PIPE_FRAME_LEN,
            .len = PIPE_FRAME_LEN};
        memcpy(frame, &i, sizeof(i));
        pcap_dump((u_char *)w->dump, &h, frame);
    }
    pcap_dump_flush(w->dump);
    if (!w->hold)
        pcap_dump_close(w->dump);
    return NULL;
}

/* Starts the writer; the path that reads the pipe in path. */
static void start_pipe_writer(struct pipe_writer *w, size_t frames, bool hold, char *path,
                              size_t pathlen, int *read_fd)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    *read_fd = p[0];
    snprintf(path, pathlen, "/dev/fd/%d", p[0]);
    *w = (struct pipe_writer){.fd = p[1], .frames = frames, .hold = hold};
    w->dead = pcap_open_dead(DLT_EN10MB, 65535);
    FILE *f = fdopen(p[1], "wb");
    cr_assert_not_null(f);
    w->dump = pcap_dump_fopen(w->dead, f);
    cr_assert_not_null(w->dump);
    cr_assert_eq(pthread_create(&w->thread, NULL, write_frames, w), 0);
}

static void end_pipe_writer(struct pipe_writer *w)
{
    pthread_join(w->thread, NULL);
    if (w->hold)
        pcap_dump_close(w->dump);
    pcap_close(w->dead);
}

static void on_piped_batch(void *user, const struct capture_frame *frames, size_t count)
{
    struct piped *s = user;
    cr_assert_geq(count, 1);
    /* The first batches slowly: the thread must find the queue full. */
    if (s->batches++ < 20) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    for (size_t j = 0; j < count; j++) {
        size_t i;
        memcpy(&i, frames[j].data, sizeof(i));
        if (i != s->frames++ || frames[j].hdr.caplen != PIPE_FRAME_LEN)
            s->in_order = false;
    }
}

static void on_piped_end(void *user)
{
    struct piped *s = user;
    s->ended = true;
}

/* A pipe's capture may wait: with the loop slow, the thread fills the
 * queue to its small bound and then waits for room (the writer waits in
 * turn), dropping nothing; the end of the pipe ends the capture after every
 * frame. */
Test(capture, a_pipe_waits_for_room_and_loses_nothing)
{
    struct pipe_writer writer;
    char path[64];
    int read_fd;
    start_pipe_writer(&writer, PIPE_FRAMES, false, path, sizeof(path), &read_fd);
    struct capture c;
    char err[256];
    struct capture_options o = {.snaplen = 65535};
    cr_assert_eq(capture_open_file(&c, path, &o, err, sizeof(err)), 0, "%s", err);
    close(read_fd);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct piped s = {.c = &c, .in_order = true, .loop = loop};
    capture_start(&c, loop, on_piped_batch, on_piped_end, &s);
    ev_run(loop, 0);
    struct capture_loss loss;
    capture_loss_now(&c, &loss);
    size_t peak = capture_queue_peak_bytes(&c), bound = c.queue.max_chunks;
    capture_close(&c);
    ev_loop_destroy(loop);
    end_pipe_writer(&writer);

    cr_assert(s.ended);
    cr_assert_eq(s.frames, PIPE_FRAMES);
    cr_assert(s.in_order);
    cr_assert_eq(loss.queue_drops, 0);
    cr_assert_geq(bound, 2, "the pipe is read through the capture queue");
    cr_assert_eq(peak, bound * capture_queue_chunk_size(), "the queue was full at times");
    cr_assert_leq(peak, (size_t)PIPE_QUEUE_MB << 20);
}

static void stop_quiet_pipe(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct piped *s = w->data;
    /* Frames read before the pipe went quiet reached the loop while it is quiet. */
    cr_assert_eq(s->frames, 10, "%zu of the 10 frames before the pipe went quiet", s->frames);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    capture_stop(s->c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_lt(took, 0.5, "capture_stop took %.3f s on a quiet pipe", took);
    ev_break(loop, EVBREAK_ALL);
}

/* A quiet pipe holds neither the loop (the timer fires) nor the frames
 * read before it went quiet, and a stop does not wait for the writer. */
Test(capture, a_quiet_pipe_is_delivered_and_stops_at_once)
{
    struct pipe_writer writer;
    char path[64];
    int read_fd;
    start_pipe_writer(&writer, 10, true, path, sizeof(path), &read_fd);
    struct capture c;
    char err[256];
    struct capture_options o = {.snaplen = 65535};
    cr_assert_eq(capture_open_file(&c, path, &o, err, sizeof(err)), 0, "%s", err);
    close(read_fd);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct piped s = {.c = &c, .in_order = true, .loop = loop};
    ev_timer stop;
    ev_timer_init(&stop, stop_quiet_pipe, 0.5, 0);
    stop.data = &s;
    ev_timer_start(loop, &stop);
    capture_start(&c, loop, on_piped_batch, on_piped_end, &s);
    ev_run(loop, 0);
    capture_close(&c);
    ev_loop_destroy(loop);
    end_pipe_writer(&writer);
    cr_assert(!s.ended);
    cr_assert(s.in_order);
}

/* Tests of capture's batching: frames read from a file reach the caller in
 * order, whole, in batches of at most CAPTURE_BATCH_FRAMES copied frames, and
 * a frame too large for the copy arena comes alone, after those before it.
 * A file libpcap cannot read (Network Monitor) is refused with the command
 * that converts it. */
#include <criterion/criterion.h>
#include <ev.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    cr_assert_neq(capture_open_live(&c, "lo", &o, err, sizeof(err)), 0);
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
    cr_assert_neq(capture_open_file(&c, path, &o, err, sizeof(err)), 0);
    cr_assert(strstr(err, "Network Monitor"), "%s", err);
    cr_assert(strstr(err, "editcap -F pcapng"), "%s", err);
    unlink(path);
}

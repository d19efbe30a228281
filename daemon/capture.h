/*
 * capture: libpcap inside the libev loop.
 *
 * Live (-i): pcap_create with promiscuous and immediate mode, a kernel buffer
 * of the configured size, non-blocking; the selectable fd sits in an ev_io
 * and each readiness drains the buffer in pcap_dispatch batches.
 * Offline (-r): an ev_idle reads the file in batches, so signals and output
 * I/O are still served between batches; at end of file on_end() is called.
 * Drop figures from pcap_stats are kept for the stats event.
 *
 * Frames reach the caller in small batches (up to CAPTURE_BATCH_FRAMES), each
 * frame copied out of libpcap's buffer, which the next read reuses: so the
 * caller can look a batch over before processing it (the daemon prefetches
 * the batch's media flows, whose cache misses then overlap). A batch never
 * waits for frames to come: whatever one pcap_dispatch() read is delivered
 * before it returns. Frames larger than the copy arena (jumbo snaplens) come
 * alone, uncopied, after the frames before them.
 */
#ifndef SIPTAP_DAEMON_CAPTURE_H
#define SIPTAP_DAEMON_CAPTURE_H

#include <ev.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>

#define CAPTURE_BATCH_FRAMES 16
#define CAPTURE_ARENA_BYTES  (64 * 1024)

/* One frame of a batch: valid until the batch callback returns. */
struct capture_frame {
    struct pcap_pkthdr hdr;
    const uint8_t *data;
};

/* count >= 1 frames, in capture order. */
typedef void (*capture_batch_fn)(void *user, const struct capture_frame *frames, size_t count);
typedef void (*capture_end_fn)(void *user);

struct capture {
    pcap_t *pcap;
    bool live;
    bool running;
    int batch;
    ev_io io;
    ev_idle idle;
    struct ev_loop *loop;
    capture_batch_fn on_batch;
    capture_end_fn on_end;
    void *user;
    /* The batch being gathered: frames copied into arena (NULL when it
     * could not be allocated: frames then come one at a time, uncopied). */
    struct capture_frame held[CAPTURE_BATCH_FRAMES];
    size_t held_count;
    uint8_t *arena;
    size_t arena_used;
    char source[256];
    /* For the progress line: file size and position. */
    long file_size;
};

struct capture_options {
    unsigned snaplen;
    unsigned buffer_mb;
    const char *bpf; /* NULL or "" for everything */
};

/* 0 on success; on failure -1 with a message in err (the caller exits 1). */
int capture_open_live(struct capture *c, const char *iface, const struct capture_options *o,
                      char *err, size_t errlen);
int capture_open_file(struct capture *c, const char *path, const struct capture_options *o,
                      char *err, size_t errlen);
int capture_datalink(const struct capture *c);
void capture_start(struct capture *c, struct ev_loop *loop, capture_batch_fn on_batch,
                   capture_end_fn on_end, void *user);
void capture_stop(struct capture *c);
/* Kernel figures for live capture; false when not available. */
bool capture_kernel_stats(struct capture *c, uint64_t *received, uint64_t *dropped,
                          uint64_t *if_dropped);
/* Offline: fraction of the file read, 0..1; -1 if unknown. */
double capture_progress(const struct capture *c);
void capture_close(struct capture *c);

#endif

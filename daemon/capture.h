/*
 * capture: libpcap, and its hand-off to the libev loop.
 *
 * Live (-i): pcap_create with promiscuous mode and without immediate mode,
 * so libpcap uses TPACKET_V3: the kernel fills blocks of the ring and hands
 * over a block when it is full or when timeout_ms has passed since its
 * first frame (the bound on how late a frame on a quiet wire is seen). A
 * capture thread of its own waits on the ring, copies every frame into the
 * bounded capture_queue and wakes the loop (ev_async) when a chunk is
 * ready: analysis, outputs and a slow moment in either run on the loop,
 * and a backlog waits in user space (up to queue_mb) instead of filling
 * the kernel's ring. Frames the queue has no room for are dropped and
 * counted there; the thread also reads pcap_stats (kernel and interface
 * drops) every STATS_INTERVAL. The loop processes chunks a few at a time,
 * so signals, timers and sinks get their turn during a flood.
 * Offline (-r) of a regular file: an ev_idle reads the file in batches on
 * the loop itself (there is no ring to keep drained and a file never makes
 * a read wait), so signals and output I/O are still served between
 * batches; at end of file on_end() is called.
 * Offline (-r) of anything else (-, a pipe, a FIFO, a character device, a
 * socket): a read can wait for as long as the writer is quiet, and the loop
 * must never wait, so the capture thread reads it, as for live, into the
 * same capture_queue. Its FILE (pcap reads through stdio) is one of ours
 * (fopencookie): each read polls the pipe and an eventfd the loop writes,
 * so a stop wakes a thread that waits for data, and before waiting the
 * thread hands the frames it has to the loop (a quiet pipe does not hold
 * frames back). A full queue makes the thread wait for room, not drop: a
 * pipe loses nothing by waiting (its writer waits in turn: backpressure),
 * so the pipe's queue is small (PIPE_QUEUE_MB at most). At the end of the
 * pipe, once the loop has processed every frame, on_end() is called, as at
 * the end of a file. Capture time follows the frames as for a file: while
 * the pipe is quiet the capture clock does not move (right for a replay of
 * tcpdump -w -; a live tap is -i).
 *
 * Frames reach the caller in batches, each frame copied out of libpcap's
 * buffer, which the next read reuses: so the caller can look a batch over
 * before processing it (the daemon prefetches the batch's media flows,
 * whose cache misses then overlap). Offline batches hold at most
 * CAPTURE_BATCH_FRAMES; a batch never waits for frames to come: whatever
 * one pcap_dispatch() read is delivered before it returns. Offline frames
 * larger than the copy arena (jumbo snaplens) come alone, uncopied, after
 * the frames before them.
 */
#ifndef SIPTAP_DAEMON_CAPTURE_H
#define SIPTAP_DAEMON_CAPTURE_H

#include <ev.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/capture_queue.h"

#define CAPTURE_BATCH_FRAMES 16
#define CAPTURE_ARENA_BYTES  (64 * 1024)
/* pcap_set_buffer_size takes an int of bytes: 2047 MiB is the most it can. */
#define CAPTURE_MAX_BUFFER_MB 2047
/* -r of a pipe: the most the queue holds (less if queue_mb is smaller). */
#define PIPE_QUEUE_MB 4

/* count >= 1 frames, in capture order, valid until the callback returns. */
typedef void (*capture_batch_fn)(void *user, const struct capture_frame *frames, size_t count);
typedef void (*capture_end_fn)(void *user);

struct capture {
    pcap_t *pcap;
    bool live;
    bool pipe; /* -r of a pipe (not a regular file): read by the thread */
    bool running;
    int batch;
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

    /* Live and pipe: the capture thread, the queue it fills and the loop's
     * wake-up. */
    struct capture_queue queue;
    bool thread_started;
    pthread_t thread;
    _Atomic bool stop_thread;
    _Atomic bool failed;                /* live: the thread stopped on an error */
    _Atomic bool ended;                 /* pipe: the thread read its end (or an error) */
    char error[PCAP_ERRBUF_SIZE + 256]; /* its message, written before failed or ended */
    int pipe_fd;                        /* pipe: what the thread reads */
    int wake_fd;                        /* pipe: eventfd, loop -> thread: stop, or room */
    char *pipe_buffer;                  /* pipe: its FILE's buffer (outlives the FILE) */
    struct capture_chunk *filling;      /* the thread's */
    struct {                            /* the thread's pcap_stats bookkeeping */
        uint64_t last_ns;
        unsigned recv, drop, ifdrop;
    } stats;
    ev_async wake;
    /* Loss totals as of the frames the loop is processing now. */
    struct capture_loss delivered_loss;
};

struct capture_options {
    unsigned snaplen;
    unsigned buffer_mb;  /* kernel ring, 1..CAPTURE_MAX_BUFFER_MB */
    unsigned timeout_ms; /* live: TPACKET_V3 block timeout (0: 10) */
    unsigned queue_mb;   /* the capture queue's bound (0: 256; a pipe's: PIPE_QUEUE_MB at most) */
    const char *bpf;     /* NULL or "" for everything */
};

/* What opening a capture came to. Callers decide on it (the daemon's exit
 * status), never on the message in err: that is for the user, and may be
 * reworded. */
enum capture_error {
    CAPTURE_OK = 0,
    CAPTURE_ERR_NO_SUCH_SOURCE, /* no such file or interface */
    CAPTURE_ERR_NO_PERMISSION,  /* it exists, and this user may not read or capture on it */
    CAPTURE_ERR_NOT_A_CAPTURE,  /* a file libpcap cannot read (not pcap or pcapng) */
    CAPTURE_ERR_OPTIONS,        /* struct capture_options out of range (buffer_mb) */
    CAPTURE_ERR_FILTER,         /* o->bpf does not compile for the source's link type */
    CAPTURE_ERR_FAILED,         /* anything else: memory, the kernel, libpcap */
};
/* CAPTURE_OK, or an error with a message in err (the capture is closed
 * again). The capture stays where it is once open: the thread and a pipe's
 * FILE hold its address. */
enum capture_error capture_open_live(struct capture *c, const char *iface,
                                     const struct capture_options *o, char *err, size_t errlen);
enum capture_error capture_open_file(struct capture *c, const char *path,
                                     const struct capture_options *o, char *err, size_t errlen);
int capture_datalink(const struct capture *c);
void capture_start(struct capture *c, struct ev_loop *loop, capture_batch_fn on_batch,
                   capture_end_fn on_end, void *user);
void capture_stop(struct capture *c);
/* The loss totals now, and the frames the kernel passed the filter
 * (ps_recv): live only, zeros offline (nothing is lost reading a file). */
void capture_loss_now(const struct capture *c, struct capture_loss *loss);
uint64_t capture_received(const struct capture *c);
/* The loss totals as of the frames being delivered (zero offline): a loss
 * is seen with the frames that came after it. */
const struct capture_loss *capture_delivered_loss(const struct capture *c);
uint64_t capture_loss_total(const struct capture_loss *l);
/* Live and pipe: frames waiting in the queue; peak queue memory in bytes. */
size_t capture_backlog(const struct capture *c);
size_t capture_queue_peak_bytes(const struct capture *c);
/* Live: the capture thread stopped on an error (message in c->error). */
bool capture_failed(const struct capture *c);
/* Offline: fraction of the file read, 0..1; -1 if unknown. */
double capture_progress(const struct capture *c);
void capture_close(struct capture *c);

#endif

/*
 * capture_queue: the bounded hand-off between the live capture thread and
 * the event loop.
 *
 * The capture thread copies each frame libpcap hands it into a chunk (many
 * frames, their headers and bytes side by side) and pushes a full chunk, or
 * the chunk it has when the kernel has nothing more ready, to the loop. The
 * loop processes chunks in order and gives them back. Two single-producer,
 * single-consumer rings of chunk pointers carry them (full: thread -> loop;
 * free: loop -> thread), lock-free, with C11 acquire/release ordering.
 *
 * The queue holds at most max_bytes of chunks. Chunks are allocated on
 * demand up to that bound, so an idle tap costs a few chunks, not the bound;
 * chunks above a small reserve are freed as the loop gives them back. When
 * the bound is reached the thread has no chunk to fill: it drops frames and
 * counts them (capture_queue_note_drop), so a backlog costs bounded memory
 * and never blocks the thread that drains the kernel's ring. (Reading a
 * pipe, where waiting loses nothing, the thread waits for a chunk to come
 * back instead: capture.h.)
 *
 * Each chunk carries the capture's loss totals (kernel, interface, queue) as
 * they were when it was pushed: the loop learns of a loss in frame order,
 * with the frames that came after it.
 */
#ifndef SIPTAP_DAEMON_CAPTURE_QUEUE_H
#define SIPTAP_DAEMON_CAPTURE_QUEUE_H

#include <pcap/pcap.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

/* A chunk's bytes hold one frame of the largest snaplen the configuration
 * allows (262,144), and a few thousand frames of ordinary RTP. */
#define CAPTURE_CHUNK_BYTES  (256 * 1024)
#define CAPTURE_CHUNK_FRAMES 2048

/* A chunk's frames (core/frame.h) are valid until the chunk is given back. */

/* The capture's own losses, cumulative since it opened. */
struct capture_loss {
    uint64_t kernel_drops; /* ps_drop: the ring was full */
    uint64_t if_drops;     /* ps_ifdrop: the interface or its driver dropped */
    uint64_t queue_drops;  /* frames the kernel delivered that the queue had no room for */
};

struct capture_chunk {
    struct capture_loss loss; /* as pushed */
    size_t count;             /* frames */
    size_t used;              /* bytes */
    struct capture_frame frames[CAPTURE_CHUNK_FRAMES];
    uint8_t bytes[CAPTURE_CHUNK_BYTES];
};

/* A ring of chunk pointers, one producer and one consumer. */
struct chunk_ring {
    struct capture_chunk **slot;
    size_t mask;
    _Alignas(64) _Atomic size_t head; /* next to write (producer) */
    _Alignas(64) _Atomic size_t tail; /* next to read (consumer) */
};

struct capture_queue {
    struct chunk_ring full, spare;
    size_t max_chunks;
    _Atomic size_t allocated;     /* chunks in existence */
    _Atomic size_t queued_frames; /* in the full ring */
    _Atomic size_t peak_chunks;   /* most chunks ever in existence at once */
    _Atomic uint64_t queue_drops;
    _Atomic uint64_t kernel_drops, if_drops; /* set by the thread from pcap_stats */
    _Atomic uint64_t received;               /* ps_recv, wrap-safe */
};

/* max_bytes is rounded down to whole chunks, at least 2. false: no memory. */
bool capture_queue_init(struct capture_queue *q, size_t max_bytes);
void capture_queue_destroy(struct capture_queue *q);
size_t capture_queue_chunk_size(void);

/* Capture thread. A chunk to fill (emptied), or NULL when the bound is
 * reached (or memory is exhausted): the frame in hand is then dropped. */
struct capture_chunk *capture_queue_acquire(struct capture_queue *q);
/* Hands a filled chunk (count >= 1) to the loop, stamped with the loss
 * totals; never fails (every chunk in existence fits in the ring). */
void capture_queue_push(struct capture_queue *q, struct capture_chunk *chunk);
void capture_queue_note_drop(struct capture_queue *q);
/* Loss totals now. */
void capture_queue_loss(const struct capture_queue *q, struct capture_loss *out);

/* Loop. The oldest pushed chunk, or NULL if none. */
struct capture_chunk *capture_queue_pop(struct capture_queue *q);
/* Gives a processed chunk back to the thread, or frees it past the reserve. */
void capture_queue_release(struct capture_queue *q, struct capture_chunk *chunk);
/* Frames pushed and not yet popped. */
size_t capture_queue_backlog(const struct capture_queue *q);

#endif

/*
 * capture_queue: see capture_queue.h. A ring's head is written only by its
 * producer and its tail only by its consumer; each reads the other's with
 * acquire, so a slot is filled before it is seen and emptied before it is
 * reused.
 */
#include "daemon/capture_queue.h"

#include <stdlib.h>
#include <string.h>

/* Chunks kept for reuse when the loop gives them back; more are freed. */
#define SPARE_RESERVE 4

static bool ring_init(struct chunk_ring *r, size_t capacity)
{
    size_t n = 2;
    while (n < capacity)
        n <<= 1;
    r->slot = calloc(n, sizeof(*r->slot));
    r->mask = n - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return r->slot != NULL;
}

static void ring_put(struct chunk_ring *r, struct capture_chunk *chunk)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    r->slot[head & r->mask] = chunk;
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

static struct capture_chunk *ring_take(struct chunk_ring *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (tail == atomic_load_explicit(&r->head, memory_order_acquire))
        return NULL;
    struct capture_chunk *chunk = r->slot[tail & r->mask];
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return chunk;
}

static size_t ring_count(const struct chunk_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) -
           atomic_load_explicit(&r->tail, memory_order_acquire);
}

size_t capture_queue_chunk_size(void)
{
    return sizeof(struct capture_chunk);
}

bool capture_queue_init(struct capture_queue *q, size_t max_bytes)
{
    memset(q, 0, sizeof(*q));
    q->max_chunks = max_bytes / sizeof(struct capture_chunk);
    if (q->max_chunks < 2)
        q->max_chunks = 2;
    if (!ring_init(&q->full, q->max_chunks) || !ring_init(&q->spare, q->max_chunks)) {
        capture_queue_destroy(q);
        return false;
    }
    return true;
}

void capture_queue_destroy(struct capture_queue *q)
{
    struct capture_chunk *chunk;
    if (q->full.slot)
        while ((chunk = ring_take(&q->full)))
            free(chunk);
    if (q->spare.slot)
        while ((chunk = ring_take(&q->spare)))
            free(chunk);
    free(q->full.slot);
    free(q->spare.slot);
    q->full.slot = q->spare.slot = NULL;
}

struct capture_chunk *capture_queue_acquire(struct capture_queue *q)
{
    struct capture_chunk *chunk = ring_take(&q->spare);
    if (!chunk) {
        size_t n = atomic_load_explicit(&q->allocated, memory_order_relaxed);
        if (n >= q->max_chunks)
            return NULL;
        chunk = malloc(sizeof(*chunk));
        if (!chunk)
            return NULL;
        n = atomic_fetch_add_explicit(&q->allocated, 1, memory_order_relaxed) + 1;
        if (n > atomic_load_explicit(&q->peak_chunks, memory_order_relaxed))
            atomic_store_explicit(&q->peak_chunks, n, memory_order_relaxed);
    }
    chunk->count = 0;
    chunk->used = 0;
    return chunk;
}

void capture_queue_loss(const struct capture_queue *q, struct capture_loss *out)
{
    out->kernel_drops = atomic_load_explicit(&q->kernel_drops, memory_order_relaxed);
    out->if_drops = atomic_load_explicit(&q->if_drops, memory_order_relaxed);
    out->queue_drops = atomic_load_explicit(&q->queue_drops, memory_order_relaxed);
}

void capture_queue_push(struct capture_queue *q, struct capture_chunk *chunk)
{
    capture_queue_loss(q, &chunk->loss);
    atomic_fetch_add_explicit(&q->queued_frames, chunk->count, memory_order_relaxed);
    ring_put(&q->full, chunk);
}

void capture_queue_note_drop(struct capture_queue *q)
{
    atomic_fetch_add_explicit(&q->queue_drops, 1, memory_order_relaxed);
}

struct capture_chunk *capture_queue_pop(struct capture_queue *q)
{
    struct capture_chunk *chunk = ring_take(&q->full);
    if (chunk)
        atomic_fetch_sub_explicit(&q->queued_frames, chunk->count, memory_order_relaxed);
    return chunk;
}

void capture_queue_release(struct capture_queue *q, struct capture_chunk *chunk)
{
    if (ring_count(&q->spare) < SPARE_RESERVE) {
        ring_put(&q->spare, chunk);
        return;
    }
    free(chunk);
    atomic_fetch_sub_explicit(&q->allocated, 1, memory_order_relaxed);
}

size_t capture_queue_backlog(const struct capture_queue *q)
{
    return atomic_load_explicit(&q->queued_frames, memory_order_relaxed);
}

/*
 * Tests of the capture queue between the live capture thread and the loop:
 * chunks come out in the order they went in, with the loss totals of their
 * moment; the bound holds (acquire fails, the drop is counted, memory comes
 * back as the loop releases); and a producer thread racing the consumer
 * loses nothing it was not told it dropped.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "daemon/capture_queue.h"

static void put_frame(struct capture_chunk *k, uint32_t id)
{
    uint8_t *p = k->bytes + k->used;
    memcpy(p, &id, sizeof(id));
    k->used += 16;
    k->frames[k->count++] = (struct capture_frame){.hdr = {.caplen = 4, .len = 4}, .data = p};
}

static uint32_t frame_id(const struct capture_frame *f)
{
    uint32_t id;
    memcpy(&id, f->data, sizeof(id));
    return id;
}

Test(capture_queue, bound_holds_and_drops_are_counted)
{
    struct capture_queue q;
    cr_assert(capture_queue_init(&q, 3 * capture_queue_chunk_size() + 100));
    cr_assert_eq(q.max_chunks, 3);
    struct capture_chunk *k[3];
    for (int i = 0; i < 3; i++) {
        k[i] = capture_queue_acquire(&q);
        cr_assert_not_null(k[i]);
        put_frame(k[i], (uint32_t)i);
        capture_queue_push(&q, k[i]);
    }
    cr_assert_eq(capture_queue_backlog(&q), 3);
    cr_assert_null(capture_queue_acquire(&q), "a fourth chunk is past the bound");
    capture_queue_note_drop(&q);
    struct capture_loss loss;
    capture_queue_loss(&q, &loss);
    cr_assert_eq(loss.queue_drops, 1);

    struct capture_chunk *first = capture_queue_pop(&q);
    cr_assert_eq(frame_id(&first->frames[0]), 0);
    cr_assert_eq(first->loss.queue_drops, 0, "stamped when pushed, before the drop");
    capture_queue_release(&q, first);
    struct capture_chunk *again = capture_queue_acquire(&q);
    cr_assert_eq(again, first, "a released chunk is reused");
    cr_assert_eq(again->count, 0);
    put_frame(again, 3);
    capture_queue_push(&q, again);
    for (uint32_t want = 1; want <= 3; want++) {
        struct capture_chunk *c = capture_queue_pop(&q);
        cr_assert_not_null(c);
        cr_assert_eq(frame_id(&c->frames[0]), want);
        cr_assert_eq(c->loss.queue_drops, want == 3 ? 1 : 0);
        capture_queue_release(&q, c);
    }
    cr_assert_null(capture_queue_pop(&q));
    cr_assert_eq(capture_queue_backlog(&q), 0);
    cr_assert_eq(atomic_load(&q.peak_chunks), 3);
    capture_queue_destroy(&q);
}

Test(capture_queue, chunks_past_the_reserve_are_freed)
{
    struct capture_queue q;
    cr_assert(capture_queue_init(&q, 16 * capture_queue_chunk_size()));
    struct capture_chunk *k[16];
    for (int i = 0; i < 16; i++) {
        k[i] = capture_queue_acquire(&q);
        cr_assert_not_null(k[i]);
    }
    cr_assert_eq(atomic_load(&q.allocated), 16);
    for (int i = 0; i < 16; i++)
        capture_queue_release(&q, k[i]);
    cr_assert_lt(atomic_load(&q.allocated), 16, "an idle queue gives its memory back");
    cr_assert_gt(atomic_load(&q.allocated), 0, "and keeps a reserve");
    capture_queue_destroy(&q);
}

#define RACE_FRAMES 2000000u

struct race {
    struct capture_queue q;
    uint32_t dropped; /* frames the producer could not place */
};

/* The capture thread's part: frames numbered 0..RACE_FRAMES-1, 100 to a
 * chunk, each dropped (and counted) when no chunk can be had. */
static void *produce(void *arg)
{
    struct race *r = arg;
    struct capture_chunk *k = NULL;
    for (uint32_t id = 0; id < RACE_FRAMES; id++) {
        if (!k && !(k = capture_queue_acquire(&r->q))) {
            capture_queue_note_drop(&r->q);
            r->dropped++;
            continue;
        }
        put_frame(k, id);
        if (k->count == 100) {
            capture_queue_push(&r->q, k);
            k = NULL;
        }
    }
    if (k && k->count)
        capture_queue_push(&r->q, k);
    else if (k)
        capture_queue_release(&r->q, k);
    return NULL;
}

/* The loop's part: every frame of a chunk comes after the one before it. */
struct order {
    uint32_t seen, last;
    bool first;
};

static void consume(struct race *r, struct order *o, struct capture_chunk *k)
{
    for (size_t i = 0; i < k->count; i++, o->seen++) {
        uint32_t id = frame_id(&k->frames[i]);
        cr_assert(o->first || id > o->last, "order: %u after %u", id, o->last);
        o->first = false;
        o->last = id;
    }
    capture_queue_release(&r->q, k);
}

Test(capture_queue, a_racing_producer_loses_only_what_it_counts)
{
    static struct race r;
    memset(&r, 0, sizeof(r));
    cr_assert(capture_queue_init(&r.q, 4 * capture_queue_chunk_size()));
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, produce, &r), 0);
    struct order o = {.first = true};
    uint64_t last_drops = 0;
    for (;;) {
        struct capture_chunk *k = capture_queue_pop(&r.q);
        if (k) {
            cr_assert_geq(k->loss.queue_drops, last_drops, "loss totals never go back");
            last_drops = k->loss.queue_drops;
            consume(&r, &o, k);
        } else if (pthread_tryjoin_np(t, NULL) == 0) {
            /* The producer is done: what it left is all there is. */
            while ((k = capture_queue_pop(&r.q)))
                consume(&r, &o, k);
            break;
        }
    }
    struct capture_loss loss;
    capture_queue_loss(&r.q, &loss);
    cr_assert_eq(loss.queue_drops, r.dropped);
    cr_assert_eq(o.seen + r.dropped, RACE_FRAMES, "seen %u + dropped %u", o.seen, r.dropped);
    cr_assert_eq(capture_queue_backlog(&r.q), 0);
    capture_queue_destroy(&r.q);
}

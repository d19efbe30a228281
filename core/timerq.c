/*
 * timerq: binary min-heap of entries ordered by (due_us, order). Each timer
 * records its heap index so cancel and reschedule are O(log n).
 */
#include "core/timerq.h"

#include <stdlib.h>
#include <string.h>

void timerq_init(struct timerq *q)
{
    memset(q, 0, sizeof(*q));
}

void timerq_destroy(struct timerq *q)
{
    for (size_t i = 0; i < q->count; i++)
        q->heap[i].timer->heap_index = TIMER_IDLE;
    free(q->heap);
    memset(q, 0, sizeof(*q));
}

void timer_init(struct timer *t, timer_fn fn, void *arg)
{
    memset(t, 0, sizeof(*t));
    t->fn = fn;
    t->arg = arg;
    t->heap_index = TIMER_IDLE;
}

static bool before(const struct timerq_entry *a, const struct timerq_entry *b)
{
    return a->due_us < b->due_us ||
           (a->due_us == b->due_us && (int32_t)(a->timer->order - b->timer->order) < 0);
}

static void set_at(struct timerq *q, size_t i, struct timerq_entry e)
{
    q->heap[i] = e;
    e.timer->heap_index = (uint32_t)i;
}

/* Both return where the entry came to rest. */
static size_t sift_up(struct timerq *q, size_t i)
{
    struct timerq_entry e = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e, &q->heap[parent]))
            break;
        set_at(q, i, q->heap[parent]);
        i = parent;
    }
    set_at(q, i, e);
    return i;
}

static size_t sift_down(struct timerq *q, size_t i)
{
    struct timerq_entry e = q->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->count)
            break;
        if (child + 1 < q->count && before(&q->heap[child + 1], &q->heap[child]))
            child++;
        if (!before(&q->heap[child], &e))
            break;
        set_at(q, i, q->heap[child]);
        i = child;
    }
    set_at(q, i, e);
    return i;
}

void timerq_cancel(struct timerq *q, struct timer *t)
{
    size_t i = t->heap_index;
    if (i == TIMER_IDLE || i >= q->count || q->heap[i].timer != t)
        return;
    t->heap_index = TIMER_IDLE;
    q->count--;
    if (i == q->count)
        return;
    set_at(q, i, q->heap[q->count]);
    sift_up(q, sift_down(q, i));
}

bool timerq_schedule(struct timerq *q, struct timer *t, uint64_t due_us)
{
    timerq_cancel(q, t);
    if (q->count >= TIMER_IDLE - 1)
        return false;
    if (q->count == q->capacity) {
        size_t cap = q->capacity ? q->capacity * 2 : 64;
        struct timerq_entry *heap = realloc(q->heap, cap * sizeof(*heap));
        if (!heap)
            return false;
        q->heap = heap;
        q->capacity = cap;
    }
    t->due_us = due_us;
    t->order = q->next_order++;
    set_at(q, q->count++, (struct timerq_entry){due_us, t});
    sift_up(q, q->count - 1);
    return true;
}

uint64_t timerq_next_due(const struct timerq *q)
{
    return q->count ? q->heap[0].due_us : UINT64_MAX;
}

static void fire_first(struct timerq *q)
{
    struct timer *t = q->heap[0].timer;
    timerq_cancel(q, t);
    if (t->due_us > q->now_us)
        q->now_us = t->due_us;
    t->fn(t, q->now_us, t->arg);
}

void timerq_advance(struct timerq *q, uint64_t now_us)
{
    /* The clock reads each timer's own due time while it fires, so a callback
     * that schedules "now + window" measures from the right instant. */
    while (q->count && q->heap[0].due_us <= now_us)
        fire_first(q);
    if (now_us > q->now_us)
        q->now_us = now_us;
}

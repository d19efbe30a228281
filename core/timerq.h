/*
 * timerq: timers on the capture-time clock.
 *
 * Detectors wait on packet time, not wall time, so replaying a file gives the
 * same events as capturing the same traffic live. The queue is a binary
 * min-heap of caller-embedded `struct timer`s (no allocation per timer).
 * timerq_advance() moves the clock forward (never backward: late or
 * reordered packets do not rewind it) and fires every timer that is due, in
 * due-time order; a callback may schedule or cancel any timer, itself too.
 */
#ifndef SIPTAP_CORE_TIMERQ_H
#define SIPTAP_CORE_TIMERQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timer;
typedef void (*timer_fn)(struct timer *t, uint64_t now_us, void *arg);

/* 32 bytes: every active call embeds several (its own and its detectors').
 * The tie-break counter is 32 bits and compared modulo 2^32, which orders
 * correctly any two timers scheduled fewer than 2^31 schedules apart. */
struct timer {
    uint64_t due_us;
    timer_fn fn;
    void *arg;
    uint32_t heap_index; /* TIMER_IDLE when not scheduled */
    uint32_t order;      /* tie-break so equal due times fire in scheduling order */
};

#define TIMER_IDLE UINT32_MAX

/* A heap entry holds its timer's due time: the comparisons of a sift read
 * the heap array, not timers scattered over cold calls (each a cache miss
 * one after the other); only the entries moved write their timer's index,
 * and only equal due times read the timers' order. 16 bytes: every call
 * has several timers pending. */
struct timerq_entry {
    uint64_t due_us;
    struct timer *timer;
};

struct timerq {
    struct timerq_entry *heap;
    size_t count, capacity; /* count stays below TIMER_IDLE */
    uint64_t now_us;
    uint32_t next_order;
};

void timerq_init(struct timerq *q);
void timerq_destroy(struct timerq *q);
void timer_init(struct timer *t, timer_fn fn, void *arg);
static inline bool timer_pending(const struct timer *t)
{
    return t->heap_index != TIMER_IDLE;
}
/* (Re)schedules t at due_us; a pending timer is moved. False on OOM (or
 * with 2^32 - 1 timers pending). */
bool timerq_schedule(struct timerq *q, struct timer *t, uint64_t due_us);
void timerq_cancel(struct timerq *q, struct timer *t);
/* Advances the clock to now_us (if later) and fires due timers. */
void timerq_advance(struct timerq *q, uint64_t now_us);
static inline uint64_t timerq_now(const struct timerq *q)
{
    return q->now_us;
}
/* Timers scheduled. */
static inline size_t timerq_count(const struct timerq *q)
{
    return q->count;
}
/* Due time of the earliest timer, or UINT64_MAX. */
uint64_t timerq_next_due(const struct timerq *q);

#endif

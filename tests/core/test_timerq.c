/* Tests of core/timerq: order of firing, the clock never running backwards,
 * cancel and reschedule, callbacks that schedule more timers. */
#include <criterion/criterion.h>

#include "core/timerq.h"

struct log {
    int fired[16];
    uint64_t at[16];
    int n;
};

struct tagged {
    struct timer t;
    int tag;
    struct log *log;
};

static void record(struct timer *t, uint64_t now, void *arg)
{
    struct tagged *x = arg;
    (void)t;
    x->log->fired[x->log->n] = x->tag;
    x->log->at[x->log->n++] = now;
}

Test(timerq, fires_in_due_order_with_due_time_as_clock)
{
    struct timerq q;
    struct log log = {0};
    struct tagged a = {.tag = 1, .log = &log}, b = {.tag = 2, .log = &log},
                  c = {.tag = 3, .log = &log};
    timerq_init(&q);
    timer_init(&a.t, record, &a);
    timer_init(&b.t, record, &b);
    timer_init(&c.t, record, &c);
    timerq_schedule(&q, &a.t, 3000);
    timerq_schedule(&q, &b.t, 1000);
    timerq_schedule(&q, &c.t, 2000);
    timerq_advance(&q, 2500);
    cr_assert_eq(log.n, 2);
    cr_assert_eq(log.fired[0], 2);
    cr_assert_eq(log.at[0], 1000);
    cr_assert_eq(log.fired[1], 3);
    cr_assert_eq(log.at[1], 2000);
    cr_assert_eq(timerq_now(&q), 2500);
    timerq_advance(&q, 100); /* a late packet does not rewind the clock */
    cr_assert_eq(timerq_now(&q), 2500);
    timerq_advance(&q, 3000);
    cr_assert_eq(log.n, 3);
    cr_assert_eq(log.fired[2], 1);
    cr_assert_not(timer_pending(&a.t));
    timerq_destroy(&q);
}

Test(timerq, cancel_and_reschedule)
{
    struct timerq q;
    struct log log = {0};
    struct tagged a = {.tag = 1, .log = &log}, b = {.tag = 2, .log = &log};
    timerq_init(&q);
    timer_init(&a.t, record, &a);
    timer_init(&b.t, record, &b);
    timerq_schedule(&q, &a.t, 1000);
    timerq_schedule(&q, &b.t, 2000);
    timerq_cancel(&q, &a.t);
    timerq_schedule(&q, &b.t, 500); /* moved earlier */
    timerq_advance(&q, 1500);
    cr_assert_eq(log.n, 1);
    cr_assert_eq(log.fired[0], 2);
    cr_assert_eq(log.at[0], 500);
    timerq_destroy(&q);
}

struct periodic {
    struct timer t;
    struct timerq *q;
    int count;
};

static void tick(struct timer *t, uint64_t now, void *arg)
{
    struct periodic *p = arg;
    p->count++;
    timerq_schedule(p->q, t, now + 100);
}

Test(timerq, callback_reschedules_itself)
{
    struct timerq q;
    struct periodic p = {.q = &q};
    timerq_init(&q);
    timer_init(&p.t, tick, &p);
    timerq_schedule(&q, &p.t, 100);
    timerq_advance(&q, 1000);
    cr_assert_eq(p.count, 10, "ticks at 100..1000 inclusive, got %d", p.count);
    cr_assert_eq(p.t.due_us, 1100);
    timerq_destroy(&q);
}

Test(timerq, many_timers_random_order)
{
    enum { N = 1000 };
    static struct tagged items[N];
    struct log dummy = {0};
    struct timerq q;
    timerq_init(&q);
    uint64_t seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        items[i].tag = i;
        items[i].log = &dummy;
        timer_init(&items[i].t, NULL, &items[i]);
        timerq_schedule(&q, &items[i].t, (seed >> 33) % 100000);
    }
    uint64_t last = 0;
    for (int i = 0; i < N; i++) {
        uint64_t due = timerq_next_due(&q);
        cr_assert_geq(due, last);
        last = due;
        timerq_cancel(&q, q.heap[0].timer);
    }
    cr_assert_eq(timerq_next_due(&q), UINT64_MAX);
    timerq_destroy(&q);
}

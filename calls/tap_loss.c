/*
 * tap_loss: what the call table knows of the tap's own packet loss (see
 * call_table_set_capture_lost in calls.h), so that a call's events say when
 * the tap, not the network, may have lost what they count.
 */
#include "calls/calls_internal.h"
#include "core/json_writer.h"

void call_table_set_capture_lost(struct call_table *t, uint64_t total, uint64_t ts_us)
{
    if (total <= t->loss.total)
        return;
    t->loss.total = total;
    t->loss.last_us = ts_us;
}

uint64_t call_table_last_capture_loss_us(const struct call_table *t)
{
    return t->loss.last_us; /* 0 until the total first grows */
}

uint64_t call_capture_lost(const struct call_table *t, const struct call *c)
{
    return (uint32_t)((uint32_t)t->loss.total - c->capture_lost_at_start);
}

void call_mark_capture_loss(const struct call_table *t, const struct call *c,
                            struct json_writer *members)
{
    uint64_t lost = c ? call_capture_lost(t, c) : 0;
    if (!lost)
        return;
    json_writer_member_key(members, "capture_loss");
    json_writer_bool(members, true);
    json_writer_member_integer(members, "capture_lost_packets", (int64_t)lost);
}

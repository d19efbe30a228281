/*
 * flow_share: one RTP flow measured for several calls.
 *
 * A B2BUA or PBX captured on both legs with direct media has two dialogs
 * whose SDPs name the same two endpoints: the one stream between them
 * belongs to both calls, and each call_end must carry it (else the leg
 * without it reads as one-way audio). A flow's owner is its call; a flow
 * shared by several is owned by a small flow_share instead, told apart by
 * the low bit of the owner pointer (calls are pointer-aligned), which lists
 * every call with the party that sends the flow in it. The first call is
 * the primary one (f->party is its party, the codec is named from its
 * SDP); the flow goes when its last call lets go of it.
 */
#include "calls/calls_internal.h"
#include "rtp/flow.h"

#include <stdint.h>
#include <stdlib.h>

struct flow_share {
    struct call *call[FLOW_SHARE_MAX];
    int8_t party[FLOW_SHARE_MAX];
    uint8_t count;
};

static bool shared(const struct rtp_flow *f)
{
    return ((uintptr_t)f->owner & 1u) != 0;
}

static struct flow_share *share_of(const struct rtp_flow *f)
{
    return (struct flow_share *)((uintptr_t)f->owner & ~(uintptr_t)1u);
}

size_t flow_calls(const struct rtp_flow *f, struct call **out, int *party, size_t max)
{
    if (!shared(f)) {
        if (max == 0)
            return 0;
        out[0] = f->owner;
        if (party)
            party[0] = f->party;
        return 1;
    }
    const struct flow_share *s = share_of(f);
    size_t n = 0;
    for (; n < s->count && n < max; n++) {
        out[n] = s->call[n];
        if (party)
            party[n] = s->party[n];
    }
    return n;
}

struct call *flow_primary(const struct rtp_flow *f)
{
    return shared(f) ? share_of(f)->call[0] : f->owner;
}

int flow_party_in(const struct rtp_flow *f, const struct call *c)
{
    if (!shared(f))
        return f->party;
    const struct flow_share *s = share_of(f);
    for (size_t i = 0; i < s->count; i++)
        if (s->call[i] == c)
            return s->party[i];
    return -1;
}

bool flow_share_add(struct rtp_flow *f, struct call *c, int party)
{
    struct flow_share *s;
    if (!shared(f)) {
        if (f->owner == c)
            return false;
        s = calloc(1, sizeof(*s));
        if (!s)
            return false;
        s->call[0] = f->owner;
        s->party[0] = f->party;
        s->count = 1;
        f->owner = (void *)((uintptr_t)s | 1u);
    } else {
        s = share_of(f);
        for (size_t i = 0; i < s->count; i++)
            if (s->call[i] == c)
                return false;
        if (s->count >= FLOW_SHARE_MAX)
            return false;
    }
    s->call[s->count] = c;
    s->party[s->count] = (int8_t)party;
    s->count++;
    return true;
}

void flow_release(struct rtp_flow_table *t, struct rtp_flow *f, struct call *c)
{
    if (!shared(f)) {
        if (f->owner == c)
            rtp_flow_remove(t, f);
        return;
    }
    struct flow_share *s = share_of(f);
    size_t w = 0;
    for (size_t i = 0; i < s->count; i++)
        if (s->call[i] != c) {
            s->call[w] = s->call[i];
            s->party[w] = s->party[i];
            w++;
        }
    s->count = (uint8_t)w;
    if (w == 0) {
        free(s);
        rtp_flow_remove(t, f);
        return;
    }
    f->party = s->party[0];
    if (w == 1) {
        f->owner = s->call[0];
        free(s);
    }
}

/*
 * calls_internal: what calls.c, media.c and registrations.c share. Not for
 * use outside calls/.
 */
#ifndef SIPTAP_CALLS_INTERNAL_H
#define SIPTAP_CALLS_INTERNAL_H

#include "calls/calls.h"
#include "rtp/flow.h"

/* The tap's own losses: the running total, and the capture time of the
 * packets processed just after it last grew. */
struct tap_loss_log {
    uint64_t total;
    uint64_t last_us;
};

/* RTP of no call (media_orphans.c). */
/* The counters of calls/, a list per group, named once (core/counters.h). */
#define CALLS_COUNTERS(X)                                                                          \
    X(started)                                                                                     \
    X(evicted)                                                                                     \
    X(invite_retransmissions)                                                                      \
    X(response_retransmissions)                                                                    \
    X(late_messages)                                                                               \
    X(challenge_answered_late)                                                                     \
    X(messages_without_call_id)                                                                    \
    X(reinvite_unknown_call)
#define MEDIA_COUNTERS(X)                                                                          \
    X(rtp_packets)                                                                                 \
    X(rtcp_packets)                                                                                \
    X(rtp_without_call)                                                                            \
    X(rtcp_without_call)                                                                           \
    X(bindings_full)                                                                               \
    X(flows_per_call_full)                                                                         \
    X(flows_replaced)                                                                              \
    X(flows_shared)                                                                                \
    X(udp_not_rtp)
/* Also of the "media" group: RTP of no call (calls/media_orphans.c). */
#define ORPHAN_COUNTERS(X)                                                                         \
    X(orphan_flows)                                                                                \
    X(orphan_flows_full)                                                                           \
    X(orphan_flows_replaced)                                                                       \
    X(orphan_flows_adopted)                                                                        \
    X(orphan_flows_reported)                                                                       \
    X(orphan_flows_too_short)                                                                      \
    X(orphan_well_known_port)
#define REGISTRATIONS_COUNTERS(X)                                                                  \
    X(table_full)                                                                                  \
    X(expired)

struct media_orphans {
    struct rtp_flow **flows; /* cap entries, count used; a flow's owner holds its index */
    size_t count, cap, hand;
    uint64_t quiet_us;
    uint32_t min_packets;
    struct timer sweep; /* reports the flows gone quiet */
    struct {
        COUNTERS_BLOCK(ORPHAN_COUNTERS);
    } c;
};

struct call_table {
    struct call_limits limits;
    const struct trunk_list *trunks;
    struct counters *counters;
    struct timerq *timers;
    struct event_bus *bus;
    struct hashtab calls;
    struct list lru; /* of calls, first: the most recently active */
    size_t active;   /* calls not yet ended */
    struct call_observer observers[CALL_TABLE_MAX_OBSERVERS];
    size_t observer_count;

    struct hashtab bindings; /* media_key -> media_binding */
    struct rtp_flow_table flows;
    struct media_orphans orphans;
    struct hashtab registrations;
    struct timer registration_sweep; /* forgets idle registrations */

    struct {
        COUNTERS_BLOCK(CALLS_COUNTERS);
    } calls_count;
    struct {
        COUNTERS_BLOCK(MEDIA_COUNTERS);
    } media_count;
    struct {
        COUNTERS_BLOCK(REGISTRATIONS_COUNTERS);
    } registrations_count;
    call_frame_fn frame_hook;
    void *frame_hook_user;
    struct tap_loss_log loss; /* calls/tap_loss.c */
};

static inline void call_frame_attributed(struct call_table *t, struct call *c, uint64_t ts_us)
{
    if (t->frame_hook)
        t->frame_hook(t->frame_hook_user, c, ts_us);
}

/* call_events.c: the call's own events, the table's first observer. */
bool call_events_observe(struct call_table *t);
/* Event text shared with media_orphans.c. */
struct json_writer;
/* The `streams` entries of flow f's streams, as elements of the array
 * open in t. */
void calls_text_flow_streams(struct json_writer *t, const struct rtp_flow *f);

/* media.c */
/* call_end's `media`: {"caller": ..., "callee": ...}, what each party sent
 * of audio (DTMF streams left out), null for a party that sent none. */
void calls_text_media_summary(struct json_writer *t, const struct call *c);
bool media_init(struct call_table *t);
void media_destroy(struct call_table *t);
/* Party p announced new SDP: rebind its receive addresses. */
void media_bind_party(struct call_table *t, struct call *c, int party);
/* The call goes away: drop its bindings and flows. */
void media_release_call(struct call_table *t, struct call *c);
bool media_udp(struct call_table *t, const struct packet *pkt);
/* Copies the first media of this type (audio, video) of an SDP into a
 * call_sdp (left as it was when the SDP has none). */
void media_sdp_from_message(struct call_sdp *out, const struct sdp_info *sdp,
                            enum sdp_media_type type);
/* Frees what a call_sdp owns. */
void media_sdp_release(struct call_sdp *s);

/* media_orphans.c: flows of no call, reported as media_without_call. */
bool media_orphans_init(struct call_table *t);
void media_orphans_destroy(struct call_table *t);
static inline bool flow_is_orphan(const struct rtp_flow *f)
{
    return ((uintptr_t)f->owner & 2u) != 0;
}
/* An RTP datagram (not RTCP) of no call, on its orphan flow f, or on a new
 * one when f is NULL (refused and counted when the set is full). */
void media_orphans_rtp(struct call_table *t, struct rtp_flow *f, const struct packet *pkt);
/* A call takes orphan flow f: out of the set; the caller sets its owner. */
void media_orphans_adopt(struct call_table *t, struct rtp_flow *f);
void media_orphans_on_sweep(struct timer *tm, uint64_t now, void *arg);
/* The capture ends: every flow reported (reason capture_end) and freed. */
void media_orphans_close_all(struct call_table *t, uint64_t now);

/* flow_share.c: a flow measured for several calls (both legs of a B2BUA
 * with direct media), at most FLOW_SHARE_MAX. */
#define FLOW_SHARE_MAX 4
/* The calls of flow f (at most max) and, when party is not NULL, the party
 * sending it in each; the primary first. */
size_t flow_calls(const struct rtp_flow *f, struct call **out, int *party, size_t max);
struct call *flow_primary(const struct rtp_flow *f);
/* The party sending f in call c, -1 if c does not have it. */
int flow_party_in(const struct rtp_flow *f, const struct call *c);
/* c has f too, sent by its party `party`; false if it had it already, or
 * no room or memory (the flow stays as it was). */
bool flow_share_add(struct rtp_flow *f, struct call *c, int party);
/* c lets go of f; the flow is removed when no call has it any more. */
void flow_release(struct rtp_flow_table *t, struct rtp_flow *f, struct call *c);

/* registrations.c */
bool registrations_init(struct call_table *t);
void registrations_destroy(struct call_table *t);
void registrations_message(struct call_table *t, const struct sip_msg *m,
                           const struct sip_meta *meta);

#endif

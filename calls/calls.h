/*
 * calls: call correlation, between the SIP/RTP layers and the rules.
 *
 * Follows every INVITE dialog by Call-ID from its first INVITE to its end:
 * INVITE transactions by branch and CSeq (retransmissions recognised and
 * counted, not treated as new requests), digest challenges answered by a new
 * INVITE kept in the same call, forking (several To-tags), CANCEL, re-INVITE
 * and UPDATE (media addresses updated), 3xx-6xx, timer B (no response in
 * 32 s), and answered calls that go silent. The SDP each party announced is
 * kept and turned into media bindings, so RTP flows are tied to their call
 * (calls/media.c). REGISTER per AOR and registrar is tracked in
 * calls/registrations.c.
 *
 * The module publishes call_start, call_answer, call_fail and call_end
 * itself and tells observers (the detectors in rules/) about every step, so
 * they can keep their own per-call state in call->rule_state and add
 * fields (hints) to call_fail / call_end before those are published.
 * Everything runs on the capture-time clock (core/timerq).
 */
#ifndef SIPTAP_CALLS_CALLS_H
#define SIPTAP_CALLS_CALLS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/counters.h"
#include "core/hashtab.h"
#include "core/list.h"
#include "core/timerq.h"
#include "outputs/event.h"
#include "rtp/flow.h"
#include "rtp/stream.h"
#include "sip/sip.h"

#include "core/trunk.h"

enum call_party_index { CALL_CALLER = 0, CALL_CALLEE = 1 };

enum call_direction { CALL_DIRECTION_UNKNOWN, CALL_DIRECTION_INBOUND, CALL_DIRECTION_OUTBOUND };

enum call_state {
    CALL_STATE_CALLING,    /* INVITE sent, nothing back */
    CALL_STATE_PROCEEDING, /* 100 / 18x */
    CALL_STATE_CHALLENGED, /* 401/407: waiting for the INVITE with credentials */
    CALL_STATE_ANSWERED,   /* 2xx seen, no ACK yet */
    CALL_STATE_CONFIRMED,  /* ACK seen */
    /* Ended in signalling. call_end waits (end_pending) until the call's
     * media has been quiet for call_limits.end_media_quiet_ms, so that RTP
     * in flight past the BYE, or a failed call's early media, is counted;
     * then the call is kept linger_s to absorb late packets. */
    CALL_STATE_ENDED,
};

enum call_end_reason {
    CALL_END_BYE,
    CALL_END_CANCEL,
    CALL_END_FAILED,
    CALL_END_TIMEOUT,
    CALL_END_CAPTURE_END,
    CALL_END_EVICTED,
};
const char *call_end_reason_name(enum call_end_reason r);
const char *call_direction_name(enum call_direction d);

#define CALL_SDP_MAX_FORMATS 8

/* What one party said about its audio (or its video) in its latest SDP. */
struct call_sdp {
    bool present;
    struct net_addr addr; /* where it wants to receive */
    uint16_t port;        /* 0: audio rejected */
    uint16_t rtcp_port;
    bool rtcp_mux;
    uint8_t format_count; /* at most CALL_SDP_MAX_FORMATS */
    uint8_t direction;    /* enum sdp_direction */
    /* Payload types, clock rates and codec names (<= 15 chars) of the
     * formats, packed at their exact lengths by calls/media.c (~40 bytes
     * instead of 168 for a table); NULL when there are none. Owned by
     * calls/, read through calls/media.c only. */
    unsigned char *formats;
};

/* Longest user part or tag kept (longer ones are cut, as they always were). */
#define CALL_PARTY_STRING_MAX 63

struct call_party {
    struct endpoint signalling; /* where this party's SIP comes from */
    /* user: the From (caller) or To (callee) user part, stored at its full
     * length in the call's own allocation (after the struct), never NULL.
     * tag: the caller's From-tag likewise; the callee's To-tag is a
     * separate allocation made when the dialog is established, "" until
     * then. Both are owned by calls/. */
    const char *user;
    const char *tag;
    struct call_sdp sdp;    /* its first audio m= line */
    struct call_sdp *video; /* its first video m= line; NULL until one came */
};

/* Media sent BY one party (index = sending party), summed over the call's
 * flows by call_media_of: the per-packet path writes only the flow, so an
 * RTP packet never touches its (cold) call. */
struct call_media_direction {
    uint64_t first_us, last_us, packets;
    struct endpoint src, dst;  /* as observed on the wire (latest flow) */
    bool sdp_address_mismatch; /* packets did not come from / go to the SDP address */
    /* What the sender says of its silence (rules/one_way_audio.c): its
     * latest packet was comfort noise (RFC 3389: PT 13, 19 or a payload
     * type the SDP maps to CN); its codec pauses by itself (DTX: G.729
     * Annex B, G.723.1 Annex A); the latest RTCP SR in which it counted no
     * more RTP than the tap saw (0: none), i.e. alive and quiet on purpose. */
    bool comfort_noise;
    bool dtx_codec;
    uint64_t quiet_report_us;
};

#define CALL_MAX_FLOWS    8
#define CALL_MAX_BINDINGS 8

/* An address:port where one party of a call receives media: an item of
 * calls/media.c's binding table, embedded in its call (no allocation of its
 * own, no pointer back: `slot` finds the call). For calls/ only. Every byte
 * of the key is explicit: it is hashed and compared as raw bytes. */
struct media_key {
    uint8_t family;
    uint8_t addr[16];
    uint8_t port[2];
    /* Bit 0: the RTCP port of the binding. Bits 1-2: the copy. Several
     * calls may bind one endpoint (both legs of a B2BUA with direct
     * media): each has its copy, 0..MEDIA_KEY_COPIES-1, and copy 0 is
     * there whenever any is, so a miss costs one lookup. */
    uint8_t rtcp_copy;
};
#define MEDIA_KEY_COPIES 4
struct media_binding {
    struct media_key key;
    /* One byte: eight bindings of 21 bytes are 32 fewer than of 25 in every
     * call (docs/benchmarks.md, memory). */
    uint8_t party : 1; /* the receiving party */
    uint8_t media : 1; /* enum rtp_media: the m= line bound */
    uint8_t nat_alias : 1;
    uint8_t used : 1;
    uint8_t slot : 3; /* index in call->bindings */
};
_Static_assert(sizeof(struct media_binding) == 21, "a binding is its key and one byte");
_Static_assert(CALL_MAX_BINDINGS <= 8 && RTP_MEDIA_VIDEO <= 1, "the bit-fields hold them");

struct call_table;

struct call {
    char *call_id; /* hashtab key */
    enum call_state state;
    enum call_direction direction;
    const struct trunk_config *trunk;
    struct call_party party[2];
    /* Where the first INVITE went (call_start's and call_end's dst): the
     * callee's signalling address moves to where its 2xx came from. */
    struct endpoint invite_dst;

    uint64_t invite_us, first_provisional_us, first_18x_us, answer_us, ack_us, end_us;
    /* Its last SIP message, or its media as the eviction scan last saw it
     * (pick_victim): the time its place on the LRU list stands for. */
    uint64_t last_active_us;
    uint64_t last_refresh_us; /* answer or last refreshing re-INVITE/UPDATE 2xx */
    /* Only ever compared, so a 64-bit hash of the Via branch is enough. */
    uint64_t invite_branch_hash;
    uint64_t fork_tag_hash[4]; /* hashes of the first 31 bytes of each To-tag */
    uint32_t invite_cseq;      /* CSeq of the current INVITE transaction */
    uint32_t session_expires;
    unsigned invite_retransmits;
    unsigned ok_retransmits; /* 2xx to the initial INVITE seen again before ACK */
    unsigned challenges;
    unsigned forks; /* distinct To-tags in responses */
    int final_status;
    /* Where bye_sender's int was: the BYE's sender (party index, when
     * bye_seen); whether the Request-URI user is the callee's user (kept
     * once, see call_request_user); the Q.850 cause (RFC 3326 Reason
     * header) of the call's BYE, CANCEL or final response, the latest that
     * carried one. */
    uint8_t bye_sender : 1;
    uint8_t request_user_is_callee : 1;
    uint8_t q850_cause : 7; /* 0..127, when q850_known */
    uint8_t q850_known : 1;
    bool reinvite_pending; /* an in-dialog INVITE awaits its final response */
    bool bye_seen, cancel_seen;
    uint8_t flow_count; /* of flows[] (CALL_MAX_FLOWS at most) */
    /* The tap's own loss total (call_table_set_capture_lost) when the call
     * began, modulo 2^32: a difference, so the wrap does not matter. */
    uint32_t capture_lost_at_start;
    /* Read back only when a challenged call times out (the 401/407 phrase:
     * "Unauthorized", "Proxy Authentication Required"); 36 chars is ample
     * and the size, with the three bytes before it, closes the struct's
     * padding. */
    bool end_pending;   /* ENDED, call_end not yet published */
    uint8_t end_reason; /* enum call_end_reason, once ENDED */
    uint8_t flow_video; /* bit i: flows[i] carries the video m= line's media */
    char final_reason[37];

    struct rtp_flow *flows[CALL_MAX_FLOWS];
    struct media_binding bindings[CALL_MAX_BINDINGS]; /* calls/media.c's */

    struct timer timer;   /* timer B / challenge wait / silence / linger */
    struct list_node lru; /* on the table's LRU list */
    void *rule_state;     /* the detectors' states of the call (rules_call_state) */

    /* KPIs (daemon/trunk_metrics.c sets it; calls/ only zeroes it): the
     * final response to the BYE was seen, so that a retransmitted one does
     * not count in the disconnect delay (SDD) twice. */
    bool kpi_bye_answered;
};

/* A REGISTER binding being followed: one AOR at one registrar. */
struct registration {
    struct {
        char aor[192]; /* user@host of the To URI */
        struct endpoint registrar;
    } key;
    struct endpoint client;
    uint64_t first_us, last_us;
    unsigned requests, challenges, successes, failures;
    unsigned challenges_since_success;
    uint64_t window_start_us; /* first challenge since the last success */
    char challenge_realm[128];
    bool challenge_stale;
    char credentials_realm[128];
    uint64_t last_response_hash;
    unsigned same_response_repeats;
    int last_status;
    int64_t expires_s;      /* granted by the last 200, -1 unknown */
    uint64_t expires_at_us; /* 0 when not registered */
    char call_id[128];
    void *rule_state; /* the detectors' states of it (rules_registration_state) */

    /* KPIs (daemon/trunk_metrics.c sets them; calls/ only zeroes them): the
     * first REGISTER of the attempt in progress (0: none), which the
     * registration request delay (RRD) runs from, and the state the
     * siptap_registrations gauge counts this binding in (0: none yet). */
    uint64_t kpi_attempt_us;
    uint8_t kpi_state;
};

/* Observers: the call's own events (calls/call_events.c, always first), the
 * detectors, the metrics. Every callback is optional. */
struct event;

struct call_observer {
    void *user;
    /* The call's first INVITE (m, meta) made it. */
    void (*call_started)(void *user, struct call *c, const struct sip_msg *m,
                         const struct sip_meta *meta);
    /* Every SIP message of a call, after the call's state was updated. */
    void (*call_message)(void *user, struct call *c, const struct sip_msg *m,
                         const struct sip_meta *meta, bool retransmission);
    void (*call_answered)(void *user, struct call *c, uint64_t now_us);
    /* The call failed; ev is its call_fail, being built: each observer may
     * add members (json_writer_member_*(&ev->body, ...)). The failure's status
     * (408 for a timeout) is in c->final_status already, its reason phrase
     * (the wire's, longer than c->final_reason may hold) in reason: read
     * facts from the call, never back from the event. */
    void (*call_failed)(void *user, struct call *c, const char *reason, struct event *ev,
                        uint64_t now_us);
    /* The call's state is complete; ev is its call_end, being built, to
     * which each observer may add members. */
    void (*call_ending)(void *user, struct call *c, enum call_end_reason reason, struct event *ev,
                        uint64_t now_us);
    /* The call is about to be freed: drop rule_state. */
    void (*call_freed)(void *user, struct call *c);
    void (*registration_message)(void *user, struct registration *r, const struct sip_msg *m,
                                 const struct sip_meta *meta);
    /* The registration is about to be forgotten (idle past
     * call_limits.registration_idle_s and twice its granted expiry, or the
     * table is being freed): drop whatever points at it, and its
     * rule_state (rules_registration_state). */
    void (*registration_freed)(void *user, struct registration *r);
    /* SIP outside INVITE dialogs and REGISTER (OPTIONS, SUBSCRIBE, MESSAGE...). */
    void (*other_message)(void *user, const struct sip_msg *m, const struct sip_meta *meta);
};

#define CALL_TABLE_MAX_OBSERVERS 16

struct call_limits {
    size_t max_calls;
    size_t max_registrations;
    size_t max_flows; /* the daemon gives 4 x max_calls */
    /* RTP of no call (media_without_call): at most this many flows at once
     * (1024; 0: not followed), reported once quiet for the given seconds
     * (30) when a stream of one reached min_packets (5). */
    size_t max_media_without_call;
    uint32_t media_without_call_quiet_s;
    uint32_t media_without_call_min_packets;
    uint32_t invite_timeout_s;  /* timer B: no response at all (32) */
    uint32_t ringing_timeout_s; /* provisional but no final response (180) */
    uint32_t challenge_wait_s;  /* 401/407 not followed by a new INVITE (90) */
    uint32_t silence_timeout_s; /* answered, no SIP and no media (300) */
    uint32_t linger_s;          /* ended calls kept for late packets (32) */
    /* call_end is published once the call's media has been quiet this long
     * after its end (2000), and at most end_media_max_s after it (10). */
    uint32_t end_media_quiet_ms;
    uint32_t end_media_max_s;
    /* A registration with no REGISTER or response for this long, and for
     * twice its granted expiry, is forgotten (3600). */
    uint32_t registration_idle_s;
};
void call_limits_defaults(struct call_limits *l);

struct call_table *call_table_new(const struct call_limits *limits, const struct trunk_list *trunks,
                                  struct counters *counters, struct timerq *timers,
                                  struct event_bus *bus);
void call_table_free(struct call_table *t);
bool call_table_add_observer(struct call_table *t, const struct call_observer *o);
/* Feed one parsed SIP message. */
void call_table_sip(struct call_table *t, const struct sip_msg *m, const struct sip_meta *meta);
/* Feed a UDP datagram that is not SIP. Returns true if it belonged to a call
 * (RTP or RTCP of a known media binding). */
bool call_table_udp(struct call_table *t, const struct packet *pkt);
/* End of capture: every open call ends with reason capture_end. */
void call_table_close_all(struct call_table *t, uint64_t now_us);
size_t call_table_active(const struct call_table *t);
/* What the tables hold now (the stats event's `tables`): none of it may
 * outlive its call or registration, however many came and went. */
struct call_table_sizes {
    size_t calls; /* followed, ended ones lingering included */
    size_t registrations;
    size_t media_bindings; /* address:port bound by an SDP */
    size_t flows;          /* RTP/RTCP flows, of calls and of none */
    size_t flows_of_no_call;
    size_t flow_pool_bytes; /* slabs the flows are made in (the pool keeps its peak) */
};
void call_table_sizes(const struct call_table *t, struct call_table_sizes *out);
struct call *call_table_find(struct call_table *t, const char *call_id);
struct rtp_flow_table *call_table_flows(struct call_table *t);
/* Registrations followed right now. */
size_t call_table_registration_count(const struct call_table *t);
/* Frame hook: called whenever a packet is attributed to a call (each SIP
 * message of a known call before it is handled, so before the events it
 * causes, and of every call after the observers: a frame may come twice;
 * each RTP or RTCP datagram of its media). The daemon knows the frame being
 * processed and keeps it for the call's capture file. One hook; NULL fn
 * removes it. */
typedef void (*call_frame_fn)(void *user, struct call *c, uint64_t ts_us);
void call_table_set_frame_hook(struct call_table *t, call_frame_fn fn, void *user);
/* The tap's own losses (kernel, interface, capture queue): the running
 * total as of the packets about to be processed, whose capture time is
 * ts_us. A call up across a loss says so on its events (capture_loss: true
 * and capture_lost_packets, the tap's losses of all traffic while the call
 * was up: an upper bound on the call's own), and detectors judging what the
 * tap counted ask before they blame the network. */
void call_table_set_capture_lost(struct call_table *t, uint64_t total, uint64_t ts_us);
/* Packets the tap lost since the call began (0: none). */
uint64_t call_capture_lost(const struct call_table *t, const struct call *c);
/* The capture time at which the tap last lost packets, 0 if it never did
 * (the time of the packets after the loss: a loss is seen with them). */
uint64_t call_table_last_capture_loss_us(const struct call_table *t);
/* Adds capture_loss and capture_lost_packets to a call's event when the tap
 * lost packets while the call was up (c NULL: nothing). */
void call_mark_capture_loss(const struct call_table *t, const struct call *c,
                            struct json_writer *members);
/* RTP packets tied to any call so far: 0 while the tap sees no media at all
 * (a capture of SIP alone, a mirror port without the RTP), when media
 * missing from a call says nothing about the call. */
uint64_t call_table_rtp_packets(const struct call_table *t);
/* The trunk name for events, NULL if none. */
const char *call_trunk_name(const struct call *c);
/* The user part of the first INVITE's Request-URI (the dialled number), ""
 * if it had none (cut at CALL_PARTY_STRING_MAX). Kept in the call's own
 * block right after the callee's user (create_call), so it costs no
 * pointer, and not at all when it is the callee's user (the usual case). */
static inline const char *call_request_user(const struct call *c)
{
    const char *callee = c->party[CALL_CALLEE].user;
    return c->request_user_is_callee ? callee : callee + strlen(callee) + 1;
}
/* The audio RTP party `sender` (CALL_CALLER / CALL_CALLEE) sent in this call:
 * packets, first and last arrival, the path of its latest flow, and whether
 * any of its flows ran from an address its SDP did not name. */
void call_media_of(const struct call *c, int sender, struct call_media_direction *out);
/* What flows[i] of the call carries (enum rtp_media). */
static inline enum rtp_media call_flow_media(const struct call *c, size_t i)
{
    return (c->flow_video >> i) & 1 ? RTP_MEDIA_VIDEO : RTP_MEDIA_AUDIO;
}
/* The latest RTP packet of the call, audio or video, either way (0: none). */
uint64_t call_last_media_us(const struct call *c);

#endif

/*
 * media_silence: what one_way_audio and no_audio share about a call's media
 * — whether the SDP of both parties asks for audio both ways, a digest of
 * that SDP (a change starts a new judgement), when a sending party last
 * showed it was alive, how long it may be quiet before that is a fault, and
 * the hints and JSON both events carry.
 *
 * A party shows it is alive by its RTP, and by an RTCP sender report that
 * counts no more RTP than the tap saw (it is up and sends nothing more on
 * purpose: voice activity detection, mute). A party that went quiet after
 * saying so — its last packet comfort noise (RFC 3389), or a codec whose
 * encoder stops by itself in silence (DTX: G.729 Annex B, G.723.1 Annex A)
 * — gets pause_s instead of window_s.
 */
#ifndef SIPTAP_RULES_MEDIA_SILENCE_H
#define SIPTAP_RULES_MEDIA_SILENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "calls/calls.h"
#include "rules/rules.h"

/* Both parties' SDP: each sends and the other receives. */
bool media_both_ways_expected(const struct call *c);
/* What of the parties' SDP decides the judgement, hashed. */
uint64_t media_sdp_digest(const struct call *c);
/* The media session a silence detector judges: from the answer, or from
 * the last change of the parties' SDP (hold, resume, a new address). */
struct media_session {
    uint64_t baseline_us;
    uint64_t sdp_digest; /* media_sdp_digest when it began */
};
/* The call was answered: the session begins now. */
void media_session_start(struct media_session *s, const struct call *c, uint64_t now);
/* A SIP message of the call: true when its SDP began a new session (the
 * baseline is then its time, and the detector judges afresh). */
bool media_session_changed(struct media_session *s, const struct call *c, const struct sip_msg *m,
                           bool retransmission, uint64_t ts);
/* What a silence detector keeps first in its per-call state: whether the
 * call was answered (its media session began), and the session. */
struct media_watch {
    bool started;
    struct media_session session;
};
/* call_answered: the detector's state of c made (its first member a
 * struct media_watch), the session begun at now and the detector's timer
 * due first_check_us later. NULL when the state could not be made. */
struct media_watch *media_watch_answered(const struct rules_context *ctx, struct call *c,
                                         uint64_t now, uint64_t first_check_us);
/* The call_answered hook of a silence detector (user: its context): the
 * watch begins, first checked after the detector's window_s. */
void media_watch_on_answered(void *user, struct call *c, uint64_t now);
/* call_message: the detector's watch of c when the message began a new
 * session (the detector forgets its open episodes and judges afresh), else
 * NULL. */
struct media_watch *media_watch_changed(const struct rules_context *ctx, struct call *c,
                                        const struct sip_msg *m, const struct sip_meta *meta,
                                        bool retransmission);
/* The latest sign of life of a sending party since baseline_us, 0 none. */
uint64_t media_alive_us(const struct call_media_direction *d, uint64_t baseline_us);
/* The silence allowed after that sign: pause_us when the party said it
 * went quiet (comfort noise, DTX), else window_us. */
uint64_t media_silence_allowed_us(const struct call_media_direction *d, uint64_t window_us,
                                  uint64_t pause_us);
/* A party announcing a private SDP address while signalling from a public one. */
bool media_private_behind_nat(const struct call_party *p);
/* A member {"src": "ip:port", "dst": "ip:port"}. */
void media_path_member(struct json_writer *t, const char *key, const struct endpoint *src,
                       const struct endpoint *dst);
/* The party's SDP address:port as an endpoint. */
struct endpoint media_sdp_endpoint(const struct call *c, int party);

#endif

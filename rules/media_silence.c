/*
 * media_silence: the judgement of a call's media silence that one_way_audio
 * and no_audio share (see media_silence.h). Reads the SDP kept by calls/
 * and the per-party sums of call_media_of; nothing here runs per packet.
 */
#include "rules/media_silence.h"

#include <string.h>

#include "core/hashtab.h"
#include "core/json_writer.h"

static bool addr_is_zero(const struct net_addr *a)
{
    for (size_t i = 0; i < sizeof(a->bytes); i++)
        if (a->bytes[i])
            return false;
    return true;
}

static bool party_sends(const struct call_sdp *s)
{
    return s->present && s->port && (s->direction == SDP_SENDRECV || s->direction == SDP_SENDONLY);
}

static bool party_receives(const struct call_sdp *s)
{
    return s->present && s->port && s->addr.family && !addr_is_zero(&s->addr) &&
           (s->direction == SDP_SENDRECV || s->direction == SDP_RECVONLY);
}

bool media_both_ways_expected(const struct call *c)
{
    const struct call_sdp *a = &c->party[CALL_CALLER].sdp, *b = &c->party[CALL_CALLEE].sdp;
    return party_sends(a) && party_receives(b) && party_sends(b) && party_receives(a);
}

/* A 64-bit digest is 40 bytes less per active call than a copy, and a
 * collision (2^-64) would only skip one re-baseline. */
uint64_t media_sdp_digest(const struct call *c)
{
    uint8_t buf[2][21];
    for (int p = 0; p < 2; p++) {
        const struct call_sdp *s = &c->party[p].sdp;
        buf[p][0] = s->present;
        buf[p][1] = s->addr.family;
        memcpy(&buf[p][2], s->addr.bytes, 16);
        buf[p][18] = (uint8_t)(s->port >> 8);
        buf[p][19] = (uint8_t)s->port;
        buf[p][20] = (uint8_t)s->direction;
    }
    return hashtab_hash_bytes(buf, sizeof(buf));
}

void media_session_start(struct media_session *s, const struct call *c, uint64_t now)
{
    s->baseline_us = now;
    s->sdp_digest = media_sdp_digest(c);
}

bool media_session_changed(struct media_session *s, const struct call *c, const struct sip_msg *m,
                           bool retransmission, uint64_t ts)
{
    if (retransmission || !m->has_sdp || c->state == CALL_STATE_ENDED)
        return false;
    uint64_t digest = media_sdp_digest(c);
    if (digest == s->sdp_digest)
        return false;
    s->sdp_digest = digest;
    s->baseline_us = ts;
    return true;
}

uint64_t media_alive_us(const struct call_media_direction *d, uint64_t baseline_us)
{
    uint64_t alive = d->packets ? d->last_us : 0;
    if (d->quiet_report_us > alive)
        alive = d->quiet_report_us;
    return alive >= baseline_us ? alive : 0;
}

uint64_t media_silence_allowed_us(const struct call_media_direction *d, uint64_t window_us,
                                  uint64_t pause_us)
{
    bool said_quiet = d->packets && (d->comfort_noise || d->dtx_codec);
    return said_quiet && pause_us > window_us ? pause_us : window_us;
}

bool media_private_behind_nat(const struct call_party *p)
{
    return p->sdp.present && net_addr_is_private(&p->sdp.addr) && p->signalling.addr.family &&
           !net_addr_is_private(&p->signalling.addr);
}

void media_path_member(struct json_writer *t, const char *key, const struct endpoint *src,
                       const struct endpoint *dst)
{
    json_writer_member_key(t, key);
    json_writer_object_begin(t);
    endpoint_member(t, "src", src);
    endpoint_member(t, "dst", dst);
    json_writer_object_end(t);
}

struct endpoint media_sdp_endpoint(const struct call *c, int party)
{
    struct endpoint e = {.addr = c->party[party].sdp.addr, .port = c->party[party].sdp.port};
    return e;
}

struct media_watch *media_watch_answered(const struct rules_context *ctx, struct call *c,
                                         uint64_t now, uint64_t first_check_us)
{
    struct media_watch *w = rules_call_state_make(ctx, c);
    if (!w)
        return NULL;
    w->started = true;
    media_session_start(&w->session, c, now);
    rules_call_timer_at(ctx, c, now + first_check_us);
    return w;
}

void media_watch_on_answered(void *user, struct call *c, uint64_t now)
{
    const struct rules_context *ctx = user;
    media_watch_answered(ctx, c, now, rules_seconds_us(rules_param(ctx, "window_s", c->trunk)));
}

struct media_watch *media_watch_changed(const struct rules_context *ctx, struct call *c,
                                        const struct sip_msg *m, const struct sip_meta *meta,
                                        bool retransmission)
{
    struct media_watch *w = rules_call_state(ctx, c);
    if (!w || !w->started || !media_session_changed(&w->session, c, m, retransmission, meta->ts_us))
        return NULL;
    return w;
}

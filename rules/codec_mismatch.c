/*
 * codec_mismatch: the two sides of a call could not agree on an audio codec.
 *
 * Raised (severity warning) once per INVITE transaction, initial or
 * re-INVITE, when:
 *   - the INVITE is answered 488 (Not Acceptable Here) or 606 (Not
 *     Acceptable)                                         cause "status";
 *   - the answer's audio shares no codec with the offer   cause "no_common_codec";
 *   - the answer rejects the offered audio stream with port 0
 *                                                         cause "audio_rejected".
 * Fields: offered (codec names of the offer's first audio stream: rtpmap
 * names, or the static payload type's name; then the formats of its T.38
 * m=image streams, "t38"), answered (the answer's, or null
 * when the response carried no SDP), status (the response's status code) and
 * cause.
 *
 * How: the call_message observer sees every SIP message of a call after
 * calls/ updated its state. An INVITE with SDP is an offer; its codec names
 * are kept per call (rules_call_state) with the CSeq of the transaction,
 * packed one after the other at their exact lengths (a typical offer is ~30
 * bytes instead of a 384-byte table, and every call has one), in the state
 * itself up to OFFERED_INLINE bytes. A 18x or 2xx with SDP to
 * that CSeq is the answer (early media answers count too). With a late offer (INVITE without SDP)
 * the 2xx carries the offer and the ACK the answer. telephone-event, CN and
 * other non-audio formats do not count as a shared codec.
 */
#include "rules/rules.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"

#define PARAMS(X)                                                                                  \
    X(check_answers, 1, 0, 1,                                                                      \
      "also check answers that share no codec with the offer or reject audio (1 yes, 0 no)")
RULE_PARAM_TABLE(PARAMS);

#define MAX_CODECS 16

struct codec_list {
    uint8_t count;
    char names[MAX_CODECS][24];
};

/* Offered names up to this many bytes are kept in the call's state; a
 * longer list (more or longer names than a usual offer's) in a malloc. */
#define OFFERED_INLINE 40

struct codec_call {
    uint32_t cseq;      /* INVITE transaction of the offer */
    bool pending;       /* an offer waits for its answer */
    bool late_offer;    /* the offer came in a 2xx, the answer comes in the ACK */
    bool raised;        /* this transaction already gave an event */
    bool offer_has_sdp; /* the INVITE carried SDP */
    bool invite_seen;   /* the state was made (state_of) */
    uint8_t offered_count;
    uint16_t offered_len; /* bytes of the offered_count NUL-terminated names */
    union {
        char inline_names[OFFERED_INLINE]; /* offered_len <= OFFERED_INLINE */
        char *spilled;                     /* offered_len > OFFERED_INLINE */
    } offered;
};

static const char *offered_names(const struct codec_call *s)
{
    return s->offered_len > OFFERED_INLINE ? s->offered.spilled : s->offered.inline_names;
}

static void offered_unpack(const struct codec_call *s, struct codec_list *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = offered_names(s);
    for (uint8_t i = 0; i < s->offered_count; i++) {
        size_t n = strlen(p) + 1;
        memcpy(out->names[i], p, n); /* n <= sizeof(names[0]): packed from a codec_list */
        p += n;
    }
    out->count = s->offered_count;
}

static void offered_clear(struct codec_call *s)
{
    if (s->offered_len > OFFERED_INLINE)
        free(s->offered.spilled);
    s->offered_count = 0;
    s->offered_len = 0;
}

/* Replaces the offered codecs. */
static void offered_store(struct codec_call *s, const struct codec_list *l)
{
    size_t len = 0;
    for (size_t i = 0; i < l->count; i++)
        len += strlen(l->names[i]) + 1;
    offered_clear(s);
    char *p = s->offered.inline_names;
    if (len > OFFERED_INLINE && !(p = s->offered.spilled = malloc(len)))
        return; /* zero names: nothing can be judged against them */
    for (size_t i = 0; i < l->count; i++) {
        size_t k = strlen(l->names[i]) + 1;
        memcpy(p, l->names[i], k);
        p += k;
    }
    s->offered_count = l->count;
    s->offered_len = (uint16_t)len;
}

struct codec_mismatch {
    struct rules_context *ctx;
};

static const struct sdp_media *first_audio(const struct sdp_info *sdp)
{
    for (size_t i = 0; i < sdp->media_count && i < SDP_MAX_MEDIA; i++)
        if (sdp->media[i].type == SDP_MEDIA_AUDIO)
            return &sdp->media[i];
    return NULL;
}

static void codecs_from_media(struct codec_list *out, const struct sdp_media *media)
{
    memset(out, 0, sizeof(*out));
    if (!media)
        return;
    for (size_t i = 0; i < media->format_count && i < SDP_MAX_FORMATS && out->count < MAX_CODECS;
         i++) {
        const struct sdp_format *f = &media->formats[i];
        if (f->name[0])
            str_copy(out->names[out->count], sizeof(out->names[0]), f->name);
        else
            snprintf(out->names[out->count], sizeof(out->names[0]), "%u", f->payload_type);
        out->count++;
    }
}

/* The offer's codecs: its first audio stream's, then the formats of its
 * T.38 fax streams (m=image, "t38"), which a gateway refusing fax answers
 * 488 to as it would to a codec. */
static void codecs_from_offer(struct codec_list *out, const struct sdp_info *sdp)
{
    codecs_from_media(out, first_audio(sdp));
    for (size_t i = 0; i < sdp->media_count && i < SDP_MAX_MEDIA; i++) {
        const struct sdp_media *m = &sdp->media[i];
        if (m->type != SDP_MEDIA_IMAGE || m->port == 0)
            continue;
        for (size_t f = 0; f < m->format_count && f < SDP_MAX_FORMATS && out->count < MAX_CODECS;
             f++)
            if (m->formats[f].name[0])
                str_copy(out->names[out->count++], sizeof(out->names[0]), m->formats[f].name);
    }
}

/* Formats that ride along with a codec but are not one themselves. */
static bool is_auxiliary(const char *name)
{
    return !strcasecmp(name, "telephone-event") || !strcasecmp(name, "CN") ||
           !strcasecmp(name, "red") || !strcasecmp(name, "ulpfec") || !strcasecmp(name, "rtx");
}

static bool share_codec(const struct codec_list *a, const struct codec_list *b)
{
    for (size_t i = 0; i < a->count; i++) {
        if (is_auxiliary(a->names[i]))
            continue;
        for (size_t j = 0; j < b->count; j++)
            if (!strcasecmp(a->names[i], b->names[j]))
                return true;
    }
    return false;
}

/* The codec names as a member's array (null: no list); names come from
 * the wire's SDP. */
static void member_codecs(struct json_writer *t, const char *key, const struct codec_list *l)
{
    json_writer_member_key(t, key);
    if (!l) {
        json_writer_null(t);
        return;
    }
    json_writer_array_begin(t);
    for (size_t i = 0; i < l->count; i++)
        json_writer_wire_string(t, l->names[i], strlen(l->names[i]));
    json_writer_array_end(t);
}

static void raise_mismatch(struct codec_mismatch *d, struct call *c, struct codec_call *s,
                           const struct codec_list *answered, int status, const char *cause,
                           uint64_t now)
{
    s->raised = true;
    s->pending = false;
    if (!d->ctx->enabled)
        return;
    struct codec_list offered;
    offered_unpack(s, &offered);
    struct event ev;
    rules_event_begin(d->ctx, &ev, "codec_mismatch", SEVERITY_WARNING, now, c);
    member_codecs(&ev.body, "offered", &offered);
    member_codecs(&ev.body, "answered", answered);
    json_writer_member_integer(&ev.body, "status", status);
    json_writer_member_string(&ev.body, "cause", cause);
    json_writer_member_string(&ev.body, "direction", call_direction_name(c->direction));
    rules_publish(d->ctx, &ev);
}

/* An SDP answer to the pending offer. */
static void check_answer(struct codec_mismatch *d, struct call *c, struct codec_call *s,
                         const struct sip_msg *m, int status, uint64_t now)
{
    const struct sdp_media *audio = first_audio(&m->sdp);
    if (!audio || s->raised)
        return;
    struct codec_list answered;
    codecs_from_media(&answered, audio);
    if (RULE_PARAM(d->ctx, check_answers, c->trunk) < 0.5)
        return;
    if (audio->port == 0) {
        raise_mismatch(d, c, s, &answered, status, "audio_rejected", now);
        return;
    }
    struct codec_list offered;
    offered_unpack(s, &offered);
    if (!share_codec(&offered, &answered))
        raise_mismatch(d, c, s, &answered, status, "no_common_codec", now);
}

/* The call's state: made for an INVITE, else NULL until one was seen (the
 * call's other detectors may have made its block). */
static struct codec_call *state_of(struct codec_mismatch *d, struct call *c, bool create)
{
    struct codec_call *s = create ? rules_call_state_make(d->ctx, c) : rules_call_state(d->ctx, c);
    if (s && create)
        s->invite_seen = true;
    return s && s->invite_seen ? s : NULL;
}

static void on_invite(struct codec_mismatch *d, struct call *c, const struct sip_msg *m)
{
    struct codec_call *s = state_of(d, c, true);
    if (!s)
        return;
    s->cseq = m->cseq;
    s->raised = false;
    s->late_offer = false;
    s->offer_has_sdp = false;
    const struct sdp_media *audio = m->has_sdp ? first_audio(&m->sdp) : NULL;
    /* An offer without audio, or with audio on hold at port 0, cannot be
     * refused for its codecs. */
    s->pending = !m->has_sdp || (audio && audio->port != 0);
    if (audio)
        s->offer_has_sdp = true;
    struct codec_list offered;
    if (m->has_sdp)
        codecs_from_offer(&offered, &m->sdp);
    else
        codecs_from_media(&offered, NULL); /* an empty list */
    offered_store(s, &offered);
}

static void on_message(void *user, struct call *c, const struct sip_msg *m,
                       const struct sip_meta *meta, bool retransmission)
{
    struct codec_mismatch *d = user;
    uint64_t now = meta->ts_us;
    if (m->is_request) {
        if (m->method == SIP_METHOD_INVITE && !retransmission)
            on_invite(d, c, m);
        else if (m->method == SIP_METHOD_ACK) {
            struct codec_call *s = state_of(d, c, false);
            if (s && s->pending && s->late_offer && m->cseq == s->cseq && m->has_sdp)
                check_answer(d, c, s, m, 200, now);
        }
        return;
    }
    if (m->method != SIP_METHOD_INVITE)
        return;
    struct codec_call *s = state_of(d, c, false);
    if (!s || m->cseq != s->cseq || s->raised)
        return;
    int st = m->status;
    if (st == 488 || st == 606) {
        struct codec_list answered;
        const struct sdp_media *audio = m->has_sdp ? first_audio(&m->sdp) : NULL;
        if (audio)
            codecs_from_media(&answered, audio);
        raise_mismatch(d, c, s, audio ? &answered : NULL, st, "status", now);
        return;
    }
    if (!s->pending || !m->has_sdp || st < 180 || st >= 300)
        return;
    if (!s->offer_has_sdp) {
        /* Late offer: this response is the offer, the ACK answers it. */
        if (st >= 200 && !s->late_offer) {
            const struct sdp_media *audio = first_audio(&m->sdp);
            if (!audio || audio->port == 0) {
                s->pending = false;
                return;
            }
            struct codec_list offered;
            codecs_from_media(&offered, audio);
            offered_store(s, &offered);
            s->late_offer = true;
        }
        return;
    }
    check_answer(d, c, s, m, st, now);
    if (st >= 200)
        s->pending = false;
}

static void on_freed(void *user, struct call *c)
{
    struct codec_mismatch *d = user;
    struct codec_call *s = rules_call_state(d->ctx, c);
    if (s)
        offered_clear(s);
}

static void *codec_mismatch_create(struct rules_context *ctx)
{
    struct codec_mismatch *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ctx = ctx;
    struct call_observer o = {.user = d, .call_message = on_message, .call_freed = on_freed};
    call_table_add_observer(ctx->calls, &o);
    return d;
}

static void codec_mismatch_destroy(void *state)
{
    free(state);
}

const struct detector detector_codec_mismatch = {
    .name = "codec_mismatch",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
    .create = codec_mismatch_create,
    .destroy = codec_mismatch_destroy,
    .call_state_size = sizeof(struct codec_call),
};

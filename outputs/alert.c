/*
 * alert: event -> one human line. Each formatter reads the fields of its
 * event type (CONTRACT.md) and tolerates any of them missing or mistyped,
 * since events come from many detectors; what is absent is simply not said.
 * The "fix:" parts are the first thing an operator should check for that
 * pattern, not a diagnosis.
 *
 * Text from the wire (Call-IDs, AORs, realms) is copied with control
 * characters replaced, so a hostile Call-ID cannot forge a second log line.
 */
#include "outputs/alert.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct line {
    char *buf;
    size_t cap, len;
};

static void line_printf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line_printf(struct line *l, const char *fmt, ...)
{
    if (l->len + 1 >= l->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    l->len += (size_t)n;
    if (l->len >= l->cap)
        l->len = l->cap - 1;
    /* Neutralise control characters that came in through %s. */
    for (size_t i = 0; i < l->len; i++)
        if ((unsigned char)l->buf[i] < 0x20 || l->buf[i] == 0x7f)
            l->buf[i] = ' ';
}

static const char *str(const json_t *ev, const char *key)
{
    return json_string_value(json_object_get(ev, key));
}

static bool num(const json_t *ev, const char *key, double *out)
{
    const json_t *v = json_object_get(ev, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

/* " on call X (trunk T)" / " (trunk T)" / "" */
static void where(struct line *l, const json_t *ev)
{
    const char *call = str(ev, "call_id");
    const char *trunk = str(ev, "trunk");
    if (call)
        line_printf(l, " on call %s", call);
    if (trunk)
        line_printf(l, " (trunk %s)", trunk);
}

static void flow(struct line *l, const json_t *leg)
{
    const char *src = str(leg, "src"), *dst = str(leg, "dst");
    line_printf(l, "%s -> %s", src ? src : "?", dst ? dst : "?");
}

static void format_one_way_audio(struct line *l, const json_t *ev)
{
    line_printf(l, "one-way audio");
    where(l, ev);
    const json_t *silent = json_object_get(ev, "silent"), *active = json_object_get(ev, "active");
    double secs;
    if (json_is_object(silent)) {
        line_printf(l, ": no RTP ");
        flow(l, silent);
        if (num(ev, "silent_s", &secs))
            line_printf(l, " for %.0f s", secs);
    }
    if (json_is_object(active)) {
        line_printf(l, " while ");
        flow(l, active);
        line_printf(l, " flows");
    }
    const char *phase = str(ev, "phase");
    if (phase)
        line_printf(l, " (%s)", strcmp(phase, "midcall") == 0 ? "mid-call" : "from the start");
    const char *hint = str(ev, "hint"), *sdp = str(ev, "sdp_addr");
    if (!hint)
        return;
    if (strcmp(hint, "nat_private_sdp") == 0)
        line_printf(l,
                    "; hint: the SDP announces the private address %s; fix: enable NAT handling "
                    "(symmetric RTP / comedia) or set the external media address on the PBX or SBC",
                    sdp ? sdp : "?");
    else if (strcmp(hint, "sdp_address_mismatch") == 0)
        line_printf(l,
                    "; hint: media comes from another address than the SDP %s announced; fix: "
                    "check media address rewriting on the SBC / NAT",
                    sdp ? sdp : "");
    else if (strcmp(hint, "no_rtp_from_party") == 0)
        line_printf(l, "; hint: one party never sent RTP; fix: open its RTP port range in the "
                       "firewall and check that it really answered with media");
    else
        line_printf(l, "; hint: %s", hint);
}

static void format_call_drop(struct line *l, const json_t *ev)
{
    line_printf(l, "call dropped");
    where(l, ev);
    double secs, n;
    if (num(ev, "seconds_after_answer", &secs))
        line_printf(l, " %.0f s after answer", secs);
    const char *cause = str(ev, "cause");
    if (!cause)
        return;
    line_printf(l, ": cause %s", cause);
    if (strcmp(cause, "missing_ack") == 0) {
        if (num(ev, "ok_retransmits", &n))
            line_printf(l, " (%.0f 200 OK retransmissions, no ACK)", n);
        line_printf(l, "; fix: the ACK does not come back - check NAT, Record-Route and the "
                       "Contact of the 200 OK");
    } else if (strcmp(cause, "session_timer") == 0) {
        if (num(ev, "session_expires", &n))
            line_printf(l, " (Session-Expires %.0f s)", n);
        line_printf(l, "; fix: session refreshes are not answered - check session timer "
                       "support (RFC 4028) on both sides");
    } else if (strcmp(cause, "media_timeout") == 0) {
        line_printf(l, "; fix: RTP stopped before the call ended - check the media path and "
                       "the RTP timeout settings");
    }
}

static void format_registration_loop(struct line *l, const json_t *ev)
{
    const char *aor = str(ev, "aor"), *registrar = str(ev, "registrar");
    line_printf(l, "registration loop for %s", aor ? aor : "an AOR");
    if (registrar)
        line_printf(l, " at %s", registrar);
    const char *trunk = str(ev, "trunk");
    if (trunk)
        line_printf(l, " (trunk %s)", trunk);
    double n, w;
    if (num(ev, "challenges", &n)) {
        line_printf(l, ": %.0f challenges", n);
        if (num(ev, "window_s", &w))
            line_printf(l, " in %.0f s", w);
        line_printf(l, " without success");
    }
    const char *hint = str(ev, "hint");
    if (!hint) {
        line_printf(l, "; fix: check the username and password");
        return;
    }
    if (strcmp(hint, "realm_mismatch") == 0) {
        const char *rc = str(ev, "realm_challenge"), *rr = str(ev, "realm_response");
        line_printf(l,
                    "; hint: realm mismatch (challenge '%s', response '%s'); fix: configure the "
                    "realm the registrar asks for",
                    rc ? rc : "?", rr ? rr : "?");
    } else if (strcmp(hint, "stale_nonce") == 0) {
        line_printf(l, "; hint: stale nonce reused; fix: check the client's digest nonce "
                       "handling and the clocks");
    } else if (strcmp(hint, "same_credentials_repeated") == 0) {
        line_printf(l, "; hint: the same credentials are sent again and again; fix: correct "
                       "the username / password");
    } else if (strcmp(hint, "rechallenged") == 0) {
        const char *reason = str(ev, "last_reason");
        double delay_ms;
        line_printf(l, "; hint: the answer to the registrar's latest nonce was challenged again");
        if (reason)
            line_printf(l, " ('%s')", reason);
        if (num(ev, "answer_delay_ms", &delay_ms))
            line_printf(l, ", answered %.1f s after the challenge", delay_ms / 1000.0);
        line_printf(l, "; fix: check the password, then the registrar's nonce lifetime "
                       "against the client's answer delay");
    } else {
        line_printf(l, "; hint: %s", hint);
    }
}

static void codec_list(struct line *l, const json_t *list)
{
    if (!json_is_array(list) || json_array_size(list) == 0) {
        line_printf(l, "none");
        return;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *c = json_string_value(json_array_get(list, i));
        line_printf(l, "%s%s", i ? "," : "", c ? c : "?");
    }
}

static void format_codec_mismatch(struct line *l, const json_t *ev)
{
    line_printf(l, "codec mismatch");
    where(l, ev);
    line_printf(l, ": offered ");
    codec_list(l, json_object_get(ev, "offered"));
    line_printf(l, ", answered ");
    codec_list(l, json_object_get(ev, "answered"));
    double status;
    if (num(ev, "status", &status) && status > 0)
        line_printf(l, " (%.0f)", status);
    line_printf(l, "; fix: allow a common codec on both sides (e.g. PCMA/PCMU)");
}

static void trunk_reason(struct line *l, const json_t *ev)
{
    const char *reason = str(ev, "reason");
    double failures;
    bool have = num(ev, "failures", &failures);
    if (!reason) {
        if (have)
            line_printf(l, "%.0f failures", failures);
        return;
    }
    if (strcmp(reason, "503") == 0)
        have ? line_printf(l, "%.0f consecutive 503", failures) : line_printf(l, "503");
    else if (strcmp(reason, "consecutive_failures") == 0)
        have ? line_printf(l, "%.0f consecutive failures", failures)
             : line_printf(l, "consecutive failures");
    else if (strcmp(reason, "invite_timeout") == 0)
        have ? line_printf(l, "%.0f INVITE timeouts", failures) : line_printf(l, "INVITE timeouts");
    else if (strcmp(reason, "options_timeout") == 0)
        have ? line_printf(l, "%.0f OPTIONS unanswered", failures)
             : line_printf(l, "OPTIONS unanswered");
    else if (strcmp(reason, "registration_lost") == 0)
        line_printf(l, "registration lost");
    else
        line_printf(l, "%s", reason);
}

static const char *peer_address(const json_t *ev)
{
    static const char *const keys[] = {"peer", "address", "dst", "registrar"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (str(ev, keys[i]))
            return str(ev, keys[i]);
    return NULL;
}

static void format_trunk(struct line *l, const json_t *ev, bool up)
{
    const char *trunk = str(ev, "trunk");
    const char *peer = peer_address(ev);
    line_printf(l, "trunk %s %s", trunk ? trunk : (peer ? peer : "?"), up ? "up" : "down");
    if (up) {
        line_printf(l, " again");
        return;
    }
    line_printf(l, ": ");
    trunk_reason(l, ev);
    if (peer && trunk)
        line_printf(l, " from %s", peer);
    /* A configured trunk's event names no address (the trunk may have
     * several): the call that tipped it leads to the one that failed. */
    const char *last = str(ev, "last_call_id");
    if (last)
        line_printf(l, " (last call %s)", last);
    line_printf(l, "; fix: check the carrier's status and route calls to a backup trunk");
}

/* One side of a failover: "trunk T (ADDR)", "trunk T" or "ADDR". */
static void failover_side(struct line *l, const char *trunk, const char *peer)
{
    if (trunk && peer)
        line_printf(l, "trunk %s (%s)", trunk, peer);
    else if (trunk)
        line_printf(l, "trunk %s", trunk);
    else
        line_printf(l, "%s", peer ? peer : "?");
}

static void format_trunk_failover(struct line *l, const json_t *ev)
{
    const char *from_trunk = str(ev, "from_trunk"), *to_trunk = str(ev, "to_trunk");
    const char *from_peer = str(ev, "from_peer"), *to_peer = str(ev, "to_peer");
    const char *number = str(ev, "number"), *failed = str(ev, "failed_call_id");
    const char *call = str(ev, "call_id");
    double status, after_ms;
    line_printf(l, "trunk failover");
    if (number)
        line_printf(l, " for %s", number);
    line_printf(l, ": call%s%s", failed ? " " : "", failed ? failed : "");
    if (num(ev, "failed_status", &status))
        line_printf(l, " got %.0f from ", status);
    else
        line_printf(l, " failed on ");
    failover_side(l, from_trunk, from_peer);
    line_printf(l, " and was retried");
    if (num(ev, "after_ms", &after_ms))
        line_printf(l, " %.0f ms later", after_ms);
    line_printf(l, " on ");
    failover_side(l, to_trunk, to_peer);
    if (call)
        line_printf(l, " as call %s", call);
    line_printf(l, "; fix: check %s%s - its calls are going to the backup",
                from_trunk ? "trunk " : "",
                from_trunk  ? from_trunk
                : from_peer ? from_peer
                            : "?");
}

static const char *status_fix(int status)
{
    if (status == 401 || status == 407)
        return "check the trunk credentials";
    if (status == 403)
        return "the carrier refuses the call - check caller ID, IP allow-list and account";
    if (status == 404 || status == 484 || status == 604)
        return "check the dialled number format";
    if (status == 408)
        return "no answer to the INVITE - check reachability and the route to the peer";
    if (status == 480 || status == 486 || status == 600)
        return "the callee is busy or unavailable";
    if (status == 488 || status == 606)
        return "no common codec - check the codec lists";
    if (status == 487)
        return "the caller hung up before the answer";
    if (status >= 500 && status < 600)
        return "the carrier or the next hop has a problem - check its status and the trunk";
    return NULL;
}

/* call_fail hints (rules/call_failure.c): what each says, and the fix when
 * it is not the status's own. */
static const struct {
    const char *hint, *says, *fix;
} fail_hints[] = {
    {"no_route_for_did", "the PBX has no route for this DID",
     "add the DID to the PBX's inbound routes, or check the number format the carrier sends"},
    {"no_answer_from_pbx", "the PBX sent neither ringing nor an answer",
     "check that the PBX is up and accepts calls from the trunk"},
    {"pbx_unavailable", "the PBX is overloaded or down", "check the PBX"},
    {"trunk_auth_unanswered", "the PBX did not answer the trunk's challenge",
     "give the PBX the trunk's credentials"},
    {"trunk_rejected_auth", "the provider refused the call",
     "check the credentials, the IP allow-list, barring and credit with the provider"},
    {"no_answer_from_trunk", "the trunk sent neither ringing nor an answer", NULL},
    {"trunk_unavailable", "the trunk is overloaded or down", NULL},
};

static void format_call_fail(struct line *l, const json_t *ev)
{
    line_printf(l, "call failed");
    const char *call = str(ev, "call_id"), *trunk = str(ev, "trunk");
    if (call)
        line_printf(l, " (call %s)", call);
    double status = 0;
    num(ev, "status", &status);
    const char *reason = str(ev, "reason");
    if (status > 0)
        line_printf(l, ": %.0f%s%s", status, reason ? " " : "", reason ? reason : "");
    const char *dir = str(ev, "direction");
    if (dir || trunk) {
        line_printf(l, " (");
        if (dir)
            line_printf(l, "%s", dir);
        if (trunk)
            line_printf(l, "%strunk %s", dir ? ", " : "", trunk);
        line_printf(l, ")");
    }
    /* The number called: the Request-URI's user where the event has it,
     * else the To user (on a trunk's inbound call, the DID). */
    const char *callee = str(ev, "request_user");
    if (!callee || !*callee)
        callee = str(ev, "to");
    bool inbound = dir && strcmp(dir, "inbound") == 0;
    if (callee && *callee)
        line_printf(l, " to %s%s", inbound ? "DID " : "", callee);
    const char *hint = str(ev, "hint");
    const char *fix = status_fix((int)status);
    if (hint) {
        const char *says = hint;
        for (size_t i = 0; i < sizeof(fail_hints) / sizeof(fail_hints[0]); i++)
            if (strcmp(hint, fail_hints[i].hint) == 0) {
                says = fail_hints[i].says;
                fix = fail_hints[i].fix ? fail_hints[i].fix : fix;
            }
        line_printf(l, "; hint: %s", says);
    }
    if (fix)
        line_printf(l, "; fix: %s", fix);
}

static void format_rtp_quality(struct line *l, const json_t *ev)
{
    line_printf(l, "poor RTP quality");
    where(l, ev);
    const json_t *st = json_object_get(ev, "stream");
    if (json_is_object(st)) {
        line_printf(l, ": ");
        flow(l, st);
        const char *codec = str(st, "codec");
        if (codec)
            line_printf(l, " %s", codec);
        double v;
        if (num(st, "loss_pct", &v))
            line_printf(l, ", loss %.1f%%", v);
        if (num(st, "jitter_max_ms", &v))
            line_printf(l, ", jitter max %.1f ms", v);
        if (num(st, "mos", &v))
            line_printf(l, ", MOS %.1f", v);
    }
    line_printf(l, "; fix: check the network path for loss and jitter (QoS marking, "
                   "congested links, Wi-Fi)");
}

static void format_sip_scan(struct line *l, const json_t *ev)
{
    const char *source = str(ev, "source"), *phase = str(ev, "phase");
    const char *ua = str(ev, "user_agent");
    bool ended = phase && strcmp(phase, "end") == 0;
    line_printf(l, "SIP scan from %s%s", source ? source : "?", ended ? " ended" : "");
    if (ua)
        line_printf(l, " (User-Agent \"%s\")", ua);
    double n, rate;
    if (num(ev, "requests", &n) && num(ev, "rate", &rate))
        line_printf(l, ": %.0f requests, %.0f/s", n, rate);
    if (!ended)
        line_printf(l, "; fix: block the source at the firewall or SBC (fail2ban, an ACL), "
                       "and keep extensions' passwords strong");
}

size_t alert_format(const json_t *ev, char *buf, size_t buflen)
{
    struct line l = {buf, buflen, 0};
    if (buflen == 0)
        return 0;
    buf[0] = '\0';
    const char *type = str(ev, "type");
    if (!type)
        type = "event";
    if (strcmp(type, "one_way_audio") == 0)
        format_one_way_audio(&l, ev);
    else if (strcmp(type, "call_drop") == 0)
        format_call_drop(&l, ev);
    else if (strcmp(type, "registration_loop") == 0)
        format_registration_loop(&l, ev);
    else if (strcmp(type, "codec_mismatch") == 0)
        format_codec_mismatch(&l, ev);
    else if (strcmp(type, "trunk_down") == 0)
        format_trunk(&l, ev, false);
    else if (strcmp(type, "trunk_up") == 0)
        format_trunk(&l, ev, true);
    else if (strcmp(type, "trunk_failover") == 0)
        format_trunk_failover(&l, ev);
    else if (strcmp(type, "call_fail") == 0)
        format_call_fail(&l, ev);
    else if (strcmp(type, "rtp_quality") == 0)
        format_rtp_quality(&l, ev);
    else if (strcmp(type, "sip_scan") == 0)
        format_sip_scan(&l, ev);
    else {
        line_printf(&l, "%s", type);
        where(&l, ev);
    }
    return l.len;
}

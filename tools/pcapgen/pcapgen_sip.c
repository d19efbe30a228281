/*
 * pcapgen_sip: SIP and SDP text, and the call and registration builders.
 *
 * A call is written as a timeline: each SIP transaction is a request and its
 * responses at fixed offsets from the call's start, built from one description
 * of who is the client and who the server of that transaction (struct txn), so
 * Via/From/To/Call-ID/CSeq always match between a request and its responses.
 * Tags, branches and nonces are hashes of the Call-ID, so the same spec always
 * yields the same bytes. RTP for the call is generated with pcapgen_rtp_stream
 * in legs (a re-INVITE can move or stop a direction), each leg continuing the
 * sequence number and timestamp of the one before.
 *
 * Digest "response" values are deterministic hex strings, not real MD5
 * digests: nothing downstream verifies credentials.
 */
#include "tools/pcapgen/pcapgen_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000ULL
#define S  1000000ULL

static void buf_line_copy(struct buf *b, const char *text, bool drop_content_length)
{
    /* Copies header lines, normalising line ends to CRLF. */
    const char *p = text;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        size_t line = n;
        if (line > 0 && p[line - 1] == '\r')
            line--;
        bool skip = line == 0 ||
                    (drop_content_length &&
                     (strncasecmp(p, "Content-Length:", 15) == 0 || strncasecmp(p, "l:", 2) == 0));
        if (!skip) {
            if (!buf_append(b, p, line) || !buf_append(b, "\r\n", 2))
                abort();
        }
        p = e ? e + 1 : p + n;
    }
}

char *pcapgen_sip_build(const char *start_line, const char *headers, const char *body,
                        size_t *len_out)
{
    struct buf b;
    buf_init(&b, PCAPGEN_TEXT_MAX);
    pcapgen_buf_printf(&b, "%s\r\n", start_line);
    buf_line_copy(&b, headers, true);
    size_t blen = body ? strlen(body) : 0;
    pcapgen_buf_printf(&b, "Content-Length: %zu\r\n\r\n", blen);
    if (blen && !buf_append(&b, body, blen))
        abort();
    return pcapgen_buf_take(&b, len_out);
}

char *pcapgen_sip_normalize(const char *text, size_t *len_out)
{
    /* Split at the first empty line; the rest is the body, taken verbatim
     * except that bare LFs become CRLF (SDP wants CRLF too). */
    const char *sep = NULL;
    for (const char *p = text; *p; p++) {
        if (p[0] == '\n' && (p[1] == '\n' || (p[1] == '\r' && p[2] == '\n'))) {
            sep = p;
            break;
        }
    }
    const char *first_end = strchr(text, '\n');
    size_t head_len = sep ? (size_t)(sep - text) : strlen(text);
    char *head = strndup(text, head_len);
    if (!head)
        abort();
    char *start = strndup(text, first_end ? (size_t)(first_end - text) : strlen(text));
    if (!start)
        abort();
    size_t sl = strlen(start);
    if (sl && start[sl - 1] == '\r')
        start[sl - 1] = '\0';
    const char *hdrs =
        first_end && (size_t)(first_end - text) < head_len ? head + (first_end - text) + 1 : "";
    struct buf body;
    buf_init(&body, PCAPGEN_TEXT_MAX);
    if (sep) {
        const char *bp = sep + (sep[1] == '\n' ? 2 : 3);
        for (; *bp; bp++) {
            if (*bp == '\n' && (bp == sep || bp[-1] != '\r'))
                pcapgen_buf_printf(&body, "\r\n");
            else if (!buf_append(&body, bp, 1))
                abort();
        }
    }
    char *bodys = pcapgen_buf_take(&body, NULL);
    char *out = pcapgen_sip_build(start, hdrs, bodys, len_out);
    free(bodys);
    free(start);
    free(head);
    return out;
}

void pcapgen_sip_udp(struct pcapgen *g, uint64_t t_us, const struct endpoint *src,
                     const struct endpoint *dst, const char *text, const struct pcapgen_encap *opts)
{
    pcapgen_udp(g, t_us, src, dst, (const uint8_t *)text, strlen(text), opts);
}

static const char *rtpmap(uint8_t pt)
{
    switch (pt) {
    case 0:
        return "PCMU/8000";
    case 3:
        return "GSM/8000";
    case 8:
        return "PCMA/8000";
    case 9:
        return "G722/8000";
    case 13:
        return "CN/8000";
    case 18:
        return "G729/8000";
    case 101:
        return "telephone-event/8000";
    default:
        return NULL;
    }
}

char *pcapgen_sdp_build(const struct pcapgen_sdp *sdp)
{
    static const uint8_t default_pts[] = {0, 101};
    const uint8_t *pts = sdp->pts ? sdp->pts : default_pts;
    size_t n = sdp->pts ? sdp->n_pts : 2;
    const char *ipv = strchr(sdp->addr, ':') ? "IP6" : "IP4";
    struct buf b;
    buf_init(&b, PCAPGEN_TEXT_MAX);
    pcapgen_buf_printf(&b, "v=0\r\no=pcapgen %" PRIu64 " %" PRIu64 " IN %s %s\r\n", sdp->session_id,
                       sdp->version, ipv, sdp->addr);
    pcapgen_buf_printf(&b, "s=pcapgen\r\nc=IN %s %s\r\nt=0 0\r\nm=audio %u RTP/AVP", ipv, sdp->addr,
                       (unsigned)sdp->port);
    for (size_t i = 0; i < n; i++)
        pcapgen_buf_printf(&b, " %u", (unsigned)pts[i]);
    pcapgen_buf_printf(&b, "\r\n");
    for (size_t i = 0; i < n; i++) {
        const char *m = rtpmap(pts[i]);
        if (m)
            pcapgen_buf_printf(&b, "a=rtpmap:%u %s\r\n", (unsigned)pts[i], m);
        if (pts[i] == 101)
            pcapgen_buf_printf(&b, "a=fmtp:101 0-16\r\n");
    }
    if (sdp->ptime)
        pcapgen_buf_printf(&b, "a=ptime:%u\r\n", (unsigned)sdp->ptime);
    if (sdp->rtcp_mux)
        pcapgen_buf_printf(&b, "a=rtcp-mux\r\n");
    if (sdp->rtcp_port)
        pcapgen_buf_printf(&b, "a=rtcp:%u\r\n", (unsigned)sdp->rtcp_port);
    if (sdp->direction)
        pcapgen_buf_printf(&b, "a=%s\r\n", sdp->direction);
    if (sdp->video_port)
        pcapgen_buf_printf(&b, "m=video %u RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
                           (unsigned)sdp->video_port);
    return pcapgen_buf_take(&b, NULL);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Trying";
    case 180:
        return "Ringing";
    case 183:
        return "Session Progress";
    case 200:
        return "OK";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 480:
        return "Temporarily Unavailable";
    case 486:
        return "Busy Here";
    case 487:
        return "Request Terminated";
    case 488:
        return "Not Acceptable Here";
    case 500:
        return "Server Internal Error";
    case 503:
        return "Service Unavailable";
    case 603:
        return "Decline";
    default:
        return "Unknown";
    }
}

/* "host" with brackets for IPv6. */
static void host_text(const struct net_addr *a, char *out, size_t len)
{
    char t[NETADDR_STRLEN];
    net_addr_format(a, t, sizeof(t));
    snprintf(out, len, a->family == 6 ? "[%s]" : "%s", t);
}

/* Who is client and who server of one SIP transaction. */
struct txn {
    const char *call_id;
    const char *transport; /* "UDP" / "TCP" */
    const struct endpoint *uac, *uas;
    const char *uac_user, *uas_user;
    const char *ruri_user;         /* the Request-URI's user; NULL = uas_user */
    const char *uac_tag, *uas_tag; /* uas_tag NULL = not yet in dialog */
    const char *branch;
    uint32_t cseq;
    const char *method;
};

static void txn_common(struct buf *b, const struct txn *x, bool to_tag)
{
    char uac[ENDPOINT_STRLEN], uach[ENDPOINT_STRLEN], uash[ENDPOINT_STRLEN];
    endpoint_format(x->uac, uac, sizeof(uac));
    host_text(&x->uac->addr, uach, sizeof(uach));
    host_text(&x->uas->addr, uash, sizeof(uash));
    pcapgen_buf_printf(b, "Via: SIP/2.0/%s %s;branch=%s\r\n", x->transport, uac, x->branch);
    pcapgen_buf_printf(b, "From: <sip:%s@%s>;tag=%s\r\n", x->uac_user, uach, x->uac_tag);
    if (to_tag && x->uas_tag)
        pcapgen_buf_printf(b, "To: <sip:%s@%s>;tag=%s\r\n", x->uas_user, uash, x->uas_tag);
    else
        pcapgen_buf_printf(b, "To: <sip:%s@%s>\r\n", x->uas_user, uash);
    pcapgen_buf_printf(b, "Call-ID: %s\r\nCSeq: %u %s\r\n", x->call_id, (unsigned)x->cseq,
                       x->method);
}

static void finish(struct buf *b, const char *body)
{
    size_t n = body ? strlen(body) : 0;
    if (n)
        pcapgen_buf_printf(b, "Content-Type: application/sdp\r\n");
    pcapgen_buf_printf(b, "Content-Length: %zu\r\n\r\n%s", n, n ? body : "");
}

static char *txn_request(const struct txn *x, const char *method, const char *extra,
                         const char *body)
{
    struct buf b;
    buf_init(&b, PCAPGEN_TEXT_MAX);
    char uas[ENDPOINT_STRLEN], uac[ENDPOINT_STRLEN];
    endpoint_format(x->uas, uas, sizeof(uas));
    endpoint_format(x->uac, uac, sizeof(uac));
    pcapgen_buf_printf(&b, "%s sip:%s@%s SIP/2.0\r\n", method,
                       x->ruri_user ? x->ruri_user : x->uas_user, uas);
    txn_common(&b, x, true);
    pcapgen_buf_printf(&b, "Max-Forwards: 70\r\n");
    if (strcmp(method, "INVITE") == 0 || strcmp(method, "REGISTER") == 0)
        pcapgen_buf_printf(&b, "Contact: <sip:%s@%s%s>\r\n", x->uac_user, uac,
                           strcmp(x->transport, "TCP") == 0 ? ";transport=tcp" : "");
    pcapgen_buf_printf(&b, "User-Agent: siptap-pcapgen\r\n");
    if (extra)
        buf_line_copy(&b, extra, true);
    finish(&b, body);
    return pcapgen_buf_take(&b, NULL);
}

static char *txn_response(const struct txn *x, int status, const char *extra, const char *body)
{
    struct buf b;
    buf_init(&b, PCAPGEN_TEXT_MAX);
    pcapgen_buf_printf(&b, "SIP/2.0 %d %s\r\n", status, reason_phrase(status));
    txn_common(&b, x, status != 100);
    if (strcmp(x->method, "INVITE") == 0 && status > 100 && status < 300) {
        char uas[ENDPOINT_STRLEN];
        endpoint_format(x->uas, uas, sizeof(uas));
        pcapgen_buf_printf(&b, "Contact: <sip:%s@%s%s>\r\n", x->uas_user, uas,
                           strcmp(x->transport, "TCP") == 0 ? ";transport=tcp" : "");
    }
    pcapgen_buf_printf(&b, "Server: siptap-pcapgen\r\n");
    if (extra)
        buf_line_copy(&b, extra, true);
    finish(&b, body);
    return pcapgen_buf_take(&b, NULL);
}

/* The signalling path of one call or registration: UDP or one TCP connection. */
struct sigpath {
    struct pcapgen *g;
    const struct endpoint *client, *server;
    const struct pcapgen_encap *encap;
    struct pcapgen_tcp *tcp;
};

/* Sends text; from_client says which side sends it. */
static void sig_send(struct sigpath *p, uint64_t t, bool from_client, char *text)
{
    if (p->tcp)
        pcapgen_tcp_send(p->tcp, t, from_client ? PCAPGEN_C2S : PCAPGEN_S2C, (const uint8_t *)text,
                         strlen(text));
    else if (from_client)
        pcapgen_sip_udp(p->g, t, p->client, p->server, text, p->encap);
    else
        pcapgen_sip_udp(p->g, t, p->server, p->client, text, p->encap);
    free(text);
}

static void sig_open(struct sigpath *p, struct pcapgen *g, const struct endpoint *client,
                     const struct endpoint *server, enum pcapgen_transport tr, uint64_t t,
                     const struct pcapgen_encap *encap, uint64_t h)
{
    p->g = g;
    p->client = client;
    p->server = server;
    p->encap = encap;
    p->tcp = NULL;
    if (tr == PCAPGEN_TRANSPORT_TCP) {
        p->tcp = pcapgen_tcp_new(g, client, server, (uint32_t)h, (uint32_t)(h >> 32), encap);
        pcapgen_tcp_handshake(p->tcp, t);
    }
}

static void sig_close(struct sigpath *p, uint64_t t, bool fin)
{
    if (!p->tcp)
        return;
    if (fin) {
        pcapgen_tcp_fin(p->tcp, t, PCAPGEN_C2S);
        pcapgen_tcp_fin(p->tcp, t + 1000, PCAPGEN_S2C);
        pcapgen_tcp_ack(p->tcp, t + 2000, PCAPGEN_C2S);
    }
    pcapgen_tcp_free(p->tcp);
    p->tcp = NULL;
}

static void hex_id(char *out, size_t len, uint64_t h, const char *prefix, unsigned salt)
{
    uint64_t s = h ^ ((uint64_t)salt * 0x9e3779b97f4a7c15ULL);
    snprintf(out, len, "%s%08" PRIx64, prefix, pcapgen_splitmix(&s) & 0xffffffffu);
}

/* A leg of RTP in one direction; continues seq/ts in *r from the last leg. */
static void media_leg(struct pcapgen *g, const struct pcapgen_call_spec *c, uint32_t ssrc,
                      const struct endpoint *src, const struct endpoint *dst, uint64_t from,
                      uint64_t to, struct pcapgen_rtp_result *r, bool first)
{
    if (to <= from)
        return;
    struct pcapgen_rtp_spec s = {0};
    s.src = *src;
    s.dst = *dst;
    s.ssrc = ssrc;
    s.pt = c->pt;
    s.start_us = from;
    s.count = (uint32_t)((to - from) / 20000);
    s.start_seq = first ? (uint16_t)(ssrc >> 7) : r->next_seq;
    s.start_ts = first ? (ssrc << 3) : r->next_ts;
    s.loss_every = c->loss_every;
    s.rtcp = c->rtcp;
    s.encap = c->encap;
    if (first)
        s.marker_seqs = &s.start_seq, s.n_marker = 1;
    pcapgen_rtp_stream(g, &s, r);
}

static bool ep_set(const struct endpoint *e)
{
    return e->addr.family != 0;
}

/* "Reason: VALUE\n" for a message's extra headers, NULL without one. */
static const char *reason_line(char *buf, size_t len, const char *value)
{
    if (!value)
        return NULL;
    snprintf(buf, len, "Reason: %s\n", value);
    return buf;
}

uint64_t pcapgen_call(struct pcapgen *g, const struct pcapgen_call_spec *spec)
{
    struct pcapgen_call_spec c = *spec;
    char call_id_buf[64];
    if (!c.call_id) {
        snprintf(call_id_buf, sizeof(call_id_buf), "call-%" PRIu64 "@pcapgen", c.start_us);
        c.call_id = call_id_buf;
    }
    uint64_t h = pcapgen_hash(c.call_id);
    const char *from_user = c.from_user ? c.from_user : "alice";
    const char *to_user = c.to_user ? c.to_user : "bob";
    if (!ep_set(&c.caller_media)) {
        c.caller_media.addr = c.caller.addr;
        c.caller_media.port = 10000;
    }
    if (!ep_set(&c.callee_media)) {
        c.callee_media.addr = c.callee.addr;
        c.callee_media.port = 20000;
    }
    if (!ep_set(&c.caller_rtp_src))
        c.caller_rtp_src = c.caller_media;
    if (!ep_set(&c.callee_rtp_src))
        c.callee_rtp_src = c.callee_media;
    uint64_t ring = (c.ring_ms ? c.ring_ms : 2000) * MS;
    uint64_t talk = (c.talk_ms ? c.talk_ms : 30000) * MS;
    uint32_t ssrc_a = c.ssrc_caller ? c.ssrc_caller : (uint32_t)(h >> 8) | 1;
    uint32_t ssrc_b = c.ssrc_callee ? c.ssrc_callee : (uint32_t)(h >> 24) | 2;
    const char *tr = c.transport == PCAPGEN_TRANSPORT_TCP ? "TCP" : "UDP";

    char from_tag[32], to_tag[32], to_tag2[32], auth_tag[32], b1[48], b2[48], b3[48], b4[48];
    hex_id(from_tag, sizeof(from_tag), h, "", 1);
    hex_id(to_tag, sizeof(to_tag), h, "", 2);
    hex_id(to_tag2, sizeof(to_tag2), h, "", 3);
    hex_id(auth_tag, sizeof(auth_tag), h, "", 4);
    hex_id(b1, sizeof(b1), h, "z9hG4bK", 11);
    hex_id(b2, sizeof(b2), h, "z9hG4bK", 12);
    hex_id(b3, sizeof(b3), h, "z9hG4bK", 13);
    hex_id(b4, sizeof(b4), h, "z9hG4bK", 14);

    struct sigpath sp;
    sig_open(&sp, g, &c.caller, &c.callee, c.transport, c.start_us, c.encap, h);
    uint64_t t = c.start_us + (sp.tcp ? 3 * MS : 0);

    char caller_media_addr[NETADDR_STRLEN], callee_media_addr[NETADDR_STRLEN];
    net_addr_format(&c.caller_media.addr, caller_media_addr, sizeof(caller_media_addr));
    net_addr_format(&c.callee_media.addr, callee_media_addr, sizeof(callee_media_addr));
    uint8_t pts[2] = {c.pt, 101};
    struct pcapgen_sdp offer = {.addr = caller_media_addr,
                                .port = c.caller_media.port,
                                .pts = c.offer_pts ? c.offer_pts : pts,
                                .n_pts = c.offer_pts ? c.n_offer_pts : 2,
                                .ptime = 20,
                                .rtcp_mux = c.rtcp == PCAPGEN_RTCP_MUX,
                                .session_id = h & 0xffffff,
                                .version = 1};
    if (c.rtcp == PCAPGEN_RTCP_ATTRIBUTE)
        offer.rtcp_port = (uint16_t)(c.caller_media.port + PCAPGEN_RTCP_ATTRIBUTE_OFFSET);
    else if (c.sdp_rtcp)
        offer.rtcp_port = (uint16_t)(c.caller_media.port + 1);
    if (c.sdp_video)
        offer.video_port = (uint16_t)(c.caller_media.port + 100);
    struct pcapgen_sdp answer = offer;
    answer.addr = callee_media_addr;
    answer.port = c.callee_media.port;
    answer.pts = pts;
    answer.n_pts = 2;
    if (c.sdp_rtcp && c.rtcp != PCAPGEN_RTCP_ATTRIBUTE)
        answer.rtcp_port = (uint16_t)(c.callee_media.port + 1);
    if (c.sdp_video)
        answer.video_port = (uint16_t)(c.callee_media.port + 100);
    if (c.rtcp == PCAPGEN_RTCP_ATTRIBUTE)
        answer.rtcp_port = (uint16_t)(c.callee_media.port + PCAPGEN_RTCP_ATTRIBUTE_OFFSET);
    answer.session_id = (h >> 24) & 0xffffff;
    char *offer_body = pcapgen_sdp_build(&offer);
    char *answer_body = pcapgen_sdp_build(&answer);

    struct txn inv = {.call_id = c.call_id,
                      .transport = tr,
                      .uac = &c.caller,
                      .uas = &c.callee,
                      .uac_user = from_user,
                      .uas_user = to_user,
                      .ruri_user = c.request_user,
                      .uac_tag = from_tag,
                      .uas_tag = NULL,
                      .branch = b1,
                      .cseq = 1,
                      .method = "INVITE"};
    char extra[512] = "";
    if (c.session_expires)
        snprintf(extra, sizeof(extra), "Supported: timer\nSession-Expires: %u;refresher=uac\n",
                 (unsigned)c.session_expires);

    if (c.auth == 401 || c.auth == 407) {
        char nonce[32], hdr[256];
        hex_id(nonce, sizeof(nonce), h, "", 21);
        sig_send(&sp, t, true, txn_request(&inv, "INVITE", extra, offer_body));
        inv.uas_tag = auth_tag;
        snprintf(hdr, sizeof(hdr),
                 "%s: Digest realm=\"pcapgen.test\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"",
                 c.auth == 407 ? "Proxy-Authenticate" : "WWW-Authenticate", nonce);
        sig_send(&sp, t + 20 * MS, false, txn_response(&inv, c.auth, hdr, NULL));
        inv.method = "ACK";
        sig_send(&sp, t + 30 * MS, true, txn_request(&inv, "ACK", NULL, NULL));
        char resp[32], callee_ep[ENDPOINT_STRLEN];
        hex_id(resp, sizeof(resp), h, "", 22);
        endpoint_format(&c.callee, callee_ep, sizeof(callee_ep));
        size_t used = strlen(extra);
        snprintf(extra + used, sizeof(extra) - used,
                 "%s: Digest username=\"%s\", realm=\"pcapgen.test\", nonce=\"%s\", "
                 "uri=\"sip:%s@%s\", response=\"%s%s%s%s\", algorithm=MD5, "
                 "cnonce=\"%s\", qop=auth, nc=00000001\n",
                 c.auth == 407 ? "Proxy-Authorization" : "Authorization", from_user, nonce, to_user,
                 callee_ep, resp, resp, resp, resp, resp);
        inv.uas_tag = NULL;
        inv.method = "INVITE";
        inv.branch = b2;
        inv.cseq = 2;
        t += 40 * MS;
    }

    char final_reason[160], cancel_reason[160], bye_reason[160];
    const char *final_hdr = reason_line(final_reason, sizeof(final_reason), c.final_reason);
    const char *cancel_hdr = reason_line(cancel_reason, sizeof(cancel_reason), c.cancel_reason);
    const char *bye_hdr = reason_line(bye_reason, sizeof(bye_reason), c.bye_reason);
    uint64_t end = t;
    sig_send(&sp, t, true, txn_request(&inv, "INVITE", extra, offer_body));
    for (unsigned k = 1; k <= c.invite_retransmits; k++)
        sig_send(&sp, t + k * MS, true, txn_request(&inv, "INVITE", extra, offer_body));
    sig_send(&sp, t + 10 * MS, false, txn_response(&inv, 100, NULL, NULL));
    uint64_t pdd = (c.pdd_ms ? c.pdd_ms : 100) * MS;
    uint16_t st = c.final_status ? c.final_status : 200;
    bool rings = !(st >= 300 && st != 486 && st != 480 && st != 603 && st != 487);
    bool fin = true;
    if (!rings) {
        inv.uas_tag = to_tag;
        sig_send(&sp, t + 50 * MS, false, txn_response(&inv, st, final_hdr, NULL));
        inv.method = "ACK";
        sig_send(&sp, t + 60 * MS, true, txn_request(&inv, "ACK", NULL, NULL));
        end = t + 60 * MS;
        goto done;
    }
    inv.uas_tag = to_tag;
    if (!c.no_ringing)
        sig_send(&sp, t + pdd, false, txn_response(&inv, 180, NULL, NULL));
    if (c.forking) {
        inv.uas_tag = to_tag2;
        sig_send(&sp, t + pdd + 50 * MS, false, txn_response(&inv, 180, NULL, NULL));
        inv.uas_tag = to_tag;
    }
    end = t + pdd + 50 * MS;
    if (c.no_final) {
        fin = false;
        goto done;
    }
    uint64_t ta = t + ring; /* final response time */
    if (c.cancel) {
        struct txn can = inv;
        can.uas_tag = NULL;
        can.method = "CANCEL";
        sig_send(&sp, ta, true, txn_request(&can, "CANCEL", cancel_hdr, NULL));
        sig_send(&sp, ta + 10 * MS, false, txn_response(&can, 200, NULL, NULL));
        sig_send(&sp, ta + 20 * MS, false, txn_response(&inv, 487, final_hdr, NULL));
        inv.method = "ACK";
        sig_send(&sp, ta + 30 * MS, true, txn_request(&inv, "ACK", NULL, NULL));
        end = ta + 30 * MS;
        goto done;
    }
    if (st != 200) {
        sig_send(&sp, ta, false, txn_response(&inv, st, final_hdr, NULL));
        inv.method = "ACK";
        sig_send(&sp, ta + 10 * MS, true, txn_request(&inv, "ACK", NULL, NULL));
        end = ta + 10 * MS;
        goto done;
    }

    char ok_extra[128] = "";
    if (c.session_expires)
        snprintf(ok_extra, sizeof(ok_extra), "Require: timer\nSession-Expires: %u;refresher=uac\n",
                 (unsigned)c.session_expires);
    sig_send(&sp, ta, false, txn_response(&inv, 200, ok_extra, answer_body));
    uint64_t bye_at;
    bool bye_callee = c.bye_from_callee;
    struct txn ack = inv;
    ack.method = "ACK";
    ack.branch = b3;
    if (c.no_ack) {
        /* RFC 3261 13.3.1.4: retransmit at T1, doubling up to T2, until 64*T1. */
        uint64_t iv = 500 * MS, at = ta + iv;
        while (at < ta + 32 * S) {
            sig_send(&sp, at, false, txn_response(&inv, 200, ok_extra, answer_body));
            iv = iv * 2 > 4 * S ? 4 * S : iv * 2;
            at += iv;
        }
        bye_at = ta + 32 * S;
        bye_callee = true;
        talk = 32 * S;
    } else {
        sig_send(&sp, ta + 20 * MS, true, txn_request(&ack, "ACK", NULL, NULL));
        bye_at = ta + talk;
    }

    /* Media legs. */
    uint64_t m0 = ta + 30 * MS, m_end = ta + talk;
    uint64_t a_stop = c.caller_rtp_stop_ms ? ta + c.caller_rtp_stop_ms * MS : m_end;
    uint64_t b_stop = c.callee_rtp_stop_ms ? ta + c.callee_rtp_stop_ms * MS : m_end;
    if (a_stop > m_end)
        a_stop = m_end;
    if (b_stop > m_end)
        b_stop = m_end;
    bool a_on = c.rtp == PCAPGEN_RTP_BOTH || c.rtp == PCAPGEN_RTP_CALLER_ONLY;
    bool b_on = c.rtp == PCAPGEN_RTP_BOTH || c.rtp == PCAPGEN_RTP_CALLEE_ONLY;
    struct pcapgen_rtp_result ra = {0}, rb = {0};
    uint64_t re = c.reinvite_ms ? ta + c.reinvite_ms * MS : 0;
    if (re && re < m_end) {
        if (a_on)
            media_leg(g, &c, ssrc_a, &c.caller_rtp_src, &c.callee_media, m0,
                      re < a_stop ? re : a_stop, &ra, true);
        if (b_on)
            media_leg(g, &c, ssrc_b, &c.callee_rtp_src, &c.caller_media, m0 + 10 * MS,
                      re < b_stop ? re : b_stop, &rb, true);
        char new_addr[NETADDR_STRLEN];
        struct endpoint new_media = ep_set(&c.reinvite_media) ? c.reinvite_media : c.caller_media;
        struct endpoint new_src = ep_set(&c.reinvite_media) ? c.reinvite_media : c.caller_rtp_src;
        net_addr_format(&new_media.addr, new_addr, sizeof(new_addr));
        struct pcapgen_sdp o2 = offer, a2 = answer;
        o2.addr = new_addr;
        o2.port = new_media.port;
        o2.version = 2;
        o2.direction = c.reinvite_direction;
        a2.version = 2;
        bool hold = c.reinvite_direction && strcmp(c.reinvite_direction, "sendonly") == 0;
        bool inactive = c.reinvite_direction && strcmp(c.reinvite_direction, "inactive") == 0;
        a2.direction = hold ? "recvonly" : inactive ? "inactive" : NULL;
        char *ob = pcapgen_sdp_build(&o2), *ab = pcapgen_sdp_build(&a2);
        struct txn rei = inv;
        rei.cseq = inv.cseq + 1;
        rei.ruri_user = NULL;
        rei.branch = b4;
        rei.method = "INVITE";
        sig_send(&sp, re, true, txn_request(&rei, "INVITE", NULL, ob));
        sig_send(&sp, re + 20 * MS, false, txn_response(&rei, 200, NULL, ab));
        rei.method = "ACK";
        char b5[48];
        hex_id(b5, sizeof(b5), h, "z9hG4bK", 15);
        rei.branch = b5; /* the ACK of a 2xx is a transaction of its own */
        sig_send(&sp, re + 40 * MS, true, txn_request(&rei, "ACK", NULL, NULL));
        free(ob);
        free(ab);
        inv.cseq = rei.cseq;
        if (a_on && !inactive && a_stop > re)
            media_leg(g, &c, ssrc_a, &new_src, &c.callee_media, re + 50 * MS, a_stop, &ra,
                      !(ra.sent || ra.lost));
        if (b_on && !inactive && !hold && b_stop > re)
            media_leg(g, &c, ssrc_b, &c.callee_rtp_src, &new_media, re + 60 * MS, b_stop, &rb,
                      !(rb.sent || rb.lost));
    } else {
        if (a_on)
            media_leg(g, &c, ssrc_a, &c.caller_rtp_src, &c.callee_media, m0, a_stop, &ra, true);
        if (b_on)
            media_leg(g, &c, ssrc_b, &c.callee_rtp_src, &c.caller_media, m0 + 10 * MS, b_stop, &rb,
                      true);
    }

    end = bye_at;
    if (c.no_bye) {
        fin = false;
        goto done;
    }
    struct txn bye;
    if (bye_callee) {
        bye = (struct txn){.call_id = c.call_id,
                           .transport = tr,
                           .uac = &c.callee,
                           .uas = &c.caller,
                           .uac_user = to_user,
                           .uas_user = from_user,
                           .uac_tag = to_tag,
                           .uas_tag = from_tag,
                           .branch = b3,
                           .cseq = 1,
                           .method = "BYE"};
    } else {
        bye = inv;
        bye.ruri_user = NULL; /* in the dialog: the callee's Contact */
        bye.cseq = inv.cseq + 1;
        bye.branch = b3;
        bye.method = "BYE";
    }
    hex_id(b3, sizeof(b3), h, "z9hG4bK", 16);
    sig_send(&sp, bye_at, !bye_callee, txn_request(&bye, "BYE", bye_hdr, NULL));
    sig_send(&sp, bye_at + 10 * MS, bye_callee, txn_response(&bye, 200, NULL, NULL));
    end = bye_at + 10 * MS;

done:
    sig_close(&sp, end + 100 * MS, fin);
    free(offer_body);
    free(answer_body);
    return fin && c.transport == PCAPGEN_TRANSPORT_TCP ? end + 102 * MS : end;
}

uint64_t pcapgen_register(struct pcapgen *g, const struct pcapgen_register_spec *spec)
{
    const struct pcapgen_register_spec *r = spec;
    char cid[64], host[ENDPOINT_STRLEN];
    host_text(&r->registrar.addr, host, sizeof(host));
    const char *user = r->user ? r->user : "alice";
    const char *realm = r->realm ? r->realm : "pcapgen.test";
    if (!r->call_id)
        snprintf(cid, sizeof(cid), "reg-%s-%" PRIu64 "@pcapgen", user, r->start_us);
    const char *call_id = r->call_id ? r->call_id : cid;
    uint64_t h = pcapgen_hash(call_id);
    uint32_t attempts = r->outcome == PCAPGEN_REG_LOOP_401 ? (r->attempts ? r->attempts : 5) : 1;
    uint64_t interval = (r->interval_ms ? r->interval_ms : 1000) * MS;
    uint32_t expires = r->expires ? r->expires : 3600;
    const char *tr = r->transport == PCAPGEN_TRANSPORT_TCP ? "TCP" : "UDP";

    struct endpoint reg_as_domain = r->registrar;
    char from_tag[32], to_tag[32];
    hex_id(from_tag, sizeof(from_tag), h, "", 1);
    hex_id(to_tag, sizeof(to_tag), h, "", 2);

    struct sigpath sp;
    sig_open(&sp, g, &r->ua, &r->registrar, r->transport, r->start_us, r->encap, h);
    uint64_t t = r->start_us + (sp.tcp ? 3 * MS : 0);
    char branch[48], nonce[32], resp[32], cnonce[32], extra[640], hdr[256];
    struct txn x = {.call_id = call_id,
                    .transport = tr,
                    .uac = &r->ua,
                    .uas = &reg_as_domain,
                    .uac_user = user,
                    .uas_user = user,
                    .uac_tag = from_tag,
                    .uas_tag = NULL,
                    .branch = branch,
                    .cseq = 1,
                    .method = "REGISTER"};
    snprintf(extra, sizeof(extra), "Expires: %u\n", (unsigned)expires);
    hex_id(branch, sizeof(branch), h, "z9hG4bK", 100);
    hex_id(nonce, sizeof(nonce), h, "", 200);
    sig_send(&sp, t, true, txn_request(&x, "REGISTER", extra, NULL));
    x.uas_tag = to_tag;
    snprintf(hdr, sizeof(hdr), "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5",
             realm, nonce);
    sig_send(&sp, t + 20 * MS, false, txn_response(&x, 401, hdr, NULL));
    x.uas_tag = NULL;
    uint64_t at = t + 40 * MS, end = at;
    for (uint32_t k = 0; k < attempts; k++) {
        unsigned salt = r->same_response ? 0 : k;
        x.cseq = 2 + k;
        hex_id(branch, sizeof(branch), h, "z9hG4bK", 101 + k);
        hex_id(resp, sizeof(resp), h, "", 300 + salt);
        hex_id(cnonce, sizeof(cnonce), h, "", 400 + salt);
        snprintf(extra, sizeof(extra),
                 "Expires: %u\nAuthorization: Digest username=\"%s\", realm=\"%s\", "
                 "nonce=\"%s\", uri=\"sip:%s\", response=\"%s%s%s%s\", algorithm=MD5, "
                 "cnonce=\"%s\", qop=auth, nc=00000001\n",
                 (unsigned)expires, user, r->realm_mismatch ? "other.invalid" : realm, nonce, host,
                 resp, resp, resp, resp, cnonce);
        sig_send(&sp, at, true, txn_request(&x, "REGISTER", extra, NULL));
        x.uas_tag = to_tag;
        if (r->outcome == PCAPGEN_REG_OK) {
            char uac[ENDPOINT_STRLEN];
            endpoint_format(&r->ua, uac, sizeof(uac));
            snprintf(hdr, sizeof(hdr), "Contact: <sip:%s@%s>;expires=%u", user, uac,
                     (unsigned)expires);
            sig_send(&sp, at + 20 * MS, false, txn_response(&x, 200, hdr, NULL));
        } else if (r->outcome == PCAPGEN_REG_403) {
            sig_send(&sp, at + 20 * MS, false, txn_response(&x, 403, NULL, NULL));
        } else {
            if (!r->same_response)
                hex_id(nonce, sizeof(nonce), h, "", 201 + k);
            snprintf(hdr, sizeof(hdr),
                     "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5%s", realm,
                     nonce, r->stale ? ", stale=true" : "");
            sig_send(&sp, at + 20 * MS, false, txn_response(&x, 401, hdr, NULL));
        }
        x.uas_tag = NULL;
        end = at + 20 * MS;
        at += interval;
    }
    sig_close(&sp, end + 100 * MS, true);
    return end;
}

/* One scanner request and, when the target answers, its final response. */
static void scan_request(struct pcapgen *g, const struct pcapgen_scan_spec *spec,
                         const char *method, uint32_t i, uint64_t t)
{
    char from[64], to[64], start[160], common[768], headers[1024];
    host_text(&spec->src.addr, from, sizeof(from));
    host_text(&spec->dst.addr, to, sizeof(to));
    unsigned ext = 100 + i;
    /* Via, From and Call-ID, then CSeq; the To goes between (tagged in
     * the response). */
    snprintf(common, sizeof(common),
             "Via: SIP/2.0/UDP %s:%u;branch=z9hG4bKscan%u\n"
             "From: \"%u\" <sip:%u@%s>;tag=scan%u\n"
             "Call-ID: scan-%u@%s\n"
             "CSeq: 1 %s\n",
             from, spec->src.port, i, ext, ext, to, i, i, from, method);
    snprintf(start, sizeof(start), "%s sip:%u@%s SIP/2.0", method, ext, to);
    snprintf(
        headers, sizeof(headers),
        "%sTo: \"%u\" <sip:%u@%s>\nMax-Forwards: 70\nUser-Agent: %s\nContact: <sip:%u@%s:%u>\n",
        common, ext, ext, to, spec->user_agent ? spec->user_agent : "friendly-scanner", ext, from,
        spec->src.port);
    char *req = pcapgen_sip_build(start, headers, NULL, NULL);
    pcapgen_sip_udp(g, t, &spec->src, &spec->dst, req, NULL);
    free(req);
    if (!spec->answer)
        return;
    snprintf(start, sizeof(start), "SIP/2.0 %u %s", spec->answer, reason_phrase(spec->answer));
    snprintf(headers, sizeof(headers), "%sTo: \"%u\" <sip:%u@%s>;tag=uas%u\n", common, ext, ext, to,
             i);
    char *resp = pcapgen_sip_build(start, headers, NULL, NULL);
    pcapgen_sip_udp(g, t + 1000, &spec->dst, &spec->src, resp, NULL);
    free(resp);
}

uint64_t pcapgen_scan(struct pcapgen *g, const struct pcapgen_scan_spec *spec)
{
    const char *method = spec->method ? spec->method : "INVITE";
    uint64_t step = 1000000u / (spec->rate ? spec->rate : 100);
    uint64_t t = spec->start_us;
    for (uint32_t i = 0; i < spec->count; i++, t += step)
        scan_request(g, spec, method, i, t);
    return spec->count ? t - step + (spec->answer ? 1000 : 0) : spec->start_us;
}

/*
 * The fast first pass (sip_fast.c) against libosip2 (sip_parse.c): for every
 * message the fast pass accepts, both must produce the same struct sip_msg,
 * byte for byte (both start from a zeroed struct), and libosip2 must accept
 * it too. Run over hand-made messages covering the forms the fast pass must
 * decline, and over every SIP message (UDP, TCP, WebSocket) of the public
 * captures in $SIPTAP_PUBLIC_PCAPS (skipped when absent).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "decoders/decode.h"
#include "sip/sip.h"
#include "sip/sip_internal.h"
#include "sip_test_util.h"

static struct sip_msg a, b;

struct tally {
    unsigned fast, fallback, mismatches;
};

static void field_diff(const char *what)
{
#define DIFF_STR(f)                                                                                \
    if (strcmp(a.f, b.f) != 0)                                                                     \
    cr_log_error("%s: " #f " fast '%s' osip '%s'", what, a.f, b.f)
    DIFF_STR(method_name);
    DIFF_STR(reason);
    DIFF_STR(request_uri);
    DIFF_STR(request_user);
    DIFF_STR(call_id);
    DIFF_STR(from_user);
    DIFF_STR(from_host);
    DIFF_STR(from_tag);
    DIFF_STR(to_user);
    DIFF_STR(to_host);
    DIFF_STR(to_tag);
    DIFF_STR(via_branch);
    DIFF_STR(via_sent_by);
    DIFF_STR(user_agent);
    DIFF_STR(contact_host);
    DIFF_STR(session_refresher);
    DIFF_STR(reason_header);
#undef DIFF_STR
    if (a.expires != b.expires || a.session_expires != b.session_expires || a.cseq != b.cseq ||
        a.status != b.status || a.method != b.method || a.has_sdp != b.has_sdp ||
        a.is_request != b.is_request)
        cr_log_error("%s: numbers differ (expires %lld/%lld cseq %u/%u sdp %d/%d)", what,
                     (long long)a.expires, (long long)b.expires, a.cseq, b.cseq, a.has_sdp,
                     b.has_sdp);
}

/* Compares the two paths on one message. */
static void check_one(const uint8_t *data, size_t len, struct tally *t, const char *what)
{
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    int fr = sip_parse_fast(data, len, &a);
    int orc = sip_parse_osip(data, len, &b);
    if (fr != SIP_FAST_OK) {
        t->fallback++;
        return;
    }
    t->fast++;
    if (orc != 0 || memcmp(&a, &b, sizeof(a)) != 0) {
        t->mismatches++;
        cr_log_error("%s: fast path and libosip2 disagree (osip rc %d) on:\n%.*s", what, orc,
                     (int)(len > 600 ? 600 : len), (const char *)data);
        field_diff(what);
    }
}

static void check_str(const char *s, struct tally *t)
{
    check_one((const uint8_t *)s, strlen(s), t, "corpus");
}

#define SDP "v=0\r\nc=IN IP4 198.51.100.9\r\nm=audio 49170 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"

Test(sip_fast, agrees_with_osip_on_hand_made_messages)
{
    struct tally t = {0};
    char m[4096];
    const char *methods[] = {"INVITE",  "ACK",   "BYE",     "CANCEL",  "REGISTER",
                             "OPTIONS", "PRACK", "UPDATE",  "INFO",    "SUBSCRIBE",
                             "NOTIFY",  "REFER", "MESSAGE", "PUBLISH", "FOO"};
    const char *extras[] = {
        "",
        "Contact: <sip:alice@192.0.2.1:5060;transport=udp>;expires=60\r\n",
        "Contact: \"A B\" <sip:alice@192.0.2.1>\r\nExpires: 300\r\n",
        "Contact: sip:alice@192.0.2.1;expires=30\r\n",
        "m: <sip:alice@192.0.2.1>\r\nUser-Agent: Phone 1.0\r\n",
        "Session-Expires: 1800;refresher=uas\r\nServer: Box/2\r\n",
        "x: 90\r\n",
        "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n",
        "Record-Route: <sip:p1.example;lr>\r\nRoute: <sip:p2.example;lr>\r\n",
        ("Authorization: Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:b\", "
         "response=\"0123\"\r\n"),
        "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", stale=TRUE\r\n",
        "Contact: *\r\nExpires: 0\r\n",
        "Contact: <sip:a@h1>, <sip:a@h2>\r\n",
        "Content-Type: application/sdp\r\n",
        "c: APPLICATION/SDP\r\n",
        "Content-Type: text/plain\r\n",
        "Expires: 12abc\r\n",
        "Session-Expires: 100;refresher=bogus\r\n",
        /* A parameter whose name ends in "refresher" is not the refresher
         * (libosip2's path once took any text ending in "refresher="). */
        "Session-Expires: 90;xrefresher=uac\r\n",
        "Session-Expires: 90;x=1;refresher=uac\r\n",
        "Subject: \r\n",
        "P-Asserted-Identity: \"X\" <sip:x@y>\r\n",
        "Contact: <sip:%61lice@192.0.2.1>\r\n",
        "Contact: <sip:[2001:db8::1]:5060>\r\n",
        "User-Agent: a\r\n b\r\n",
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        for (size_t k = 0; k < sizeof(extras) / sizeof(extras[0]); k++) {
            sip_test_request(m, sizeof(m), methods[i], extras[k], NULL);
            check_str(m, &t);
            sip_test_request(m, sizeof(m), methods[i], extras[k], SDP);
            check_str(m, &t);
            sip_test_response(m, sizeof(m), 200, "OK", methods[i], extras[k], SDP);
            check_str(m, &t);
            sip_test_response(m, sizeof(m), 486, "Busy Here", methods[i], extras[k], NULL);
            check_str(m, &t);
            sip_test_response(m, sizeof(m), 799, "Out Of Range", methods[i], extras[k], NULL);
            check_str(m, &t);
        }
    const char *raw[] = {
        "INVITE sip:+15551234@gw.example;user=phone SIP/2.0\r\n"
        "v: SIP/2.0/TCP 198.51.100.9:5070;branch=z9hG4bKcompact;rport\r\n"
        "f: <sip:carol@chicago.example>;tag=ctag\r\n"
        "t: sip:+15551234@gw.example\r\n"
        "i: compact-call@chicago\r\n"
        "CSeq: 3 INVITE\r\n"
        "m: <sip:carol@198.51.100.9:5070>;expires=120\r\n"
        "x: 900;refresher=uac\r\n"
        "c: application/sdp\r\n"
        "l: 53\r\n"
        "\r\n"
        "v=0\r\n"
        "c=IN IP4 198.51.100.9\r\n"
        "m=audio 49170 RTP/AVP 0\r\n",
        "OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:h>;Tag=T\r\nTo: sip:h\r\n"
        "Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        "OPTIONS sip:h SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:h>\nTo: sip:h\n"
        "Call-ID: x\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n",
        "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=b\r\nFrom: <sip:h>;tag=1\r\n"
        "To: <sip:h>\r\nCall-ID: y@z\r\nCSeq: 2 INVITE\r\nCall-ID: dup\r\nContent-Length: "
        "0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
        check_str(raw[i], &t);
    fprintf(stderr, "sip_fast hand-made: fast=%u osip=%u\n", t.fast, t.fallback);
    cr_expect_eq(t.mismatches, 0);
    /* The fast pass must take the plain ones, and decline some. */
    cr_expect_gt(t.fast, 100);
    cr_expect_gt(t.fallback, 50);
}

/* ---- public captures ---------------------------------------------------- */

struct run {
    struct sip_layer *sip;
    struct tally t;
    const char *path;
};

static void on_message(void *user, const struct sip_msg *msg, const struct sip_meta *meta)
{
    struct run *r = user;
    (void)msg;
    check_one(meta->raw, meta->raw_len, &r->t, r->path);
}

static void on_udp(void *user, const struct packet *pkt)
{
    struct run *r = user;
    sip_layer_udp(r->sip, pkt);
}

static size_t on_tcp(void *user, const struct tcp_data *data)
{
    struct run *r = user;
    return sip_layer_tcp(r->sip, data);
}

static void on_tcp_close(void *user, uint64_t stream_id)
{
    struct run *r = user;
    sip_layer_tcp_close(r->sip, stream_id);
}

static void run_capture(const char *path, struct tally *total)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    if (!p)
        return;
    struct counters counters;
    counters_init(&counters);
    struct run r = {.path = path};
    r.sip = sip_layer_new(&counters, on_message, &r);
    cr_assert_not_null(r.sip);
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    struct decode_handlers handlers = {
        .user = &r, .udp = on_udp, .tcp_data = on_tcp, .tcp_close = on_tcp_close};
    struct decoder *d = decoder_new(&cfg, &counters, &handlers);
    cr_assert_not_null(d);
    if (decoder_set_linktype(d, pcap_datalink(p)) == 0) {
        struct pcap_pkthdr *h;
        const u_char *f;
        while (pcap_next_ex(p, &h, &f) == 1)
            decoder_process(d, (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec, f,
                            h->caplen, h->len);
    }
    pcap_close(p);
    decoder_free(d);
    /* The layer's own counters agree with what the callback saw. */
    cr_expect_eq(counters_get(&counters, "sip.fast_path"), r.t.fast, "%s", path);
    sip_layer_free(r.sip);
    cr_log_info("%s: %u fast, %u osip", path, r.t.fast, r.t.fallback);
    total->fast += r.t.fast;
    total->fallback += r.t.fallback;
    total->mismatches += r.t.mismatches;
}

Test(sip_fast, agrees_with_osip_on_public_captures, .timeout = 600)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    DIR *dp = dir ? opendir(dir) : NULL;
    if (!dp)
        cr_skip_test("public captures not found (SIPTAP_PUBLIC_PCAPS=%s)", dir ? dir : "unset");
    struct tally total = {0};
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t n = strlen(e->d_name);
        if (n > 10 && strcmp(e->d_name + n - 10, ".truth.txt") == 0)
            continue;
        if (!strstr(e->d_name, ".pcap") && !strstr(e->d_name, ".cap"))
            continue;
        char cap[1024];
        snprintf(cap, sizeof(cap), "%s/%s", dir, e->d_name);
        run_capture(cap, &total);
    }
    closedir(dp);
    cr_log_info("public captures: %u messages on the fast path, %u on libosip2", total.fast,
                total.fallback);
    fprintf(stderr, "sip_fast public captures: fast=%u osip=%u\n", total.fast, total.fallback);
    cr_expect_eq(total.mismatches, 0);
    if (total.fast + total.fallback == 0)
        cr_skip_test("no SIP message in the public captures");
}

/* Every byte outside printable ASCII in a header or the start line, at every
 * position of a long value (so both the word-at-a-time scan and its bytewise
 * tail meet it), sends the message to libosip2; a tab inside a header value
 * does not, and the two paths then agree. */
Test(sip_fast, bytes_outside_printable_ascii_fall_back_at_any_position)
{
    static const char value[] = "Phone-Model-1234567890-abcdefghijklmnopqrstuvwxyz";
    static const unsigned char bad[] = {0x00, 0x01, 0x0b, '\r', '\n', 0x1f, 0x7f, 0x80, 0xc3, 0xff};
    char extra[128], m[4096];
    snprintf(extra, sizeof(extra), "User-Agent: %s\r\n", value);
    sip_test_request(m, sizeof(m), "INVITE", extra, NULL);
    size_t len = strlen(m);
    cr_assert_eq(sip_parse_fast((const uint8_t *)m, len, &a), SIP_FAST_OK);
    char *ua = strstr(m, value);
    cr_assert_not_null(ua);
    size_t first_line = (size_t)(strchr(m, '\r') - m);
    for (size_t pos = 1; pos + 1 < sizeof(value); pos++) {
        for (size_t k = 0; k < sizeof(bad); k++) {
            char saved = ua[pos];
            ua[pos] = (char)bad[k];
            cr_assert_neq(sip_parse_fast((const uint8_t *)m, len, &a), SIP_FAST_OK,
                          "byte 0x%02x at %zu of a header value accepted", bad[k], pos);
            ua[pos] = saved;
            if (pos < first_line) {
                saved = m[pos];
                m[pos] = (char)bad[k];
                cr_assert_neq(sip_parse_fast((const uint8_t *)m, len, &a), SIP_FAST_OK,
                              "byte 0x%02x at %zu of the start line accepted", bad[k], pos);
                m[pos] = saved;
            }
        }
        char saved = ua[pos];
        ua[pos] = '\t';
        struct tally t = {0};
        check_one((const uint8_t *)m, len, &t, "tab in a value");
        cr_assert_eq(t.fast, 1, "a tab at %zu of a header value fell back", pos);
        cr_assert_eq(t.mismatches, 0);
        ua[pos] = saved;
    }
    /* A tab in the start line is not SIP's SP. */
    m[6] = '\t';
    cr_assert_neq(sip_parse_fast((const uint8_t *)m, len, &a), SIP_FAST_OK);
}

/* Found by fuzz_sip (fuzz/regressions/sip/display-name-osip-refuses): the
 * fast pass took `To: $<sip:...>` and `To: A$b <sip:...>`, which libosip2
 * refuses, so the two parsers disagreed on whether the message exists. An
 * unquoted display name must be tokens (RFC 3261) for the fast pass; a Via
 * must name its transport; a URI port has at most five digits. */
Test(sip_fast, messages_osip_refuses_are_left_to_it)
{
    const char *names[] = {"$", "A$b ", "a@b ", "x;y "};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char m[1024];
        int n = snprintf(m, sizeof(m),
                         "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
                         "From: <sip:a@192.0.2.1>;tag=1\r\nTo: %s<sip:b@192.0.2.2>;tag=2\r\n"
                         "Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                         names[i]);
        memset(&a, 0, sizeof(a));
        cr_assert_eq(sip_parse_fast((const uint8_t *)m, (size_t)n, &a), SIP_FAST_FALLBACK, "%s",
                     names[i]);
    }
    /* fuzz/regressions/sip/uri-port-of-eight-digits */
    const char *long_port = "SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9\r\n"
                            "From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2:49540216>\r\n"
                            "Call-ID: c1\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(sip_parse_fast((const uint8_t *)long_port, strlen(long_port), &a),
                 SIP_FAST_FALLBACK);
    /* fuzz/regressions/sip/via-without-transport */
    const char *no_transport =
        "BYE sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/ 192.0.2.1;branch=z9\r\n"
        "From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2>;tag=2\r\n"
        "Call-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(sip_parse_fast((const uint8_t *)no_transport, strlen(no_transport), &a),
                 SIP_FAST_FALLBACK);
    struct tally t = {0};
    check_str("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
              "From: <sip:a@192.0.2.1>;tag=1\r\nTo: Bob~B. <sip:b@192.0.2.2>;tag=2\r\n"
              "Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
              &t);
    cr_assert_eq(t.fast, 1, "a display name of tokens stays on the fast pass");
    cr_assert_eq(t.mismatches, 0);
}

/* Header names are matched by length and a word-at-a-time compare without
 * case: every header libosip2 must see falls back however it is spelt, a
 * name one letter off does not, and the key headers in any case (full or
 * compact) stay on the fast pass and agree with libosip2. */
Test(sip_fast, header_names_match_without_case)
{
    static const char *fallback[] = {"authorization",
                                     "proxy-authorization",
                                     "www-authenticate",
                                     "proxy-authenticate",
                                     "authentication-info",
                                     "proxy-authentication-info",
                                     "accept",
                                     "accept-encoding",
                                     "accept-language",
                                     "alert-info",
                                     "call-info",
                                     "error-info",
                                     "content-disposition",
                                     "content-encoding",
                                     "e",
                                     "mime-version"};
    char m[2048], extra[256], name[64];
    for (size_t i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++) {
        for (int spelling = 0; spelling < 3; spelling++) {
            size_t n = strlen(fallback[i]);
            for (size_t k = 0; k <= n; k++) {
                char c = fallback[i][k];
                bool up = spelling == 1 || (spelling == 2 && (k == 0 || fallback[i][k - 1] == '-'));
                name[k] = up && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
            }
            snprintf(extra, sizeof(extra), "%s: x\r\n", name);
            size_t len = sip_test_request(m, sizeof(m), "INVITE", extra, NULL);
            cr_assert_eq(sip_parse_fast((const uint8_t *)m, len, &a), SIP_FAST_FALLBACK,
                         "%s accepted", name);
            /* One letter more is another header: ignored, not a reason to fall back. */
            snprintf(extra, sizeof(extra), "%sx: x\r\n", name);
            len = sip_test_request(m, sizeof(m), "INVITE", extra, NULL);
            cr_assert_eq(sip_parse_fast((const uint8_t *)m, len, &a), SIP_FAST_OK, "%sx refused",
                         name);
        }
    }
    struct tally t = {0};
    check_str("SIP/2.0 200 OK\r\nVIA: SIP/2.0/UDP 192.0.2.1;BRANCH=z9hG4bK1\r\n"
              "f: <SIP:a@192.0.2.1>;TAG=1\r\nT: <sips:b@192.0.2.2>;Tag=2\r\n"
              "I: c1@h\r\ncSeQ: 1 INVITE\r\nM: <sip:b@192.0.2.2:5060>;Expires=30\r\n"
              "SERVER: s\r\nsession-EXPIRES: 90;Refresher=UAS\r\nL: 0\r\n\r\n",
              &t);
    cr_assert_eq(t.fast, 1, "key headers in other cases fell back");
    cr_assert_eq(t.mismatches, 0);
}

/* The fast pass zeroes the struct itself: what it answers does not depend
 * on what the struct held before (the SDP part is zeroed only when no SDP
 * body is parsed into it). */
Test(sip_fast, answer_does_not_depend_on_previous_contents)
{
    static struct sip_msg dirty;
    const char *sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                      "m=audio 4000 RTP/AVP 0\r\n";
    char m[2048];
    for (int with_sdp = 0; with_sdp < 2; with_sdp++) {
        size_t len = sip_test_request(m, sizeof(m), "INVITE",
                                      with_sdp ? "Content-Type: application/sdp\r\n" : NULL,
                                      with_sdp ? sdp : NULL);
        memset(&a, 0, sizeof(a));
        memset(&dirty, 0xa5, sizeof(dirty));
        cr_assert_eq(sip_parse_fast((const uint8_t *)m, len, &a), SIP_FAST_OK);
        cr_assert_eq(sip_parse_fast((const uint8_t *)m, len, &dirty), SIP_FAST_OK);
        cr_assert_eq(memcmp(&a, &dirty, sizeof(a)), 0, "with_sdp %d", with_sdp);
    }
}

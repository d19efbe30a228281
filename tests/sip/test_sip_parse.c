/*
 * Tests of sip_parse_message() and sip_sniff(): every method, responses,
 * compact and folded / multi-valued headers, odd Call-IDs, credentials and
 * challenges, and hostile inputs.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"
#include "sip/sip_internal.h"
#include "sip_test_util.h"

static struct sip_msg msg;
static char buf[8192];

static int parse_str(const char *s)
{
    return sip_parse_message((const uint8_t *)s, strlen(s), &msg);
}

Test(sip_parse, every_request_method)
{
    static const struct {
        const char *name;
        enum sip_method m;
    } methods[] = {
        {"INVITE", SIP_METHOD_INVITE},     {"ACK", SIP_METHOD_ACK},
        {"BYE", SIP_METHOD_BYE},           {"CANCEL", SIP_METHOD_CANCEL},
        {"REGISTER", SIP_METHOD_REGISTER}, {"OPTIONS", SIP_METHOD_OPTIONS},
        {"PRACK", SIP_METHOD_PRACK},       {"UPDATE", SIP_METHOD_UPDATE},
        {"INFO", SIP_METHOD_INFO},         {"SUBSCRIBE", SIP_METHOD_SUBSCRIBE},
        {"NOTIFY", SIP_METHOD_NOTIFY},     {"REFER", SIP_METHOD_REFER},
        {"MESSAGE", SIP_METHOD_MESSAGE},   {"PUBLISH", SIP_METHOD_PUBLISH},
        {"FOOBAR", SIP_METHOD_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        size_t n = sip_test_request(buf, sizeof(buf), methods[i].name, NULL, NULL);
        cr_assert(sip_sniff((const uint8_t *)buf, n), "%s", methods[i].name);
        cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0, "%s", methods[i].name);
        cr_assert(msg.is_request);
        cr_assert_eq(msg.method, methods[i].m, "%s", methods[i].name);
        cr_assert_str_eq(msg.method_name, methods[i].name);
        cr_assert_eq(msg.status, 0);
        cr_assert_str_eq(msg.request_uri, "sip:bob@example.com");
        cr_assert_str_eq(msg.request_user, "bob");
        cr_assert_eq(msg.cseq, 7);
        cr_assert_str_eq(msg.from_user, "alice");
        cr_assert_str_eq(msg.from_host, "atlanta.example");
        cr_assert_str_eq(msg.from_tag, "from-tag-1");
        cr_assert_str_eq(msg.to_user, "bob");
        cr_assert_str_eq(msg.to_host, "example.com");
        cr_assert_str_eq(msg.to_tag, "");
        cr_assert_str_eq(msg.via_sent_by, "192.0.2.1:5060");
        cr_assert_eq(msg.expires, -1);
        cr_assert(!msg.has_sdp && !msg.has_credentials && !msg.has_challenge);
        char want[64];
        snprintf(want, sizeof(want), "call-%s@192.0.2.1", methods[i].name);
        cr_assert_str_eq(msg.call_id, want);
        snprintf(want, sizeof(want), "z9hG4bK-%s-1", methods[i].name);
        cr_assert_str_eq(msg.via_branch, want);
    }
    cr_assert_str_eq(sip_method_name(SIP_METHOD_PRACK), "PRACK");
    cr_assert_str_eq(sip_method_name((enum sip_method)99), "UNKNOWN");
}

Test(sip_parse, responses)
{
    static const struct {
        int status;
        const char *reason, *method;
        enum sip_method m;
    } cases[] = {
        {100, "Trying", "INVITE", SIP_METHOD_INVITE},
        {180, "Ringing", "INVITE", SIP_METHOD_INVITE},
        {183, "Session Progress", "INVITE", SIP_METHOD_INVITE},
        {200, "OK", "BYE", SIP_METHOD_BYE},
        {202, "Accepted", "REFER", SIP_METHOD_REFER},
        {302, "Moved Temporarily", "INVITE", SIP_METHOD_INVITE},
        {404, "Not Found", "INVITE", SIP_METHOD_INVITE},
        {487, "Request Terminated", "INVITE", SIP_METHOD_INVITE},
        {503, "Service Unavailable", "OPTIONS", SIP_METHOD_OPTIONS},
        {603, "Decline", "INVITE", SIP_METHOD_INVITE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = sip_test_response(buf, sizeof(buf), cases[i].status, cases[i].reason,
                                     cases[i].method, "Server: TestPBX 1.0\r\n", NULL);
        cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
        cr_assert(!msg.is_request);
        cr_assert_eq(msg.status, cases[i].status);
        cr_assert_str_eq(msg.reason, cases[i].reason);
        cr_assert_eq(msg.method, cases[i].m);
        cr_assert_str_eq(msg.method_name, cases[i].method);
        cr_assert_str_eq(msg.to_tag, "to-tag-2");
        cr_assert_str_eq(msg.user_agent, "TestPBX 1.0");
        cr_assert_str_eq(msg.request_uri, "");
    }
}

Test(sip_parse, compact_forms)
{
    const char *s = "INVITE sip:+15551234@gw.example;user=phone SIP/2.0\r\n"
                    "v: SIP/2.0/TCP [2001:db8::7]:5070;branch=z9hG4bKcompact\r\n"
                    "f: <sip:carol@chicago.example>;tag=ctag\r\n"
                    "t: sip:+15551234@gw.example\r\n"
                    "i: compact-call@chicago\r\n"
                    "CSeq: 3 INVITE\r\n"
                    "m: <sip:carol@198.51.100.9:5070>;expires=120\r\n"
                    "k: timer, 100rel\r\n"
                    "s: compact subject\r\n"
                    "x: 900;refresher=uac\r\n"
                    "c: application/sdp\r\n"
                    "l: 53\r\n"
                    "\r\n"
                    "v=0\r\n"
                    "c=IN IP4 198.51.100.9\r\n"
                    "m=audio 49170 RTP/AVP 0\r\n";
    cr_assert_eq(parse_str(s), 0);
    cr_assert_str_eq(msg.call_id, "compact-call@chicago");
    cr_assert_str_eq(msg.from_user, "carol");
    cr_assert_str_eq(msg.from_tag, "ctag");
    cr_assert_str_eq(msg.to_user, "+15551234");
    cr_assert_str_eq(msg.request_user, "+15551234");
    cr_assert_str_eq(msg.via_branch, "z9hG4bKcompact");
    cr_assert_str_eq(msg.via_sent_by, "[2001:db8::7]:5070");
    cr_assert_str_eq(msg.contact_host, "198.51.100.9");
    cr_assert_eq(msg.expires, 120);
    cr_assert_eq(msg.session_expires, 900);
    cr_assert_str_eq(msg.session_refresher, "uac");
    cr_assert(msg.has_sdp);
    cr_assert_eq(msg.sdp.media_count, 1);
    cr_assert_eq(msg.sdp.media[0].port, 49170);
}

Test(sip_parse, folded_and_multi_valued_headers)
{
    const char *s = "REGISTER sip:registrar.example SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKtop,\r\n"
                    "  SIP/2.0/UDP 10.2.2.2:5060;branch=z9hG4bKsecond\r\n"
                    "Via: SIP/2.0/UDP 10.3.3.3;branch=z9hG4bKthird\r\n"
                    "From: <sip:dave@registrar.example>\r\n"
                    " ;tag=folded-tag\r\n"
                    "To: <sip:dave@registrar.example>\r\n"
                    "Call-ID: multi@10.1.1.1\r\n"
                    "CSeq: 42 REGISTER\r\n"
                    "Contact: <sip:dave@10.1.1.1:5060>;expires=3600, <sip:dave@10.9.9.9>\r\n"
                    "User-Agent: Phone\r\n"
                    "\tModel 7\r\n"
                    "Content-Length: 0\r\n\r\n";
    cr_assert_eq(parse_str(s), 0);
    cr_assert_str_eq(msg.via_branch, "z9hG4bKtop");
    cr_assert_str_eq(msg.via_sent_by, "10.1.1.1:5060");
    cr_assert_str_eq(msg.from_tag, "folded-tag");
    cr_assert_str_eq(msg.contact_host, "10.1.1.1");
    cr_assert_eq(msg.expires, 3600);
    cr_assert_eq(msg.cseq, 42);
    cr_assert(strncmp(msg.user_agent, "Phone", 5) == 0);
    cr_assert(strstr(msg.user_agent, "Model 7") != NULL);
}

Test(sip_parse, expires_header_wins_over_contact_param)
{
    size_t n = sip_test_request(buf, sizeof(buf), "REGISTER",
                                "Contact: <sip:x@192.0.2.5>;expires=60\r\nExpires: 0\r\n", NULL);
    cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
    cr_assert_eq(msg.expires, 0);
}

Test(sip_parse, call_id_with_odd_characters)
{
    const char *ids[] = {"a!%*_+`'~()<>:\\\"/[]?{}-.x@host.example", "no-at-sign-here",
                         "f81d4fae-7dec-11d0-a765-00a0c91e6bf6@[2001:db8::1]"};
    for (size_t i = 0; i < 3; i++) {
        char extra[256];
        int n = snprintf(buf, sizeof(buf),
                         "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                         "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: %s\r\n"
                         "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                         ids[i]);
        (void)extra;
        cr_assert_eq(sip_parse_message((const uint8_t *)buf, (size_t)n, &msg), 0, "%s", ids[i]);
        cr_assert_str_eq(msg.call_id, ids[i]);
    }
}

Test(sip_parse, repaired_quotes_and_truncated_body)
{
    /* Backslash-quoted display name outside a quoted string (seen in the wild). */
    const char *s = "INVITE sip:97239287044@voip.example SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bKnp1;rport\r\n"
                    "From: \\\"arik\\\" <sip:816666@voip.example>;tag=6433ef9\r\n"
                    "To: <sip:97239287044@voip.example>\r\n"
                    "Call-ID: 105090259-446faf7a@192.168.1.2\r\n"
                    "CSeq: 1 INVITE\r\n"
                    "Content-Type: application/sdp\r\n"
                    "Content-Length: 272\r\n\r\n"
                    "v=0\r\nc=IN IP4 192.168.1.2\r\nm=audio 30000 RTP/AVP 0 8\r\n";
    cr_assert(strstr(s, "From: \\\"arik") != NULL);
    cr_assert_eq(parse_str(s), 0);
    cr_assert_str_eq(msg.from_user, "816666");
    cr_assert_str_eq(msg.from_tag, "6433ef9");
    cr_assert_str_eq(msg.call_id, "105090259-446faf7a@192.168.1.2");
    cr_assert(msg.has_sdp, "the body present is still read");
    cr_assert_eq(msg.sdp.media[0].port, 30000);

    /* The same header twice, compact and full: the first one counts. */
    const char *dup = "INVITE sip:x@y SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKd\r\n"
                      "f: <sip:a@b>;tag=1\r\nt: <sip:first@y>\r\nTo: <sip:second@y>\r\n"
                      "Call-ID: dup\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
    cr_assert_eq(parse_str(dup), 0);
    cr_assert_str_eq(msg.to_user, "first");
}

Test(sip_parse, tel_uri_and_reason_header)
{
    const char *s = "BYE tel:+4930123456;phone-context=example SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP h;branch=z9hG4bKbye\r\n"
                    "From: <tel:+4930999>;tag=a\r\nTo: <sip:b@c>;tag=b\r\n"
                    "Call-ID: tel@h\r\nCSeq: 9 BYE\r\n"
                    "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n"
                    "Content-Length: 0\r\n\r\n";
    cr_assert_eq(parse_str(s), 0);
    cr_assert_str_eq(msg.request_user, "+4930123456");
    cr_assert_str_eq(msg.from_user, "+4930999");
    cr_assert_str_eq(msg.reason_header, "Q.850;cause=16;text=\"Normal call clearing\"");
}

/* RFC 3326's Q.850 cause, read from a hostile header value. */
Test(sip_reason, q850_cause)
{
    static const struct {
        const char *value;
        int cause;
    } cases[] = {
        {"Q.850;cause=16;text=\"Normal call clearing\"", 16},
        {"q.850 ; CAUSE = 17", 17},
        {"SIP;cause=200;text=\"Call completed elsewhere\", Q.850;cause=26", 26},
        {"SIP;cause=487,Q.850;cause=31", 31},
        /* text before the cause, with ';' ',' and an escaped quote inside it */
        {"Q.850;text=\"a;cause=99, \\\"x\";cause=41", 41},
        {"Q.850;cause=0", 0},
        {"Q.850;cause=127", 127},
        {"Q.850;cause=007", 7},
        {"SIP;cause=16", -1},     /* not Q.850 */
        {"Q.8500;cause=16", -1},  /* another protocol */
        {"Q.850;cause=128", -1},  /* past Q.850's seven bits */
        {"Q.850;cause=1234", -1}, /* too many digits */
        {"Q.850;cause=-1", -1},
        {"Q.850;cause=16x", -1},
        {"Q.850;cause=", -1},
        {"Q.850;cause", -1},
        {"Q.850;causes=16", -1},
        {"Q.850;text=\"cause=16", -1}, /* an unterminated quote swallows the rest */
        {"Q.850", -1},
        {"", -1},
        {";;,,==\"", -1},
        {"Q.850;cause=99999999999999999999", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(sip_reason_q850_cause(cases[i].value), cases[i].cause, "%s: %d, want %d",
                     cases[i].value, sip_reason_q850_cause(cases[i].value), cases[i].cause);
}

/* Every string field of the struct, to look for a secret in all of them. */
static bool msg_contains(const struct sip_msg *m, const char *needle)
{
    const char *fields[] = {m->method_name,       m->reason,          m->request_uri,
                            m->request_user,      m->call_id,         m->from_user,
                            m->from_host,         m->from_tag,        m->to_user,
                            m->to_host,           m->to_tag,          m->via_branch,
                            m->via_sent_by,       m->user_agent,      m->contact_host,
                            m->session_refresher, m->reason_header,   m->credentials_realm,
                            m->credentials_nonce, m->challenge_realm, m->challenge_nonce};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strstr(fields[i], needle))
            return true;
    /* And the raw bytes of the whole struct, in case it hides elsewhere. */
    return memmem(m, sizeof(*m), needle, strlen(needle)) != NULL;
}

Test(sip_parse, credentials_keep_only_a_hash_of_the_response)
{
    const char *secret = "6629fae49393a05397450978507c4ef1";
    const char *hdrs[] = {"Authorization", "Proxy-Authorization"};
    uint64_t hashes[2];
    for (int i = 0; i < 2; i++) {
        char extra[512];
        snprintf(extra, sizeof(extra),
                 "%s: Digest username=\"alice\", realm=\"atlanta.example\", "
                 "nonce=\"84a4cc6f3082121f32b42a2187831a9e\", uri=\"sip:bob@example.com\", "
                 "response=\"%s\", algorithm=MD5\r\n",
                 hdrs[i], secret);
        size_t n = sip_test_request(buf, sizeof(buf), "INVITE", extra, NULL);
        cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
        cr_assert(msg.has_credentials);
        cr_assert_str_eq(msg.credentials_realm, "atlanta.example");
        cr_assert_str_eq(msg.credentials_nonce, "84a4cc6f3082121f32b42a2187831a9e");
        cr_assert_neq(msg.credentials_response_hash, 0);
        cr_assert(!msg_contains(&msg, secret), "the digest response leaked into sip_msg");
        cr_assert(!msg_contains(&msg, "6629fae4"), "part of the digest response leaked");
        hashes[i] = msg.credentials_response_hash;
    }
    cr_assert_eq(hashes[0], hashes[1], "same response, same hash");

    size_t n = sip_test_request(buf, sizeof(buf), "INVITE",
                                "Authorization: Digest username=\"alice\", realm=\"r\", "
                                "nonce=\"n\", uri=\"sip:x\", response=\"ffff0000\"\r\n",
                                NULL);
    cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
    cr_assert_neq(msg.credentials_response_hash, hashes[0], "another response, another hash");
}

Test(sip_parse, challenges)
{
    size_t n = sip_test_response(
        buf, sizeof(buf), 401, "Unauthorized", "REGISTER",
        "WWW-Authenticate: Digest realm=\"biloxi.example\", qop=\"auth\", "
        "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", stale=TRUE, algorithm=MD5\r\n",
        NULL);
    cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
    cr_assert(msg.has_challenge);
    cr_assert(!msg.has_credentials);
    cr_assert_str_eq(msg.challenge_realm, "biloxi.example");
    cr_assert_str_eq(msg.challenge_nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    cr_assert(msg.challenge_stale);

    n = sip_test_response(buf, sizeof(buf), 407, "Proxy Authentication Required", "INVITE",
                          "Proxy-Authenticate: Digest realm=\"proxy.example\", "
                          "nonce=\"abc123\", stale=false\r\n",
                          NULL);
    cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
    cr_assert(msg.has_challenge);
    cr_assert_str_eq(msg.challenge_realm, "proxy.example");
    cr_assert_str_eq(msg.challenge_nonce, "abc123");
    cr_assert(!msg.challenge_stale);
}

Test(sip_parse, session_expires_and_user_agent)
{
    size_t n = sip_test_request(buf, sizeof(buf), "UPDATE",
                                "Session-Expires: 1800;refresher=uas\r\n"
                                "User-Agent: Linphone/5.0\r\nServer: ignored\r\n",
                                NULL);
    cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
    cr_assert_eq(msg.session_expires, 1800);
    cr_assert_str_eq(msg.session_refresher, "uas");
    cr_assert_str_eq(msg.user_agent, "Linphone/5.0");
}

/* The refresher is the parameter of that name, white space around it
 * allowed, and not a parameter whose name merely ends in it. */
Test(sip_parse, session_expires_refresher_is_a_parameter_name)
{
    size_t n = sip_test_request(buf, sizeof(buf), "UPDATE",
                                "Session-Expires: 90 ; refresher = uac\r\n", NULL);
    cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
    cr_assert_eq(msg.session_expires, 90);
    cr_assert_str_eq(msg.session_refresher, "uac");
    n = sip_test_request(buf, sizeof(buf), "UPDATE", "Session-Expires: 90;xrefresher=uac\r\n",
                         NULL);
    memset(&msg, 0, sizeof(msg));
    cr_assert_eq(sip_parse_osip((const uint8_t *)buf, n, &msg), 0);
    cr_assert_str_eq(msg.session_refresher, "");
}

Test(sip_parse, long_values_are_truncated_safely)
{
    char extra[2048], longuser[1200];
    memset(longuser, 'u', sizeof(longuser) - 1);
    longuser[sizeof(longuser) - 1] = '\0';
    snprintf(extra, sizeof(extra), "User-Agent: %s\r\n", longuser);
    size_t n = sip_test_request(buf, sizeof(buf), "OPTIONS", extra, NULL);
    cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
    cr_assert_eq(strlen(msg.user_agent), sizeof(msg.user_agent) - 1);
}

Test(sip_parse, sniff)
{
    struct {
        const char *s;
        bool sip;
    } cases[] = {
        {"INVITE sip:a@b SIP/2.0\r\n", true},
        {"SUBSCRIBE sips:a@b;x=y SIP/2.0\r\n", true},
        {"SIP/2.0 200 OK\r\n", true},
        {"SIP/2.0 200\r\n", true},
        {"SIP/2.0 20 OK\r\n", false},
        {"GET / HTTP/1.1\r\n", false},
        {"HTTP/1.1 101 Switching Protocols\r\n", false},
        {"INVITE sip:a@b SIP/1.0\r\n", false},
        {"invite sip:a@b SIP/2.0\r\n", false},
        {"\x80\x00\x12\x34 RTP", false},
        {"INVITE sip:a@b SIP/2.0", false}, /* line not finished */
        {"", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(sip_sniff((const uint8_t *)cases[i].s, strlen(cases[i].s)), cases[i].sip, "%s",
                     cases[i].s);
}

Test(sip_parse, hostile_inputs_fail_cleanly)
{
    const char *bad[] = {
        "",
        "INVITE",
        "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=x\r\n"
        "To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 2 INV", /* truncated header line */
        "INVITE sip:b@x SIP/2.0\r\nFrom: <sip:a@b>;tag=x\r\nTo: <sip:a@b>\r\n\r\n", /* no Call-ID */
        "SIP/2.0 999 Odd\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=x\r\n"
        "To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=x\r\n"
        "To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: abc INVITE\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse_str(bad[i]), -1, "case %zu", i);
        cr_assert_str_eq(msg.call_id, "");
    }

    /* Content-Length lies: negative, huge, missing. None may crash; the
     * message itself is still usable where osip can frame it. */
    const char *cls[] = {"Content-Length: -5\r\n", "Content-Length: 99999999999999999999\r\n",
                         "Content-Length: 12abc\r\n", ""};
    for (size_t i = 0; i < 4; i++) {
        int n = snprintf(buf, sizeof(buf),
                         "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
                         "From: <sip:a@b>;tag=x\r\nTo: <sip:a@b>\r\nCall-ID: cl%zu\r\n"
                         "CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n%s\r\n"
                         "v=0\r\nm=audio 5 RTP/AVP 0\r\n",
                         i, cls[i]);
        int rc = sip_parse_message((const uint8_t *)buf, (size_t)n, &msg);
        cr_assert(rc == 0 || rc == -1);
        if (rc == 0)
            cr_assert_eq(msg.cseq, 1);
    }

    /* Binary garbage of every length, from a fixed pseudo-random sequence. */
    uint8_t junk[600];
    uint32_t x = 12345;
    for (size_t len = 0; len < sizeof(junk); len += 7) {
        for (size_t k = 0; k < len; k++) {
            x = x * 1103515245u + 12345u;
            junk[k] = (uint8_t)(x >> 16);
        }
        cr_assert_eq(sip_parse_message(junk, len, &msg), -1);
    }
    /* A valid start line followed by binary garbage. */
    memcpy(junk, "INVITE sip:a@b SIP/2.0\r\n", 24);
    cr_assert_eq(sip_parse_message(junk, sizeof(junk), &msg), -1);
}

Test(sip_parse, sdp_in_bodies_of_offer_answer_methods)
{
    const char *sdp =
        "v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\n"
        "t=0 0\r\nm=audio 30000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    const char *methods[] = {"INVITE", "ACK", "UPDATE", "PRACK"};
    for (size_t i = 0; i < 4; i++) {
        size_t n = sip_test_request(buf, sizeof(buf), methods[i],
                                    "Content-Type: application/sdp\r\n", sdp);
        cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
        cr_assert(msg.has_sdp, "%s", methods[i]);
        cr_assert_eq(msg.sdp.media[0].port, 30000);
        cr_assert_str_eq(msg.sdp.media[0].formats[1].name, "telephone-event");
    }
    int codes[] = {180, 183, 200};
    for (size_t i = 0; i < 3; i++) {
        size_t n = sip_test_response(buf, sizeof(buf), codes[i], "X", "INVITE",
                                     "Content-Type: Application/SDP\r\n", sdp);
        cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
        cr_assert(msg.has_sdp, "%d", codes[i]);
        char a[NETADDR_STRLEN];
        cr_assert_str_eq(net_addr_format(&msg.sdp.media[0].addr, a, sizeof(a)), "203.0.113.5");
    }
    /* A non-SDP body is not taken for SDP. */
    size_t n =
        sip_test_request(buf, sizeof(buf), "MESSAGE", "Content-Type: text/plain\r\n", "v=0 hello");
    cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
    cr_assert(!msg.has_sdp);
}

/*
 * Public captures, RTP streams: every RTP stream that tshark finds in a
 * public capture holding SIP (`tshark -o rtp.heuristic_rtp:TRUE -q -z
 * rtp,streams`, run here on the same file) is in a call_end of `siptapd
 * -r` (or, for media no SIP call carries, in a media_without_call) with the
 * same source, destination and SSRC, tshark's packets and lost exactly, and
 * its max and mean jitter within 1 % (tshark prints three decimals: 0.0005
 * ms more is rounding); and every media_without_call stream is one tshark
 * finds. The streams where tshark and the wire disagree are listed below
 * with why, and checked as listed: the day one changes, this test says so.
 * Skips (saying so) without the captures folder or tshark.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "tests/support/daemon_events.h"

#define MAX_STREAMS 256

struct stream_row {
    char src[80], dst[80], ssrc[16];
    long long packets, lost;
    double jitter_mean_ms, jitter_max_ms;
    bool without_call; /* siptapd's: from a media_without_call event */
};

/* The streams tshark gets wrong, or siptapd does not report, with why. */
struct known_difference {
    const char *capture, *src, *dst, *ssrc;
    long long packets, lost; /* siptapd's figures; -1: not reported */
    const char *why;
};

static const struct known_difference known[] = {
    /* After the re-INVITE to T.38 (m=image udptl on the same ports) the
     * gateway goes on sending G.711 in RTP (0x80 0x08, same SSRC, sequence
     * numbers running on) for 2010 packets; tshark decodes the port as
     * UDPTL from the SDP and leaves them out of the stream. */
    {"heplify__example__pcap__FAX-Call-t38-CA-TDM-SIP-FB-1.pcap", "10.35.60.100:15580",
     "10.23.1.52:16756", "0x0EAF0EAF", 3848, 0, "RTP after the switch to T.38 is RTP"},
};

static const char *const captures[] = {
    "heplify__example__pcap__FAX-Call-t38-CA-TDM-SIP-FB-1.pcap",
    "heplify__example__pcap__rtp_rtcp_sip_ipv4_udp.pcap",
    "heplify__example__pcap__sip_ipv4_tcp.pcap",
    "sipnab__tests__pcap-samples__Asterisk_ZFONE_XLITE.pcap",
    "sipnab__tests__pcap-samples__SIP_DTMF2.cap",
    "sipnab__tests__pcap-samples__b2bua-asterisk.pcapng",
    "sipnab__tests__pcap-samples__codec-negotiation.pcap",
    "sipnab__tests__pcap-samples__h263-over-rtp.pcap",
    "sipnab__tests__pcap-samples__register-invite-reinvite-bye.pcap",
    "sipnab__tests__pcap-samples__rtp-protocol.pcap",
    "sngrep__tests__aaa.pcap",
};

struct capture_param {
    char name[112];
};

ParameterizedTestParameters(public_streams, agree_with_tshark)
{
    static struct capture_param params[sizeof(captures) / sizeof(captures[0])];
    for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++)
        snprintf(params[i].name, sizeof(params[i].name), "%s", captures[i]);
    return cr_make_param_array(struct capture_param, params, sizeof(params) / sizeof(params[0]));
}

/* "ip:port", IPv6 in brackets, as siptapd writes an endpoint. */
static void endpoint_text(char *out, size_t len, const char *ip, const char *port)
{
    snprintf(out, len, strchr(ip, ':') ? "[%s]:%s" : "%s:%s", ip, port);
}

/* One row of tshark's table: start end src sport dst dport ssrc payload...
 * packets lost (pct%) min/mean/max delta min/mean/max jitter [X]. The
 * payload names may hold spaces: the figures are found from "(pct%)". */
static bool parse_tshark_row(char *line, struct stream_row *r)
{
    char *tok[48];
    size_t n = 0;
    for (char *p = strtok(line, " \t\n"); p && n < 48; p = strtok(NULL, " \t\n"))
        tok[n++] = p;
    size_t pct = 0;
    for (size_t i = 7; i < n; i++)
        if (tok[i][0] == '(' && strstr(tok[i], "%)"))
            pct = i;
    if (pct < 9 || pct + 6 >= n || strncmp(tok[6], "0x", 2) != 0)
        return false;
    memset(r, 0, sizeof(*r));
    endpoint_text(r->src, sizeof(r->src), tok[2], tok[3]);
    endpoint_text(r->dst, sizeof(r->dst), tok[4], tok[5]);
    snprintf(r->ssrc, sizeof(r->ssrc), "0x%08lX", strtoul(tok[6], NULL, 16));
    r->packets = atoll(tok[pct - 2]);
    r->lost = atoll(tok[pct - 1]);
    r->jitter_mean_ms = atof(tok[pct + 5]);
    r->jitter_max_ms = atof(tok[pct + 6]);
    return true;
}

static size_t tshark_streams(const char *path, struct stream_row *rows, size_t max)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "tshark -n -r '%s' -o rtp.heuristic_rtp:TRUE -q -z rtp,streams 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[2048];
    size_t n = 0;
    while (fgets(line, sizeof(line), p))
        if (n < max && parse_tshark_row(line, &rows[n]))
            n++;
    cr_assert_eq(pclose(p), 0, "tshark failed on %s", path);
    return n;
}

static size_t siptapd_streams(const char *siptapd, const char *path, struct stream_row *rows,
                              size_t max)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' -r '%s' 2>/dev/null", siptapd, path);
    struct daemon_events all;
    daemon_events_run(&all, cmd);
    size_t n = 0;
    for (size_t k = 0; k < all.count; k++) {
        json_t *ev = all.events[k];
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *streams = json_object_get(ev, "streams");
        bool without_call = type && !strcmp(type, "media_without_call");
        bool with_streams = without_call || (type && !strcmp(type, "call_end"));
        for (size_t i = 0; with_streams && i < json_array_size(streams); i++) {
            json_t *s = json_array_get(streams, i);
            if (n >= max)
                break;
            struct stream_row *r = &rows[n++];
            snprintf(r->src, sizeof(r->src), "%s", json_string_value(json_object_get(s, "src")));
            snprintf(r->dst, sizeof(r->dst), "%s", json_string_value(json_object_get(s, "dst")));
            snprintf(r->ssrc, sizeof(r->ssrc), "%s", json_string_value(json_object_get(s, "ssrc")));
            r->packets = json_integer_value(json_object_get(s, "packets"));
            r->lost = json_integer_value(json_object_get(s, "lost"));
            r->jitter_mean_ms = json_number_value(json_object_get(s, "jitter_mean_ms"));
            r->jitter_max_ms = json_number_value(json_object_get(s, "jitter_max_ms"));
            r->without_call = without_call;
        }
    }
    cr_assert_eq(all.status, 0, "siptapd -r %s failed", path);
    daemon_events_free(&all);
    return n;
}

static bool close_enough(double ours, double theirs)
{
    return fabs(ours - theirs) <= 0.01 * theirs + 0.0005;
}

static const struct known_difference *known_for(const char *capture, const struct stream_row *t)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(known[i].capture, capture) && !strcmp(known[i].src, t->src) &&
            !strcmp(known[i].dst, t->dst) && !strcasecmp(known[i].ssrc, t->ssrc))
            return &known[i];
    return NULL;
}

static bool tshark_has(const struct stream_row *theirs, size_t nt, const struct stream_row *o)
{
    for (size_t i = 0; i < nt; i++)
        if (!strcmp(theirs[i].src, o->src) && !strcmp(theirs[i].dst, o->dst) &&
            !strcasecmp(theirs[i].ssrc, o->ssrc))
            return true;
    return false;
}

/* Kept from gcc's link-time optimisation, as in test_public_calls.c. */
struct criterion_test *public_streams_agree_with_tshark_ptr;
__attribute__((used)) static struct criterion_test *const *const keep_registration =
    &public_streams_agree_with_tshark_ptr;

ParameterizedTest(struct capture_param *param, public_streams, agree_with_tshark)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    const char *siptapd = getenv("SIPTAPD");
    struct stat st;
    if (!dir || stat(dir, &st) != 0)
        cr_skip_test("public captures folder %s is absent: skipping", dir ? dir : "(unset)");
    if (system("tshark -v >/dev/null 2>&1") != 0)
        cr_skip_test("tshark is absent: skipping");
    cr_assert_not_null(siptapd, "SIPTAPD is not set");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, param->name);
    if (stat(path, &st) != 0)
        cr_skip_test("%s is absent: skipping", param->name);

    static struct stream_row theirs[MAX_STREAMS], ours[MAX_STREAMS];
    size_t nt = tshark_streams(path, theirs, MAX_STREAMS);
    size_t no = siptapd_streams(siptapd, path, ours, MAX_STREAMS);
    cr_assert_gt(nt, 0, "%s: tshark found no RTP stream", param->name);
    for (size_t j = 0; j < no; j++)
        if (ours[j].without_call)
            cr_expect(tshark_has(theirs, nt, &ours[j]),
                      "%s %s>%s %s: reported without a call, tshark has no such stream",
                      param->name, ours[j].src, ours[j].dst, ours[j].ssrc);
    for (size_t i = 0; i < nt; i++) {
        const struct stream_row *t = &theirs[i];
        /* A stream between endpoints two dialogs both name (a B2BUA's legs
         * with direct media) is in both call_end events, the same in each. */
        const struct stream_row *o = NULL;
        for (size_t j = 0; j < no; j++) {
            if (strcmp(ours[j].src, t->src) || strcmp(ours[j].dst, t->dst) ||
                strcasecmp(ours[j].ssrc, t->ssrc))
                continue;
            if (o)
                cr_expect(ours[j].packets == o->packets && ours[j].lost == o->lost,
                          "%s %s: differs between the calls that have it", param->name, t->ssrc);
            o = &ours[j];
        }
        const struct known_difference *k = known_for(param->name, t);
        if (k && k->packets < 0) {
            cr_expect_null(o, "%s %s>%s %s: reported now (%s): update the list", param->name,
                           t->src, t->dst, t->ssrc, k->why);
            continue;
        }
        if (!o) {
            cr_expect_fail("%s %s>%s %s: not reported (tshark: %lld packets)", param->name, t->src,
                           t->dst, t->ssrc, t->packets);
            continue;
        }
        if (k) {
            cr_expect(o->packets == k->packets && o->lost == k->lost,
                      "%s %s: %lld packets %lld lost, %lld %lld expected (%s)", param->name,
                      t->ssrc, o->packets, o->lost, k->packets, k->lost, k->why);
            continue;
        }
        cr_expect(o->packets == t->packets && o->lost == t->lost,
                  "%s %s>%s %s: %lld packets %lld lost, tshark %lld %lld", param->name, t->src,
                  t->dst, t->ssrc, o->packets, o->lost, t->packets, t->lost);
        cr_expect(close_enough(o->jitter_max_ms, t->jitter_max_ms) &&
                      close_enough(o->jitter_mean_ms, t->jitter_mean_ms),
                  "%s %s: jitter max %.3f mean %.3f, tshark %.3f %.3f", param->name, t->ssrc,
                  o->jitter_max_ms, o->jitter_mean_ms, t->jitter_max_ms, t->jitter_mean_ms);
    }
}

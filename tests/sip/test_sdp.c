/*
 * Tests of sdp_parse() and of finding SDP in multipart SIP bodies.
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <string.h>

#include "sip/sip.h"
#include "sip/sip_internal.h"
#include "sip_test_util.h"

static struct sdp_info sdp;

static int parse(const char *s)
{
    return sdp_parse(s, strlen(s), &sdp);
}

static const char *addr_str(const struct net_addr *a)
{
    static char text[NETADDR_STRLEN];
    if (!a->family)
        return "";
    return net_addr_format(a, text, sizeof(text));
}

Test(sdp, session_level_connection_applies_to_media)
{
    cr_assert_eq(parse("v=0\r\n"
                       "o=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\n"
                       "s=-\r\n"
                       "c=IN IP4 198.51.100.2\r\n"
                       "t=0 0\r\n"
                       "m=audio 49170 RTP/AVP 0 8 18 101\r\n"
                       "a=rtpmap:101 telephone-event/8000\r\n"
                       "a=fmtp:101 0-15\r\n"
                       "a=ptime:20\r\n"),
                 0);
    cr_assert_str_eq(addr_str(&sdp.origin_addr), "198.51.100.1");
    cr_assert_str_eq(addr_str(&sdp.session_addr), "198.51.100.2");
    cr_assert_eq(sdp.media_count, 1);
    const struct sdp_media *m = &sdp.media[0];
    cr_assert_eq(m->type, SDP_MEDIA_AUDIO);
    cr_assert_str_eq(addr_str(&m->addr), "198.51.100.2");
    cr_assert_eq(m->port, 49170);
    cr_assert_eq(m->rtcp_port, 49171);
    cr_assert_eq(m->ptime_ms, 20);
    cr_assert_eq(m->direction, SDP_SENDRECV);
    cr_assert_str_eq(m->proto, "RTP/AVP");
    cr_assert_eq(m->format_count, 4);
    cr_assert_eq(m->formats[0].payload_type, 0);
    cr_assert_str_eq(m->formats[0].name, "PCMU");
    cr_assert_eq(m->formats[0].clock_rate, 8000);
    cr_assert_str_eq(m->formats[1].name, "PCMA");
    cr_assert_str_eq(m->formats[2].name, "G729");
    cr_assert_eq(m->formats[3].payload_type, 101);
    cr_assert_str_eq(m->formats[3].name, "telephone-event");
    cr_assert_eq(m->formats[3].clock_rate, 8000);
}

Test(sdp, media_connection_overrides_session_and_ipv6)
{
    cr_assert_eq(parse("v=0\n"
                       "o=- 1 1 IN IP6 2001:db8::1\n"
                       "c=IN IP6 2001:db8::2\n"
                       "m=audio 5000 RTP/AVP 96\n"
                       "c=IN IP6 2001:db8::3\n"
                       "a=rtpmap:96 opus/48000/2\n"
                       "m=video 5002 RTP/AVP 97\n"
                       "a=rtpmap:97 H264/90000\n"),
                 0);
    cr_assert_eq(sdp.media_count, 2);
    cr_assert_str_eq(addr_str(&sdp.origin_addr), "2001:db8::1");
    cr_assert_str_eq(addr_str(&sdp.media[0].addr), "2001:db8::3");
    cr_assert_str_eq(addr_str(&sdp.media[1].addr), "2001:db8::2");
    cr_assert_str_eq(sdp.media[0].formats[0].name, "opus");
    cr_assert_eq(sdp.media[0].formats[0].clock_rate, 48000);
    cr_assert_eq(sdp.media[1].type, SDP_MEDIA_VIDEO);
    cr_assert_str_eq(sdp.media[1].formats[0].name, "H264");
    cr_assert_eq(sdp.media[1].formats[0].clock_rate, 90000);
}

Test(sdp, hold_directions_session_default_and_media_override)
{
    cr_assert_eq(parse("v=0\r\nc=IN IP4 192.0.2.1\r\na=sendonly\r\n"
                       "m=audio 4000 RTP/AVP 0\r\n"
                       "m=audio 4002 RTP/AVP 0\r\na=inactive\r\n"
                       "m=audio 4004 RTP/AVP 0\r\na=recvonly\r\n"
                       "m=audio 4006 RTP/AVP 0\r\na=sendrecv\r\n"),
                 0);
    cr_assert_eq(sdp.media_count, 4);
    cr_assert_eq(sdp.media[0].direction, SDP_SENDONLY);
    cr_assert_eq(sdp.media[1].direction, SDP_INACTIVE);
    cr_assert_eq(sdp.media[2].direction, SDP_RECVONLY);
    cr_assert_eq(sdp.media[3].direction, SDP_SENDRECV);
}

Test(sdp, hold_via_zero_address_and_port_zero)
{
    cr_assert_eq(
        parse("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 0 RTP/AVP 0\r\nm=image 6000 udptl t38\r\n"), 0);
    cr_assert_eq(sdp.media[0].port, 0);
    cr_assert_eq(sdp.media[0].rtcp_port, 0);
    cr_assert_str_eq(addr_str(&sdp.media[0].addr), "0.0.0.0");
    cr_assert_eq(sdp.media[1].type, SDP_MEDIA_IMAGE);
    cr_assert_str_eq(sdp.media[1].proto, "udptl");
    cr_assert_eq(sdp.media[1].formats[0].payload_type, SDP_PAYLOAD_TYPE_NONE);
    cr_assert_str_eq(sdp.media[1].formats[0].name, "t38");
}

Test(sdp, rtcp_attribute_and_rtcp_mux)
{
    cr_assert_eq(parse("v=0\r\nc=IN IP4 192.0.2.1\r\n"
                       "m=audio 4000 RTP/SAVP 0\r\na=rtcp:4005 IN IP4 192.0.2.9\r\n"
                       "m=audio 4010 UDP/TLS/RTP/SAVPF 111\r\na=rtcp-mux\r\n"
                       "m=audio 4020 RTP/AVP 0\r\na=rtcp-mux\r\na=rtcp:4020\r\n"),
                 0);
    cr_assert_eq(sdp.media[0].rtcp_port, 4005);
    cr_assert(!sdp.media[0].rtcp_mux);
    cr_assert(sdp.media[1].rtcp_mux);
    cr_assert_eq(sdp.media[1].rtcp_port, 4010);
    cr_assert_str_eq(sdp.media[1].proto, "UDP/TLS/RTP/SAVPF");
    cr_assert_eq(sdp.media[1].formats[0].name[0], '\0', "dynamic type without rtpmap: unknown");
    cr_assert_eq(sdp.media[2].rtcp_port, 4020);
}

/* Found by fuzz_sdp (fuzz/regressions/sdp/rejected-stream-with-rtcp): a
 * stream rejected with port 0 kept the port of its a=rtcp line, so the
 * calls layer could bind RTCP for media that will never flow. */
Test(sdp, a_rejected_stream_has_no_rtcp_port)
{
    cr_assert_eq(parse("v=0\r\nc=IN IP4 192.0.2.1\r\n"
                       "m=audio 0 RTP/AVP 0\r\na=rtcp:32242 IN IP4 192.0.2.1\r\n"),
                 0);
    cr_assert_eq(sdp.media[0].port, 0);
    cr_assert_eq(sdp.media[0].rtcp_port, 0);
}

Test(sdp, bounds_media_formats_and_strings)
{
    char body[4096];
    size_t n = (size_t)snprintf(body, sizeof(body), "v=0\r\nc=IN IP4 192.0.2.1\r\n");
    for (int i = 0; i < SDP_MAX_MEDIA + 3; i++)
        n += (size_t)snprintf(
            body + n, sizeof(body) - n,
            "m=audio %d RTP/AVP 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
            "19 20\r\na=rtpmap:0 AVERYVERYVERYLONGCODECNAMETHATDOESNOTFIT/8000\r\n",
            1000 + 2 * i);
    cr_assert_eq(sdp_parse(body, n, &sdp), 0);
    cr_assert_eq(sdp.media_count, SDP_MAX_MEDIA);
    cr_assert_eq(sdp.media[0].format_count, SDP_MAX_FORMATS);
    cr_assert_eq(strlen(sdp.media[0].formats[0].name), sizeof(sdp.media[0].formats[0].name) - 1);
    cr_assert_eq(sdp.media[SDP_MAX_MEDIA - 1].port, 1000 + 2 * (SDP_MAX_MEDIA - 1));
}

Test(sdp, not_sdp_and_garbage)
{
    cr_assert_eq(parse(""), -1);
    cr_assert_eq(parse("hello world\r\n"), -1);
    cr_assert_eq(parse("<xml/>"), -1);
    cr_assert_eq(parse("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n"), -1);
    /* Tolerated: junk lines, bad addresses, bad ports, missing fields. */
    cr_assert_eq(parse("v=0\r\nc=IN IP4 999.1.1.1\r\nm=audio 99999 RTP/AVP x\r\njunk\r\n"
                       "m=\r\nm=audio\r\na=rtpmap:\r\na=rtpmap:0\r\na=ptime:\r\na=rtcp:\r\n"),
                 0);
    cr_assert_eq(sdp.session_addr.family, 0);
    cr_assert_eq(sdp.media[0].port, 0);
    /* Bytes of every value must not crash it. */
    char junk[256];
    for (int i = 0; i < 256; i++)
        junk[i] = (char)(255 - i);
    memcpy(junk, "v=0\n", 4);
    cr_assert_eq(sdp_parse(junk, sizeof(junk), &sdp), 0);
}

/* Found by fuzz_sip (fuzz/regressions/sip/mime-part-with-two-content-types):
 * libosip2's MIME part parser leaks the first Content-Type of a part that
 * has two, 48 bytes a message anyone can send. osip no longer splits
 * multipart bodies; the SDP part is still found, and the heap does not
 * grow (under ASan, LeakSanitizer checks the same at exit). */
Test(sdp, multipart_part_with_two_content_types_leaks_nothing)
{
    static struct sip_msg msg;
    char buf[4096];
    size_t n = sip_test_request(buf, sizeof(buf), "INVITE",
                                "Content-Type: multipart/mixed;boundary=b1\r\n",
                                "--b1\r\nContent-Type: application/sdp\r\nContent-Type: "
                                "application/sdp\r\n\r\nv=0\r\nc=IN IP4 192.0.2.7\r\n"
                                "m=audio 7078 RTP/AVP 8\r\n\r\n--b1--\r\n");
    cr_assert_eq(sip_parse_osip((const uint8_t *)buf, n, &msg), 0);
    cr_assert(msg.has_sdp);
    cr_assert_eq(msg.sdp.media[0].port, 7078);
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(sip_parse_osip((const uint8_t *)buf, n, &msg), 0);
    size_t after = mallinfo2().uordblks;
    cr_assert_lt(after > before ? after - before : 0, 8192, "the heap grew by %zu bytes",
                 after - before);
}

Test(sdp, multipart_mixed_and_alternative_bodies)
{
    static struct sip_msg msg;
    char buf[4096];
    const char *types[] = {"multipart/mixed", "multipart/alternative"};
    for (int i = 0; i < 2; i++) {
        char extra[128], body[1024];
        snprintf(extra, sizeof(extra), "Content-Type: %s;boundary=\"b0undary\"\r\n", types[i]);
        snprintf(body, sizeof(body),
                 "--b0undary\r\n"
                 "Content-Type: application/isup;version=itu-t92+\r\n"
                 "Content-Disposition: signal;handling=optional\r\n\r\n"
                 "\x01\x02\x49\x7f\xfe\x03\x02\x05\x07\x04\x10\r\n"
                 "--b0undary\r\n"
                 "Content-Type: application/sdp\r\n\r\n"
                 "v=0\r\no=- 1 1 IN IP4 192.0.2.77\r\ns=-\r\nc=IN IP4 192.0.2.77\r\nt=0 0\r\n"
                 "m=audio 7078 RTP/AVP 8\r\na=sendonly\r\n"
                 "\r\n--b0undary--\r\n");
        size_t n = sip_test_request(buf, sizeof(buf), "INVITE", extra, body);
        cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
        cr_assert(msg.has_sdp, "%s", types[i]);
        cr_assert_eq(msg.sdp.media_count, 1);
        cr_assert_eq(msg.sdp.media[0].port, 7078);
        cr_assert_eq(msg.sdp.media[0].direction, SDP_SENDONLY);
        cr_assert_str_eq(msg.sdp.media[0].formats[0].name, "PCMA");
    }
    /* Multipart without an SDP part, and with a broken boundary. */
    size_t n = sip_test_request(buf, sizeof(buf), "INVITE",
                                "Content-Type: multipart/mixed;boundary=zz\r\n",
                                "--zz\r\nContent-Type: text/plain\r\n\r\nhi\r\n--zz--\r\n");
    cr_assert_eq(sip_parse_message((const uint8_t *)buf, n, &msg), 0);
    cr_assert(!msg.has_sdp);
    n = sip_test_request(buf, sizeof(buf), "INVITE",
                         "Content-Type: multipart/mixed;boundary=zz\r\n", "--zz\r\nContent-Type");
    int rc = sip_parse_message((const uint8_t *)buf, n, &msg);
    cr_assert(rc == 0 || rc == -1);
    cr_assert(!msg.has_sdp);
}

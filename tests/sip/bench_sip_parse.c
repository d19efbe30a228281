/*
 * bench_sip_parse: how many messages per second sip_parse_message() takes,
 * libosip2 included, on a typical INVITE with SDP and a 200 OK. Run by hand:
 *   build/tests/sip/bench_sip_parse [count]
 * It also times sip_sniff() alone, the cost every non-SIP UDP datagram pays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/sip.h"
#include "sip_test_util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 100000;
    static char invite[4096], ok[4096];
    const char *sdp = "v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\n"
                      "t=0 0\r\nm=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:101 "
                      "telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n";
    size_t ni = sip_test_request(invite, sizeof(invite), "INVITE",
                                 "Contact: <sip:alice@192.0.2.1:5060>\r\nUser-Agent: bench\r\n"
                                 "Content-Type: application/sdp\r\n",
                                 sdp);
    size_t no =
        sip_test_response(ok, sizeof(ok), 200, "OK", "INVITE",
                          "Contact: <sip:bob@192.0.2.2>\r\nContent-Type: application/sdp\r\n", sdp);
    static struct sip_msg msg;
    long fails = 0;
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        const char *m = i & 1 ? ok : invite;
        fails += sip_parse_message((const uint8_t *)m, i & 1 ? no : ni, &msg) != 0;
    }
    double t1 = now_s();
    printf("sip_parse_message: %ld messages in %.3f s = %.0f messages/s (%ld failed)\n", count,
           t1 - t0, (double)count / (t1 - t0), fails);

    static struct sdp_info info;
    t0 = now_s();
    for (long i = 0; i < count; i++)
        fails += sdp_parse(sdp, strlen(sdp), &info) != 0;
    t1 = now_s();
    printf("sdp_parse: %.0f bodies/s\n", (double)count / (t1 - t0));

    uint8_t rtp[172] = {0x80, 0x00};
    long hits = 0;
    t0 = now_s();
    for (long i = 0; i < count * 10; i++) {
        rtp[2] = (uint8_t)i;
        hits += sip_sniff(rtp, sizeof(rtp));
    }
    t1 = now_s();
    printf("sip_sniff (RTP datagram): %.0f datagrams/s (%ld hits)\n",
           (double)(count * 10) / (t1 - t0), hits);
    return fails != 0;
}

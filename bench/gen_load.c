/*
 * gen_load: writes the benchmark captures.
 *
 *   gen_load OUT.pcap [CALLS] [TALK_SECONDS]
 *     N concurrent calls (default 10,000, at most 12,000: media ports run
 *     out past that), each INVITE/200/ACK, G.711 RTP both ways for T
 *     seconds, BYE. Calls start over the first two seconds so all of them
 *     are up at once; every call has its own media ports, so the flow
 *     tables hold 2N flows. The CPU benchmarks' capture (bench/run.sh).
 *
 *   gen_load --realistic OUT.pcap [CALLS] [TALK_SECONDS]
 *     The memory benchmark's capture: up to 1,000,000 concurrent calls, as
 *     an SBC's trunk sees them. Each call has its own caller address (the
 *     trunk peers and phones behind it, from 100.64.0.0/10) and callee
 *     address (from 100.128.0.0/10 in the file: nothing is sent anywhere),
 *     an offer of PCMU, PCMA, G.729 and telephone-event with a=rtcp, an
 *     answer of PCMU and telephone-event, an m=video line on every tenth
 *     call, 5 RTP packets each way after the answer, then BYE after T
 *     seconds (default 4). Calls start over the first two seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/pcapgen/pcapgen.h"

static int usage(FILE *out, int status)
{
    fprintf(out, "usage: gen_load [--realistic] OUT.pcap [CALLS] [TALK_SECONDS]\n"
                 "  default: 1..12000 calls of G.711 RTP for the whole talk (CPU benchmarks)\n"
                 "  --realistic: 1..1000000 calls, richer SDP, 5 RTP packets each way (memory)\n");
    return status;
}

/* The i-th address of a /10 (i < 2^22), as text. */
static void address_in(char *out, size_t len, unsigned first_octet, unsigned second_base, long i)
{
    snprintf(out, len, "%u.%lu.%lu.%lu", first_octet, second_base + ((unsigned long)i >> 16),
             ((unsigned long)i >> 8) & 0xff, (unsigned long)i & 0xff);
}

static void load_call(struct pcapgen *g, long i, long calls, long talk_s)
{
    char call_id[64];
    snprintf(call_id, sizeof(call_id), "load-%ld@203.0.113.1", i);
    struct pcapgen_call_spec c = {0};
    c.call_id = call_id;
    net_addr_parse(&c.caller.addr, "203.0.113.1");
    c.caller.port = 5060;
    net_addr_parse(&c.callee.addr, "198.51.100.10");
    c.callee.port = 5060;
    c.caller_media = c.caller;
    c.caller_media.port = (uint16_t)(10000 + 2 * i);
    c.callee_media = c.callee;
    c.callee_media.port = (uint16_t)(40000 + 2 * i);
    c.start_us = (uint64_t)i * 2000000u / (uint64_t)calls;
    c.ring_ms = 500;
    c.talk_ms = (uint32_t)(talk_s * 1000);
    pcapgen_call(g, &c);
}

static void realistic_call(struct pcapgen *g, long i, long calls, long talk_s)
{
    static const uint8_t offer[] = {0, 8, 18, 101};
    char call_id[64], caller[32], callee[32];
    snprintf(call_id, sizeof(call_id), "%08lx-%04lx@sbc.example.net",
             (unsigned long)i * 2654435761u, (unsigned long)i & 0xffff);
    address_in(caller, sizeof(caller), 100, 64, i + 1);
    address_in(callee, sizeof(callee), 100, 128, i + 1);
    struct pcapgen_call_spec c = {0};
    c.call_id = call_id;
    c.from_user = "+15551230000";
    c.to_user = "+15559870000";
    net_addr_parse(&c.caller.addr, caller);
    c.caller.port = 5060;
    net_addr_parse(&c.callee.addr, callee);
    c.callee.port = 5060;
    c.caller_media = c.caller;
    c.caller_media.port = 16384;
    c.callee_media = c.callee;
    c.callee_media.port = 20000;
    c.offer_pts = offer;
    c.n_offer_pts = sizeof(offer);
    c.sdp_rtcp = true;
    c.sdp_video = i % 10 == 9;
    c.start_us = (uint64_t)i * 2000000u / (uint64_t)calls;
    c.ring_ms = 500;
    c.talk_ms = (uint32_t)(talk_s * 1000);
    c.caller_rtp_stop_ms = c.callee_rtp_stop_ms = 130; /* 5 packets each way, from 30 ms */
    pcapgen_call(g, &c);
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return usage(stdout, 0);
    bool realistic = argc > 1 && !strcmp(argv[1], "--realistic");
    int a = realistic ? 2 : 1;
    if (argc < a + 1 || argv[a][0] == '-')
        return usage(stderr, 2);
    const char *out = argv[a];
    long calls = argc > a + 1 ? atol(argv[a + 1]) : 10000;
    long talk_s = argc > a + 2 ? atol(argv[a + 2]) : 4;
    long max_calls = realistic ? 1000000 : 12000;
    if (calls < 1 || calls > max_calls || talk_s < 1 || talk_s > 3600)
        return usage(stderr, 2);
    struct pcapgen *g = pcapgen_new(1 /* DLT_EN10MB */);
    for (long i = 0; i < calls; i++)
        (realistic ? realistic_call : load_call)(g, i, calls, talk_s);
    size_t n = pcapgen_count(g);
    if (pcapgen_write(g, out) != 0) {
        fprintf(stderr, "gen_load: cannot write %s\n", out);
        return 1;
    }
    fprintf(stderr, "gen_load: %ld calls, %zu packets -> %s\n", calls, n, out);
    pcapgen_free(g);
    return 0;
}

/*
 * gen_load: writes the benchmark capture: N concurrent calls (default
 * 10,000), each INVITE/200/ACK, G.711 RTP both ways for T seconds, BYE.
 * Calls start over the first two seconds so all of them are up at once;
 * every call has its own media ports, so the flow tables hold 2N flows.
 *
 *   gen_load OUT.pcap [CALLS] [TALK_SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "tools/pcapgen/pcapgen.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gen_load OUT.pcap [CALLS] [TALK_SECONDS]\n");
        return 2;
    }
    long calls = argc > 2 ? atol(argv[2]) : 10000;
    long talk_s = argc > 3 ? atol(argv[3]) : 4;
    if (calls < 1 || calls > 12000 || talk_s < 1 || talk_s > 3600) {
        fprintf(stderr, "gen_load: 1..12000 calls (media ports run out past that), 1..3600 s\n");
        return 2;
    }
    struct pcapgen *g = pcapgen_new(1 /* DLT_EN10MB */);
    for (long i = 0; i < calls; i++) {
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
    size_t n = pcapgen_count(g);
    if (pcapgen_write(g, argv[1]) != 0) {
        fprintf(stderr, "gen_load: cannot write %s\n", argv[1]);
        return 1;
    }
    fprintf(stderr, "gen_load: %ld calls, %zu packets -> %s\n", calls, n, argv[1]);
    pcapgen_free(g);
    return 0;
}

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
 *
 *   gen_load --churn OUT.pcap|- CALLS CONCURRENT
 *     The churn benchmark's capture (bench/churn.sh): CALLS realistic calls
 *     one after the other, started at the rate that keeps CONCURRENT up at
 *     once (each lasts 4.6 s), from 50,000 phones (100.64.0.0/10) that
 *     register (401, then 200, Expires 600) before their first call and
 *     every eighth round after, to a new far end each (100.128.0.0/10).
 *     Written as it is made (to stdout with "-"), so ten million calls
 *     (~50 GB) need no disk; an OPTIONS 120 s after the last call moves the
 *     capture clock past every linger, so the last stats event shows
 *     what the tables keep once every call is gone.
 *
 *   gen_load --help   prints the usage (exit 0). An unknown option, a
 *     missing or extra operand, or a count that is not a whole number in
 *     range prints it on stderr and exits 2 without writing anything.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/pcapgen/pcapgen.h"

static int usage(FILE *out, int status)
{
    fprintf(out, "usage: gen_load [--realistic] [--] OUT.pcap [CALLS] [TALK_SECONDS]\n"
                 "       gen_load --churn [--] OUT.pcap|- CALLS CONCURRENT\n"
                 "  default: 1..12000 calls of G.711 RTP for the whole talk (CPU benchmarks)\n"
                 "  --realistic: 1..1000000 calls, richer SDP, 5 RTP packets each way (memory)\n"
                 "  --churn: 1..100000000 calls one after the other, 1..1000000 at once,\n"
                 "    written as made (churn benchmark)\n"
                 "  TALK_SECONDS: 1..3600 (default 4); CALLS default 10000\n"
                 "  --help: this text\n");
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

/* Call i, starting at start_us, from the caller-th and to the callee-th
 * address of their ranges. */
static void realistic_call(struct pcapgen *g, long i, uint64_t start_us, long talk_s, long caller_i,
                           long callee_i)
{
    static const uint8_t offer[] = {0, 8, 18, 101};
    char call_id[64], caller[32], callee[32];
    snprintf(call_id, sizeof(call_id), "%08lx-%04lx@sbc.example.net",
             (unsigned long)i * 2654435761u, (unsigned long)i & 0xffff);
    address_in(caller, sizeof(caller), 100, 64, caller_i);
    address_in(callee, sizeof(callee), 100, 128, callee_i);
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
    c.start_us = start_us;
    c.ring_ms = 500;
    c.talk_ms = (uint32_t)(talk_s * 1000);
    c.caller_rtp_stop_ms = c.callee_rtp_stop_ms = 130; /* 5 packets each way, from 30 ms */
    pcapgen_call(g, &c);
}

#define CHURN_PHONES  50000
#define CHURN_CALL_US 4600000u
#define CHURN_ROUNDS  8

static void churn_register(struct pcapgen *g, long phone, uint64_t start_us)
{
    char ua[32], user[16];
    address_in(ua, sizeof(ua), 100, 64, phone + 1);
    snprintf(user, sizeof(user), "p%ld", phone);
    struct pcapgen_register_spec r = {0};
    net_addr_parse(&r.ua.addr, ua);
    r.ua.port = 5060;
    net_addr_parse(&r.registrar.addr, "100.127.255.254");
    r.registrar.port = 5060;
    r.user = user;
    r.realm = "sbc.example.net";
    r.start_us = start_us;
    r.outcome = PCAPGEN_REG_OK;
    r.expires = 600;
    pcapgen_register(g, &r);
}

/* An OPTIONS at t_us: the capture clock reaches it. */
static int churn_tail(struct pcapgen *g, uint64_t t_us)
{
    static const char options[] = "OPTIONS sip:100.127.255.254 SIP/2.0\r\n"
                                  "Via: SIP/2.0/UDP 100.64.0.1:5060;branch=z9hG4bK-churn-end\r\n"
                                  "From: <sip:p0@sbc.example.net>;tag=end\r\n"
                                  "To: <sip:100.127.255.254>\r\n"
                                  "Call-ID: churn-end@100.64.0.1\r\n"
                                  "CSeq: 1 OPTIONS\r\n"
                                  "Max-Forwards: 70\r\n"
                                  "Content-Length: 0\r\n\r\n";
    struct endpoint src = {.port = 5060}, dst = {.port = 5060};
    net_addr_parse(&src.addr, "100.64.0.1");
    net_addr_parse(&dst.addr, "100.127.255.254");
    pcapgen_udp(g, t_us, &src, &dst, (const uint8_t *)options, sizeof(options) - 1, NULL);
    return 0;
}

static int churn(const char *out, long calls, long concurrent)
{
    FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "wb");
    if (!f) {
        fprintf(stderr, "gen_load: cannot write %s\n", out);
        return 1;
    }
    struct pcapgen *g = pcapgen_new(1 /* DLT_EN10MB */);
    uint64_t gap_us = CHURN_CALL_US / (uint64_t)concurrent;
    if (gap_us == 0)
        gap_us = 1;
    int rc = pcapgen_stream_begin(g, f);
    uint64_t last_start = 0;
    for (long i = 0; rc == 0 && i < calls; i++) {
        last_start = (uint64_t)i * gap_us;
        long phone = i % CHURN_PHONES, round = i / CHURN_PHONES;
        if (round % CHURN_ROUNDS == 0)
            churn_register(g, phone, last_start > 500000 ? last_start - 500000 : 0);
        realistic_call(g, i, last_start, 4, phone + 1, i % 4000000 + 1);
        /* Every frame before the call just started is queued by now (no
         * call or registration begins earlier than 0.5 s before it). */
        if (i % 1024 == 1023)
            rc = pcapgen_stream_until(g, f, last_start > 500000 ? last_start - 500000 : 0);
    }
    if (rc == 0)
        rc = churn_tail(g, last_start + CHURN_CALL_US + 120000000u);
    if (rc == 0)
        rc = pcapgen_stream_until(g, f, UINT64_MAX);
    if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
        rc = -1;
    pcapgen_free(g);
    if (rc != 0) {
        fprintf(stderr, "gen_load: cannot write %s\n", out);
        return 1;
    }
    fprintf(stderr, "gen_load: %ld calls, %ld at once -> %s\n", calls, concurrent, out);
    return 0;
}

/* A whole decimal number in [lo, hi]; false for anything else ("10k", ""). */
static bool parse_count(const char *arg, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    bool realistic = false, churning = false;
    int a = 1;
    /* Options first; anything else starting with '-' is refused, so that a
     * mistyped option never becomes the name of a file written. */
    for (; a < argc && argv[a][0] == '-' && argv[a][1] != '\0'; a++) {
        if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h"))
            return usage(stdout, 0);
        if (!strcmp(argv[a], "--realistic")) {
            realistic = true;
            continue;
        }
        if (!strcmp(argv[a], "--churn")) {
            churning = true;
            continue;
        }
        if (!strcmp(argv[a], "--")) {
            a++;
            break;
        }
        fprintf(stderr, "gen_load: unknown option '%s'\n", argv[a]);
        return usage(stderr, 2);
    }
    int operands = argc - a;
    if (churning) {
        long calls, concurrent;
        if (realistic || operands != 3 || !parse_count(argv[a + 1], 1, 100000000, &calls) ||
            !parse_count(argv[a + 2], 1, 1000000, &concurrent))
            return usage(stderr, 2);
        return churn(argv[a], calls, concurrent);
    }
    if (operands < 1 || operands > 3)
        return usage(stderr, 2);
    const char *out = argv[a];
    long max_calls = realistic ? 1000000 : 12000;
    long calls = 10000, talk_s = 4;
    if ((operands > 1 && !parse_count(argv[a + 1], 1, max_calls, &calls)) ||
        (operands > 2 && !parse_count(argv[a + 2], 1, 3600, &talk_s)))
        return usage(stderr, 2);
    struct pcapgen *g = pcapgen_new(1 /* DLT_EN10MB */);
    for (long i = 0; i < calls; i++) {
        uint64_t start = (uint64_t)i * 2000000u / (uint64_t)calls;
        if (realistic)
            realistic_call(g, i, start, talk_s, i + 1, i + 1);
        else
            load_call(g, i, calls, talk_s);
    }
    size_t n = pcapgen_count(g);
    if (pcapgen_write(g, out) != 0) {
        fprintf(stderr, "gen_load: cannot write %s\n", out);
        return 1;
    }
    fprintf(stderr, "gen_load: %ld calls, %zu packets -> %s\n", calls, n, out);
    pcapgen_free(g);
    return 0;
}

/*
 * bench_decode: decoder throughput against a bare libpcap read loop.
 *
 * Usage: bench_decode FILE [MIN_PACKETS]. The capture is read repeatedly
 * until at least MIN_PACKETS (default 1,000,000) frames were handled, three
 * ways: (1) libpcap alone (pcap_next_ex, touching one byte per frame);
 * (2) the decoder alone over the frames held in memory; (3) both, as the
 * daemon does. Timestamps are shifted by the capture's span on each pass so
 * TCP streams and fragments see time move forward. Not a test: it prints
 * numbers and asserts nothing.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decoders/decode.h"

struct frame {
    uint64_t ts_us;
    uint32_t caplen, wirelen;
    uint8_t *bytes;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t sink;

static void on_udp(void *user, const struct packet *p)
{
    (void)user;
    sink += p->payload_len;
}

static size_t on_tcp(void *user, const struct tcp_data *t)
{
    (void)user;
    sink += t->len;
    return t->len;
}

static void on_close(void *user, uint64_t id)
{
    (void)user;
    sink += id;
}

static struct decoder *bench_decoder(struct counters *c, int dlt)
{
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    struct decode_handlers h = {.udp = on_udp, .tcp_data = on_tcp, .tcp_close = on_close};
    struct decoder *d = decoder_new(&cfg, c, &h);
    if (!d || decoder_set_linktype(d, dlt) != 0) {
        fprintf(stderr, "unsupported link type %d\n", dlt);
        exit(1);
    }
    return d;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [MIN_PACKETS]\n", argv[0]);
        return 2;
    }
    long min_packets = argc > 2 ? atol(argv[2]) : 1000000;
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(argv[1], err);
    if (!pc) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int dlt = pcap_datalink(pc);
    size_t count = 0, cap = 1024;
    struct frame *frames = malloc(cap * sizeof(*frames));
    struct pcap_pkthdr *hdr;
    const u_char *bytes;
    while (pcap_next_ex(pc, &hdr, &bytes) == 1) {
        if (count == cap)
            frames = realloc(frames, (cap *= 2) * sizeof(*frames));
        frames[count].ts_us = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
        frames[count].caplen = hdr->caplen;
        frames[count].wirelen = hdr->len;
        frames[count].bytes = malloc(hdr->caplen ? hdr->caplen : 1);
        memcpy(frames[count].bytes, bytes, hdr->caplen);
        count++;
    }
    pcap_close(pc);
    if (count == 0)
        return 1;
    uint64_t span = frames[count - 1].ts_us - frames[0].ts_us + 1000000;
    long passes = (min_packets + (long)count - 1) / (long)count;
    long total = passes * (long)count;

    /* 1: libpcap alone. */
    double t0 = now_s();
    for (long p = 0; p < passes; p++) {
        pc = pcap_open_offline(argv[1], err);
        while (pcap_next_ex(pc, &hdr, &bytes) == 1)
            sink += bytes[hdr->caplen ? hdr->caplen - 1 : 0];
        pcap_close(pc);
    }
    double pcap_s = now_s() - t0;

    /* 2: decoder alone, frames in memory. */
    static struct counters c;
    counters_init(&c);
    struct decoder *d = bench_decoder(&c, dlt);
    t0 = now_s();
    for (long p = 0; p < passes; p++)
        for (size_t i = 0; i < count; i++)
            decoder_process(d, frames[i].ts_us + (uint64_t)p * span, frames[i].bytes,
                            frames[i].caplen, frames[i].wirelen);
    double decode_s = now_s() - t0;
    uint64_t udp = counters_get(&c, "decode.udp"), tcp = counters_get(&c, "decode.tcp");
    decoder_free(d);

    /* 3: libpcap + decoder. */
    counters_init(&c);
    d = bench_decoder(&c, dlt);
    t0 = now_s();
    for (long p = 0; p < passes; p++) {
        pc = pcap_open_offline(argv[1], err);
        while (pcap_next_ex(pc, &hdr, &bytes) == 1)
            decoder_process(d,
                            (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec +
                                (uint64_t)p * span,
                            bytes, hdr->caplen, hdr->len);
        pcap_close(pc);
    }
    double both_s = now_s() - t0;
    decoder_free(d);

    printf("capture: %s (%zu frames, link type %d), %ld passes, %ld frames\n", argv[1], count, dlt,
           passes, total);
    printf("decoded per pass: udp %lu, tcp %lu\n", (unsigned long)(udp / (uint64_t)passes),
           (unsigned long)(tcp / (uint64_t)passes));
    printf("libpcap read loop : %8.3f s  %6.2f Mpps\n", pcap_s, (double)total / pcap_s / 1e6);
    printf("decoder (memory)  : %8.3f s  %6.2f Mpps  %6.1f ns/frame\n", decode_s,
           (double)total / decode_s / 1e6, decode_s * 1e9 / (double)total);
    printf("libpcap + decoder : %8.3f s  %6.2f Mpps\n", both_s, (double)total / both_s / 1e6);
    for (size_t i = 0; i < count; i++)
        free(frames[i].bytes);
    free(frames);
    return sink == 42 ? 1 : 0;
}

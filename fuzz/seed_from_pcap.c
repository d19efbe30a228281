/*
 * seed_from_pcap: turns a capture into seeds for every fuzz target, each in
 * its target's input format, under OUTDIR/<target>/:
 *
 *   pipeline  the frames, 32 at a time, with their real time steps (first
 *             byte 0x80 | link type); and the capture's SIP frames alone
 *             with every 25th other frame, so that a seed spans a whole
 *             call's timers (BYE at 32 s, silence windows)
 *   sip       each SIP message as the SIP layer framed it (UDP, TCP,
 *             WebSocket, SCTP)
 *   sdp       each SDP body
 *   rtp       the UDP datagrams that are not SIP, as RTP / RTCP records
 *   tcp       the TCP payloads in order, per connection and direction
 *   sctp      the SCTP packets of the capture, and each SIP message put in
 *             one DATA chunk and in two fragments
 *   callcap   each frame that carries SIP (link type first), and its Call-ID
 *
 *   seed_from_pcap FILE.pcap OUTDIR
 *
 * Seeds that come out alike are written once (named by their hash). The
 * configuration, output and metrics targets are seeded from text files
 * (tools/run-tests.sh, fuzz/seeds/).
 */
#include <errno.h>
#include <libgen.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/hashtab.h"
#include "decoders/decode.h"
#include "sip/sip.h"

#define SEED_MAX        8192
#define FRAMES_PER_SEED 32
#define SIP_SEEDS_MAX   400 /* per capture and target */

/* The link types of fuzz_pipeline and fuzz_callcap, in their order. */
static const int pipeline_links[] = {1, 113, 276, 101, 0, 108, 228, 229, 197};
static const int callcap_links[] = {1, 113, 276, 101, 0, 108, 228, 229, 12, 14, 197};

struct seed {
    uint8_t data[SEED_MAX];
    size_t len;
};

/* What the SIP layer left unconsumed of a TCP stream's direction: the
 * decoder presents it again in front of the next segment. */
struct tcp_leftover {
    uint64_t stream_id;
    int direction;
    size_t len;
};
#define TCP_LEFTOVERS 64

struct seeder {
    const char *outdir;
    struct sip_layer *sip;
    struct tcp_leftover leftovers[TCP_LEFTOVERS];
    int linktype;
    uint64_t ts_us, last_ts_us; /* the frame being processed, the one before */
    const uint8_t *frame;       /* the frame being processed */
    uint32_t caplen;
    uint64_t last_sip_ts, last_rtp_ts;
    unsigned sip_count, written;
    struct seed window, sip_only, rtp, tcp;
    unsigned window_frames, frame_number;
    bool frame_is_sip;
};

static void put(struct seed *s, const void *p, size_t n)
{
    if (s->len + n <= SEED_MAX) {
        memcpy(s->data + s->len, p, n);
        s->len += n;
    }
}

static void put16(struct seed *s, size_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(s, b, 2);
}

/* A time step in fuzz_time_step_us's encoding. */
static void put_step(struct seed *s, uint64_t from, uint64_t to)
{
    uint64_t d = to > from ? to - from : 0;
    if (d / 100 < 0x8000)
        put16(s, (size_t)(d / 100));
    else
        put16(s, 0x8000 | (size_t)(d / 10000 < 0x7fff ? d / 10000 : 0x7fff));
}

static void write_seed(struct seeder *z, const char *target, const void *p, size_t n)
{
    if (n == 0)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", z->outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return;
    snprintf(path, sizeof(path), "%s/%s/%016llx", z->outdir, target,
             (unsigned long long)hashtab_hash_bytes(p, n));
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(p, 1, n, f);
    fclose(f);
    z->written++;
}

static void flush(struct seeder *z, const char *target, struct seed *s)
{
    write_seed(z, target, s->data, s->len);
    s->len = 0;
}

static int link_index(const int *links, size_t count, int linktype)
{
    for (size_t i = 0; i < count; i++)
        if (links[i] == linktype)
            return (int)i;
    return -1;
}

/* ---- what the SIP layer finds ---- */

/* One SIP message put in an SCTP packet: whole in a DATA chunk, and in two
 * fragments (B then E, consecutive TSNs). */
static void sctp_seeds(struct seeder *z, const uint8_t *msg, size_t len)
{
    if (len > SEED_MAX - 64)
        return;
    struct seed s = {.len = 0};
    for (int parts = 1; parts <= 2; parts++) {
        s.len = 0;
        size_t half = parts == 1 ? len : len / 2;
        for (int k = 0; k < parts; k++) {
            const uint8_t *p = msg + (k ? half : 0);
            size_t n = k ? len - half : half;
            uint8_t flags = (uint8_t)((k == 0 ? 2 : 0) | (k == parts - 1 ? 1 : 0));
            uint8_t hdr[28] = {0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 1, 0, 0, 0, 0, 0, flags};
            size_t chunk = 16 + n;
            hdr[14] = (uint8_t)(chunk >> 8);
            hdr[15] = (uint8_t)chunk;
            hdr[19] = (uint8_t)(k + 1); /* TSN */
            hdr[27] = 0;                /* PPID: none assigned to SIP */
            put(&s, (uint8_t[]){0}, 1);
            put16(&s, 10); /* 1 ms */
            put16(&s, 12 + 16 + n + (4 - n % 4) % 4);
            put(&s, hdr, 28);
            put(&s, p, n);
            put(&s, (uint8_t[3]){0}, (4 - n % 4) % 4);
        }
        write_seed(z, "sctp", s.data, s.len);
    }
}

static void on_sip(void *user, const struct sip_msg *m, const struct sip_meta *meta)
{
    struct seeder *z = user;
    z->frame_is_sip = true;
    if (z->sip_count++ >= SIP_SEEDS_MAX)
        return;
    write_seed(z, "sip", meta->raw, meta->raw_len);
    const uint8_t *body = memmem(meta->raw, meta->raw_len, "\r\n\r\n", 4);
    if (m->has_sdp && body)
        write_seed(z, "sdp", body + 4, meta->raw_len - (size_t)(body + 4 - meta->raw));
    sctp_seeds(z, meta->raw, meta->raw_len);
    int li =
        link_index(callcap_links, sizeof(callcap_links) / sizeof(callcap_links[0]), z->linktype);
    if (li >= 0 && z->caplen < SEED_MAX) {
        struct seed s = {.len = 0};
        put(&s, (uint8_t[]){(uint8_t)li}, 1);
        put(&s, z->frame, z->caplen);
        write_seed(z, "callcap", s.data, s.len);
    }
    char id[300];
    int n = snprintf(id, sizeof(id), "%c%s", 0, m->call_id);
    write_seed(z, "callcap", id, (size_t)n);
}

/* ---- the decoder's handlers ---- */

static void on_udp(void *user, const struct packet *pkt)
{
    struct seeder *z = user;
    if (sip_layer_udp(z->sip, pkt))
        return;
    bool rtcp = pkt->payload_len >= 2 && pkt->payload[1] >= 200 && pkt->payload[1] <= 207;
    uint8_t op = rtcp ? 2 : pkt->sport < pkt->dport ? 0 : 1;
    if (z->rtp.len + 5 + pkt->payload_len > SEED_MAX)
        flush(z, "rtp", &z->rtp);
    put(&z->rtp, &op, 1);
    put_step(&z->rtp, z->last_rtp_ts ? z->last_rtp_ts : pkt->ts_us, pkt->ts_us);
    put16(&z->rtp, pkt->payload_len);
    put(&z->rtp, pkt->payload, pkt->payload_len);
    z->last_rtp_ts = pkt->ts_us;
}

static struct tcp_leftover *leftover_of(struct seeder *z, const struct tcp_data *d)
{
    struct tcp_leftover *l =
        &z->leftovers[(d->stream_id * 2 + (unsigned)d->direction) % TCP_LEFTOVERS];
    if (l->stream_id != d->stream_id || l->direction != d->direction)
        *l = (struct tcp_leftover){.stream_id = d->stream_id, .direction = d->direction};
    return l;
}

/* The new bytes of each delivery as a fuzz_tcp record; the SIP layer
 * frames them (its messages seed the other targets). */
static size_t on_tcp(void *user, const struct tcp_data *d)
{
    struct seeder *z = user;
    struct tcp_leftover *l = leftover_of(z, d);
    size_t skip = l->len <= d->len ? l->len : 0, n = d->len - skip;
    if (z->tcp.len + 3 + n > SEED_MAX)
        flush(z, "tcp", &z->tcp);
    if (n + 3 <= SEED_MAX) {
        put(&z->tcp, (uint8_t[]){(uint8_t)((d->stream_id & 3) | (d->direction ? 4 : 0))}, 1);
        put16(&z->tcp, n);
        put(&z->tcp, d->data + skip, n);
    }
    size_t consumed = sip_layer_tcp(z->sip, d);
    l->len = d->len - (consumed < d->len ? consumed : d->len);
    return consumed;
}

static void on_tcp_close(void *user, uint64_t stream_id)
{
    struct seeder *z = user;
    sip_layer_tcp_close(z->sip, stream_id);
}

static void on_sctp(void *user, const struct packet *pkt)
{
    struct seeder *z = user;
    sip_layer_sctp(z->sip, pkt);
}

/* ---- frames ---- */

/* An SCTP packet in Ethernet / IPv4, as the capture has it. */
static void sctp_frame(struct seeder *z)
{
    const uint8_t *f = z->frame;
    if (z->linktype != 1 || z->caplen < 34 || f[12] != 0x08 || f[13] != 0 || f[23] != 132)
        return;
    size_t ihl = (size_t)(f[14] & 0x0f) * 4;
    if (14 + ihl >= z->caplen)
        return;
    struct seed s = {.len = 0};
    size_t n = z->caplen - 14 - ihl;
    put(&s, (uint8_t[]){0}, 1);
    put16(&s, 10);
    put16(&s, n);
    put(&s, f + 14 + ihl, n);
    write_seed(z, "sctp", s.data, s.len);
}

static void pipeline_frame(struct seeder *z, int li)
{
    size_t len = z->caplen > SEED_MAX - 8 ? SEED_MAX - 8 : z->caplen;
    if (z->window_frames == FRAMES_PER_SEED || z->window.len + 4 + len > SEED_MAX) {
        flush(z, "pipeline", &z->window);
        z->window_frames = 0;
    }
    if (z->window.len == 0)
        put(&z->window, (uint8_t[]){(uint8_t)(0x80 | li)}, 1);
    put16(&z->window, len);
    put_step(&z->window, z->window_frames ? z->last_ts_us : z->ts_us, z->ts_us);
    put(&z->window, z->frame, len);
    z->window_frames++;
    /* SIP frames and a few others, their steps summed across what is left out. */
    if (!z->frame_is_sip && z->frame_number % 25 != 0)
        return;
    if (z->sip_only.len + 4 + len > SEED_MAX) {
        flush(z, "pipeline", &z->sip_only);
        z->last_sip_ts = 0;
    }
    if (z->sip_only.len == 0)
        put(&z->sip_only, (uint8_t[]){(uint8_t)(0x80 | li)}, 1);
    put16(&z->sip_only, len);
    put_step(&z->sip_only, z->last_sip_ts ? z->last_sip_ts : z->ts_us, z->ts_us);
    put(&z->sip_only, z->frame, len);
    z->last_sip_ts = z->ts_us;
}

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 3) {
        fprintf(stderr, "usage: seed_from_pcap FILE.pcap OUTDIR\n");
        return 2;
    }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "seed_from_pcap: %s\n", err);
        return 1;
    }
    static struct seeder z;
    z.outdir = argv[2];
    z.linktype = pcap_datalink(p);
    struct counters counters;
    counters_init(&counters);
    struct decoder_config dc;
    decoder_config_defaults(&dc);
    struct sip_layer *sip = sip_layer_new(&counters, on_sip, &z);
    z.sip = sip;
    struct decode_handlers h = {
        .user = &z, .udp = on_udp, .sctp = on_sctp, .tcp_data = on_tcp, .tcp_close = on_tcp_close};
    struct decoder *dec = decoder_new(&dc, &counters, &h);
    bool decodable = decoder_set_linktype(dec, z.linktype) >= 0;
    int li =
        link_index(pipeline_links, sizeof(pipeline_links) / sizeof(pipeline_links[0]), z.linktype);
    struct pcap_pkthdr *hdr;
    const u_char *d;
    while (pcap_next_ex(p, &hdr, &d) == 1) {
        z.ts_us = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
        z.frame = d;
        z.caplen = hdr->caplen;
        z.frame_is_sip = false;
        z.frame_number++;
        if (decodable)
            decoder_process(dec, z.ts_us, d, hdr->caplen, hdr->len);
        sctp_frame(&z);
        if (li >= 0)
            pipeline_frame(&z, li);
        z.last_ts_us = z.ts_us;
    }
    flush(&z, "pipeline", &z.window);
    flush(&z, "pipeline", &z.sip_only);
    flush(&z, "rtp", &z.rtp);
    flush(&z, "tcp", &z.tcp);
    decoder_free(dec);
    sip_layer_free(sip);
    pcap_close(p);
    fprintf(stderr, "seed_from_pcap: %s: %u frames, %u seeds\n", basename(argv[1]), z.frame_number,
            z.written);
    return 0;
}

/*
 * rtp_floor: what siptap's per-packet RTP analysis costs on its own, on top of
 * libpcap's reading: the cost any design of the daemon starts from.
 *
 * pcap_loop's read loop, whose callback does only what every RTP packet of a
 * call must have: the frame decoded to its UDP datagram (decoder_peek), its
 * flow found (or made) in the flow table, its header parsed and its stream's
 * Wireshark figures updated (rtp_flow_rtp_packet). No SIP, no calls, no
 * events, no frame copy and no look-ahead: frames are analysed where libpcap
 * leaves them. Its CPU time against pcap_loop's bounds target (a) from above
 * for this analysis: siptapd does all of this and more.
 *
 *   rtp_floor FILE     prints "packets rtp_packets flows"
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include "core/counters.h"
#include "decoders/decode.h"
#include "rtp/rtp.h"

/* Room for every flow of bench/gen_load's largest captures. */
#define FLOOR_MAX_FLOWS (1u << 20)

struct floor_run {
    struct decoder *decoder;
    struct rtp_flow_table flows;
    unsigned long long packets, rtp_packets;
};

static void analyse(u_char *user, const struct pcap_pkthdr *hdr, const u_char *frame)
{
    struct floor_run *r = (struct floor_run *)user;
    r->packets++;
    uint64_t ts = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
    struct packet p;
    if (!decoder_peek(r->decoder, ts, frame, hdr->caplen, hdr->len, &p))
        return;
    /* As sip_layer_udp and media_udp tell them: SIP starts below 0x80. */
    if (!p.payload_len || p.payload[0] < 0x80 || rtcp_looks_like(p.payload, p.payload_len))
        return;
    struct rtp_flow *f = rtp_flow_find_addrs(&r->flows, &p.src, p.sport, &p.dst, p.dport);
    if (!f) {
        struct endpoint src = {.addr = p.src, .port = p.sport};
        struct endpoint dst = {.addr = p.dst, .port = p.dport};
        f = rtp_flow_create(&r->flows, &src, &dst, NULL, 0);
        if (!f)
            return;
    }
    if (rtp_flow_rtp_packet(&r->flows, f, p.payload, p.payload_len, ts))
        r->rtp_packets++;
}

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: rtp_floor FILE\n");
        return 2;
    }
    static struct counters counters; /* large: not on the stack */
    counters_init(&counters);
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    struct decode_handlers none;
    memset(&none, 0, sizeof(none));
    struct floor_run r = {0};
    r.decoder = decoder_new(&cfg, &counters, &none);
    if (!r.decoder || !rtp_flow_table_init(&r.flows, FLOOR_MAX_FLOWS, &counters)) {
        fprintf(stderr, "rtp_floor: out of memory\n");
        return 1;
    }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "rtp_floor: %s\n", err);
        return 1;
    }
    if (decoder_set_linktype(r.decoder, pcap_datalink(p)) < 0) {
        fprintf(stderr, "rtp_floor: link type %d not supported\n", pcap_datalink(p));
        return 1;
    }
    while (pcap_dispatch(p, 512, analyse, (u_char *)&r) > 0)
        ;
    pcap_close(p);
    printf("%llu %llu %zu\n", r.packets, r.rtp_packets, hashtab_count(&r.flows.table));
    rtp_flow_table_destroy(&r.flows);
    decoder_free(r.decoder);
    return 0;
}

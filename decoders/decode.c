/*
 * decode: PLACEHOLDER minimal decoder (Ethernet / IPv4 / UDP only), to be
 * replaced by the full per-layer decoders. Keeps the interface of decode.h.
 */
#include "decoders/decode.h"

#include <pcap/dlt.h>
#include <stdlib.h>
#include <string.h>

struct decoder {
    struct decode_handlers handlers;
    struct counters *counters;
    int dlt;
    uint64_t *c_unsupported_link, *c_truncated, *c_udp;
};

void decoder_config_defaults(struct decoder_config *cfg)
{
    cfg->frag_max_datagrams = 4096;
    cfg->frag_max_per_source = 256;
    cfg->frag_timeout_ms = 30000;
    cfg->tcp_max_streams = 65536;
    cfg->tcp_max_pending = 256 * 1024;
    cfg->tcp_idle_timeout_ms = 300000;
}

struct decoder *decoder_new(const struct decoder_config *cfg, struct counters *counters,
                            const struct decode_handlers *handlers)
{
    (void)cfg;
    struct decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->handlers = *handlers;
    d->counters = counters;
    d->c_unsupported_link = counters_register(counters, "decode", "unsupported_link");
    d->c_truncated = counters_register(counters, "decode", "truncated");
    d->c_udp = counters_register(counters, "decode", "udp");
    return d;
}

void decoder_free(struct decoder *d)
{
    free(d);
}

int decoder_set_linktype(struct decoder *d, int dlt)
{
    if (dlt != DLT_EN10MB)
        return -1;
    d->dlt = dlt;
    return 0;
}

void decoder_process(struct decoder *d, uint64_t ts_us, const uint8_t *frame, uint32_t caplen,
                     uint32_t wirelen)
{
    struct packet p;
    memset(&p, 0, sizeof(p));
    p.ts_us = ts_us;
    p.frame = frame;
    p.caplen = caplen;
    p.wirelen = wirelen;
    if (caplen < 14 + 20 || frame[12] != 0x08 || frame[13] != 0x00) {
        (*d->c_truncated)++;
        return;
    }
    const uint8_t *ip = frame + 14;
    unsigned ihl = (ip[0] & 0x0f) * 4u;
    if (ip[9] != 17 || caplen < 14 + ihl + 8)
        return;
    net_addr_set_v4(&p.src, ip + 12);
    net_addr_set_v4(&p.dst, ip + 16);
    const uint8_t *udp = ip + ihl;
    p.ip_proto = 17;
    p.sport = (uint16_t)(udp[0] << 8 | udp[1]);
    p.dport = (uint16_t)(udp[2] << 8 | udp[3]);
    p.payload = udp + 8;
    p.payload_len = caplen - 14 - ihl - 8;
    (*d->c_udp)++;
    if (d->handlers.udp)
        d->handlers.udp(d->handlers.user, &p);
}

void decoder_expire(struct decoder *d, uint64_t now_us)
{
    (void)d;
    (void)now_us;
}

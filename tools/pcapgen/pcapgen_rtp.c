/*
 * pcapgen_rtp: RTP streams with scripted impairments, and their RTCP.
 *
 * A stream is generated in two passes. The first walks the slots (one per
 * ptime) and decides what the sender emits: audio, a comfort-noise packet and
 * the silence after it, an RFC 4733 event with its repeated end packets, and
 * gives each emitted packet the next sequence number, so a lost packet still
 * consumes its number exactly as on a real network. The second pass applies
 * what the network does: drop the lost ones, add arrival offsets (seeded
 * jitter or an explicit list), swap pairs, duplicate, and queues the UDP
 * datagrams. RTCP sender reports are built from the sender's counters at
 * each interval, so packet/octet counts agree with what precedes them.
 */
#include "tools/pcapgen/pcapgen_int.h"

#include <stdlib.h>
#include <string.h>

#define NTP_UNIX_OFFSET 2208988800ULL
#define PT_CN           13

struct rtp_pkt {
    uint64_t due_us;    /* sender time */
    uint64_t arrive_us; /* capture time */
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    uint8_t pt;
    bool marker;
    bool lost;
    uint8_t kind; /* 0 audio, 1 CN, 2 event */
    uint16_t event_duration;
    bool event_end;
    uint32_t slot;
};

static bool seq_listed(const uint16_t *list, size_t n, uint16_t seq)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == seq)
            return true;
    return false;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t build_rtp(uint8_t *out, const struct rtp_pkt *p, uint16_t payload_len,
                        uint8_t dtmf_event)
{
    out[0] = 0x80;
    out[1] = (uint8_t)((p->marker ? 0x80 : 0) | (p->pt & 0x7f));
    put16(out + 2, p->seq);
    put32(out + 4, p->ts);
    put32(out + 8, p->ssrc);
    if (p->kind == 1) {
        out[12] = 60; /* noise level, -dBov */
        return 13;
    }
    if (p->kind == 2) {
        out[12] = dtmf_event;
        out[13] = (uint8_t)((p->event_end ? 0x80 : 0) | 10); /* volume 10 */
        put16(out + 14, p->event_duration);
        return 16;
    }
    /* A deterministic payload: mu-law-ish silence varying with seq. */
    for (uint16_t i = 0; i < payload_len; i++)
        out[12 + i] = (uint8_t)(0xd5 ^ ((p->seq + i) & 0x0f));
    return 12u + payload_len;
}

/* An XR packet (RFC 3611) from reporter with one VoIP Metrics block about
 * ssrc: the loss rate is the RR's fraction lost, every other figure the
 * fixed value README.md lists. 44 bytes. */
static size_t put_xr_voip_metrics(uint8_t *p, uint32_t reporter, uint32_t ssrc, uint8_t loss_rate)
{
    memset(p, 0, 44);
    p[0] = 0x80;
    p[1] = 207;
    put16(p + 2, 10);
    put32(p + 4, reporter);
    uint8_t *b = p + 8;
    b[0] = 7; /* VoIP Metrics */
    put16(b + 2, 8);
    put32(b + 4, ssrc);
    b[8] = loss_rate;
    put16(b + 16, 2);     /* round trip delay, ms */
    put16(b + 18, 60);    /* end system delay, ms */
    b[20] = (uint8_t)-20; /* signal level, dBm */
    b[21] = (uint8_t)-70; /* noise level, dBm */
    b[22] = 127;          /* RERL: unavailable */
    b[23] = 16;           /* Gmin */
    b[24] = 88;           /* R factor */
    b[25] = 127;          /* external R factor: unavailable */
    b[26] = 41;           /* MOS-LQ 4.1 */
    b[27] = 40;           /* MOS-CQ 4.0 */
    b[28] = 0xB0;         /* RX config: enhanced PLC, adaptive jitter buffer */
    put16(b + 30, 40);    /* jitter buffer nominal, ms */
    put16(b + 32, 80);    /* maximum */
    put16(b + 34, 200);   /* absolute maximum */
    return 44;
}

static void emit_rtcp(struct pcapgen *g, const struct pcapgen_rtp_spec *s, uint64_t t_us,
                      uint32_t ssrc, uint32_t rtp_ts, uint32_t packets, uint32_t octets,
                      uint16_t highest_seq, uint32_t cycles, uint32_t lost_so_far,
                      uint32_t expected)
{
    uint8_t pkt[128];
    uint64_t abs = pcapgen_base(g) + t_us;
    uint32_t ntp_sec = (uint32_t)(abs / 1000000 + NTP_UNIX_OFFSET);
    uint32_t ntp_frac = (uint32_t)(((abs % 1000000) << 32) / 1000000);
    /* SR, no report blocks, then SDES CNAME: a minimal valid compound packet. */
    pkt[0] = 0x80;
    pkt[1] = 200;
    put16(pkt + 2, 6);
    put32(pkt + 4, ssrc);
    put32(pkt + 8, ntp_sec);
    put32(pkt + 12, ntp_frac);
    put32(pkt + 16, rtp_ts);
    put32(pkt + 20, packets);
    put32(pkt + 24, octets);
    size_t n = 28;
    static const char cname[] = "pcapgen"; /* 7 bytes: 4+2+7+1 end = 14 -> pad 16 */
    pkt[n] = 0x81;
    pkt[n + 1] = 202;
    put16(pkt + n + 2, 4);
    put32(pkt + n + 4, ssrc);
    pkt[n + 8] = 1;
    pkt[n + 9] = 7;
    memcpy(pkt + n + 10, cname, 7);
    pkt[n + 17] = 0;
    pkt[n + 18] = 0;
    pkt[n + 19] = 0;
    n += 20;
    struct endpoint src = s->src, dst = s->dst;
    if (s->rtcp == PCAPGEN_RTCP_PORT_PLUS_1) {
        src.port++;
        dst.port++;
    } else if (s->rtcp == PCAPGEN_RTCP_ATTRIBUTE) {
        src.port += PCAPGEN_RTCP_ATTRIBUTE_OFFSET;
        dst.port += PCAPGEN_RTCP_ATTRIBUTE_OFFSET;
    }
    pcapgen_udp(g, t_us, &src, &dst, pkt, n, s->encap);
    if (!s->rtcp_rr)
        return;
    /* The receiver's RR one millisecond later, describing what it got. */
    uint32_t rr_ssrc = ssrc ^ 0x5a5a5a5au;
    pkt[0] = 0x81;
    pkt[1] = 201;
    put16(pkt + 2, 7);
    put32(pkt + 4, rr_ssrc);
    put32(pkt + 8, ssrc);
    uint32_t frac = expected ? (lost_so_far * 256u) / expected : 0;
    pkt[12] = (uint8_t)(frac > 255 ? 255 : frac);
    pkt[13] = (uint8_t)(lost_so_far >> 16);
    pkt[14] = (uint8_t)(lost_so_far >> 8);
    pkt[15] = (uint8_t)lost_so_far;
    put32(pkt + 16, (cycles << 16) | highest_seq);
    put32(pkt + 20, 0);                                  /* jitter */
    put32(pkt + 24, (ntp_sec << 16) | (ntp_frac >> 16)); /* LSR */
    put32(pkt + 28, 65536 / 1000);                       /* DLSR: 1 ms */
    n = 32;
    pkt[n] = 0x81;
    pkt[n + 1] = 202;
    put16(pkt + n + 2, 4);
    put32(pkt + n + 4, rr_ssrc);
    pkt[n + 8] = 1;
    pkt[n + 9] = 7;
    memcpy(pkt + n + 10, cname, 7);
    memset(pkt + n + 17, 0, 3);
    n += 20;
    if (s->rtcp_xr)
        n += put_xr_voip_metrics(pkt + n, rr_ssrc, ssrc, pkt[12]);
    pcapgen_udp(g, t_us + 1000, &dst, &src, pkt, n, s->encap);
}

void pcapgen_rtp_stream(struct pcapgen *g, const struct pcapgen_rtp_spec *s,
                        struct pcapgen_rtp_result *res)
{
    uint32_t ptime = s->ptime_us ? s->ptime_us : 20000;
    uint32_t rate = s->clock_rate ? s->clock_rate : 8000;
    uint32_t samples = (uint32_t)((uint64_t)rate * ptime / 1000000);
    uint16_t plen = s->payload_len ? s->payload_len : (uint16_t)samples;
    uint8_t dtmf_pt = s->dtmf_pt ? s->dtmf_pt : 101;

    size_t cap = (size_t)s->count + 8, n = 0;
    struct rtp_pkt *pk = pcapgen_xmalloc(cap * sizeof(*pk));
    uint16_t seq = s->start_seq;
    uint32_t ssrc = s->ssrc;
    bool resume_marker = false;
    uint64_t last_due = s->start_us;
    for (uint32_t i = 0; i < s->count; i++) {
        uint64_t due = s->start_us + (uint64_t)i * ptime;
        if (s->stop_us && due >= s->stop_us)
            break;
        if (s->ssrc_change_at && i == s->ssrc_change_at)
            ssrc = s->new_ssrc;
        bool in_cn = s->cn_slots && i >= s->cn_at && i < s->cn_at + s->cn_slots;
        if (in_cn && i != s->cn_at) {
            resume_marker = true;
            continue;
        }
        bool in_dtmf = s->dtmf_slots && i >= s->dtmf_at && i < s->dtmf_at + s->dtmf_slots;
        bool dtmf_last = in_dtmf && i == s->dtmf_at + s->dtmf_slots - 1;
        int copies = dtmf_last ? 3 : 1;
        for (int c = 0; c < copies; c++) {
            if (n == cap) {
                cap *= 2;
                struct rtp_pkt *np = realloc(pk, cap * sizeof(*pk));
                if (!np)
                    abort();
                pk = np;
            }
            struct rtp_pkt *p = &pk[n++];
            memset(p, 0, sizeof(*p));
            p->due_us = due + (uint64_t)c * 1000; /* repeated end packets 1 ms apart */
            p->seq = seq++;
            p->ssrc = ssrc;
            p->slot = i;
            p->ts = s->start_ts + i * samples;
            p->pt = s->pt;
            if (in_cn) {
                p->kind = 1;
                p->pt = PT_CN;
            } else if (in_dtmf) {
                p->kind = 2;
                p->pt = dtmf_pt;
                p->ts = s->start_ts + s->dtmf_at * samples;
                p->event_duration = (uint16_t)((i - s->dtmf_at + 1) * samples);
                p->event_end = dtmf_last;
                p->marker = i == s->dtmf_at && c == 0;
            } else if (resume_marker) {
                p->marker = true;
                resume_marker = false;
            }
            if (seq_listed(s->marker_seqs, s->n_marker, p->seq))
                p->marker = true;
            p->lost = seq_listed(s->lost_seqs, s->n_lost, p->seq) ||
                      (s->loss_every && (i + 1) % s->loss_every == 0) ||
                      (s->burst_len && i >= s->burst_start && i < s->burst_start + s->burst_len);
            last_due = due;
        }
    }

    /* Network: arrival offsets, then swaps. */
    uint64_t rng = s->jitter_seed;
    for (size_t k = 0; k < n; k++) {
        int64_t off = 0;
        if (s->n_offsets)
            off = s->offsets_us[k % s->n_offsets];
        else if (s->jitter_max_us)
            off = (int64_t)(pcapgen_splitmix(&rng) % ((uint64_t)s->jitter_max_us + 1));
        int64_t t = (int64_t)pk[k].due_us + off;
        pk[k].arrive_us = t < 0 ? 0 : (uint64_t)t;
    }
    for (size_t w = 0; w < s->n_swaps; w++) {
        struct rtp_pkt *a = NULL, *b = NULL;
        for (size_t k = 0; k < n; k++) {
            if (!a && pk[k].seq == s->swaps[w].a)
                a = &pk[k];
            else if (!b && pk[k].seq == s->swaps[w].b)
                b = &pk[k];
        }
        if (a && b) {
            uint64_t t = a->arrive_us;
            a->arrive_us = b->arrive_us;
            b->arrive_us = t;
        }
    }

    uint8_t *buf = pcapgen_xmalloc(16u + plen);
    uint32_t sent = 0, lost = 0, sender_packets = 0, sender_octets = 0;
    uint32_t interval = s->rtcp_interval_us ? s->rtcp_interval_us : 5000000;
    uint64_t next_rtcp = s->start_us + interval;
    uint32_t highest_ext = 0, received_unique = 0;
    bool have_highest = false;
    uint32_t first_ext = s->start_seq;
    for (size_t k = 0; k < n; k++) {
        const struct rtp_pkt *p = &pk[k];
        while (s->rtcp && p->due_us >= next_rtcp) {
            uint32_t expected = have_highest ? highest_ext - first_ext + 1 : 0;
            uint32_t rtp_ts = s->start_ts + (uint32_t)((next_rtcp - s->start_us) * rate / 1000000);
            emit_rtcp(g, s, next_rtcp, p->ssrc, rtp_ts, sender_packets, sender_octets,
                      (uint16_t)highest_ext, highest_ext >> 16,
                      expected > received_unique ? expected - received_unique : 0, expected);
            next_rtcp += interval;
        }
        size_t len = build_rtp(buf, p, plen, s->dtmf_event);
        sender_packets++;
        sender_octets += (uint32_t)(len - 12);
        if (p->lost) {
            lost++;
            continue;
        }
        int copies = seq_listed(s->dup_seqs, s->n_dup, p->seq) ? 2 : 1;
        for (int c = 0; c < copies; c++) {
            pcapgen_udp(g, p->arrive_us, &s->src, &s->dst, buf, len, s->encap);
            sent++;
        }
        /* Extended sequence as emitted (k counts every emitted number). */
        uint32_t ext = first_ext + (uint32_t)k;
        if (!have_highest || ext > highest_ext)
            highest_ext = ext;
        have_highest = true;
        received_unique++;
    }
    free(buf);
    if (res) {
        res->sent = sent;
        res->lost = lost;
        res->next_seq = seq;
        res->next_ts = s->start_ts + (uint32_t)((last_due - s->start_us) / ptime + 1) * samples;
        res->last_us = last_due;
    }
    free(pk);
}

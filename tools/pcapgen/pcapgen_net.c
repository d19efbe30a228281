/*
 * pcapgen_net: the frame queue, the pcap writer, and the link / IPv4 / IPv6 /
 * UDP / TCP encoders of the capture generator.
 *
 * Every builder above this file ends in pcapgen_ip(), which wraps a transport
 * payload in IP (fragmenting it when the encapsulation's MTU asks for it) and
 * then in the link layer, and queues the frame with its time. Frames are
 * sorted by (time, insertion order) only when the file is written, so streams
 * can be generated one after the other and still interleave correctly.
 *
 * MAC addresses are derived from the IP addresses (02:00 + the last four
 * address bytes) and IPv4 IDs / IPv6 fragment IDs come from per-generator
 * counters, so the same program always writes the same bytes.
 */
#include "tools/pcapgen/pcapgen_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPLEN      262144
#define IP4_HDR_LEN  20
#define IP6_HDR_LEN  40
#define FRAG6_LEN    8
#define MAX_LINK_HDR 64

void *pcapgen_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "pcapgen: out of memory\n");
        abort();
    }
    return p;
}

void pcapgen_buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    if ((size_t)n < sizeof(small)) {
        if (!buf_append(b, small, (size_t)n))
            abort();
        return;
    }
    char *big = pcapgen_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (!buf_append(b, big, (size_t)n))
        abort();
    free(big);
}

char *pcapgen_buf_take(struct buf *b, size_t *len_out)
{
    if (!buf_append(b, "", 1))
        abort();
    if (len_out)
        *len_out = b->len - 1;
    char *s = (char *)b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

uint64_t pcapgen_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; s && *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t pcapgen_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool linktype_known(int lt)
{
    return lt == PCAPGEN_LINK_NULL || lt == PCAPGEN_LINK_ETHERNET || lt == PCAPGEN_LINK_RAW ||
           lt == PCAPGEN_LINK_LINUX_SLL;
}

struct pcapgen *pcapgen_new(int linktype)
{
    if (!linktype_known(linktype))
        return NULL;
    struct pcapgen *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->linktype = linktype;
    g->base_us = PCAPGEN_DEFAULT_BASE_US;
    g->next_ip_id = 0x1000;
    g->next_ip6_frag_id = 0x10000;
    return g;
}

void pcapgen_free(struct pcapgen *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_frames; i++)
        free(g->frames[i].data);
    free(g->frames);
    free(g);
}

bool pcapgen_set_linktype(struct pcapgen *g, int linktype)
{
    if (g->n_frames > 0 || !linktype_known(linktype))
        return false;
    g->linktype = linktype;
    return true;
}

int pcapgen_linktype(const struct pcapgen *g)
{
    return g->linktype;
}

void pcapgen_set_base(struct pcapgen *g, uint64_t epoch_us)
{
    g->base_us = epoch_us;
}

uint64_t pcapgen_base(const struct pcapgen *g)
{
    return g->base_us;
}

void pcapgen_set_encap(struct pcapgen *g, const struct pcapgen_encap *encap)
{
    if (encap)
        g->encap = *encap;
    else
        memset(&g->encap, 0, sizeof(g->encap));
}

const struct pcapgen_encap *pcapgen_encap(const struct pcapgen *g)
{
    return &g->encap;
}

size_t pcapgen_count(const struct pcapgen *g)
{
    return g->n_frames;
}

void pcapgen_frame(struct pcapgen *g, uint64_t t_us, const uint8_t *frame, size_t len)
{
    if (g->n_frames == g->cap_frames) {
        size_t cap = g->cap_frames ? g->cap_frames * 2 : 256;
        struct pcapgen_frame *f = realloc(g->frames, cap * sizeof(*f));
        if (!f)
            abort();
        g->frames = f;
        g->cap_frames = cap;
    }
    struct pcapgen_frame *f = &g->frames[g->n_frames];
    f->t_us = t_us;
    f->order = g->n_frames;
    f->len = (uint32_t)len;
    f->data = pcapgen_xmalloc(len);
    memcpy(f->data, frame, len);
    g->n_frames++;
}

static int frame_cmp(const void *a, const void *b)
{
    const struct pcapgen_frame *x = a, *y = b;
    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Always little-endian so the file's bytes do not depend on the host. */
static bool write_header(const struct pcapgen *g, FILE *f)
{
    uint8_t hdr[24];
    put_le32(hdr, 0xa1b2c3d4);
    put_le16(hdr + 4, 2);
    put_le16(hdr + 6, 4);
    put_le32(hdr + 8, 0);
    put_le32(hdr + 12, 0);
    put_le32(hdr + 16, SNAPLEN);
    put_le32(hdr + 20, (uint32_t)g->linktype);
    return fwrite(hdr, 1, sizeof(hdr), f) == sizeof(hdr);
}

static bool write_frame(const struct pcapgen *g, const struct pcapgen_frame *fr, FILE *f)
{
    uint64_t t = g->base_us + fr->t_us;
    uint8_t rec[16];
    put_le32(rec, (uint32_t)(t / 1000000));
    put_le32(rec + 4, (uint32_t)(t % 1000000));
    put_le32(rec + 8, fr->len);
    put_le32(rec + 12, fr->len);
    return fwrite(rec, 1, sizeof(rec), f) == sizeof(rec) &&
           fwrite(fr->data, 1, fr->len, f) == fr->len;
}

int pcapgen_write(struct pcapgen *g, const char *path)
{
    qsort(g->frames, g->n_frames, sizeof(*g->frames), frame_cmp);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    bool ok = write_header(g, f);
    for (size_t i = 0; ok && i < g->n_frames; i++)
        ok = write_frame(g, &g->frames[i], f);
    int saved = errno;
    if (fclose(f) != 0)
        ok = false;
    if (!ok) {
        errno = saved ? saved : EIO;
        return -1;
    }
    return 0;
}

int pcapgen_stream_begin(struct pcapgen *g, FILE *f)
{
    return write_header(g, f) ? 0 : -1;
}

int pcapgen_stream_until(struct pcapgen *g, FILE *f, uint64_t t_us)
{
    qsort(g->frames, g->n_frames, sizeof(*g->frames), frame_cmp);
    size_t n = 0;
    bool ok = true;
    for (; n < g->n_frames && g->frames[n].t_us < t_us; n++) {
        ok = ok && write_frame(g, &g->frames[n], f);
        free(g->frames[n].data);
    }
    memmove(g->frames, g->frames + n, (g->n_frames - n) * sizeof(*g->frames));
    g->n_frames -= n;
    return ok ? 0 : -1;
}

uint32_t pcapgen_csum_add(uint32_t sum, const uint8_t *data, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2) {
        sum += (uint32_t)(data[i] << 8 | data[i + 1]);
        if (sum & 0x80000000u) /* fold before 32 bits overflow */
            sum = (sum & 0xffff) + (sum >> 16);
    }
    if (i < len)
        sum += (uint32_t)data[i] << 8;
    return (sum & 0xffff) + (sum >> 16);
}

uint16_t pcapgen_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
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

static void mac_from_addr(uint8_t mac[6], const struct net_addr *a)
{
    const uint8_t *b = a->family == 4 ? a->bytes : a->bytes + 12;
    mac[0] = 0x02;
    mac[1] = 0x00;
    memcpy(mac + 2, b, 4);
}

/* Writes the link header for an IP packet into hdr; returns its length. */
static size_t link_header(const struct pcapgen *g, uint8_t *hdr, const struct net_addr *src,
                          const struct net_addr *dst, const struct pcapgen_encap *e)
{
    uint16_t ethertype = src->family == 6 ? 0x86dd : 0x0800;
    size_t n = 0;
    switch (g->linktype) {
    case PCAPGEN_LINK_ETHERNET:
        mac_from_addr(hdr, dst);
        mac_from_addr(hdr + 6, src);
        n = 12;
        if (e->vlan && e->qinq_outer) {
            put16(hdr + n, 0x88a8);
            put16(hdr + n + 2, e->qinq_outer & 0x0fff);
            n += 4;
        }
        if (e->vlan) {
            put16(hdr + n, 0x8100);
            put16(hdr + n + 2, e->vlan & 0x0fff);
            n += 4;
        }
        put16(hdr + n, ethertype);
        return n + 2;
    case PCAPGEN_LINK_LINUX_SLL:
        put16(hdr, 0);     /* packet type: to us */
        put16(hdr + 2, 1); /* ARPHRD_ETHER */
        put16(hdr + 4, 6); /* address length */
        memset(hdr + 6, 0, 8);
        mac_from_addr(hdr + 6, src);
        put16(hdr + 14, ethertype);
        return 16;
    case PCAPGEN_LINK_NULL:
        /* Host-order AF value; readers detect the byte order. 24 = BSD AF_INET6. */
        put_le32(hdr, src->family == 6 ? 24 : 2);
        return 4;
    default:
        return 0;
    }
}

static void queue_ip_packet(struct pcapgen *g, uint64_t t_us, const struct net_addr *src,
                            const struct net_addr *dst, const uint8_t *ip, size_t ip_len,
                            const struct pcapgen_encap *e)
{
    uint8_t *frame = pcapgen_xmalloc(MAX_LINK_HDR + ip_len);
    size_t n = link_header(g, frame, src, dst, e);
    memcpy(frame + n, ip, ip_len);
    pcapgen_frame(g, t_us, frame, n + ip_len);
    free(frame);
}

static void ip4_header(uint8_t *h, const struct net_addr *src, const struct net_addr *dst,
                       uint8_t proto, size_t total, uint16_t id, uint16_t frag_field)
{
    h[0] = 0x45;
    h[1] = 0;
    put16(h + 2, (uint16_t)total);
    put16(h + 4, id);
    put16(h + 6, frag_field);
    h[8] = 64;
    h[9] = proto;
    put16(h + 10, 0);
    memcpy(h + 12, src->bytes, 4);
    memcpy(h + 16, dst->bytes, 4);
    put16(h + 10, (uint16_t)~pcapgen_csum_fold(pcapgen_csum_add(0, h, IP4_HDR_LEN)));
}

static void ip6_header(uint8_t *h, const struct net_addr *src, const struct net_addr *dst,
                       uint8_t next, size_t payload_len)
{
    put32(h, 0x60000000u);
    put16(h + 4, (uint16_t)payload_len);
    h[6] = next;
    h[7] = 64;
    memcpy(h + 8, src->bytes, 16);
    memcpy(h + 24, dst->bytes, 16);
}

struct piece {
    size_t off, len;
};

/* Splits len bytes into fragments of at most max (a multiple of 8). */
static size_t plan_fragments(size_t len, size_t max, struct piece **out)
{
    size_t n = (len + max - 1) / max;
    struct piece *p = pcapgen_xmalloc(n * sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        p[i].off = i * max;
        p[i].len = len - p[i].off < max ? len - p[i].off : max;
    }
    *out = p;
    return n;
}

void pcapgen_ip(struct pcapgen *g, uint64_t t_us, const struct net_addr *src,
                const struct net_addr *dst, uint8_t proto, const uint8_t *payload, size_t len,
                const struct pcapgen_encap *opts)
{
    const struct pcapgen_encap *e = opts ? opts : &g->encap;
    size_t hdr = src->family == 6 ? IP6_HDR_LEN : IP4_HDR_LEN;
    uint8_t *pkt = pcapgen_xmalloc(hdr + FRAG6_LEN + len);
    if (e->mtu == 0 || hdr + len <= e->mtu || e->mtu < hdr + FRAG6_LEN + 8) {
        if (src->family == 6)
            ip6_header(pkt, src, dst, proto, len);
        else
            ip4_header(pkt, src, dst, proto, hdr + len, g->next_ip_id++, 0);
        memcpy(pkt + hdr, payload, len);
        queue_ip_packet(g, t_us, src, dst, pkt, hdr + len, e);
        free(pkt);
        return;
    }
    size_t room = e->mtu - hdr - (src->family == 6 ? FRAG6_LEN : 0);
    struct piece *pieces;
    size_t n = plan_fragments(len, room & ~(size_t)7, &pieces);
    uint16_t id4 = g->next_ip_id++;
    uint32_t id6 = g->next_ip6_frag_id++;
    for (size_t k = 0; k < n; k++) {
        size_t i = e->frag_reverse ? n - 1 - k : k;
        bool more = i + 1 < n;
        size_t plen;
        if (src->family == 6) {
            ip6_header(pkt, src, dst, 44, FRAG6_LEN + pieces[i].len);
            uint8_t *fh = pkt + IP6_HDR_LEN;
            fh[0] = proto;
            fh[1] = 0;
            put16(fh + 2, (uint16_t)(pieces[i].off | (more ? 1 : 0)));
            put32(fh + 4, id6);
            memcpy(fh + FRAG6_LEN, payload + pieces[i].off, pieces[i].len);
            plen = IP6_HDR_LEN + FRAG6_LEN + pieces[i].len;
        } else {
            uint16_t field = (uint16_t)((pieces[i].off / 8) | (more ? 0x2000 : 0));
            ip4_header(pkt, src, dst, proto, IP4_HDR_LEN + pieces[i].len, id4, field);
            memcpy(pkt + IP4_HDR_LEN, payload + pieces[i].off, pieces[i].len);
            plen = IP4_HDR_LEN + pieces[i].len;
        }
        /* 10 us apart so the order survives sorting. */
        queue_ip_packet(g, t_us + k * 10, src, dst, pkt, plen, e);
    }
    free(pieces);
    free(pkt);
}

/* Sum of the IPv4/IPv6 pseudo-header for a transport checksum. */
static uint32_t pseudo_sum(const struct net_addr *src, const struct net_addr *dst, uint8_t proto,
                           size_t len)
{
    uint8_t tail[8] = {0};
    uint32_t sum;
    if (src->family == 6) {
        sum = pcapgen_csum_add(0, src->bytes, 16);
        sum = pcapgen_csum_add(sum, dst->bytes, 16);
        put32(tail, (uint32_t)len);
        tail[7] = proto;
        return pcapgen_csum_add(sum, tail, 8);
    }
    sum = pcapgen_csum_add(0, src->bytes, 4);
    sum = pcapgen_csum_add(sum, dst->bytes, 4);
    tail[1] = proto;
    put16(tail + 2, (uint16_t)len);
    return pcapgen_csum_add(sum, tail, 4);
}

void pcapgen_udp(struct pcapgen *g, uint64_t t_us, const struct endpoint *src,
                 const struct endpoint *dst, const uint8_t *payload, size_t len,
                 const struct pcapgen_encap *opts)
{
    size_t total = 8 + len;
    uint8_t *u = pcapgen_xmalloc(total);
    put16(u, src->port);
    put16(u + 2, dst->port);
    put16(u + 4, (uint16_t)total);
    put16(u + 6, 0);
    memcpy(u + 8, payload, len);
    uint32_t sum = pseudo_sum(&src->addr, &dst->addr, 17, total);
    uint16_t c = (uint16_t)~pcapgen_csum_fold(pcapgen_csum_add(sum, u, total));
    put16(u + 6, c ? c : 0xffff);
    pcapgen_ip(g, t_us, &src->addr, &dst->addr, 17, u, total, opts);
    free(u);
}

/* ---- TCP ---- */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

struct pcapgen_tcp {
    struct pcapgen *g;
    struct endpoint ep[2]; /* [C2S] = client, [S2C] = server */
    uint32_t next_seq[2];
    bool has_encap;
    struct pcapgen_encap encap;
    uint8_t *last[2]; /* last data segment per direction, for retransmission */
    size_t last_len[2];
    uint32_t last_seq[2];
};

struct pcapgen_tcp *pcapgen_tcp_new(struct pcapgen *g, const struct endpoint *client,
                                    const struct endpoint *server, uint32_t client_isn,
                                    uint32_t server_isn, const struct pcapgen_encap *opts)
{
    struct pcapgen_tcp *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->g = g;
    c->ep[PCAPGEN_C2S] = *client;
    c->ep[PCAPGEN_S2C] = *server;
    c->next_seq[PCAPGEN_C2S] = client_isn;
    c->next_seq[PCAPGEN_S2C] = server_isn;
    if (opts) {
        c->has_encap = true;
        c->encap = *opts;
    }
    return c;
}

void pcapgen_tcp_free(struct pcapgen_tcp *c)
{
    if (!c)
        return;
    free(c->last[0]);
    free(c->last[1]);
    free(c);
}

uint32_t pcapgen_tcp_seq(const struct pcapgen_tcp *c, enum pcapgen_dir dir)
{
    return c->next_seq[dir];
}

static void tcp_segment(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir, uint32_t seq,
                        uint8_t flags, const uint8_t *data, size_t len)
{
    const struct endpoint *src = &c->ep[dir], *dst = &c->ep[!dir];
    size_t total = 20 + len;
    uint8_t *s = pcapgen_xmalloc(total);
    put16(s, src->port);
    put16(s + 2, dst->port);
    put32(s + 4, seq);
    put32(s + 8, (flags & TCP_ACK) ? c->next_seq[!dir] : 0);
    s[12] = 5 << 4;
    s[13] = flags;
    put16(s + 14, 65535);
    put16(s + 16, 0);
    put16(s + 18, 0);
    if (len)
        memcpy(s + 20, data, len);
    uint32_t sum = pseudo_sum(&src->addr, &dst->addr, 6, total);
    put16(s + 16, (uint16_t)~pcapgen_csum_fold(pcapgen_csum_add(sum, s, total)));
    pcapgen_ip(c->g, t_us, &src->addr, &dst->addr, 6, s, total, c->has_encap ? &c->encap : NULL);
    free(s);
}

void pcapgen_tcp_handshake(struct pcapgen_tcp *c, uint64_t t_us)
{
    tcp_segment(c, t_us, PCAPGEN_C2S, c->next_seq[0], TCP_SYN, NULL, 0);
    c->next_seq[0]++;
    /* The SYN/ACK acknowledges the client's SYN, already counted above. */
    tcp_segment(c, t_us + 1000, PCAPGEN_S2C, c->next_seq[1], TCP_SYN | TCP_ACK, NULL, 0);
    c->next_seq[1]++;
    tcp_segment(c, t_us + 2000, PCAPGEN_C2S, c->next_seq[0], TCP_ACK, NULL, 0);
}

static void remember(struct pcapgen_tcp *c, enum pcapgen_dir dir, uint32_t seq, const uint8_t *data,
                     size_t len)
{
    free(c->last[dir]);
    c->last[dir] = pcapgen_xmalloc(len);
    memcpy(c->last[dir], data, len);
    c->last_len[dir] = len;
    c->last_seq[dir] = seq;
}

void pcapgen_tcp_send(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir,
                      const uint8_t *data, size_t len)
{
    uint32_t seq = c->next_seq[dir];
    tcp_segment(c, t_us, dir, seq, TCP_PSH | TCP_ACK, data, len);
    remember(c, dir, seq, data, len);
    c->next_seq[dir] += (uint32_t)len;
}

void pcapgen_tcp_send_at(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir,
                         uint32_t offset, const uint8_t *data, size_t len)
{
    tcp_segment(c, t_us, dir, c->next_seq[dir] + offset, TCP_PSH | TCP_ACK, data, len);
}

void pcapgen_tcp_advance(struct pcapgen_tcp *c, enum pcapgen_dir dir, size_t len)
{
    c->next_seq[dir] += (uint32_t)len;
}

void pcapgen_tcp_send_split(struct pcapgen_tcp *c, uint64_t t_us, uint64_t step_us,
                            enum pcapgen_dir dir, const uint8_t *data, size_t len,
                            const size_t *offsets, size_t n, bool reverse)
{
    size_t *cuts = pcapgen_xmalloc((n + 2) * sizeof(*cuts));
    size_t m = 0;
    cuts[m++] = 0;
    for (size_t i = 0; i < n; i++)
        if (offsets[i] > cuts[m - 1] && offsets[i] < len)
            cuts[m++] = offsets[i];
    cuts[m] = len;
    uint32_t base = c->next_seq[dir];
    for (size_t k = 0; k < m; k++) {
        size_t i = reverse ? m - 1 - k : k;
        size_t off = cuts[i], seg = cuts[i + 1] - cuts[i];
        tcp_segment(c, t_us + k * step_us, dir, base + (uint32_t)off, TCP_PSH | TCP_ACK, data + off,
                    seg);
        if (i == m - 1)
            remember(c, dir, base + (uint32_t)off, data + off, seg);
    }
    c->next_seq[dir] = base + (uint32_t)len;
    free(cuts);
}

void pcapgen_tcp_retransmit(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir)
{
    if (!c->last[dir])
        return;
    tcp_segment(c, t_us, dir, c->last_seq[dir], TCP_PSH | TCP_ACK, c->last[dir], c->last_len[dir]);
}

void pcapgen_tcp_ack(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir)
{
    tcp_segment(c, t_us, dir, c->next_seq[dir], TCP_ACK, NULL, 0);
}

void pcapgen_tcp_fin(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir)
{
    tcp_segment(c, t_us, dir, c->next_seq[dir], TCP_FIN | TCP_ACK, NULL, 0);
    c->next_seq[dir]++;
}

void pcapgen_tcp_rst(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir)
{
    tcp_segment(c, t_us, dir, c->next_seq[dir], TCP_RST | TCP_ACK, NULL, 0);
}

/*
 * tcp: TCP header decode and per-connection stream reassembly for SIP.
 *
 * A connection is keyed by its canonical 5-tuple (the lower endpoint first),
 * so both directions find the same struct tcp_stream. Direction 0 is the
 * initiator when the SYN or SYN-ACK was seen, otherwise the first sender
 * seen: captures often start mid-connection, so the first segment of each
 * direction fixes where its byte stream starts (no SYN needed).
 *
 * Each direction keeps the next expected sequence number, the bytes the
 * handler has not consumed yet (tail) and out-of-order segments (a list
 * sorted by sequence). A segment at the expected sequence is handed to
 * handlers.tcp_data straight from the captured bytes when no tail is pending
 * (zero copy); otherwise it is appended to the tail and the tail presented.
 * Whatever the handler leaves unconsumed is kept for the next call. Segments
 * wholly before the expected sequence are retransmissions (dropped, counted);
 * partly before, overlaps (the new part is kept: first bytes win). Segments
 * further ahead than tcp_max_pending are outside any window we would buffer
 * (tcp_beyond_window). When the buffered bytes of a direction (tail plus
 * out-of-order) would pass tcp_max_pending the capture has most likely lost a
 * segment: the gap is skipped (tcp_pending_overflow, tcp_gap_skipped), the
 * tail dropped and delivery resumes at the first buffered segment, so one lost
 * packet cannot stall a connection forever.
 *
 * A connection ends with a FIN from both sides (tcp_closed_fin), an RST
 * (tcp_closed_rst), tcp_idle_timeout_ms of capture time without a segment
 * (tcp_idle_timeout) or eviction of the least recently used one when
 * tcp_max_streams are followed (tcp_evicted); each calls handlers.tcp_close.
 *
 * All streams together hold at most tcp_max_buffered bytes (tails' allocations
 * and queued segments, headers included). A stream that needs room takes it
 * from the streams that have been idle longest: their buffered bytes are
 * dropped (tcp_buffer_evicted, tcp_buffer_evicted_bytes) and each of their
 * directions resumes after what it had queued, as after a gap. The stream
 * being fed is never evicted for itself; when no other buffer is left to
 * take, the segment or bytes are not kept (tcp_buffer_full). A tail the
 * handler has emptied is freed at once, so an idle stream holds nothing.
 *
 * Checksums are not verified (offload, as for UDP). A segment the capture cut
 * short (packet.truncated) counts as TCP but stays out of its stream
 * (tcp_segment_truncated): its missing bytes are a gap like a lost segment's.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "decoders/decode_internal.h"

#define TCP_MIN_HEADER_LEN 20
#define TCP_FLAG_FIN       0x01
#define TCP_FLAG_SYN       0x02
#define TCP_FLAG_RST       0x04
#define TCP_FLAG_ACK       0x10

struct tcp_key {
    struct net_addr addr_low, addr_high;
    uint16_t port_low, port_high;
};

struct tcp_segment {
    struct tcp_segment *next;
    uint32_t seq;
    uint32_t len;
    bool fin;
    uint8_t data[];
};

struct tcp_half {
    bool seq_known;
    bool fin_done;
    uint32_t next_seq;
    uint64_t scan_state;       /* the handler's word about the tail (tcp_data.scan_state) */
    struct buf tail;           /* delivered in order, not consumed by the handler yet */
    struct tcp_segment *queue; /* out of order, sorted by seq */
    size_t queued_bytes;
};

struct tcp_stream {
    struct tcp_key key;
    uint64_t id;
    uint64_t last_ts_us;
    struct list_node lru;       /* on the table's lru */
    struct list_node held_link; /* on the table's held, while held > 0 */
    size_t held;                /* bytes counted in tcp_table.held_bytes */
    struct endpoint from[2];    /* sender of each direction */
    struct tcp_half half[2];
};

bool tcp_table_init(struct tcp_table *t, const struct decoder_config *cfg)
{
    memset(t, 0, sizeof(*t));
    t->next_stream_id = 1;
    return hashtab_init(&t->streams, offsetof(struct tcp_stream, key), sizeof(struct tcp_key),
                        cfg->tcp_max_streams);
}

/* ---- the global buffer cap ---- */

static size_t tcp_segment_size(const struct tcp_segment *seg)
{
    return sizeof(*seg) + seg->len;
}

static void tcp_held_grow(struct tcp_table *t, struct tcp_stream *s, size_t n)
{
    if (n == 0)
        return;
    if (s->held == 0)
        list_push_back(&t->held, &s->held_link);
    s->held += n;
    t->held_bytes += n;
}

static void tcp_held_shrink(struct tcp_table *t, struct tcp_stream *s, size_t n)
{
    if (n == 0)
        return;
    s->held -= n;
    t->held_bytes -= n;
    if (s->held == 0)
        list_unlink(&t->held, &s->held_link);
}

/* A segment arrived for s: it becomes the last its buffers are taken from. */
static void tcp_held_touch(struct tcp_table *t, struct tcp_stream *s)
{
    if (s->held)
        list_move_back(&t->held, &s->held_link);
}

static void tcp_half_clear_queue(struct tcp_table *t, struct tcp_stream *s, struct tcp_half *h)
{
    while (h->queue) {
        struct tcp_segment *seg = h->queue;
        h->queue = seg->next;
        tcp_held_shrink(t, s, tcp_segment_size(seg));
        free(seg);
    }
    h->queued_bytes = 0;
}

static void tcp_half_free_tail(struct tcp_table *t, struct tcp_stream *s, struct tcp_half *h)
{
    tcp_held_shrink(t, s, h->tail.cap);
    buf_free(&h->tail);
    h->scan_state = 0;
}

/* Drops what one direction buffers; it resumes after the last queued byte,
 * as when the capture loses a segment. Returns the bytes dropped. */
static size_t tcp_half_drop(struct tcp_table *t, struct tcp_stream *s, struct tcp_half *h)
{
    size_t before = s->held;
    for (struct tcp_segment *seg = h->queue; seg; seg = seg->next) {
        uint32_t end = seg->seq + seg->len;
        if ((int32_t)(end - h->next_seq) > 0)
            h->next_seq = end;
    }
    tcp_half_clear_queue(t, s, h);
    tcp_half_free_tail(t, s, h);
    return before - s->held;
}

/* Room for `need` more bytes under tcp_max_buffered, taken from the streams
 * idle longest (never from s itself). false, counted, if there is none. */
static bool tcp_make_room(struct decoder *d, struct tcp_stream *s, size_t need)
{
    struct tcp_table *t = &d->tcp;
    size_t max = d->cfg.tcp_max_buffered;
    struct tcp_stream *victim;
    while (t->held_bytes + need > max &&
           (victim = list_entry(list_first(&t->held), struct tcp_stream, held_link)) &&
           victim != s) {
        (*d->c.tcp_buffer_evicted)++;
        for (int i = 0; i < 2; i++)
            *d->c.tcp_buffer_evicted_bytes += tcp_half_drop(t, victim, &victim->half[i]);
    }
    if (t->held_bytes + need <= max)
        return true;
    (*d->c.tcp_buffer_full)++;
    return false;
}

/* What appending n bytes may add to the tail's allocation (buf doubles). */
static size_t tcp_tail_growth(const struct buf *b, size_t n)
{
    size_t want = b->len + n;
    if (want <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    return (cap > b->max_len ? b->max_len : cap) - b->cap;
}

/* Appends to a direction's tail within both caps; false (counted) if not
 * kept: the handler has held more than a direction may without finding a
 * message end (tcp_pending_overflow), or all buffers are full. */
static bool tcp_tail_append(struct decoder *d, struct tcp_stream *s, struct tcp_half *h,
                            const uint8_t *data, size_t len)
{
    if (len > h->tail.max_len - h->tail.len) {
        (*d->c.tcp_pending_overflow)++;
        return false;
    }
    if (!tcp_make_room(d, s, tcp_tail_growth(&h->tail, len)))
        return false;
    size_t cap = h->tail.cap;
    bool ok = buf_append(&h->tail, data, len);
    tcp_held_grow(&d->tcp, s, h->tail.cap - cap);
    return ok;
}

static struct tcp_stream *tcp_least_recent(const struct tcp_table *t)
{
    return list_entry(list_first(&t->lru), struct tcp_stream, lru);
}

/* Forgets the stream; tells the handler first when `notify`. */
static void tcp_stream_close(struct decoder *d, struct tcp_stream *s, bool notify)
{
    if (notify && d->handlers.tcp_close)
        d->handlers.tcp_close(d->handlers.user, s->id);
    hashtab_remove(&d->tcp.streams, s);
    list_unlink(&d->tcp.lru, &s->lru);
    for (int i = 0; i < 2; i++) {
        tcp_half_clear_queue(&d->tcp, s, &s->half[i]);
        tcp_half_free_tail(&d->tcp, s, &s->half[i]);
    }
    free(s);
}

void tcp_table_destroy(struct decoder *d)
{
    while (!list_empty(&d->tcp.lru))
        tcp_stream_close(d, tcp_least_recent(&d->tcp), false);
    hashtab_destroy(&d->tcp.streams);
}

void tcp_expire(struct decoder *d, uint64_t now_us)
{
    uint64_t timeout = (uint64_t)d->cfg.tcp_idle_timeout_ms * 1000;
    struct tcp_stream *s;
    while ((s = tcp_least_recent(&d->tcp)) && now_us > s->last_ts_us &&
           now_us - s->last_ts_us >= timeout) {
        (*d->c.tcp_idle_timeout)++;
        tcp_stream_close(d, s, true);
    }
}

static struct tcp_stream *tcp_stream_new(struct decoder *d, const struct tcp_key *key)
{
    if (hashtab_count(&d->tcp.streams) >= d->cfg.tcp_max_streams) {
        if (list_empty(&d->tcp.lru))
            return NULL;
        (*d->c.tcp_evicted)++;
        tcp_stream_close(d, tcp_least_recent(&d->tcp), true);
    }
    struct tcp_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        (*d->c.tcp_no_memory)++;
        return NULL;
    }
    s->key = *key;
    if (!hashtab_insert(&d->tcp.streams, s)) {
        (*d->c.tcp_no_memory)++;
        free(s);
        return NULL;
    }
    s->id = d->tcp.next_stream_id++;
    for (int i = 0; i < 2; i++)
        buf_init(&s->half[i].tail, d->cfg.tcp_max_pending);
    list_push_back(&d->tcp.lru, &s->lru);
    (*d->c.tcp_streams)++;
    return s;
}

static size_t tcp_call_handler(struct decoder *d, struct tcp_stream *s, int dir, uint64_t ts_us,
                               const uint8_t *data, size_t len)
{
    struct tcp_data td = {
        .ts_us = ts_us,
        .stream_id = s->id,
        .direction = dir,
        .src = s->from[dir],
        .dst = s->from[1 - dir],
        .data = data,
        .len = len,
        .scan_state = &s->half[dir].scan_state,
    };
    size_t consumed = d->handlers.tcp_data(d->handlers.user, &td);
    return consumed > len ? len : consumed;
}

/* In-order bytes: to the handler, with whatever it left unconsumed before. */
static void tcp_deliver(struct decoder *d, struct tcp_stream *s, int dir, uint64_t ts_us,
                        const uint8_t *data, size_t len)
{
    struct tcp_half *h = &s->half[dir];
    h->next_seq += (uint32_t)len;
    if (len == 0 || !d->handlers.tcp_data)
        return;
    if (h->tail.len > 0) {
        if (tcp_tail_append(d, s, h, data, len)) {
            size_t consumed = tcp_call_handler(d, s, dir, ts_us, h->tail.data, h->tail.len);
            buf_consume(&h->tail, consumed);
            if (h->tail.len == 0)
                tcp_half_free_tail(&d->tcp, s, h);
            return;
        }
        /* Give up on the bytes kept so far and start afresh. */
        tcp_half_free_tail(&d->tcp, s, h);
    }
    h->scan_state = 0;
    size_t consumed = tcp_call_handler(d, s, dir, ts_us, data, len);
    if (consumed < len && !tcp_tail_append(d, s, h, data + consumed, len - consumed))
        tcp_half_free_tail(&d->tcp, s, h);
    if (h->tail.len == 0)
        h->scan_state = 0;
}

/* Delivers queued segments that the expected sequence has reached. Returns
 * false if the stream was closed (FIN from both sides). */
static bool tcp_drain_queue(struct decoder *d, struct tcp_stream *s, int dir, uint64_t ts_us);

static bool tcp_fin(struct decoder *d, struct tcp_stream *s, int dir)
{
    struct tcp_half *h = &s->half[dir];
    if (!h->fin_done) {
        h->fin_done = true;
        h->next_seq++;
    }
    if (s->half[0].fin_done && s->half[1].fin_done) {
        (*d->c.tcp_closed_fin)++;
        tcp_stream_close(d, s, true);
        return false;
    }
    return true;
}

static bool tcp_drain_queue(struct decoder *d, struct tcp_stream *s, int dir, uint64_t ts_us)
{
    struct tcp_half *h = &s->half[dir];
    while (h->queue && (int32_t)(h->queue->seq - h->next_seq) <= 0) {
        struct tcp_segment *seg = h->queue;
        h->queue = seg->next;
        h->queued_bytes -= seg->len;
        tcp_held_shrink(&d->tcp, s, tcp_segment_size(seg));
        uint32_t skip = h->next_seq - seg->seq;
        bool alive = true;
        if (skip < seg->len || (skip == seg->len && seg->fin)) {
            if (skip > 0)
                (*d->c.tcp_overlap)++;
            tcp_deliver(d, s, dir, ts_us, seg->data + skip, seg->len - skip);
            if (seg->fin)
                alive = tcp_fin(d, s, dir);
        } else {
            (*d->c.tcp_retransmission)++;
        }
        free(seg);
        if (!alive)
            return false;
    }
    return true;
}

/* Jumps over a gap the capture will most likely never fill. Returns false if
 * the stream was closed (a queued FIN from both sides). */
static bool tcp_skip_gap(struct decoder *d, struct tcp_stream *s, int dir, uint64_t ts_us)
{
    struct tcp_half *h = &s->half[dir];
    (*d->c.tcp_gap_skipped)++;
    tcp_half_free_tail(&d->tcp, s, h);
    if (!h->queue)
        return true;
    h->next_seq = h->queue->seq;
    return tcp_drain_queue(d, s, dir, ts_us);
}

static void tcp_queue_segment(struct decoder *d, struct tcp_stream *s, int dir, uint32_t seq,
                              const uint8_t *data, size_t len, bool fin)
{
    struct tcp_half *h = &s->half[dir];
    struct tcp_segment **at = &h->queue;
    while (*at && (int32_t)((*at)->seq - seq) < 0)
        at = &(*at)->next;
    if (*at && (*at)->seq == seq && (*at)->len >= len) {
        (*d->c.tcp_retransmission)++;
        return;
    }
    if (!tcp_make_room(d, s, sizeof(struct tcp_segment) + len))
        return;
    struct tcp_segment *seg = malloc(sizeof(*seg) + len);
    if (!seg) {
        (*d->c.tcp_no_memory)++;
        return;
    }
    seg->seq = seq;
    seg->len = (uint32_t)len;
    seg->fin = fin;
    if (len)
        memcpy(seg->data, data, len);
    seg->next = *at;
    *at = seg;
    h->queued_bytes += len;
    tcp_held_grow(&d->tcp, s, tcp_segment_size(seg));
    (*d->c.tcp_out_of_order)++;
}

static void tcp_segment_process(struct decoder *d, struct tcp_stream *s, int dir, uint64_t ts_us,
                                uint32_t seq, const uint8_t *data, size_t len, bool fin)
{
    struct tcp_half *h = &s->half[dir];
    int32_t ahead = (int32_t)(seq - h->next_seq);
    if (ahead < 0) {
        uint32_t behind = h->next_seq - seq; /* modular: INT32_MIN must not be negated */
        if (behind >= len && !(behind == len && fin && !h->fin_done)) {
            if (len > 0 || (fin && h->fin_done))
                (*d->c.tcp_retransmission)++;
            return;
        }
        (*d->c.tcp_overlap)++;
        data += behind;
        len -= behind;
        ahead = 0;
    }
    if (ahead == 0) {
        tcp_deliver(d, s, dir, ts_us, data, len);
        if (fin && !tcp_fin(d, s, dir))
            return;
        tcp_drain_queue(d, s, dir, ts_us);
        return;
    }
    bool beyond = (size_t)ahead > d->cfg.tcp_max_pending;
    if (beyond && !h->queue) {
        (*d->c.tcp_beyond_window)++;
        return;
    }
    /* Far ahead while segments already wait past a gap: the stream has moved
     * on without the missing bytes, as when the buffer fills up. */
    size_t max = d->cfg.tcp_max_pending;
    if (beyond || h->tail.len + h->queued_bytes + len > max) {
        (*d->c.tcp_pending_overflow)++;
        /* Skip gaps until this segment is within reach and fits (each pass
         * delivers at least the first queued segment, so this ends). */
        do {
            if (!tcp_skip_gap(d, s, dir, ts_us))
                return;
            if (!h->queue)
                break;
            ahead = (int32_t)(seq - h->next_seq);
        } while ((ahead > 0 && (size_t)ahead > max) || h->tail.len + h->queued_bytes + len > max);
        if (!h->queue && (int32_t)(seq - h->next_seq) > 0)
            h->next_seq = seq; /* nothing left buffered: resume at this segment */
        if (h->tail.len + h->queued_bytes + len > max)
            return;
        /* Now in order, old, or queued within bounds: no second overflow. */
        tcp_segment_process(d, s, dir, ts_us, seq, data, len, fin);
        return;
    }
    tcp_queue_segment(d, s, dir, seq, data, len, fin);
}

static void tcp_key_make(struct tcp_key *key, const struct packet *p, bool *src_is_low)
{
    memset(key, 0, sizeof(*key));
    int order = memcmp(&p->src, &p->dst, sizeof(p->src));
    *src_is_low = order < 0 || (order == 0 && p->sport <= p->dport);
    if (*src_is_low) {
        key->addr_low = p->src;
        key->addr_high = p->dst;
        key->port_low = p->sport;
        key->port_high = p->dport;
    } else {
        key->addr_low = p->dst;
        key->addr_high = p->src;
        key->port_low = p->dport;
        key->port_high = p->sport;
    }
}

static void tcp_stream_track(struct decoder *d, struct packet *p, uint32_t seq, uint8_t flags)
{
    struct tcp_key key;
    bool src_is_low;
    tcp_key_make(&key, p, &src_is_low);
    struct tcp_stream *s = hashtab_find(&d->tcp.streams, &key);
    if (!s) {
        /* A lone RST or a bare ACK with no data teaches nothing. */
        if ((flags & TCP_FLAG_RST) ||
            (p->payload_len == 0 && !(flags & (TCP_FLAG_SYN | TCP_FLAG_FIN))))
            return;
        s = tcp_stream_new(d, &key);
        if (!s)
            return;
        struct endpoint src = {p->src, p->sport}, dst = {p->dst, p->dport};
        /* A SYN-ACK comes from the responder. */
        bool responder = (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK);
        s->from[0] = responder ? dst : src;
        s->from[1] = responder ? src : dst;
    } else {
        list_move_back(&d->tcp.lru, &s->lru);
        tcp_held_touch(&d->tcp, s);
    }
    s->last_ts_us = p->ts_us;
    if (flags & TCP_FLAG_RST) {
        (*d->c.tcp_closed_rst)++;
        tcp_stream_close(d, s, true);
        return;
    }
    int dir = (net_addr_equal(&p->src, &s->from[0].addr) && p->sport == s->from[0].port) ? 0 : 1;
    struct tcp_half *h = &s->half[dir];
    if (flags & TCP_FLAG_SYN)
        seq++; /* the SYN takes one sequence number; data follows it */
    if (!h->seq_known) {
        h->seq_known = true;
        h->next_seq = seq;
    }
    bool fin = flags & TCP_FLAG_FIN;
    if (p->payload_len == 0 && !fin)
        return;
    tcp_segment_process(d, s, dir, p->ts_us, seq, p->payload, p->payload_len, fin);
}

void decode_tcp(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    if (len < TCP_MIN_HEADER_LEN) {
        (*d->c.tcp_truncated)++;
        return;
    }
    size_t header_len = (size_t)(data[12] >> 4) * 4;
    if (header_len >= TCP_MIN_HEADER_LEN && header_len > len && p->truncated) {
        (*d->c.tcp_truncated)++;
        return;
    }
    if (header_len < TCP_MIN_HEADER_LEN || header_len > len) {
        (*d->c.tcp_bad_offset)++;
        return;
    }
    (*d->c.tcp)++;
    p->sport = read_be16(data);
    p->dport = read_be16(data + 2);
    p->payload = data + header_len;
    p->payload_len = (uint32_t)(len - header_len);
    if (!d->handlers.tcp_data && !d->handlers.tcp_close)
        return;
    /* The stream would take the captured part for the whole segment. */
    if (p->truncated) {
        (*d->c.tcp_segment_truncated)++;
        return;
    }
    tcp_stream_track(d, p, read_be32(data + 4), data[13]);
}

/*
 * frag: IPv4 and IPv6 fragment reassembly.
 *
 * A datagram in progress is keyed by (source, destination, identification,
 * protocol) and holds a buffer of the IP payload seen so far plus a sorted
 * list of the byte ranges received, merged as they touch. Policy for
 * overlapping fragments: the first bytes received win; a later fragment only
 * fills holes (counted as frag_overlap, or frag_duplicate when it brings
 * nothing new), so an attacker cannot rewrite a header already seen. The
 * datagram is complete when the last fragment (MF clear) has fixed its length
 * and the ranges cover [0, length) in one piece; it is then decoded like any
 * other transport payload, with packet.reassembled set, and freed. A
 * fragment the capture cut short is not kept (frag_truncated): its datagram
 * cannot be made whole and times out.
 *
 * Bounds: the total IP datagram never passes 65535 bytes (frag_too_big),
 * a datagram holds at most FRAG_MAX_RANGES disjoint pieces, at most
 * frag_max_datagrams datagrams are in progress (the oldest is evicted,
 * frag_evicted) and at most frag_max_per_source from one source address (new
 * datagrams from it are refused, frag_per_source_cap). Incomplete datagrams
 * older than frag_timeout_ms of capture time are dropped (frag_timeout), from
 * decoder_expire() and before each new frame. Allocation happens once per
 * datagram and as its buffer grows, never for unfragmented traffic.
 */
#include <stdlib.h>
#include <string.h>

#include "decoders/decode_internal.h"

#define FRAG_MAX_DATAGRAM     65535u
#define FRAG_MAX_RANGES       64
#define FRAG_INITIAL_CAPACITY 2048u

struct frag_key {
    struct net_addr src, dst;
    uint32_t id;
    uint8_t proto;
    uint8_t unused[3]; /* zeroed: the key is hashed and compared as bytes */
};

struct frag_range {
    uint32_t start, end; /* [start, end) of the IP payload */
};

struct frag_source {
    struct net_addr addr;
    size_t datagrams;
};

struct frag_datagram {
    struct frag_key key;
    struct list_node age; /* on the table's by_age */
    struct frag_source *source;
    uint64_t first_ts_us;
    uint32_t total_len; /* valid once have_last */
    bool have_last;
    uint32_t header_len; /* of the IP header(s) before the payload, for the size limit */
    uint8_t *data;
    uint32_t capacity;
    unsigned range_count;
    struct frag_range ranges[FRAG_MAX_RANGES];
};

bool frag_table_init(struct frag_table *t, const struct decoder_config *cfg)
{
    memset(t, 0, sizeof(*t));
    if (!hashtab_init(&t->datagrams, offsetof(struct frag_datagram, key), sizeof(struct frag_key),
                      cfg->frag_max_datagrams))
        return false;
    if (!hashtab_init(&t->sources, offsetof(struct frag_source, addr), sizeof(struct net_addr),
                      cfg->frag_max_datagrams)) {
        hashtab_destroy(&t->datagrams);
        return false;
    }
    return true;
}

static void frag_datagram_free(struct frag_table *t, struct frag_datagram *g)
{
    hashtab_remove(&t->datagrams, g);
    list_unlink(&t->by_age, &g->age);
    if (g->source && --g->source->datagrams == 0) {
        hashtab_remove(&t->sources, g->source);
        free(g->source);
    }
    free(g->data);
    free(g);
}

static struct frag_datagram *frag_oldest(const struct frag_table *t)
{
    return list_entry(list_first(&t->by_age), struct frag_datagram, age);
}

void frag_table_destroy(struct frag_table *t)
{
    while (!list_empty(&t->by_age))
        frag_datagram_free(t, frag_oldest(t));
    hashtab_destroy(&t->datagrams);
    hashtab_destroy(&t->sources);
}

void frag_expire(struct decoder *d, uint64_t now_us)
{
    uint64_t timeout = (uint64_t)d->cfg.frag_timeout_ms * 1000;
    struct frag_table *t = &d->frag;
    /* Creation order is capture order, so the oldest is always at the head. */
    struct frag_datagram *g;
    while ((g = frag_oldest(t)) && now_us > g->first_ts_us && now_us - g->first_ts_us >= timeout) {
        (*d->c.frag_timeout)++;
        frag_datagram_free(t, g);
    }
}

static struct frag_source *frag_source_get(struct frag_table *t, const struct net_addr *addr)
{
    struct frag_source *s = hashtab_find(&t->sources, addr);
    if (s)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->addr = *addr;
    if (!hashtab_insert(&t->sources, s)) {
        free(s);
        return NULL;
    }
    return s;
}

static struct frag_datagram *frag_datagram_new(struct decoder *d, const struct frag_key *key,
                                               uint64_t ts_us)
{
    struct frag_table *t = &d->frag;
    struct frag_source *source = hashtab_find(&t->sources, &key->src);
    if (source && source->datagrams >= d->cfg.frag_max_per_source) {
        (*d->c.frag_per_source_cap)++;
        return NULL;
    }
    if (hashtab_count(&t->datagrams) >= d->cfg.frag_max_datagrams) {
        if (list_empty(&t->by_age))
            return NULL;
        (*d->c.frag_evicted)++;
        frag_datagram_free(t, frag_oldest(t));
    }
    struct frag_datagram *g = calloc(1, sizeof(*g));
    if (!g)
        goto no_memory;
    g->key = *key;
    g->first_ts_us = ts_us;
    g->source = frag_source_get(t, &key->src);
    if (!g->source)
        goto no_memory;
    if (!hashtab_insert(&t->datagrams, g)) {
        if (g->source->datagrams == 0) {
            hashtab_remove(&t->sources, g->source);
            free(g->source);
        }
        goto no_memory;
    }
    g->source->datagrams++;
    list_push_back(&t->by_age, &g->age);
    return g;
no_memory:
    (*d->c.frag_no_memory)++;
    free(g);
    return NULL;
}

static bool frag_reserve(struct frag_datagram *g, uint32_t end)
{
    if (end <= g->capacity)
        return true;
    uint32_t capacity = g->capacity ? g->capacity : FRAG_INITIAL_CAPACITY;
    while (capacity < end)
        capacity *= 2;
    if (capacity > FRAG_MAX_DATAGRAM)
        capacity = FRAG_MAX_DATAGRAM;
    uint8_t *data = realloc(g->data, capacity);
    if (!data)
        return false;
    g->data = data;
    g->capacity = capacity;
    return true;
}

/*
 * Copies the bytes of [start, end) that no earlier fragment supplied and
 * merges the range into the sorted list. Returns the number of bytes that
 * were already present, or -1 if the list would pass FRAG_MAX_RANGES.
 */
static long frag_range_add(struct frag_datagram *g, uint32_t start, uint32_t end,
                           const uint8_t *bytes)
{
    /* First the ranges that end before start, untouched. */
    unsigned i = 0;
    while (i < g->range_count && g->ranges[i].end < start)
        i++;
    /* Ranges i..j-1 touch or overlap [start, end): merge them into one. */
    unsigned j = i;
    uint32_t cursor = start;
    long already = 0;
    while (j < g->range_count && g->ranges[j].start <= end) {
        struct frag_range r = g->ranges[j];
        if (r.start > cursor)
            memcpy(g->data + cursor, bytes + (cursor - start), r.start - cursor);
        if (r.end > cursor) {
            uint32_t covered_from = r.start > cursor ? r.start : cursor;
            uint32_t covered_to = r.end < end ? r.end : end;
            if (covered_to > covered_from)
                already += covered_to - covered_from;
            cursor = r.end;
        }
        j++;
    }
    if (cursor < end)
        memcpy(g->data + cursor, bytes + (cursor - start), end - cursor);
    struct frag_range merged = {start, end};
    if (j > i) {
        if (g->ranges[i].start < merged.start)
            merged.start = g->ranges[i].start;
        if (g->ranges[j - 1].end > merged.end)
            merged.end = g->ranges[j - 1].end;
    }
    unsigned removed = j - i;
    if (removed == 0 && g->range_count == FRAG_MAX_RANGES)
        return -1;
    /* Replace ranges i..j-1 by the merged one. */
    if (removed != 1) {
        memmove(&g->ranges[i + 1], &g->ranges[j], (g->range_count - j) * sizeof(g->ranges[0]));
        g->range_count = g->range_count + 1 - removed;
    }
    g->ranges[i] = merged;
    return already;
}

void frag_add(struct decoder *d, struct packet *p, uint32_t id, uint8_t proto, uint32_t offset,
              bool more, size_t header_len, const uint8_t *data, size_t len)
{
    (*d->c.frag_fragments)++;
    /* A fragment cut by the capture would leave a hole filled with nothing. */
    if (p->truncated) {
        (*d->c.frag_truncated)++;
        return;
    }
    if (offset + len + header_len > FRAG_MAX_DATAGRAM) {
        (*d->c.frag_too_big)++;
        return;
    }
    /* Every fragment but the last carries a multiple of 8 bytes (RFC 791, 8200). */
    if ((more && (len == 0 || len % 8 != 0))) {
        (*d->c.frag_bad_length)++;
        return;
    }
    uint32_t end = offset + (uint32_t)len;
    struct frag_key key;
    memset(&key, 0, sizeof(key));
    key.src = p->src;
    key.dst = p->dst;
    key.id = id;
    key.proto = proto;
    struct frag_datagram *g = hashtab_find(&d->frag.datagrams, &key);
    if (!g) {
        g = frag_datagram_new(d, &key, p->ts_us);
        if (!g)
            return;
    }
    if (offset == 0)
        g->header_len = (uint32_t)header_len;
    /* The last fragment fixes the length; nothing may lie beyond it, and a
     * second "last" fragment must agree. */
    if ((!more && ((g->have_last && g->total_len != end) ||
                   (g->range_count && g->ranges[g->range_count - 1].end > end))) ||
        (g->have_last && end > g->total_len) || end + g->header_len > FRAG_MAX_DATAGRAM) {
        (*d->c.frag_bad_length)++;
        frag_datagram_free(&d->frag, g);
        return;
    }
    if (!more) {
        g->have_last = true;
        g->total_len = end;
    }
    if (!frag_reserve(g, end)) {
        (*d->c.frag_no_memory)++;
        frag_datagram_free(&d->frag, g);
        return;
    }
    long already = len ? frag_range_add(g, offset, end, data) : 0;
    if (already < 0) {
        (*d->c.frag_too_many_pieces)++;
        frag_datagram_free(&d->frag, g);
        return;
    }
    if (already > 0) {
        if ((size_t)already == len)
            (*d->c.frag_duplicate)++;
        else
            (*d->c.frag_overlap)++;
    }
    if (!g->have_last || g->range_count != 1 || g->ranges[0].start != 0 ||
        g->ranges[0].end != g->total_len)
        return;
    (*d->c.frag_reassembled)++;
    p->reassembled = true;
    decode_reassembled(d, p, proto, g->data, g->total_len);
    frag_datagram_free(&d->frag, g);
}

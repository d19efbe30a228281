/*
 * sctp: SIP over SCTP (RFC 4168), as carriers' IMS and some SBC trunks use
 * it. The common header, then the chunks; each DATA chunk goes to the
 * caller's sctp handler as one user message (one SIP message), like a UDP
 * datagram. A user message larger than the path MTU comes in several DATA
 * chunks (B flag on the first, E on the last, consecutive TSNs on one
 * stream): those are put back together here, in at most SCTP_MAX_PARTIAL
 * messages at once of at most SCTP_MAX_MESSAGE bytes, each given
 * SCTP_PARTIAL_TIMEOUT to complete. A chunk out of sequence (loss,
 * reordering) drops the message being rebuilt; all of it is counted.
 * Checksums are not verified (offloading, as for UDP).
 */
#include "decoders/decode_internal.h"

#include <stdlib.h>
#include <string.h>

#define SCTP_HEADER_LEN     12
#define SCTP_CHUNK_HEADER   4
#define SCTP_DATA_HEADER    16
#define SCTP_CHUNK_DATA     0
#define SCTP_FLAG_BEGINNING 0x02
#define SCTP_FLAG_ENDING    0x01

static void partial_drop(struct decoder *d, struct sctp_partial *m)
{
    free(m->buf);
    memset(m, 0, sizeof(*m));
    d->sctp_partials--;
}

void sctp_partials_free(struct decoder *d)
{
    for (size_t i = 0; i < SCTP_MAX_PARTIAL; i++)
        if (d->sctp[i].used)
            partial_drop(d, &d->sctp[i]);
}

/* Messages past their timeout are dropped (counted); any SCTP packet's time
 * moves the clock, so a beginning whose end never comes does not linger. */
static void partials_expire(struct decoder *d, uint64_t now_us)
{
    for (size_t i = 0; i < SCTP_MAX_PARTIAL && d->sctp_partials; i++) {
        struct sctp_partial *m = &d->sctp[i];
        if (m->used && now_us > m->started_us && now_us - m->started_us > SCTP_PARTIAL_TIMEOUT) {
            (*d->c.sctp_reassembly_dropped)++;
            partial_drop(d, m);
        }
    }
}

static bool partial_matches(const struct sctp_partial *m, const struct packet *p, uint16_t stream)
{
    return m->used && m->sport == p->sport && m->dport == p->dport && m->stream == stream &&
           net_addr_equal(&m->src, &p->src) && net_addr_equal(&m->dst, &p->dst);
}

/* The message being rebuilt for this stream, or NULL. */
static struct sctp_partial *partial_find(struct decoder *d, const struct packet *p, uint16_t stream)
{
    for (size_t i = 0; i < SCTP_MAX_PARTIAL; i++)
        if (partial_matches(&d->sctp[i], p, stream))
            return &d->sctp[i];
    return NULL;
}

/* A free slot, else the oldest message's (dropped, counted). */
static struct sctp_partial *partial_slot(struct decoder *d)
{
    struct sctp_partial *oldest = &d->sctp[0];
    for (size_t i = 0; i < SCTP_MAX_PARTIAL; i++) {
        if (!d->sctp[i].used)
            return &d->sctp[i];
        if (d->sctp[i].started_us < oldest->started_us)
            oldest = &d->sctp[i];
    }
    (*d->c.sctp_reassembly_dropped)++;
    partial_drop(d, oldest);
    return oldest;
}

static bool partial_append(struct sctp_partial *m, const uint8_t *data, size_t len)
{
    if (len > SCTP_MAX_MESSAGE - m->len)
        return false;
    uint8_t *buf = realloc(m->buf, m->len + len);
    if (!buf)
        return false;
    memcpy(buf + m->len, data, len);
    m->buf = buf;
    m->len += len;
    return true;
}

static void deliver(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    if (len == 0 || !d->handlers.sctp)
        return;
    p->payload = data;
    p->payload_len = (uint32_t)len;
    d->handlers.sctp(d->handlers.user, p);
}

static void data_chunk(struct decoder *d, struct packet *p, uint8_t flags, const uint8_t *chunk,
                       size_t chunk_len)
{
    uint32_t tsn = read_be32(chunk + 4);
    uint16_t stream = read_be16(chunk + 8);
    const uint8_t *data = chunk + SCTP_DATA_HEADER;
    size_t len = chunk_len - SCTP_DATA_HEADER;
    bool begins = flags & SCTP_FLAG_BEGINNING, ends = flags & SCTP_FLAG_ENDING;
    (*d->c.sctp_data_chunks)++;
    if (begins && ends) {
        deliver(d, p, data, len);
        return;
    }
    (*d->c.sctp_fragmented)++;
    struct sctp_partial *m = partial_find(d, p, stream);
    if (begins) {
        if (m) {
            (*d->c.sctp_reassembly_dropped)++; /* its end never came */
            partial_drop(d, m);
        } else {
            m = partial_slot(d);
        }
        m->used = true;
        d->sctp_partials++;
        m->src = p->src;
        m->dst = p->dst;
        m->sport = p->sport;
        m->dport = p->dport;
        m->stream = stream;
        m->started_us = p->ts_us;
        m->next_tsn = tsn + 1;
        if (!partial_append(m, data, len)) {
            (*d->c.sctp_reassembly_dropped)++;
            partial_drop(d, m);
        }
        return;
    }
    if (!m)
        return; /* a middle or end whose beginning was not seen */
    if (tsn != m->next_tsn || !partial_append(m, data, len)) {
        (*d->c.sctp_reassembly_dropped)++;
        partial_drop(d, m);
        return;
    }
    m->next_tsn = tsn + 1;
    if (ends) {
        (*d->c.sctp_reassembled)++;
        deliver(d, p, m->buf, m->len);
        partial_drop(d, m);
    }
}

void decode_sctp(struct decoder *d, struct packet *p, const uint8_t *data, size_t len)
{
    (*d->c.sctp)++;
    if (len < SCTP_HEADER_LEN) {
        (*d->c.sctp_truncated)++;
        return;
    }
    if (d->sctp_partials)
        partials_expire(d, p->ts_us);
    p->sport = read_be16(data);
    p->dport = read_be16(data + 2);
    /* In a packet the capture cut short, the chunks before the cut are
     * whole; the one it falls in is dropped. */
    bool cut = p->truncated;
    p->truncated = false;
    size_t off = SCTP_HEADER_LEN;
    while (off + SCTP_CHUNK_HEADER <= len) {
        const uint8_t *chunk = data + off;
        size_t chunk_len = read_be16(chunk + 2);
        if (cut && chunk_len >= SCTP_CHUNK_HEADER && chunk_len > len - off) {
            (*d->c.sctp_truncated)++;
            return;
        }
        if (chunk_len < SCTP_CHUNK_HEADER || chunk_len > len - off ||
            (chunk[0] == SCTP_CHUNK_DATA && chunk_len < SCTP_DATA_HEADER)) {
            (*d->c.sctp_bad_chunk)++;
            return;
        }
        if (chunk[0] == SCTP_CHUNK_DATA)
            data_chunk(d, p, chunk[1], chunk, chunk_len);
        /* Chunks are padded to a multiple of four; the last one's padding
         * may be missing from a truncated capture. */
        off += (chunk_len + 3) & ~(size_t)3;
    }
}

/*
 * buf: the project's one growable byte buffer, with a hard size cap.
 *
 * Used where bytes must outlive the packet that carried them: TCP segments
 * waiting for a gap to fill, a SIP message split across segments, a JSON
 * line waiting for a slow socket. Appending past the cap fails rather than
 * growing without bound; the caller counts it.
 */
#ifndef SIPTAP_CORE_BUF_H
#define SIPTAP_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;     /* allocated */
    size_t max_len; /* hard cap */
};

void buf_init(struct buf *b, size_t max_len);
void buf_free(struct buf *b);
/* false (and b unchanged) if len + n would pass max_len or allocation fails. */
bool buf_append(struct buf *b, const void *data, size_t n);
/* Appends printf-formatted text, a line of at most 511 bytes (longer is
 * cut); false when it cannot be appended. */
bool buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
static inline void buf_clear(struct buf *b)
{
    b->len = 0;
}

#endif

/*
 * pcapgen_flood: SIP over TCP in quantities meant to hurt, for measuring the
 * decoder's buffering limits (docs/deployment.md records the figures).
 *
 * Each stream is built whole (its messages one after another), cut into
 * segments, and sent stream after stream; with hold_first the first data
 * segment of every stream is kept back and sent after everything else, so
 * every stream holds its data out of order at the same time. Message text is
 * deterministic: the same spec gives the same bytes.
 */
#include "tools/pcapgen/pcapgen_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOOD_PAD_LINE 120 /* bytes of one X-Pad header line, CRLF included */

/* One OPTIONS request: headers padded to header_bytes, then the body. */
static void flood_message(struct buf *b, const struct pcapgen_tcp_flood *f, unsigned stream,
                          unsigned msg)
{
    size_t start = b->len;
    pcapgen_buf_printf(b,
                       "OPTIONS sip:flood@pcapgen.test SIP/2.0\r\n"
                       "Via: SIP/2.0/TCP pcapgen.test;branch=z9hG4bK-flood-%u-%u\r\n"
                       "From: <sip:flood@pcapgen.test>;tag=f%u\r\n"
                       "To: <sip:flood@pcapgen.test>\r\n"
                       "Call-ID: flood-%u-%u@pcapgen\r\n"
                       "CSeq: %u OPTIONS\r\nMax-Forwards: 70\r\n",
                       stream, msg, stream, stream, msg, msg + 1);
    char pad[FLOOD_PAD_LINE + 1];
    memcpy(pad, "X-Pad: ", 7);
    for (size_t i = 7; i < FLOOD_PAD_LINE - 2; i++)
        pad[i] = (char)('a' + (i + msg) % 26);
    memcpy(pad + FLOOD_PAD_LINE - 2, "\r\n", 3);
    while (b->len - start + FLOOD_PAD_LINE <= f->header_bytes)
        pcapgen_buf_printf(b, "%s", pad);
    pcapgen_buf_printf(b, "Content-Length: %zu\r\n\r\n", f->body_bytes);
    char line[80];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    for (size_t left = f->body_bytes; left > 0;) {
        size_t n = left < sizeof(line) ? left : sizeof(line);
        if (!buf_append(b, line, n))
            abort();
        left -= n;
    }
}

void pcapgen_tcp_flood(struct pcapgen *g, const struct pcapgen_tcp_flood *f)
{
    size_t seg = f->segment ? f->segment : 1400;
    uint64_t t = f->start_us;
    struct pcapgen_tcp **conns = pcapgen_xmalloc(f->streams * sizeof(*conns));
    struct buf b;
    buf_init(&b, PCAPGEN_TEXT_MAX);
    for (unsigned i = 0; i < f->streams; i++) {
        struct endpoint client = f->client;
        client.port = (uint16_t)(f->client.port + i);
        conns[i] = pcapgen_tcp_new(g, &client, &f->server, 1000 + i, 5000, NULL);
        pcapgen_tcp_handshake(conns[i], t);
        t += 3000;
        b.len = 0;
        for (unsigned m = 0; m < f->messages; m++)
            flood_message(&b, f, i, m);
        for (size_t off = f->hold_first ? seg : 0; off < b.len; off += seg, t += f->step_us) {
            size_t n = b.len - off < seg ? b.len - off : seg;
            pcapgen_tcp_send_at(conns[i], t, PCAPGEN_C2S, (uint32_t)off, b.data + off, n);
        }
        if (!f->hold_first) /* else advanced at the end, with the first segment */
            pcapgen_tcp_advance(conns[i], PCAPGEN_C2S, b.len);
    }
    for (unsigned i = 0; f->hold_first && i < f->streams; i++, t += f->step_us) {
        b.len = 0;
        for (unsigned m = 0; m < f->messages; m++)
            flood_message(&b, f, i, m);
        size_t n = b.len < seg ? b.len : seg;
        pcapgen_tcp_send_at(conns[i], t, PCAPGEN_C2S, 0, b.data, n);
        pcapgen_tcp_advance(conns[i], PCAPGEN_C2S, b.len);
    }
    for (unsigned i = 0; i < f->streams; i++)
        pcapgen_tcp_free(conns[i]);
    free(conns);
    buf_free(&b);
}

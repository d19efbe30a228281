/*
 * fuzz_tcp: libFuzzer target for SIP's TCP framing (sip_layer_tcp): the
 * Content-Length framing, keep-alive CRLFs, the HTTP Upgrade and the
 * WebSocket frames behind it.
 *
 * The input is a run of records: a flags byte (bits 0-1 the stream, bit 2
 * the direction, bit 7 closes the stream), a 2-byte length and that many
 * bytes, delivered to the stream as the TCP decoder delivers in-order bytes:
 * whatever the handler left unconsumed comes again in front of the new
 * bytes, up to a cap past which it is dropped (decoders/tcp.c). The handler
 * may never say it consumed more than it was given, and every message it
 * hands on must lie within the bytes it was given.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_input.h"
#include "sip/sip.h"

#define STREAMS     4
#define PENDING_MAX 65536

struct half {
    uint8_t data[PENDING_MAX];
    size_t len;
};

struct tcp_fuzz {
    struct counters counters;
    struct sip_layer *sip;
    struct half halves[STREAMS][2];
    const uint8_t *given; /* the bytes of the sip_layer_tcp call under way */
    size_t given_len;
};

static void on_message(void *user, const struct sip_msg *m, const struct sip_meta *meta)
{
    struct tcp_fuzz *z = user;
    (void)m;
    /* WebSocket payloads are unmasked into the layer's own buffer; plain
     * SIP is handed on in place. Either way, never past the end. */
    if (meta->raw >= z->given && meta->raw < z->given + z->given_len &&
        meta->raw + meta->raw_len > z->given + z->given_len)
        abort();
}

static void deliver(struct tcp_fuzz *z, int stream, int dir, const uint8_t *p, size_t len,
                    uint64_t ts)
{
    struct half *h = &z->halves[stream][dir];
    if (h->len + len > PENDING_MAX)
        h->len = 0; /* the decoder gives up on what was kept */
    if (len > PENDING_MAX)
        len = PENDING_MAX;
    memcpy(h->data + h->len, p, len);
    h->len += len;
    struct tcp_data d = {.ts_us = ts,
                         .stream_id = (uint64_t)stream + 1,
                         .direction = dir,
                         .data = h->data,
                         .len = h->len};
    net_addr_parse(&d.src.addr, dir ? "10.0.0.2" : "10.0.0.1");
    net_addr_parse(&d.dst.addr, dir ? "10.0.0.1" : "10.0.0.2");
    d.src.port = dir ? 5060 : (uint16_t)(40000 + stream);
    d.dst.port = dir ? (uint16_t)(40000 + stream) : 5060;
    z->given = h->data;
    z->given_len = h->len;
    size_t consumed = sip_layer_tcp(z->sip, &d);
    if (consumed > h->len)
        abort();
    memmove(h->data, h->data + consumed, h->len - consumed);
    h->len -= consumed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tcp_fuzz z;
    counters_init(&z.counters);
    z.sip = sip_layer_new(&z.counters, on_message, &z);
    for (int s = 0; s < STREAMS; s++)
        z.halves[s][0].len = z.halves[s][1].len = 0;
    struct fuzz_input in = {data, size};
    uint64_t ts = 1700000000000000ULL;
    while (fuzz_more(&in)) {
        uint8_t flags = fuzz_u8(&in);
        size_t len;
        const uint8_t *p = fuzz_bytes(&in, fuzz_u16(&in), &len);
        int stream = flags & 3, dir = flags >> 2 & 1;
        ts += 1000;
        if (flags & 0x80) {
            sip_layer_tcp_close(z.sip, (uint64_t)stream + 1);
            z.halves[stream][0].len = z.halves[stream][1].len = 0;
            continue;
        }
        deliver(&z, stream, dir, p, len, ts);
    }
    sip_layer_free(z.sip);
    return 0;
}

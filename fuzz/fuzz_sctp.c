/*
 * fuzz_sctp: libFuzzer target for the SCTP decoder (decoders/sctp.c): the
 * common header, the chunk walk, DATA chunks, and user messages rebuilt
 * from fragments, handed to the SIP layer as the daemon does.
 *
 * The input is a run of records: a selector byte (bit 0 swaps source and
 * destination, bit 1 carries the packet in IPv6 rather than IPv4), a 2-byte
 * time step (fuzz_time_step_us), a 2-byte length and that many bytes: the
 * SCTP packet, from its common header on. The harness puts the IP header
 * in front, so every input reaches SCTP; checksums are not verified there.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/decode.h"
#include "fuzz/fuzz_input.h"
#include "sip/sip.h"

#define FRAME_MAX (40 + 65535)

struct sctp_fuzz {
    struct counters counters;
    struct decoder *decoder;
    struct sip_layer *sip;
    uint8_t frame[FRAME_MAX];
};

static void on_sip(void *user, const struct sip_msg *m, const struct sip_meta *meta)
{
    (void)user;
    (void)m;
    (void)meta;
}

static void on_sctp(void *user, const struct packet *pkt)
{
    struct sctp_fuzz *z = user;
    if (pkt->payload_len > 0 && !pkt->payload)
        abort();
    sip_layer_sctp(z->sip, pkt);
}

static void on_udp(void *user, const struct packet *pkt)
{
    (void)user;
    (void)pkt;
}

/* The IP header in front of len bytes of SCTP; the frame's length. */
static size_t wrap(struct sctp_fuzz *z, uint8_t sel, size_t len)
{
    uint8_t *f = z->frame;
    uint8_t a = sel & 1 ? 2 : 1, b = sel & 1 ? 1 : 2;
    if (sel & 2) {
        memset(f, 0, 40);
        f[0] = 0x60;
        f[4] = (uint8_t)(len >> 8);
        f[5] = (uint8_t)len;
        f[6] = 132;
        f[7] = 64;
        f[8] = f[24] = 0x20;
        f[9] = f[25] = 0x01;
        f[23] = a;
        f[39] = b;
        return 40 + len;
    }
    size_t total = 20 + len > 65535 ? 65535 : 20 + len;
    memset(f, 0, 20);
    f[0] = 0x45;
    f[2] = (uint8_t)(total >> 8);
    f[3] = (uint8_t)total;
    f[8] = 64;
    f[9] = 132;
    f[12] = f[16] = 10;
    f[15] = a;
    f[19] = b;
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sctp_fuzz z;
    counters_init(&z.counters);
    struct decoder_config dc;
    decoder_config_defaults(&dc);
    struct decode_handlers h = {.user = &z, .udp = on_udp, .sctp = on_sctp};
    z.decoder = decoder_new(&dc, &z.counters, &h);
    z.sip = sip_layer_new(&z.counters, on_sip, &z);
    decoder_set_linktype(z.decoder, 101 /* raw IP */);
    struct fuzz_input in = {data, size};
    uint64_t ts = 1700000000000000ULL;
    while (fuzz_more(&in)) {
        uint8_t sel = fuzz_u8(&in);
        ts += fuzz_time_step_us(fuzz_u16(&in));
        size_t len;
        const uint8_t *p = fuzz_bytes(&in, fuzz_u16(&in), &len);
        size_t head = sel & 2 ? 40 : 20;
        if (len > sizeof(z.frame) - head)
            len = sizeof(z.frame) - head;
        memcpy(z.frame + head, p, len);
        size_t n = wrap(&z, sel, len);
        decoder_process(z.decoder, ts, z.frame, (uint32_t)n, (uint32_t)n);
    }
    decoder_free(z.decoder);
    sip_layer_free(z.sip);
    return 0;
}

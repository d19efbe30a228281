/*
 * hep_rtcp: an RTCP compound packet as the JSON report HEP carries for
 * protocol type 5, in the shape heplify writes and Homer reads
 * (contract: hep.h, hep_rtcp_json). Only the first SR or RR of the compound
 * is described, with up to 31 report blocks; every length is checked
 * against the datagram before a field is read.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "outputs/hep.h"

#define RTCP_SR          200
#define RTCP_RR          201
#define RTCP_BLOCK_LEN   24
#define RTCP_SR_INFO_LEN 20

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct text {
    char *out;
    size_t cap, len;
    bool ok;
};

static void put(struct text *t, const char *fmt, ...)
{
    if (!t->ok)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->out + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->ok = false;
    else
        t->len += (size_t)n;
}

/* One SR or RR (p points at its header, n bytes of it are the packet). */
static size_t describe(const uint8_t *p, size_t n, char *out, size_t cap)
{
    uint8_t type = p[1];
    unsigned count = p[0] & 0x1f;
    size_t off = 8; /* header and sender SSRC */
    struct text t = {out, cap, 0, cap > 0};
    put(&t, "{");
    if (type == RTCP_SR) {
        if (n < off + RTCP_SR_INFO_LEN)
            return 0;
        const uint8_t *s = p + off;
        uint64_t usec = ((uint64_t)rd32(s + 4) * 1000000u) >> 32;
        put(&t,
            "\"sender_information\":{\"ntp_timestamp_sec\":%" PRIu32
            ",\"ntp_timestamp_usec\":%" PRIu64 ",\"rtp_timestamp\":%" PRIu32 ",\"packets\":%" PRIu32
            ",\"octets\":%" PRIu32 "},",
            rd32(s), usec, rd32(s + 8), rd32(s + 12), rd32(s + 16));
        off += RTCP_SR_INFO_LEN;
    }
    if (n < off + (size_t)count * RTCP_BLOCK_LEN)
        return 0;
    put(&t, "\"ssrc\":%" PRIu32 ",\"type\":%u,\"report_count\":%u,\"report_blocks\":[", rd32(p + 4),
        type, count);
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *b = p + off + (size_t)i * RTCP_BLOCK_LEN;
        /* Cumulative loss: a signed 24-bit field. */
        int32_t lost = (int32_t)((uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7]);
        if (lost & 0x800000)
            lost -= 0x1000000;
        put(&t,
            "%s{\"source_ssrc\":%" PRIu32 ",\"fraction_lost\":%u,\"packets_lost\":%" PRId32
            ",\"highest_seq_no\":%" PRIu32 ",\"ia_jitter\":%" PRIu32 ",\"lsr\":%" PRIu32
            ",\"dlsr\":%" PRIu32 "}",
            i ? "," : "", rd32(b), b[4], lost, rd32(b + 8), rd32(b + 12), rd32(b + 16),
            rd32(b + 20));
    }
    put(&t, "]}");
    return t.ok ? t.len : 0;
}

size_t hep_rtcp_json(const uint8_t *data, size_t len, char *out, size_t cap)
{
    size_t off = 0;
    while (len - off >= 8) {
        const uint8_t *p = data + off;
        if ((p[0] >> 6) != 2)
            return 0;
        size_t n = ((size_t)(p[2] << 8 | p[3]) + 1) * 4;
        if (n > len - off)
            return 0;
        if (p[1] == RTCP_SR || p[1] == RTCP_RR)
            return describe(p, n, out, cap);
        off += n;
    }
    return 0;
}

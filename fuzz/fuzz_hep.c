/*
 * fuzz_hep: libFuzzer target for the HEP input (decoders/hep.c and
 * daemon/hep_input.c, plus the RTCP report of the HEP output).
 *
 * The input is read three ways: as one UDP datagram through the listener's
 * decode path (hep_input_feed, counted as the daemon counts it, the SIP
 * payload parsed as the daemon would); as a TCP byte stream framed and
 * resynchronised as a connection is; and, where it decodes, as a message
 * that must survive a round trip: encoded again in either chunk order and
 * decoded, it must give the same fields. A crash, a sanitizer report or a
 * round trip that changes a field is a bug.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/hep_input.h"
#include "decoders/hep.h"
#include "outputs/hep.h"
#include "sip/sip.h"

static void on_message(void *user, const struct hep_message *m, const char *agent,
                       const struct packet *pkt)
{
    (void)user;
    (void)agent;
    static struct sip_msg msg;
    if (sip_sniff(pkt->payload, pkt->payload_len))
        sip_parse_message(pkt->payload, pkt->payload_len, &msg);
    char json[4096];
    if (m->proto_type == HEP_PROTO_RTCP)
        hep_rtcp_json(pkt->payload, pkt->payload_len, json, sizeof(json));
}

static void same(const struct hep_message *a, const struct hep_message *b)
{
    if (a->ip_proto != b->ip_proto || !net_addr_equal(&a->src, &b->src) ||
        !net_addr_equal(&a->dst, &b->dst) || a->sport != b->sport || a->dport != b->dport ||
        a->ts_sec != b->ts_sec || a->ts_usec != b->ts_usec || a->proto_type != b->proto_type ||
        a->payload_len != b->payload_len || memcmp(a->payload, b->payload, a->payload_len) ||
        a->correlation_id_len != b->correlation_id_len || a->node_name_len != b->node_name_len ||
        a->auth_key_len != b->auth_key_len)
        abort();
}

static void round_trip(const struct hep_message *m)
{
    static uint8_t out[HEP_MAX_MESSAGE];
    for (int order = 0; order < 2; order++) {
        size_t n = hep_encode(m, (enum hep_order)order, out, sizeof(out));
        if (n == 0)
            continue; /* a v1/v2 payload too large for v3 */
        struct hep_message back;
        if (hep_decode(out, n, &back) != HEP_OK)
            abort();
        same(m, &back);
    }
}

static void stream(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        size_t n = 0;
        enum hep_frame f = hep_frame(data + off, size - off, &n);
        if (f == HEP_FRAME_MORE)
            break;
        if (f == HEP_FRAME_BAD) {
            size_t skip = hep_find_magic(data + off, size - off);
            if (skip == 0 || skip > size - off)
                abort();
            off += skip;
            continue;
        }
        if (n < HEP_V3_HEADER_LEN || n > size - off)
            abort();
        struct hep_message m;
        hep_decode(data + off, n, &m);
        off += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct counters counters;
    static struct hep_input *in;
    if (!in) {
        counters_init(&counters);
        char err[256];
        enum hep_input_error why;
        in = hep_input_new(NULL, &counters, on_message, NULL, &why, err, sizeof(err));
        if (!in)
            abort();
    }
    /* An exact-size heap copy, so ASan sees a read past the datagram. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    hep_input_feed(in, copy, size, 1700000000000000ull);
    struct hep_message m;
    if (hep_decode(copy, size, &m) == HEP_OK)
        round_trip(&m);
    stream(copy, size);
    free(copy);
    return 0;
}

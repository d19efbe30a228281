/*
 * fuzz_rtp: libFuzzer target for RTP, RTCP and RTCP XR, and the stream
 * statistics they feed.
 *
 * Two flows of one call (A -> B and B -> A) in a flow table. The input is a
 * run of records: an operation byte, a 2-byte time step (fuzz_time_step_us),
 * a 2-byte length and that many bytes. Operations: an RTP datagram on
 * either flow; an RTCP datagram given the call's flows (as calls/ does) or
 * found by its endpoints; the parsers on their own (rtp_parse, rtcp_parse,
 * the SRTCP sniff); an SDP rtpmap for either flow (payload type, clock rate,
 * name). At the end every stream's report and `streams` entry are made and
 * the entry must fit its bound and read back as one JSON object.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/counters.h"
#include "fuzz/fuzz_input.h"
#include "rtp/flow.h"
#include "rtp/rtcp.h"
#include "rtp/rtp.h"
#include "rtp/stream.h"

struct rtp_fuzz {
    struct counters counters;
    struct rtp_flow_table table;
    struct rtp_flow *flows[2];
    struct endpoint a, b;
    uint64_t ts;
};

static void parse_alone(const uint8_t *p, size_t len)
{
    struct rtp_header h;
    static struct rtcp_packet_info info;
    (void)rtp_parse(p, len, &h);
    (void)rtcp_looks_like(p, len);
    (void)srtcp_looks_like(p, len);
    memset(&info, 0, sizeof(info));
    (void)rtcp_parse(p, len, &info);
}

/* An rtpmap: payload type, clock rate (2 bytes, Hz / 10), then the name. */
static void map_payload(struct rtp_flow *f, const uint8_t *p, size_t len)
{
    if (len < 3)
        return;
    char name[32];
    size_t n = len - 3 < sizeof(name) - 1 ? len - 3 : sizeof(name) - 1;
    memcpy(name, p + 3, n);
    name[n] = '\0';
    uint32_t clock = (uint32_t)(p[1] << 8 | p[2]) * 10u;
    if (p[0] & 0x80)
        rtp_flow_set_codec(f, name, clock);
    else
        (void)rtp_flow_map_payload(f, p[0], name, clock);
}

static void one_record(struct rtp_fuzz *z, uint8_t op, const uint8_t *p, size_t len)
{
    struct rtcp_datagram d = {.src = z->b, .dst = z->a, .ts_us = z->ts, .data = p, .len = len};
    switch (op % 7) {
    case 0:
    case 1:
        (void)rtp_flow_packet(&z->table, z->flows[op % 7], p, len, z->ts);
        break;
    case 2:
        (void)rtp_flow_table_rtcp_flows(&z->table, z->flows, 2, &d);
        break;
    case 3:
        (void)rtp_flow_table_rtcp(&z->table, &d);
        break;
    case 4:
        parse_alone(p, len);
        break;
    default:
        map_payload(z->flows[op % 7 - 5], p, len);
        break;
    }
}

static void check_streams(const struct rtp_flow *f)
{
    static char text[RTP_STREAM_JSON_MAX];
    for (size_t i = 0; i < f->stream_count; i++) {
        const struct rtp_stream *s = rtp_flow_stream_const(f, i);
        struct rtp_stream_report r;
        rtp_stream_report(s, &r);
        size_t n = rtp_stream_write_json(s, &f->key.src, &f->key.dst, rtp_flow_stream_xr(f, s),
                                         text, sizeof(text));
        if (n == 0)
            abort(); /* an entry past RTP_STREAM_JSON_MAX */
        json_t *j = json_loadb(text, n, 0, NULL);
        if (!json_is_object(j))
            abort();
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rtp_fuzz z;
    memset(&z, 0, sizeof(z));
    counters_init(&z.counters);
    if (!rtp_flow_table_init(&z.table, 8, &z.counters))
        return 0;
    net_addr_parse(&z.a.addr, "10.0.0.1");
    net_addr_parse(&z.b.addr, "10.0.0.2");
    z.a.port = 20000;
    z.b.port = 30000;
    z.flows[0] = rtp_flow_create(&z.table, &z.a, &z.b, &z, 0);
    z.flows[1] = rtp_flow_create(&z.table, &z.b, &z.a, &z, 1);
    z.ts = 1700000000000000ULL;
    struct fuzz_input in = {data, size};
    while (fuzz_more(&in) && z.flows[0] && z.flows[1]) {
        uint8_t op = fuzz_u8(&in);
        z.ts += fuzz_time_step_us(fuzz_u16(&in));
        size_t len;
        const uint8_t *p = fuzz_bytes(&in, fuzz_u16(&in), &len);
        one_record(&z, op, p, len);
    }
    for (int i = 0; i < 2; i++)
        if (z.flows[i])
            check_streams(z.flows[i]);
    rtp_flow_table_expire(&z.table, z.ts + 3600000000ULL, 1, NULL, NULL);
    rtp_flow_table_destroy(&z.table);
    return 0;
}

/*
 * fuzz_pipeline: libFuzzer target for everything that reads the wire.
 *
 * The input is a run of frames, each a 2-byte big-endian length and that many
 * bytes, fed as Ethernet frames 20 ms apart (of capture time) through the
 * whole chain the daemon uses: decoders (with IP reassembly and TCP streams),
 * the SIP layer, call correlation with its media bindings and RTP flows, and
 * every detector, into an event bus that serialises each event. The first
 * input byte picks the link type, so the other link decoders get fuzzed too.
 * A crash, leak or sanitizer report anywhere on that path is a bug.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "calls/calls.h"
#include "decoders/decode.h"
#include "outputs/sink.h"
#include "rules/rules.h"
#include "sip/sip.h"

struct pipeline {
    struct counters counters;
    struct timerq timers;
    struct event_bus bus;
    struct trunk_list trunks;
    struct decoder *decoder;
    struct sip_layer *sip;
    struct call_table *calls;
    struct rules *rules;
};

static void on_sip(void *user, const struct sip_msg *m, const struct sip_meta *meta)
{
    struct pipeline *p = user;
    call_table_sip(p->calls, m, meta);
}

static void on_udp(void *user, const struct packet *pkt)
{
    struct pipeline *p = user;
    if (!sip_layer_udp(p->sip, pkt))
        call_table_udp(p->calls, pkt);
}

static size_t on_tcp(void *user, const struct tcp_data *data)
{
    struct pipeline *p = user;
    return sip_layer_tcp(p->sip, data);
}

static void on_tcp_close(void *user, uint64_t stream_id)
{
    struct pipeline *p = user;
    sip_layer_tcp_close(p->sip, stream_id);
}

/* A sink that serialised events reach and that drops them at once. */
static int null_start(struct sink *s, struct ev_loop *loop)
{
    (void)s;
    (void)loop;
    return 0;
}

static void null_wake(struct sink *s)
{
    while (sink_queue_count(s))
        sink_queue_pop(s);
}

static void null_drain(struct sink *s, double t)
{
    (void)t;
    null_wake(s);
}

static void null_destroy(struct sink *s)
{
    sink_base_destroy(s);
}

static const struct sink_ops null_ops = {
    .kind = "null",
    .start = null_start,
    .wake = null_wake,
    .drain = null_drain,
    .destroy = null_destroy,
};

static const int link_types[] = {1 /* EN10MB */, 113 /* SLL */, 276 /* SLL2 */,
                                 101 /* RAW */,  0 /* NULL */,  108 /* LOOP */};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pipeline p;
    static struct sink null_sink;
    memset(&p, 0, sizeof(p));
    if (size < 1)
        return 0;
    counters_init(&p.counters);
    timerq_init(&p.timers);
    event_bus_init(&p.bus, "fuzz");
    sink_base_init(&null_sink, &null_ops, "null", 64);
    event_bus_add_sink(&p.bus, &null_sink);
    struct trunk_config *t = &p.trunks.trunks[p.trunks.count++];
    memcpy(t->name, "trunk", 6);
    net_prefix_parse(&t->prefixes[t->prefix_count++], "10.0.0.0/8");

    struct decoder_config dc;
    decoder_config_defaults(&dc);
    dc.frag_max_datagrams = 16;
    dc.tcp_max_streams = 16;
    dc.tcp_max_pending = 8192;
    struct decode_handlers h = {
        .user = &p, .udp = on_udp, .tcp_data = on_tcp, .tcp_close = on_tcp_close};
    struct call_limits limits;
    call_limits_defaults(&limits);
    limits.max_calls = 8;
    limits.max_registrations = 8;
    limits.max_flows = 32;
    static struct rule_settings no_settings;
    char err[256];
    p.decoder = decoder_new(&dc, &p.counters, &h);
    p.sip = sip_layer_new(&p.counters, on_sip, &p);
    p.calls = call_table_new(&limits, &p.trunks, &p.counters, &p.timers, &p.bus);
    p.rules = rules_new(&no_settings, p.calls, &p.timers, &p.bus, &p.counters, &p.trunks, err,
                        sizeof(err));
    decoder_set_linktype(p.decoder,
                         link_types[data[0] % (sizeof(link_types) / sizeof(link_types[0]))]);

    uint64_t ts = 1700000000000000ULL;
    size_t off = 1;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        ts += 20000;
        timerq_advance(&p.timers, ts);
        /* The daemon's look-ahead of a batch: peek, then warm the flow. */
        struct endpoint src, dst;
        if (decoder_peek_udp(p.decoder, data + off, (uint32_t)len, &src, &dst)) {
            struct rtp_flow_table *flows = call_table_flows(p.calls);
            rtp_flow_warm(flows,
                          rtp_flow_prefetch_slot(flows, &src.addr, src.port, &dst.addr, dst.port));
        }
        decoder_process(p.decoder, ts, data + off, (uint32_t)len, (uint32_t)len);
        off += len;
    }
    /* End of capture, then a minute later: timers and call endings run too. */
    call_table_close_all(p.calls, ts);
    timerq_advance(&p.timers, ts + 60000000ULL);

    call_table_free(p.calls);
    rules_free(p.rules);
    sip_layer_free(p.sip);
    decoder_free(p.decoder);
    event_bus_destroy(&p.bus);
    timerq_destroy(&p.timers);
    return 0;
}

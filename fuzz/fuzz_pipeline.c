/*
 * fuzz_pipeline: libFuzzer target for everything that reads the wire.
 *
 * The input is a first byte, then a run of frames, each a 2-byte big-endian
 * length and that many bytes, fed through the whole chain the daemon uses:
 * decoders (with IP reassembly, TCP streams and SCTP), the SIP layer, call
 * correlation with its media bindings and RTP flows, and every detector,
 * into an event bus that serialises each event. The first byte's low four
 * bits pick the link type, so the other link decoders get fuzzed too. With
 * its top bit clear the frames are 20 ms apart (of capture time); with it
 * set each frame's length is followed by a 2-byte time step
 * (fuzz_time_step_us: 100-us units, or 10-ms units up to 327 s), so the
 * detectors' windows (5 s, 10 s, 32 s, 90 s) and timeouts are reached by
 * short inputs. A crash, leak or sanitizer report anywhere on that path is
 * a bug.
 *
 * Frames go through the engine (engine/engine.h), the daemon's one API:
 * its look-ahead processes those decoder_peek() takes with
 * decoder_process_peeked() and their carried flow hash, the others with
 * decoder_process(). A twin decoder decodes every frame in full; at the end
 * both must have counted the same and delivered the same datagrams, else the
 * run aborts: the quick path may never decode a frame differently from the
 * layers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/engine.h"
#include "fuzz/fuzz_input.h"
#include "outputs/sink.h"

struct pipeline {
    struct trunk_list trunks;
    struct engine *engine;
    uint64_t udp_digest; /* of the datagrams the engine's decoder delivered */
};

/* The twin that decodes every frame in full, for comparison. It frames TCP
 * with a SIP layer of its own, so that its streams consume bytes as the
 * pipeline's do and their counters can be compared too. */
struct twin {
    struct counters counters;
    struct decoder *decoder;
    struct sip_layer *sip;
    uint64_t udp_digest;
};

/* Order-sensitive digest of a delivered datagram's view. A reassembled
 * datagram's payload lies in its decoder's own reassembly buffer, a
 * different one in each decoder: its bytes are compared, not its address. */
static uint64_t digest_packet(uint64_t h, const struct packet *pkt)
{
    if (pkt->reassembled)
        for (size_t i = 0; i < pkt->payload_len; i++)
            h = (h ^ pkt->payload[i]) * 0x100000001b3ULL;
    const uint64_t words[] = {
        pkt->ts_us,
        (uint64_t)(uintptr_t)pkt->frame,
        (uint64_t)pkt->caplen << 32 | pkt->wirelen,
        (uint64_t)pkt->vlan_depth << 48 | (uint64_t)pkt->vlan_ids[0] << 32 |
            (uint64_t)pkt->vlan_ids[1] << 16 | pkt->tunnel_depth,
        (uint64_t)pkt->ip_proto << 40 | (uint64_t)pkt->reassembled << 32 |
            (uint64_t)pkt->sport << 16 | pkt->dport,
        pkt->reassembled ? 0 : (uint64_t)(uintptr_t)pkt->payload,
        pkt->payload_len,
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        h = (h ^ words[i]) * 0x100000001b3ULL;
    for (size_t i = 0; i < sizeof(pkt->src.bytes); i++)
        h = (h ^ pkt->src.bytes[i] ^ (uint64_t)pkt->dst.bytes[i] << 8) * 0x100000001b3ULL;
    return (h ^ pkt->src.family ^ (uint64_t)pkt->dst.family << 8) * 0x100000001b3ULL;
}

static void twin_udp(void *user, const struct packet *pkt)
{
    struct twin *t = user;
    t->udp_digest = digest_packet(t->udp_digest, pkt);
}

static void twin_sctp(void *user, const struct packet *pkt)
{
    struct twin *t = user;
    sip_layer_sctp(t->sip, pkt);
}

static size_t twin_tcp(void *user, const struct tcp_data *data)
{
    struct twin *t = user;
    return sip_layer_tcp(t->sip, data);
}

static void twin_tcp_close(void *user, uint64_t stream_id)
{
    struct twin *t = user;
    sip_layer_tcp_close(t->sip, stream_id);
}

static void twin_sip(void *user, const struct sip_msg *m, const struct sip_meta *meta)
{
    (void)user;
    (void)m;
    (void)meta;
}

/* The twin's "decode" counters must equal the pipeline's, name by name. */
static void assert_twin_agrees(const struct pipeline *p, const struct twin *t)
{
    if (p->udp_digest != t->udp_digest)
        abort();
    const struct counters *c = engine_counters(p->engine);
    for (size_t i = 0; i < t->counters.count; i++)
        if (strncmp(t->counters.names[i], "decode.", 7) == 0 &&
            counters_get(c, t->counters.names[i]) != t->counters.values[i])
            abort();
}

/* The engine's tap on every UDP datagram its decoder delivers. The carried
 * flow hash is the engine's, not the decoder's: left out of the digest. */
static void on_udp(void *user, const struct packet *pkt)
{
    struct pipeline *p = user;
    struct packet view = *pkt;
    view.flow_hashed = false;
    view.flow_hash = 0;
    p->udp_digest = digest_packet(p->udp_digest, &view);
}

/* A sink that checks every serialised event and drops it. Events are written
 * as text from what the wire said (users, Call-IDs, codec names): each must
 * read back as one JSON object of the record's type. */
static int null_start(struct sink *s, struct ev_loop *loop)
{
    (void)s;
    (void)loop;
    return 0;
}

static void null_wake(struct sink *s)
{
    struct event_record *r;
    while ((r = sink_queue_peek(s, 0)) != NULL) {
        json_t *ev = json_loadb(r->text, r->len, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (!json_is_object(ev) || !type || strcmp(type, r->type) != 0 || strlen(r->text) != r->len)
            abort();
        json_decref(ev);
        sink_queue_pop(s);
    }
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

static const int link_types[] = {1 /* EN10MB */, 113 /* SLL */,  276 /* SLL2 */,
                                 101 /* RAW */,  0 /* NULL */,   108 /* LOOP */,
                                 228 /* IPV4 */, 229 /* IPV6 */, 197 /* ERF */};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pipeline p;
    static struct twin twin;
    static struct sink null_sink;
    memset(&p, 0, sizeof(p));
    memset(&twin, 0, sizeof(twin));
    if (size < 1)
        return 0;
    struct trunk_config *t = &p.trunks.trunks[p.trunks.count++];
    memcpy(t->name, "trunk", 6);
    net_prefix_parse(&t->prefixes[t->prefix_count++], "10.0.0.0/8");

    struct engine_config ec = {.tap_name = "fuzz", .trunks = &p.trunks};
    decoder_config_defaults(&ec.decoder);
    ec.decoder.frag_max_datagrams = 16;
    ec.decoder.tcp_max_streams = 16;
    ec.decoder.tcp_max_pending = 8192;
    call_limits_defaults(&ec.limits);
    ec.limits.max_calls = 8;
    ec.limits.max_registrations = 8;
    ec.limits.max_flows = 32;
    struct engine_taps taps = {.user = &p, .udp = on_udp};
    enum engine_error why;
    char err[256];
    p.engine = engine_new(&ec, &taps, &why, err, sizeof(err));
    if (!p.engine)
        abort();
    sink_base_init(&null_sink, &null_ops, "null", 64);
    event_bus_add_sink(engine_bus(p.engine), &null_sink);
    int link = link_types[(data[0] & 0x0f) % (sizeof(link_types) / sizeof(link_types[0]))];
    bool timed = data[0] & 0x80;
    engine_set_linktype(p.engine, link);
    struct decoder_config dc = ec.decoder;
    counters_init(&twin.counters);
    struct decode_handlers twin_handlers = {.user = &twin,
                                            .udp = twin_udp,
                                            .sctp = twin_sctp,
                                            .tcp_data = twin_tcp,
                                            .tcp_close = twin_tcp_close};
    twin.sip = sip_layer_new(&twin.counters, twin_sip, &twin);
    twin.decoder = decoder_new(&dc, &twin.counters, &twin_handlers);
    decoder_set_linktype(twin.decoder, link);

    uint64_t ts = 1700000000000000ULL;
    size_t off = 1;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        uint64_t step = 20000;
        if (timed) {
            if (off + 2 > size)
                break;
            step = fuzz_time_step_us((uint16_t)(data[off] << 8 | data[off + 1]));
            off += 2;
        }
        if (len > size - off)
            len = size - off;
        ts += step;
        engine_tick(p.engine, ts);
        decoder_expire(twin.decoder, ts);
        const uint8_t *frame = data + off;
        struct capture_frame f = {.hdr = {.caplen = (uint32_t)len, .len = (uint32_t)len},
                                  .data = frame};
        f.hdr.ts.tv_sec = (time_t)(ts / 1000000u);
        f.hdr.ts.tv_usec = (suseconds_t)(ts % 1000000u);
        engine_frames(p.engine, &f, 1);
        decoder_process(twin.decoder, ts, frame, (uint32_t)len, (uint32_t)len);
        off += len;
    }
    /* End of capture, then a minute later: timers, call endings and the
     * decoders' expiry run too. */
    engine_finish(p.engine, ts);
    engine_tick(p.engine, ts + 60000000ULL);
    decoder_expire(twin.decoder, ts + 60000000ULL);

    assert_twin_agrees(&p, &twin);
    engine_free(p.engine);
    decoder_free(twin.decoder);
    sip_layer_free(twin.sip);
    return 0;
}

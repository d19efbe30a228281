/*
 * Tests of the SIP layer's transports: UDP datagrams, TCP framing (coalesced,
 * split at every byte, keep-alives, garbage recovery, lying Content-Length)
 * and WebSocket frames (masked, unmasked, 16/64-bit lengths, fragments,
 * control frames). A small harness plays the decoder: it keeps the bytes
 * the layer did not consume and presents them again with the next segment.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "sip/sip.h"
#include "sip_test_util.h"

#define MAX_SEEN 64

struct seen {
    size_t count;
    char call_ids[MAX_SEEN][256];
    uint32_t cseqs[MAX_SEEN];
    enum sip_transport transports[MAX_SEEN];
    size_t raw_lens[MAX_SEEN];
    bool has_sdp[MAX_SEEN];
};

static struct counters counters;
static struct seen seen;
static struct sip_layer *layer;

static void on_message(void *user, const struct sip_msg *msg, const struct sip_meta *meta)
{
    struct seen *s = user;
    if (s->count < MAX_SEEN) {
        memcpy(s->call_ids[s->count], msg->call_id, sizeof(msg->call_id));
        s->cseqs[s->count] = msg->cseq;
        s->transports[s->count] = meta->transport;
        s->raw_lens[s->count] = meta->raw_len;
        s->has_sdp[s->count] = msg->has_sdp;
    }
    s->count++;
}

static void setup(void)
{
    counters_init(&counters);
    memset(&seen, 0, sizeof(seen));
    layer = sip_layer_new(&counters, on_message, &seen);
    cr_assert_not_null(layer);
}

static void teardown(void)
{
    sip_layer_free(layer);
}

static uint64_t counter(const char *name)
{
    return counters_get(&counters, name);
}

/* The decoder's side of a TCP direction: pending bytes not yet consumed,
 * and the framer's note about them (kept with them, 0 once they are gone). */
struct stream {
    uint64_t id;
    int direction;
    uint8_t pending[1 << 18];
    size_t len;
    uint64_t scan_state;
};

static void stream_feed(struct stream *st, const void *data, size_t n)
{
    cr_assert_leq(st->len + n, sizeof(st->pending), "harness buffer full: layer wedged?");
    memcpy(st->pending + st->len, data, n);
    st->len += n;
    struct tcp_data t = {.ts_us = 1,
                         .stream_id = st->id,
                         .direction = st->direction,
                         .data = st->pending,
                         .len = st->len,
                         .scan_state = &st->scan_state};
    t.src.port = 5060;
    t.dst.port = 5061;
    size_t used = sip_layer_tcp(layer, &t);
    cr_assert_leq(used, st->len);
    memmove(st->pending, st->pending + used, st->len - used);
    st->len -= used;
    if (st->len == 0)
        st->scan_state = 0;
}

static size_t make_msg(char *out, size_t size, int i, const char *body)
{
    char method[16];
    snprintf(method, sizeof(method), "OPTIONS");
    size_t n = sip_test_request(out, size, method, "Content-Type: application/sdp\r\n", body);
    /* Give each message its own CSeq so order can be checked. */
    char *c = strstr(out, "CSeq: 7 ");
    c[6] = (char)('0' + i % 10);
    return n;
}

static const char *sdp_body = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n";

TestSuite(sip_stream, .init = setup, .fini = teardown);

Test(sip_stream, udp_datagrams_and_sniff)
{
    char buf[2048];
    size_t n = make_msg(buf, sizeof(buf), 1, sdp_body);
    struct packet p = {.ts_us = 42,
                       .payload = (const uint8_t *)buf,
                       .payload_len = (uint32_t)n,
                       .sport = 5060,
                       .dport = 5080};
    cr_assert(sip_layer_udp(layer, &p));
    cr_assert_eq(seen.count, 1);
    cr_assert_eq(seen.transports[0], SIP_TRANSPORT_UDP);
    cr_assert_eq(seen.raw_lens[0], n);
    cr_assert(seen.has_sdp[0]);

    uint8_t rtp[172] = {0x80, 0x08, 0x01, 0x02};
    p.payload = rtp;
    p.payload_len = sizeof(rtp);
    cr_assert(!sip_layer_udp(layer, &p), "RTP is not SIP");
    cr_assert_eq(counter("sip.not_sip"), 1);

    p.payload = (const uint8_t *)"\r\n\r\n";
    p.payload_len = 4;
    cr_assert(sip_layer_udp(layer, &p), "keep-alive");
    cr_assert_eq(counter("sip.keepalive"), 1);

    const char *bad = "INVITE sip:a@b SIP/2.0\r\nthis is not a header\r\n\r\n";
    p.payload = (const uint8_t *)bad;
    p.payload_len = (uint32_t)strlen(bad);
    cr_assert(sip_layer_udp(layer, &p), "SIP that fails to parse is still SIP");
    cr_assert_eq(counter("sip.malformed"), 1);
    cr_assert_eq(seen.count, 1);
    cr_assert_eq(counter("sip.udp_messages"), 1);
}

/* A body typed application/sdp that is not SDP: the message is delivered
 * without SDP and counted as sip.sdp_unparsed, on both parsing paths (the
 * Proxy-Authorization header sends the second message to libosip2). */
Test(sip_stream, sdp_that_does_not_parse_is_counted)
{
    char buf[2048];
    const char *garbage = "this is not SDP\r\n";
    struct packet p = {.ts_us = 42, .sport = 5060, .dport = 5080};
    size_t n = make_msg(buf, sizeof(buf), 1, garbage);
    p.payload = (const uint8_t *)buf;
    p.payload_len = (uint32_t)n;
    cr_assert(sip_layer_udp(layer, &p));
    cr_assert_eq(seen.count, 1);
    cr_assert_not(seen.has_sdp[0]);
    cr_assert_eq(counter("sip.sdp_unparsed"), 1);
    cr_assert_eq(counter("sip.fast_path"), 1);

    n = sip_test_request(buf, sizeof(buf), "OPTIONS",
                         "Content-Type: application/sdp\r\n"
                         "Proxy-Authorization: Digest username=\"a\", realm=\"r\", nonce=\"n\", "
                         "uri=\"sip:a@b\", response=\"0123456789abcdef0123456789abcdef\"\r\n",
                         garbage);
    p.payload_len = (uint32_t)n;
    cr_assert(sip_layer_udp(layer, &p));
    cr_assert_eq(seen.count, 2);
    cr_assert_not(seen.has_sdp[1]);
    cr_assert_eq(counter("sip.osip_path"), 1);
    cr_assert_eq(counter("sip.sdp_unparsed"), 2);

    n = make_msg(buf, sizeof(buf), 3, sdp_body);
    p.payload_len = (uint32_t)n;
    cr_assert(sip_layer_udp(layer, &p));
    cr_assert(seen.has_sdp[2]);
    cr_assert_eq(counter("sip.sdp_unparsed"), 2, "SDP that parses is not counted");
}

Test(sip_stream, udp_message_cut_by_the_capture_is_not_parsed)
{
    /* A snap length cut the INVITE inside its SDP: the headers up to the cut
     * would parse, the body would not say what the message did. */
    char buf[2048];
    size_t n = make_msg(buf, sizeof(buf), 1, sdp_body);
    struct packet p = {.ts_us = 42,
                       .payload = (const uint8_t *)buf,
                       .payload_len = (uint32_t)(n - 20),
                       .sport = 5060,
                       .dport = 5080,
                       .truncated = true};
    cr_assert(sip_layer_udp(layer, &p), "cut SIP is still SIP traffic, not media");
    cr_assert_eq(seen.count, 0);
    cr_assert_eq(counter("sip.truncated"), 1);
    cr_assert_eq(counter("sip.udp_messages"), 0);
    /* RTP cut short is still for the media path. */
    uint8_t rtp[40] = {0x80, 0x08, 0x01, 0x02};
    p.payload = rtp;
    p.payload_len = sizeof(rtp);
    cr_assert(!sip_layer_udp(layer, &p));
    cr_assert_eq(counter("sip.truncated"), 1);
}

Test(sip_stream, tcp_coalesced_messages_and_keepalives)
{
    static char all[16384];
    size_t n = 0;
    n += (size_t)snprintf(all + n, sizeof(all) - n, "\r\n\r\n");
    for (int i = 0; i < 5; i++) {
        n += make_msg(all + n, sizeof(all) - n, i, i % 2 ? sdp_body : NULL);
        n += (size_t)snprintf(all + n, sizeof(all) - n, "\r\n");
    }
    static struct stream st = {.id = 1};
    stream_feed(&st, all, n);
    cr_assert_eq(seen.count, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(seen.cseqs[i], (uint32_t)i);
        cr_assert_eq(seen.transports[i], SIP_TRANSPORT_TCP);
        cr_assert_eq(seen.has_sdp[i], i % 2 == 1);
    }
    cr_assert_eq(st.len, 0);
    cr_assert_eq(counter("sip.tcp_messages"), 5);
    cr_assert_geq(counter("sip.keepalive"), 1);
}

Test(sip_stream, tcp_split_at_every_offset)
{
    static char two[8192];
    size_t n1 = make_msg(two, sizeof(two), 1, sdp_body);
    size_t n = n1 + make_msg(two + n1, sizeof(two) - n1, 2, NULL);
    for (size_t cut = 1; cut < n; cut++) {
        static struct stream st;
        memset(&st, 0, sizeof(st));
        st.id = 100 + cut;
        seen.count = 0;
        stream_feed(&st, two, cut);
        stream_feed(&st, two + cut, n - cut);
        cr_assert_eq(seen.count, 2, "cut at %zu", cut);
        cr_assert_eq(seen.cseqs[0], 1);
        cr_assert_eq(seen.cseqs[1], 2);
        cr_assert(seen.has_sdp[0], "cut at %zu: body split from headers", cut);
        cr_assert_eq(seen.raw_lens[0], n1);
        cr_assert_eq(st.len, 0);
    }
    /* One byte at a time. */
    static struct stream st = {.id = 7};
    seen.count = 0;
    for (size_t i = 0; i < n; i++)
        stream_feed(&st, two + i, 1);
    cr_assert_eq(seen.count, 2);
    cr_assert_eq(counter("sip.malformed"), 0);
}

/* 32 KB of headers in 100-byte segments: each segment's search starts where
 * the last one stopped (the note says all pending bytes were searched), and
 * the message still arrives whole, its body too. */
Test(sip_stream, tcp_long_headers_are_searched_once)
{
    static char msg[40000];
    size_t n =
        (size_t)snprintf(msg, sizeof(msg),
                         "OPTIONS sip:a@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.2;"
                         "branch=z9hG4bK1\r\nFrom: <sip:b@192.0.2.2>;tag=1\r\nTo: "
                         "<sip:a@192.0.2.1>\r\nCall-ID: long@192.0.2.2\r\nCSeq: 3 OPTIONS\r\n");
    while (n < 32000)
        n += (size_t)snprintf(msg + n, sizeof(msg) - n, "X-Pad: %090d\r\n", 0);
    n += (size_t)snprintf(msg + n, sizeof(msg) - n, "Content-Length: 250\r\n\r\n");
    size_t hdr = n;
    memset(msg + n, 'b', 250);
    n += 250;
    static struct stream st = {.id = 4242};
    seen.count = 0;
    for (size_t off = 0; off < n; off += 100) {
        stream_feed(&st, msg + off, n - off < 100 ? n - off : 100);
        if (st.len > 0 && st.len < hdr)
            cr_assert_eq(st.scan_state, st.len, "at %zu: searched all pending bytes", off);
        if (st.len >= hdr)
            cr_assert_eq(st.scan_state, 1ull << 63 | 250ull << 32 | hdr,
                         "at %zu: waits for the body", off);
    }
    cr_assert_eq(seen.count, 1);
    cr_assert_eq(seen.raw_lens[0], n);
    cr_assert_eq(st.len, 0);
    cr_assert_eq(counter("sip.malformed"), 0);
}

Test(sip_stream, tcp_compact_content_length)
{
    char msg[2048];
    size_t n = make_msg(msg, sizeof(msg), 3, sdp_body);
    char *cl = strstr(msg, "Content-Length:");
    /* "Content-Length: 48" -> "l:              48", same length */
    memcpy(cl, "l:             ", 15);
    static struct stream st = {.id = 9};
    stream_feed(&st, msg, n);
    stream_feed(&st, msg, n);
    cr_assert_eq(seen.count, 2);
    cr_assert(seen.has_sdp[0] && seen.has_sdp[1]);
}

Test(sip_stream, tcp_garbage_recovery)
{
    static char data[16384];
    size_t n = 0;
    uint32_t x = 99;
    for (int k = 0; k < 700; k++) {
        x = x * 1103515245u + 12345u;
        data[n++] = (char)(x >> 16);
    }
    data[n++] = '\n';
    n += make_msg(data + n, sizeof(data) - n, 4, NULL);
    memcpy(data + n, "garbage line\r\n", 14);
    n += 14;
    n += make_msg(data + n, sizeof(data) - n, 5, NULL);
    static struct stream st = {.id = 11};
    /* In small pieces, so the resync also meets partial lines. */
    for (size_t i = 0; i < n; i += 37)
        stream_feed(&st, data + i, n - i < 37 ? n - i : 37);
    cr_assert_eq(seen.count, 2);
    cr_assert_eq(seen.cseqs[0], 4);
    cr_assert_eq(seen.cseqs[1], 5);
    cr_assert_geq(counter("sip.tcp_resync"), 2);
    cr_assert_geq(counter("sip.tcp_garbage_bytes"), 700);

    /* Pure garbage without a newline: given up as consumed, never wedged. */
    static struct stream g = {.id = 12};
    static char junk[100000];
    memset(junk, 'A', sizeof(junk));
    for (int i = 0; i < 2; i++)
        stream_feed(&g, junk, sizeof(junk));
    cr_assert_lt(g.len, 2048);
    /* A first line that never ends. */
    static struct stream h = {.id = 13};
    memcpy(junk, "INVITE sip:", 11);
    memset(junk + 11, 'x', sizeof(junk) - 11);
    stream_feed(&h, junk, sizeof(junk));
    cr_assert_lt(h.len, 2048);
}

Test(sip_stream, tcp_hostile_content_length)
{
    const char *head = "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n"
                       "From: <sip:a@b>;tag=x\r\nTo: <sip:a@b>\r\nCall-ID: cl\r\n"
                       "CSeq: 1 INVITE\r\n";
    const char *cls[] = {"Content-Length: 999999999999\r\n", "Content-Length: -4\r\n",
                         "Content-Length: abc\r\n"};
    char good[2048];
    size_t gn = make_msg(good, sizeof(good), 6, NULL);
    for (int i = 0; i < 3; i++) {
        static struct stream st;
        memset(&st, 0, sizeof(st));
        st.id = 20 + (uint64_t)i;
        seen.count = 0;
        char buf[4096];
        int n = snprintf(buf, sizeof(buf), "%s%s\r\nbody bytes\r\n", head, cls[i]);
        stream_feed(&st, buf, (size_t)n);
        stream_feed(&st, good, gn);
        cr_assert_eq(seen.count, 1, "case %d", i);
        cr_assert_eq(seen.cseqs[0], 6);
        cr_assert_eq(st.len, 0);
    }
    cr_assert_eq(counter("sip.too_large"), 1);
    cr_assert_eq(counter("sip.bad_content_length"), 2);

    /* Missing Content-Length on TCP: taken as 0. */
    static struct stream st = {.id = 30};
    seen.count = 0;
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "%s\r\n", head);
    stream_feed(&st, buf, (size_t)n);
    cr_assert_eq(seen.count, 1);

    /* Headers that never end: dropped past the cap. */
    static struct stream big = {.id = 31};
    static char hdrs[70000];
    size_t hn = (size_t)snprintf(hdrs, sizeof(hdrs), "%s", head);
    while (hn + 20 < sizeof(hdrs))
        hn += (size_t)snprintf(hdrs + hn, sizeof(hdrs) - hn, "X-Pad: 0123456789\r\n");
    stream_feed(&big, hdrs, hn);
    cr_assert_lt(big.len, 40000);
    cr_assert_geq(counter("sip.too_large"), 2);
}

/* ---- WebSocket ---- */

static size_t ws_frame(uint8_t *out, bool fin, uint8_t opcode, const uint8_t *payload, size_t n,
                       const uint8_t *mask, bool force64)
{
    size_t h = 0;
    out[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t m = mask ? 0x80 : 0;
    if (force64) {
        out[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    } else if (n < 126) {
        out[h++] = m | (uint8_t)n;
    } else {
        out[h++] = m | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    }
    if (mask) {
        memcpy(out + h, mask, 4);
        h += 4;
    }
    for (size_t i = 0; i < n; i++)
        out[h + i] = mask ? payload[i] ^ mask[i & 3] : payload[i];
    return h + n;
}

static const char *ws_request = "GET / HTTP/1.1\r\nHost: sip.example\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"
                                "Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n";
static const char *ws_response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n";

Test(sip_stream, websocket_masked_unmasked_and_lengths)
{
    static struct stream client = {.id = 50, .direction = 0};
    static struct stream server = {.id = 50, .direction = 1};
    static uint8_t frames[65536];
    char msg[4096];
    const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};

    stream_feed(&client, ws_request, strlen(ws_request));
    stream_feed(&server, ws_response, strlen(ws_response));
    cr_assert_eq(counter("sip.ws_upgrades"), 2);
    cr_assert_eq(seen.count, 0);

    /* Masked client frame, short (< 126) is impossible for a SIP message, so 16-bit. */
    size_t n = make_msg(msg, sizeof(msg), 1, sdp_body);
    size_t f = ws_frame(frames, true, 1, (const uint8_t *)msg, n, mask, false);
    /* A ping in between, and a split frame. */
    f += ws_frame(frames + f, true, 9, (const uint8_t *)"hi", 2, mask, false);
    n = make_msg(msg, sizeof(msg), 2, NULL);
    f += ws_frame(frames + f, true, 2, (const uint8_t *)msg, n, mask, true); /* 64-bit length */
    stream_feed(&client, frames, 10);
    stream_feed(&client, frames + 10, f - 10);
    cr_assert_eq(seen.count, 2);
    cr_assert_eq(seen.transports[0], SIP_TRANSPORT_WS);
    cr_assert(seen.has_sdp[0]);
    cr_assert_eq(seen.cseqs[1], 2);
    cr_assert_eq(counter("sip.ws_control_frames"), 1);

    /* Unmasked server frame. */
    n = sip_test_response(msg, sizeof(msg), 200, "OK", "OPTIONS", NULL, NULL);
    f = ws_frame(frames, true, 1, (const uint8_t *)msg, n, NULL, false);
    stream_feed(&server, frames, f);
    cr_assert_eq(seen.count, 3);
    cr_assert_eq(client.len + server.len, 0);
    cr_assert_eq(counter("sip.ws_messages"), 3);
    cr_assert_geq(counter("sip.ws_frames"), 4);

    sip_layer_tcp_close(layer, 50);
    /* After close the stream is forgotten: frames are garbage now. */
    stream_feed(&server, frames, f);
    cr_assert_eq(seen.count, 3);
}

Test(sip_stream, websocket_fragmented_message)
{
    static struct stream client = {.id = 60};
    static uint8_t frames[16384];
    char msg[4096];
    const uint8_t mask[4] = {0xa5, 0x5a, 0x01, 0xff};
    stream_feed(&client, ws_request, strlen(ws_request));
    size_t n = make_msg(msg, sizeof(msg), 8, sdp_body);
    size_t a = n / 3, b = 2 * n / 3;
    size_t f = ws_frame(frames, false, 1, (const uint8_t *)msg, a, mask, false);
    f += ws_frame(frames + f, true, 10, (const uint8_t *)"", 0, mask, false); /* pong between */
    f += ws_frame(frames + f, false, 0, (const uint8_t *)msg + a, b - a, mask, false);
    f += ws_frame(frames + f, true, 0, (const uint8_t *)msg + b, n - b, mask, false);
    for (size_t i = 0; i < f; i++)
        stream_feed(&client, frames + i, 1);
    cr_assert_eq(seen.count, 1);
    cr_assert_eq(seen.cseqs[0], 8);
    cr_assert(seen.has_sdp[0]);
    cr_assert_eq(seen.raw_lens[0], n);

    /* A continuation with nothing to continue, and a frame too large. */
    f = ws_frame(frames, true, 0, (const uint8_t *)msg, 20, NULL, false);
    stream_feed(&client, frames, f);
    cr_assert_eq(counter("sip.ws_bad_frames"), 1);
    uint8_t huge[10] = {0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}; /* 256 MiB */
    stream_feed(&client, huge, sizeof(huge));
    cr_assert_eq(counter("sip.ws_too_large"), 1);
    static uint8_t filler[65536];
    stream_feed(&client, filler, sizeof(filler));
    cr_assert_eq(client.len, 0, "oversized frame payload skipped as it arrives");
    cr_assert_eq(seen.count, 1);
}

Test(sip_stream, websocket_refused_upgrade_falls_back_to_sip)
{
    static struct stream client = {.id = 70};
    stream_feed(&client, ws_request, strlen(ws_request));
    /* The peer never upgraded: plain SIP follows on this direction. */
    char msg[2048];
    size_t n = make_msg(msg, sizeof(msg), 3, NULL);
    stream_feed(&client, msg, n);
    stream_feed(&client, msg, n);
    cr_assert_eq(seen.count, 2);
    cr_assert_eq(seen.transports[0], SIP_TRANSPORT_TCP);
    cr_assert_geq(counter("sip.ws_bad_frames"), 1);
}

/* Deterministic mutations of a valid message: nothing may crash, and every
 * datagram is accounted for exactly once. */
Test(sip_stream, mutated_messages_are_counted_never_fatal)
{
    char base[2048], work[2048];
    size_t n = make_msg(base, sizeof(base), 1, sdp_body);
    static struct stream st = {.id = 90};
    const int rounds = 3000;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t x = 2024;
        for (int r = 0; r < rounds; r++) {
            memcpy(work, base, n);
            int flips = 1 + r % 8;
            for (int k = 0; k < flips; k++) {
                x = x * 1103515245u + 12345u;
                size_t at = (x >> 8) % n;
                x = x * 1103515245u + 12345u;
                work[at] = (char)(x >> 16);
            }
            x = x * 1103515245u + 12345u;
            size_t len = r % 3 ? n : (x >> 8) % n; /* sometimes truncated too */
            struct packet p = {.payload = (const uint8_t *)work, .payload_len = (uint32_t)len};
            if (pass == 0)
                sip_layer_udp(layer, &p);
            else
                stream_feed(&st, work, len);
        }
        if (pass == 0) {
            uint64_t total = counter("sip.udp_messages") + counter("sip.not_sip") +
                             counter("sip.keepalive") + counter("sip.malformed");
            cr_assert_eq(total, (uint64_t)rounds, "every datagram counted exactly once");
            cr_assert_gt(counter("sip.udp_messages"), 0, "some mutants still parse");
            cr_assert_gt(counter("sip.malformed") + counter("sip.not_sip"), 0);
            cr_assert_eq(seen.count, counter("sip.udp_messages"));
        }
    }
    cr_assert_lt(st.len, 70000, "the stream never wedges");
    cr_assert_gt(counter("sip.tcp_messages"), 0);
}

/*
 * The HEP output in process, against sockets of the test's own on
 * loopback: what goes on the wire (every chunk of a SIP message, RTCP and
 * an event, the filter), and that its counters are exact: over UDP a
 * datagram bounced by the port is failed, not delivered; over TCP nothing
 * is delivered before the peer's TCP holds it, an outage loses nothing, a
 * full queue drops exactly the oldest unsent messages, and a connection
 * the peer closes is made again.
 */
#include <criterion/criterion.h>
#include <inttypes.h>

#include "decoders/hep.h"
#include "helpers.h"
#include "outputs/hep.h"
#include "outputs/sink.h"

static const uint64_t t0 = 1775124930123456ull;

static int udp_bound(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int tcp_listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(listen(fd, 4) == 0);
    return fd;
}

struct fixture {
    struct event_bus bus;
    struct sink *sink;
    struct ev_loop *loop;
};

static void fixture_init(struct fixture *f, const char *spec, size_t queue_size)
{
    struct sink_options o;
    sink_options_defaults(&o);
    if (queue_size)
        o.queue_size = queue_size;
    char err[512];
    f->sink = sink_create(spec, &o, err, sizeof(err));
    cr_assert_not_null(f->sink, "%s", err);
    cr_assert(hep_sink_is(f->sink));
    event_bus_init(&f->bus, "tap1");
    event_bus_add_sink(&f->bus, f->sink);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_eq(f->sink->ops->start(f->sink, f->loop), 0);
}

static void fixture_fini(struct fixture *f)
{
    event_bus_destroy(&f->bus);
    ev_loop_destroy(f->loop);
}

static void offer_sip(struct sink *s, unsigned i)
{
    char text[128];
    int n = snprintf(text, sizeof(text), "OPTIONS sip:%u@example.test SIP/2.0\r\nCSeq: %u\r\n\r\n",
                     i, i);
    struct endpoint src = {0}, dst = {0};
    cr_assert(net_addr_parse(&src.addr, "192.0.2.1"));
    cr_assert(net_addr_parse(&dst.addr, "192.0.2.2"));
    src.port = 5060;
    dst.port = (uint16_t)(5070 + i);
    struct hep_capture c = {.ts_us = t0 + i,
                            .src = &src,
                            .dst = &dst,
                            .ip_proto = 17,
                            .proto_type = HEP_PROTO_SIP,
                            .payload = (const uint8_t *)text,
                            .len = (size_t)n};
    hep_sink_capture(s, &c);
}

static struct hep_sink_counts counts(struct sink *s, enum hep_sink_kind k)
{
    struct hep_sink_counts c;
    hep_sink_counts(s, k, &c);
    return c;
}

static bool nothing_pending(void *arg)
{
    struct sink *s = arg;
    for (int k = 0; k < HEP_KIND_COUNT; k++)
        if (counts(s, k).pending)
            return false;
    return true;
}

Test(hep_sink, udp_carries_sip_rtcp_and_chosen_events)
{
    int port;
    int rx = udp_bound(&port);
    char spec[160];
    snprintf(spec, sizeof(spec), "hep://127.0.0.1:%d?id=2001&node=tap-one&password=pw", port);
    struct fixture f;
    fixture_init(&f, spec, 0);
    cr_assert(strstr(f.sink->name, "password=***") && !strstr(f.sink->name, "pw"),
              "the name shows the password: %s", f.sink->name);
    for (unsigned i = 0; i < 3; i++)
        offer_sip(f.sink, i);
    helper_publish(&f.bus, "stats", SEVERITY_INFO, t0, NULL, NULL); /* not taken by default */
    struct event ev;
    event_begin(&ev, "call_end", SEVERITY_INFO, t0 + 5, "call-1@h", NULL);
    json_writer_member_string(&ev.body, "src", "198.51.100.1:5060");
    json_writer_member_string(&ev.body, "dst", "198.51.100.2:5062");
    event_publish(&f.bus, &ev);
    helper_publish(&f.bus, "one_way_audio", SEVERITY_WARNING, t0 + 6, "call-2@h", NULL);
    cr_assert(helper_run_loop_until(f.loop, 5, nothing_pending, f.sink));

    uint8_t buf[65536];
    unsigned sip = 0, logs = 0;
    struct timeval tv = {1, 0};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (int i = 0; i < 5; i++) {
        ssize_t n = recv(rx, buf, sizeof(buf), 0);
        cr_assert_gt(n, 0, "datagram %d missing", i);
        struct hep_message m;
        cr_assert_eq(hep_decode(buf, (size_t)n, &m), HEP_OK);
        cr_assert_eq(m.capture_id, 2001u);
        cr_assert_eq(m.node_name_len, 7);
        cr_assert(memcmp(m.node_name, "tap-one", 7) == 0);
        cr_assert_eq(m.auth_key_len, 2);
        if (m.proto_type == HEP_PROTO_SIP) {
            char want[128];
            snprintf(want, sizeof(want), "OPTIONS sip:%u@example.test SIP/2.0\r\nCSeq: %u\r\n\r\n",
                     sip, sip);
            cr_assert_eq(m.payload_len, strlen(want));
            cr_assert(memcmp(m.payload, want, m.payload_len) == 0);
            cr_assert_eq(m.dport, 5070 + sip);
            cr_assert_eq((uint64_t)m.ts_sec * 1000000u + m.ts_usec, t0 + sip);
            cr_assert_eq(m.ip_proto, 17);
            cr_assert_eq(m.correlation_id_len, 0);
            sip++;
        } else {
            cr_assert_eq(m.proto_type, HEP_PROTO_LOG);
            const char *want_cid = logs == 0 ? "call-1@h" : "call-2@h";
            cr_assert_eq(m.correlation_id_len, strlen(want_cid));
            cr_assert(memcmp(m.correlation_id, want_cid, m.correlation_id_len) == 0);
            json_t *j = json_loadb((const char *)m.payload, m.payload_len, 0, NULL);
            cr_assert_not_null(j);
            cr_assert_str_eq(json_string_value(json_object_get(j, "call_id")), want_cid);
            cr_assert_eq((uint64_t)m.ts_sec * 1000000u + m.ts_usec, t0 + 5 + logs);
            if (logs == 0) {
                char a[64];
                cr_assert_str_eq(net_addr_format(&m.src, a, sizeof(a)), "198.51.100.1");
                cr_assert_eq(m.dport, 5062);
            }
            json_decref(j);
            logs++;
        }
    }
    cr_assert_eq(sip, 3);
    cr_assert_eq(logs, 2);
    cr_assert_lt(recv(rx, buf, sizeof(buf), 0), 0, "the stats event went out");
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).delivered, 3);
    cr_assert_eq(counts(f.sink, HEP_KIND_EVENT).delivered, 2);
    cr_assert_eq(f.sink->delivered, 2);
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).failed + counts(f.sink, HEP_KIND_SIP).dropped, 0);
    fixture_fini(&f);
    close(rx);
}

static bool ten_failed(void *arg)
{
    return counts(arg, HEP_KIND_SIP).failed == 10;
}

Test(hep_sink, udp_to_a_closed_port_counts_every_message_failed)
{
    int port;
    close(udp_bound(&port)); /* nothing listens there now */
    char spec[96];
    snprintf(spec, sizeof(spec), "hep://127.0.0.1:%d", port);
    struct fixture f;
    fixture_init(&f, spec, 0);
    /* Paced: the kernel's ICMP rate limit (a burst of 50, then 1,000 a
     * second, shared by the host) must not swallow the bounces. */
    for (unsigned i = 0; i < 10; i++) {
        offer_sip(f.sink, i);
        ev_run(f.loop, EVRUN_NOWAIT);
        helper_pause_ms(10);
        ev_run(f.loop, EVRUN_NOWAIT);
    }
    helper_run_loop_until(f.loop, 5, ten_failed, f.sink);
    struct hep_sink_counts c = counts(f.sink, HEP_KIND_SIP);
    cr_assert_eq(c.delivered, 0, "%" PRIu64 " said delivered to a closed port", c.delivered);
    cr_assert_eq(c.failed, 10);
    cr_assert_eq(c.pending, 0);
    fixture_fini(&f);
}

Test(hep_sink, udp_messages_above_max_size_fail)
{
    int port;
    int rx = udp_bound(&port);
    char spec[96];
    snprintf(spec, sizeof(spec), "hep://127.0.0.1:%d?max_size=150", port);
    struct fixture f;
    fixture_init(&f, spec, 0);
    offer_sip(f.sink, 1); /* 95 + 46 bytes: fits */
    char big[200];
    memset(big, 'x', sizeof(big));
    struct endpoint e = {0};
    cr_assert(net_addr_parse(&e.addr, "192.0.2.9"));
    struct hep_capture c = {.ts_us = t0,
                            .src = &e,
                            .dst = &e,
                            .ip_proto = 17,
                            .proto_type = HEP_PROTO_SIP,
                            .payload = (const uint8_t *)big,
                            .len = sizeof(big)};
    hep_sink_capture(f.sink, &c);
    cr_assert(helper_run_loop_until(f.loop, 5, nothing_pending, f.sink));
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).delivered, 1);
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).failed, 1);
    uint8_t buf[512];
    cr_assert_leq(recv(rx, buf, sizeof(buf), 0), 150);
    fixture_fini(&f);
    close(rx);
}

/* Reads a TCP stream until want messages are framed (or 5 s). */
static void read_messages(int fd, unsigned want, unsigned first_index)
{
    static uint8_t stream[1 << 16];
    size_t len = 0;
    unsigned got = 0;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (got < want) {
        size_t n;
        if (hep_frame(stream, len, &n) == HEP_FRAME_OK) {
            struct hep_message m;
            cr_assert_eq(hep_decode(stream, n, &m), HEP_OK);
            char cseq[32];
            snprintf(cseq, sizeof(cseq), "CSeq: %u\r\n", first_index + got);
            cr_assert(memmem(m.payload, m.payload_len, cseq, strlen(cseq)), "message %u is not %s",
                      got, cseq);
            memmove(stream, stream + n, len - n);
            len -= n;
            got++;
            continue;
        }
        ssize_t r = recv(fd, stream + len, sizeof(stream) - len, 0);
        cr_assert_gt(r, 0, "stream ended after %u of %u messages", got, want);
        len += (size_t)r;
    }
}

static bool sip_delivered_5(void *arg)
{
    return counts(arg, HEP_KIND_SIP).delivered == 5;
}

static bool sip_delivered_8(void *arg)
{
    return counts(arg, HEP_KIND_SIP).delivered == 8;
}

static int accept_within(int lfd, struct ev_loop *loop, double timeout_s)
{
    int fl = fcntl(lfd, F_GETFL);
    fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
    double end = helper_now() + timeout_s;
    while (helper_now() < end) {
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0)
            return fd;
        ev_run(loop, EVRUN_NOWAIT);
        helper_pause_ms(5);
    }
    return -1;
}

Test(hep_sink, tcp_outage_loses_nothing_and_reconnects)
{
    int port = helper_free_port();
    char spec[96];
    snprintf(spec, sizeof(spec), "hep://127.0.0.1:%d?transport=tcp", port);
    struct fixture f;
    fixture_init(&f, spec, 0);
    for (unsigned i = 0; i < 5; i++)
        offer_sip(f.sink, i);
    helper_run_loop_until(f.loop, 0.3, sip_delivered_5, f.sink);
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).delivered, 0, "delivered with no peer");
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).pending, 5);

    int lfd = tcp_listen_on(port);
    int c1 = accept_within(lfd, f.loop, 10);
    cr_assert_geq(c1, 0, "the sink did not reconnect");
    cr_assert(helper_run_loop_until(f.loop, 5, sip_delivered_5, f.sink));
    read_messages(c1, 5, 0);

    /* The peer goes away; the sink connects again and sends the rest. */
    close(c1);
    helper_run_loop_until(f.loop, 0.2, sip_delivered_8, f.sink);
    for (unsigned i = 5; i < 8; i++)
        offer_sip(f.sink, i);
    int c2 = accept_within(lfd, f.loop, 10);
    cr_assert_geq(c2, 0, "no second connection");
    cr_assert(helper_run_loop_until(f.loop, 5, sip_delivered_8, f.sink));
    read_messages(c2, 3, 5);
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).failed, 0);
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).dropped, 0);
    json_t *stats = json_object();
    f.sink->ops->add_stats(f.sink, stats);
    cr_assert_geq(json_integer_value(json_object_get(stats, "reconnects")), 1);
    json_decref(stats);
    close(c2);
    close(lfd);
    fixture_fini(&f);
}

static bool four_delivered(void *arg)
{
    return counts(arg, HEP_KIND_SIP).delivered == 4;
}

Test(hep_sink, full_queue_drops_the_oldest_unsent_exactly)
{
    int port = helper_free_port();
    char spec[96];
    snprintf(spec, sizeof(spec), "hep://127.0.0.1:%d?transport=tcp", port);
    struct fixture f;
    fixture_init(&f, spec, 4);
    for (unsigned i = 0; i < 10; i++)
        offer_sip(f.sink, i);
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).dropped, 6);
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).pending, 4);
    int lfd = tcp_listen_on(port);
    int c = accept_within(lfd, f.loop, 10);
    cr_assert_geq(c, 0);
    cr_assert(helper_run_loop_until(f.loop, 5, four_delivered, f.sink));
    read_messages(c, 4, 6); /* the newest four, in order */
    cr_assert_eq(counts(f.sink, HEP_KIND_SIP).dropped, 6);
    close(c);
    close(lfd);
    fixture_fini(&f);
}

Test(hep_sink, malformed_forms_say_the_right_form)
{
    static const char *const bad[] = {
        "hep://",
        "hep://127.0.0.1",
        "hep://127.0.0.1:0",
        "hep://127.0.0.1:70000",
        "hep://h:9060?transport=sctp",
        "hep://h:9060?bogus=1",
        "hep://h:9060?id=x",
        "hep://h:9060?id",
        "hep://h:9060?max_size=10",
        "hep://h:9060/x",
    };
    struct sink_options o;
    sink_options_defaults(&o);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        struct sink *s = sink_create(bad[i], &o, err, sizeof(err));
        cr_assert_null(s, "%s accepted", bad[i]);
        cr_assert(strstr(err, "hep://HOST:PORT"), "%s: %s", bad[i], err);
    }
    char err[512];
    struct sink *s =
        sink_create("hep://[::1]:9060?transport=tcp&id=7&node=n", &o, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    cr_assert_str_eq(s->ops->kind, "hep");
    s->ops->destroy(s);
}

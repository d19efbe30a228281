/*
 * siptapd and HEP end to end, on loopback only ($SIPTAPD):
 *
 *   hep_input: `-i hep://` fed by the test: malformed HEP of every kind
 *   (cut chunks, lengths that lie, unknown vendors, HEPv2, garbage on a TCP
 *   stream) is counted by name in the stats event and never stops the
 *   daemon; the calls it carries are analysed, with the capture time and
 *   addresses of the HEP chunks and the agent that sent them.
 *
 *   hep_output: `-o hep://` to the test's own UDP socket sends every SIP
 *   message of the capture, RTCP as JSON reports, and the events a
 *   [route hep] section chooses, the reports and events each correlated
 *   with its call by the Call-ID.
 *
 *   sngrep: a real peer both ways. `sngrep -N -L` receiving siptapd's HEP
 *   output must hold every SIP message of the capture siptapd read (same
 *   addresses, ports, capture times and bytes); `sngrep -N -I FILE -H`
 *   sending the capture into `siptapd -i hep://` must give the same call
 *   events (calls, statuses, SIP-only alerts) as `siptapd -r FILE`. Skips,
 *   saying so, when sngrep is not installed.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "decoders/decode.h"
#include "decoders/hep.h"
#include "sip/sip.h"
#include "tests/support/daemon_events.h"
#include "tests/support/event_schema.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *siptapd(void)
{
    const char *p = getenv("SIPTAPD");
    if (!p || access(p, X_OK) != 0)
        cr_skip_test("SIPTAPD is not set or not executable");
    return p;
}

static char *source_path(const char *rel)
{
    static char path[4][512];
    static int next;
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    char *p = path[next++ % 4];
    snprintf(p, 512, "%s/%s", root ? root : ".", rel);
    return p;
}

/* A loopback port nothing uses now (bound to 0, then released). */
static int free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Someone holds the UDP port (binding it fails) / accepts on the TCP port. */
static bool port_taken(int type, int port)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool taken = type == SOCK_DGRAM ? bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0
                                    : connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return taken;
}

static void wait_port(int type, int port, pid_t pid)
{
    double end = now_s() + 10;
    while (!port_taken(type, port)) {
        int st;
        cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "the listener exited early");
        cr_assert_lt(now_s(), end, "nothing listens on port %d", port);
        pause_ms(20);
    }
}

/* The last stats event's counter, or -1. */
static json_int_t last_counter(const struct daemon_events *events, const char *name)
{
    const json_t *stats = daemon_events_last(events, "stats");
    return stats ? json_integer_value(json_object_get(json_object_get(stats, "counters"), name))
                 : -1;
}

/* Sends SIGUSR1 until a stats event says counter >= want (10 s at most). */
static void stats_until(struct daemon_events *ev, pid_t pid, const char *out, const char *counter,
                        json_int_t want)
{
    double end = now_s() + 10;
    for (;;) {
        kill(pid, SIGUSR1);
        pause_ms(100);
        daemon_events_read_file(ev, out);
        if (last_counter(ev, counter) >= want)
            return;
        daemon_events_free(ev);
        cr_assert_lt(now_s(), end, "%s never reached %lld", counter, (long long)want);
    }
}

/* ---- HEP messages made here ---------------------------------------------------- */

static size_t make_hep(uint8_t *out, size_t cap, const char *payload, uint64_t ts_us,
                       const char *node, uint16_t sport)
{
    struct hep_message m = {0};
    cr_assert(net_addr_parse(&m.src, "192.0.2.10"));
    cr_assert(net_addr_parse(&m.dst, "192.0.2.20"));
    m.ip_proto = 17;
    m.sport = sport;
    m.dport = 5060;
    m.ts_sec = (uint32_t)(ts_us / 1000000u);
    m.ts_usec = (uint32_t)(ts_us % 1000000u);
    m.proto_type = HEP_PROTO_SIP;
    m.capture_id = 77;
    m.payload = (const uint8_t *)payload;
    m.payload_len = strlen(payload);
    if (node) {
        m.node_name = (const uint8_t *)node;
        m.node_name_len = strlen(node);
    }
    size_t n = hep_encode(&m, HEP_ORDER_SPEC, out, cap);
    cr_assert_gt(n, 0);
    return n;
}

static const char invite[] = "INVITE sip:200@192.0.2.20 SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-hep1\r\n"
                             "From: <sip:100@192.0.2.10>;tag=a1\r\n"
                             "To: <sip:200@192.0.2.20>\r\n"
                             "Call-ID: hep-call-1@192.0.2.10\r\n"
                             "CSeq: 1 INVITE\r\n"
                             "Contact: <sip:100@192.0.2.10>\r\n"
                             "Content-Length: 0\r\n\r\n";
static const char busy[] = "SIP/2.0 486 Busy Here\r\n"
                           "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-hep1\r\n"
                           "From: <sip:100@192.0.2.10>;tag=a1\r\n"
                           "To: <sip:200@192.0.2.20>;tag=b2\r\n"
                           "Call-ID: hep-call-1@192.0.2.10\r\n"
                           "CSeq: 1 INVITE\r\n"
                           "Content-Length: 0\r\n\r\n";

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void send_udp(int fd, int port, const void *data, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
}

struct run {
    char dir[64], out[96], err[96];
};

static void run_init(struct run *r)
{
    snprintf(r->dir, sizeof(r->dir), "/tmp/siptap-hep-XXXXXX");
    cr_assert_not_null(mkdtemp(r->dir));
    snprintf(r->out, sizeof(r->out), "%s/out.jsonl", r->dir);
    snprintf(r->err, sizeof(r->err), "%s/stderr", r->dir);
}

static void run_fini(struct run *r)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
    cr_assert_eq(system(cmd), 0);
}

Test(hep_input, malformed_hep_is_counted_by_name_and_never_fatal)
{
    int port = free_port(SOCK_DGRAM);
    struct run r;
    run_init(&r);
    char spec[64], file[128];
    snprintf(spec, sizeof(spec), "hep://127.0.0.1:%d", port);
    snprintf(file, sizeof(file), "file:%s", r.out);
    char *argv[] = {(char *)siptapd(), "-i", spec, "-n", "t", "-o", file, NULL};
    pid_t pid = daemon_spawn(argv, NULL, r.err);
    wait_port(SOCK_DGRAM, port, pid);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    uint8_t good[1024], b[1200];
    uint64_t t = 1775124930000000ull;
    size_t n = make_hep(good, sizeof(good), invite, t, "edge-1", 5060);
    /* Lengths that lie: the total past the datagram, a chunk past the
     * total, a chunk shorter than its header, a cut chunk header. */
    memcpy(b, good, n);
    put16(b + 4, (uint16_t)(n + 10));
    send_udp(fd, port, b, n);
    memcpy(b, good, n);
    put16(b + 6 + 4, 0x7fff);
    send_udp(fd, port, b, n);
    memcpy(b, good, n);
    put16(b + 6 + 4, 2);
    send_udp(fd, port, b, n);
    memcpy(b, good, n);
    put16(b + 4, 6 + 7 + 2);
    send_udp(fd, port, b, 6 + 7 + 2);
    /* Cut datagrams and a family that is neither IPv4 nor IPv6. */
    send_udp(fd, port, good, 3);
    send_udp(fd, port, "HEP4 not hep at all", 19);
    memcpy(b, good, n);
    b[12] = 99;
    send_udp(fd, port, b, n);
    /* HEPv2 (hep-c's layout, little-endian time) cut inside its header. */
    uint8_t v2[8] = {2, 16, 2, 17, 0x13, 0xc4, 0x13, 0xc4};
    send_udp(fd, port, v2, sizeof(v2));
    /* An unknown vendor's chunk before a good message: skipped, analysed. */
    static const uint8_t vendor_chunk[] = {0x00, 0x05, 0x00, 0x2a, 0x00, 0x09, 'x', 'y', 'z'};
    memcpy(b, good, 6);
    memcpy(b + 6, vendor_chunk, sizeof(vendor_chunk));
    memcpy(b + 6 + sizeof(vendor_chunk), good + 6, n - 6);
    put16(b + 4, (uint16_t)(n + sizeof(vendor_chunk)));
    send_udp(fd, port, b, n + sizeof(vendor_chunk));
    /* The answer as HEPv2, as sngrep and Kamailio's siptrace send it. */
    size_t off = 0;
    b[off++] = 2, b[off++] = 16, b[off++] = 2, b[off++] = 17;
    put16(b + off, 5060), put16(b + off + 2, 5060);
    off += 4;
    const uint8_t addrs[8] = {192, 0, 2, 20, 192, 0, 2, 10};
    memcpy(b + off, addrs, 8);
    off += 8;
    uint64_t t2 = t + 250000;
    uint32_t sec = (uint32_t)(t2 / 1000000u), usec = (uint32_t)(t2 % 1000000u);
    for (int i = 0; i < 4; i++) {
        b[off + i] = (uint8_t)(sec >> (8 * i));
        b[off + 4 + i] = (uint8_t)(usec >> (8 * i));
    }
    b[off + 8] = 77, b[off + 9] = 0, b[off + 10] = b[off + 11] = 0;
    off += 12;
    memcpy(b + off, busy, strlen(busy));
    send_udp(fd, port, b, off + strlen(busy));

    struct daemon_events ev;
    stats_until(&ev, pid, r.out, "hep.messages", 10);
    static const struct {
        const char *name;
        json_int_t want;
    } want[] = {
        {"hep.messages", 10},
        {"hep.bad_length", 1},
        {"hep.chunk_bad_length", 2},
        {"hep.chunk_truncated", 1},
        {"hep.truncated", 1},
        {"hep.bad_version", 1},
        {"hep.bad_family", 1},
        {"hep.v2_truncated", 1},
        {"hep.v3", 1},
        {"hep.v2", 1},
        {"hep.unknown_chunks", 1},
        {"sip.udp_messages", 2},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_eq(last_counter(&ev, want[i].name), want[i].want, "%s = %lld, want %lld",
                     want[i].name, (long long)last_counter(&ev, want[i].name),
                     (long long)want[i].want);
    daemon_events_free(&ev);
    kill(pid, SIGTERM);
    cr_assert_eq(daemon_wait(pid, 10), 0, "siptapd: %s", daemon_read_text(r.err));

    /* The call: HEP's time and addresses, and the agent that saw it. */
    daemon_events_read_file(&ev, r.out);
    bool start = false, fail = false;
    for (size_t i = 0; i < ev.count; i++) {
        const json_t *e = ev.events[i];
        const char *type = json_string_value(json_object_get(e, "type"));
        if (strcmp(type, "call_start") == 0) {
            start = true;
            cr_assert_str_eq(json_string_value(json_object_get(e, "ts")),
                             "2026-04-02T10:15:30.000000Z");
            cr_assert_str_eq(json_string_value(json_object_get(e, "src")), "192.0.2.10:5060");
            cr_assert_str_eq(json_string_value(json_object_get(e, "agent")), "edge-1");
        } else if (strcmp(type, "call_fail") == 0) {
            fail = true;
            cr_assert_eq(json_integer_value(json_object_get(e, "status")), 486);
            cr_assert_str_eq(json_string_value(json_object_get(e, "ts")),
                             "2026-04-02T10:15:30.250000Z");
            cr_assert_str_eq(json_string_value(json_object_get(e, "agent")), "edge-1");
        }
    }
    cr_assert(start && fail, "no call_start / call_fail from HEP");
    daemon_events_free(&ev);
    close(fd);
    run_fini(&r);
}

Test(hep_input, tcp_stream_resyncs_after_garbage)
{
    int port = free_port(SOCK_STREAM);
    struct run r;
    run_init(&r);
    char spec[96], file[128];
    snprintf(spec, sizeof(spec), "hep://127.0.0.1:%d?transport=tcp", port);
    snprintf(file, sizeof(file), "file:%s", r.out);
    char *argv[] = {(char *)siptapd(), "-i", spec, "-n", "t", "-o", file, NULL};
    pid_t pid = daemon_spawn(argv, NULL, r.err);
    wait_port(SOCK_STREAM, port, pid);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    uint8_t a[1024], c[1024], stream[4096];
    uint64_t t = 1775124930000000ull;
    size_t na = make_hep(a, sizeof(a), invite, t, NULL, 5060);
    size_t nc = make_hep(c, sizeof(c), busy, t + 1000, NULL, 5062);
    size_t len = 0;
    memcpy(stream + len, a, na), len += na;
    memcpy(stream + len, "garbage, then HEP", 17), len += 17;
    memcpy(stream + len, c, nc);
    put16(stream + len + 6 + 4, 0x0fff); /* a chunk that lies */
    len += nc;
    memcpy(stream + len, c, nc), len += nc;
    /* In three writes, cutting messages in the middle. */
    cr_assert_eq(write(fd, stream, na + 5), (ssize_t)(na + 5));
    pause_ms(50);
    cr_assert_eq(write(fd, stream + na + 5, 40), 40);
    pause_ms(50);
    cr_assert_eq(write(fd, stream + na + 45, len - na - 45), (ssize_t)(len - na - 45));
    struct daemon_events ev;
    stats_until(&ev, pid, r.out, "hep.messages", 3);
    cr_assert_eq(last_counter(&ev, "hep.messages"), 3);
    cr_assert_eq(last_counter(&ev, "hep.v3"), 2);
    cr_assert_eq(last_counter(&ev, "hep.chunk_bad_length"), 1);
    cr_assert_eq(last_counter(&ev, "hep.tcp_resync"), 1);
    cr_assert_eq(last_counter(&ev, "hep.tcp_bytes_skipped"), 17);
    /* wait_port's probe, then the stream. */
    cr_assert_eq(last_counter(&ev, "hep.tcp_connections"), 2);
    cr_assert_eq(last_counter(&ev, "sip.udp_messages"), 2);
    daemon_events_free(&ev);
    close(fd);
    kill(pid, SIGTERM);
    cr_assert_eq(daemon_wait(pid, 10), 0, "siptapd: %s", daemon_read_text(r.err));
    daemon_events_read_file(&ev, r.out);
    bool fail = false;
    for (size_t i = 0; i < ev.count; i++) {
        const json_t *e = ev.events[i];
        if (strcmp(json_string_value(json_object_get(e, "type")), "call_fail") == 0) {
            fail = true;
            cr_assert_str_eq(json_string_value(json_object_get(e, "agent")), "77");
        }
    }
    cr_assert(fail);
    daemon_events_free(&ev);
    run_fini(&r);
}

/* A port someone else holds is no usage error: the listener fails (1). */
Test(hep_input, a_port_in_use_is_a_failure_not_a_usage_error)
{
    int held = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    cr_assert_eq(bind(held, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(held, (struct sockaddr *)&sa, &sl), 0);
    char spec[64];
    snprintf(spec, sizeof(spec), "hep://127.0.0.1:%d", ntohs(sa.sin_port));
    char *argv[] = {(char *)siptapd(), "-i", spec, "-o", "-", NULL};
    char err[] = "/tmp/siptap-hep-err-XXXXXX";
    close(mkstemp(err));
    pid_t pid = daemon_spawn(argv, NULL, err);
    int status = daemon_wait(pid, 10);
    char *text = daemon_read_text(err);
    close(held);
    unlink(err);
    cr_assert_eq(status, 1, "-i %s: %s", spec, text);
    cr_assert(strstr(text, "cannot listen"), "-i %s: %s", spec, text);
    free(text);
}

Test(hep_input, bad_forms_are_usage_errors)
{
    static const char *const bad[] = {"hep://", "hep://127.0.0.1", "hep://127.0.0.1:9?transport=x",
                                      "hep://not-an-address:9060"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {(char *)siptapd(), "-i", (char *)bad[i], "-o", "-", NULL};
        char err[] = "/tmp/siptap-hep-err-XXXXXX";
        int efd = mkstemp(err);
        close(efd);
        pid_t pid = daemon_spawn(argv, NULL, err);
        cr_assert_eq(daemon_wait(pid, 10), 2, "-i %s", bad[i]);
        char *text = daemon_read_text(err);
        cr_assert(strstr(text, "hep://ADDR:PORT"), "-i %s: %s", bad[i], text);
        free(text);
        unlink(err);
    }
}

/* A HEP receiver that never comes: what the output holds at the end is
 * reported and the exit status says events were not delivered (3), the
 * same as for the other outputs. */
Test(hep_output, a_receiver_that_never_comes_exits_3_and_says_so)
{
    int port = free_port(SOCK_STREAM); /* nobody listens there */
    char out[128], pcap[512];
    snprintf(out, sizeof(out), "hep://127.0.0.1:%d?transport=tcp", port);
    snprintf(pcap, sizeof(pcap), "%s/samples/demo.pcap", getenv("SIPTAP_SOURCE_ROOT"));
    char *argv[] = {(char *)siptapd(), "-r", pcap, "-o", out, "-o", "file:/dev/null",
                    "--drain-timeout", "1",  NULL};
    char err[] = "/tmp/siptap-hep-err-XXXXXX";
    close(mkstemp(err));
    pid_t pid = daemon_spawn(argv, NULL, err);
    cr_assert_eq(daemon_wait(pid, 20), 3);
    char *text = daemon_read_text(err);
    char want[256];
    snprintf(want, sizeof(want), "output %s: 0 delivered, 0 dropped, 0 failed, ", out);
    cr_assert(strstr(text, want), "%s", text);
    cr_assert(strstr(text, "not delivered at shutdown (cannot connect to"), "%s", text);
    free(text);
    unlink(err);
}

/* ---- sngrep both ways ------------------------------------------------------------- */

static const char *sngrep_path(void)
{
    static const char *const where[] = {"/usr/bin/sngrep", "/usr/local/bin/sngrep"};
    for (size_t i = 0; i < 2; i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    cr_skip_test("sngrep is not installed (apt-get install sngrep)");
    return NULL;
}

/* One SIP message of a capture: where, when and its bytes. */
struct sip_frame {
    char key[160]; /* "src>dst@ts" */
    size_t len;
    uint8_t *bytes;
};

struct sip_frames {
    struct sip_frame *v;
    size_t n, cap;
};

static void on_datagram(void *user, const struct packet *pkt)
{
    struct sip_frames *f = user;
    if (!sip_sniff(pkt->payload, pkt->payload_len))
        return;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->v = realloc(f->v, f->cap * sizeof(*f->v));
    }
    struct sip_frame *s = &f->v[f->n++];
    struct endpoint src = {pkt->src, pkt->sport}, dst = {pkt->dst, pkt->dport};
    char a[ENDPOINT_STRLEN], b[ENDPOINT_STRLEN];
    snprintf(s->key, sizeof(s->key), "%s>%s@%llu", endpoint_format(&src, a, sizeof(a)),
             endpoint_format(&dst, b, sizeof(b)), (unsigned long long)pkt->ts_us);
    s->len = pkt->payload_len;
    s->bytes = malloc(s->len);
    memcpy(s->bytes, pkt->payload, s->len);
}

/* The SIP messages over UDP of a pcap file, in file order. */
static struct sip_frames read_sip(const char *path)
{
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, ebuf);
    cr_assert_not_null(p, "%s: %s", path, ebuf);
    struct counters counters;
    counters_init(&counters);
    struct sip_frames f = {0};
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    struct decode_handlers h = {.user = &f, .udp = on_datagram};
    struct decoder *d = decoder_new(&cfg, &counters, &h);
    cr_assert_eq(decoder_set_linktype(d, pcap_datalink(p)), 0);
    struct pcap_pkthdr *hdr;
    const u_char *data;
    while (pcap_next_ex(p, &hdr, &data) == 1)
        decoder_process(d, (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec, data,
                        hdr->caplen, hdr->len);
    decoder_free(d);
    pcap_close(p);
    return f;
}

static void free_sip(struct sip_frames *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].bytes);
    free(f->v);
}

Test(sngrep, receives_every_sip_message_siptapd_reads, .timeout = 120)
{
    const char *sngrep = sngrep_path();
    const char *tap = siptapd();
    struct run r;
    run_init(&r);
    int port = free_port(SOCK_DGRAM);
    char listen[64], got[128], out[128];
    snprintf(listen, sizeof(listen), "udp:127.0.0.1:%d", port);
    snprintf(got, sizeof(got), "%s/got.pcap", r.dir);
    snprintf(out, sizeof(out), "hep://127.0.0.1:%d?id=2001&node=siptap-test", port);
    char *sargv[] = {(char *)sngrep, "-N", "-q", "-L", listen, "-O", got, NULL};
    pid_t spid = daemon_spawn(sargv, NULL, NULL);
    wait_port(SOCK_DGRAM, port, spid);

    const char *input = source_path("samples/demo.pcap");
    char *targv[] = {(char *)tap, "-r", (char *)input, "-o", out, "-o", "file:/dev/null", NULL};
    pid_t tpid = daemon_spawn(targv, NULL, r.err);
    cr_assert_eq(daemon_wait(tpid, 60), 0, "siptapd: %s", daemon_read_text(r.err));
    /* sngrep writes what it received when it is told to stop. */
    struct sip_frames want = read_sip(input);
    cr_assert_gt(want.n, 40, "the demo capture has %zu SIP messages", want.n);
    pause_ms(500);
    kill(spid, SIGINT);
    cr_assert_neq(daemon_wait(spid, 10), -1, "sngrep did not stop");
    struct sip_frames have = read_sip(got);
    cr_assert_eq(have.n, want.n, "sngrep holds %zu SIP messages, the capture %zu", have.n, want.n);
    bool *used = calloc(have.n, sizeof(*used));
    for (size_t i = 0; i < want.n; i++) {
        bool found = false;
        for (size_t j = 0; j < have.n && !found; j++) {
            if (used[j] || strcmp(want.v[i].key, have.v[j].key) != 0 ||
                want.v[i].len != have.v[j].len ||
                memcmp(want.v[i].bytes, have.v[j].bytes, want.v[i].len) != 0)
                continue;
            used[j] = found = true;
        }
        cr_assert(found, "SIP message %zu (%s) is not in sngrep's capture", i, want.v[i].key);
    }
    free(used);
    free_sip(&want);
    free_sip(&have);
    run_fini(&r);
}

Test(hep_output, every_sip_message_rtcp_and_the_routed_events)
{
    const char *tap = siptapd();
    struct run r;
    run_init(&r);
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    int rcvbuf = 4 << 20;
    setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    cr_assert(bind(rx, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(getsockname(rx, (struct sockaddr *)&sa, &sl) == 0);
    char conf[128], out[96];
    snprintf(conf, sizeof(conf), "%s/route.conf", r.dir);
    FILE *c = fopen(conf, "w");
    fprintf(c, "[route hep]\nmin_severity = critical\ntypes = call_start\n");
    fclose(c);
    snprintf(out, sizeof(out), "hep://127.0.0.1:%d?id=9", ntohs(sa.sin_port));
    const char *input = source_path("samples/demo.pcap");
    char *argv[] = {(char *)tap,      "-c", conf, "-r", (char *)input, "-o", (char *)out, "-o",
                    "file:/dev/null", NULL};
    pid_t pid = daemon_spawn(argv, NULL, r.err);
    cr_assert_eq(daemon_wait(pid, 60), 0, "siptapd: %s", daemon_read_text(r.err));

    struct sip_frames sip = read_sip(input);
    size_t n_sip = 0, n_rtcp = 0, n_log = 0;
    static uint8_t buf[65536];
    ssize_t n;
    while ((n = recv(rx, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
        struct hep_message m;
        cr_assert_eq(hep_decode(buf, (size_t)n, &m), HEP_OK);
        cr_assert_eq(m.capture_id, 9u);
        if (m.proto_type == HEP_PROTO_SIP) {
            n_sip++;
        } else if (m.proto_type == HEP_PROTO_RTCP) {
            json_t *j = json_loadb((const char *)m.payload, m.payload_len, 0, NULL);
            cr_assert_not_null(j, "RTCP report is not JSON");
            cr_assert(json_is_array(json_object_get(j, "report_blocks")));
            json_decref(j);
            /* Correlated with its call through the SDP's RTCP ports. */
            cr_assert(m.correlation_id_len > 5 && memcmp(m.correlation_id, "demo-", 5) == 0,
                      "RTCP report %zu has no call's Call-ID", n_rtcp);
            n_rtcp++;
        } else {
            cr_assert_eq(m.proto_type, HEP_PROTO_LOG);
            json_t *j = json_loadb((const char *)m.payload, m.payload_len, 0, NULL);
            cr_assert_not_null(j, "an event sent as HEP is not JSON");
            event_schema_check(j);
            cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "call_start");
            const char *cid = json_string_value(json_object_get(j, "call_id"));
            cr_assert_eq(m.correlation_id_len, strlen(cid));
            cr_assert(memcmp(m.correlation_id, cid, m.correlation_id_len) == 0);
            json_decref(j);
            n_log++;
        }
    }
    cr_assert_eq(n_sip, sip.n, "%zu SIP messages sent, the capture has %zu", n_sip, sip.n);
    cr_assert_gt(n_rtcp, 0, "no RTCP report sent");
    cr_assert_eq(n_log, 4, "[route hep] types = call_start: %zu logs", n_log);
    free_sip(&sip);
    close(rx);
    run_fini(&r);
}

/* The events a capture's SIP alone decides, one line each. */
static char *sip_verdicts(const struct daemon_events *events, bool want_agent)
{
    static const char *const types[] = {"call_start",     "call_answer", "call_fail",
                                        "call_end",       "call_drop",   "registration_loop",
                                        "codec_mismatch", "trunk_down",  "trunk_up"};
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    cr_assert_not_null(out);
    for (size_t i = 0; i < events->count; i++) {
        const json_t *e = events->events[i];
        const char *type = json_string_value(json_object_get(e, "type"));
        bool listed = false;
        for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
            listed |= strcmp(type, types[k]) == 0;
        if (!listed)
            continue;
        if (want_agent && json_object_get(e, "call_id"))
            cr_assert_str_eq(json_string_value(json_object_get(e, "agent")), "2002",
                             "%s of %s names no agent", type,
                             json_string_value(json_object_get(e, "call_id")));
        const char *cid = json_string_value(json_object_get(e, "call_id"));
        const char *reason = json_string_value(json_object_get(e, "reason"));
        const char *cause = json_string_value(json_object_get(e, "cause"));
        json_t *dur = json_object_get(e, "duration_s");
        const char *trunk = json_string_value(json_object_get(e, "trunk"));
        fprintf(out,
                "%s %s %s status=%lld reason=%s cause=%s "
                "duration=%.3f trunk=%s\n",
                type, json_string_value(json_object_get(e, "ts")), cid ? cid : "-",
                (long long)json_integer_value(json_object_get(e, "status")), reason ? reason : "-",
                cause ? cause : "-", json_is_number(dur) ? json_number_value(dur) : -1.0,
                trunk ? trunk : "-");
    }
    fclose(out);
    return text;
}

Test(sngrep, sends_into_siptapd_as_if_captured, .timeout = 120)
{
    const char *sngrep = sngrep_path();
    const char *tap = siptapd();
    struct run r;
    run_init(&r);
    const char *input = source_path("samples/demo.pcap");
    const char *conf = source_path("samples/demo.conf");

    /* The reference: the same capture read from the file. */
    char ref[128];
    snprintf(ref, sizeof(ref), "%s/ref.jsonl", r.dir);
    char *rargv[] = {(char *)tap, "-c", (char *)conf, "-n", "t", "-r", (char *)input, NULL};
    pid_t rpid = daemon_spawn(rargv, ref, NULL);
    cr_assert_eq(daemon_wait(rpid, 60), 0);

    int port = free_port(SOCK_DGRAM);
    char spec[64], file[128], send_to[64];
    snprintf(spec, sizeof(spec), "hep://127.0.0.1:%d", port);
    snprintf(file, sizeof(file), "file:%s", r.out);
    snprintf(send_to, sizeof(send_to), "udp:127.0.0.1:%d", port);
    char *targv[] = {(char *)tap, "-c", (char *)conf, "-n", "t", "-i", spec, "-o", file, NULL};
    pid_t tpid = daemon_spawn(targv, NULL, r.err);
    wait_port(SOCK_DGRAM, port, tpid);
    char *sargv[] = {(char *)sngrep, "-N", "-q", "-I", (char *)input, "-H", send_to, NULL};
    pid_t spid = daemon_spawn(sargv, NULL, NULL);
    cr_assert_eq(daemon_wait(spid, 60), 0, "sngrep -I ... -H failed");

    struct sip_frames sip = read_sip(input);
    struct daemon_events ev;
    stats_until(&ev, tpid, r.out, "hep.sip", (json_int_t)sip.n);
    cr_assert_eq(last_counter(&ev, "hep.sip"), (json_int_t)sip.n);
    cr_assert_eq(last_counter(&ev, "sip.udp_messages"), (json_int_t)sip.n);
    daemon_events_free(&ev);
    free_sip(&sip);
    kill(tpid, SIGTERM);
    cr_assert_eq(daemon_wait(tpid, 10), 0, "siptapd: %s", daemon_read_text(r.err));

    struct daemon_events want_ev, have_ev;
    cr_assert(daemon_events_read_file(&want_ev, ref));
    cr_assert(daemon_events_read_file(&have_ev, r.out));
    char *want = sip_verdicts(&want_ev, false), *have = sip_verdicts(&have_ev, true);
    cr_assert(strstr(want, "call_drop") && strstr(want, "registration_loop") &&
                  strstr(want, "call_fail"),
              "the reference lacks the demo's SIP alerts:\n%s", want);
    if (getenv("HEP_TEST_SHOW"))
        fprintf(stderr, "%s", have);
    cr_assert_str_eq(have, want, "from HEP:\n%s\nfrom the file:\n%s", have, want);
    free(want);
    free(have);
    daemon_events_free(&want_ev);
    daemon_events_free(&have_ev);
    run_fini(&r);
}

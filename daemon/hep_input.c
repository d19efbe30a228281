/*
 * hep_input: the HEP listener (what it accepts and why it works at the
 * payload level: hep_input.h).
 *
 * UDP reads up to HEP_INPUT_BURST datagrams per wake-up, so a flood of HEP
 * leaves the loop's timers and outputs their turn. TCP connections keep a
 * buffer each (struct buf, capped at three maximum messages); a connection
 * the peer closes or breaks is forgotten with whatever half message it
 * held. Connections past HEP_INPUT_MAX_CONNECTIONS are accepted and closed
 * at once (counted), so a misbehaving agent cannot exhaust descriptors.
 *
 * What is analysed: SIP (protocol type 1), RTP and raw RTCP (4, 5), and
 * messages without a protocol type (sniffed by the layers like any
 * datagram). RTCP sent as a JSON report (heplify's type 5), logs and other
 * types are counted and not analysed: there are no packets in them.
 */
#include "daemon/hep_input.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/list.h"

#define HEP_INPUT_BURST 256
#define HEP_INPUT_FORM  "hep://ADDR:PORT[?transport=udp|tcp], for example hep://0.0.0.0:9060"

#define HEP_INPUT_COUNTERS(X)                                                                      \
    X(messages)                                                                                    \
    X(v1)                                                                                          \
    X(v2)                                                                                          \
    X(v3)                                                                                          \
    X(unknown_chunks)                                                                              \
    X(sip)                                                                                         \
    X(rtp)                                                                                         \
    X(rtcp)                                                                                        \
    X(rtcp_json)                                                                                   \
    X(other_protocol)                                                                              \
    X(tcp_connections)                                                                             \
    X(tcp_refused)                                                                                 \
    X(tcp_resync)                                                                                  \
    X(tcp_bytes_skipped)                                                                           \
    X(tcp_cut)

struct hep_conn {
    struct hep_input *in;
    int fd;
    ev_io io;
    struct buf buf;
    bool skipping;         /* inside a run of garbage: counted once as a resync */
    struct list_node link; /* on the input's conns */
};

struct hep_input {
    bool tcp;
    int fd;
    int port;
    struct ev_loop *loop;
    ev_io io;
    hep_input_fn fn;
    void *user;
    struct list conns; /* of struct hep_conn, newest first */
    size_t conn_count;
    struct {
#define HEP_IN_FIELD(name) uint64_t *name;
        HEP_INPUT_COUNTERS(HEP_IN_FIELD)
#undef HEP_IN_FIELD
        uint64_t *errors[HEP_ERR_COUNT];
    } c;
    uint8_t rx[65536];
};

bool hep_input_is_spec(const char *spec)
{
    return spec && strncmp(spec, "hep://", 6) == 0;
}

static uint64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* Node name (printable ASCII only) else the capture id, into out. */
static void agent_name(const struct hep_message *m, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < m->node_name_len && n + 1 < outlen; i++) {
        uint8_t ch = m->node_name[i];
        out[n++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    out[n] = '\0';
    if (n || !m->has_capture_id)
        return;
    uint32_t id = m->capture_id;
    /* sngrep writes htons(id) into the 32-bit field: on the wire that is
     * id << 16. No agent numbers itself in multiples of 65536. */
    if ((id & 0xffff) == 0 && id >> 16)
        id >>= 16;
    snprintf(out, outlen, "%" PRIu32, id);
}

/* Which messages carry packets the layers can read. */
static bool worth_analysing(struct hep_input *in, const struct hep_message *m)
{
    switch (m->proto_type) {
    case 0:
        return true;
    case HEP_PROTO_SIP:
        (*in->c.sip)++;
        return true;
    case HEP_PROTO_RTP:
        (*in->c.rtp)++;
        return true;
    case HEP_PROTO_RTCP:
        if (m->payload_len && m->payload[0] == '{') {
            (*in->c.rtcp_json)++;
            return false;
        }
        (*in->c.rtcp)++;
        return true;
    default:
        (*in->c.other_protocol)++;
        return false;
    }
}

void hep_input_feed(struct hep_input *in, const uint8_t *data, size_t len, uint64_t now_us)
{
    struct hep_message m;
    (*in->c.messages)++;
    enum hep_error e = hep_decode(data, len, &m);
    if (e != HEP_OK) {
        (*in->c.errors[e])++;
        return;
    }
    (*(m.version == 3 ? in->c.v3 : m.version == 2 ? in->c.v2 : in->c.v1))++;
    *in->c.unknown_chunks += m.unknown_chunks;
    if (!worth_analysing(in, &m))
        return;
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_us = m.has_time ? (uint64_t)m.ts_sec * 1000000u + m.ts_usec : now_us;
    pkt.frame = m.payload;
    pkt.caplen = pkt.wirelen = (uint32_t)m.payload_len;
    pkt.src = m.src;
    pkt.dst = m.dst;
    pkt.ip_proto = m.ip_proto;
    pkt.sport = m.sport;
    pkt.dport = m.dport;
    pkt.payload = m.payload;
    pkt.payload_len = (uint32_t)m.payload_len;
    char agent[HEP_INPUT_AGENT_MAX];
    agent_name(&m, agent, sizeof(agent));
    in->fn(in->user, &m, agent, &pkt);
}

/* ---- UDP ---------------------------------------------------------------------- */

static void on_udp(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct hep_input *in = w->data;
    for (int i = 0; i < HEP_INPUT_BURST; i++) {
        ssize_t n = recv(in->fd, in->rx, sizeof(in->rx), MSG_DONTWAIT);
        if (n < 0)
            return;
        hep_input_feed(in, in->rx, (size_t)n, wall_us());
    }
}

/* ---- TCP ---------------------------------------------------------------------- */

static void conn_free(struct hep_conn *c)
{
    struct hep_input *in = c->in;
    ev_io_stop(in->loop, &c->io);
    close(c->fd);
    if (c->buf.len)
        (*in->c.tcp_cut)++;
    buf_free(&c->buf);
    list_unlink(&in->conns, &c->link);
    in->conn_count--;
    free(c);
}

/* Every whole message in the buffer, garbage skipped up to the next "HEP3". */
static void conn_frame(struct hep_conn *c)
{
    struct hep_input *in = c->in;
    size_t off = 0;
    while (off < c->buf.len) {
        size_t n = 0;
        enum hep_frame f = hep_frame(c->buf.data + off, c->buf.len - off, &n);
        if (f == HEP_FRAME_MORE)
            break;
        if (f == HEP_FRAME_BAD) {
            size_t skip = hep_find_magic(c->buf.data + off, c->buf.len - off);
            if (!c->skipping)
                (*in->c.tcp_resync)++;
            c->skipping = true;
            *in->c.tcp_bytes_skipped += skip;
            off += skip;
            continue;
        }
        c->skipping = false;
        hep_input_feed(in, c->buf.data + off, n, wall_us());
        off += n;
    }
    buf_consume(&c->buf, off);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct hep_conn *c = w->data;
    struct hep_input *in = c->in;
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->fd, in->rx, sizeof(in->rx), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_free(c);
            return;
        }
        if (n < 0)
            return;
        /* Framing leaves less than one message, so this always fits. */
        if (!buf_append(&c->buf, in->rx, (size_t)n)) {
            conn_free(c);
            return;
        }
        conn_frame(c);
    }
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct hep_input *in = w->data;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(in->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct hep_conn *c =
            in->conn_count < HEP_INPUT_MAX_CONNECTIONS ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            (*in->c.tcp_refused)++;
            close(fd);
            continue;
        }
        (*in->c.tcp_connections)++;
        c->in = in;
        c->fd = fd;
        buf_init(&c->buf, 3 * 65536);
        list_push_front(&in->conns, &c->link);
        in->conn_count++;
        ev_io_init(&c->io, on_conn, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
    }
}

/* ---- set-up ------------------------------------------------------------------- */

static bool parse_spec(const char *spec, char *host, size_t hostlen, char *port, size_t portlen,
                       bool *tcp, char *err, size_t errlen)
{
    const char *p = spec + 6, *host_end, *after;
    if (*p == '[') {
        host_end = strchr(p, ']');
        after = host_end ? host_end + 1 : NULL;
        p++;
    } else {
        host_end = strrchr(p, ':');
        after = host_end;
    }
    size_t plen = after && *after == ':' ? strcspn(after + 1, "?") : 0;
    if (!host_end || host_end == p || (size_t)(host_end - p) >= hostlen || plen == 0 ||
        plen >= portlen) {
        snprintf(err, errlen, "-i %s: write it as %s", spec, HEP_INPUT_FORM);
        return false;
    }
    memcpy(host, p, (size_t)(host_end - p));
    host[host_end - p] = '\0';
    memcpy(port, after + 1, plen);
    port[plen] = '\0';
    const char *q = after + 1 + plen;
    *tcp = false;
    if (*q == '\0')
        return true;
    if (strcmp(q, "?transport=udp") == 0)
        return true;
    if (strcmp(q, "?transport=tcp") == 0) {
        *tcp = true;
        return true;
    }
    snprintf(err, errlen, "-i %s: unknown parameter '%s'; write it as %s", spec, q, HEP_INPUT_FORM);
    return false;
}

static void register_counters(struct hep_input *in, struct counters *counters)
{
#define HEP_IN_REGISTER(name) in->c.name = counters_register(counters, "hep", #name);
    HEP_INPUT_COUNTERS(HEP_IN_REGISTER)
#undef HEP_IN_REGISTER
    for (int e = 1; e < HEP_ERR_COUNT; e++)
        in->c.errors[e] = counters_register(counters, "hep", hep_error_name((enum hep_error)e));
}

struct hep_input *hep_input_new(const char *spec, struct counters *counters, hep_input_fn fn,
                                void *user, enum hep_input_error *why, char *err, size_t errlen)
{
    char host[256] = "", port[16] = "";
    bool tcp = false;
    *why = HEP_INPUT_ERR_SPEC;
    if (spec && !parse_spec(spec, host, sizeof(host), port, sizeof(port), &tcp, err, errlen))
        return NULL;
    struct hep_input *in = calloc(1, sizeof(*in));
    if (!in) {
        *why = HEP_INPUT_ERR_MEMORY;
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->tcp = tcp;
    in->fn = fn;
    in->user = user;
    in->fd = -1;
    register_counters(in, counters);
    *why = HEP_INPUT_OK;
    if (!spec) /* tests and the fuzzer: no socket */
        return in;
    struct addrinfo hints = {.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || !ai) {
        *why = HEP_INPUT_ERR_SPEC;
        snprintf(err, errlen,
                 "-i %s: '%s' port '%s' is not a numeric address and port (%s); "
                 "write it as %s",
                 spec, host, port, gai_strerror(rc), HEP_INPUT_FORM);
        free(in);
        return NULL;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd >= 0 && tcp)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (fd >= 0 && !tcp) {
        int rcvbuf = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || (tcp && listen(fd, 64) != 0)) {
        *why = HEP_INPUT_ERR_LISTEN;
        snprintf(err, errlen, "-i %s: cannot listen: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        free(in);
        return NULL;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        in->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
    in->fd = fd;
    return in;
}

void hep_input_start(struct hep_input *in, struct ev_loop *loop)
{
    in->loop = loop;
    if (in->fd < 0)
        return;
    ev_io_init(&in->io, in->tcp ? on_accept : on_udp, in->fd, EV_READ);
    in->io.data = in;
    ev_io_start(loop, &in->io);
}

void hep_input_stop(struct hep_input *in)
{
    if (!in || !in->loop)
        return;
    if (in->fd >= 0)
        ev_io_stop(in->loop, &in->io);
    while (!list_empty(&in->conns))
        conn_free(list_entry(list_first(&in->conns), struct hep_conn, link));
}

void hep_input_free(struct hep_input *in)
{
    if (!in)
        return;
    hep_input_stop(in);
    if (in->fd >= 0)
        close(in->fd);
    free(in);
}

int hep_input_port(const struct hep_input *in)
{
    return in->port;
}

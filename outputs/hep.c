/*
 * hep: the HEPv3 sink (what it sends and what its counters mean: hep.h).
 *
 * One FIFO of encoded messages (struct hep_item), whatever their kind, so
 * SIP, RTCP and events leave in the order they were offered. The ring's
 * head part is "in flight": over TCP the messages written to the socket and
 * not yet acknowledged (`sent` of them, the one after them possibly written
 * in part); each written message remembers the stream offset of its last
 * byte, and a message leaves the ring as delivered once the socket's unsent
 * + unacknowledged byte count (SIOCOUTQ) says the peer's TCP has it. Acks
 * are checked after each write and on a short timer while anything is in
 * flight. A lost connection puts every in-flight message back to unsent.
 * Over UDP a message leaves the ring when the kernel takes it; the socket
 * has IP_RECVERR, so the ICMP error of each bounced datagram comes back on
 * its error queue (with the start of the datagram, whose protocol type
 * chunk names the kind) and moves one message from delivered to failed.
 *
 * A full queue drops the oldest message not in flight, never one written
 * in part (that would corrupt the TCP stream).
 */
#include "outputs/hep.h"

#include <errno.h>
#include <ev.h>
#include <linux/errqueue.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "decoders/hep.h"

#define HEP_BACKOFF_MIN_S     0.1
#define HEP_BACKOFF_MAX_S     5.0
#define HEP_CONNECT_TIMEOUT_S 5.0
#define HEP_ACK_POLL_S        0.02
#define HEP_FORM                                                                                   \
    "hep://HOST:PORT[?transport=udp|tcp&id=N&password=P&node=NAME&max_size=BYTES], for example "   \
    "hep://127.0.0.1:9060?transport=tcp&id=2001&node=tap1"

struct hep_item {
    uint64_t end_off; /* TCP: stream offset just past its last byte, once written */
    uint16_t len;
    uint8_t kind;
    uint8_t data[];
};

enum hep_state { HEP_IDLE, HEP_CONNECTING, HEP_READY };

struct hep_sink {
    struct sink base;
    char host[256], port[8];
    bool tcp;
    uint32_t id;
    char password[128];
    char node[128];
    size_t max_size;

    struct hep_item **ring;
    size_t cap, head, count, bytes;
    size_t sent;      /* items from the head written whole, awaiting the ack (TCP) */
    size_t partial;   /* bytes of item[sent] written (TCP) */
    uint64_t written; /* bytes written on this connection */

    struct ev_loop *loop;
    int fd;
    enum hep_state state;
    bool closing, reported_down, ever_connected;
    double backoff_s;
    ev_io io;
    ev_timer retry_timer, connect_timer, ack_timer;
    ev_prepare flush_soon; /* one flush per loop iteration, before it waits */
    uint64_t delivered[HEP_KIND_COUNT], dropped[HEP_KIND_COUNT], failed[HEP_KIND_COUNT];
    uint64_t reconnects, connect_failures, bounced, too_large;
    char last_error[320];
};

static const char *const kind_names[HEP_KIND_COUNT] = {"sip", "rtcp", "events"};

static void hep_flush(struct hep_sink *h);
static void hep_flush_later(struct hep_sink *h);
static void hep_check_acks(struct hep_sink *h);
static void hep_connect(struct hep_sink *h);

/* ---- counting -------------------------------------------------------------- */

static void count_delivered(struct hep_sink *h, unsigned kind)
{
    h->delivered[kind]++;
    if (kind == HEP_KIND_EVENT)
        h->base.delivered++;
}

static void count_failed(struct hep_sink *h, unsigned kind)
{
    h->failed[kind]++;
    if (kind == HEP_KIND_EVENT)
        h->base.failed++;
}

static void count_dropped(struct hep_sink *h, unsigned kind)
{
    h->dropped[kind]++;
    if (kind == HEP_KIND_EVENT)
        h->base.dropped++;
}

/* ---- the ring ---------------------------------------------------------------- */

static struct hep_item *ring_at(const struct hep_sink *h, size_t i)
{
    return h->ring[(h->head + i) % h->cap];
}

static void ring_pop(struct hep_sink *h)
{
    struct hep_item *it = h->ring[h->head];
    h->bytes -= it->len;
    free(it);
    h->ring[h->head] = NULL;
    h->head = (h->head + 1) % h->cap;
    h->count--;
}

/* Drops the oldest item not in flight (and not written in part); false if
 * every item is. */
static bool ring_drop_one(struct hep_sink *h)
{
    size_t victim = h->sent + (h->partial ? 1 : 0);
    if (victim >= h->count)
        return false;
    struct hep_item *it = ring_at(h, victim);
    count_dropped(h, it->kind);
    /* The items before the victim move up one slot; the head follows. */
    for (size_t i = victim; i > 0; i--)
        h->ring[(h->head + i) % h->cap] = h->ring[(h->head + i - 1) % h->cap];
    h->ring[h->head] = it;
    ring_pop(h);
    return true;
}

static void ring_push(struct hep_sink *h, struct hep_item *it)
{
    while ((h->count == h->cap || h->bytes + it->len > HEP_SINK_MAX_BYTES) && ring_drop_one(h))
        ;
    if (h->count == h->cap || h->bytes + it->len > HEP_SINK_MAX_BYTES) {
        count_dropped(h, it->kind); /* everything queued is in flight */
        free(it);
        return;
    }
    h->ring[(h->head + h->count) % h->cap] = it;
    h->count++;
    h->bytes += it->len;
}

/* ---- encoding ------------------------------------------------------------------ */

static unsigned kind_of_proto(uint8_t proto_type)
{
    return proto_type == HEP_PROTO_RTCP  ? HEP_KIND_RTCP
           : proto_type == HEP_PROTO_LOG ? HEP_KIND_EVENT
                                         : HEP_KIND_SIP;
}

static void hep_queue_message(struct hep_sink *h, struct hep_message *m)
{
    unsigned kind = kind_of_proto(m->proto_type);
    m->capture_id = h->id;
    m->auth_key = (const uint8_t *)h->password;
    m->auth_key_len = strlen(h->password);
    m->node_name = (const uint8_t *)h->node;
    m->node_name_len = strlen(h->node);
    uint8_t buf[HEP_MAX_MESSAGE];
    size_t n = hep_encode(m, HEP_ORDER_FIXED_HEADER, buf, h->max_size);
    if (n == 0) {
        h->too_large++;
        count_failed(h, kind);
        return;
    }
    struct hep_item *it = malloc(sizeof(*it) + n);
    if (!it) {
        count_failed(h, kind);
        return;
    }
    it->end_off = 0;
    it->len = (uint16_t)n;
    it->kind = (uint8_t)kind;
    memcpy(it->data, buf, n);
    ring_push(h, it);
}

void hep_sink_capture(struct sink *s, const struct hep_capture *c)
{
    struct hep_sink *h = (struct hep_sink *)s;
    struct hep_message m = {
        .ip_proto = c->ip_proto,
        .src = c->src->addr,
        .dst = c->dst->addr,
        .sport = c->src->port,
        .dport = c->dst->port,
        .ts_sec = (uint32_t)(c->ts_us / 1000000u),
        .ts_usec = (uint32_t)(c->ts_us % 1000000u),
        .proto_type = c->proto_type,
        .payload = c->payload,
        .payload_len = c->len,
    };
    if (c->correlation_id) {
        m.correlation_id = (const uint8_t *)c->correlation_id;
        m.correlation_id_len = strlen(c->correlation_id);
    }
    hep_queue_message(h, &m);
    hep_flush_later(h);
}

/* "ip:port" or "[v6]:port" of an event field; false if absent or not that. */
static bool parse_endpoint(const char *s, struct endpoint *e)
{
    if (!s)
        return false;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return false;
    char host[NETADDR_STRLEN + 2];
    const char *start = s, *end = colon;
    if (*s == '[') {
        start = s + 1;
        if (end[-1] != ']')
            return false;
        end--;
    }
    if (end <= start || (size_t)(end - start) >= sizeof(host))
        return false;
    memcpy(host, start, (size_t)(end - start));
    host[end - start] = '\0';
    char *stop;
    long port = strtol(colon + 1, &stop, 10);
    if (*stop || port < 0 || port > 65535 || !net_addr_parse(&e->addr, host))
        return false;
    e->port = (uint16_t)port;
    return true;
}

static void hep_queue_event(struct hep_sink *h, struct event_record *r)
{
    json_t *obj = event_record_obj(r);
    const char *call_id = json_string_value(json_object_get(obj, "call_id"));
    uint64_t ts = r->ts_us;
    struct endpoint src = {0}, dst = {0};
    if (!parse_endpoint(json_string_value(json_object_get(obj, "src")), &src) ||
        !parse_endpoint(json_string_value(json_object_get(obj, "dst")), &dst) ||
        src.addr.family != dst.addr.family) {
        /* Events that name no party (trunk, stats) come from 0.0.0.0:0. */
        memset(&src, 0, sizeof(src));
        memset(&dst, 0, sizeof(dst));
        src.addr.family = dst.addr.family = 4;
    }
    struct hep_message m = {
        .ip_proto = 17,
        .src = src.addr,
        .dst = dst.addr,
        .sport = src.port,
        .dport = dst.port,
        .ts_sec = (uint32_t)(ts / 1000000u),
        .ts_usec = (uint32_t)(ts % 1000000u),
        .proto_type = HEP_PROTO_LOG,
        .payload = (const uint8_t *)r->text,
        .payload_len = r->len,
    };
    if (call_id) {
        m.correlation_id = (const uint8_t *)call_id;
        m.correlation_id_len = strlen(call_id);
    }
    hep_queue_message(h, &m);
}

/* ---- the connection ---------------------------------------------------------------- */

static void hep_note_error(struct hep_sink *h, const char *what, int err)
{
    snprintf(h->last_error, sizeof(h->last_error), "%s %s:%s: %s", what, h->host, h->port,
             strerror(err));
}

static void hep_schedule_retry(struct hep_sink *h)
{
    if (h->closing || !h->loop)
        return;
    if (!h->reported_down) {
        h->reported_down = true;
        fprintf(stderr,
                "siptapd: output %s: %s; messages are queued (up to %zu) and sent when it is "
                "back\n",
                h->base.name, h->last_error, h->cap);
    }
    ev_timer_stop(h->loop, &h->retry_timer);
    ev_timer_set(&h->retry_timer, h->backoff_s, 0.);
    ev_timer_start(h->loop, &h->retry_timer);
    h->backoff_s *= 2;
    if (h->backoff_s > HEP_BACKOFF_MAX_S)
        h->backoff_s = HEP_BACKOFF_MAX_S;
}

static void hep_close(struct hep_sink *h)
{
    if (h->fd < 0)
        return;
    /* What the peer acknowledged before the end is delivered, not resent. */
    hep_check_acks(h);
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->connect_timer);
    ev_timer_stop(h->loop, &h->ack_timer);
    close(h->fd);
    h->fd = -1;
    h->state = HEP_IDLE;
    /* Whatever was not acknowledged goes again, whole, on the next connection. */
    h->sent = 0;
    h->partial = 0;
    h->written = 0;
}

static void hep_drop_connection(struct hep_sink *h, const char *what, int err)
{
    hep_note_error(h, what, err);
    hep_close(h);
    hep_schedule_retry(h);
}

static void hep_set_events(struct hep_sink *h, int events)
{
    if (h->fd < 0 || (h->io.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(h->loop, &h->io);
    ev_io_set(&h->io, h->fd, events);
    ev_io_start(h->loop, &h->io);
}

/* TCP: what the peer acknowledged leaves the ring as delivered. */
static void hep_check_acks(struct hep_sink *h)
{
    if (!h->tcp || h->state != HEP_READY || h->sent == 0)
        return;
    int outq = 0;
    if (ioctl(h->fd, SIOCOUTQ, &outq) != 0 || outq < 0)
        return;
    uint64_t acked = h->written - (uint64_t)outq;
    while (h->sent > 0 && ring_at(h, 0)->end_off <= acked) {
        count_delivered(h, ring_at(h, 0)->kind);
        ring_pop(h);
        h->sent--;
    }
    if (h->sent > 0 && !ev_is_active(&h->ack_timer))
        ev_timer_again(h->loop, &h->ack_timer);
    else if (h->sent == 0)
        ev_timer_stop(h->loop, &h->ack_timer);
}

#define HEP_BATCH 64 /* messages per writev / sendmmsg */

static size_t iov_total(const struct iovec *iov, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

static void hep_flush_tcp(struct hep_sink *h)
{
    while (h->sent < h->count) {
        struct iovec iov[HEP_BATCH];
        size_t k = 0;
        for (size_t i = h->sent; i < h->count && k < HEP_BATCH; i++, k++) {
            struct hep_item *it = ring_at(h, i);
            size_t skip = k == 0 ? h->partial : 0;
            iov[k] = (struct iovec){it->data + skip, it->len - skip};
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = k};
        ssize_t n = sendmsg(h->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            hep_drop_connection(h, "lost the connection to", errno);
            return;
        }
        h->written += (uint64_t)n;
        /* The bytes written, over the messages they belong to. */
        size_t left = (size_t)n;
        while (left > 0) {
            struct hep_item *it = ring_at(h, h->sent);
            size_t need = it->len - h->partial;
            size_t take = left < need ? left : need;
            h->partial += take;
            left -= take;
            if (h->partial == it->len) {
                it->end_off = h->written - left;
                h->sent++;
                h->partial = 0;
            }
        }
        if ((size_t)n < iov_total(iov, k))
            break; /* the socket is full */
    }
    hep_set_events(h, EV_READ | (h->sent < h->count ? EV_WRITE : 0));
    hep_check_acks(h);
}

/* UDP: the ICMP errors of bounced datagrams, one per datagram. */
static void hep_read_errors(struct hep_sink *h)
{
    for (;;) {
        uint8_t data[256], control[512];
        struct iovec iov = {data, sizeof(data)};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control,
                             .msg_controllen = sizeof(control)};
        ssize_t n = recvmsg(h->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (n < 0)
            return;
        unsigned kind = kind_of_proto(hep_peek_proto_type(data, (size_t)n));
        h->bounced++;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
                const struct sock_extended_err *ee = (const void *)CMSG_DATA(c);
                snprintf(h->last_error, sizeof(h->last_error), "%s:%s bounced a datagram: %s",
                         h->host, h->port, strerror((int)ee->ee_errno));
            }
        }
        if (h->delivered[kind] > 0) {
            h->delivered[kind]--;
            if (kind == HEP_KIND_EVENT && h->base.delivered > 0)
                h->base.delivered--;
        }
        count_failed(h, kind);
    }
}

static void hep_flush_udp(struct hep_sink *h)
{
    size_t refusals = 0;
    while (h->count > 0) {
        struct mmsghdr mm[HEP_BATCH];
        struct iovec iov[HEP_BATCH];
        size_t k = 0;
        for (; k < h->count && k < HEP_BATCH; k++) {
            struct hep_item *it = ring_at(h, k);
            iov[k] = (struct iovec){it->data, it->len};
            mm[k] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[k], .msg_iovlen = 1}};
        }
        int n = sendmmsg(h->fd, mm, (unsigned)k, MSG_DONTWAIT);
        for (int i = 0; i < n; i++) {
            struct hep_item *it = ring_at(h, 0);
            if (mm[i].msg_len == it->len)
                count_delivered(h, it->kind);
            else
                count_failed(h, it->kind);
            ring_pop(h);
        }
        if (n > 0)
            continue; /* a send that failed after the first is reported by the next call */
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            break;
        /* An earlier datagram's ICMP error, reported on this send, which
         * did not go: that datagram is counted from the error queue. */
        if (errno == ECONNREFUSED && refusals++ < h->count + 1)
            continue;
        hep_note_error(h, "cannot send to", errno);
        count_failed(h, ring_at(h, 0)->kind);
        ring_pop(h);
    }
    hep_read_errors(h);
    hep_set_events(h, EV_READ | (h->count ? EV_WRITE : 0));
}

static void hep_flush(struct hep_sink *h)
{
    if (h->closing || h->state != HEP_READY)
        return;
    if (h->tcp)
        hep_flush_tcp(h);
    else
        hep_flush_udp(h);
}

static void on_flush_soon(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    ev_prepare_stop(loop, w);
    hep_flush(w->data);
}

/* Offered messages are written together, once per loop iteration. */
static void hep_flush_later(struct hep_sink *h)
{
    if (h->loop && !h->closing && h->state == HEP_READY && !ev_is_active(&h->flush_soon))
        ev_prepare_start(h->loop, &h->flush_soon);
}

static void hep_become_ready(struct hep_sink *h)
{
    ev_timer_stop(h->loop, &h->connect_timer);
    h->state = HEP_READY;
    h->backoff_s = HEP_BACKOFF_MIN_S;
    if (h->reported_down)
        fprintf(stderr, "siptapd: output %s: connected; sending %zu queued messages\n",
                h->base.name, h->count);
    if (h->ever_connected)
        h->reconnects++;
    h->ever_connected = true;
    h->reported_down = false;
    hep_flush(h);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct hep_sink *h = w->data;
    if (h->state == HEP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err) {
            h->connect_failures++;
            hep_drop_connection(h, "cannot connect to", err);
            return;
        }
        hep_become_ready(h);
        return;
    }
    if (!h->tcp) {
        hep_read_errors(h);
        uint8_t junk[64];
        while (recv(h->fd, junk, sizeof(junk), MSG_DONTWAIT) >= 0)
            ; /* nothing is expected back; whatever comes is dropped */
    } else if (revents & EV_READ) {
        uint8_t junk[512];
        ssize_t n = recv(h->fd, junk, sizeof(junk), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            hep_drop_connection(h, "lost the connection to", n == 0 ? ECONNRESET : errno);
            return;
        }
    }
    hep_flush(h);
}

static void on_retry_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    hep_connect(w->data);
}

static void on_connect_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct hep_sink *h = w->data;
    if (h->state != HEP_CONNECTING)
        return;
    h->connect_failures++;
    hep_drop_connection(h, "no answer from", ETIMEDOUT);
}

static void on_ack_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct hep_sink *h = w->data;
    hep_check_acks(h);
    hep_flush(h);
}

static void hep_connect(struct hep_sink *h)
{
    if (h->closing || h->fd >= 0)
        return;
    struct addrinfo hints = {.ai_socktype = h->tcp ? SOCK_STREAM : SOCK_DGRAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(h->host, h->port, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(h->last_error, sizeof(h->last_error), "cannot resolve %s: %s", h->host,
                 gai_strerror(rc));
        h->connect_failures++;
        hep_schedule_retry(h);
        return;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        h->connect_failures++;
        hep_drop_connection(h, "cannot open a socket for", errno);
        return;
    }
    if (!h->tcp) {
        int on = 1;
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof(on));
        else
            setsockopt(fd, SOL_IP, IP_RECVERR, &on, sizeof(on));
    }
    h->fd = fd;
    rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    int err = errno;
    freeaddrinfo(ai);
    if (rc != 0 && err != EINPROGRESS) {
        h->connect_failures++;
        hep_drop_connection(h, "cannot connect to", err);
        return;
    }
    ev_io_set(&h->io, fd, rc == 0 ? EV_READ : EV_WRITE);
    ev_io_start(h->loop, &h->io);
    if (rc == 0) {
        hep_become_ready(h);
        return;
    }
    h->state = HEP_CONNECTING;
    ev_timer_set(&h->connect_timer, HEP_CONNECT_TIMEOUT_S, 0.);
    ev_timer_start(h->loop, &h->connect_timer);
}

/* ---- sink_ops ------------------------------------------------------------------------ */

static void hep_take_events(struct hep_sink *h)
{
    while (sink_queue_count(&h->base) > 0) {
        hep_queue_event(h, sink_queue_peek(&h->base, 0));
        sink_queue_pop(&h->base);
    }
}

static int hep_start(struct sink *s, struct ev_loop *loop)
{
    struct hep_sink *h = (struct hep_sink *)s;
    h->loop = loop;
    ev_init(&h->io, on_io);
    h->io.data = h;
    ev_timer_init(&h->retry_timer, on_retry_timer, 0., 0.);
    h->retry_timer.data = h;
    ev_timer_init(&h->connect_timer, on_connect_timer, HEP_CONNECT_TIMEOUT_S, 0.);
    h->connect_timer.data = h;
    ev_timer_init(&h->ack_timer, on_ack_timer, 0., HEP_ACK_POLL_S);
    h->ack_timer.data = h;
    ev_prepare_init(&h->flush_soon, on_flush_soon);
    h->flush_soon.data = h;
    hep_connect(h);
    return 0;
}

static void hep_wake(struct sink *s)
{
    struct hep_sink *h = (struct hep_sink *)s;
    hep_take_events(h);
    hep_flush_later(h);
}

/* Everything not settled: queued events, and messages in the ring not yet
 * sent or (TCP) not yet acknowledged by the receiver. */
static size_t hep_pending(const struct sink *s)
{
    const struct hep_sink *h = (const struct hep_sink *)s;
    return h->count + sink_queue_count(s);
}

/* Shutdown: send at once; the bus runs the loop for every output together
 * until nothing is pending or its deadline (event_bus_drain), and reports
 * what is left. */
static void hep_drain(struct sink *s, double timeout_s)
{
    (void)timeout_s;
    struct hep_sink *h = (struct hep_sink *)s;
    hep_take_events(h);
    if (!h->tcp && h->fd >= 0)
        hep_read_errors(h);
    if (h->state == HEP_IDLE && h->loop && !h->closing) {
        ev_timer_stop(h->loop, &h->retry_timer);
        hep_connect(h);
    }
    hep_flush(h);
}

static void hep_add_stats(const struct sink *s, json_t *obj)
{
    const struct hep_sink *h = (const struct hep_sink *)s;
    json_object_set_new(obj, "transport", json_string(h->tcp ? "tcp" : "udp"));
    json_object_set_new(obj, "connected", json_boolean(h->state == HEP_READY));
    for (unsigned k = 0; k < HEP_KIND_COUNT; k++) {
        struct hep_sink_counts c;
        hep_sink_counts(s, k, &c);
        json_t *o = json_object();
        json_object_set_new(o, "delivered", json_integer((json_int_t)c.delivered));
        json_object_set_new(o, "dropped", json_integer((json_int_t)c.dropped));
        json_object_set_new(o, "failed", json_integer((json_int_t)c.failed));
        json_object_set_new(o, "pending", json_integer((json_int_t)c.pending));
        json_object_set_new(obj, kind_names[k], o);
    }
    json_object_set_new(obj, "reconnects", json_integer((json_int_t)h->reconnects));
    json_object_set_new(obj, "connect_failures", json_integer((json_int_t)h->connect_failures));
    json_object_set_new(obj, "bounced", json_integer((json_int_t)h->bounced));
    json_object_set_new(obj, "too_large", json_integer((json_int_t)h->too_large));
    if (h->last_error[0])
        json_object_set_new(obj, "last_error", json_string(h->last_error));
}

static void hep_destroy(struct sink *s)
{
    struct hep_sink *h = (struct hep_sink *)s;
    h->closing = true;
    if (h->loop) {
        ev_timer_stop(h->loop, &h->retry_timer);
        ev_prepare_stop(h->loop, &h->flush_soon);
        hep_close(h);
    }
    while (h->ring && h->count)
        ring_pop(h);
    free(h->ring);
    sink_base_destroy(s);
    free(h);
}

static const struct sink_ops hep_ops = {
    .kind = "hep",
    .start = hep_start,
    .wake = hep_wake,
    .drain = hep_drain,
    .pending = hep_pending,
    .add_stats = hep_add_stats,
    .destroy = hep_destroy,
};

bool hep_sink_is(const struct sink *s)
{
    return s && s->ops == &hep_ops;
}

void hep_sink_counts(const struct sink *s, enum hep_sink_kind kind, struct hep_sink_counts *out)
{
    const struct hep_sink *h = (const struct hep_sink *)s;
    memset(out, 0, sizeof(*out));
    if ((unsigned)kind >= HEP_KIND_COUNT)
        return;
    out->delivered = h->delivered[kind];
    out->dropped = h->dropped[kind];
    out->failed = h->failed[kind];
    for (size_t i = 0; i < h->count; i++)
        out->pending += ring_at(h, i)->kind == kind;
    if (kind == HEP_KIND_EVENT)
        out->pending += sink_queue_count(s);
}

/* ---- the -o form ------------------------------------------------------------------------ */

static bool copy_param(char *dst, size_t dstlen, const char *p, size_t n)
{
    if (n == 0 || n >= dstlen)
        return false;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return true;
}

static bool parse_number(const char *p, size_t n, unsigned long max, unsigned long *out)
{
    if (n == 0 || n > 10)
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool hep_parse_params(struct hep_sink *h, const char *p, const char *spec, char *err,
                             size_t errlen)
{
    while (*p == '?' || *p == '&') {
        p++;
        const char *end = p + strcspn(p, "&");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq) {
            snprintf(err, errlen, "parameter '%.*s' in '%s' has no value; write it as %s",
                     (int)(end - p), p, spec, HEP_FORM);
            return false;
        }
        size_t klen = (size_t)(eq - p), vlen = (size_t)(end - eq - 1);
        const char *v = eq + 1;
        unsigned long num;
        bool ok;
        if (klen == 9 && !strncmp(p, "transport", 9)) {
            ok = (vlen == 3 && (!strncmp(v, "udp", 3) || !strncmp(v, "tcp", 3)));
            h->tcp = ok && v[0] == 't';
        } else if (klen == 2 && !strncmp(p, "id", 2)) {
            ok = parse_number(v, vlen, 0xffffffffUL, &num);
            h->id = (uint32_t)num;
        } else if (klen == 8 && !strncmp(p, "password", 8)) {
            ok = copy_param(h->password, sizeof(h->password), v, vlen);
        } else if (klen == 4 && !strncmp(p, "node", 4)) {
            ok = copy_param(h->node, sizeof(h->node), v, vlen);
        } else if (klen == 8 && !strncmp(p, "max_size", 8)) {
            ok = parse_number(v, vlen, HEP_MAX_MESSAGE, &num) && num >= 64;
            h->max_size = num;
        } else {
            snprintf(err, errlen,
                     "unknown parameter '%.*s' in '%s' (known: transport, id, password, node, "
                     "max_size); write it as %s",
                     (int)klen, p, spec, HEP_FORM);
            return false;
        }
        if (!ok) {
            snprintf(err, errlen, "bad value for '%.*s' in '%s'; write it as %s", (int)klen, p,
                     spec, HEP_FORM);
            return false;
        }
        p = end;
    }
    if (*p) {
        snprintf(err, errlen, "unexpected '%s' in '%s'; write it as %s", p, spec, HEP_FORM);
        return false;
    }
    return true;
}

static bool hep_parse_spec(struct hep_sink *h, const char *spec, char *err, size_t errlen)
{
    const char *p = spec + strlen("hep://");
    const char *host_end, *after;
    if (*p == '[') {
        host_end = strchr(p, ']');
        after = host_end ? host_end + 1 : NULL;
        p++;
    } else {
        host_end = p + strcspn(p, ":?");
        after = host_end;
    }
    if (!host_end || !copy_param(h->host, sizeof(h->host), p, (size_t)(host_end - p)) ||
        *after != ':') {
        snprintf(err, errlen, "output '%s' needs HOST:PORT; write it as %s", spec, HEP_FORM);
        return false;
    }
    const char *port = after + 1;
    size_t plen = strcspn(port, "?");
    unsigned long num;
    if (!parse_number(port, plen, 65535, &num) || num == 0) {
        snprintf(err, errlen, "bad port in '%s' (1-65535); write it as %s", spec, HEP_FORM);
        return false;
    }
    snprintf(h->port, sizeof(h->port), "%lu", num);
    return hep_parse_params(h, port + plen, spec, err, errlen);
}

/* The name shown in stats and messages: the -o text without the password. */
static void hep_masked_name(const char *spec, char *out, size_t outlen)
{
    const char *pw = strstr(spec, "password=");
    if (!pw) {
        snprintf(out, outlen, "%s", spec);
        return;
    }
    const char *rest = pw + 9 + strcspn(pw + 9, "&");
    snprintf(out, outlen, "%.*spassword=***%s", (int)(pw - spec), spec, rest);
}

struct sink *hep_sink_new(const char *spec, const struct sink_options *opts, char *err,
                          size_t errlen)
{
    struct hep_sink *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->fd = -1;
    if (!hep_parse_spec(h, spec, err, errlen)) {
        free(h);
        return NULL;
    }
    if (!h->max_size)
        h->max_size = h->tcp ? HEP_MAX_MESSAGE : HEP_SINK_UDP_MAX;
    char name[160];
    hep_masked_name(spec, name, sizeof(name));
    h->cap = opts->queue_size ? opts->queue_size : 1;
    h->ring = calloc(h->cap, sizeof(*h->ring));
    if (!h->ring || !sink_base_init(&h->base, &hep_ops, name, opts->queue_size)) {
        free(h->ring);
        sink_base_destroy(&h->base);
        free(h);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* Alerts and the call's verdict; [route hep] may say otherwise. */
    h->base.min_severity = SEVERITY_WARNING;
    snprintf(h->base.types[0], sizeof(h->base.types[0]), "call_end");
    h->base.type_count = 1;
    h->backoff_s = HEP_BACKOFF_MIN_S;
    return &h->base;
}

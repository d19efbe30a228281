/*
 * metrics: see metrics.h. One request per connection (HTTP/1.0 style, the
 * way Prometheus scrapes are served by most exporters): the response is
 * rendered whole into a capped buf when the request head is complete, then
 * written as the socket accepts it.
 *
 * Connections are capped (METRICS_MAX_CONNECTIONS) and each has a deadline.
 * When all are taken, a new one is not refused while some connection has
 * not even sent its request: the one silent longest is closed for it
 * (metrics.idle_closed), so idle clients cannot lock the scraper out. One
 * being answered is never closed for another.
 */
#include "daemon/metrics.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/process_metrics.h"
#include "outputs/sink.h"

#define METRICS_MAX_CONNECTIONS 32
#define METRICS_REQUEST_MAX     4096
#define METRICS_RESPONSE_MAX    (4u * 1024u * 1024u)
#define METRICS_TIMEOUT_S       5.0

/* ---- tally ---- */

void event_tally_add(struct event_tally *t, const char *type, enum severity s)
{
    if ((unsigned)s > SEVERITY_CRITICAL)
        s = SEVERITY_INFO;
    t->by_severity[s]++;
    if (!type)
        return;
    size_t i = 0;
    while (i < t->count && strcmp(t->types[i], type) != 0)
        i++;
    if (i == t->count) {
        if (t->count >= EVENT_TALLY_MAX_TYPES || strlen(type) >= sizeof(t->types[0])) {
            t->untallied++;
            return;
        }
        snprintf(t->types[t->count++], sizeof(t->types[0]), "%s", type);
    }
    t->counts[i]++;
    if (s >= SEVERITY_WARNING)
        t->alerts[i]++;
}

uint64_t event_tally_get(const struct event_tally *t, const char *type)
{
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->types[i], type) == 0)
            return t->counts[i];
    return 0;
}

/* ---- rendering ---- */

#define put buf_appendf

/* Metric names: [a-zA-Z0-9_] only. */
static void metric_name(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *in && n + 1 < outlen; in++) {
        char ch = *in;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        out[n++] = ok ? ch : '_';
    }
    out[n] = '\0';
}

/* Label values: backslash, double quote and newline escaped. */
void metrics_label_value(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *in && n + 3 < outlen; in++) {
        if (*in == '\\' || *in == '"') {
            out[n++] = '\\';
            out[n++] = *in;
        } else if (*in == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

static bool gauge(struct buf *out, const char *name, const char *help, uint64_t v)
{
    return put(out, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
               (unsigned long long)v);
}

static bool counter(struct buf *out, const char *name, const char *help, uint64_t v)
{
    return put(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
               (unsigned long long)v);
}

/* Figures of a sink's own stats (sink_ops.add_stats) that are metrics too,
 * each for the outputs whose stats carry it. up: connected (a network
 * output, a Kafka producer not killed by a fatal error) or writable (a
 * file). */
static const struct output_stat_metric {
    const char *key, *alt_key, *name, *type, *help;
} output_stat_metrics[] = {
    {"connected", "writable", "siptap_output_up", "gauge",
     "1 while the output can deliver (connected, or its file writable)"},
    {"in_flight", NULL, "siptap_output_in_flight", "gauge",
     "events sent to the output's server, not acknowledged yet"},
    {"reconnects", NULL, "siptap_output_reconnects_total", "counter",
     "connections to the output's server made again after one was lost"},
    {"fatal_errors", NULL, "siptap_output_fatal_errors_total", "counter",
     "fatal errors of the output's client (a Kafka producer); each is replaced by a new one"},
    {"producer_restarts", NULL, "siptap_output_producer_restarts_total", "counter",
     "Kafka producers built to replace one killed by a fatal error"},
};

static bool render_output_states(const struct event_bus *bus, struct buf *out)
{
    json_t *stats[EVENT_BUS_MAX_SINKS];
    for (size_t i = 0; i < bus->sink_count; i++) {
        stats[i] = json_object();
        if (bus->sinks[i]->ops->add_stats)
            bus->sinks[i]->ops->add_stats(bus->sinks[i], stats[i]);
    }
    bool ok = true;
    for (size_t m = 0; m < sizeof(output_stat_metrics) / sizeof(output_stat_metrics[0]); m++) {
        const struct output_stat_metric *om = &output_stat_metrics[m];
        ok &= put(out, "# HELP %s %s\n# TYPE %s %s\n", om->name, om->help, om->name, om->type);
        for (size_t i = 0; i < bus->sink_count; i++) {
            json_t *v = json_object_get(stats[i], om->key);
            if (!v && om->alt_key)
                v = json_object_get(stats[i], om->alt_key);
            if (!v)
                continue;
            char label[400];
            metrics_label_value(bus->sinks[i]->name, label, sizeof(label));
            ok &= put(out, "%s{output=\"%s\",kind=\"%s\"} %lld\n", om->name, label,
                      bus->sinks[i]->ops->kind,
                      json_is_boolean(v) ? (long long)json_is_true(v)
                                         : (long long)json_integer_value(v));
        }
    }
    for (size_t i = 0; i < bus->sink_count; i++)
        json_decref(stats[i]);
    return ok;
}

/* HELP of the registry's counters: what the group counts (the counter's
 * own name says which case); a few counters are worth their own words. The
 * registry holds no text, so that registering a counter stays one line. */
static const struct {
    const char *name, *help;
} counter_helps[] = {
    {"capture.packets", "frames the capture delivered"},
    {"capture.bytes", "bytes of the frames the capture delivered (captured length)"},
    {"calls.started", "calls seen starting (first INVITE of a dialog)"},
    {"capture", "frames counted by the capture"},
    {"transport", "UDP datagrams and TCP payload bytes handed to the SIP layer"},
    {"decode", "frames the link, tunnel, network and transport decoders counted, by case"},
    {"sip", "SIP messages parsed or refused, by transport and reason"},
    {"calls", "call correlation: dialogs, retransmissions and messages of no call"},
    {"media", "RTP and RTCP packets and flows matched to calls by SDP, or not"},
    {"rtp", "RTP and RTCP stream analysis"},
    {"registrations", "REGISTER dialogs followed by the registration table"},
    {"rules", "detector state that could not be kept (tables full, no memory)"},
    {"callcap", "per-call capture files"},
    {"hep", "HEP packets received from capture agents"},
    {"metrics", "requests to this metrics endpoint"},
};

static const char *counter_help(const char *full_name)
{
    size_t group_len = strcspn(full_name, ".");
    for (size_t i = 0; i < sizeof(counter_helps) / sizeof(counter_helps[0]); i++) {
        const char *n = counter_helps[i].name;
        if (strcmp(n, full_name) == 0 ||
            (strlen(n) == group_len && strncmp(n, full_name, group_len) == 0))
            return counter_helps[i].help;
    }
    return "a siptap internal counter";
}

bool metrics_render(const struct metrics_view *v, struct buf *out)
{
    bool ok = true;
    ok &= put(out,
              "# HELP siptap_build_info siptapd version\n# TYPE siptap_build_info gauge\n"
              "siptap_build_info{version=\"%s\"} 1\n",
              SIPTAP_VERSION);
    ok &= gauge(out, "siptap_uptime_seconds", "seconds since the daemon started",
                (uint64_t)v->uptime_s);
    if (!v->without_process)
        ok &= process_metrics_render(out);
    ok &= counter(out, "siptap_kernel_drops_total",
                  "packets the kernel dropped because the capture ring was full (ps_drop)",
                  v->kernel_drops);
    ok &= counter(out, "siptap_interface_drops_total",
                  "packets the interface or its driver dropped (ps_ifdrop)", v->if_drops);
    ok &= counter(out, "siptap_capture_queue_drops_total",
                  "packets the kernel delivered that the capture queue had no room for",
                  v->queue_drops);
    ok &= gauge(out, "siptap_capture_queue_frames", "frames waiting in the capture queue",
                v->capture_backlog);
    ok &= gauge(out, "siptap_active_calls", "calls not yet ended", v->active_calls);
    ok &= gauge(out, "siptap_active_rtp_flows", "RTP flows tied to calls", v->active_rtp_flows);
    ok &= gauge(out, "siptap_callcap_memory_bytes", "bytes of call frames held for capture files",
                v->callcap_memory_bytes);
    ok &= gauge(out, "siptap_tcp_buffered_bytes",
                "bytes TCP streams buffer (out-of-order segments, partial messages)",
                v->tcp_buffered_bytes);
    /* The counters registry: capture.packets, capture.bytes, decode.*, sip.*,
     * calls.*, rtp.*, callcap.* ... each its own metric. */
    for (size_t i = 0; v->counters && i < v->counters->count; i++) {
        char name[128], full[160];
        metric_name(v->counters->names[i], name, sizeof(name));
        snprintf(full, sizeof(full), "siptap_%s_total", name);
        ok &= put(out, "# HELP %s %s: %s\n# TYPE %s counter\n%s %llu\n", full,
                  v->counters->names[i], counter_help(v->counters->names[i]), full, full,
                  (unsigned long long)v->counters->values[i]);
    }
    if (v->tally) {
        ok &= put(out, "# HELP siptap_events_total events published, by type\n"
                       "# TYPE siptap_events_total counter\n");
        for (size_t i = 0; i < v->tally->count; i++)
            ok &= put(out, "siptap_events_total{type=\"%s\"} %llu\n", v->tally->types[i],
                      (unsigned long long)v->tally->counts[i]);
        ok &= put(out, "# HELP siptap_events_by_severity_total events published, by severity\n"
                       "# TYPE siptap_events_by_severity_total counter\n");
        for (int s = SEVERITY_INFO; s <= SEVERITY_CRITICAL; s++)
            ok &=
                put(out, "siptap_events_by_severity_total{severity=\"%s\"} %llu\n",
                    severity_name((enum severity)s), (unsigned long long)v->tally->by_severity[s]);
    }
    if (v->trunks)
        ok &= trunk_metrics_render(v->trunks, out);
    if (v->bus && v->bus->sink_count > 0) {
        static const char *const names[] = {
            "siptap_output_queue_depth", "siptap_output_dropped_total",
            "siptap_output_delivered_total", "siptap_output_failed_total"};
        static const char *const types[] = {"gauge", "counter", "counter", "counter"};
        static const char *const helps[] = {
            "events waiting in the output's queue",
            "events the output dropped (its queue was full)",
            "events the output delivered",
            "events the output failed to deliver",
        };
        for (int k = 0; k < 4; k++) {
            ok &= put(out, "# HELP %s %s\n# TYPE %s %s\n", names[k], helps[k], names[k], types[k]);
            for (size_t i = 0; i < v->bus->sink_count; i++) {
                const struct sink *s = v->bus->sinks[i];
                uint64_t val = k == 0   ? sink_queue_count(s)
                               : k == 1 ? s->dropped
                               : k == 2 ? s->delivered
                                        : s->failed;
                char label[400];
                metrics_label_value(s->name, label, sizeof(label));
                ok &= put(out, "%s{output=\"%s\",kind=\"%s\"} %llu\n", names[k], label,
                          s->ops->kind, (unsigned long long)val);
            }
        }
        ok &= render_output_states(v->bus, out);
    }
    return ok;
}

/* ---- textfile ---- */

bool metrics_write_file(const struct metrics_view *v, const char *path, char *err, size_t errlen)
{
    char tmp[1100];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        snprintf(err, errlen, "metrics file %s: path too long", path);
        return false;
    }
    struct buf body;
    buf_init(&body, METRICS_RESPONSE_MAX);
    struct metrics_view textfile = *v;
    textfile.without_process = true;
    bool ok = metrics_render(&textfile, &body);
    FILE *f = ok ? fopen(tmp, "w") : NULL;
    if (!ok)
        snprintf(err, errlen, "metrics file %s: the exposition is over %u bytes", path,
                 METRICS_RESPONSE_MAX);
    else if (!f)
        snprintf(err, errlen, "metrics file %s: %s", tmp, strerror(errno));
    if (f) {
        ok = fwrite(body.data, 1, body.len, f) == body.len;
        ok &= fclose(f) == 0;
        if (!ok)
            snprintf(err, errlen, "metrics file %s: %s", tmp, strerror(errno));
        else if (rename(tmp, path) != 0) {
            snprintf(err, errlen, "metrics file %s: %s", path, strerror(errno));
            ok = false;
        }
        if (!ok)
            unlink(tmp);
    }
    buf_free(&body);
    return ok && f;
}

/* ---- HTTP ---- */

struct metrics_conn {
    struct metrics_server *server;
    int fd;
    ev_io io;
    ev_timer deadline;
    char request[METRICS_REQUEST_MAX];
    size_t request_len;
    struct buf response;
    size_t sent;
    bool in_use;
    bool responding;    /* the request is in: writing the response */
    double last_active; /* ev_now of the last bytes read (or the accept) */
};

/* The "metrics" group of counters, named once (core/counters.h). */
#define METRICS_COUNTERS(X)                                                                        \
    X(requests)                                                                                    \
    X(connections_refused)                                                                         \
    X(bad_requests)                                                                                \
    X(timeouts)                                                                                    \
    X(idle_closed)

struct metrics_server {
    struct ev_loop *loop;
    int fd;
    ev_io accept_io;
    metrics_view_fn view;
    void *user;
    struct metrics_conn conns[METRICS_MAX_CONNECTIONS];
    struct {
        COUNTERS_BLOCK(METRICS_COUNTERS);
    } c;
};

static void conn_close(struct metrics_conn *c)
{
    ev_io_stop(c->server->loop, &c->io);
    ev_timer_stop(c->server->loop, &c->deadline);
    close(c->fd);
    buf_free(&c->response);
    c->in_use = false;
}

static void respond(struct metrics_conn *c, int status, const char *reason, const char *type,
                    const struct buf *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, reason, type, body ? body->len : 0);
    buf_init(&c->response, METRICS_RESPONSE_MAX + sizeof(head));
    buf_append(&c->response, head, (size_t)n);
    if (body)
        buf_append(&c->response, body->data, body->len);
}

enum metrics_request metrics_request_parse(const char *request)
{
    bool get = strncmp(request, "GET ", 4) == 0;
    bool head_only = strncmp(request, "HEAD ", 5) == 0;
    if (!get && !head_only)
        return METRICS_REQUEST_BAD_METHOD;
    const char *path = request + (get ? 4 : 5);
    size_t path_len = strcspn(path, " \r\n?");
    if (!(path_len == 8 && strncmp(path, "/metrics", 8) == 0))
        return METRICS_REQUEST_NOT_FOUND;
    return get ? METRICS_REQUEST_GET : METRICS_REQUEST_HEAD;
}

static void handle_request(struct metrics_conn *c)
{
    struct metrics_server *m = c->server;
    enum metrics_request req = metrics_request_parse(c->request);
    bool head_only = req == METRICS_REQUEST_HEAD;
    if (req == METRICS_REQUEST_BAD_METHOD) {
        (*m->c.bad_requests)++;
        respond(c, 405, "Method Not Allowed", "text/plain", NULL);
        return;
    }
    if (req == METRICS_REQUEST_NOT_FOUND) {
        struct buf body;
        buf_init(&body, 256);
        buf_append(&body, "siptapd: metrics are at /metrics\n", 33);
        respond(c, 404, "Not Found", "text/plain", &body);
        buf_free(&body);
        return;
    }
    (*m->c.requests)++;
    struct metrics_view v;
    memset(&v, 0, sizeof(v));
    m->view(m->user, &v);
    struct buf body;
    buf_init(&body, METRICS_RESPONSE_MAX);
    metrics_render(&v, &body);
    respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", head_only ? NULL : &body);
    buf_free(&body);
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct metrics_conn *c = w->data;
    if (revents & EV_READ) {
        ssize_t n =
            read(c->fd, c->request + c->request_len, sizeof(c->request) - 1 - c->request_len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->request_len += (size_t)n;
        c->request[c->request_len] = '\0';
        c->last_active = ev_now(loop);
        bool complete = strstr(c->request, "\r\n\r\n") || strstr(c->request, "\n\n");
        if (!complete && c->request_len < sizeof(c->request) - 1)
            return;
        if (!complete) {
            (*c->server->c.bad_requests)++;
            respond(c, 431, "Request Header Fields Too Large", "text/plain", NULL);
        } else {
            handle_request(c);
        }
        c->responding = true;
        ev_io_stop(loop, &c->io);
        ev_io_set(&c->io, c->fd, EV_WRITE);
        ev_io_start(loop, &c->io);
        return;
    }
    if (revents & EV_WRITE) {
        ssize_t n =
            send(c->fd, c->response.data + c->sent, c->response.len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->sent += (size_t)n;
        if (c->sent >= c->response.len) {
            shutdown(c->fd, SHUT_WR);
            conn_close(c);
        }
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct metrics_conn *c = w->data;
    (*c->server->c.timeouts)++;
    conn_close(c);
}

/* A free slot, or the slot of the connection that has waited longest
 * without finishing its request (closed, counted); NULL if every
 * connection is being answered. */
static struct metrics_conn *conn_slot(struct metrics_server *m)
{
    struct metrics_conn *idlest = NULL;
    for (int k = 0; k < METRICS_MAX_CONNECTIONS; k++) {
        struct metrics_conn *c = &m->conns[k];
        if (!c->in_use)
            return c;
        if (!c->responding && (!idlest || c->last_active < idlest->last_active))
            idlest = c;
    }
    if (idlest) {
        (*m->c.idle_closed)++;
        conn_close(idlest);
    }
    return idlest;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct metrics_server *m = w->data;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct metrics_conn *c = conn_slot(m);
        if (!c) {
            (*m->c.connections_refused)++;
            close(fd);
            continue;
        }
        memset(c, 0, sizeof(*c));
        c->in_use = true;
        c->server = m;
        c->fd = fd;
        c->last_active = ev_now(loop);
        ev_io_init(&c->io, on_conn_io, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_init(&c->deadline, on_deadline, METRICS_TIMEOUT_S, 0);
        c->deadline.data = c;
        ev_timer_start(loop, &c->deadline);
    }
}

bool metrics_listen_parse(const char *address, char *host, size_t hostlen, char *port,
                          size_t portlen)
{
    const char *colon;
    const char *h = address;
    size_t hl;
    if (address[0] == '[') {
        const char *end = strchr(address, ']');
        if (!end || end[1] != ':')
            return false;
        h = address + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(address, ':');
        if (!colon)
            return false;
        hl = (size_t)(colon - address);
    }
    if (hl == 0 || hl >= hostlen || strlen(colon + 1) == 0 || strlen(colon + 1) >= portlen)
        return false;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return false;
    freeaddrinfo(res);
    return true;
}

struct metrics_server *metrics_server_new(struct ev_loop *loop, const char *address,
                                          metrics_view_fn view, void *user,
                                          struct counters *counters, char *err, size_t errlen)
{
    char host[128], port[16];
    if (!metrics_listen_parse(address, host, sizeof(host), port, sizeof(port))) {
        snprintf(err, errlen, "metrics: listen = '%s' is not ADDR:PORT (e.g. 127.0.0.1:9977)",
                 address);
        return NULL;
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
        snprintf(err, errlen, "metrics: cannot resolve %s", address);
        return NULL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        snprintf(err, errlen, "metrics: cannot listen on %s: %s", address, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return NULL;
    }
    freeaddrinfo(res);
    struct metrics_server *m = calloc(1, sizeof(*m));
    if (!m) {
        close(fd);
        snprintf(err, errlen, "metrics: out of memory");
        return NULL;
    }
    m->loop = loop;
    m->fd = fd;
    m->view = view;
    m->user = user;
    COUNTERS_REGISTER(METRICS_COUNTERS, counters, "metrics", &m->c);
    ev_io_init(&m->accept_io, on_accept, fd, EV_READ);
    m->accept_io.data = m;
    ev_io_start(loop, &m->accept_io);
    return m;
}

void metrics_server_free(struct metrics_server *m)
{
    if (!m)
        return;
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++)
        if (m->conns[i].in_use)
            conn_close(&m->conns[i]);
    ev_io_stop(m->loop, &m->accept_io);
    close(m->fd);
    free(m);
}

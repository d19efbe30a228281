/*
 * syslog: alerts as one readable line each (outputs/alert.h), sent as
 * RFC 3164 datagrams ("<PRI>Mmm dd hh:mm:ss siptapd[PID]: text") to the
 * local syslog socket.
 *
 *   syslog[:FACILITY]     FACILITY: daemon (default), user, local0..local7
 *
 * The timestamp is the event's ts (capture time) in local time, so lines
 * of a replayed capture (-r) carry when things happened.
 *
 * libc syslog() is not used because it can block the loop when the syslog
 * daemon is slow. This sink owns a non-blocking AF_UNIX SOCK_DGRAM socket
 * connected to /dev/log (or sink_options.syslog_socket, or
 * $SIPTAP_SYSLOG_SOCKET, which is how tests bind their own socket). When the
 * receiver's buffer is full (EAGAIN) the record stays queued and an ev_io
 * write watcher resumes sending; when the socket is missing or refuses
 * (syslog daemon restarting), the sink reconnects on a backoff timer and
 * delivers what waited, in order.
 *
 * By default it takes events of severity warning and above plus trunk_down,
 * trunk_up and registration_loop; severities map to syslog priorities
 * (critical -> LOG_CRIT ... info -> LOG_INFO).
 *
 * The line is made from the published event as any consumer would read it
 * (its text parsed once, when the sink sends it): producers describe what
 * happened once, in the event, and the readable wording stays in alert.c.
 * Only the events this sink takes are parsed, and never while publishing.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "outputs/alert.h"
#include "outputs/sink.h"

#define SYSLOG_MAX_DATAGRAM  2048
#define SYSLOG_BACKOFF_MIN_S 0.1
#define SYSLOG_BACKOFF_MAX_S 5.0
#define SYSLOG_FORM          "syslog[:FACILITY] with FACILITY one of daemon, user, local0 ... local7"

struct syslog_sink {
    struct sink base;
    int facility; /* syslog facility code (daemon = 3) */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;
    pid_t pid;
    struct ev_loop *loop;
    ev_io write_watcher;
    ev_timer retry_timer;
    double backoff_s;
    bool reported_down;
    uint64_t reconnects, connect_failures;
    bool ever_connected;
    char last_error[160];
};

static const struct {
    const char *name;
    int code;
} facilities[] = {
    {"user", 1},    {"daemon", 3},  {"local0", 16}, {"local1", 17}, {"local2", 18},
    {"local3", 19}, {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
};

/* syslog(3) priorities: LOG_CRIT 2, LOG_ERR 3, LOG_WARNING 4, LOG_NOTICE 5, LOG_INFO 6. */
static int syslog_priority_of(enum severity s)
{
    switch (s) {
    case SEVERITY_CRITICAL:
        return 2;
    case SEVERITY_ERROR:
        return 3;
    case SEVERITY_WARNING:
        return 4;
    case SEVERITY_NOTICE:
        return 5;
    default:
        return 6;
    }
}

static void syslog_close(struct syslog_sink *y)
{
    if (y->loop)
        ev_io_stop(y->loop, &y->write_watcher);
    if (y->fd >= 0)
        close(y->fd);
    y->fd = -1;
}

static void syslog_schedule_retry(struct syslog_sink *y)
{
    if (!y->loop)
        return;
    if (!y->reported_down) {
        y->reported_down = true;
        fprintf(stderr, "siptapd: output %s: %s; alerts are queued and sent when it is back\n",
                y->base.name, y->last_error);
    }
    if (ev_is_active(&y->retry_timer))
        return;
    ev_timer_set(&y->retry_timer, y->backoff_s, 0.);
    ev_timer_start(y->loop, &y->retry_timer);
    y->backoff_s *= 2;
    if (y->backoff_s > SYSLOG_BACKOFF_MAX_S)
        y->backoff_s = SYSLOG_BACKOFF_MAX_S;
}

static bool syslog_connect(struct syslog_sink *y)
{
    if (y->fd >= 0)
        return true;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(y->last_error, sizeof(y->last_error), "socket: %s", strerror(errno));
        y->connect_failures++;
        return false;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, y->path, strlen(y->path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(y->last_error, sizeof(y->last_error), "cannot reach %s: %s", y->path,
                 strerror(errno));
        close(fd);
        y->connect_failures++;
        return false;
    }
    y->fd = fd;
    if (y->ever_connected)
        y->reconnects++;
    y->ever_connected = true;
    y->backoff_s = SYSLOG_BACKOFF_MIN_S;
    if (y->reported_down)
        fprintf(stderr, "siptapd: output %s: connected to %s; sending %zu queued alerts\n",
                y->base.name, y->path, sink_queue_count(&y->base));
    y->reported_down = false;
    if (y->loop)
        ev_io_set(&y->write_watcher, fd, EV_WRITE);
    return true;
}

static size_t syslog_format(const struct syslog_sink *y, struct event_record *r, char *buf,
                            size_t buflen)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    /* RFC 3164 stamps local time; the event's own, so that a replay (-r)
     * logs when things happened, not when they were read. */
    time_t when = (time_t)(r->ts_us / 1000000u);
    struct tm tm;
    localtime_r(&when, &tm);
    int n = snprintf(buf, buflen, "<%d>%s %2d %02d:%02d:%02d siptapd[%ld]: ",
                     y->facility * 8 + syslog_priority_of(r->severity), months[tm.tm_mon % 12],
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)y->pid);
    if (n < 0 || (size_t)n >= buflen)
        return 0;
    size_t len = (size_t)n;
    len += alert_format(event_record_obj(r), buf + len, buflen - len);
    int m = snprintf(buf + len, buflen - len, " [seq %llu]", (unsigned long long)r->seq);
    if (m > 0 && len + (size_t)m < buflen)
        len += (size_t)m;
    return len;
}

static void syslog_send_queued(struct syslog_sink *y)
{
    struct sink *s = &y->base;
    char buf[SYSLOG_MAX_DATAGRAM];
    while (sink_queue_count(s) > 0) {
        if (y->fd < 0 && !syslog_connect(y)) {
            syslog_schedule_retry(y);
            return;
        }
        struct event_record *r = sink_queue_peek(s, 0);
        size_t len = syslog_format(y, r, buf, sizeof(buf));
        if (send(y->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
            s->delivered++;
            sink_queue_pop(s);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            /* The syslog daemon is behind: resume when it has room. */
            if (y->loop)
                ev_io_start(y->loop, &y->write_watcher);
            return;
        }
        if (errno == ECONNREFUSED || errno == ENOTCONN || errno == EPIPE || errno == ENOENT ||
            errno == ECONNRESET) {
            /* The receiver went away (restart): reconnect, keep the record. */
            snprintf(y->last_error, sizeof(y->last_error), "lost %s: %s", y->path, strerror(errno));
            syslog_close(y);
            syslog_schedule_retry(y);
            return;
        }
        snprintf(y->last_error, sizeof(y->last_error), "send to %s: %s", y->path, strerror(errno));
        s->failed++;
        sink_queue_pop(s);
    }
    if (y->loop)
        ev_io_stop(y->loop, &y->write_watcher);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    ev_io_stop(loop, w);
    syslog_send_queued(w->data);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    syslog_send_queued(w->data);
}

static int syslog_start(struct sink *s, struct ev_loop *loop)
{
    struct syslog_sink *y = (struct syslog_sink *)s;
    y->loop = loop;
    ev_io_init(&y->write_watcher, on_writable, y->fd >= 0 ? y->fd : 0, EV_WRITE);
    y->write_watcher.data = y;
    ev_timer_init(&y->retry_timer, on_retry, 0., 0.);
    y->retry_timer.data = y;
    if (!syslog_connect(y)) {
        syslog_schedule_retry(y);
        return 0;
    }
    syslog_send_queued(y);
    return 0;
}

static void syslog_wake(struct sink *s)
{
    struct syslog_sink *y = (struct syslog_sink *)s;
    /* While waiting for room or for a reconnect, let the watcher resume. */
    if (y->loop && (ev_is_active(&y->write_watcher) || ev_is_active(&y->retry_timer)))
        return;
    syslog_send_queued(y);
}

static void syslog_drain(struct sink *s, double timeout_s)
{
    (void)timeout_s;
    syslog_send_queued((struct syslog_sink *)s);
}

static void syslog_add_stats(const struct sink *s, json_t *obj)
{
    const struct syslog_sink *y = (const struct syslog_sink *)s;
    json_object_set_new(obj, "connected", json_boolean(y->fd >= 0));
    json_object_set_new(obj, "reconnects", json_integer((json_int_t)y->reconnects));
    json_object_set_new(obj, "connect_failures", json_integer((json_int_t)y->connect_failures));
    if (y->last_error[0])
        json_object_set_new(obj, "last_error", json_string(y->last_error));
}

static void syslog_destroy(struct sink *s)
{
    struct syslog_sink *y = (struct syslog_sink *)s;
    if (y->loop)
        ev_timer_stop(y->loop, &y->retry_timer);
    syslog_close(y);
    sink_base_destroy(s);
    free(y);
}

static const struct sink_ops syslog_ops = {
    .kind = "syslog",
    .start = syslog_start,
    .wake = syslog_wake,
    .drain = syslog_drain,
    .add_stats = syslog_add_stats,
    .destroy = syslog_destroy,
};

struct sink *syslog_sink_new(const char *spec, const struct sink_options *opts, char *err,
                             size_t errlen)
{
    int facility = 3;
    if (spec[6] == ':') {
        const char *name = spec + 7;
        facility = -1;
        for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
            if (strcmp(name, facilities[i].name) == 0)
                facility = facilities[i].code;
        if (facility < 0) {
            snprintf(err, errlen, "unknown syslog facility '%s'; write it as %s", name,
                     SYSLOG_FORM);
            return NULL;
        }
    }
    const char *path = opts->syslog_socket;
    if (!path || !*path)
        path = getenv("SIPTAP_SYSLOG_SOCKET");
    if (!path || !*path)
        path = "/dev/log";
    struct syslog_sink *y = calloc(1, sizeof(*y));
    if (!y) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (strlen(path) >= sizeof(y->path)) {
        snprintf(err, errlen, "syslog socket path '%s' is too long (at most %zu bytes)", path,
                 sizeof(y->path) - 1);
        free(y);
        return NULL;
    }
    if (!sink_base_init(&y->base, &syslog_ops, spec, opts->queue_size)) {
        sink_base_destroy(&y->base);
        free(y);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(y->path, sizeof(y->path), "%s", path);
    y->facility = facility;
    y->fd = -1;
    y->pid = getpid();
    y->backoff_s = SYSLOG_BACKOFF_MIN_S;
    sink_filter_alerts(&y->base);
    return &y->base;
}

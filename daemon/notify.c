/*
 * notify: see notify.h. libsystemd's sd_notify does the socket work; the
 * two ev_timers keep the status and the watchdog on the daemon's own loop,
 * so a watchdog ping proves the loop that serves the capture is turning.
 */
#include "daemon/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#define NOTIFY_STATUS_INTERVAL_S 5.0

static void send_status(struct notify *n)
{
    char text[256] = "STATUS=";
    n->status(n->user, text + 7, sizeof(text) - 7);
    sd_notify(0, text);
}

static void on_status(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    send_status(w->data);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    (void)w;
    sd_notify(0, "WATCHDOG=1");
}

void notify_start(struct notify *n, struct ev_loop *loop, notify_status_fn status, void *user)
{
    memset(n, 0, sizeof(*n));
    const char *sock = getenv("NOTIFY_SOCKET");
    n->enabled = sock && *sock;
    if (!n->enabled)
        return;
    n->loop = loop;
    n->status = status;
    n->user = user;
    ev_timer_init(&n->status_timer, on_status, NOTIFY_STATUS_INTERVAL_S, NOTIFY_STATUS_INTERVAL_S);
    n->status_timer.data = n;
    ev_timer_start(loop, &n->status_timer);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        double half = (double)usec / 2e6;
        ev_timer_init(&n->watchdog_timer, on_watchdog, half, half);
        n->watchdog_timer.data = n;
        ev_timer_start(loop, &n->watchdog_timer);
    }
}

void notify_ready(struct notify *n)
{
    if (!n->enabled)
        return;
    sd_notify(0, "READY=1");
    send_status(n);
}

void notify_reloading(struct notify *n, bool done)
{
    if (n->enabled)
        sd_notify(0, done ? "READY=1" : "RELOADING=1");
}

void notify_stopping(struct notify *n)
{
    if (n->enabled)
        sd_notify(0, "STOPPING=1");
}

void notify_stop(struct notify *n)
{
    if (!n->enabled || !n->loop)
        return;
    ev_timer_stop(n->loop, &n->status_timer);
    ev_timer_stop(n->loop, &n->watchdog_timer);
    n->enabled = false;
}

/*
 * notify: telling systemd how the daemon is doing (Type=notify).
 *
 * READY=1 once the capture is open and the outputs started; STATUS= with
 * packets, calls and drops every few seconds; WATCHDOG=1 from the event loop
 * at half the WATCHDOG_USEC interval, so a wedged loop gets the service
 * restarted; STOPPING=1 at shutdown and RELOADING=1 around SIGHUP. Without
 * NOTIFY_SOCKET (not under systemd) every call is a no-op.
 */
#ifndef SIPTAP_DAEMON_NOTIFY_H
#define SIPTAP_DAEMON_NOTIFY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

/* Writes the STATUS= text (without the prefix) into out. */
typedef void (*notify_status_fn)(void *user, char *out, size_t outlen);

struct notify {
    bool enabled;
    struct ev_loop *loop;
    ev_timer status_timer, watchdog_timer;
    notify_status_fn status;
    void *user;
};

void notify_start(struct notify *n, struct ev_loop *loop, notify_status_fn status, void *user);
void notify_ready(struct notify *n);
void notify_reloading(struct notify *n, bool done);
void notify_stopping(struct notify *n);
void notify_stop(struct notify *n);

#endif

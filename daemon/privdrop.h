/*
 * privdrop: giving up root and every capability once the capture is open.
 *
 * Opening a packet socket needs CAP_NET_RAW; nothing after it does. Started
 * as root with -u USER, the daemon switches to USER (its groups, its gid, its
 * uid) with PR_SET_KEEPCAPS off, so the kernel clears the permitted and
 * effective capability sets; the result is checked, not assumed. Started
 * as a non-root user that holds capabilities (systemd AmbientCapabilities=),
 * the sets are cleared explicitly after the capture is open.
 */
#ifndef SIPTAP_DAEMON_PRIVDROP_H
#define SIPTAP_DAEMON_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>

/* Gives a file root opened for the daemon (an output file, reopened on
 * SIGHUP once the daemon runs as user) to user, so the reopen is allowed.
 * Only a root-owned regular file changes hands; anything else, or a path
 * that does not exist, is left alone (0). -1 with a message in err. */
int privdrop_give_file(const char *user, const char *path, char *err, size_t errlen);
/* Switches to user (name or numeric uid). 0, or -1 with a message in err. */
int privdrop_to_user(const char *user, char *err, size_t errlen);
/* Clears the permitted, effective and inheritable sets and ambient
 * capabilities. 0, or -1 with a message in err. */
int privdrop_clear_caps(char *err, size_t errlen);
/* true when the effective and permitted capability sets are empty. */
bool privdrop_caps_empty(void);

#endif

/*
 * alert: one readable line per event, for people (syslog, a pager).
 *
 * The line says what happened, where (trunk, call, addresses), the hint the
 * detector found and the likely fix, e.g.
 *   trunk acme-primary down: 5 consecutive 503 from 203.0.113.10; ...
 * There is one formatter per event type of the contract; other types get a
 * generic line. The JSON event stays the machine-readable form.
 */
#ifndef SIPTAP_OUTPUTS_ALERT_H
#define SIPTAP_OUTPUTS_ALERT_H

#include <jansson.h>
#include <stddef.h>

/* Writes the line (NUL-terminated, no newline, truncated to fit) into buf and
 * returns its length. Never fails: missing fields are left out. */
size_t alert_format(const json_t *ev, char *buf, size_t buflen);

#endif

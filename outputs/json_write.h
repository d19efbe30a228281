/*
 * json_write: serialises an event (a jansson tree) into a caller's buffer,
 * byte for byte what json_dumpb(JSON_COMPACT | JSON_ENSURE_ASCII |
 * JSON_REAL_PRECISION(10)) writes, at a fraction of its cost.
 *
 * Every event is serialised once, on the capture path; jansson's dumper
 * formats each real with snprintf("%.10g") and each integer with "%lld",
 * which made it the largest per-call cost after SIP parsing. The writing is
 * core/json_text's: integers converted by hand, and reals whose value is a
 * decimal of at most three places (MOS, percentages, milliseconds: nearly
 * all of an event's reals) written from their digits; any other real goes
 * through the same snprintf + fix-up as jansson's, so the output never
 * differs. A test compares both on every kind of event the daemon writes.
 */
#ifndef SIPTAP_OUTPUTS_JSON_WRITE_H
#define SIPTAP_OUTPUTS_JSON_WRITE_H

#include <jansson.h>
#include <stddef.h>

/* Writes v (NUL-terminated) into buf; returns its length, or 0 when it does
 * not fit in cap bytes or holds a string that is not valid UTF-8 (jansson's
 * dumper refuses those too): the caller then falls back to jansson. */
size_t json_write(const json_t *v, char *buf, size_t cap);

#endif

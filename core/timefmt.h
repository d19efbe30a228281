/*
 * timefmt: capture timestamps (microseconds since the Unix epoch) as the
 * RFC 3339 UTC text every event carries.
 */
#ifndef SIPTAP_CORE_TIMEFMT_H
#define SIPTAP_CORE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_RFC3339_LEN 32

/* "2026-04-02T10:15:30.123456Z"; returns buf. */
char *timefmt_rfc3339(uint64_t ts_us, char *buf, size_t len);

#endif

/*
 * sip_internal: the two message parsers behind sip_parse_message(), exposed
 * for the differential test, and the header scanners sip/ shares; not part
 * of the sip module's contract.
 */
#ifndef SIPTAP_SIP_SIP_INTERNAL_H
#define SIPTAP_SIP_SIP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/sip.h"

enum { SIP_FAST_OK = 0, SIP_FAST_FALLBACK = 1 };

/* The allocation-free pass (sip_fast.c): SIP_FAST_OK with out filled exactly
 * as sip_parse_osip() would, or SIP_FAST_FALLBACK when the message is not
 * plain enough to be sure (out is then garbage). */
int sip_parse_fast(const uint8_t *data, size_t len, struct sip_msg *out);
/* The full libosip2 parse (sip_parse.c). 0 on success, -1 if malformed. */
int sip_parse_osip(const uint8_t *data, size_t len, struct sip_msg *out);
/* The header line [line, line + n) (no line end) is Content-Length or its
 * compact form l: the offset of its value, past the colon and the white
 * space around it (n when the value is empty); else 0 (sip_text.c). */
size_t sip_content_length_value_at(const char *line, size_t n);
/* sip_parse_message() that also says which path answered. */
int sip_parse_message_path(const uint8_t *data, size_t len, struct sip_msg *out, bool *fast);
/* The same for a message sip_sniff() already said yes to (the sip layer
 * sniffs every datagram and stream message before it parses it). */
int sip_parse_sniffed(const uint8_t *data, size_t len, struct sip_msg *out, bool *fast);

#endif

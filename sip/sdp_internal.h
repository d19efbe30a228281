/*
 * sdp_internal: helpers shared by the SIP message parser and the SDP reader,
 * not part of the sip module's contract.
 */
#ifndef SIPTAP_SIP_SDP_INTERNAL_H
#define SIPTAP_SIP_SDP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "sip/sip.h"

/* Is this Content-Type value (possibly with parameters) application/sdp? */
bool sdp_content_type_is_sdp(const char *type, size_t n);
/* Finds the first application/sdp part of a multipart body and parses it.
 * 0 on success, -1 if there is none. */
int sdp_find_in_multipart(const char *body, size_t len, const char *boundary, struct sdp_info *out);

/* Initialises libosip2's parser tables once per process. */
void sip_parser_ensure_init(void);

#endif

/*
 * redact: takes the crackable part of SIP credentials out of a captured
 * frame before it is written to a call capture.
 *
 * A digest response (with the user, realm, nonce and cnonce beside it) is
 * what an offline dictionary attack needs; a Basic credential is the
 * password itself. In every Authorization / Proxy-Authorization header line
 * of the frame, the value of each `response` parameter (quoted or not) and
 * the credential after `Basic` are overwritten with 'x', byte for byte, so
 * every length in the frame stays right. The transport checksum is then
 * computed again (UDP, TCP; CRC32c for SCTP) where the frame holds the
 * whole IPv4/IPv6 packet behind a known link header; otherwise (a tunnel, an
 * IP fragment, a frame cut by the snap length) it is left as it was.
 *
 * Not covered: a header split between two TCP segments (the part in the
 * second segment has no header name to go by) and SIP over WebSocket from a
 * client, whose payload is masked by the WebSocket key.
 */
#ifndef SIPTAP_DAEMON_REDACT_H
#define SIPTAP_DAEMON_REDACT_H

#include <stdbool.h>
#include <stdint.h>

struct redact_result {
    unsigned masked;     /* credential values overwritten */
    bool checksum_stale; /* masked, but the transport checksum could not be fixed */
};

/* Masks the credentials in the first caplen bytes of a frame of link type
 * linktype (a DLT_ number) whose length on the wire was len. */
struct redact_result redact_credentials(uint8_t *frame, uint32_t caplen, uint32_t len,
                                        int linktype);

/* Masks the credentials in SIP text (no checksums). Exposed for tests and
 * the fuzz target. */
unsigned redact_sip_text(uint8_t *text, uint32_t n);

#endif

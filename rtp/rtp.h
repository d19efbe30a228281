/*
 * rtp: the RTP header and the payload type tables (rtp/rtp.c).
 *
 * rtp_parse checks a datagram as RTP version 2 and hands back a view into the
 * caller's bytes; rtcp_looks_like tells RTCP apart on a shared port
 * (rtcp-mux). The tables give a payload type's or a media type name's clock
 * rate as Wireshark has them, so that jitter agrees with `tshark -z
 * rtp,streams`.
 *
 * The rest of rtp/ has a header per file: rtp/rtcp.h (RTCP parsing and the
 * far end's view of a stream), rtp/stream.h (per-stream statistics, defined
 * as Wireshark defines them, and a stream's report and JSON), rtp/mos.h (the
 * G.107 E-model) and rtp/flow.h (flows and the flow table, the per-packet
 * entry point).
 */
#ifndef SIPTAP_RTP_RTP_H
#define SIPTAP_RTP_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rtp_header {
    uint8_t version;
    bool padding, extension, marker;
    uint8_t csrc_count;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    const uint8_t *payload;
    size_t payload_len;
};

/* Version 2, sane lengths (CSRCs, extension, padding within the datagram).
 * Rejects RTCP packet types (72..76 with the marker bit, i.e. 200..204). */
bool rtp_parse(const uint8_t *data, size_t len, struct rtp_header *out);
/* RTCP by its packet type (200..207): used to demultiplex rtcp-mux. */
bool rtcp_looks_like(const uint8_t *data, size_t len);

/* Static payload type table (RFC 3551): name and clock rate, "" / 0 if none. */
const char *rtp_static_codec_name(uint8_t pt);
uint32_t rtp_static_clock_rate(uint8_t pt);
/* Clock rate Wireshark uses for a media type name ("opus" -> 48000), 0 if unknown. */
uint32_t rtp_name_clock_rate(const char *name);

#endif

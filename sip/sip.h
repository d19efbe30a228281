/*
 * sip: SIP messages from UDP datagrams and TCP / WebSocket streams, parsed
 * into a flat, self-contained struct sip_msg (fixed-size copies, so the
 * caller may keep what it needs after the callback returns), with the SDP
 * body (including multipart bodies) parsed into struct sdp_info by sdp.c's
 * own parser. Plain messages, nearly all traffic, take sip_fast.c's single
 * pass; anything it is not sure of (credentials, folded lines, quoting, IPv6
 * literals...) goes to libosip2 (sip_parse.c); tests/sip/test_sip_fast.c
 * checks that both give the same struct on every message of its corpus.
 *
 * The sip layer is fed by the daemon's decoder handlers:
 *   sip_layer_udp()   one datagram; returns false if it is not SIP (a quick
 *                     sniff of the first line), so the caller can try RTP;
 *                     SIP the capture cut short (packet.truncated) is
 *                     counted sip.truncated, not parsed;
 *   sip_layer_sctp()  one SCTP user message, handled like a datagram;
 *   sip_layer_tcp()   in-order stream bytes; frames messages by
 *                     Content-Length, skips keep-alive CRLFs, unwraps
 *                     WebSocket (RFC 7118) frames after an HTTP Upgrade;
 *                     returns the bytes consumed (the decoder keeps the rest);
 *   sip_layer_tcp_close()  forgets the stream's state.
 * Each complete message reaches the on_message callback. Malformed SIP is
 * counted (group "sip") and skipped, never fatal.
 */
#ifndef SIPTAP_SIP_SIP_H
#define SIPTAP_SIP_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/netaddr.h"
#include "core/packet.h"
#include "decoders/decode.h"

enum sip_method {
    SIP_METHOD_UNKNOWN = 0,
    SIP_METHOD_INVITE,
    SIP_METHOD_ACK,
    SIP_METHOD_BYE,
    SIP_METHOD_CANCEL,
    SIP_METHOD_REGISTER,
    SIP_METHOD_OPTIONS,
    SIP_METHOD_PRACK,
    SIP_METHOD_UPDATE,
    SIP_METHOD_INFO,
    SIP_METHOD_SUBSCRIBE,
    SIP_METHOD_NOTIFY,
    SIP_METHOD_REFER,
    SIP_METHOD_MESSAGE,
    SIP_METHOD_PUBLISH,
};

enum sip_transport { SIP_TRANSPORT_UDP, SIP_TRANSPORT_TCP, SIP_TRANSPORT_WS, SIP_TRANSPORT_SCTP };

enum sdp_direction { SDP_SENDRECV = 0, SDP_SENDONLY, SDP_RECVONLY, SDP_INACTIVE };

enum sdp_media_type { SDP_MEDIA_AUDIO, SDP_MEDIA_VIDEO, SDP_MEDIA_IMAGE, SDP_MEDIA_OTHER };

#define SDP_MAX_MEDIA   4
#define SDP_MAX_FORMATS 16
/* payload_type of an m= format that is not an RTP payload number ("t38" on
 * an udptl image stream); its token is kept in name. */
#define SDP_PAYLOAD_TYPE_NONE 255

struct sdp_format {
    uint8_t payload_type;
    char name[24];       /* rtpmap encoding name ("PCMU", "telephone-event"), or the static
                            table's name when there is no rtpmap; "" if unknown */
    uint32_t clock_rate; /* Hz; 0 if unknown */
};

struct sdp_media {
    enum sdp_media_type type;
    struct net_addr addr;         /* media c= or, if absent, session c=; family 0 if none */
    uint16_t port;                /* 0 = stream rejected / disabled */
    uint16_t rtcp_port;           /* a=rtcp port, else port with rtcp-mux, else port + 1;
                                     0 when port is 0 */
    bool rtcp_mux;                /* a=rtcp-mux */
    enum sdp_direction direction; /* media attribute, else session attribute, else sendrecv */
    uint16_t ptime_ms;            /* 0 if absent */
    char proto[24];               /* "RTP/AVP", "RTP/SAVP", "udptl" ... */
    struct sdp_format formats[SDP_MAX_FORMATS]; /* in m= line order */
    size_t format_count;
};

struct sdp_info {
    struct net_addr origin_addr;  /* o= address */
    struct net_addr session_addr; /* session-level c=; family 0 if none */
    struct sdp_media media[SDP_MAX_MEDIA];
    size_t media_count;
};

struct sip_msg {
    bool is_request;
    enum sip_method method; /* request method; for responses, the CSeq method */
    char method_name[24];   /* as on the wire (requests) or from CSeq (responses) */
    int status;             /* responses: 100..699; requests: 0 */
    char reason[64];        /* response reason phrase */

    char request_uri[256];
    char request_user[128]; /* user part of the Request-URI */
    char call_id[256];
    char from_user[128], from_host[128], from_tag[128];
    char to_user[128], to_host[128], to_tag[128];
    uint32_t cseq;
    char via_branch[128];      /* top Via branch */
    char via_sent_by[128];     /* top Via host[:port] */
    char user_agent[128];      /* User-Agent or Server */
    char contact_host[128];    /* first Contact URI host */
    int64_t expires;           /* Expires header, else first Contact expires=; -1 if none */
    uint32_t session_expires;  /* Session-Expires delta-seconds; 0 if none */
    char session_refresher[8]; /* "uac", "uas" or "" */
    char reason_header[128];   /* Reason: header (e.g. Q.850;cause=16), "" if none */

    /* Credentials sent (Authorization / Proxy-Authorization). The digest
     * response itself is never kept: only a hash to tell "same answer again". */
    bool has_credentials;
    char credentials_realm[128];
    char credentials_nonce[128];
    uint64_t credentials_response_hash; /* 0 if none */
    /* Challenge received (WWW-Authenticate / Proxy-Authenticate). */
    bool has_challenge;
    char challenge_realm[128];
    char challenge_nonce[128];
    bool challenge_stale;

    bool has_sdp;      /* an SDP body that parsed: sdp holds it */
    bool sdp_unparsed; /* a body typed application/sdp that did not parse */
    struct sdp_info sdp;
};

struct sip_meta {
    uint64_t ts_us;
    struct endpoint src, dst;
    enum sip_transport transport;
    const uint8_t *raw; /* the message bytes, valid during the callback */
    size_t raw_len;
};

typedef void (*sip_message_fn)(void *user, const struct sip_msg *msg, const struct sip_meta *meta);

struct sip_layer;

struct sip_layer *sip_layer_new(struct counters *counters, sip_message_fn on_message, void *user);
void sip_layer_free(struct sip_layer *s);
/* false if the datagram is not SIP (the caller may then try RTP). A SIP
 * datagram that fails to parse returns true (it is counted as malformed). */
bool sip_layer_udp(struct sip_layer *s, const struct packet *pkt);
/* An SCTP user message (RFC 4168: one SIP message each); false if not SIP. */
bool sip_layer_sctp(struct sip_layer *s, const struct packet *pkt);
size_t sip_layer_tcp(struct sip_layer *s, const struct tcp_data *data);
void sip_layer_tcp_close(struct sip_layer *s, uint64_t stream_id);

/* Lower-level pieces, for tests and the fuzzer. */
/* Does the buffer start like a SIP request or status line? */
bool sip_sniff(const uint8_t *data, size_t len);
/* Parses one complete message. 0 on success, -1 if malformed. */
int sip_parse_message(const uint8_t *data, size_t len, struct sip_msg *out);
/* Parses an SDP body. 0 on success, -1 if it is not SDP. */
int sdp_parse(const char *body, size_t len, struct sdp_info *out);
const char *sip_method_name(enum sip_method m);

#endif

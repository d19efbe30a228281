/*
 * pcapgen: the contract of the project's capture generator.
 *
 * Tests describe traffic (a call, a registration, an RTP stream with losses)
 * and pcapgen writes it as a classic pcap file with microsecond timestamps.
 * Everything is deterministic: times are given by the caller, identifiers are
 * derived from the inputs, and the only "random" values (RTP jitter) come from
 * an explicit seed. Packets are queued in any order and sorted by time (stable)
 * when the file is written, so a builder can emit a whole call stream by stream.
 *
 * Times (t_us) are microseconds relative to the generator's base time
 * (default 2024-01-01T00:00:00Z); pcapgen_set_base() changes it.
 */
#ifndef SIPTAP_TOOLS_PCAPGEN_H
#define SIPTAP_TOOLS_PCAPGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/netaddr.h"

/* Link types (the pcap LINKTYPE_ values). */
#define PCAPGEN_LINK_NULL      0
#define PCAPGEN_LINK_ETHERNET  1
#define PCAPGEN_LINK_RAW       101
#define PCAPGEN_LINK_LINUX_SLL 113

#define PCAPGEN_DEFAULT_BASE_US 1704067200000000ULL /* 2024-01-01T00:00:00Z */

struct pcapgen;

/*
 * How one packet is wrapped below the transport layer. Zero means "none" for
 * every field, so a zeroed struct is plain Ethernet/IP. VLAN tags are only
 * written on Ethernet links.
 */
struct pcapgen_encap {
    uint16_t vlan;       /* 802.1Q tag (0x8100) VLAN id; 0 = untagged */
    uint16_t qinq_outer; /* outer 802.1ad tag (0x88a8) VLAN id; needs vlan */
    uint16_t mtu;        /* fragment IP datagrams larger than this; 0 = never */
    bool frag_reverse;   /* emit the fragments last-first */
};

/* linktype: one of PCAPGEN_LINK_*. Returns NULL on unknown linktype. */
struct pcapgen *pcapgen_new(int linktype);
void pcapgen_free(struct pcapgen *g);
/* Changes the link type; only before any frame is queued (false otherwise). */
bool pcapgen_set_linktype(struct pcapgen *g, int linktype);
int pcapgen_linktype(const struct pcapgen *g);
void pcapgen_set_base(struct pcapgen *g, uint64_t epoch_us);
uint64_t pcapgen_base(const struct pcapgen *g);
/* Encapsulation used when a call passes opts == NULL. */
void pcapgen_set_encap(struct pcapgen *g, const struct pcapgen_encap *encap);
const struct pcapgen_encap *pcapgen_encap(const struct pcapgen *g);
/* Number of frames queued so far. */
size_t pcapgen_count(const struct pcapgen *g);
/* Sorts the queued frames by time (stable) and writes them. 0 or -1 (errno). */
int pcapgen_write(struct pcapgen *g, const char *path);
/* A capture too large to queue whole (bench/gen_load --churn), written as it
 * is made: the file header, then, each time everything before t_us has been
 * queued, the queued frames before t_us (sorted; they leave the queue). */
int pcapgen_stream_begin(struct pcapgen *g, FILE *f);
int pcapgen_stream_until(struct pcapgen *g, FILE *f, uint64_t t_us);

/* Queues a complete link-layer frame as is. */
void pcapgen_frame(struct pcapgen *g, uint64_t t_us, const uint8_t *frame, size_t len);
/* Queues an IP datagram carrying proto/payload, fragmenting per opts->mtu. */
void pcapgen_ip(struct pcapgen *g, uint64_t t_us, const struct net_addr *src,
                const struct net_addr *dst, uint8_t proto, const uint8_t *payload, size_t len,
                const struct pcapgen_encap *opts);
void pcapgen_udp(struct pcapgen *g, uint64_t t_us, const struct endpoint *src,
                 const struct endpoint *dst, const uint8_t *payload, size_t len,
                 const struct pcapgen_encap *opts);

/* The Internet checksum (RFC 1071) of data, folded, not complemented. */
uint32_t pcapgen_csum_add(uint32_t sum, const uint8_t *data, size_t len);
uint16_t pcapgen_csum_fold(uint32_t sum);

/* ---- TCP ---- */

enum pcapgen_dir {
    PCAPGEN_C2S = 0, /* client to server */
    PCAPGEN_S2C = 1,
};

struct pcapgen_tcp;

/* A connection; isn values are the initial sequence numbers of each side. */
struct pcapgen_tcp *pcapgen_tcp_new(struct pcapgen *g, const struct endpoint *client,
                                    const struct endpoint *server, uint32_t client_isn,
                                    uint32_t server_isn, const struct pcapgen_encap *opts);
void pcapgen_tcp_free(struct pcapgen_tcp *c);
/* SYN, SYN/ACK, ACK at t, t+1ms, t+2ms. Skip it to start mid-stream. */
void pcapgen_tcp_handshake(struct pcapgen_tcp *c, uint64_t t_us);
/* One data segment (PSH|ACK) from dir; advances that side's sequence number. */
void pcapgen_tcp_send(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir,
                      const uint8_t *data, size_t len);
/*
 * The same bytes split into n+1 segments at the given ascending byte offsets,
 * the k-th at t_us + k*step_us. reverse emits them last-first in time
 * (out-of-order delivery). Offsets outside (0, len) are ignored.
 */
void pcapgen_tcp_send_split(struct pcapgen_tcp *c, uint64_t t_us, uint64_t step_us,
                            enum pcapgen_dir dir, const uint8_t *data, size_t len,
                            const size_t *offsets, size_t n, bool reverse);
/* One data segment offset bytes past dir's next sequence number, without
 * advancing it (pcapgen_tcp_advance does, once the bytes are all out). */
void pcapgen_tcp_send_at(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir,
                         uint32_t offset, const uint8_t *data, size_t len);
void pcapgen_tcp_advance(struct pcapgen_tcp *c, enum pcapgen_dir dir, size_t len);
/*
 * A flood of SIP over TCP for the decoder's limits: `streams` connections
 * (client port + i, each with a handshake), each carrying `messages` OPTIONS
 * whose header block is padded to at least header_bytes and whose body has
 * body_bytes, cut into segments of `segment` bytes, one packet every step_us.
 * hold_first withholds every stream's first data segment until all the other
 * segments of all streams are out: each stream's data then waits out of
 * order, all at once.
 */
struct pcapgen_tcp_flood {
    struct endpoint client, server;
    unsigned streams, messages;
    size_t header_bytes, body_bytes, segment;
    uint64_t start_us, step_us;
    bool hold_first;
};
void pcapgen_tcp_flood(struct pcapgen *g, const struct pcapgen_tcp_flood *f);
/* Re-emits the last data segment sent from dir (same seq, same bytes). */
void pcapgen_tcp_retransmit(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir);
/* A bare ACK from dir. */
void pcapgen_tcp_ack(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir);
void pcapgen_tcp_fin(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir);
void pcapgen_tcp_rst(struct pcapgen_tcp *c, uint64_t t_us, enum pcapgen_dir dir);
/* Next sequence number dir will use. */
uint32_t pcapgen_tcp_seq(const struct pcapgen_tcp *c, enum pcapgen_dir dir);

/* ---- SIP / SDP ---- */

/*
 * Builds a SIP message: start line, header lines (separated by "\n" or
 * "\r\n"; a Content-Length among them is dropped), then Content-Length of
 * body and the body. Lines end in CRLF. Returns a malloc'd NUL-terminated
 * string; *len_out (if not NULL) gets its length.
 */
char *pcapgen_sip_build(const char *start_line, const char *headers, const char *body,
                        size_t *len_out);
/* text is sent as is (use pcapgen_sip_build or pcapgen_sip_normalize first). */
void pcapgen_sip_udp(struct pcapgen *g, uint64_t t_us, const struct endpoint *src,
                     const struct endpoint *dst, const char *text,
                     const struct pcapgen_encap *opts);
/*
 * Turns loosely written SIP text (LF line ends, any Content-Length) into a
 * wire message: CRLF line ends and a correct Content-Length. malloc'd.
 */
char *pcapgen_sip_normalize(const char *text, size_t *len_out);

struct pcapgen_sdp {
    const char *addr;   /* c= address (text) */
    uint16_t port;      /* m=audio port */
    const uint8_t *pts; /* payload types; NULL = {0, 101} */
    size_t n_pts;
    const char *direction; /* "sendonly", "recvonly", "inactive", "sendrecv" or NULL */
    bool rtcp_mux;
    uint16_t rtcp_port;  /* a=rtcp:PORT; 0 = none */
    uint32_t ptime;      /* ms; 0 = no a=ptime */
    uint16_t video_port; /* an m=video line (H264, PT 96) on this port; 0 = none */
    uint64_t session_id;
    uint64_t version;
};
/* malloc'd SDP body with CRLF line ends. */
char *pcapgen_sdp_build(const struct pcapgen_sdp *sdp);

/* ---- RTP ---- */

struct pcapgen_seq_pair {
    uint16_t a, b;
};

enum pcapgen_rtcp {
    PCAPGEN_RTCP_NONE = 0,
    PCAPGEN_RTCP_PORT_PLUS_1,
    PCAPGEN_RTCP_MUX,
    /* On RTP port + PCAPGEN_RTCP_ATTRIBUTE_OFFSET, announced by an SDP
     * a=rtcp line (RFC 3605): not where port + 1 would look. */
    PCAPGEN_RTCP_ATTRIBUTE,
};
#define PCAPGEN_RTCP_ATTRIBUTE_OFFSET 3

/*
 * One RTP stream. Packet i (0-based "slot") is due at start_us + i*ptime_us
 * with timestamp start_ts + i*samples. Sequence numbers are consumed in
 * emission order starting at start_seq (wrapping at 65535), and a lost packet
 * still consumes its number. Lists of sequence numbers name the values as
 * they appear on the wire.
 */
struct pcapgen_rtp_spec {
    struct endpoint src, dst;
    uint32_t ssrc;
    uint8_t pt;
    uint64_t start_us;
    uint32_t count;       /* slots */
    uint32_t ptime_us;    /* 0 = 20000 */
    uint16_t payload_len; /* 0 = ptime worth of 8-bit samples (160) */
    uint32_t clock_rate;  /* 0 = 8000 */
    uint16_t start_seq;
    uint32_t start_ts;
    uint64_t stop_us; /* nothing is sent at or after this; 0 = no stop */

    const uint16_t *lost_seqs; /* never sent */
    size_t n_lost;
    uint32_t loss_every;             /* slot i is lost when (i+1) % loss_every == 0 */
    uint32_t burst_start, burst_len; /* slots [burst_start, +burst_len) lost */

    uint32_t jitter_max_us; /* per packet arrival offset in [0, max] from seed */
    uint64_t jitter_seed;
    const int32_t *offsets_us; /* explicit offsets, applied to packet k % n */
    size_t n_offsets;

    const struct pcapgen_seq_pair *swaps; /* swap the arrival times of two seqs */
    size_t n_swaps;
    const uint16_t *dup_seqs; /* sent twice */
    size_t n_dup;
    const uint16_t *marker_seqs; /* marker bit set */
    size_t n_marker;

    uint32_t ssrc_change_at; /* from slot k on (k > 0) the SSRC is new_ssrc */
    uint32_t new_ssrc;

    /* Silence suppression: one CN (PT 13) packet at slot cn_at, then nothing
     * until slot cn_at + cn_slots, where audio resumes with the marker bit. */
    uint32_t cn_at, cn_slots;

    /* RFC 4733 event: slots [dtmf_at, +dtmf_slots) carry event dtmf_event as
     * PT dtmf_pt (0 = 101), all with the first slot's timestamp and growing
     * duration; the last has the E bit and is sent 3 times (new seqs). */
    uint32_t dtmf_at, dtmf_slots;
    uint8_t dtmf_event, dtmf_pt;

    enum pcapgen_rtcp rtcp;
    uint32_t rtcp_interval_us; /* 0 = 5 s */
    bool rtcp_rr;              /* the receiver answers each SR with an RR */
    bool rtcp_xr;              /* ... and an XR VoIP Metrics block in the same compound */

    const struct pcapgen_encap *encap;
};

struct pcapgen_rtp_result {
    uint32_t sent;     /* RTP packets written (duplicates included) */
    uint32_t lost;     /* sequence numbers never sent */
    uint16_t next_seq; /* the sequence number the stream would use next */
    uint32_t next_ts;
    uint64_t last_us; /* due time of the last slot sent */
};

/* Returns what was emitted in *res (may be NULL). */
void pcapgen_rtp_stream(struct pcapgen *g, const struct pcapgen_rtp_spec *spec,
                        struct pcapgen_rtp_result *res);

/* ---- Calls ---- */

enum pcapgen_transport {
    PCAPGEN_TRANSPORT_UDP = 0,
    PCAPGEN_TRANSPORT_TCP,
};

enum pcapgen_rtp_dirs {
    PCAPGEN_RTP_BOTH = 0,
    PCAPGEN_RTP_CALLER_ONLY, /* caller -> callee only */
    PCAPGEN_RTP_CALLEE_ONLY,
    PCAPGEN_RTP_NONE,
};

/*
 * A call from caller to callee. Unset fields take defaults: media endpoints
 * are the signalling address with port 10000 (caller) / 20000 (callee); the
 * RTP source of each side is its SDP media endpoint unless *_rtp_src is set
 * (a NATed phone announces 192.168.x in SDP but sends from its public
 * address). Times in ms are relative to start_us; "answer" is the 200 OK.
 */
struct pcapgen_call_spec {
    const char *call_id;             /* NULL = "call-<start>@pcapgen" */
    const char *from_user, *to_user; /* "alice", "bob" */
    struct endpoint caller, callee;  /* signalling */
    struct endpoint caller_media, callee_media;
    struct endpoint caller_rtp_src, callee_rtp_src;
    enum pcapgen_transport transport;
    uint64_t start_us;
    uint32_t ring_ms; /* INVITE to final response; 0 = 2000 */
    uint32_t talk_ms; /* answer to BYE; 0 = 30000 */
    uint8_t pt;       /* audio payload type (0 PCMU default) */
    /* The offer's payload types (the answer keeps pt and 101); NULL = {pt, 101}. */
    const uint8_t *offer_pts;
    size_t n_offer_pts;
    bool sdp_rtcp;  /* both SDPs announce a=rtcp:PORT+1 (none is sent) */
    bool sdp_video; /* both SDPs add an m=video line on media port + 100 (no video sent) */
    uint32_t ssrc_caller, ssrc_callee; /* 0 = derived from call_id */

    uint16_t final_status; /* 0 = 200 */
    bool cancel;           /* caller CANCELs at ring_ms */
    bool no_final;         /* 100, 180, then nothing */
    uint16_t auth;         /* 401 or 407: challenge the first INVITE */
    bool forking;          /* two 180s with different To-tags */
    bool no_ack;           /* 200 retransmitted until 32 s, then BYE from callee */

    uint32_t pdd_ms;            /* INVITE to 180; 0 = 100 */
    bool no_ringing;            /* no 180: the final response is the first after the 100 */
    uint8_t invite_retransmits; /* the INVITE sent again, 1 ms apart (at most 9) */

    enum pcapgen_rtp_dirs rtp;
    uint32_t caller_rtp_stop_ms, callee_rtp_stop_ms; /* after answer; 0 = never */
    uint32_t loss_every;                             /* applied to both directions */
    enum pcapgen_rtcp rtcp;

    uint32_t session_expires; /* s; Session-Expires header, never refreshed */

    uint32_t reinvite_ms;           /* after answer; 0 = none */
    struct endpoint reinvite_media; /* new caller media; unset = unchanged */
    const char *reinvite_direction; /* "sendonly" / "inactive" (hold) or NULL */

    bool no_bye;
    bool bye_from_callee;

    /* The INVITE's Request-URI user; NULL = to_user. */
    const char *request_user;
    /* Reason header values (RFC 3326, e.g. "Q.850;cause=16") on the BYE,
     * the CANCEL, and the final response >= 300 (a CANCEL's 487 too); NULL
     * = none. */
    const char *bye_reason, *cancel_reason, *final_reason;

    const struct pcapgen_encap *encap;
};

/* Time (relative us) of the call's last packet. */
uint64_t pcapgen_call(struct pcapgen *g, const struct pcapgen_call_spec *spec);

enum pcapgen_reg_outcome {
    PCAPGEN_REG_OK = 0,   /* 401 then 200 */
    PCAPGEN_REG_LOOP_401, /* every authorised attempt is answered 401 again */
    PCAPGEN_REG_403,      /* the authorised attempt gets 403 */
};

struct pcapgen_register_spec {
    struct endpoint ua, registrar;
    const char *user;    /* "alice" */
    const char *realm;   /* "pcapgen.test" */
    const char *call_id; /* NULL = derived */
    enum pcapgen_transport transport;
    uint64_t start_us;
    enum pcapgen_reg_outcome outcome;
    uint32_t attempts;    /* authorised REGISTERs for LOOP_401; 0 = 5 */
    uint32_t interval_ms; /* between attempts; 0 = 1000 */
    uint32_t expires;     /* 0 = 3600 */
    bool realm_mismatch;  /* the UA answers with a different realm */
    bool same_response;   /* same nonce/response every attempt */
    bool stale;           /* the repeated 401s say stale=true */
    const struct pcapgen_encap *encap;
};

uint64_t pcapgen_register(struct pcapgen *g, const struct pcapgen_register_spec *spec);

/* A SIP scanner (sipvicious' "friendly-scanner" and its kin): count
 * requests from src to dst at rate per second, each a new dialog to the
 * next extension number (100, 101, ...), with the scanner's User-Agent;
 * the target answers each with a final status, or not at all. */
struct pcapgen_scan_spec {
    struct endpoint src, dst;
    uint64_t start_us;
    uint32_t count;
    uint32_t rate;          /* requests per second; 0 = 100 */
    const char *method;     /* "INVITE" (default), "REGISTER" or "OPTIONS" */
    const char *user_agent; /* NULL = "friendly-scanner" */
    uint16_t answer;        /* final status the target sends 1 ms later; 0 = none */
};
/* Time (relative us) of the scan's last packet. */
uint64_t pcapgen_scan(struct pcapgen *g, const struct pcapgen_scan_spec *spec);

/* ---- scenario language (see README.md) ---- */

/* Runs a scenario file into g. Returns 0, or -1 with a "file:line: why"
 * message in err. */
int pcapgen_scenario_file(struct pcapgen *g, const char *path, char *err, size_t errlen);
int pcapgen_scenario_text(struct pcapgen *g, const char *text, const char *dir, char *err,
                          size_t errlen);
/* The bundled demo capture (samples/demo.pcap). */
void pcapgen_demo(struct pcapgen *g);

#endif

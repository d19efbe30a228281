/*
 * hep_input: `-i hep://ADDR:PORT[?transport=udp|tcp]`, the tap fed by
 * capture agents (heplify, Kamailio siptrace, OpenSIPS proto_hep, sngrep
 * -H, FreeSWITCH, Asterisk res_hep) instead of a network interface.
 *
 * A libev listener on the daemon's loop: UDP, one HEP message per
 * datagram (v1, v2 or v3); TCP, v3 messages back to back on any number of
 * connections (up to HEP_INPUT_MAX_CONNECTIONS), each framed by its length
 * and resynchronised at the next "HEP3" after garbage. Each message is
 * decoded (decoders/hep.h) into a packet view at the transport payload
 * level -- capture time, addresses, ports and protocol from the HEP chunks,
 * the payload as the datagram's -- and handed to the caller, which feeds it
 * to the same layers a captured UDP datagram reaches (see daemon_hep.c).
 * There is no Ethernet frame to rebuild and no IP layer to walk: the agent
 * already did that, and the payload is all the SIP and RTP layers read.
 *
 * Every refused message is counted in group "hep" under the decoder's
 * error name (hep.bad_length, hep.chunk_truncated, ...); nothing is fatal.
 */
#ifndef SIPTAP_DAEMON_HEP_INPUT_H
#define SIPTAP_DAEMON_HEP_INPUT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/counters.h"
#include "core/packet.h"
#include "decoders/hep.h"

#define HEP_INPUT_MAX_CONNECTIONS 1024
#define HEP_INPUT_AGENT_MAX       64

/*
 * One decoded message worth analysing: pkt is the payload-level view
 * (payload, addresses, ports, ip_proto, ts_us); agent names who captured it
 * (the node name, chunk 0x13, else the capture agent id in decimal; "" if
 * neither). Valid during the call.
 */
typedef void (*hep_input_fn)(void *user, const struct hep_message *m, const char *agent,
                             const struct packet *pkt);

struct hep_input;

/* Is this -i argument a HEP listener? */
bool hep_input_is_spec(const char *spec);
/* Why hep_input_new failed. Callers decide on it (the daemon's exit
 * status), never on the message. */
enum hep_input_error {
    HEP_INPUT_OK,
    HEP_INPUT_ERR_SPEC,   /* spec is not hep://ADDR:PORT[?transport=udp|tcp]: a usage error */
    HEP_INPUT_ERR_LISTEN, /* the address cannot be bound or listened on */
    HEP_INPUT_ERR_MEMORY,
};
/* Parses spec and binds (and, for TCP, listens): done before privileges
 * are dropped, so port 9060 needs no capability later. NULL on failure,
 * with *why and a message in err (naming the right form). spec NULL: no
 * socket, messages come only through hep_input_feed (tests, the fuzzer). */
struct hep_input *hep_input_new(const char *spec, struct counters *counters, hep_input_fn fn,
                                void *user, enum hep_input_error *why, char *err, size_t errlen);
void hep_input_start(struct hep_input *in, struct ev_loop *loop);
void hep_input_stop(struct hep_input *in);
void hep_input_free(struct hep_input *in);
/* The bound port (for tests that bind port 0). */
int hep_input_port(const struct hep_input *in);

/* Decodes one message and hands it on as the listener does (for tests and
 * the fuzzer): counted alike. now_us stands in for a v1 message's time. */
void hep_input_feed(struct hep_input *in, const uint8_t *data, size_t len, uint64_t now_us);

#endif

/*
 * hep: the HEPv3 output, `-o hep://HOST:PORT[?transport=udp|tcp&id=N&password=P&node=NAME
 * &max_size=BYTES]`, to Homer (heplify-server, Homer 11), sngrep or anything that reads HEP.
 *
 * Unlike the other sinks it carries more than events: the daemon offers it
 * every SIP message it sees (HEP protocol type 1, hep_sink_capture) and
 * every RTCP datagram (type 5, as the JSON report Homer shows,
 * hep_rtcp_json), and the event bus hands it events like any sink, sent as
 * HEP logs (type 100) with the Call-ID as correlation id (chunk 0x11), so
 * Homer shows siptap's verdict inside the call's flow. By default the
 * events it takes are the alerts (warning and above) and call_end; a
 * [route hep] section changes that.
 *
 * Everything is encoded when offered and queued (bounded by the output
 * queue_size and HEP_SINK_MAX_BYTES, oldest unsent dropped and counted), and
 * sent from the libev loop on a non-blocking socket: the capture path never
 * waits. Counters are kept per kind (sip, rtcp, events) and are exact:
 *   TCP  delivered = acknowledged by the peer's TCP (the socket's unacked
 *        byte count, SIOCOUTQ, has passed the message's last byte);
 *        messages written but not acknowledged when a connection dies are
 *        sent again on the next one (a receiver may see a duplicate, never
 *        a gap). Reconnection backs off from 100 ms to 5 s.
 *   UDP  delivered = sent, and no ICMP error came back for it (IP_RECVERR:
 *        each bounced datagram is read back from the socket's error queue
 *        and moved from delivered to failed). UDP has no acknowledgement:
 *        a datagram lost silently on the path cannot be known.
 *   failed = could not be encoded or is larger than max_size (UDP, default
 *        8192; HEP's own limit 65535 on TCP), refused by the network, or
 *        bounced; dropped = pushed out of a full queue before it was sent.
 */
#ifndef SIPTAP_OUTPUTS_HEP_H
#define SIPTAP_OUTPUTS_HEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"
#include "outputs/sink.h"

#define HEP_SINK_MAX_BYTES (64u << 20) /* queued messages, all kinds */
#define HEP_SINK_UDP_MAX   8192        /* default max_size over UDP */

/* A captured message offered to the HEP outputs. */
struct hep_capture {
    uint64_t ts_us;
    const struct endpoint *src, *dst;
    uint8_t ip_proto;   /* 17, 6, 132 */
    uint8_t proto_type; /* HEP_PROTO_SIP, HEP_PROTO_RTCP */
    const uint8_t *payload;
    size_t len;
    const char *correlation_id; /* NULL: none */
};

struct sink *hep_sink_new(const char *spec, const struct sink_options *opts, char *err,
                          size_t errlen);
bool hep_sink_is(const struct sink *s);
/* Encodes and queues c; never blocks. */
void hep_sink_capture(struct sink *s, const struct hep_capture *c);
/* Per-kind figures, for tests and the stats event. */
struct hep_sink_counts {
    uint64_t delivered, dropped, failed, pending;
};
enum hep_sink_kind { HEP_KIND_SIP, HEP_KIND_RTCP, HEP_KIND_EVENT, HEP_KIND_COUNT };
void hep_sink_counts(const struct sink *s, enum hep_sink_kind kind, struct hep_sink_counts *out);

/*
 * An RTCP compound packet as the JSON heplify writes for protocol type 5
 * (sender_information, ssrc, type, report_count, report_blocks with
 * source_ssrc, fraction_lost, packets_lost, highest_seq_no, ia_jitter, lsr,
 * dlsr; jitter in RTP timestamp units, as heplify). The first SR or RR of
 * the compound is described. Returns the text length (NUL written), or 0
 * if the packet holds no readable SR / RR or the text does not fit.
 */
size_t hep_rtcp_json(const uint8_t *data, size_t len, char *out, size_t cap);

#endif

/*
 * daemon_hep: HEP in the daemon context, the glue between the daemon's
 * layers and HEP on both sides (the codec: decoders/hep.h; the listener:
 * daemon/hep_input.h; the output: outputs/hep.h).
 *
 * In: each HEP message becomes a payload-level packet processed like a
 * captured datagram (engine_payload). The capture clock follows
 * the HEP timestamps, not the wall: agents replaying an old capture, or
 * agents whose clocks differ from the tap's, give the same events as the
 * capture read with -r. On a quiet input the clock moves on with the wall
 * from the last message's time (less half a second, as live capture
 * lags), so timers still fire. The agent that sent a call's first message
 * (node name, else capture id) is remembered per Call-ID, a bounded table
 * evicting its oldest entry, and every event of that call carries it as
 * `agent`.
 *
 * Out: the HEP outputs among the sinks are offered every SIP message the
 * SIP layer delivers and every RTCP datagram (as heplify's JSON report).
 * An RTCP report carries its call's Call-ID as correlation id, as heplify
 * does: the RTCP endpoints each SDP offers (a=rtcp, rtcp-mux, or the RTP
 * port + 1) are remembered per Call-ID, in a bounded table evicting its
 * oldest entry, and a report to or from one of them names that call.
 */
#ifndef SIPTAP_DAEMON_DAEMON_HEP_H
#define SIPTAP_DAEMON_DAEMON_HEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hashtab.h"
#include "core/list.h"
#include "core/packet.h"
#include "outputs/event.h"
#include "sip/sip.h"

struct siptap;
struct sink;
struct hep_input;
struct hep_agent;
struct hep_media;

#define DAEMON_HEP_MAX_SINKS 16

struct daemon_hep {
    struct hep_input *input;
    struct sink *sinks[DAEMON_HEP_MAX_SINKS];
    size_t sink_count;
    /* Call-ID -> agent, oldest first for eviction. */
    struct hashtab agents;
    struct list agents_by_age; /* of struct hep_agent, first: the oldest */
    struct hep_agent *forget;  /* its call ended: freed at the next message or event */
    const char *agent;         /* of the HEP message being processed; NULL between */
    /* RTCP endpoint (from SDP) -> Call-ID, oldest first for eviction. */
    struct hashtab media;
    struct list media_by_age; /* of struct hep_media, first: the oldest */
    uint64_t last_ts_us;      /* newest HEP time seen */
    double last_wall;         /* ev_now when it was seen */
};

/* Opens `-i hep://...` (before privileges are dropped). 0, or an exit
 * status with the message printed. */
int daemon_hep_open_input(struct siptap *d, const char *spec);
/* After the outputs are opened: notes which are HEP outputs. */
void daemon_hep_find_sinks(struct siptap *d);
void daemon_hep_start(struct siptap *d);
void daemon_hep_stop(struct siptap *d);
void daemon_hep_free(struct siptap *d);

/* Hooks in the daemon's paths (cheap no-ops without HEP). */
void daemon_hep_sip(struct siptap *d, const struct sip_msg *msg, const struct sip_meta *meta);
void daemon_hep_media(struct siptap *d, const struct packet *pkt);
void daemon_hep_prepublish(struct siptap *d, const struct event_info *info,
                           struct event_extra *extra);
/* The wall tick with a HEP input: moves the capture clock (see above).
 * false when there is no HEP input (the caller does its own). */
bool daemon_hep_tick(struct siptap *d, uint64_t wall_us);

#endif

/*
 * callcap: a capture file per call that raised an alert.
 *
 * Every call keeps its own bounded record of the frames attributed to it
 * (the calls/ frame hook): every SIP frame up to a cap, the first N RTP/RTCP
 * frames and a ring of the last M. When an event of severity warning or
 * above names a call (the bus pre-publish hook), the call's frames are
 * written in capture order to DIR/YYYY-MM-DD/<sanitised Call-ID>.pcap and
 * the event gets `capture_path`. The file is written again, complete, when
 * the call's call_end is published (which then carries capture_path too),
 * and once more when the call is freed if late frames came in its linger.
 * DIR is kept under a size cap by deleting the oldest files first.
 *
 * The file is pcapng (the name keeps .pcap; readers go by the magic): where
 * RTP/RTCP frames of the call were not kept (between the head and the tail,
 * or for want of memory), the first frame after the gap carries a packet
 * comment saying how many are missing, so that the loss a reader computes
 * on the file is not taken for the call's. SIP frames are kept with the
 * digest response (and any Basic credential) masked, unless
 * keep_credentials is set (daemon/redact.h).
 *
 * Memory is bounded three ways: per call (the caps above), per record slot
 * (RTP frames are cut to a slot size; the pcap record keeps the original
 * length) and in total (memory_mb: past it, frames are not kept; counted).
 */
#ifndef SIPTAP_DAEMON_CALLCAP_H
#define SIPTAP_DAEMON_CALLCAP_H

#include <jansson.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calls/calls.h"
#include "core/counters.h"

struct callcap_config {
    bool enabled;
    char dir[256];
    uint64_t dir_max_bytes;  /* the directory tree's size cap */
    unsigned sip_max;        /* SIP frames kept per call */
    unsigned rtp_head;       /* first RTP/RTCP frames kept per call */
    unsigned rtp_tail;       /* last RTP/RTCP frames kept per call (ring) */
    unsigned rtp_slot_bytes; /* RTP frames are cut to this many bytes */
    bool keep_credentials;   /* SIP frames kept as captured, digest responses too */
    uint64_t memory_max;     /* all calls together */
};

void callcap_config_defaults(struct callcap_config *c);

struct callcap;

/* Creates DIR if needed and hooks into the call table. NULL with a message in
 * err when DIR cannot be created or written. */
struct callcap *callcap_new(const struct callcap_config *cfg, struct call_table *calls,
                            struct counters *counters, int linktype, char *err, size_t errlen);
void callcap_free(struct callcap *cc);
/* The frame being processed (called for every frame, before decoding). */
void callcap_set_frame(struct callcap *cc, const struct pcap_pkthdr *hdr, const uint8_t *data);
/* The current frame is being offered to the media layer (not SIP). */
void callcap_frame_is_media(struct callcap *cc);
/* Pre-publish: writes the call's capture for an alert and adds capture_path. */
void callcap_on_event(struct callcap *cc, const struct event_info *info, struct event_extra *extra);
/* Bytes of frames held in memory now. */
uint64_t callcap_memory(const struct callcap *cc);
/* Turns a Call-ID into a safe file name stem. Exposed for tests. */
void callcap_sanitise(const char *call_id, char *out, size_t outlen);

#endif

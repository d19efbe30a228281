/*
 * engine: the analysis, frames in and events out, with one API for every
 * driver (the daemon, the fuzz targets, the benchmarks, in-process tests).
 *
 *   frames -> decoders -> sip layer -> call table (media, RTP flows)
 *          -> rules (detectors) -> event bus
 *
 * It owns the counters, the capture-time clock and its timer queue, the
 * decoder, the SIP layer, the call table, the rules and the event bus, and
 * runs the batch look-ahead: before a batch is processed each frame of the
 * common shape is decoded once (decoder_peek), its flow key hashed and the
 * flow's lines warmed, so their cache misses overlap; the hash travels with
 * the packet (packet.flow_hash) to the flow lookup.
 *
 * The daemon keeps what is not analysis: the command line, configuration,
 * libpcap and libev, signals, outputs' sinks (added to engine_bus()) and
 * operations (call captures, metrics, HEP), which look at the pipeline
 * through the taps below.
 *
 * Time is capture time: every frame moves the clock (and fires the timers
 * due before it) before it is decoded; engine_tick() moves it without a
 * frame (a live tap's quiet wire); engine_finish() ends every open call.
 */
#ifndef SIPTAP_ENGINE_ENGINE_H
#define SIPTAP_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calls/calls.h"
#include "core/counters.h"
#include "core/frame.h"
#include "core/packet.h"
#include "core/timerq.h"
#include "core/trunk.h"
#include "decoders/decode.h"
#include "outputs/event.h"
#include "rtp/flow.h"
#include "rules/rules.h"
#include "sip/sip.h"

/* Frames looked over together by the look-ahead (engine_frames takes any
 * count and goes through it this many at a time). */
#define ENGINE_BATCH_FRAMES 16

struct engine_config {
    const char *tap_name; /* the events' `tap` */
    struct decoder_config decoder;
    struct call_limits limits;
    const struct trunk_list *trunks;   /* kept by pointer: must outlive the engine */
    const struct rule_settings *rules; /* NULL: every detector with its defaults */
};

/* What drivers may watch; every member is optional. None of them may feed
 * the engine again. */
struct engine_taps {
    void *user;
    /* Each frame, before anything else is done with it. */
    void (*frame)(void *user, const struct pcap_pkthdr *hdr, const uint8_t *data);
    /* The capture clock started at ts_us: the first frame, or engine_tick()
     * / engine_start_clock() before any. */
    void (*clock_started)(void *user, uint64_t ts_us);
    /* Every UDP datagram the decoders deliver, before SIP is told from media. */
    void (*udp)(void *user, const struct packet *pkt);
    /* A UDP datagram that is not SIP, before the call table sees it. */
    void (*media)(void *user, const struct packet *pkt);
    /* Every SIP message, before the call table sees it. */
    void (*sip)(void *user, const struct sip_msg *m, const struct sip_meta *meta);
};

enum engine_error {
    ENGINE_OK,
    ENGINE_ERR_MEMORY,
    ENGINE_ERR_RULES, /* the rule settings were refused: err says why */
};

struct engine;

/* NULL on failure, with *error and a message in err. */
struct engine *engine_new(const struct engine_config *cfg, const struct engine_taps *taps,
                          enum engine_error *error, char *err, size_t errlen);
void engine_free(struct engine *e);
/* Replaces the taps (a driver that learns later which it needs: a tap left
 * NULL costs a frame nothing). */
void engine_set_taps(struct engine *e, const struct engine_taps *taps);
/* The link type of the frames to come (a DLT_ value); -1 if not supported. */
int engine_set_linktype(struct engine *e, int dlt);

/* Frames in capture order, any count. */
void engine_frames(struct engine *e, const struct capture_frame *frames, size_t count);
/* A packet already decoded to its transport payload (HEP input): counted
 * and clocked as a frame, then handed on as the decoders hand a UDP
 * datagram (an SCTP message when ip_proto is 132). */
void engine_payload(struct engine *e, const struct packet *pkt);
/* Moves the capture clock to now_us (never back), firing the timers due,
 * and expires the decoders' state (fragments, TCP streams) by it. Starts
 * the clock if no frame did. */
void engine_tick(struct engine *e, uint64_t now_us);
/* Starts the clock at now_us with no frame (a live capture starts its
 * clock at start-up, so periodic timers keep their cadence on a quiet
 * wire); nothing if it runs already. */
void engine_start_clock(struct engine *e, uint64_t now_us);
/* The look-ahead alone, as engine_frames runs it on each batch before
 * processing it, for benchmarks that measure it without the rest: each of
 * the count (<= ENGINE_BATCH_FRAMES) frames decoder_peek takes is decoded
 * into peeked[i] with its flow key's hash (flow_hashed), the others have
 * flow_hashed false; then the flows' lines are warmed. */
void engine_look_ahead(const struct decoder *d, const struct rtp_flow_table *flows,
                       const struct capture_frame *frames, size_t count, struct packet *peeked);
/* End of capture: every open call ends (reason capture_end) at now_us. */
void engine_finish(struct engine *e, uint64_t now_us);

/* The tap's own losses as of the frames about to come (call_table_set_capture_lost). */
void engine_set_capture_lost(struct engine *e, uint64_t total, uint64_t ts_us);

bool engine_clock_started(const struct engine *e);
/* Where the clock is, and where it is being moved to (the latest frame's
 * time, or tick's): a timer firing now sees now < target while the clock
 * catches up across a gap. */
uint64_t engine_now(const struct engine *e);
uint64_t engine_clock_target(const struct engine *e);
/* Frames and bytes counted so far (capture.packets, capture.bytes). */
uint64_t engine_packets(const struct engine *e);
uint64_t engine_bytes(const struct engine *e);

/* The parts, for the driver's operations (stats, metrics, outputs, HEP). */
struct counters *engine_counters(struct engine *e);
struct timerq *engine_timers(struct engine *e);
struct event_bus *engine_bus(struct engine *e);
struct call_table *engine_calls(struct engine *e);
struct rules *engine_rules(struct engine *e);
struct decoder *engine_decoder(struct engine *e);

#endif

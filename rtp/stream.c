/*
 * stream: per-stream statistics, defined as Wireshark 4.0 defines them.
 *
 * `tshark -q -z rtp,streams` runs ui/tap-rtp-analysis.c's rtppacket_analyse
 * on each packet of a (src, dst, SSRC) stream; rtp_stream_update re-implements
 * the figures the contract shares with it, with the same quirks, because a
 * figure that differs from Wireshark's on the same capture is a support
 * ticket:
 *
 * - Arrival times are milliseconds as doubles; the RTP timestamp is turned into
 *   ms with an integer division clock_rate / 1000 (so 44100 Hz counts as 44).
 * - "In time sequence": the RTP timestamp is less than 2^31 ahead of the
 *   stream's first timestamp (with a 32-bit wrap). Packets that are not are
 *   flagged (wrong timestamp) and do not move the reference time.
 * - Jitter (RFC 3550, in ms): expected arrival = last in-time arrival + the
 *   nominal (timestamp) time elapsed since the last packet that had a clock
 *   rate; J += (|arrival - expected| - J) / 16. Packets without a clock rate
 *   (unknown dynamic types, telephone-event) leave J alone but still move the
 *   reference time, exactly as Wireshark does.
 * - Max / mean / min of delta and jitter skip the first packet, marker-bit
 *   packets, comfort noise (PT 13, 19), the packet after comfort noise and
 *   wrong-timestamp packets; jitter figures also skip packets without a clock.
 *   The means divide by the number of packets seen so far minus one, not by the
 *   number of packets included: Wireshark's running mean is
 *   mean = (mean * (n - 1) + x) / n with n counting every packet.
 * - Lost = (last seen sequence + 65536 * wraps) - first sequence + 1 - packets,
 *   where a wrap is counted when a sequence number drops below the first one
 *   (and is re-armed once it climbs back above it). Negative with duplicates.
 *
 * Beyond Wireshark, a 128-packet window over extended sequence numbers tells
 * duplicates from late (out-of-order) packets and measures loss bursts for
 * the E-model's BurstR, and RFC 4733 events are counted once each: a new event
 * is a new (timestamp, event code) pair, so repeated end packets count once.
 */
#include "rtp/stream.h"

#include "core/json_writer.h"
#include "core/str.h"
#include "rtp/mos.h"
#include "rtp/rtcp.h"
#include "rtp/rtp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    FLAG_FIRST = 1 << 0,
    FLAG_MARKER = 1 << 1,
    FLAG_WRONG_SEQ = 1 << 2,
    FLAG_PT_CN = 1 << 3,
    FLAG_FOLLOW_PT_CN = 1 << 4,
    FLAG_WRONG_TIMESTAMP = 1 << 5,
};

#define PT_CN       13
#define PT_CN_OLD   19
#define SEQ_WINDOW  128
#define MAX_DROPOUT 3000 /* RFC 3550 A.1: a bigger jump is a restart */

static void copy_name(char *dst, size_t size, const char *src)
{
    str_copy(dst, size, src ? src : "");
}

static bool is_telephone_event(const char *name)
{
    return name && strncasecmp(name, "telephone-event", 15) == 0;
}

const char *rtp_media_name(enum rtp_media m)
{
    return m == RTP_MEDIA_VIDEO ? "video" : "audio";
}

void rtp_stream_init(struct rtp_stream *s, uint32_t ssrc)
{
    memset(s, 0, sizeof(*s));
    s->ssrc = ssrc;
    s->reg_pt = -1;
}

void rtp_stream_set_codec(struct rtp_stream *s, const char *name, uint32_t clock_rate)
{
    copy_name(s->codec, sizeof(s->codec), name);
    s->clock_rate = clock_rate ? clock_rate : rtp_name_clock_rate(name);
    if (is_telephone_event(name))
        s->clock_rate = 0;
    s->codec_from_sdp = true;
}

bool rtp_stream_map_payload(struct rtp_stream *s, uint8_t pt, const char *name, uint32_t clock_rate)
{
    if (!s->maps) {
        s->maps = calloc(1, sizeof(*s->maps));
        if (!s->maps)
            return false;
        s->owns_maps = true;
    }
    struct rtp_payload_maps *ms = s->maps;
    struct rtp_payload_map *m = NULL;
    for (size_t i = 0; i < ms->count; i++)
        if (ms->map[i].pt == pt)
            m = &ms->map[i];
    if (!m) {
        if (ms->count >= RTP_STREAM_MAX_MAPPED)
            return false;
        m = &ms->map[ms->count++];
    }
    m->pt = pt;
    copy_name(m->name, sizeof(m->name), name);
    m->telephone_event = is_telephone_event(name);
    m->clock_rate = clock_rate ? clock_rate : rtp_name_clock_rate(name);
    return true;
}

void rtp_stream_release(struct rtp_stream *s)
{
    if (s->owns_maps)
        free(s->maps);
    s->maps = NULL;
    s->owns_maps = false;
}

static const struct rtp_payload_map *find_mapping(const struct rtp_stream *s, uint8_t pt)
{
    if (!s->maps)
        return NULL;
    for (size_t i = 0; i < s->maps->count; i++)
        if (s->maps->map[i].pt == pt)
            return &s->maps->map[i];
    return NULL;
}

/* The clock rate Wireshark would use for this packet's payload type: the
 * static table below 96 (SDP ignored), the SDP's rate (or the name's) above,
 * none for telephone-event or an unknown dynamic type. */
static uint32_t packet_clock_rate(const struct rtp_stream *s, uint8_t pt)
{
    if (pt < 96)
        return rtp_static_clock_rate(pt);
    const struct rtp_payload_map *m = find_mapping(s, pt);
    if (m)
        return m->telephone_event ? 0 : m->clock_rate;
    if (s->codec_from_sdp && pt == s->payload_type)
        return s->clock_rate;
    return 0;
}

/* RFC 4733 payload: event, E|R|volume, duration. Mapped telephone-event, or
 * an unmapped dynamic type other than the stream's main one whose 4-byte
 * payloads look like a DTMF event (codes 0..16, reserved bit clear). */
static bool is_dtmf_packet(const struct rtp_stream *s, const struct rtp_header *h)
{
    if (h->payload_type < 96 || h->payload_len < 4)
        return false;
    const struct rtp_payload_map *m = find_mapping(s, h->payload_type);
    if (m)
        return m->telephone_event;
    if (s->codec_from_sdp && h->payload_type == s->payload_type)
        return is_telephone_event(s->codec);
    return h->payload_type != s->payload_type && h->payload_len == 4 && h->payload[0] <= 16 &&
           (h->payload[1] & 0x40) == 0;
}

static void count_dtmf(struct rtp_stream *s, const struct rtp_header *h)
{
    if (!is_dtmf_packet(s, h))
        return;
    uint8_t event = h->payload[0];
    if (s->dtmf_events && s->last_dtmf_ts == h->timestamp && s->last_dtmf_event == event)
        return;
    s->last_dtmf_ts = h->timestamp;
    s->last_dtmf_event = event;
    s->dtmf_events++;
}

/* Is payload type pt of the stream telephone-event by its SDP mapping? */
static bool pt_is_telephone_event(const struct rtp_stream *s, unsigned pt)
{
    if (pt < 96)
        return false;
    const struct rtp_payload_map *m = find_mapping(s, (uint8_t)pt);
    if (m)
        return m->telephone_event;
    return s->codec_from_sdp && pt == s->payload_type && is_telephone_event(s->codec);
}

bool rtp_stream_is_dtmf(const struct rtp_stream *s)
{
    if (!s->packets)
        return false;
    for (unsigned word = 0; word < 2; word++)
        for (uint64_t bits = s->pt_seen[word]; bits; bits &= bits - 1) {
            unsigned pt = word * 64 + (unsigned)__builtin_ctzll(bits);
            if (!pt_is_telephone_event(s, pt))
                return false;
        }
    return true;
}

static bool window_test(const struct rtp_stream *s, uint32_t back)
{
    return (s->seq_window[back / 64] >> (back % 64)) & 1u;
}

static void window_set(struct rtp_stream *s, uint32_t back)
{
    s->seq_window[back / 64] |= (uint64_t)1 << (back % 64);
}

static void window_shift(struct rtp_stream *s, uint32_t by)
{
    if (by >= SEQ_WINDOW) {
        s->seq_window[0] = s->seq_window[1] = 0;
    } else if (by >= 64) {
        s->seq_window[1] = s->seq_window[0] << (by - 64);
        s->seq_window[0] = 0;
    } else if (by > 0) {
        s->seq_window[1] = (s->seq_window[1] << by) | (s->seq_window[0] >> (64 - by));
        s->seq_window[0] <<= by;
    }
}

/* Our own accounting of duplicates, reordering and loss bursts. */
static void track_sequence(struct rtp_stream *s, uint16_t seq)
{
    int32_t d = (int16_t)(uint16_t)(seq - (uint16_t)s->max_ext_seq);
    if (d > MAX_DROPOUT || d < -MAX_DROPOUT) {
        s->seq_resets++;
        s->max_ext_seq = (uint32_t)((int64_t)s->max_ext_seq + d);
        s->seq_window[0] = 1;
        s->seq_window[1] = 0;
    } else if (d > 0) {
        if (d > 1) {
            s->gap_lost += (uint32_t)(d - 1);
            s->loss_bursts++;
        }
        window_shift(s, (uint32_t)d);
        window_set(s, 0);
        s->max_ext_seq += (uint32_t)d;
    } else if (d == 0) {
        s->duplicates++;
    } else if (-d < SEQ_WINDOW) {
        if (window_test(s, (uint32_t)-d)) {
            s->duplicates++;
        } else {
            window_set(s, (uint32_t)-d);
            s->out_of_order++;
            if (s->gap_lost)
                s->gap_lost--;
        }
    } else {
        s->out_of_order++;
    }
}

static void first_packet(struct rtp_stream *s, const struct rtp_header *h, uint64_t ts_us)
{
    s->first_us = s->last_us = ts_us;
    s->payload_type = h->payload_type;
    if (!s->codec_from_sdp) {
        const struct rtp_payload_map *m = find_mapping(s, h->payload_type);
        copy_name(s->codec, sizeof(s->codec), m ? m->name : rtp_static_codec_name(h->payload_type));
        s->clock_rate = packet_clock_rate(s, h->payload_type);
    }
    s->first_seq = s->last_seq = h->seq;
    s->ws_seq_num = h->seq;
    s->max_ext_seq = (uint32_t)h->seq + 65536u; /* room to go back without underflow */
    s->seq_window[0] = 1;
    s->first_rtp_ts = s->last_rtp_ts = h->timestamp;
    s->ws_time_ms = 0;
    s->last_nominal_ms = 0;
    s->last_pt = h->payload_type;
    s->reg_pt = h->payload_type;
}

void rtp_stream_update(struct rtp_stream *s, const struct rtp_header *h, uint64_t ts_us)
{
    /* The last type's bit is set already: only a change writes the (warm) bitmap. */
    if (s->packets == 0 || h->payload_type != s->last_pt)
        s->pt_seen[h->payload_type / 64] |= (uint64_t)1 << (h->payload_type % 64);
    if (h->marker)
        s->marker_packets++;
    if (h->payload_type == PT_CN || h->payload_type == PT_CN_OLD)
        s->cn_packets++;

    if (s->packets == 0) {
        first_packet(s, h, ts_us);
        count_dtmf(s, h);
        s->packets = 1;
        return;
    }
    track_sequence(s, h->seq);
    count_dtmf(s, h);
    if (ts_us > s->last_us)
        s->last_us = ts_us;

    double now_ms = (double)(int64_t)(ts_us - s->first_us) / 1000.0;
    unsigned flags = 0;

    /* In time sequence: less than half the timestamp range after the first. */
    bool in_time;
    if (s->first_rtp_ts <= h->timestamp)
        in_time = (int64_t)h->timestamp - (int64_t)s->first_rtp_ts < 0x80000000LL;
    else
        in_time = (0xFFFFFFFFLL - (int64_t)s->first_rtp_ts) + (int64_t)h->timestamp < 0x80000000LL;
    if (!in_time) {
        flags |= FLAG_WRONG_TIMESTAMP;
        s->wrong_timestamps++;
    }

    /* Wraps: below the first sequence number once per cycle. */
    if (in_time && h->seq < s->first_seq && !s->ws_under) {
        s->cycles++;
        s->ws_under = true;
    } else if (in_time && h->seq == 0 && s->last_seq == 65535 && !s->ws_under) {
        s->cycles++;
        s->ws_under = true;
    } else if (in_time && h->seq > s->first_seq && s->ws_under) {
        s->ws_under = false;
    }

    /* Sequence errors (seq_num is 32-bit there: 65535 + 1 never equals 0). */
    uint32_t seq = h->seq;
    if (in_time && s->ws_seq_num + 1 == seq) {
        s->ws_seq_num = seq;
    } else if (in_time && s->ws_seq_num == 65535 && seq == 0) {
        s->ws_seq_num = seq;
    } else if (in_time && (s->ws_seq_num + 1 < seq || s->ws_seq_num - seq > 0xFF00)) {
        s->ws_seq_num = seq;
        s->seq_errors++;
        flags |= FLAG_WRONG_SEQ;
    } else if (s->ws_seq_num + 1 > seq) {
        s->seq_errors++;
        flags |= FLAG_WRONG_SEQ;
    }

    if (h->payload_type == PT_CN || h->payload_type == PT_CN_OLD)
        flags |= FLAG_PT_CN;
    if (s->last_pt == PT_CN || s->last_pt == PT_CN_OLD)
        flags |= FLAG_FOLLOW_PT_CN;
    s->last_pt = h->payload_type;

    uint32_t clock = packet_clock_rate(s, h->payload_type);
    if (clock / 1000 == 0)
        clock = 0; /* Wireshark would divide by zero: no figure at all is better */
    double current_jitter = 0, delta_ms = 0;
    if (in_time) {
        uint32_t ticks = h->timestamp - s->first_rtp_ts; /* 32-bit wrap */
        if (clock) {
            double nominal = (double)ticks / (double)(clock / 1000);
            double expected = s->ws_time_ms + (nominal - s->last_nominal_ms);
            double diff = fabs(now_ms - expected);
            current_jitter = (15 * s->jitter_ms + diff) / 16;
            delta_ms = now_ms - s->ws_time_ms;
            s->jitter_ms = current_jitter;
            s->last_nominal_ms = nominal;
        } else {
            delta_ms = now_ms - s->ws_time_ms;
        }
    }

    if (h->marker)
        flags |= FLAG_MARKER;

    double n = (double)s->packets; /* packets before this one */
    if (!(flags & (FLAG_MARKER | FLAG_PT_CN | FLAG_WRONG_TIMESTAMP | FLAG_FOLLOW_PT_CN))) {
        /* In time sequence here (else FLAG_WRONG_TIMESTAMP): delta_ms is this packet's. */
        if (delta_ms > s->max_delta_ms)
            s->max_delta_ms = delta_ms;
        if (clock) {
            if (s->jitter_ms > s->jitter_max_ms)
                s->jitter_max_ms = s->jitter_ms;
            s->jitter_mean_ms = (s->jitter_mean_ms * (n - 1) + current_jitter) / n;
        }
    }

    if (!(flags & FLAG_PT_CN)) {
        if (h->payload_type != s->reg_pt && s->reg_pt != -1)
            s->pt_changes++;
        s->reg_pt = h->payload_type;
    }
    if (flags & (FLAG_WRONG_TIMESTAMP | FLAG_WRONG_SEQ))
        s->problem = true;
    if (in_time) {
        s->ws_time_ms = now_ms;
    }
    s->last_rtp_ts = h->timestamp;
    s->last_seq = h->seq;
    s->packets++;
}

void rtp_stream_attach_rtcp(struct rtp_stream *s, const struct rtcp_report_block *b,
                            uint64_t rtt_us)
{
    s->rtcp.reporter_ssrc = b->reporter_ssrc;
    s->rtcp.fraction_lost = b->fraction_lost;
    s->rtcp.cumulative_lost = b->cumulative_lost;
    uint32_t clock = s->clock_rate ? s->clock_rate : rtp_static_clock_rate(s->payload_type);
    s->rtcp.jitter_ms = clock ? (double)b->jitter * 1000.0 / (double)clock : 0;
    if (s->rtcp.reports < UINT16_MAX)
        s->rtcp.reports++;
    /* The last report's, as every other figure here: a report without one
     * leaves the previous round trip standing. */
    if (rtt_us != RTCP_RTT_UNKNOWN) {
        s->rtcp.has_rtt = true;
        s->rtcp.rtt_us = rtt_us < UINT32_MAX ? (uint32_t)rtt_us : UINT32_MAX;
    }
}

void rtp_stream_report(const struct rtp_stream *s, struct rtp_stream_report *out)
{
    memset(out, 0, sizeof(*out));
    out->packets = s->packets;
    out->jitter_max_ms = s->jitter_max_ms;
    out->jitter_mean_ms = s->jitter_mean_ms;
    out->max_delta_ms = s->max_delta_ms;
    out->burst_ratio = 1;
    if (s->packets > 0) {
        int64_t expected =
            (int64_t)s->last_seq + (int64_t)s->cycles * 65536 - (int64_t)s->first_seq + 1;
        out->lost = expected - (int64_t)s->packets;
        if (expected != 0)
            out->loss_pct = (double)out->lost * 100.0 / (double)expected;
        double p = out->loss_pct > 0 ? out->loss_pct / 100.0 : 0;
        if (s->loss_bursts > 0 && s->gap_lost > 0 && p < 1) {
            /* Random loss at rate p gives bursts of mean length 1 / (1 - p). */
            double mean_burst = (double)s->gap_lost / (double)s->loss_bursts;
            out->burst_ratio = mean_burst * (1 - p);
            if (out->burst_ratio < 1)
                out->burst_ratio = 1;
        }
    }
    const char *codec = s->codec[0] ? s->codec : rtp_static_codec_name(s->payload_type);
    out->r_factor = rtp_r_factor(codec, out->loss_pct > 0 ? out->loss_pct : 0, out->burst_ratio,
                                 s->jitter_mean_ms);
    out->mos = rtp_mos_from_r(out->r_factor);
}

/* "0x%08X" without snprintf (two per call_end). */
static void format_ssrc(char out[11], uint32_t v)
{
    static const char hex[] = "0123456789ABCDEF";
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 8; i++)
        out[2 + i] = hex[(v >> (28 - 4 * i)) & 15];
    out[10] = '\0';
}

/* v rounded to 1/scale: the figures are shown to the precision they have. */
static void member_rounded(struct json_writer *t, const char *k, double v, double scale)
{
    json_writer_member_real(t, k, round(v * scale) / scale);
}

/* A voice quality figure: null for a stream that carries no voice. */
static void member_quality(struct json_writer *t, const char *k, double v, double scale, bool none)
{
    if (none)
        json_writer_member_null(t, k);
    else
        member_rounded(t, k, v, scale);
}

/* An 8-bit XR figure scaled for reading (MOS x 10 -> MOS), null when the
 * endpoint marked it unavailable. */
static void member_xr_figure(struct json_writer *t, const char *k, uint8_t v, double divisor)
{
    if (v == RTCP_XR_UNAVAILABLE)
        json_writer_member_null(t, k);
    else
        member_rounded(t, k, v / divisor, 100);
}

/* A fraction of packets in 1/256 as a percentage. */
static void member_xr_pct(struct json_writer *t, const char *k, uint8_t v)
{
    member_rounded(t, k, v / 2.56, 100);
}

static void member_xr_level(struct json_writer *t, const char *k, int8_t v)
{
    if (v == RTCP_XR_UNAVAILABLE)
        json_writer_member_null(t, k);
    else
        json_writer_member_integer(t, k, v);
}

/* The endpoint's own RTCP XR VoIP Metrics (RFC 3611 4.7), its last report. */
static void member_rtcp_xr(struct json_writer *t, const struct rtcp_xr_view *xr)
{
    const struct rtcp_xr_voip *m = &xr->last;
    char rep[11];
    format_ssrc(rep, m->reporter_ssrc);
    json_writer_member_key(t, "rtcp_xr");
    json_writer_object_begin(t);
    json_writer_member_string(t, "reporter_ssrc", rep);
    member_xr_figure(t, "mos_lq", m->mos_lq, 10);
    member_xr_figure(t, "mos_cq", m->mos_cq, 10);
    member_xr_figure(t, "r_factor", m->r_factor, 1);
    member_xr_figure(t, "ext_r_factor", m->ext_r_factor, 1);
    member_xr_pct(t, "loss_rate_pct", m->loss_rate);
    member_xr_pct(t, "discard_rate_pct", m->discard_rate);
    member_xr_pct(t, "burst_density_pct", m->burst_density);
    member_xr_pct(t, "gap_density_pct", m->gap_density);
    json_writer_member_integer(t, "burst_duration_ms", m->burst_duration_ms);
    json_writer_member_integer(t, "gap_duration_ms", m->gap_duration_ms);
    json_writer_member_integer(t, "round_trip_ms", m->round_trip_ms);
    json_writer_member_integer(t, "end_system_delay_ms", m->end_system_delay_ms);
    member_xr_level(t, "signal_level_dbm", m->signal_level_dbm);
    member_xr_level(t, "noise_level_dbm", m->noise_level_dbm);
    json_writer_member_integer(t, "jb_nominal_ms", m->jb_nominal_ms);
    json_writer_member_integer(t, "jb_max_ms", m->jb_max_ms);
    json_writer_member_integer(t, "jb_abs_max_ms", m->jb_abs_max_ms);
    json_writer_member_integer(t, "reports", xr->reports);
    json_writer_object_end(t);
}

void rtp_stream_json(const struct rtp_stream *s, const struct endpoint *src_ep,
                     const struct endpoint *dst_ep, const struct rtcp_xr_view *xr,
                     struct json_writer *t)
{
    struct rtp_stream_report r;
    rtp_stream_report(s, &r);
    char src[ENDPOINT_STRLEN], dst[ENDPOINT_STRLEN], ssrc[11];
    endpoint_format(src_ep, src, sizeof(src));
    endpoint_format(dst_ep, dst, sizeof(dst));
    format_ssrc(ssrc, s->ssrc);

    json_writer_object_begin(t);
    json_writer_member_string(t, "src", src);
    json_writer_member_string(t, "dst", dst);
    json_writer_member_string(t, "ssrc", ssrc);
    json_writer_member_integer(t, "payload_type", s->payload_type);
    bool dtmf = rtp_stream_is_dtmf(s);
    json_writer_member_string(t, "media", dtmf ? "dtmf" : rtp_media_name((enum rtp_media)s->media));
    /* SDP's rtpmap names are the wire's bytes (and may be cut inside a
     * UTF-8 sequence): a name that is not valid UTF-8 shows as unknown. */
    json_writer_member_key(t, "codec");
    size_t codec_len = strlen(s->codec);
    if (codec_len && json_writer_valid_utf8(s->codec, codec_len))
        json_writer_string(t, s->codec, codec_len);
    else
        json_writer_null(t);
    json_writer_member_integer(t, "packets", (int64_t)r.packets);
    json_writer_member_integer(t, "lost", r.lost);
    /* A DTMF stream's loss and jitter say nothing of voice (an event's
     * packets share one timestamp; its end is sent three times): its
     * quality figures are null, the contract's keys kept. */
    member_quality(t, "loss_pct", r.loss_pct, 100, dtmf);
    member_quality(t, "jitter_max_ms", r.jitter_max_ms, 1000, dtmf);
    member_quality(t, "jitter_mean_ms", r.jitter_mean_ms, 1000, dtmf);
    member_rounded(t, "max_delta_ms", r.max_delta_ms, 1000);
    member_quality(t, "mos", r.mos, 100, dtmf);
    member_quality(t, "r_factor", r.r_factor, 10, dtmf);
    json_writer_member_integer(t, "duplicates", s->duplicates);
    json_writer_member_integer(t, "out_of_order", s->out_of_order);
    json_writer_member_integer(t, "dtmf_events", s->dtmf_events);
    json_writer_member_key(t, "payload_types");
    json_writer_array_begin(t);
    for (unsigned w = 0; w < 2; w++)
        for (uint64_t bits = s->pt_seen[w]; bits; bits &= bits - 1)
            json_writer_integer(t, 64 * w + (unsigned)__builtin_ctzll(bits));
    json_writer_array_end(t);
    if (rtcp_view_seen(&s->rtcp)) {
        char rep[11];
        format_ssrc(rep, s->rtcp.reporter_ssrc);
        json_writer_member_key(t, "rtcp");
        json_writer_object_begin(t);
        json_writer_member_string(t, "reporter_ssrc", rep);
        member_rounded(t, "fraction_lost_pct", rtcp_view_fraction_lost_pct(&s->rtcp), 100);
        json_writer_member_integer(t, "cumulative_lost", s->rtcp.cumulative_lost);
        member_rounded(t, "jitter_ms", s->rtcp.jitter_ms, 1000);
        json_writer_member_integer(t, "reports", s->rtcp.reports);
        if (s->rtcp.has_rtt)
            member_rounded(t, "rtt_ms", s->rtcp.rtt_us / 1000.0, 1000);
        json_writer_object_end(t);
    }
    if (xr && xr->reports)
        member_rtcp_xr(t, xr);
    json_writer_object_end(t);
}

size_t rtp_stream_write_json(const struct rtp_stream *s, const struct endpoint *src,
                             const struct endpoint *dst, const struct rtcp_xr_view *xr, char *buf,
                             size_t cap)
{
    struct json_writer t;
    json_writer_init(&t, buf, cap);
    rtp_stream_json(s, src, dst, xr, &t);
    return json_writer_finish(&t);
}

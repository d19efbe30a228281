/*
 * config: the daemon's configuration file (INI, in the spirit of pjsip.conf).
 *
 *   [general]   tap_name, stats_interval (seconds of capture time), user
 *   [capture]   interface (as -i) or file (as -r); buffer_mb, snaplen, filter, timeout_ms,
 *               queue_mb; call captures: calls (on|off),
 *               dir, dir_max_mb, memory_mb, call_sip_packets,
 *               call_rtp_head, call_rtp_tail, call_rtp_slot_bytes
 *   [metrics]   listen = ADDR:PORT (off when absent); file = PATH (the same
 *               exposition written there, node_exporter textfile format, as
 *               --metrics-file)
 *   [limits]    max_calls, registration_idle_s, challenge_wait_s, tcp_max_buffered_mb,
 *               max_fragments,
 *               max_fragments_per_source, fragment_timeout_ms, max_tcp_streams,
 *               tcp_max_pending, tcp_idle_timeout_ms, max_media_without_call,
 *               media_without_call_quiet_s, media_without_call_min_packets
 *   [output]    output = an -o form (one per line, repeatable), queue_size,
 *               redis_maxlen, redis_reply_timeout_ms, redis_user,
 *               redis_password, drain_timeout_s (seconds the outputs have at exit),
 *               kafka.<librdkafka property> = value
 *   [trunk NAME] match = ADDR[/BITS], ...   (like a pjsip identify section)
 *                rule.<rule>.<key> = value  (per-trunk rule override)
 *   [rule NAME]  detector parameters (see rules/defaults.conf)
 *   [severity]   <event type> = info|notice|warning|error|critical
 *   [route KIND] min_severity = warning; types = trunk_down, registration_loop
 *                (KIND: jsonl, redis, kafka, syslog, hep; an event goes to an output
 *                if its severity is at least min_severity or its type is listed)
 *
 * The command line wins over the file: -i or -r replaces both interface and
 * file, and any -o replaces every `output` line.
 *
 * Every error names the file, the line and what would be right; the caller
 * prints it and exits 2.
 */
#ifndef SIPTAP_DAEMON_CONFIG_H
#define SIPTAP_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"
#include "core/trunk.h"
#include "daemon/callcap.h"
#include "decoders/decode.h"
#include "outputs/sink.h"
#include "rules/rules.h"

#define CONFIG_MAX_KAFKA_PROPS 64
#define CONFIG_MAX_OUTPUTS     16 /* as many as -o takes (DAEMON_MAX_OUTPUTS) */

/* [route KIND]: which events a kind of output takes (KIND: jsonl, redis,
 * kafka, syslog, hep). Unset fields keep the sink's own default. */
struct route_config {
    char kind[16];
    bool has_min_severity;
    enum severity min_severity;
    char types[SINK_MAX_TYPES][32];
    size_t type_count;
    bool has_types;
};

#define CONFIG_MAX_ROUTES 8

struct config {
    char path[256]; /* "" when built-in defaults apply */
    char tap_name[64];
    unsigned stats_interval_s;
    unsigned trunk_stats_interval_s; /* [metrics]; 0: no trunk_stats events */
    unsigned kernel_buffer_mb;
    unsigned snaplen;
    unsigned capture_timeout_ms; /* TPACKET_V3 block timeout */
    unsigned capture_queue_mb;   /* the capture thread's queue bound */
    char bpf[1024];
    /* [capture] interface / file: where to capture when the command line
     * names neither (-i / -r); at most one of the two is set. */
    char interface[256];
    char capture_file[1024];
    int interface_line, file_line;
    /* [output] output lines, in order, each an -o form (checked as
     * sink_check_spec does); used when the command line has no -o. */
    char outputs[CONFIG_MAX_OUTPUTS][1024];
    int output_lines[CONFIG_MAX_OUTPUTS];
    size_t output_count;
    size_t max_calls;
    unsigned registration_idle_s;
    unsigned challenge_wait_s; /* a 401/407 to an INVITE awaits its retry this long */
    /* RTP of no call: flows followed at once, quiet time before the
     * media_without_call report, packets a stream needs to be reported. */
    size_t max_media_without_call;
    unsigned media_without_call_quiet_s, media_without_call_min_packets;
    struct decoder_config decoder;
    struct sink_options sink;
    unsigned drain_timeout_s; /* shutdown: how long the outputs may take to deliver */
    char redis_user[128], redis_password[256];
    /* key/value pairs for librdkafka, NULL-terminated view in kafka_view */
    char *kafka_props[CONFIG_MAX_KAFKA_PROPS * 2];
    const char *kafka_view[CONFIG_MAX_KAFKA_PROPS * 2 + 1];
    size_t kafka_prop_count;
    struct trunk_list trunks;
    struct route_config routes[CONFIG_MAX_ROUTES];
    size_t route_count;
    char user[64];            /* [general] user: drop to it after opening the capture */
    char metrics_listen[128]; /* [metrics] listen; "" = off */
    char metrics_file[1024];  /* [metrics] file or --metrics-file; "" = off */
    int metrics_file_line;    /* its line; 0 when --metrics-file set it */
    struct callcap_config callcap;
    bool callcap_dir_set; /* [capture] dir given: call captures also apply to -r */
    unsigned callcap_dir_max_mb, callcap_memory_mb;
    int filter_line, user_line; /* where they were set, for config_check() */
    int dir_line, redis_user_line;
    /* [limits] tcp_max_buffered_mb: decoder.tcp_max_buffered in MiB */
    unsigned tcp_max_buffered_mb;
    struct rule_settings rules; /* [rule X], [severity], trunk rule.* lines: checked by rules/ */
};

void config_defaults(struct config *cfg);
/* Loads path over the defaults. false with a message "FILE:LINE: ..." in err. */
bool config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* What config_load cannot see line by line: the capture filter compiles
 * (bpf, -f, overrides the file's; NULL for none), the user exists (user, -u,
 * overrides the file's) and can write the call capture directory. false with
 * "FILE:LINE: ..." (or "-f ...", "-u ...") in err. */
bool config_check(const struct config *cfg, const char *bpf, const char *user, char *err,
                  size_t errlen);
/* The value a key of the daemon's own sections ([general], [capture],
 * [limits], [output], [metrics]) has in cfg, written as the file writes it
 * ("" when unset). false for a key it does not know and for the keys that
 * hold a list rather than one value (output, kafka.*). */
bool config_key_value(const struct config *cfg, const char *section, const char *name, char *out,
                      size_t outlen);
void config_free(struct config *cfg);

#endif

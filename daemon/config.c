/*
 * config: INI parsing with inih. inih reports only the line of the first
 * error, so the handler stores the message and config_load() prefixes it with
 * file and line. The line reader sees every raw line first: it counts them,
 * notes section headers (a section may appear once) and whether a line is
 * indented (inih's continuation of the key above, which may repeat a key
 * name; any other repeated key is refused).
 *
 * config_check() holds what needs the system rather than the file: the
 * capture filter compiles, the user exists, the capture directory can be
 * written by that user. The daemon runs it at start as --check-config does,
 * so both fail alike.
 */
#include "daemon/config.h"

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/capture.h"
#include "daemon/metrics.h"

/* A section header or a key seen, with its line, to refuse a second one. */
struct seen_name {
    char *section, *key; /* key NULL for a section header */
    int line;
};

struct load_state {
    struct config *cfg;
    char msg[512];
    int line;      /* of the line being handled: counted by read_line */
    bool indented; /* that line starts with blank space: a continuation */
    FILE *file;
    struct seen_name *seen;
    size_t seen_count, seen_cap;
    int early_line; /* an error read_line found (inih cannot be told) */
    char early_msg[512];
};

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    if (gethostname(cfg->tap_name, sizeof(cfg->tap_name) - 1) != 0 || !cfg->tap_name[0])
        snprintf(cfg->tap_name, sizeof(cfg->tap_name), "siptap");
    cfg->stats_interval_s = 300;
    cfg->trunk_stats_interval_s = 60;
    cfg->kernel_buffer_mb = 64;
    cfg->snaplen = 65535;
    cfg->capture_timeout_ms = 10;
    cfg->capture_queue_mb = 256;
    cfg->max_calls = 100000;
    cfg->registration_idle_s = 3600;
    cfg->challenge_wait_s = 90;
    struct call_limits limits;
    call_limits_defaults(&limits);
    cfg->max_media_without_call = limits.max_media_without_call;
    cfg->media_without_call_quiet_s = limits.media_without_call_quiet_s;
    cfg->media_without_call_min_packets = limits.media_without_call_min_packets;
    decoder_config_defaults(&cfg->decoder);
    cfg->tcp_max_buffered_mb = (unsigned)(cfg->decoder.tcp_max_buffered >> 20);
    sink_options_defaults(&cfg->sink);
    cfg->drain_timeout_s = 30;
    cfg->kafka_view[0] = NULL;
    callcap_config_defaults(&cfg->callcap);
    cfg->callcap_dir_max_mb = (unsigned)(cfg->callcap.dir_max_bytes >> 20);
    cfg->callcap_memory_mb = (unsigned)(cfg->callcap.memory_max >> 20);
}

static bool parse_uint(const char *value, unsigned long long min, unsigned long long max,
                       unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*value == '-' || *value == '\0')
        return false;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

struct uint_key {
    const char *section, *name;
    unsigned long long min, max;
    size_t offset;
    size_t width;     /* sizeof the field */
    const char *hint; /* said after the range when a value is refused; NULL: none */
};

#define UINT_KEY(sec, key, lo, hi, field)                                                          \
    {                                                                                              \
        sec, key, lo, hi, offsetof(struct config, field), sizeof(((struct config *)0)->field),     \
            NULL                                                                                   \
    }
#define UINT_KEY_HINT(sec, key, lo, hi, field, hint)                                               \
    {                                                                                              \
        sec, key, lo, hi, offsetof(struct config, field), sizeof(((struct config *)0)->field),     \
            hint                                                                                   \
    }

static const struct uint_key uint_keys[] = {
    UINT_KEY("general", "stats_interval", 1, 86400, stats_interval_s),
    UINT_KEY_HINT("metrics", "trunk_stats_interval_s", 0, 86400, trunk_stats_interval_s,
                  " seconds (0: no trunk_stats events), e.g. trunk_stats_interval_s = 60"),
    UINT_KEY("capture", "buffer_mb", 1, CAPTURE_MAX_BUFFER_MB, kernel_buffer_mb),
    UINT_KEY("capture", "timeout_ms", 1, 1000, capture_timeout_ms),
    UINT_KEY("capture", "queue_mb", 1, 65536, capture_queue_mb),
    UINT_KEY("capture", "snaplen", 64, 262144, snaplen),
    UINT_KEY("limits", "max_calls", 1, 10000000, max_calls),
    UINT_KEY("limits", "registration_idle_s", 60, 604800, registration_idle_s),
    UINT_KEY("limits", "challenge_wait_s", 1, 3600, challenge_wait_s),
    UINT_KEY("limits", "max_media_without_call", 0, 1000000, max_media_without_call),
    UINT_KEY("limits", "media_without_call_quiet_s", 1, 3600, media_without_call_quiet_s),
    UINT_KEY("limits", "media_without_call_min_packets", 1, 1000000,
             media_without_call_min_packets),
    UINT_KEY("limits", "max_fragments", 1, 1000000, decoder.frag_max_datagrams),
    UINT_KEY("limits", "max_fragments_per_source", 1, 1000000, decoder.frag_max_per_source),
    UINT_KEY("limits", "fragment_timeout_ms", 100, 600000, decoder.frag_timeout_ms),
    UINT_KEY("limits", "max_tcp_streams", 1, 10000000, decoder.tcp_max_streams),
    UINT_KEY("limits", "tcp_max_pending", 4096, 64 * 1024 * 1024, decoder.tcp_max_pending),
    UINT_KEY("limits", "tcp_idle_timeout_ms", 1000, 86400000, decoder.tcp_idle_timeout_ms),
    UINT_KEY("limits", "tcp_max_buffered_mb", 1, 1048576, tcp_max_buffered_mb),
    UINT_KEY("output", "queue_size", 1, 100000000, sink.queue_size),
    UINT_KEY("output", "drain_timeout_s", 0, 3600, drain_timeout_s),
    UINT_KEY("output", "redis_maxlen", 0, 1000000000, sink.redis_maxlen),
    UINT_KEY("output", "redis_reply_timeout_ms", 100, 3600000, sink.redis_reply_timeout_ms),
    UINT_KEY("capture", "dir_max_mb", 1, 10000000, callcap_dir_max_mb),
    UINT_KEY("capture", "memory_mb", 1, 1000000, callcap_memory_mb),
    UINT_KEY("capture", "call_sip_packets", 0, 100000, callcap.sip_max),
    UINT_KEY("capture", "call_rtp_head", 0, 100000, callcap.rtp_head),
    UINT_KEY("capture", "call_rtp_tail", 0, 100000, callcap.rtp_tail),
    UINT_KEY("capture", "call_rtp_slot_bytes", 64, 2048, callcap.rtp_slot_bytes),
};

static void store_uint(struct config *cfg, const struct uint_key *k, unsigned long long v)
{
    char *field = (char *)cfg + k->offset;
    if (k->width == sizeof(unsigned)) {
        unsigned u = (unsigned)v;
        memcpy(field, &u, sizeof(u));
    } else {
        size_t s = (size_t)v;
        memcpy(field, &s, sizeof(s));
    }
}

static bool set_string(char *dst, size_t dstlen, const char *value, struct load_state *st,
                       const char *name)
{
    if (strlen(value) >= dstlen) {
        snprintf(st->msg, sizeof(st->msg), "%s is too long (at most %zu characters)", name,
                 dstlen - 1);
        return false;
    }
    memcpy(dst, value, strlen(value) + 1);
    return true;
}

static bool set_on_off(bool *dst, const char *value, struct load_state *st, const char *name)
{
    bool on = strcmp(value, "on") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "true") == 0;
    bool off = strcmp(value, "off") == 0 || strcmp(value, "no") == 0 || strcmp(value, "false") == 0;
    if (!on && !off) {
        snprintf(st->msg, sizeof(st->msg), "%s = '%s' must be on or off", name, value);
        return false;
    }
    *dst = on;
    return true;
}

static struct trunk_config *trunk_for_section(struct config *cfg, const char *name,
                                              struct load_state *st)
{
    for (size_t i = 0; i < cfg->trunks.count; i++)
        if (strcmp(cfg->trunks.trunks[i].name, name) == 0)
            return &cfg->trunks.trunks[i];
    if (cfg->trunks.count >= TRUNK_MAX) {
        snprintf(st->msg, sizeof(st->msg), "too many trunks (at most %d)", TRUNK_MAX);
        return NULL;
    }
    if (!*name || strlen(name) >= sizeof(cfg->trunks.trunks[0].name)) {
        snprintf(st->msg, sizeof(st->msg),
                 "a trunk needs a name of 1 to 63 characters: [trunk acme-primary]");
        return NULL;
    }
    struct trunk_config *t = &cfg->trunks.trunks[cfg->trunks.count++];
    memset(t, 0, sizeof(*t));
    memcpy(t->name, name, strlen(name) + 1);
    return t;
}

static bool parse_trunk_match(struct trunk_config *t, const char *value, struct load_state *st)
{
    char list[1024];
    if (!set_string(list, sizeof(list), value, st, "match"))
        return false;
    char *save = NULL;
    for (char *tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        if (t->prefix_count >= TRUNK_MAX_PREFIXES) {
            snprintf(st->msg, sizeof(st->msg), "trunk %s: too many addresses (at most %d)", t->name,
                     TRUNK_MAX_PREFIXES);
            return false;
        }
        if (!net_prefix_parse(&t->prefixes[t->prefix_count], tok)) {
            snprintf(st->msg, sizeof(st->msg),
                     "trunk %s: '%s' is not an address or prefix; write e.g. "
                     "match = 203.0.113.10, 198.51.100.0/24, 2001:db8::/32",
                     t->name, tok);
            return false;
        }
        t->prefix_count++;
    }
    return true;
}

static bool keep_rule_setting(struct load_state *st, const char *section, const char *name,
                              const char *value)
{
    struct rule_settings *rs = &st->cfg->rules;
    if (rs->count >= RULES_MAX_SETTINGS) {
        snprintf(st->msg, sizeof(st->msg), "too many rule settings (at most %d)",
                 RULES_MAX_SETTINGS);
        return false;
    }
    struct rule_setting *s = &rs->items[rs->count];
    if (strlen(section) >= sizeof(s->section) || strlen(name) >= sizeof(s->key) ||
        strlen(value) >= sizeof(s->value)) {
        snprintf(st->msg, sizeof(st->msg), "line too long for a rule setting");
        return false;
    }
    memcpy(s->section, section, strlen(section) + 1);
    memcpy(s->key, name, strlen(name) + 1);
    memcpy(s->value, value, strlen(value) + 1);
    s->line = st->line;
    rs->count++;
    return true;
}

static bool parse_route(struct load_state *st, const char *kind, const char *name,
                        const char *value)
{
    static const char *const kinds[] = {"jsonl", "redis", "kafka", "syslog", "hep"};
    bool known = false;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        known |= strcmp(kind, kinds[i]) == 0;
    if (!known) {
        snprintf(st->msg, sizeof(st->msg),
                 "unknown output kind in [route %s]; kinds are jsonl, redis, kafka, syslog, hep",
                 kind);
        return false;
    }
    struct config *cfg = st->cfg;
    struct route_config *r = NULL;
    for (size_t i = 0; i < cfg->route_count; i++)
        if (strcmp(cfg->routes[i].kind, kind) == 0)
            r = &cfg->routes[i];
    if (!r) {
        r = &cfg->routes[cfg->route_count++];
        memset(r, 0, sizeof(*r));
        snprintf(r->kind, sizeof(r->kind), "%s", kind);
    }
    if (strcmp(name, "min_severity") == 0) {
        if (!severity_parse(value, &r->min_severity)) {
            snprintf(st->msg, sizeof(st->msg),
                     "min_severity = '%s' must be info, notice, warning, error or critical", value);
            return false;
        }
        r->has_min_severity = true;
        return true;
    }
    if (strcmp(name, "types") == 0) {
        char list[1024];
        if (!set_string(list, sizeof(list), value, st, name))
            return false;
        r->has_types = true;
        r->type_count = 0;
        char *save = NULL;
        for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
            if (r->type_count >= SINK_MAX_TYPES || strlen(t) >= sizeof(r->types[0])) {
                snprintf(st->msg, sizeof(st->msg),
                         "types: at most %d event types of up to 31 "
                         "characters",
                         SINK_MAX_TYPES);
                return false;
            }
            memcpy(r->types[r->type_count++], t, strlen(t) + 1);
        }
        return true;
    }
    snprintf(st->msg, sizeof(st->msg),
             "unknown key '%s' in [route %s]; it takes min_severity = LEVEL and types = A, B", name,
             kind);
    return false;
}

/* librdkafka itself judges the name and the value, on a scratch conf, so a
 * typo fails here and not when the Kafka output starts. */
static bool kafka_property_ok(const char *name, const char *value, struct load_state *st)
{
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    if (!scratch)
        return true; /* the output will say it when it starts */
    char why[256] = "";
    rd_kafka_conf_res_t res = rd_kafka_conf_set(scratch, name, value, why, sizeof(why));
    rd_kafka_conf_destroy(scratch);
    if (res == RD_KAFKA_CONF_OK)
        return true;
    snprintf(st->msg, sizeof(st->msg),
             "kafka.%s: %s; see the property list of librdkafka (CONFIGURATION.md) for the "
             "names and values it takes",
             name, why);
    return false;
}

/* [capture] interface or file: one source, as -i or -r. */
static int set_capture_source(struct load_state *st, const char *name, const char *value)
{
    struct config *cfg = st->cfg;
    bool iface = strcmp(name, "interface") == 0;
    int other_line = iface ? cfg->file_line : cfg->interface_line;
    if (other_line) {
        snprintf(st->msg, sizeof(st->msg),
                 "%s = '%s': %s is already set on line %d; keep one of the two (interface for "
                 "live capture, file to read a pcap/pcapng file)",
                 name, value, iface ? "file" : "interface", other_line);
        return 0;
    }
    if (!*value) {
        snprintf(st->msg, sizeof(st->msg), "%s is empty; write e.g. %s", name,
                 iface ? "interface = eth1" : "file = /var/tmp/trunk.pcap");
        return 0;
    }
    if (iface) {
        cfg->interface_line = st->line;
        return set_string(cfg->interface, sizeof(cfg->interface), value, st, name);
    }
    cfg->file_line = st->line;
    return set_string(cfg->capture_file, sizeof(cfg->capture_file), value, st, name);
}

/* [output] output = an -o form; one per line, checked without opening it. */
static int add_output(struct load_state *st, const char *value)
{
    struct config *cfg = st->cfg;
    if (cfg->output_count >= CONFIG_MAX_OUTPUTS) {
        snprintf(st->msg, sizeof(st->msg), "too many outputs (at most %d)", CONFIG_MAX_OUTPUTS);
        return 0;
    }
    struct sink_options defaults;
    sink_options_defaults(&defaults);
    char why[448] = "";
    if (!sink_check_spec(value, &defaults, why, sizeof(why))) {
        snprintf(st->msg, sizeof(st->msg), "output = '%.40s': %s", value, why);
        return 0;
    }
    size_t i = cfg->output_count;
    if (!set_string(cfg->outputs[i], sizeof(cfg->outputs[i]), value, st, "output"))
        return 0;
    cfg->output_lines[i] = st->line;
    cfg->output_count++;
    return 1;
}

static int handle_key(struct load_state *st, const char *section, const char *name,
                      const char *value)
{
    struct config *cfg = st->cfg;
    if (strncmp(section, "route ", 6) == 0)
        return parse_route(st, section + 6, name, value);
    if (strncmp(section, "trunk ", 6) == 0 && strncmp(name, "rule.", 5) == 0)
        return trunk_for_section(cfg, section + 6, st) &&
               keep_rule_setting(st, section, name, value);
    if (strncmp(section, "rule ", 5) == 0 || strcmp(section, "severity") == 0)
        return keep_rule_setting(st, section, name, value);

    if (strncmp(section, "trunk ", 6) == 0) {
        struct trunk_config *t = trunk_for_section(cfg, section + 6, st);
        if (!t)
            return 0;
        if (strcmp(name, "match") == 0)
            return parse_trunk_match(t, value, st);
        snprintf(st->msg, sizeof(st->msg),
                 "unknown key '%s' in [%s]; a trunk section takes: match = ADDR[/BITS], ...", name,
                 section);
        return 0;
    }
    for (size_t i = 0; i < sizeof(uint_keys) / sizeof(uint_keys[0]); i++) {
        const struct uint_key *k = &uint_keys[i];
        if (strcmp(section, k->section) != 0 || strcmp(name, k->name) != 0)
            continue;
        unsigned long long v;
        if (!parse_uint(value, k->min, k->max, &v)) {
            snprintf(st->msg, sizeof(st->msg),
                     "%s = '%s' must be a whole number from %llu to %llu%s", name, value, k->min,
                     k->max, k->hint ? k->hint : "");
            return 0;
        }
        store_uint(cfg, k, v);
        return 1;
    }
    if (strcmp(section, "general") == 0 && strcmp(name, "tap_name") == 0)
        return set_string(cfg->tap_name, sizeof(cfg->tap_name), value, st, name);
    if (strcmp(section, "capture") == 0 && strcmp(name, "filter") == 0) {
        cfg->filter_line = st->line;
        return set_string(cfg->bpf, sizeof(cfg->bpf), value, st, name);
    }
    if (strcmp(section, "capture") == 0 &&
        (strcmp(name, "interface") == 0 || strcmp(name, "file") == 0))
        return set_capture_source(st, name, value);
    if (strcmp(section, "output") == 0 && strcmp(name, "output") == 0)
        return add_output(st, value);
    if (strcmp(section, "general") == 0 && strcmp(name, "user") == 0) {
        cfg->user_line = st->line;
        return set_string(cfg->user, sizeof(cfg->user), value, st, name);
    }
    if (strcmp(section, "capture") == 0 && strcmp(name, "dir") == 0) {
        if (value[0] != '/') {
            snprintf(st->msg, sizeof(st->msg), "dir = '%s' must be an absolute path", value);
            return 0;
        }
        cfg->callcap_dir_set = true;
        cfg->dir_line = st->line;
        return set_string(cfg->callcap.dir, sizeof(cfg->callcap.dir), value, st, name);
    }
    if (strcmp(section, "capture") == 0 && strcmp(name, "calls") == 0)
        return set_on_off(&cfg->callcap.enabled, value, st, name);
    if (strcmp(section, "capture") == 0 && strcmp(name, "keep_credentials") == 0)
        return set_on_off(&cfg->callcap.keep_credentials, value, st, name);
    if (strcmp(section, "metrics") == 0 && strcmp(name, "listen") == 0) {
        char host[128], port[16];
        if (!metrics_listen_parse(value, host, sizeof(host), port, sizeof(port))) {
            snprintf(st->msg, sizeof(st->msg),
                     "listen = '%s' is not ADDR:PORT; write e.g. listen = 127.0.0.1:9977", value);
            return 0;
        }
        return set_string(cfg->metrics_listen, sizeof(cfg->metrics_listen), value, st, name);
    }
    if (strcmp(section, "metrics") == 0 && strcmp(name, "file") == 0) {
        if (value[0] != '/') {
            snprintf(st->msg, sizeof(st->msg),
                     "file = '%s' must be an absolute path, e.g. file = "
                     "/var/lib/prometheus/node-exporter/siptap.prom",
                     value);
            return 0;
        }
        cfg->metrics_file_line = st->line;
        return set_string(cfg->metrics_file, sizeof(cfg->metrics_file), value, st, name);
    }
    if (strcmp(section, "output") == 0 && strcmp(name, "redis_user") == 0) {
        cfg->redis_user_line = st->line;
        return set_string(cfg->redis_user, sizeof(cfg->redis_user), value, st, name);
    }
    if (strcmp(section, "output") == 0 && strcmp(name, "redis_password") == 0)
        return set_string(cfg->redis_password, sizeof(cfg->redis_password), value, st, name);
    if (strcmp(section, "output") == 0 && strncmp(name, "kafka.", 6) == 0 && name[6]) {
        if (!kafka_property_ok(name + 6, value, st))
            return 0;
        if (cfg->kafka_prop_count >= CONFIG_MAX_KAFKA_PROPS) {
            snprintf(st->msg, sizeof(st->msg), "too many kafka.* properties (at most %d)",
                     CONFIG_MAX_KAFKA_PROPS);
            return 0;
        }
        cfg->kafka_props[cfg->kafka_prop_count * 2] = strdup(name + 6);
        cfg->kafka_props[cfg->kafka_prop_count * 2 + 1] = strdup(value);
        cfg->kafka_prop_count++;
        return 1;
    }

    static const char *const known_sections[] = {"general", "capture", "limits", "output",
                                                 "metrics"};
    bool section_known = false;
    for (size_t i = 0; i < 5; i++)
        section_known |= strcmp(section, known_sections[i]) == 0;
    if (!section_known)
        snprintf(st->msg, sizeof(st->msg),
                 "unknown section [%s]; sections are [general], [capture], [limits], [output], "
                 "[metrics], [trunk NAME], [rule NAME] and [severity]",
                 section);
    else
        snprintf(st->msg, sizeof(st->msg),
                 "unknown key '%s' in [%s]; see siptap.conf.example for the keys it takes", name,
                 section);
    return 0;
}

static const struct seen_name *seen_find(const struct load_state *st, const char *section,
                                         const char *key)
{
    for (size_t i = 0; i < st->seen_count; i++) {
        const struct seen_name *n = &st->seen[i];
        if (strcmp(n->section, section) == 0 &&
            (key ? n->key && strcmp(n->key, key) == 0 : n->key == NULL))
            return n;
    }
    return NULL;
}

/* false if out of memory (then duplicates go unnoticed, nothing worse). */
static bool seen_add(struct load_state *st, const char *section, const char *key)
{
    if (st->seen_count == st->seen_cap) {
        size_t cap = st->seen_cap ? st->seen_cap * 2 : 64;
        struct seen_name *n = realloc(st->seen, cap * sizeof(*n));
        if (!n)
            return false;
        st->seen = n;
        st->seen_cap = cap;
    }
    struct seen_name *n = &st->seen[st->seen_count];
    n->section = strdup(section);
    n->key = key ? strdup(key) : NULL;
    n->line = st->line;
    if (!n->section || (key && !n->key)) {
        free(n->section);
        free(n->key);
        return false;
    }
    st->seen_count++;
    return true;
}

static void seen_free(struct load_state *st)
{
    for (size_t i = 0; i < st->seen_count; i++) {
        free(st->seen[i].section);
        free(st->seen[i].key);
    }
    free(st->seen);
}

/* A key given twice in one section: the second would silently win (or add
 * to the first), so neither is taken. Continuation lines are inih's. */
static bool duplicate_key(struct load_state *st, struct load_state *out, const char *section,
                          const char *name)
{
    if (st->indented)
        return false;
    if (strcmp(section, "output") == 0 && strcmp(name, "output") == 0)
        return false; /* one line per output */
    const struct seen_name *first = seen_find(st, section, name);
    if (!first) {
        seen_add(st, section, name);
        return false;
    }
    snprintf(out->msg, sizeof(out->msg),
             "'%s' is set twice in [%s] (first on line %d); keep one of the two lines", name,
             section, first->line);
    return true;
}

/* inih keeps going after an error and reports the first error's line, so the
 * first message is the one kept. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct load_state *st = user;
    struct load_state local = {.cfg = st->cfg, .line = st->line};
    int ok = !duplicate_key(st, &local, section, name) && handle_key(&local, section, name, value);
    if (!ok && !st->msg[0])
        memcpy(st->msg, local.msg, sizeof(st->msg));
    return ok;
}

/* A section header's name ("trunk a" of "[trunk a]"), as inih takes it;
 * false if the line is not one. */
static bool section_header(const char *line, char *name, size_t namelen)
{
    while (*line == ' ' || *line == '\t')
        line++;
    const char *end = line[0] == '[' ? strchr(line, ']') : NULL;
    if (!end || (size_t)(end - line - 1) >= namelen)
        return false;
    memcpy(name, line + 1, (size_t)(end - line - 1));
    name[end - line - 1] = '\0';
    return true;
}

/* A section given twice: its keys would merge without a word. */
static void note_section(struct load_state *st, const char *line)
{
    char name[256];
    if (!section_header(line, name, sizeof(name)))
        return;
    const struct seen_name *first = seen_find(st, name, NULL);
    if (!first) {
        seen_add(st, name, NULL);
        return;
    }
    if (st->early_line)
        return;
    st->early_line = st->line;
    snprintf(st->early_msg, sizeof(st->early_msg),
             "section [%s] appears twice (first on line %d); merge the two into one", name,
             first->line);
}

/* inih's line reader, counting lines so rule settings can carry theirs. */
static char *read_line(char *str, int num, void *stream)
{
    struct load_state *st = stream;
    char *s = fgets(str, num, st->file);
    if (s) {
        st->line++;
        st->indented = s[0] == ' ' || s[0] == '\t';
        note_section(st, s);
    }
    return s;
}

bool config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
    struct load_state st = {.cfg = cfg};
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    snprintf(cfg->rules.path, sizeof(cfg->rules.path), "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        snprintf(err, errlen,
                 "%s: is a directory; -c takes the configuration file itself, e.g. -c "
                 "%s/siptap.conf",
                 path, path);
        return false;
    }
    st.file = f;
    int line = ini_parse_stream(read_line, &st, on_key, &st);
    bool read_error = ferror(f);
    fclose(f);
    seen_free(&st);
    if (st.early_line && (line == 0 || st.early_line < line)) {
        snprintf(err, errlen, "%s:%d: %s", path, st.early_line, st.early_msg);
        return false;
    }
    if (line != 0) {
        if (!st.msg[0])
            snprintf(st.msg, sizeof(st.msg),
                     "not an INI line; write 'key = value' under a [section] header");
        snprintf(err, errlen, "%s:%d: %s", path, line, st.msg);
        return false;
    }
    if (read_error) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return false;
    }
    if (cfg->redis_user[0] && !cfg->redis_password[0]) {
        snprintf(err, errlen,
                 "%s:%d: redis_user = '%s' needs redis_password in [output] as well (Redis "
                 "AUTH takes both); add redis_password = ... or remove redis_user",
                 path, cfg->redis_user_line, cfg->redis_user);
        return false;
    }
    for (size_t i = 0; i < cfg->kafka_prop_count * 2; i++)
        cfg->kafka_view[i] = cfg->kafka_props[i];
    cfg->kafka_view[cfg->kafka_prop_count * 2] = NULL;
    cfg->callcap.dir_max_bytes = (uint64_t)cfg->callcap_dir_max_mb << 20;
    cfg->callcap.memory_max = (uint64_t)cfg->callcap_memory_mb << 20;
    cfg->decoder.tcp_max_buffered = (size_t)cfg->tcp_max_buffered_mb << 20;
    cfg->sink.kafka_props = cfg->kafka_view;
    cfg->sink.redis_user = cfg->redis_user[0] ? cfg->redis_user : NULL;
    cfg->sink.redis_password = cfg->redis_password[0] ? cfg->redis_password : NULL;
    for (size_t i = 0; i < cfg->trunks.count; i++) {
        if (cfg->trunks.trunks[i].prefix_count == 0) {
            snprintf(err, errlen, "%s: trunk %s has no 'match = ADDR[/BITS], ...' line", path,
                     cfg->trunks.trunks[i].name);
            return false;
        }
    }
    return rules_validate(&cfg->rules, &cfg->trunks, err, errlen);
}

static bool check_filter(const struct config *cfg, const char *bpf, char *err, size_t errlen)
{
    const char *filter = bpf ? bpf : cfg->bpf;
    if (!filter || !*filter)
        return true;
    pcap_t *p = pcap_open_dead(DLT_EN10MB, (int)cfg->snaplen);
    struct bpf_program prog;
    bool ok = p && pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!ok) {
        const char *why = p ? pcap_geterr(p) : "no memory";
        if (bpf)
            snprintf(err, errlen, "-f '%s': bad capture filter: %s; see pcap-filter(7)", filter,
                     why);
        else
            snprintf(err, errlen,
                     "%s:%d: filter = '%s' does not compile: %s; see pcap-filter(7), or "
                     "check it with tcpdump -d",
                     cfg->path, cfg->filter_line, filter, why);
    } else {
        pcap_freecode(&prog);
    }
    if (p)
        pcap_close(p);
    return ok;
}

/* By name, or by number as privdrop takes it. */
static const struct passwd *user_lookup(const char *user)
{
    const struct passwd *pw = getpwnam(user);
    if (pw)
        return pw;
    char *end;
    errno = 0;
    unsigned long v = strtoul(user, &end, 10);
    return errno || *end || end == user ? NULL : getpwuid((uid_t)v);
}

/* May uid (in gid and its other groups) create entries in the directory? */
static bool dir_writable_by(const struct stat *st, uid_t uid, gid_t gid, const char *name)
{
    if (uid == 0)
        return true;
    if (st->st_uid == uid)
        return (st->st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);
    gid_t groups[64];
    int n = 64;
    if (getgrouplist(name, gid, groups, &n) < 0)
        n = 0;
    bool in_group = st->st_gid == gid;
    for (int i = 0; i < n; i++)
        in_group |= groups[i] == st->st_gid;
    if (in_group)
        return (st->st_mode & (S_IWGRP | S_IXGRP)) == (S_IWGRP | S_IXGRP);
    return (st->st_mode & (S_IWOTH | S_IXOTH)) == (S_IWOTH | S_IXOTH);
}

/* Can the daemon's user (pw; NULL: this process's user) create entries in
 * dir, whose stat is st? */
static bool dir_writable_for(const struct stat *st, const char *dir, const struct passwd *pw)
{
    return pw ? dir_writable_by(st, pw->pw_uid, pw->pw_gid, pw->pw_name)
              : access(dir, W_OK | X_OK) == 0;
}

/* That user's name, for a message. */
static const char *user_name(const struct passwd *pw)
{
    if (pw)
        return pw->pw_name;
    const struct passwd *me = getpwuid(geteuid());
    return me ? me->pw_name : "this user";
}

/* The directory itself, or the nearest one above it that exists (the
 * daemon creates what is missing); false if nothing of the path exists. */
static bool nearest_existing(const char *dir, char *path, size_t pathlen, struct stat *st)
{
    snprintf(path, pathlen, "%s", dir);
    while (stat(path, st) != 0) {
        char *slash = strrchr(path, '/');
        if (!slash)
            return false;
        slash[slash == path ? 1 : 0] = '\0';
    }
    return true;
}

/* The call capture directory must take new files from the user the daemon
 * runs as (pw; NULL: this process's user). */
static bool check_capture_dir(const struct config *cfg, const struct passwd *pw, char *err,
                              size_t errlen)
{
    if (!cfg->callcap.enabled || !cfg->callcap_dir_set)
        return true;
    char path[sizeof(cfg->callcap.dir)];
    struct stat st;
    if (!nearest_existing(cfg->callcap.dir, path, sizeof(path), &st))
        return true;
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen,
                 "%s:%d: dir = '%s': %s is not a directory; name a directory for call captures "
                 "or turn them off with calls = off",
                 cfg->path, cfg->dir_line, cfg->callcap.dir, path);
        return false;
    }
    if (dir_writable_for(&st, path, pw))
        return true;
    const char *who = user_name(pw);
    snprintf(err, errlen,
             "%s:%d: dir = '%s': %s cannot be written by %s; create it for that user "
             "(install -d -o %s %s) or turn call captures off with calls = off",
             cfg->path, cfg->dir_line, cfg->callcap.dir, path, who, who, cfg->callcap.dir);
    return false;
}

/* The metrics file is written as FILE.tmp then renamed over FILE, so its
 * directory must exist (the daemon does not create it) and take new files
 * from the user the daemon runs as (pw; NULL: this process's user). */
static bool check_metrics_file(const struct config *cfg, const struct passwd *pw, char *err,
                               size_t errlen)
{
    if (!cfg->metrics_file[0])
        return true;
    char where[1200], dir[sizeof(cfg->metrics_file)];
    if (cfg->metrics_file_line)
        snprintf(where, sizeof(where), "%s:%d: file = '%s'", cfg->path, cfg->metrics_file_line,
                 cfg->metrics_file);
    else
        snprintf(where, sizeof(where), "--metrics-file %s", cfg->metrics_file);
    snprintf(dir, sizeof(dir), "%s", cfg->metrics_file);
    char *slash = strrchr(dir, '/');
    if (!slash || !slash[1]) {
        snprintf(err, errlen, "%s: name a file, e.g. /var/lib/prometheus/node-exporter/siptap.prom",
                 where);
        return false;
    }
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen,
                 "%s: %s is not a directory; create it (node_exporter reads the directory given "
                 "by --collector.textfile.directory) or name another",
                 where, dir);
        return false;
    }
    if (dir_writable_for(&st, dir, pw))
        return true;
    const char *who = user_name(pw);
    snprintf(err, errlen, "%s: %s cannot be written by %s; let that user write it (chown %s %s)",
             where, dir, who, who, dir);
    return false;
}

bool config_check(const struct config *cfg, const char *bpf, const char *user, char *err,
                  size_t errlen)
{
    if (!check_filter(cfg, bpf, err, errlen))
        return false;
    const char *name = user ? user : cfg->user[0] ? cfg->user : NULL;
    const struct passwd *pw = name ? user_lookup(name) : NULL;
    if (name && !pw) {
        if (user)
            snprintf(err, errlen, "-u %s: no such user; name an existing user", user);
        else
            snprintf(err, errlen,
                     "%s:%d: user = '%s': no such user; create it (useradd --system %s) or name "
                     "an existing one",
                     cfg->path, cfg->user_line, cfg->user, cfg->user);
        return false;
    }
    /* getpwnam's static storage: copy what the directory check reads. */
    struct passwd copy;
    char pw_name[256];
    if (pw) {
        copy = *pw;
        snprintf(pw_name, sizeof(pw_name), "%s", pw->pw_name);
        copy.pw_name = pw_name;
    }
    return check_capture_dir(cfg, pw ? &copy : NULL, err, errlen) &&
           check_metrics_file(cfg, pw ? &copy : NULL, err, errlen);
}

/* The keys that hold one string, for config_key_value. */
struct string_key {
    const char *section, *name;
    size_t offset, size;
};

#define STRING_KEY(sec, key, field)                                                                \
    {                                                                                              \
        sec, key, offsetof(struct config, field), sizeof(((struct config *)0)->field)              \
    }

static const struct string_key string_keys[] = {
    STRING_KEY("general", "tap_name", tap_name),
    STRING_KEY("general", "user", user),
    STRING_KEY("capture", "filter", bpf),
    STRING_KEY("capture", "interface", interface),
    STRING_KEY("capture", "file", capture_file),
    STRING_KEY("capture", "dir", callcap.dir),
    STRING_KEY("metrics", "listen", metrics_listen),
    STRING_KEY("metrics", "file", metrics_file),
    STRING_KEY("output", "redis_user", redis_user),
    STRING_KEY("output", "redis_password", redis_password),
};

bool config_key_value(const struct config *cfg, const char *section, const char *name, char *out,
                      size_t outlen)
{
    const char *base = (const char *)cfg;
    for (size_t i = 0; i < sizeof(uint_keys) / sizeof(uint_keys[0]); i++) {
        const struct uint_key *k = &uint_keys[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
            continue;
        unsigned long long v;
        if (k->width == sizeof(unsigned)) {
            unsigned u;
            memcpy(&u, base + k->offset, sizeof(u));
            v = u;
        } else {
            size_t z;
            memcpy(&z, base + k->offset, sizeof(z));
            v = z;
        }
        snprintf(out, outlen, "%llu", v);
        return true;
    }
    for (size_t i = 0; i < sizeof(string_keys) / sizeof(string_keys[0]); i++) {
        const struct string_key *k = &string_keys[i];
        if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0) {
            snprintf(out, outlen, "%.*s", (int)k->size, base + k->offset);
            return true;
        }
    }
    const bool *flag = NULL;
    if (strcmp(section, "capture") == 0 && strcmp(name, "calls") == 0)
        flag = &cfg->callcap.enabled;
    else if (strcmp(section, "capture") == 0 && strcmp(name, "keep_credentials") == 0)
        flag = &cfg->callcap.keep_credentials;
    if (!flag)
        return false;
    snprintf(out, outlen, "%s", *flag ? "on" : "off");
    return true;
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->kafka_prop_count * 2; i++)
        free(cfg->kafka_props[i]);
    cfg->kafka_prop_count = 0;
}

/*
 * signalling_fixture: what the signalling-detector tests share. The engine
 * (engine_new with the settings a test gives: the call table with the real
 * rules attached),
 * two configured trunks (acme 203.0.113.0/24, beta 192.0.2.0/24; the PBX is
 * 198.51.100.20), a capturing sink, and builders for hand-made sip_msg values
 * fed through call_table_sip on the capture clock. Header-only: each test
 * file is its own executable.
 */
#ifndef SIPTAP_TESTS_RULES_SIGNALLING_FIXTURE_H
#define SIPTAP_TESTS_RULES_SIGNALLING_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "tests/support/event_capture.h"

#define T0  1700000000000000ULL
#define SEC 1000000ULL

#define ACME_IP  "203.0.113.10"
#define BETA_IP  "192.0.2.10"
#define PBX_IP   "198.51.100.20"
#define PHONE_IP "198.51.100.30"

struct fixture {
    struct trunk_list trunks;
    struct rule_settings settings;
    struct engine *engine;
    /* The engine's parts, from fixture_start on. */
    struct counters *counters;
    struct timerq *timers;
    struct event_bus *bus;
    struct call_table *table;
    struct rules *rules;
    struct event_capture *events;
};

static struct fixture fx;

static inline void fixture_add_trunk(const char *name, const char *prefix)
{
    struct trunk_config *tr = &fx.trunks.trunks[fx.trunks.count++];
    snprintf(tr->name, sizeof(tr->name), "%s", name);
    net_prefix_parse(&tr->prefixes[tr->prefix_count++], prefix);
}

/* Adds a `key = value` line of [section] to the settings used by fixture_start. */
static inline void fixture_setting(const char *section, const char *key, const char *value)
{
    struct rule_setting *s = &fx.settings.items[fx.settings.count];
    snprintf(s->section, sizeof(s->section), "%s", section);
    snprintf(s->key, sizeof(s->key), "%s", key);
    snprintf(s->value, sizeof(s->value), "%s", value);
    s->line = (int)fx.settings.count + 1;
    fx.settings.count++;
}

static inline void fixture_init(void)
{
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.settings.path, sizeof(fx.settings.path), "test.conf");
    fixture_add_trunk("acme", "203.0.113.0/24");
    fixture_add_trunk("beta", "192.0.2.0/24");
}

/* Builds the engine (call table and rules) from fx.settings. */
static inline void fixture_start(void)
{
    struct engine_config ec = {.tap_name = "test", .trunks = &fx.trunks, .rules = &fx.settings};
    decoder_config_defaults(&ec.decoder);
    call_limits_defaults(&ec.limits);
    ec.limits.max_calls = 64;
    enum engine_error why;
    char err[512] = "";
    fx.engine = engine_new(&ec, NULL, &why, err, sizeof(err));
    cr_assert_not_null(fx.engine, "engine_new: %s", err);
    fx.counters = engine_counters(fx.engine);
    fx.timers = engine_timers(fx.engine);
    fx.bus = engine_bus(fx.engine);
    fx.table = engine_calls(fx.engine);
    fx.rules = engine_rules(fx.engine);
    fx.events = event_capture_attach(fx.bus);
}

static inline void setup(void)
{
    fixture_init();
    fixture_start();
}

static inline void teardown(void)
{
    engine_free(fx.engine);
}

static inline struct endpoint ep(const char *ip, uint16_t port)
{
    struct endpoint e = {.port = port};
    net_addr_parse(&e.addr, ip);
    return e;
}

static inline struct sip_msg msg_new(const char *call_id, enum sip_method method, uint32_t cseq)
{
    struct sip_msg m;
    memset(&m, 0, sizeof(m));
    m.method = method;
    snprintf(m.method_name, sizeof(m.method_name), "%s", sip_method_name(method));
    snprintf(m.call_id, sizeof(m.call_id), "%s", call_id);
    snprintf(m.from_user, sizeof(m.from_user), "+15551230000");
    snprintf(m.to_user, sizeof(m.to_user), "+15559870000");
    snprintf(m.from_tag, sizeof(m.from_tag), "ft");
    m.cseq = cseq;
    m.expires = -1;
    return m;
}

static inline void msg_request(struct sip_msg *m, const char *branch)
{
    m->is_request = true;
    snprintf(m->via_branch, sizeof(m->via_branch), "%s", branch);
}

static inline void msg_response(struct sip_msg *m, int status, const char *to_tag)
{
    m->is_request = false;
    m->status = status;
    snprintf(m->reason, sizeof(m->reason), "reason %d", status);
    if (to_tag)
        snprintf(m->to_tag, sizeof(m->to_tag), "%s", to_tag);
}

/* Adds an audio m= line with the given codec names (payload types 96+ for
 * names not in the static table are fine: only names are compared). */
static inline void msg_sdp(struct sip_msg *m, uint16_t port, const char *const *names, size_t n)
{
    m->has_sdp = true;
    struct sdp_media *media = &m->sdp.media[m->sdp.media_count++];
    media->type = SDP_MEDIA_AUDIO;
    net_addr_parse(&media->addr, "198.51.100.99");
    media->port = port;
    media->rtcp_port = port ? (uint16_t)(port + 1) : 0;
    snprintf(media->proto, sizeof(media->proto), "RTP/AVP");
    for (size_t i = 0; i < n && i < SDP_MAX_FORMATS; i++) {
        struct sdp_format *f = &media->formats[media->format_count++];
        f->payload_type = (uint8_t)(96 + i);
        snprintf(f->name, sizeof(f->name), "%s", names[i]);
        f->clock_rate = 8000;
    }
}

static inline void feed_at(const struct sip_msg *m, const char *src, const char *dst, uint64_t ts)
{
    struct sip_meta meta = {.ts_us = ts, .src = ep(src, 5060), .dst = ep(dst, 5060)};
    timerq_advance(fx.timers, ts);
    call_table_sip(fx.table, m, &meta);
}

/* An INVITE from src to dst. */
static inline void invite(const char *call_id, uint32_t cseq, const char *branch, const char *src,
                          const char *dst, uint64_t ts)
{
    struct sip_msg m = msg_new(call_id, SIP_METHOD_INVITE, cseq);
    msg_request(&m, branch);
    feed_at(&m, src, dst, ts);
}

/* A response to an INVITE from the callee (src) back to the caller. */
static inline void invite_response(const char *call_id, uint32_t cseq, int status, const char *src,
                                   const char *dst, uint64_t ts)
{
    struct sip_msg m = msg_new(call_id, SIP_METHOD_INVITE, cseq);
    msg_response(&m, status, status > 100 ? "tt" : NULL);
    feed_at(&m, src, dst, ts);
}

static inline json_t *field(json_t *ev, const char *name)
{
    cr_assert_not_null(ev);
    return json_object_get(ev, name);
}

static inline const char *str_field(json_t *ev, const char *name)
{
    json_t *v = field(ev, name);
    cr_assert(json_is_string(v), "field %s is not a string", name);
    return json_string_value(v);
}

/* ---- end-to-end: the real daemon on a capture file ---- */

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/daemon_events.h"

struct e2e_run {
    json_t **events; /* every event but stats, owned */
    size_t count;
    int status;
};

/* Path of a public capture, or NULL (and the test is skipped) when the
 * captures are not available. */
static inline const char *e2e_public_pcap(const char *name, char *buf, size_t len)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    struct stat st;
    if (!dir || !*dir) {
        cr_skip_test("SIPTAP_PUBLIC_PCAPS is not set: public captures unavailable");
        return NULL;
    }
    snprintf(buf, len, "%s/%s", dir, name);
    if (stat(buf, &st) != 0) {
        cr_skip_test("public capture %s is absent", buf);
        return NULL;
    }
    return buf;
}

/* Writes text to a fresh temporary config file; returns its path in buf. */
static inline const char *e2e_config(const char *text, char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/siptap-rules-e2e-XXXXXX");
    int fd = mkstemp(buf);
    cr_assert(fd >= 0);
    size_t n = strlen(text);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return buf;
}

/* Runs `$SIPTAPD [-c config] -r pcap` and keeps every event but stats. */
static inline void e2e_run_daemon(struct e2e_run *run, const char *pcap, const char *config)
{
    memset(run, 0, sizeof(*run));
    const char *daemon = getenv("SIPTAPD");
    cr_assert(daemon && *daemon, "SIPTAPD is not set");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' %s%s%s -r '%s'", daemon, config ? "-c '" : "",
             config ? config : "", config ? "'" : "", pcap);
    struct daemon_events all;
    daemon_events_run(&all, cmd);
    for (size_t i = 0; i < all.count; i++) {
        if (strcmp(daemon_event_type(all.events[i]), "stats") != 0)
            all.events[run->count++] = all.events[i];
        else
            json_decref(all.events[i]);
    }
    run->events = all.events;
    run->status = all.status;
    cr_assert_eq(run->status, 0, "%s exited with %d", cmd, run->status);
}

static inline size_t e2e_count(const struct e2e_run *run, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < run->count; i++)
        if (!strcmp(json_string_value(json_object_get(run->events[i], "type")), type))
            n++;
    return n;
}

static inline json_t *e2e_find(const struct e2e_run *run, const char *type, size_t nth)
{
    for (size_t i = 0; i < run->count; i++)
        if (!strcmp(json_string_value(json_object_get(run->events[i], "type")), type) && nth-- == 0)
            return run->events[i];
    return NULL;
}

static inline void e2e_free(struct e2e_run *run)
{
    for (size_t i = 0; i < run->count; i++)
        json_decref(run->events[i]);
    free(run->events);
    run->events = NULL;
    run->count = 0;
}

#endif

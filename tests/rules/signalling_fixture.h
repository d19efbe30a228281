/*
 * signalling_fixture: what the signalling-detector tests share. A call table
 * with the real rules attached (rules_new with the settings a test gives),
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

#include "calls/calls.h"
#include "rules/rules.h"
#include "tests/support/event_capture.h"

#define T0  1700000000000000ULL
#define SEC 1000000ULL

#define ACME_IP  "203.0.113.10"
#define BETA_IP  "192.0.2.10"
#define PBX_IP   "198.51.100.20"
#define PHONE_IP "198.51.100.30"

struct fixture {
    struct counters counters;
    struct timerq timers;
    struct event_bus bus;
    struct trunk_list trunks;
    struct rule_settings settings;
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
    counters_init(&fx.counters);
    timerq_init(&fx.timers);
    event_bus_init(&fx.bus, "test");
    fx.events = event_capture_attach(&fx.bus);
    snprintf(fx.settings.path, sizeof(fx.settings.path), "test.conf");
    fixture_add_trunk("acme", "203.0.113.0/24");
    fixture_add_trunk("beta", "192.0.2.0/24");
}

/* Builds the call table and the rules from fx.settings. */
static inline void fixture_start(void)
{
    struct call_limits limits;
    call_limits_defaults(&limits);
    limits.max_calls = 64;
    fx.table = call_table_new(&limits, &fx.trunks, &fx.counters, &fx.timers, &fx.bus);
    cr_assert_not_null(fx.table);
    char err[512] = "";
    fx.rules = rules_new(&fx.settings, fx.table, &fx.timers, &fx.bus, &fx.counters, &fx.trunks, err,
                         sizeof(err));
    cr_assert_not_null(fx.rules, "rules_new: %s", err);
}

static inline void setup(void)
{
    fixture_init();
    fixture_start();
}

static inline void teardown(void)
{
    call_table_free(fx.table);
    rules_free(fx.rules);
    event_bus_destroy(&fx.bus);
    timerq_destroy(&fx.timers);
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
    timerq_advance(&fx.timers, ts);
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

#endif

/*
 * daemon_hep: HEP input and output in the daemon context (what and why:
 * daemon_hep.h). Kept apart from daemon.c so the capture paths there only
 * gain one call each.
 */
#include "daemon/daemon_hep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/hep_input.h"
#include "outputs/hep.h"
#include "rtp/rtp.h"

struct hep_agent {
    char *call_id; /* hash key: points at key[] */
    char agent[HEP_INPUT_AGENT_MAX];
    struct list_node age; /* on agents_by_age */
    char key[];
};

/* An RTCP endpoint an SDP offered, and its call. */
struct hep_media {
    struct endpoint key;  /* zeroed padding: compared as bytes */
    struct list_node age; /* on media_by_age */
    char call_id[];
};

#define HEP_MEDIA_MAX 65536

static void on_hep_packet(void *user, const struct hep_message *m, const char *agent,
                          const struct packet *pkt)
{
    (void)m;
    struct siptap *d = user;
    struct daemon_hep *h = d->hep;
    if (pkt->ts_us >= h->last_ts_us) {
        h->last_ts_us = pkt->ts_us;
        h->last_wall = ev_now(d->loop);
    }
    h->agent = agent[0] ? agent : NULL;
    engine_payload(d->engine, pkt);
    h->agent = NULL;
}

static struct daemon_hep *hep_of(struct siptap *d)
{
    if (!d->hep) {
        d->hep = calloc(1, sizeof(*d->hep));
        if (!d->hep)
            return NULL;
        size_t cap = d->cfg.max_calls ? d->cfg.max_calls : 100000;
        if (!hashtab_init(&d->hep->agents, offsetof(struct hep_agent, call_id), 0, cap)) {
            free(d->hep);
            d->hep = NULL;
        } else if (!hashtab_init(&d->hep->media, offsetof(struct hep_media, key),
                                 sizeof(struct endpoint), HEP_MEDIA_MAX)) {
            hashtab_destroy(&d->hep->agents);
            free(d->hep);
            d->hep = NULL;
        }
    }
    return d->hep;
}

int daemon_hep_open_input(struct siptap *d, const char *spec)
{
    char err[512] = "";
    struct daemon_hep *h = hep_of(d);
    if (!h) {
        fprintf(stderr, "siptapd: out of memory\n");
        return 1;
    }
    enum hep_input_error why;
    h->input =
        hep_input_new(spec, engine_counters(d->engine), on_hep_packet, d, &why, err, sizeof(err));
    if (!h->input) {
        fprintf(stderr, "siptapd: %s\n", err);
        return why == HEP_INPUT_ERR_SPEC ? 2 : 1;
    }
    return 0;
}

void daemon_hep_find_sinks(struct siptap *d)
{
    struct event_bus *bus = engine_bus(d->engine);
    for (size_t i = 0; i < bus->sink_count; i++) {
        if (!hep_sink_is(bus->sinks[i]) || !hep_of(d))
            continue;
        if (d->hep->sink_count < DAEMON_HEP_MAX_SINKS)
            d->hep->sinks[d->hep->sink_count++] = bus->sinks[i];
    }
}

void daemon_hep_start(struct siptap *d)
{
    if (d->hep && d->hep->input)
        hep_input_start(d->hep->input, d->loop);
}

void daemon_hep_stop(struct siptap *d)
{
    if (d->hep && d->hep->input)
        hep_input_stop(d->hep->input);
}

static void agent_unlink(struct daemon_hep *h, struct hep_agent *a)
{
    hashtab_remove(&h->agents, a);
    list_unlink(&h->agents_by_age, &a->age);
    free(a);
}

static void media_unlink(struct daemon_hep *h, struct hep_media *m)
{
    hashtab_remove(&h->media, m);
    list_unlink(&h->media_by_age, &m->age);
    free(m);
}

static struct hep_agent *oldest_agent(const struct daemon_hep *h)
{
    return list_entry(list_first(&h->agents_by_age), struct hep_agent, age);
}

static struct hep_media *oldest_media(const struct daemon_hep *h)
{
    return list_entry(list_first(&h->media_by_age), struct hep_media, age);
}

static void media_key(struct endpoint *k, const struct net_addr *a, uint16_t port)
{
    memset(k, 0, sizeof(*k));
    k->addr.family = a->family;
    memcpy(k->addr.bytes, a->bytes, sizeof(k->addr.bytes));
    k->port = port;
}

/* The RTCP endpoint a, port belongs to call_id from now on. */
static void note_media(struct daemon_hep *h, const struct net_addr *a, uint16_t port,
                       const char *call_id)
{
    struct endpoint k;
    media_key(&k, a, port);
    struct hep_media *m = hashtab_find(&h->media, &k);
    if (m && strcmp(m->call_id, call_id) == 0)
        return;
    if (m)
        media_unlink(h, m);
    if (hashtab_count(&h->media) >= h->media.max_items && oldest_media(h))
        media_unlink(h, oldest_media(h));
    size_t n = strlen(call_id) + 1;
    m = calloc(1, sizeof(*m) + n);
    if (!m)
        return;
    m->key = k;
    memcpy(m->call_id, call_id, n);
    if (!hashtab_insert(&h->media, m)) {
        free(m);
        return;
    }
    list_push_back(&h->media_by_age, &m->age);
}

static const char *media_call(struct daemon_hep *h, const struct net_addr *a, uint16_t port)
{
    struct endpoint k;
    media_key(&k, a, port);
    struct hep_media *m = hashtab_find(&h->media, &k);
    return m ? m->call_id : NULL;
}

static void forget_ended(struct daemon_hep *h)
{
    if (h->forget)
        agent_unlink(h, h->forget);
    h->forget = NULL;
}

void daemon_hep_free(struct siptap *d)
{
    struct daemon_hep *h = d->hep;
    if (!h)
        return;
    hep_input_free(h->input);
    while (oldest_agent(h))
        agent_unlink(h, oldest_agent(h));
    hashtab_destroy(&h->agents);
    while (oldest_media(h))
        media_unlink(h, oldest_media(h));
    hashtab_destroy(&h->media);
    free(h);
    d->hep = NULL;
}

static void note_agent(struct daemon_hep *h, const char *call_id)
{
    forget_ended(h);
    if (!call_id[0] || hashtab_find(&h->agents, call_id))
        return;
    if (hashtab_count(&h->agents) >= h->agents.max_items && oldest_agent(h))
        agent_unlink(h, oldest_agent(h));
    size_t n = strlen(call_id) + 1;
    struct hep_agent *a = calloc(1, sizeof(*a) + n);
    if (!a)
        return;
    memcpy(a->key, call_id, n);
    a->call_id = a->key;
    snprintf(a->agent, sizeof(a->agent), "%s", h->agent);
    if (!hashtab_insert(&h->agents, a)) {
        free(a);
        return;
    }
    list_push_back(&h->agents_by_age, &a->age);
}

static uint8_t ip_proto_of(enum sip_transport t)
{
    return t == SIP_TRANSPORT_UDP ? 17 : t == SIP_TRANSPORT_SCTP ? 132 : 6;
}

void daemon_hep_sip(struct siptap *d, const struct sip_msg *msg, const struct sip_meta *meta)
{
    struct daemon_hep *h = d->hep;
    if (!h)
        return;
    if (h->agent)
        note_agent(h, msg->call_id);
    if (h->sink_count && msg->has_sdp && msg->call_id[0])
        for (size_t i = 0; i < msg->sdp.media_count; i++) {
            const struct sdp_media *md = &msg->sdp.media[i];
            if (md->rtcp_port && md->addr.family)
                note_media(h, &md->addr, md->rtcp_port, msg->call_id);
        }
    struct hep_capture c = {
        .ts_us = meta->ts_us,
        .src = &meta->src,
        .dst = &meta->dst,
        .ip_proto = ip_proto_of(meta->transport),
        .proto_type = HEP_PROTO_SIP,
        .payload = meta->raw,
        .len = meta->raw_len,
    };
    for (size_t i = 0; i < h->sink_count; i++)
        hep_sink_capture(h->sinks[i], &c);
}

void daemon_hep_media(struct siptap *d, const struct packet *pkt)
{
    struct daemon_hep *h = d->hep;
    if (!h || !h->sink_count || !rtcp_looks_like(pkt->payload, pkt->payload_len))
        return;
    char json[4096];
    size_t n = hep_rtcp_json(pkt->payload, pkt->payload_len, json, sizeof(json));
    if (n == 0)
        return;
    struct endpoint src = {pkt->src, pkt->sport}, dst = {pkt->dst, pkt->dport};
    struct hep_capture c = {
        .ts_us = pkt->ts_us,
        .src = &src,
        .dst = &dst,
        .ip_proto = 17,
        .proto_type = HEP_PROTO_RTCP,
        .payload = (const uint8_t *)json,
        .len = n,
        .correlation_id = media_call(h, &pkt->dst, pkt->dport),
    };
    if (!c.correlation_id)
        c.correlation_id = media_call(h, &pkt->src, pkt->sport);
    for (size_t i = 0; i < h->sink_count; i++)
        hep_sink_capture(h->sinks[i], &c);
}

void daemon_hep_prepublish(struct siptap *d, const struct event_info *info,
                           struct event_extra *extra)
{
    struct daemon_hep *h = d->hep;
    if (!h || !h->input || !info->call_id)
        return;
    struct hep_agent *a = hashtab_find(&h->agents, info->call_id);
    if (!a)
        return;
    event_extra_add(extra, "agent", a->agent);
    if (strcmp(info->type, "call_end") == 0) {
        /* Freed later: the event still reads the name. */
        if (h->forget != a)
            forget_ended(h);
        h->forget = a;
    }
}

bool daemon_hep_tick(struct siptap *d, uint64_t wall_us)
{
    (void)wall_us;
    struct daemon_hep *h = d->hep;
    if (!h || !h->input)
        return false;
    if (!engine_clock_started(d->engine))
        return true; /* the first message starts the clock, as a file's first frame does */
    double idle = ev_now(d->loop) - h->last_wall - 0.5;
    if (idle > 0)
        engine_tick(d->engine, h->last_ts_us + (uint64_t)(idle * 1e6));
    return true;
}

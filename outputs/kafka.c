/*
 * kafka: events produced to a Kafka topic with librdkafka.
 *
 *   kafka://HOST:PORT[,HOST:PORT...]/TOPIC
 *
 * The message key is the record's key (Call-ID, else trunk or AOR), so all
 * events of one call land in one partition, in order. The producer runs
 * idempotent with acks=all (no duplicates or reordering from its own
 * retries), lz4 compression (snappy if this librdkafka lacks lz4) and
 * linger.ms=50. Every `kafka.<property>` of the configuration is passed to
 * librdkafka after these defaults, so it can override them; an unknown
 * property or bad value is a configuration error (exit 2).
 *
 * Flow: records move from the sink's queue into librdkafka's own queue
 * (queue.buffering.max.messages = the sink's queue size, so both are
 * bounded). When librdkafka says QUEUE_FULL, records stay in our queue, where
 * overflow drops the oldest and counts it. librdkafka retries a broker
 * outage itself; delivery reports count delivered / failed.
 *
 * librdkafka calls back only from rd_kafka_poll(), which this sink runs on
 * the libev loop: the main queue signals a pipe (rd_kafka_queue_io_event_
 * enable) watched by an ev_io, and a 100 ms ev_timer also polls and retries
 * records that met QUEUE_FULL. No callback runs on librdkafka's threads.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outputs/sink.h"

#define KAFKA_FORM                                                                                 \
    "kafka://HOST:PORT[,HOST:PORT...]/TOPIC, for example "                                         \
    "kafka://10.0.0.5:9092,10.0.0.6:9092/siptap-events"
#define KAFKA_POLL_INTERVAL_S 0.1

struct kafka_sink {
    struct sink base;
    rd_kafka_t *rk;
    rd_kafka_queue_t *main_queue;
    char topic[250];
    struct ev_loop *loop;
    int pipe_fds[2];
    ev_io pipe_watcher;
    ev_timer poll_timer;
    uint64_t in_flight; /* handed to librdkafka, delivery report pending */
    uint64_t queue_full, reconnects;
    bool connected, ever_connected, reported_down;
    char last_error[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct kafka_sink *k = opaque;
    if (k->in_flight > 0)
        k->in_flight--;
    if (msg->err) {
        if (k->base.failed < 5)
            fprintf(stderr, "siptapd: output %s: an event was not delivered: %s\n", k->base.name,
                    rd_kafka_err2str(msg->err));
        snprintf(k->last_error, sizeof(k->last_error), "%s", rd_kafka_err2str(msg->err));
        k->base.failed++;
        return;
    }
    k->base.delivered++;
    if (!k->connected) {
        if (k->ever_connected)
            k->reconnects++;
        if (k->reported_down)
            fprintf(stderr, "siptapd: output %s: brokers reachable again\n", k->base.name);
        k->connected = true;
        k->ever_connected = true;
        k->reported_down = false;
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct kafka_sink *k = opaque;
    snprintf(k->last_error, sizeof(k->last_error), "%s", reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        k->connected = false;
        if (!k->reported_down) {
            k->reported_down = true;
            fprintf(stderr,
                    "siptapd: output %s: no broker reachable (%s); events are queued and sent "
                    "when one is back\n",
                    k->base.name, reason);
        }
    } else if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[256];
        rd_kafka_fatal_error(k->rk, fatal, sizeof(fatal));
        fprintf(stderr, "siptapd: output %s: fatal producer error: %s\n", k->base.name, fatal);
    }
}

static void kafka_send_queued(struct kafka_sink *k)
{
    struct sink *s = &k->base;
    struct event_record *r;
    while ((r = sink_queue_peek(s, 0)) != NULL) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            k->rk, RD_KAFKA_V_TOPIC(k->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(r->text, r->len), RD_KAFKA_V_KEY(r->key, r->key ? strlen(r->key) : 0),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            k->queue_full++;
            return; /* stays in our queue; the poll timer retries */
        }
        if (err) {
            if (s->failed < 5)
                fprintf(stderr, "siptapd: output %s: cannot produce: %s\n", s->name,
                        rd_kafka_err2str(err));
            snprintf(k->last_error, sizeof(k->last_error), "%s", rd_kafka_err2str(err));
            s->failed++;
        } else {
            k->in_flight++;
        }
        sink_queue_pop(s);
    }
}

static void kafka_poll(struct kafka_sink *k)
{
    rd_kafka_poll(k->rk, 0);
    kafka_send_queued(k);
}

static void on_pipe(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct kafka_sink *k = w->data;
    char buf[64];
    while (read(k->pipe_fds[0], buf, sizeof(buf)) > 0)
        ;
    kafka_poll(k);
}

static void on_poll_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    kafka_poll(w->data);
}

static int kafka_start(struct sink *s, struct ev_loop *loop)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    k->loop = loop;
    ev_timer_init(&k->poll_timer, on_poll_timer, KAFKA_POLL_INTERVAL_S, KAFKA_POLL_INTERVAL_S);
    k->poll_timer.data = k;
    ev_timer_start(loop, &k->poll_timer);
    if (pipe2(k->pipe_fds, O_NONBLOCK | O_CLOEXEC) == 0) {
        k->main_queue = rd_kafka_queue_get_main(k->rk);
        rd_kafka_queue_io_event_enable(k->main_queue, k->pipe_fds[1], "1", 1);
        ev_io_init(&k->pipe_watcher, on_pipe, k->pipe_fds[0], EV_READ);
        k->pipe_watcher.data = k;
        ev_io_start(loop, &k->pipe_watcher);
    } else {
        /* The timer alone still drives the producer, just less promptly. */
        k->pipe_fds[0] = k->pipe_fds[1] = -1;
    }
    kafka_poll(k);
    return 0;
}

static void kafka_wake(struct sink *s)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    if (k->rk)
        kafka_send_queued(k);
}

static bool kafka_all_delivered(const struct sink *s)
{
    const struct kafka_sink *k = (const struct kafka_sink *)s;
    return sink_queue_count(s) == 0 && k->in_flight == 0;
}

static void kafka_drain(struct sink *s, double timeout_s)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    kafka_poll(k);
    bool done;
    if (k->loop) {
        done = sink_run_until(s, k->loop, timeout_s, kafka_all_delivered);
    } else {
        rd_kafka_flush(k->rk, (int)(timeout_s * 1000));
        kafka_poll(k);
        done = kafka_all_delivered(s);
    }
    if (!done)
        fprintf(stderr,
                "siptapd: output %s: %zu queued and %llu in-flight events not delivered at "
                "shutdown (%s)\n",
                s->name, sink_queue_count(s), (unsigned long long)k->in_flight,
                k->last_error[0] ? k->last_error : "no acknowledgement in time");
}

static void kafka_add_stats(const struct sink *s, json_t *obj)
{
    const struct kafka_sink *k = (const struct kafka_sink *)s;
    json_object_set_new(obj, "connected", json_boolean(k->connected));
    json_object_set_new(obj, "reconnects", json_integer((json_int_t)k->reconnects));
    json_object_set_new(obj, "in_flight", json_integer((json_int_t)k->in_flight));
    json_object_set_new(obj, "queue_full", json_integer((json_int_t)k->queue_full));
    if (k->last_error[0])
        json_object_set_new(obj, "last_error", json_string(k->last_error));
}

static void kafka_destroy(struct sink *s)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    if (k->loop) {
        ev_timer_stop(k->loop, &k->poll_timer);
        if (k->pipe_fds[0] >= 0)
            ev_io_stop(k->loop, &k->pipe_watcher);
    }
    if (k->rk) {
        /* What is still in librdkafka now fails (reported by on_delivery). */
        rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                  RD_KAFKA_PURGE_F_NON_BLOCKING);
        rd_kafka_poll(k->rk, 0);
        if (k->main_queue) {
            rd_kafka_queue_io_event_enable(k->main_queue, -1, NULL, 0);
            rd_kafka_queue_destroy(k->main_queue);
        }
        rd_kafka_destroy(k->rk);
    }
    if (k->pipe_fds[0] >= 0) {
        close(k->pipe_fds[0]);
        close(k->pipe_fds[1]);
    }
    sink_base_destroy(s);
    free(k);
}

static const struct sink_ops kafka_ops = {
    .kind = "kafka",
    .start = kafka_start,
    .wake = kafka_wake,
    .drain = kafka_drain,
    .add_stats = kafka_add_stats,
    .destroy = kafka_destroy,
};

static bool parse_port(const char *p, const char *end)
{
    if (p == end || end - p > 5)
        return false;
    long v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Checks HOST:PORT[,HOST:PORT...] in [p, end); a message in err if not. */
static bool kafka_check_brokers(const char *spec, const char *p, const char *end, char *err,
                                size_t errlen)
{
    if (p == end) {
        snprintf(err, errlen, "no broker in '%s'; write it as %s", spec, KAFKA_FORM);
        return false;
    }
    while (p < end) {
        const char *item_end = memchr(p, ',', (size_t)(end - p));
        if (!item_end)
            item_end = end;
        const char *colon = NULL;
        if (*p == '[') {
            const char *close = memchr(p, ']', (size_t)(item_end - p));
            if (close && close + 1 < item_end && close[1] == ':')
                colon = close + 1;
        } else {
            colon = memchr(p, ':', (size_t)(item_end - p));
        }
        if (!colon || colon == p) {
            snprintf(err, errlen, "broker '%.*s' in '%s' needs HOST:PORT; write it as %s",
                     (int)(item_end - p), p, spec, KAFKA_FORM);
            return false;
        }
        if (!parse_port(colon + 1, item_end)) {
            snprintf(err, errlen, "bad port '%.*s' in '%s' (1-65535); write it as %s",
                     (int)(item_end - colon - 1), colon + 1, spec, KAFKA_FORM);
            return false;
        }
        p = item_end < end ? item_end + 1 : end;
        if (item_end < end && p == end) {
            snprintf(err, errlen, "empty broker after ',' in '%s'; write it as %s", spec,
                     KAFKA_FORM);
            return false;
        }
    }
    return true;
}

static bool kafka_conf(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                       size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return true;
    snprintf(err, errlen, "kafka property %s = %s: %s", key, value, errstr);
    return false;
}

struct sink *kafka_sink_new(const char *spec, const struct sink_options *opts, char *err,
                            size_t errlen)
{
    const char *p = spec + strlen("kafka://");
    const char *slash = strchr(p, '/');
    if (!slash || slash[1] == '\0') {
        snprintf(err, errlen, "no topic in '%s'; write it as %s", spec, KAFKA_FORM);
        return NULL;
    }
    if (!kafka_check_brokers(spec, p, slash, err, errlen))
        return NULL;
    const char *topic = slash + 1;
    size_t topic_len = strlen(topic);
    if (topic_len > 249 || strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789._-") != topic_len) {
        snprintf(err, errlen,
                 "bad topic '%s' (letters, digits, '.', '_', '-', at most 249); write it as %s",
                 topic, KAFKA_FORM);
        return NULL;
    }

    struct kafka_sink *k = calloc(1, sizeof(*k));
    if (!k || !sink_base_init(&k->base, &kafka_ops, spec, opts->queue_size)) {
        if (k)
            sink_base_destroy(&k->base);
        free(k);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(k->topic, topic, topic_len + 1);
    k->pipe_fds[0] = k->pipe_fds[1] = -1;

    char brokers[1024];
    snprintf(brokers, sizeof(brokers), "%.*s", (int)(slash - p), p);
    char max_messages[24];
    size_t qmax = opts->queue_size ? opts->queue_size : 1;
    if (qmax > 10000000)
        qmax = 10000000;
    snprintf(max_messages, sizeof(max_messages), "%zu", qmax);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char ignored[128];
    bool ok = kafka_conf(conf, "bootstrap.servers", brokers, err, errlen) &&
              kafka_conf(conf, "enable.idempotence", "true", err, errlen) &&
              kafka_conf(conf, "acks", "all", err, errlen) &&
              kafka_conf(conf, "linger.ms", "50", err, errlen) &&
              kafka_conf(conf, "queue.buffering.max.messages", max_messages, err, errlen);
    if (ok && rd_kafka_conf_set(conf, "compression.codec", "lz4", ignored, sizeof(ignored)) !=
                  RD_KAFKA_CONF_OK)
        rd_kafka_conf_set(conf, "compression.codec", "snappy", ignored, sizeof(ignored));
    for (const char *const *kv = opts->kafka_props; ok && kv && kv[0] && kv[1]; kv += 2)
        ok = kafka_conf(conf, kv[0], kv[1], err, errlen);
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        sink_base_destroy(&k->base);
        free(k);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);

    char errstr[512];
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!k->rk) {
        snprintf(err, errlen, "cannot create the Kafka producer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        sink_base_destroy(&k->base);
        free(k);
        return NULL;
    }
    return &k->base;
}

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
 * outage itself; delivery reports count delivered / failed. The sink keeps
 * a reference to every record librdkafka holds (a slot per message, bounded
 * by the same size), so none is lost with the producer:
 *
 * A fatal error (the idempotent producer's sequence state went wrong, e.g.
 * after OUT_OF_ORDER_SEQUENCE_NUMBER answers) kills the producer for good:
 * it accepts nothing more and fails what it holds. The sink then says so
 * on stderr and in its stats (connected false, fatal_errors), destroys it,
 * puts the records it held back at the head of the queue in seq order
 * (within the queue's bound: the oldest are dropped and counted if they do
 * not fit) and builds a new producer from the same configuration, at most
 * once a second (producer_restarts). A record the old producer wrote but
 * never confirmed can then appear twice on the topic: none is lost.
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
/* A producer is rebuilt at most this often after fatal errors. */
#define KAFKA_RESTART_INTERVAL_S 1.0

struct kafka_sink {
    struct sink base;
    rd_kafka_t *rk;               /* NULL while a rebuilt producer could not be created */
    rd_kafka_conf_t *conf;        /* the producer's configuration, for a rebuild */
    rd_kafka_queue_t *main_queue; /* NULL when no pipe signals it */
    char topic[250];
    struct ev_loop *loop;
    int pipe_fds[2];
    ev_io pipe_watcher;
    ev_timer poll_timer;
    /* Records handed to librdkafka, delivery report pending, by slot (the
     * message's opaque is slot + 1); free slots are stacked in free_slots. */
    struct event_record **in_flight;
    uint32_t *free_slots;
    size_t slot_count, free_count;
    bool fatal;      /* the producer raised a fatal error: it must be rebuilt */
    bool discarding; /* the old producer is being destroyed: its reports are void */
    double next_restart;
    uint64_t queue_full, reconnects, fatal_errors, producer_restarts, retried;
    bool connected, ever_connected, reported_down;
    char last_error[256];
};

static size_t kafka_in_flight(const struct kafka_sink *k)
{
    return k->slot_count - k->free_count;
}

static void kafka_note_connected(struct kafka_sink *k)
{
    if (k->connected)
        return;
    if (k->ever_connected)
        k->reconnects++;
    if (k->reported_down)
        fprintf(stderr, "siptapd: output %s: brokers reachable again\n", k->base.name);
    k->connected = true;
    k->ever_connected = true;
    k->reported_down = false;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct kafka_sink *k = opaque;
    size_t slot = (size_t)(uintptr_t)msg->_private;
    if (k->discarding || slot == 0 || slot > k->slot_count || !k->in_flight[slot - 1])
        return;
    slot--;
    /* Failed because the producer is dead: the record stays in its slot and
     * goes again through the new producer. */
    if (msg->err && (k->fatal || rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)) {
        k->fatal = true;
        return;
    }
    event_record_unref(k->in_flight[slot]);
    k->in_flight[slot] = NULL;
    k->free_slots[k->free_count++] = (uint32_t)slot;
    if (msg->err) {
        if (k->base.failed < 5)
            fprintf(stderr, "siptapd: output %s: an event was not delivered: %s\n", k->base.name,
                    rd_kafka_err2str(msg->err));
        snprintf(k->last_error, sizeof(k->last_error), "%s", rd_kafka_err2str(msg->err));
        k->base.failed++;
        return;
    }
    k->base.delivered++;
    kafka_note_connected(k);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka_sink *k = opaque;
    if (k->discarding)
        return;
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
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        snprintf(k->last_error, sizeof(k->last_error), "fatal: %.240s", fatal);
        k->fatal = true;
        k->connected = false;
        k->fatal_errors++;
        fprintf(stderr,
                "siptapd: output %s: fatal producer error: %s; a new producer takes over and "
                "sends again what this one did not deliver\n",
                k->base.name, fatal);
    }
}

/* Hands one record to librdkafka. false: it stays queued (full, or dead). */
static bool kafka_produce(struct kafka_sink *k, struct event_record *r)
{
    struct sink *s = &k->base;
    if (k->free_count == 0) {
        k->queue_full++;
        return false;
    }
    uint32_t slot = k->free_slots[k->free_count - 1];
    rd_kafka_resp_err_t err = rd_kafka_producev(
        k->rk, RD_KAFKA_V_TOPIC(k->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(r->text, r->len), RD_KAFKA_V_KEY(r->key, r->key ? strlen(r->key) : 0),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(slot + 1)), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        k->queue_full++;
        return false; /* the poll timer retries */
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        k->fatal = true;
        return false; /* the rebuilt producer takes it */
    }
    if (err) {
        if (s->failed < 5)
            fprintf(stderr, "siptapd: output %s: cannot produce: %s\n", s->name,
                    rd_kafka_err2str(err));
        snprintf(k->last_error, sizeof(k->last_error), "%s", rd_kafka_err2str(err));
        s->failed++;
    } else {
        k->free_count--;
        k->in_flight[slot] = event_record_ref(r);
    }
    sink_queue_pop(s);
    return true;
}

static void kafka_send_queued(struct kafka_sink *k)
{
    struct event_record *r;
    while (k->rk && !k->fatal && (r = sink_queue_peek(&k->base, 0)) != NULL)
        if (!kafka_produce(k, r))
            return;
}

static int kafka_by_seq(const void *a, const void *b)
{
    const struct event_record *x = *(struct event_record *const *)a;
    const struct event_record *y = *(struct event_record *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The records a dead producer held go back to the head of the queue, in
 * seq order; if they do not all fit, the oldest are dropped (counted). */
static void kafka_requeue_in_flight(struct kafka_sink *k)
{
    size_t n = 0;
    for (size_t i = 0; i < k->slot_count; i++)
        if (k->in_flight[i])
            k->in_flight[n++] = k->in_flight[i];
    qsort(k->in_flight, n, sizeof(*k->in_flight), kafka_by_seq);
    for (size_t i = n; i > 0; i--)
        sink_queue_push_front(&k->base, k->in_flight[i - 1]);
    k->retried += n;
    memset(k->in_flight, 0, k->slot_count * sizeof(*k->in_flight));
    k->free_count = k->slot_count;
    for (size_t i = 0; i < k->slot_count; i++)
        k->free_slots[i] = (uint32_t)(k->slot_count - 1 - i);
}

static void on_pipe(struct ev_loop *loop, ev_io *w, int revents);

/* Routes the producer's main queue to the pipe the loop watches. */
static void kafka_attach_queue(struct kafka_sink *k)
{
    if (k->pipe_fds[1] < 0 || !k->rk)
        return;
    k->main_queue = rd_kafka_queue_get_main(k->rk);
    rd_kafka_queue_io_event_enable(k->main_queue, k->pipe_fds[1], "1", 1);
}

/* Destroys the producer; whatever it still held is void (not counted). */
static void kafka_destroy_producer(struct kafka_sink *k)
{
    if (!k->rk)
        return;
    k->discarding = true;
    if (k->main_queue) {
        rd_kafka_queue_io_event_enable(k->main_queue, -1, NULL, 0);
        rd_kafka_queue_destroy(k->main_queue);
        k->main_queue = NULL;
    }
    rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                              RD_KAFKA_PURGE_F_NON_BLOCKING);
    rd_kafka_destroy(k->rk);
    k->rk = NULL;
    k->discarding = false;
}

/* After a fatal error: a new producer, and the old one's records queued
 * again. An event the old one wrote without a report can then appear twice
 * on the topic; none is lost. */
static void kafka_restart_producer(struct kafka_sink *k)
{
    double now = k->loop ? ev_now(k->loop) : 0;
    if (now < k->next_restart)
        return;
    k->next_restart = now + KAFKA_RESTART_INTERVAL_S;
    kafka_destroy_producer(k);
    kafka_requeue_in_flight(k);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(k->conf);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(k->last_error, sizeof(k->last_error), "cannot create a new producer: %.200s",
                 errstr);
        fprintf(stderr, "siptapd: output %s: %s; retrying\n", k->base.name, k->last_error);
        return;
    }
    k->fatal = false;
    k->producer_restarts++;
    kafka_attach_queue(k);
}

static void kafka_poll(struct kafka_sink *k)
{
    if (k->rk)
        rd_kafka_poll(k->rk, 0);
    if (k->fatal || !k->rk)
        kafka_restart_producer(k);
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
        kafka_attach_queue(k);
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
    kafka_send_queued((struct kafka_sink *)s);
}

static size_t kafka_pending(const struct sink *s)
{
    return sink_queue_count(s) + kafka_in_flight((const struct kafka_sink *)s);
}

static void kafka_drain(struct sink *s, double timeout_s)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    kafka_poll(k);
    if (!k->loop && k->rk) { /* nothing else would serve the reports */
        rd_kafka_flush(k->rk, (int)(timeout_s * 1000));
        kafka_poll(k);
    }
}

static void kafka_add_stats(const struct sink *s, json_t *obj)
{
    const struct kafka_sink *k = (const struct kafka_sink *)s;
    json_object_set_new(obj, "connected", json_boolean(k->connected && !k->fatal));
    json_object_set_new(obj, "reconnects", json_integer((json_int_t)k->reconnects));
    json_object_set_new(obj, "in_flight", json_integer((json_int_t)kafka_in_flight(k)));
    json_object_set_new(obj, "queue_full", json_integer((json_int_t)k->queue_full));
    json_object_set_new(obj, "fatal_errors", json_integer((json_int_t)k->fatal_errors));
    json_object_set_new(obj, "producer_restarts", json_integer((json_int_t)k->producer_restarts));
    json_object_set_new(obj, "retried", json_integer((json_int_t)k->retried));
    if (k->last_error[0])
        json_object_set_new(obj, "last_error", json_string(k->last_error));
}

static void kafka_free(struct kafka_sink *k)
{
    for (size_t i = 0; k->in_flight && i < k->slot_count; i++)
        event_record_unref(k->in_flight[i]);
    free(k->in_flight);
    free(k->free_slots);
    if (k->conf)
        rd_kafka_conf_destroy(k->conf);
    sink_base_destroy(&k->base);
    free(k);
}

static void kafka_destroy(struct sink *s)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    if (k->loop) {
        ev_timer_stop(k->loop, &k->poll_timer);
        if (k->pipe_fds[0] >= 0)
            ev_io_stop(k->loop, &k->pipe_watcher);
    }
    kafka_destroy_producer(k);
    if (k->pipe_fds[0] >= 0) {
        close(k->pipe_fds[0]);
        close(k->pipe_fds[1]);
    }
    kafka_free(k);
}

static const struct sink_ops kafka_ops = {
    .kind = "kafka",
    .start = kafka_start,
    .wake = kafka_wake,
    .drain = kafka_drain,
    .pending = kafka_pending,
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

/* The -o text's parts: brokers are [p, *slash), the topic follows *slash. */
static bool kafka_parse_spec(const char *spec, const char **slash_out, char *err, size_t errlen)
{
    const char *p = spec + strlen("kafka://");
    const char *slash = strchr(p, '/');
    if (!slash || slash[1] == '\0') {
        snprintf(err, errlen, "no topic in '%s'; write it as %s", spec, KAFKA_FORM);
        return false;
    }
    if (!kafka_check_brokers(spec, p, slash, err, errlen))
        return false;
    const char *topic = slash + 1;
    size_t topic_len = strlen(topic);
    if (topic_len > 249 || strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789._-") != topic_len) {
        snprintf(err, errlen,
                 "bad topic '%s' (letters, digits, '.', '_', '-', at most 249); write it as %s",
                 topic, KAFKA_FORM);
        return false;
    }
    *slash_out = slash;
    return true;
}

bool kafka_spec_check(const char *spec, char *err, size_t errlen)
{
    const char *slash;
    return kafka_parse_spec(spec, &slash, err, errlen);
}

struct sink *kafka_sink_new(const char *spec, const struct sink_options *opts, char *err,
                            size_t errlen)
{
    const char *slash;
    if (!kafka_parse_spec(spec, &slash, err, errlen))
        return NULL;
    const char *p = spec + strlen("kafka://");
    const char *topic = slash + 1;
    size_t topic_len = strlen(topic);

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
    k->slot_count = qmax;
    k->in_flight = calloc(qmax, sizeof(*k->in_flight));
    k->free_slots = calloc(qmax, sizeof(*k->free_slots));
    if (!k->in_flight || !k->free_slots) {
        kafka_free(k);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->free_count = qmax;
    for (size_t i = 0; i < qmax; i++)
        k->free_slots[i] = (uint32_t)(qmax - 1 - i);

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
        kafka_free(k);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    k->conf = rd_kafka_conf_dup(conf); /* kept for a rebuild after a fatal error */

    char errstr[512];
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!k->rk) {
        snprintf(err, errlen, "cannot create the Kafka producer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        kafka_free(k);
        return NULL;
    }
    return &k->base;
}

/*
 * jsonl: JSON Lines to stdout or to a file (appended).
 *
 * Local writes do not stall the loop in practice, so records are written as
 * soon as they are queued, into the stdio buffer. Once the sink is started
 * on a loop, the buffer is flushed by an ev_prepare watcher -- once per loop
 * iteration, just before the loop would block, i.e. once per capture batch
 * offline and promptly live -- rather than once per event (a write(2) per
 * event was a visible share of the per-call cost). Without a loop (tests),
 * every wake flushes. A file sink reopens its path on SIGHUP so logrotate can move it.
 * A write error is counted as failed and the record dropped, never retried
 * forever.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "outputs/sink.h"

struct jsonl_sink {
    struct sink base;
    FILE *out;
    char *path;           /* NULL for stdout */
    struct ev_loop *loop; /* NULL until started: then flushes are deferred */
    ev_prepare flusher;
    bool dirty; /* written since the last flush */
};

static void jsonl_flush(struct jsonl_sink *j)
{
    if (j->out && j->dirty)
        fflush(j->out);
    j->dirty = false;
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    jsonl_flush(w->data);
}

static int jsonl_start(struct sink *s, struct ev_loop *loop)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    if (!loop)
        return 0;
    j->loop = loop;
    ev_prepare_init(&j->flusher, on_prepare);
    j->flusher.data = j;
    ev_prepare_start(loop, &j->flusher);
    /* The flusher alone must not keep the loop running. */
    ev_unref(loop);
    return 0;
}

static void jsonl_wake(struct sink *s)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    struct event_record *r;
    while ((r = sink_queue_peek(s, 0)) != NULL) {
        if (j->out && fwrite(r->text, 1, r->len, j->out) == r->len && fputc('\n', j->out) != EOF)
            s->delivered++;
        else
            s->failed++;
        sink_queue_pop(s);
        j->dirty = true;
    }
    if (!j->loop)
        jsonl_flush(j);
}

static void jsonl_drain(struct sink *s, double timeout_s)
{
    (void)timeout_s;
    jsonl_wake(s);
    jsonl_flush((struct jsonl_sink *)s);
}

static void jsonl_reopen(struct sink *s)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    if (!j->path)
        return;
    FILE *f = fopen(j->path, "a");
    if (!f) {
        fprintf(stderr, "siptapd: cannot reopen %s: %s (keeping the old file)\n", j->path,
                strerror(errno));
        return;
    }
    if (j->out) {
        fflush(j->out);
        fclose(j->out);
    }
    j->out = f;
}

static void jsonl_destroy(struct sink *s)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    jsonl_wake(s);
    jsonl_flush(j);
    if (j->loop) {
        ev_ref(j->loop);
        ev_prepare_stop(j->loop, &j->flusher);
    }
    if (j->out && j->path)
        fclose(j->out);
    free(j->path);
    sink_base_destroy(s);
    free(j);
}

static const struct sink_ops jsonl_ops = {
    .kind = "jsonl",
    .start = jsonl_start,
    .wake = jsonl_wake,
    .drain = jsonl_drain,
    .reopen = jsonl_reopen,
    .destroy = jsonl_destroy,
};

struct sink *jsonl_sink_new_stdout(size_t queue_size)
{
    struct jsonl_sink *j = calloc(1, sizeof(*j));
    if (!j || !sink_base_init(&j->base, &jsonl_ops, "stdout", queue_size)) {
        free(j);
        return NULL;
    }
    j->out = stdout;
    return &j->base;
}

struct sink *jsonl_sink_new_file(const char *path, size_t queue_size, char *err, size_t errlen)
{
    char name[200];
    snprintf(name, sizeof(name), "file:%s", path);
    struct jsonl_sink *j = calloc(1, sizeof(*j));
    if (!j || !sink_base_init(&j->base, &jsonl_ops, name, queue_size)) {
        free(j);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    j->path = strdup(path);
    j->out = fopen(path, "a");
    if (!j->out) {
        snprintf(err, errlen, "cannot open output file %s: %s", path, strerror(errno));
        free(j->path);
        sink_base_destroy(&j->base);
        free(j);
        return NULL;
    }
    return &j->base;
}

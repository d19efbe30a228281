/*
 * jsonl: JSON Lines to stdout or to a file (appended).
 *
 * Local writes do not stall the loop in practice, so records are written as
 * soon as they are queued, through a large stdio buffer flushed once per
 * wake. A file sink reopens its path on SIGHUP so logrotate can move it.
 * A write error is counted as failed and the record dropped, never retried
 * forever.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/sink.h"

struct jsonl_sink {
    struct sink base;
    FILE *out;
    char *path; /* NULL for stdout */
};

static int jsonl_start(struct sink *s, struct ev_loop *loop)
{
    (void)s;
    (void)loop;
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
    }
    if (j->out)
        fflush(j->out);
}

static void jsonl_drain(struct sink *s, double timeout_s)
{
    (void)timeout_s;
    jsonl_wake(s);
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
    if (j->out)
        fclose(j->out);
    j->out = f;
}

static void jsonl_destroy(struct sink *s)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    jsonl_wake(s);
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

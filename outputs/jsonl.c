/*
 * jsonl: JSON Lines to stdout or to a file (appended).
 *
 * Records stay in the sink's queue until the kernel has taken every byte of
 * their line: a record counts as delivered only then. Once the sink is
 * started on a loop, the queue is written by an ev_prepare watcher -- once
 * per loop iteration, just before the loop would block, i.e. once per
 * capture batch offline and promptly live -- with one writev(2) for many
 * lines, rather than a write per event (that was a visible share of the
 * per-call cost); a queue filling up is written at once. Without a loop
 * (tests), every wake writes. A file sink reopens its path on SIGHUP so
 * logrotate can move it.
 *
 * A write that fails (a full disk, an I/O error) fails the line it was
 * writing: counted as failed and removed, never retried forever; the lines
 * after it are tried in turn. A write cut short inside a line (the disk
 * filled up in the middle of it) is completed or, when the rest cannot be
 * written, cut back off the file (ftruncate to the end of the last whole
 * line), so the file never holds half a line. stderr says why once when
 * writing starts failing and once when it works again, never per event.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ev.h>

#include "outputs/sink.h"

/* Lines per writev: two iovecs each (the text, then its newline). */
#define JSONL_LINES_PER_WRITE 512
/* With a loop, this many queued lines are written at once rather than at
 * the end of the loop iteration (or half the queue, if that is smaller). */
#define JSONL_BATCH 256

struct jsonl_sink {
    struct sink base;
    int fd;               /* -1 when the file could not be reopened */
    char *path;           /* NULL for stdout */
    bool seekable;        /* a regular file: a cut line can be truncated away */
    struct ev_loop *loop; /* NULL until started: then writes are deferred */
    ev_prepare flusher;
    bool failing;           /* the last write failed (stderr said so) */
    uint64_t failed_before; /* failed when writing started failing */
    char last_error[128];
};

static int jsonl_open_fd(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
}

static bool jsonl_fd_seekable(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static void jsonl_note_failure(struct jsonl_sink *j, int err)
{
    snprintf(j->last_error, sizeof(j->last_error), "%s", strerror(err));
    if (j->failing)
        return;
    j->failing = true;
    j->failed_before = j->base.failed;
    fprintf(stderr,
            "siptapd: output %s: cannot write: %s; events are counted as failed until writing "
            "works again\n",
            j->base.name, j->last_error);
}

static void jsonl_note_success(struct jsonl_sink *j)
{
    if (!j->failing)
        return;
    j->failing = false;
    fprintf(stderr, "siptapd: output %s: writing again (%llu events failed meanwhile)\n",
            j->base.name, (unsigned long long)(j->base.failed - j->failed_before));
}

/* Takes the head record off the queue as delivered or failed. */
static void jsonl_settle_head(struct jsonl_sink *j, bool written)
{
    if (written)
        j->base.delivered++;
    else
        j->base.failed++;
    sink_queue_pop(&j->base);
}

/* The first done bytes of rec's line are in the file: writes the rest, or
 * cuts those bytes back off. true if the whole line is in. */
static bool jsonl_finish_line(struct jsonl_sink *j, const struct event_record *rec, size_t done)
{
    size_t line_len = rec->len + 1;
    while (done < line_len) {
        ssize_t n = done < rec->len ? write(j->fd, rec->text + done, rec->len - done)
                                    : write(j->fd, "\n", 1);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        int err = n < 0 ? errno : ENOSPC;
        off_t end = j->seekable ? lseek(j->fd, 0, SEEK_END) : -1;
        if (end < (off_t)done || ftruncate(j->fd, end - (off_t)done) != 0)
            fprintf(stderr, "siptapd: output %s: a cut line could not be removed: %s\n",
                    j->base.name, strerror(errno));
        jsonl_note_failure(j, err);
        return false;
    }
    return true;
}

/* One writev of up to JSONL_LINES_PER_WRITE queued lines; settles the head
 * records it covers. false when nothing more can be written now. */
static bool jsonl_write_some(struct jsonl_sink *j)
{
    struct sink *s = &j->base;
    struct iovec iov[2 * JSONL_LINES_PER_WRITE];
    size_t lines = 0;
    struct event_record *rec;
    while (lines < JSONL_LINES_PER_WRITE && (rec = sink_queue_peek(s, lines)) != NULL) {
        iov[2 * lines] = (struct iovec){rec->text, rec->len};
        iov[2 * lines + 1] = (struct iovec){"\n", 1};
        lines++;
    }
    ssize_t n = writev(j->fd, iov, (int)(2 * lines));
    if (n < 0 && errno == EINTR)
        return true;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return false; /* a non-blocking stdout is full: the next iteration retries */
    if (n <= 0) {
        jsonl_note_failure(j, n < 0 ? errno : ENOSPC);
        jsonl_settle_head(j, false);
        return true;
    }
    size_t left = (size_t)n;
    while (left > 0) {
        rec = sink_queue_peek(s, 0);
        if (left <= rec->len) {
            jsonl_settle_head(j, jsonl_finish_line(j, rec, left));
            return true;
        }
        left -= rec->len + 1;
        jsonl_settle_head(j, true);
    }
    jsonl_note_success(j);
    return true;
}

static void jsonl_write_queued(struct jsonl_sink *j)
{
    struct sink *s = &j->base;
    if (j->fd < 0) {
        while (sink_queue_count(s) > 0)
            jsonl_settle_head(j, false);
        return;
    }
    while (sink_queue_count(s) > 0 && jsonl_write_some(j))
        ;
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    jsonl_write_queued(w->data);
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
    size_t batch = s->queue.capacity / 2 < JSONL_BATCH ? s->queue.capacity / 2 : JSONL_BATCH;
    if (!j->loop || sink_queue_count(s) > batch)
        jsonl_write_queued(j);
}

static void jsonl_drain(struct sink *s, double timeout_s)
{
    (void)timeout_s;
    jsonl_write_queued((struct jsonl_sink *)s);
}

static void jsonl_reopen(struct sink *s)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    if (!j->path)
        return;
    int fd = jsonl_open_fd(j->path);
    if (fd < 0) {
        fprintf(stderr, "siptapd: cannot reopen %s: %s (keeping the old file)\n", j->path,
                strerror(errno));
        return;
    }
    jsonl_write_queued(j);
    if (j->fd >= 0)
        close(j->fd);
    j->fd = fd;
    j->seekable = jsonl_fd_seekable(fd);
}

static void jsonl_add_stats(const struct sink *s, json_t *obj)
{
    const struct jsonl_sink *j = (const struct jsonl_sink *)s;
    json_object_set_new(obj, "writable", json_boolean(j->fd >= 0 && !j->failing));
    if (j->last_error[0])
        json_object_set_new(obj, "last_error", json_string(j->last_error));
}

static void jsonl_destroy(struct sink *s)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    jsonl_write_queued(j);
    if (j->loop) {
        ev_ref(j->loop);
        ev_prepare_stop(j->loop, &j->flusher);
    }
    if (j->fd >= 0 && j->path)
        close(j->fd);
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
    .add_stats = jsonl_add_stats,
    .destroy = jsonl_destroy,
};

struct sink *jsonl_sink_new_stdout(size_t queue_size)
{
    struct jsonl_sink *j = calloc(1, sizeof(*j));
    if (!j || !sink_base_init(&j->base, &jsonl_ops, "stdout", queue_size)) {
        free(j);
        return NULL;
    }
    fflush(stdout); /* anything stdio holds goes before the first line */
    j->fd = STDOUT_FILENO;
    j->seekable = jsonl_fd_seekable(j->fd);
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
    j->fd = jsonl_open_fd(path);
    if (j->fd < 0) {
        snprintf(err, errlen, "cannot open output file %s: %s", path, strerror(errno));
        free(j->path);
        sink_base_destroy(&j->base);
        free(j);
        return NULL;
    }
    j->seekable = jsonl_fd_seekable(j->fd);
    return &j->base;
}

/*
 * capture: see capture.h. The batch size bounds how long one callback keeps
 * the loop busy, so signals and sinks get their turn during a long replay;
 * live and from a pipe, CHUNKS_PER_WAKE does the same for the queue's
 * chunks.
 */
#include "daemon/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CAPTURE_BATCH      512
#define DEFAULT_TIMEOUT_MS 10
#define DEFAULT_QUEUE_MB   256
/* Chunks the loop processes per wake-up before other watchers run. */
#define CHUNKS_PER_WAKE 4
/* How often the thread reads pcap_stats (a getsockopt and /proc/net/dev). */
#define STATS_INTERVAL_NS 100000000u
/* A pipe's stdio buffer: a Linux pipe's own capacity, read in one go. */
#define PIPE_READ_BYTES (64 * 1024)
/* A pipe's thread, out of memory for a chunk, tries again this often. */
#define ROOM_RETRY_MS 100

static void flush(struct capture *c)
{
    size_t n = c->held_count;
    c->held_count = 0;
    c->arena_used = 0;
    if (n)
        c->on_batch(c->user, c->held, n);
}

static void deliver(u_char *user, const struct pcap_pkthdr *hdr, const u_char *bytes)
{
    struct capture *c = (struct capture *)user;
    size_t len = hdr->caplen;
    if (!c->arena || len > CAPTURE_ARENA_BYTES) {
        flush(c);
        struct capture_frame alone = {*hdr, bytes};
        c->on_batch(c->user, &alone, 1);
        return;
    }
    if (c->held_count == CAPTURE_BATCH_FRAMES || len > CAPTURE_ARENA_BYTES - c->arena_used)
        flush(c);
    uint8_t *copy = c->arena + c->arena_used;
    memcpy(copy, bytes, len);
    /* Each copy starts a cache line, as libpcap's own buffer would. */
    size_t used = c->arena_used + ((len + 63) & ~(size_t)63);
    c->arena_used = used < CAPTURE_ARENA_BYTES ? used : CAPTURE_ARENA_BYTES;
    c->held[c->held_count++] = (struct capture_frame){*hdr, copy};
}

/* pcap_dispatch, then the frames it read that still wait in the batch. */
static int dispatch(struct capture *c)
{
    int n = pcap_dispatch(c->pcap, CAPTURE_BATCH, deliver, (u_char *)c);
    flush(c);
    return n;
}

static enum capture_error apply_filter(struct capture *c, const char *bpf, char *err, size_t errlen)
{
    if (!bpf || !*bpf)
        return CAPTURE_OK;
    struct bpf_program prog;
    if (pcap_compile(c->pcap, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "bad capture filter '%s': %s", bpf, pcap_geterr(c->pcap));
        return CAPTURE_ERR_FILTER;
    }
    int rc = pcap_setfilter(c->pcap, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        snprintf(err, errlen, "cannot set capture filter: %s", pcap_geterr(c->pcap));
        return CAPTURE_ERR_FAILED;
    }
    return CAPTURE_OK;
}

/* The last step of opening: the filter, or the capture closed again. */
static enum capture_error filter_or_close(struct capture *c, const char *bpf, char *err,
                                          size_t errlen)
{
    enum capture_error rc = apply_filter(c, bpf, err, errlen);
    if (rc != CAPTURE_OK)
        capture_close(c);
    return rc;
}

/* What a failed pcap_activate says went wrong. */
static enum capture_error activate_error(int rc)
{
    switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        return CAPTURE_ERR_NO_SUCH_SOURCE;
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        return CAPTURE_ERR_NO_PERMISSION;
    default:
        return CAPTURE_ERR_FAILED;
    }
}

enum capture_error capture_open_live(struct capture *c, const char *iface,
                                     const struct capture_options *o, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    memset(c, 0, sizeof(*c));
    c->live = true;
    c->pipe_fd = c->wake_fd = -1;
    snprintf(c->source, sizeof(c->source), "%s", iface);
    if (o->buffer_mb < 1 || o->buffer_mb > CAPTURE_MAX_BUFFER_MB) {
        snprintf(err, errlen, "capture buffer of %u MiB: libpcap takes 1 to %d MiB", o->buffer_mb,
                 CAPTURE_MAX_BUFFER_MB);
        return CAPTURE_ERR_OPTIONS;
    }
    c->pcap = pcap_create(iface, ebuf);
    if (!c->pcap) {
        snprintf(err, errlen, "cannot open interface %s: %s", iface, ebuf);
        return CAPTURE_ERR_FAILED;
    }
    unsigned timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    size_t queue_bytes = (size_t)(o->queue_mb ? o->queue_mb : DEFAULT_QUEUE_MB) << 20;
    if (!capture_queue_init(&c->queue, queue_bytes)) {
        snprintf(err, errlen, "out of memory for the capture queue");
        capture_close(c);
        return CAPTURE_ERR_FAILED;
    }
    pcap_set_snaplen(c->pcap, (int)o->snaplen);
    pcap_set_promisc(c->pcap, 1);
    /* Not immediate: TPACKET_V3 blocks, handed over full or after timeout_ms. */
    pcap_set_immediate_mode(c->pcap, 0);
    pcap_set_timeout(c->pcap, (int)timeout_ms);
    pcap_set_buffer_size(c->pcap, (int)((size_t)o->buffer_mb << 20));
    int rc = pcap_activate(c->pcap);
    if (rc < 0) {
        snprintf(err, errlen, "cannot capture on %s: %s", iface, pcap_geterr(c->pcap));
        capture_close(c); /* the queue too: a caller may go on (the tests do) */
        return activate_error(rc);
    }
    return filter_or_close(c, o->bpf, err, errlen);
}

static bool stopping(struct capture *c)
{
    return atomic_load_explicit(&c->stop_thread, memory_order_acquire);
}

static void push_filling(struct capture *c);

/* Empties the eventfd the loop writes (the thread's side). */
static void drain_wake(struct capture *c)
{
    uint64_t count;
    ssize_t n = read(c->wake_fd, &count, sizeof(count)); /* EAGAIN: it was empty */
    (void)n;
}

/* The loop's side: the thread is to look at the stop flag and the queue. */
static void wake_pipe_thread(struct capture *c)
{
    uint64_t one = 1;
    ssize_t n = write(c->wake_fd, &one, sizeof(one)); /* EAGAIN: a word is waiting already */
    (void)n;
}

/* The pipe's FILE reads here (fopencookie): what the pipe has, or the end
 * (0); waits in poll for data or the loop's word, never in read, and hands
 * the frames the thread holds to the loop before it waits. A stop fails the
 * read (ECANCELED): pcap's read then returns PCAP_ERROR. */
static ssize_t pipe_read(void *cookie, char *buf, size_t size)
{
    struct capture *c = cookie;
    for (;;) {
        struct pollfd p[2] = {{.fd = c->pipe_fd, .events = POLLIN},
                              {.fd = c->wake_fd, .events = POLLIN}};
        int ready = poll(p, 2, 0);
        if (ready == 0) {
            push_filling(c);
            ready = poll(p, 2, -1);
        }
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready > 0 && p[1].revents)
            drain_wake(c);
        if (stopping(c)) {
            errno = ECANCELED;
            return -1;
        }
        if (ready > 0 && p[0].revents) {
            ssize_t n = read(c->pipe_fd, buf, size);
            if (n >= 0 || (errno != EINTR && errno != EAGAIN))
                return n;
        }
    }
}

static int pipe_close(void *cookie)
{
    struct capture *c = cookie;
    int rc = close(c->pipe_fd);
    c->pipe_fd = -1;
    return rc;
}

/* -r of a pipe (fd, not a regular file): pcap reads it through pipe_read,
 * frames go through a queue of at most PIPE_QUEUE_MB. NULL: the reason in
 * err (fd closed). */
static FILE *open_pipe(struct capture *c, int fd, const struct capture_options *o, char *err,
                       size_t errlen)
{
    c->pipe = true;
    c->pipe_fd = fd;
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    unsigned queue_mb = o->queue_mb ? o->queue_mb : DEFAULT_QUEUE_MB;
    if (queue_mb > PIPE_QUEUE_MB)
        queue_mb = PIPE_QUEUE_MB;
    FILE *f = NULL;
    if (c->wake_fd >= 0 && capture_queue_init(&c->queue, (size_t)queue_mb << 20))
        f = fopencookie(c, "rb", (cookie_io_functions_t){.read = pipe_read, .close = pipe_close});
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %m", c->source);
        close(fd);
        c->pipe_fd = -1;
        return NULL;
    }
    /* glibc sizes a buffer it allocates itself at BUFSIZ (8 KiB) here. */
    c->pipe_buffer = malloc(PIPE_READ_BYTES);
    if (c->pipe_buffer)
        setvbuf(f, c->pipe_buffer, _IOFBF, PIPE_READ_BYTES);
    return f;
}

/* What a failed open(2) of a capture file says went wrong. */
static enum capture_error open_error(int errnum)
{
    if (errnum == ENOENT || errnum == ENOTDIR)
        return CAPTURE_ERR_NO_SUCH_SOURCE;
    if (errnum == EACCES || errnum == EPERM)
        return CAPTURE_ERR_NO_PERMISSION;
    return CAPTURE_ERR_FAILED;
}

enum capture_error capture_open_file(struct capture *c, const char *path,
                                     const struct capture_options *o, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    memset(c, 0, sizeof(*c));
    c->pipe_fd = c->wake_fd = -1;
    snprintf(c->source, sizeof(c->source), "%s", path);
    /* "-" is standard input, as for tcpdump -r: a capture piped in (from a
     * generator, ssh, zcat) is read as it comes, like a FIFO. */
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        enum capture_error why = open_error(errno);
        snprintf(err, errlen, "cannot read %s: %m", path);
        return why;
    }
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    FILE *f = regular ? fdopen(fd, "rb") : open_pipe(c, fd, o, err, errlen);
    if (!f) {
        if (regular) {
            snprintf(err, errlen, "cannot read %s: %m", path);
            close(fd);
        }
        capture_close(c);
        return CAPTURE_ERR_FAILED;
    }
    bool netmon = false;
    if (regular) { /* a pipe cannot be peeked at and rewound */
        c->file_size = st.st_size;
        char magic[4] = "";
        netmon = fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
                 (!memcmp(magic, "GMBU", 4) || !memcmp(magic, "RTSS", 4));
        rewind(f);
    }
    c->pcap = pcap_fopen_offline(f, ebuf);
    if (!c->pcap) {
        fclose(f);
        capture_close(c);
        if (netmon)
            snprintf(err, errlen,
                     "cannot read %s: a Microsoft Network Monitor capture, which libpcap cannot "
                     "read; convert it first: editcap -F pcapng %s out.pcapng",
                     path, path);
        else
            snprintf(err, errlen, "cannot read %s: %s", path, ebuf);
        return CAPTURE_ERR_NOT_A_CAPTURE;
    }
    return filter_or_close(c, o->bpf, err, errlen);
}

int capture_datalink(const struct capture *c)
{
    return pcap_datalink(c->pcap);
}

/* ---- live and pipe: the capture thread ---- */

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* pcap_stats' counters are 32-bit on Linux and wrap: the totals add deltas. */
static void read_stats(struct capture *c, bool now)
{
    uint64_t t = monotonic_ns();
    if (!now && t - c->stats.last_ns < STATS_INTERVAL_NS)
        return;
    c->stats.last_ns = t;
    struct pcap_stat st;
    if (pcap_stats(c->pcap, &st) != 0)
        return;
    struct capture_queue *q = &c->queue;
    atomic_fetch_add_explicit(&q->received, (unsigned)(st.ps_recv - c->stats.recv),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&q->kernel_drops, (unsigned)(st.ps_drop - c->stats.drop),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&q->if_drops, (unsigned)(st.ps_ifdrop - c->stats.ifdrop),
                              memory_order_relaxed);
    c->stats.recv = st.ps_recv;
    c->stats.drop = st.ps_drop;
    c->stats.ifdrop = st.ps_ifdrop;
}

static void push_filling(struct capture *c)
{
    struct capture_chunk *k = c->filling;
    if (!k || k->count == 0)
        return;
    c->filling = NULL;
    capture_queue_push(&c->queue, k);
    ev_async_send(c->loop, &c->wake);
}

/* Pipe: a chunk to fill, waiting while the queue is at its bound until the
 * loop gives one back (it says so on wake_fd), or, memory exhausted below
 * the bound, trying again every ROOM_RETRY_MS. NULL only when stopping: a
 * pipe's frames are never dropped. */
static struct capture_chunk *acquire_waiting(struct capture *c)
{
    struct capture_chunk *k;
    while (!(k = capture_queue_acquire(&c->queue)) && !stopping(c)) {
        struct pollfd p = {.fd = c->wake_fd, .events = POLLIN};
        if (poll(&p, 1, ROOM_RETRY_MS) > 0)
            drain_wake(c);
    }
    return k;
}

static void enqueue(u_char *user, const struct pcap_pkthdr *hdr, const u_char *bytes)
{
    struct capture *c = (struct capture *)user;
    struct pcap_pkthdr h = *hdr;
    if (h.caplen > CAPTURE_CHUNK_BYTES)
        h.caplen = CAPTURE_CHUNK_BYTES;
    size_t need = ((size_t)h.caplen + 15) & ~(size_t)15;
    struct capture_chunk *k = c->filling;
    if (k && (k->count == CAPTURE_CHUNK_FRAMES || need > CAPTURE_CHUNK_BYTES - k->used)) {
        push_filling(c);
        k = NULL;
    }
    if (!k && !(k = c->filling = c->pipe ? acquire_waiting(c) : capture_queue_acquire(&c->queue))) {
        if (!c->pipe) /* live; a pipe's thread is stopping */
            capture_queue_note_drop(&c->queue);
        return;
    }
    /* need fits: checked above, or the chunk is fresh and need is at most
     * CAPTURE_CHUNK_BYTES (a multiple of 16). */
    uint8_t *copy = k->bytes + k->used;
    memcpy(copy, bytes, h.caplen);
    k->used += need;
    k->frames[k->count++] = (struct capture_frame){h, copy};
}

static void *capture_thread(void *arg)
{
    struct capture *c = arg;
    while (!atomic_load_explicit(&c->stop_thread, memory_order_acquire)) {
        /* Blocks until a block of the ring is ready or the timeout passes. */
        int n = pcap_dispatch(c->pcap, -1, enqueue, (u_char *)c);
        read_stats(c, false);
        push_filling(c);
        if (n == PCAP_ERROR) {
            snprintf(c->error, sizeof(c->error), "capture on %s failed: %s", c->source,
                     pcap_geterr(c->pcap));
            atomic_store_explicit(&c->failed, true, memory_order_release);
            ev_async_send(c->loop, &c->wake);
            break;
        }
    }
    read_stats(c, true);
    push_filling(c);
    return NULL;
}

/* Pipe: reads to the end, or to an error (its message in c->error), or
 * until the loop stops it; then says it ended. */
static void *pipe_thread(void *arg)
{
    struct capture *c = arg;
    int n;
    do
        n = pcap_dispatch(c->pcap, CAPTURE_CHUNK_FRAMES, enqueue, (u_char *)c);
    while (n > 0 && !stopping(c));
    if (n < 0 && !stopping(c))
        snprintf(c->error, sizeof(c->error), "%s", pcap_geterr(c->pcap));
    push_filling(c);
    atomic_store_explicit(&c->ended, true, memory_order_release);
    ev_async_send(c->loop, &c->wake);
    return NULL;
}

static void deliver_chunk(struct capture *c, struct capture_chunk *k)
{
    c->delivered_loss = k->loss;
    c->on_batch(c->user, k->frames, k->count);
    capture_queue_release(&c->queue, k);
    if (c->pipe) /* room for a thread that waits for it */
        wake_pipe_thread(c);
}

/* Pipe: its end is the capture's once every frame before it was processed,
 * as at the end of a file. */
static void end_of_pipe(struct capture *c)
{
    if (c->error[0])
        fprintf(stderr, "siptapd: reading %s: %s (stopping at this point)\n", c->source, c->error);
    capture_stop(c);
    if (c->on_end)
        c->on_end(c->user);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)revents;
    struct capture *c = w->data;
    /* Read before the queue: the thread pushes its last chunk, then ends. */
    bool ended = atomic_load_explicit(&c->ended, memory_order_acquire);
    struct capture_chunk *k;
    for (int i = 0; i < CHUNKS_PER_WAKE && c->running && (k = capture_queue_pop(&c->queue)); i++)
        deliver_chunk(c, k);
    if (!c->running)
        return;
    if (ended && !capture_queue_backlog(&c->queue)) {
        end_of_pipe(c);
        return;
    }
    if (atomic_load_explicit(&c->failed, memory_order_acquire)) {
        fprintf(stderr, "siptapd: %s (stopping)\n", c->error);
        capture_stop(c);
        if (c->on_end)
            c->on_end(c->user);
        return;
    }
    /* More waiting: come back after the other watchers had their turn. */
    if (capture_queue_backlog(&c->queue))
        ev_async_send(loop, w);
}

static void start_thread(struct capture *c)
{
    sigset_t all, old;
    sigfillset(&all);
    /* Signals are the loop's (ev_signal): the thread takes none. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    c->thread_started =
        pthread_create(&c->thread, NULL, c->pipe ? pipe_thread : capture_thread, c) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!c->thread_started) {
        snprintf(c->error, sizeof(c->error), "cannot start the capture thread");
        atomic_store(&c->failed, true);
        ev_async_send(c->loop, &c->wake);
    }
}

static void join_thread(struct capture *c)
{
    if (!c->thread_started)
        return;
    atomic_store_explicit(&c->stop_thread, true, memory_order_release);
    pcap_breakloop(c->pcap);
    if (c->pipe)
        wake_pipe_thread(c);
    pthread_join(c->thread, NULL);
    c->thread_started = false;
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    struct capture *c = w->data;
    int n = dispatch(c);
    if (n == 0 || n == PCAP_ERROR || n == PCAP_ERROR_BREAK) {
        if (n == PCAP_ERROR)
            fprintf(stderr, "siptapd: reading %s: %s (stopping at this point)\n", c->source,
                    pcap_geterr(c->pcap));
        capture_stop(c);
        if (c->on_end)
            c->on_end(c->user);
    }
}

void capture_start(struct capture *c, struct ev_loop *loop, capture_batch_fn on_batch,
                   capture_end_fn on_end, void *user)
{
    c->loop = loop;
    c->on_batch = on_batch;
    if (!c->arena)
        c->arena = aligned_alloc(64, CAPTURE_ARENA_BYTES);
    c->held_count = 0;
    c->arena_used = 0;
    c->on_end = on_end;
    c->user = user;
    c->running = true;
    if (c->live || c->pipe) {
        ev_async_init(&c->wake, on_wake);
        c->wake.data = c;
        ev_async_start(loop, &c->wake);
        start_thread(c);
    } else {
        ev_idle_init(&c->idle, on_idle);
        c->idle.data = c;
        ev_idle_start(loop, &c->idle);
    }
}

void capture_stop(struct capture *c)
{
    if (!c->running)
        return;
    c->running = false;
    if (!c->live && !c->pipe) {
        ev_idle_stop(c->loop, &c->idle);
        return;
    }
    /* Everything the thread captured is processed before the stop returns. */
    join_thread(c);
    struct capture_chunk *k;
    while ((k = capture_queue_pop(&c->queue)))
        deliver_chunk(c, k);
    ev_async_stop(c->loop, &c->wake);
}

void capture_loss_now(const struct capture *c, struct capture_loss *loss)
{
    if (c->live || c->pipe)
        capture_queue_loss(&c->queue, loss);
    else
        *loss = (struct capture_loss){0};
}

uint64_t capture_received(const struct capture *c)
{
    return c->live ? atomic_load_explicit(&c->queue.received, memory_order_relaxed) : 0;
}

const struct capture_loss *capture_delivered_loss(const struct capture *c)
{
    return &c->delivered_loss;
}

uint64_t capture_loss_total(const struct capture_loss *l)
{
    return l->kernel_drops + l->if_drops + l->queue_drops;
}

size_t capture_backlog(const struct capture *c)
{
    return (c->live || c->pipe) && c->queue.full.slot ? capture_queue_backlog(&c->queue) : 0;
}

size_t capture_queue_peak_bytes(const struct capture *c)
{
    if (!c->live && !c->pipe)
        return 0;
    return atomic_load_explicit(&c->queue.peak_chunks, memory_order_relaxed) *
           capture_queue_chunk_size();
}

bool capture_failed(const struct capture *c)
{
    return atomic_load_explicit(&c->failed, memory_order_acquire);
}

double capture_progress(const struct capture *c)
{
    if (c->live || c->pipe || !c->pcap || c->file_size <= 0)
        return -1;
    FILE *f = pcap_file(c->pcap);
    if (!f)
        return -1;
    long pos = ftell(f);
    return pos < 0 ? -1 : (double)pos / (double)c->file_size;
}

void capture_close(struct capture *c)
{
    if (c->pcap)
        join_thread(c); /* stopped without capture_stop: its frames are dropped */
    if (c->filling)
        free(c->filling);
    c->filling = NULL;
    if (c->live || c->pipe)
        capture_queue_destroy(&c->queue);
    if (c->pcap)
        pcap_close(c->pcap); /* a pipe's FILE closes pipe_fd (pipe_close) */
    c->pcap = NULL;
    if (c->pipe && c->wake_fd >= 0)
        close(c->wake_fd);
    c->wake_fd = -1;
    free(c->pipe_buffer); /* after the FILE it served */
    c->pipe_buffer = NULL;
    free(c->arena);
    c->arena = NULL;
}

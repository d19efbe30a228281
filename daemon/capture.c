/*
 * capture: see capture.h. The batch size bounds how long one callback keeps
 * the loop busy, so signals and sinks get their turn during a long replay.
 */
#include "daemon/capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAPTURE_BATCH 512

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

static int apply_filter(struct capture *c, const char *bpf, char *err, size_t errlen)
{
    if (!bpf || !*bpf)
        return 0;
    struct bpf_program prog;
    if (pcap_compile(c->pcap, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "bad capture filter '%s': %s", bpf, pcap_geterr(c->pcap));
        return -1;
    }
    int rc = pcap_setfilter(c->pcap, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        snprintf(err, errlen, "cannot set capture filter: %s", pcap_geterr(c->pcap));
        return -1;
    }
    return 0;
}

int capture_open_live(struct capture *c, const char *iface, const struct capture_options *o,
                      char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    memset(c, 0, sizeof(*c));
    c->live = true;
    snprintf(c->source, sizeof(c->source), "%s", iface);
    c->pcap = pcap_create(iface, ebuf);
    if (!c->pcap) {
        snprintf(err, errlen, "cannot open interface %s: %s", iface, ebuf);
        return -1;
    }
    pcap_set_snaplen(c->pcap, (int)o->snaplen);
    pcap_set_promisc(c->pcap, 1);
    pcap_set_immediate_mode(c->pcap, 1);
    pcap_set_buffer_size(c->pcap, (int)(o->buffer_mb * 1024u * 1024u));
    int rc = pcap_activate(c->pcap);
    if (rc < 0) {
        snprintf(err, errlen, "cannot capture on %s: %s", iface, pcap_geterr(c->pcap));
        pcap_close(c->pcap);
        c->pcap = NULL;
        return -1;
    }
    if (pcap_setnonblock(c->pcap, 1, ebuf) != 0) {
        snprintf(err, errlen, "cannot make %s non-blocking: %s", iface, ebuf);
        capture_close(c);
        return -1;
    }
    if (apply_filter(c, o->bpf, err, errlen) != 0) {
        capture_close(c);
        return -1;
    }
    return 0;
}

int capture_open_file(struct capture *c, const char *path, const struct capture_options *o,
                      char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    memset(c, 0, sizeof(*c));
    snprintf(c->source, sizeof(c->source), "%s", path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %m", path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) == 0)
        c->file_size = ftell(f);
    rewind(f);
    c->pcap = pcap_fopen_offline(f, ebuf);
    if (!c->pcap) {
        fclose(f);
        snprintf(err, errlen, "cannot read %s: %s", path, ebuf);
        return -1;
    }
    if (apply_filter(c, o->bpf, err, errlen) != 0) {
        capture_close(c);
        return -1;
    }
    return 0;
}

int capture_datalink(const struct capture *c)
{
    return pcap_datalink(c->pcap);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct capture *c = w->data;
    /* Drain what the kernel holds, a batch at a time, up to a bound so one
     * flood cannot starve timers and sinks. */
    for (int i = 0; i < 64 && c->running; i++) {
        int n = dispatch(c);
        if (n <= 0)
            break;
    }
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
    if (c->live) {
        ev_io_init(&c->io, on_readable, pcap_get_selectable_fd(c->pcap), EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
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
    if (c->live)
        ev_io_stop(c->loop, &c->io);
    else
        ev_idle_stop(c->loop, &c->idle);
}

bool capture_kernel_stats(struct capture *c, uint64_t *received, uint64_t *dropped,
                          uint64_t *if_dropped)
{
    struct pcap_stat st;
    if (!c->pcap || !c->live || pcap_stats(c->pcap, &st) != 0)
        return false;
    *received = st.ps_recv;
    *dropped = st.ps_drop;
    *if_dropped = st.ps_ifdrop;
    return true;
}

double capture_progress(const struct capture *c)
{
    if (c->live || !c->pcap || c->file_size <= 0)
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
        pcap_close(c->pcap);
    c->pcap = NULL;
    free(c->arena);
    c->arena = NULL;
}

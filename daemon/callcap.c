/*
 * callcap: see callcap.h.
 *
 * Per call, a struct callrec (found by call pointer in the one hash table)
 * holds three stores of frame records: SIP frames appended to a buf, the
 * first RTP frames appended to another buf, and the last RTP frames in a ring
 * of fixed slots allocated once, at the call's first RTP frame after the head
 * is full. Each record carries the frame's number in capture order, so
 * writing is a merge by number and a frame attributed twice (two SIP
 * messages in one TCP segment) is kept once. Media records also carry their
 * rank among the call's media frames, so a gap in the ranks is where the
 * file says frames were cut. SIP records are masked (daemon/redact.h) as
 * they are copied. Files are built in memory as pcapng, written to a
 * temporary name and renamed, so a reader never sees half a capture.
 */
#include "daemon/callcap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hashtab.h"
#include "core/timefmt.h"
#include "daemon/redact.h"

#define CALLCAP_SIP_BYTES_MAX (1024u * 1024u) /* per call, whatever sip_max says */
#define CALLCAP_FRAME_MAX     65535u

/* A frame as kept: this header, then caplen bytes. */
struct frame_rec {
    uint64_t ts_us;
    uint64_t number;
    uint32_t caplen, len;
    uint32_t media_seq; /* RTP/RTCP frames: 1, 2, 3... in the call; SIP: 0 */
    uint32_t unused;
};

struct callrec {
    struct call *call; /* key */
    struct buf sip, head;
    unsigned sip_count, head_count;
    uint8_t *tail; /* rtp_tail slots, NULL until needed */
    unsigned tail_next, tail_count;
    uint32_t media_seen; /* RTP/RTCP frames offered, kept or not */
    uint64_t last_frame;
    uint64_t memory;
    bool flagged; /* an alert named this call */
    bool dirty;   /* frames kept since the file was written */
    char path[600];
};

/* The "callcap" group of counters, named once (core/counters.h). */
#define CALLCAP_COUNTERS(X)                                                                        \
    X(files_written)                                                                               \
    X(files_completed)                                                                             \
    X(write_failed)                                                                                \
    X(memory_full)                                                                                 \
    X(sip_frames_over_cap)                                                                         \
    X(files_deleted_for_space)                                                                     \
    X(table_full)                                                                                  \
    X(credentials_masked)                                                                          \
    X(masked_checksum_stale)

struct callcap {
    struct callcap_config cfg;
    struct call_table *calls;
    struct hashtab recs;
    int linktype;
    uint64_t memory;
    uint64_t dir_bytes; /* estimate; rescanned when it passes the cap */
    /* the frame being processed */
    const struct pcap_pkthdr *hdr;
    const uint8_t *data;
    uint64_t frame_number;
    bool frame_media;
    struct {
        COUNTERS_BLOCK(CALLCAP_COUNTERS);
    } c;
};

void callcap_config_defaults(struct callcap_config *c)
{
    memset(c, 0, sizeof(*c));
    c->enabled = true;
    snprintf(c->dir, sizeof(c->dir), "/var/lib/siptap/captures");
    c->dir_max_bytes = 1024ull * 1024 * 1024;
    c->sip_max = 200;
    c->rtp_head = 100;
    c->rtp_tail = 200;
    c->rtp_slot_bytes = 384;
    c->memory_max = 256ull * 1024 * 1024;
}

/* Records are padded to 8 bytes so every header stays aligned. */
static size_t padded(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

static size_t slot_size(const struct callcap *cc)
{
    return sizeof(struct frame_rec) + padded(cc->cfg.rtp_slot_bytes);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* ---- directory size cap ---- */

struct file_entry {
    time_t mtime;
    off_t size;
    char path[512];
};

struct file_list {
    struct file_entry *items;
    size_t count, cap;
    uint64_t total;
};

static void list_add(struct file_list *l, const char *path, const struct stat *st)
{
    if (l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        struct file_entry *n = realloc(l->items, ncap * sizeof(*n));
        if (!n)
            return;
        l->items = n;
        l->cap = ncap;
    }
    struct file_entry *e = &l->items[l->count++];
    e->mtime = st->st_mtime;
    e->size = st->st_size;
    snprintf(e->path, sizeof(e->path), "%s", path);
    l->total += (uint64_t)st->st_size;
}

/* DIR/<day>/<file>.pcap: two levels, nothing deeper is ours. */
static void scan_dir(const char *dir, struct file_list *l)
{
    DIR *top = opendir(dir);
    if (!top)
        return;
    struct dirent *de;
    while ((de = readdir(top)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char day[512];
        snprintf(day, sizeof(day), "%s/%s", dir, de->d_name);
        DIR *sub = opendir(day);
        if (!sub)
            continue;
        struct dirent *fe;
        while ((fe = readdir(sub)) != NULL) {
            size_t n = strlen(fe->d_name);
            if (n < 5 || strcmp(fe->d_name + n - 5, ".pcap") != 0)
                continue;
            char path[512];
            struct stat st;
            if (snprintf(path, sizeof(path), "%s/%s", day, fe->d_name) >= (int)sizeof(path))
                continue;
            if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
                list_add(l, path, &st);
        }
        closedir(sub);
    }
    closedir(top);
}

static int by_mtime(const void *a, const void *b)
{
    const struct file_entry *x = a, *y = b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

static void enforce_dir_cap(struct callcap *cc, const char *keep)
{
    if (cc->dir_bytes <= cc->cfg.dir_max_bytes)
        return;
    struct file_list l = {0};
    scan_dir(cc->cfg.dir, &l);
    qsort(l.items, l.count, sizeof(l.items[0]), by_mtime);
    /* Down to 90% so the next few files do not trigger another scan. */
    uint64_t target = cc->cfg.dir_max_bytes / 10 * 9;
    for (size_t i = 0; i < l.count && l.total > target; i++) {
        if (keep && strcmp(l.items[i].path, keep) == 0)
            continue;
        if (unlink(l.items[i].path) == 0) {
            l.total -= (uint64_t)l.items[i].size;
            (*cc->c.files_deleted_for_space)++;
            char *slash = strrchr(l.items[i].path, '/');
            if (slash) {
                *slash = '\0';
                (void)rmdir(l.items[i].path); /* only succeeds once the day is empty */
            }
        }
    }
    cc->dir_bytes = l.total;
    free(l.items);
}

/* ---- records ---- */

static void rec_free(struct callcap *cc, struct callrec *r)
{
    cc->memory -= r->memory;
    buf_free(&r->sip);
    buf_free(&r->head);
    free(r->tail);
    free(r);
}

static bool take_memory(struct callcap *cc, struct callrec *r, size_t n)
{
    if (cc->memory + n > cc->cfg.memory_max) {
        (*cc->c.memory_full)++;
        return false;
    }
    cc->memory += n;
    r->memory += n;
    return true;
}

static struct frame_rec frame_rec_now(const struct callcap *cc, uint32_t keep, uint32_t media_seq)
{
    return (struct frame_rec){.ts_us = timefmt_capture_us(cc->hdr->ts.tv_sec, cc->hdr->ts.tv_usec),
                              .number = cc->frame_number,
                              .caplen = keep,
                              .len = cc->hdr->len,
                              .media_seq = media_seq};
}

/* The copy's bytes, or NULL when it was not kept. */
static uint8_t *append_frame(struct callcap *cc, struct callrec *r, struct buf *b, uint32_t keep,
                             uint32_t media_seq)
{
    struct frame_rec fr = frame_rec_now(cc, keep, media_seq);
    static const uint8_t zeros[8];
    size_t before = b->len, size = sizeof(fr) + padded(keep);
    if (!take_memory(cc, r, size))
        return NULL;
    if (!buf_append(b, &fr, sizeof(fr)) || !buf_append(b, cc->data, keep) ||
        !buf_append(b, zeros, padded(keep) - keep)) {
        b->len = before;
        cc->memory -= size;
        r->memory -= size;
        return NULL;
    }
    return b->data + before + sizeof(fr);
}

static void keep_media(struct callcap *cc, struct callrec *r, uint32_t caplen)
{
    uint32_t keep = caplen < cc->cfg.rtp_slot_bytes ? caplen : cc->cfg.rtp_slot_bytes;
    uint32_t seq = ++r->media_seen;
    if (r->head_count < cc->cfg.rtp_head) {
        if (append_frame(cc, r, &r->head, keep, seq))
            r->head_count++;
        return;
    }
    if (cc->cfg.rtp_tail == 0)
        return;
    if (!r->tail) {
        size_t bytes = (size_t)cc->cfg.rtp_tail * slot_size(cc);
        if (!take_memory(cc, r, bytes))
            return;
        r->tail = malloc(bytes);
        if (!r->tail) {
            cc->memory -= bytes;
            r->memory -= bytes;
            return;
        }
    }
    uint8_t *slot = r->tail + (size_t)r->tail_next * slot_size(cc);
    struct frame_rec fr = frame_rec_now(cc, keep, seq);
    memcpy(slot, &fr, sizeof(fr));
    memcpy(slot + sizeof(fr), cc->data, keep);
    r->tail_next = (r->tail_next + 1) % cc->cfg.rtp_tail;
    if (r->tail_count < cc->cfg.rtp_tail)
        r->tail_count++;
}

/* A SIP frame, its credentials masked in the copy unless they are kept. */
static bool keep_sip(struct callcap *cc, struct callrec *r, uint32_t caplen)
{
    uint8_t *copy = r->sip_count < cc->cfg.sip_max ? append_frame(cc, r, &r->sip, caplen, 0) : NULL;
    if (!copy)
        return false;
    r->sip_count++;
    if (cc->cfg.keep_credentials)
        return true;
    struct redact_result red = redact_credentials(copy, caplen, cc->hdr->len, cc->linktype);
    *cc->c.credentials_masked += red.masked;
    *cc->c.masked_checksum_stale += red.checksum_stale;
    return true;
}

static void on_frame(void *user, struct call *c, uint64_t ts_us)
{
    (void)ts_us;
    struct callcap *cc = user;
    if (!cc->hdr)
        return;
    struct callrec *r = hashtab_find(&cc->recs, &c);
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return;
        r->call = c;
        buf_init(&r->sip, CALLCAP_SIP_BYTES_MAX);
        buf_init(&r->head, (size_t)cc->cfg.rtp_head * slot_size(cc));
        if (!hashtab_insert(&cc->recs, r)) {
            (*cc->c.table_full)++;
            rec_free(cc, r);
            return;
        }
    }
    if (r->last_frame == cc->frame_number)
        return;
    r->last_frame = cc->frame_number;
    uint32_t caplen = cc->hdr->caplen < CALLCAP_FRAME_MAX ? cc->hdr->caplen : CALLCAP_FRAME_MAX;
    if (cc->frame_media) {
        keep_media(cc, r, caplen);
    } else if (!keep_sip(cc, r, caplen)) {
        (*cc->c.sip_frames_over_cap)++;
        return;
    }
    r->dirty = true;
}

/* ---- writing ---- */

static void collect(const struct buf *b, const struct frame_rec **out, size_t *n)
{
    for (size_t off = 0; off + sizeof(struct frame_rec) <= b->len;) {
        const struct frame_rec *fr = (const struct frame_rec *)(b->data + off);
        out[(*n)++] = fr;
        off += sizeof(*fr) + padded(fr->caplen);
    }
}

static int by_number(const void *a, const void *b)
{
    const struct frame_rec *x = *(const struct frame_rec *const *)a;
    const struct frame_rec *y = *(const struct frame_rec *const *)b;
    return (x->number > y->number) - (x->number < y->number);
}

static bool write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        b += w;
        n -= (size_t)w;
    }
    return true;
}

/* ---- pcapng, in host byte order (readers detect it by the magic) ---- */

#define PCAPNG_SHB          0x0a0d0d0au
#define PCAPNG_IDB          1u
#define PCAPNG_EPB          6u
#define PCAPNG_OPT_END      0
#define PCAPNG_OPT_COMMENT  1
#define PCAPNG_OPT_USERAPPL 4
#define PCAPNG_COMMENT_MAX  256

static bool put32(struct buf *b, uint32_t v)
{
    return buf_append(b, &v, sizeof(v));
}

static bool put_padding(struct buf *b, size_t n)
{
    static const uint8_t zeros[4];
    return buf_append(b, zeros, (4 - n % 4) % 4);
}

static bool put_option(struct buf *b, uint16_t code, const char *text)
{
    size_t n = strlen(text);
    uint16_t h[2] = {code, (uint16_t)n};
    return buf_append(b, h, sizeof(h)) && buf_append(b, text, n) && put_padding(b, n);
}

/* A block starts with its type and a length filled in by block_end. */
static bool block_start(struct buf *b, uint32_t type, size_t *start)
{
    *start = b->len;
    return put32(b, type) && put32(b, 0);
}

static bool block_end(struct buf *b, size_t start, bool options)
{
    if (options && !put32(b, PCAPNG_OPT_END))
        return false;
    uint32_t total = (uint32_t)(b->len - start + 4);
    memcpy(b->data + start + 4, &total, sizeof(total));
    return put32(b, total);
}

/* The section header (saying what the file keeps) and the one interface. */
static bool put_header(const struct callcap *cc, struct buf *b)
{
    char note[PCAPNG_COMMENT_MAX];
    snprintf(note, sizeof(note),
             "siptap call capture: the call's SIP frames%s, its first %u and last %u RTP/RTCP "
             "frames, each cut to %u bytes",
             cc->cfg.keep_credentials ? "" : " (digest responses masked)", cc->cfg.rtp_head,
             cc->cfg.rtp_tail, cc->cfg.rtp_slot_bytes);
    size_t shb, idb;
    const uint16_t version[2] = {1, 0};
    const int64_t section_length = -1;
    const uint16_t link[2] = {(uint16_t)cc->linktype, 0};
    return block_start(b, PCAPNG_SHB, &shb) && put32(b, 0x1a2b3c4du) &&
           buf_append(b, version, sizeof(version)) &&
           buf_append(b, &section_length, sizeof(section_length)) &&
           put_option(b, PCAPNG_OPT_COMMENT, note) &&
           put_option(b, PCAPNG_OPT_USERAPPL, "siptap") && block_end(b, shb, true) &&
           block_start(b, PCAPNG_IDB, &idb) && buf_append(b, link, sizeof(link)) &&
           put32(b, CALLCAP_FRAME_MAX) && block_end(b, idb, false);
}

static bool put_frame(struct buf *b, const struct frame_rec *fr, const char *comment)
{
    size_t epb;
    const uint8_t *data = (const uint8_t *)fr + sizeof(*fr);
    return block_start(b, PCAPNG_EPB, &epb) && put32(b, 0) &&
           put32(b, (uint32_t)(fr->ts_us >> 32)) && put32(b, (uint32_t)fr->ts_us) &&
           put32(b, fr->caplen) && put32(b, fr->len) && buf_append(b, data, fr->caplen) &&
           put_padding(b, fr->caplen) && (!comment || put_option(b, PCAPNG_OPT_COMMENT, comment)) &&
           block_end(b, epb, comment != NULL);
}

/* The comment for a media frame after frames that were not kept (seq
 * jumps), or for the last one kept when the call's last ones were not. */
static const char *cut_comment(const struct callrec *r, const struct frame_rec *fr,
                               uint32_t prev_seq, bool last_media, char *out, size_t outlen)
{
    if (fr->media_seq > prev_seq + 1) {
        snprintf(out, outlen,
                 "siptap: %u RTP/RTCP frames of this call were not kept before this one "
                 "(call capture cut); loss computed across this point is not the call's",
                 fr->media_seq - prev_seq - 1);
        return out;
    }
    if (last_media && r->media_seen > fr->media_seq) {
        snprintf(out, outlen,
                 "siptap: %u RTP/RTCP frames of this call after this one were not kept "
                 "(call capture cut)",
                 r->media_seen - fr->media_seq);
        return out;
    }
    return NULL;
}

static bool put_frames(struct buf *b, const struct callrec *r, const struct frame_rec **frames,
                       size_t n)
{
    size_t last_media = n;
    for (size_t i = 0; i < n; i++)
        if (frames[i]->media_seq)
            last_media = i;
    uint32_t prev_seq = 0;
    for (size_t i = 0; i < n; i++) {
        char text[PCAPNG_COMMENT_MAX];
        const char *comment = NULL;
        if (frames[i]->media_seq) {
            comment = cut_comment(r, frames[i], prev_seq, i == last_media, text, sizeof(text));
            prev_seq = frames[i]->media_seq;
        }
        if (!put_frame(b, frames[i], comment))
            return false;
    }
    return true;
}

static bool write_file(const char *path, const struct buf *b)
{
    char tmp[640];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0)
        return false;
    bool ok = write_all(fd, b->data, b->len);
    if (close(fd) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return false;
    }
    return true;
}

static bool write_pcap(struct callcap *cc, struct callrec *r, const char *path)
{
    size_t max = (size_t)r->sip_count + r->head_count + r->tail_count;
    const struct frame_rec **frames = calloc(max ? max : 1, sizeof(*frames));
    if (!frames)
        return false;
    size_t n = 0;
    collect(&r->sip, frames, &n);
    collect(&r->head, frames, &n);
    for (unsigned i = 0; i < r->tail_count; i++)
        frames[n++] = (const struct frame_rec *)(r->tail + (size_t)i * slot_size(cc));
    qsort(frames, n, sizeof(frames[0]), by_number);

    /* Each block adds at most its headers, padding and one comment. */
    struct buf out;
    buf_init(&out, 2 * PCAPNG_COMMENT_MAX + 128 + n * (PCAPNG_COMMENT_MAX + 64) + r->memory);
    bool ok = put_header(cc, &out) && put_frames(&out, r, frames, n) && write_file(path, &out);
    if (ok)
        cc->dir_bytes += out.len;
    buf_free(&out);
    free(frames);
    return ok;
}

void callcap_sanitise(const char *call_id, char *out, size_t outlen)
{
    size_t n = 0;
    bool changed = false;
    for (const char *p = call_id; *p && n + 1 < outlen && n < 120; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '@' ||
                  (ch == '.' && n > 0);
        out[n++] = ok ? ch : '_';
        changed |= !ok;
    }
    changed |= strlen(call_id) > n;
    out[n] = '\0';
    if (n == 0 || changed) {
        /* Two Call-IDs that sanitise alike must not share a file. */
        uint64_t h = hashtab_hash_bytes(call_id, strlen(call_id));
        size_t room = outlen - n;
        snprintf(out + n, room, "%s%08x", n ? "-" : "", (unsigned)(h & 0xffffffffu));
    }
}

static bool choose_path(struct callcap *cc, struct callrec *r, const char *call_id, const char *ts)
{
    char day[11] = "undated";
    if (ts && strlen(ts) >= 10) {
        memcpy(day, ts, 10);
        day[10] = '\0';
        for (int i = 0; i < 10; i++)
            if (!((day[i] >= '0' && day[i] <= '9') || day[i] == '-'))
                day[i] = '_';
    }
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/%s", cc->cfg.dir, day);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return false;
    char stem[160];
    callcap_sanitise(call_id, stem, sizeof(stem));
    snprintf(r->path, sizeof(r->path), "%s/%s.pcap", dir, stem);
    return true;
}

static bool write_rec(struct callcap *cc, struct callrec *r)
{
    if (!write_pcap(cc, r, r->path)) {
        (*cc->c.write_failed)++;
        return false;
    }
    r->dirty = false;
    enforce_dir_cap(cc, r->path);
    return true;
}

void callcap_on_event(struct callcap *cc, const struct event_info *info, struct event_extra *extra)
{
    const char *call_id = info->call_id;
    bool alert = info->severity >= SEVERITY_WARNING;
    if (!call_id || (!alert && strcmp(info->type, "call_end") != 0))
        return;
    struct call *c = call_table_find(cc->calls, call_id);
    struct callrec *r = c ? hashtab_find(&cc->recs, &c) : NULL;
    /* The call_end of a call with a capture completes it: every frame the
     * call had until then is in the file when call_end is out. */
    if (!r || (!alert && !r->flagged))
        return;
    if (!r->path[0] && !choose_path(cc, r, call_id, info->ts)) {
        (*cc->c.write_failed)++;
        return;
    }
    bool first = !r->flagged;
    if ((r->dirty || first) && !write_rec(cc, r))
        return;
    if (first)
        (*cc->c.files_written)++;
    r->flagged = true;
    event_extra_add(extra, "capture_path", r->path);
}

static void on_call_freed(void *user, struct call *c)
{
    struct callcap *cc = user;
    struct callrec *r = hashtab_find(&cc->recs, &c);
    if (!r)
        return;
    if (r->flagged && r->dirty && write_rec(cc, r))
        (*cc->c.files_completed)++;
    hashtab_remove(&cc->recs, r);
    rec_free(cc, r);
}

struct callcap *callcap_new(const struct callcap_config *cfg, struct call_table *calls,
                            struct counters *counters, int linktype, char *err, size_t errlen)
{
    if (mkdir_p(cfg->dir, 0750) != 0 || access(cfg->dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "call captures: cannot use directory %s: %s", cfg->dir,
                 strerror(errno));
        return NULL;
    }
    struct callcap *cc = calloc(1, sizeof(*cc));
    if (!cc ||
        !hashtab_init(&cc->recs, offsetof(struct callrec, call), sizeof(struct call *), 10000000)) {
        free(cc);
        snprintf(err, errlen, "call captures: out of memory");
        return NULL;
    }
    cc->cfg = *cfg;
    cc->calls = calls;
    cc->linktype = linktype;
    COUNTERS_REGISTER(CALLCAP_COUNTERS, counters, "callcap", &cc->c);
    struct file_list l = {0};
    scan_dir(cc->cfg.dir, &l);
    cc->dir_bytes = l.total;
    free(l.items);
    call_table_set_frame_hook(calls, on_frame, cc);
    struct call_observer o = {.user = cc, .call_freed = on_call_freed};
    call_table_add_observer(calls, &o);
    return cc;
}

static void free_rec(void *item, void *arg)
{
    rec_free(arg, item);
}

void callcap_free(struct callcap *cc)
{
    if (!cc)
        return;
    hashtab_foreach(&cc->recs, free_rec, cc);
    hashtab_destroy(&cc->recs);
    free(cc);
}

void callcap_set_frame(struct callcap *cc, const struct pcap_pkthdr *hdr, const uint8_t *data)
{
    cc->hdr = hdr;
    cc->data = data;
    cc->frame_number++;
    cc->frame_media = false;
}

void callcap_frame_is_media(struct callcap *cc)
{
    cc->frame_media = true;
}

uint64_t callcap_memory(const struct callcap *cc)
{
    return cc->memory;
}

/*
 * ops_util: see ops_util.h. The synthetic calls are built by hand (Ethernet,
 * IPv4, UDP with correct lengths and checksums) so these tests do not wait
 * for the capture generator.
 */
#include "ops_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *ops_siptapd(void)
{
    const char *p = getenv("SIPTAPD");
    return p && *p ? p : NULL;
}

void ops_tmpdir(char *out, size_t outlen)
{
    snprintf(out, outlen, "/tmp/siptap-ops-XXXXXX");
    if (!mkdtemp(out))
        out[0] = '\0';
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void ops_rmtree(const char *dir)
{
    if (dir && strncmp(dir, "/tmp/siptap-ops-", 16) == 0)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

bool ops_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

char *ops_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static void redirect(const char *path, int fd)
{
    if (!path)
        path = "/dev/null";
    int o = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o >= 0) {
        dup2(o, fd);
        close(o);
    }
}

pid_t ops_spawn(char *const argv[], const char *stdout_path, const char *stderr_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        redirect(stdout_path, 1);
        redirect(stderr_path, 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int ops_run(char *const argv[], const char *stdout_path, const char *stderr_path)
{
    pid_t pid = ops_spawn(argv, stdout_path, stderr_path);
    return pid < 0 ? -1 : wait_status(pid);
}

bool ops_which(const char *program, char *out, size_t outlen)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(out, outlen, "%.*s/%s", (int)n, path, program);
        if (n > 0 && access(out, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

const char *ops_promtool(void)
{
    static char found[512];
    return ops_which("promtool", found, sizeof(found)) ? found : NULL;
}

char *ops_promtool_check(const char *path, int *status)
{
    char out[512];
    snprintf(out, sizeof(out), "%s.promtool", path);
    const char *promtool = ops_promtool();
    if (!promtool) {
        *status = -1;
        return strdup("promtool is not installed");
    }
    /* promtool reads the exposition on standard input; stdout and stderr
     * both go to one file. */
    char *const argv[] = {"/bin/sh",
                          "-c",
                          "\"$0\" check metrics < \"$1\" > \"$2\" 2>&1",
                          (char *)promtool,
                          (char *)path,
                          out,
                          NULL};
    *status = ops_run(argv, NULL, NULL);
    char *text = ops_read_file(out);
    unlink(out);
    return text ? text : strdup("");
}

int ops_stop(pid_t pid, int sig)
{
    kill(pid, sig);
    return wait_status(pid);
}

bool ops_wait_for(bool (*fn)(void *arg), void *arg, double timeout_s)
{
    for (double waited = 0; waited < timeout_s; waited += 0.05) {
        if (fn(arg))
            return true;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return fn(arg);
}

int ops_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- synthetic call ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint16_t ip_checksum(const uint8_t *p, size_t n)
{
    return fold(sum16(p, n, 0));
}

/* Over the pseudo header and the datagram (its checksum field included:
 * 0 when that field is right). */
static uint16_t udp_checksum(const uint8_t *ip, const uint8_t *udp, size_t udp_len)
{
    uint32_t sum = sum16(ip + 12, 8, 17u + (uint32_t)udp_len);
    return fold(sum16(udp, udp_len, sum));
}

bool ops_udp_checksum_ok(const uint8_t *frame, size_t caplen)
{
    if (caplen < 42 || frame[12] != 0x08 || frame[23] != 17)
        return false;
    size_t udp_len = (size_t)(frame[38] << 8 | frame[39]);
    return 34 + udp_len <= caplen && udp_checksum(frame + 14, frame + 34, udp_len) == 0;
}

static void dump_udp(pcap_dumper_t *d, uint64_t ts_us, const char *src, uint16_t sport,
                     const char *dst, uint16_t dport, const uint8_t *payload, size_t len)
{
    uint8_t frame[2048];
    memset(frame, 0, 42);
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    memcpy(frame, macs, 12);
    frame[12] = 0x08;
    uint8_t *ip = frame + 14;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + 8 + len));
    ip[8] = 64;
    ip[9] = 17;
    inet_pton(AF_INET, src, ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    put16(ip + 10, ip_checksum(ip, 20));
    uint8_t *udp = ip + 20;
    put16(udp, sport);
    put16(udp + 2, dport);
    put16(udp + 4, (uint16_t)(8 + len));
    memcpy(udp + 8, payload, len);
    uint16_t sum = udp_checksum(ip, udp, 8 + len);
    put16(udp + 6, sum ? sum : 0xffff);
    struct pcap_pkthdr h = {.caplen = (bpf_u_int32)(42 + len), .len = (bpf_u_int32)(42 + len)};
    h.ts.tv_sec = (time_t)(ts_us / 1000000u);
    h.ts.tv_usec = (suseconds_t)(ts_us % 1000000u);
    pcap_dump((u_char *)d, &h, frame);
}

static void dump_sip(pcap_dumper_t *d, uint64_t ts, bool from_caller, const char *head,
                     const char *sdp)
{
    char msg[2000];
    int n =
        snprintf(msg, sizeof(msg), "%sContent-Length: %zu\r\n%s\r\n%s", head, sdp ? strlen(sdp) : 0,
                 sdp ? "Content-Type: application/sdp\r\n" : "", sdp ? sdp : "");
    if (from_caller)
        dump_udp(d, ts, "10.0.0.1", 5060, "10.0.0.2", 5060, (const uint8_t *)msg, (size_t)n);
    else
        dump_udp(d, ts, "10.0.0.2", 5060, "10.0.0.1", 5060, (const uint8_t *)msg, (size_t)n);
}

#define DIALOG                                                                                     \
    "From: <sip:alice@10.0.0.1>;tag=a1\r\n"                                                        \
    "Call-ID: " OPS_CALL_ID "\r\n"                                                                 \
    "Max-Forwards: 70\r\n"
#define VIA "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-ops-1\r\n"

static void dump_rtp(pcap_dumper_t *d, uint64_t ts, bool from_caller, int seq)
{
    uint8_t rtp[12 + 160];
    memset(rtp, 0xff, sizeof(rtp));
    rtp[0] = 0x80;
    rtp[1] = 0;
    put16(rtp + 2, (uint16_t)(100 + seq));
    uint32_t stamp = (uint32_t)(seq * 160), ssrc = from_caller ? 0x1111u : 0x2222u;
    for (int k = 0; k < 4; k++) {
        rtp[4 + k] = (uint8_t)(stamp >> (24 - 8 * k));
        rtp[8 + k] = (uint8_t)(ssrc >> (24 - 8 * k));
    }
    if (from_caller)
        dump_udp(d, ts, "10.0.0.1", 20000, "10.0.0.2", 30000, rtp, sizeof(rtp));
    else
        dump_udp(d, ts, "10.0.0.2", 30000, "10.0.0.1", 20000, rtp, sizeof(rtp));
}

bool ops_write_call_pcap(const char *path, int rtp_each)
{
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d = p ? pcap_dump_open(p, path) : NULL;
    if (!d) {
        if (p)
            pcap_close(p);
        return false;
    }
    uint64_t t = 1767225600ull * 1000000u; /* 2026-01-01T00:00:00Z */
    const char *offer = "v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
                        "m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    const char *answer = "v=0\r\no=b 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
                         "m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    dump_sip(d, t, true,
             "INVITE sip:bob@10.0.0.2 SIP/2.0\r\n" VIA DIALOG "To: <sip:bob@10.0.0.2>\r\n"
             "CSeq: 1 INVITE\r\nContact: <sip:alice@10.0.0.1:5060>\r\n",
             offer);
    t += 100000;
    dump_sip(d, t, false,
             "SIP/2.0 183 Session Progress\r\n" VIA DIALOG "To: <sip:bob@10.0.0.2>;tag=b1\r\n"
             "CSeq: 1 INVITE\r\nContact: <sip:bob@10.0.0.2:5060>\r\n",
             answer);
    for (int i = 0; i < rtp_each; i++) {
        t += 20000;
        dump_rtp(d, t + 1000, true, i);
        dump_rtp(d, t + 2000, false, i);
    }
    t += 100000;
    dump_sip(d, t, false,
             "SIP/2.0 503 Service Unavailable\r\n" VIA DIALOG "To: <sip:bob@10.0.0.2>;tag=b1\r\n"
             "CSeq: 1 INVITE\r\n",
             NULL);
    t += 1000;
    dump_sip(d, t, true,
             "ACK sip:bob@10.0.0.2 SIP/2.0\r\n" VIA DIALOG "To: <sip:bob@10.0.0.2>;tag=b1\r\n"
             "CSeq: 1 ACK\r\n",
             NULL);
    pcap_dump_close(d);
    pcap_close(p);
    return true;
}

bool ops_write_answered_call_pcap(const char *path, int rtp_seconds, const char *invite_header)
{
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d = p ? pcap_dump_open(p, path) : NULL;
    if (!d) {
        if (p)
            pcap_close(p);
        return false;
    }
    uint64_t t = 1767225600ull * 1000000u; /* 2026-01-01T00:00:00Z */
    const char *offer = "v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
                        "m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    const char *answer = "v=0\r\no=b 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
                         "m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    char invite[1500];
    snprintf(invite, sizeof(invite),
             "INVITE sip:bob@10.0.0.2 SIP/2.0\r\n" VIA DIALOG "To: <sip:bob@10.0.0.2>\r\n"
             "CSeq: 1 INVITE\r\nContact: <sip:alice@10.0.0.1:5060>\r\n%s",
             invite_header ? invite_header : "");
    dump_sip(d, t, true, invite, offer);
    t += 500000;
    dump_sip(d, t, false,
             "SIP/2.0 200 OK\r\n" VIA DIALOG "To: <sip:bob@10.0.0.2>;tag=b1\r\n"
             "CSeq: 1 INVITE\r\nContact: <sip:bob@10.0.0.2:5060>\r\n",
             answer);
    t += 10000;
    dump_sip(d, t, true,
             "ACK sip:bob@10.0.0.2 SIP/2.0\r\n" VIA DIALOG "To: <sip:bob@10.0.0.2>;tag=b1\r\n"
             "CSeq: 1 ACK\r\n",
             NULL);
    for (int i = 0; i < rtp_seconds * 50; i++) {
        t += 20000;
        dump_rtp(d, t, false, i);
    }
    t += 20000;
    dump_sip(d, t, true,
             "BYE sip:bob@10.0.0.2 SIP/2.0\r\n" VIA DIALOG "To: <sip:bob@10.0.0.2>;tag=b1\r\n"
             "CSeq: 2 BYE\r\n",
             NULL);
    t += 10000;
    dump_sip(d, t, false,
             "SIP/2.0 200 OK\r\n" VIA DIALOG "To: <sip:bob@10.0.0.2>;tag=b1\r\nCSeq: 2 BYE\r\n",
             NULL);
    pcap_dump_close(d);
    pcap_close(p);
    return true;
}

bool ops_count_frames(const char *path, struct ops_frame_counts *out)
{
    char ebuf[PCAP_ERRBUF_SIZE];
    memset(out, 0, sizeof(*out));
    out->time_ordered = true;
    pcap_t *p = pcap_open_offline(path, ebuf);
    if (!p)
        return false;
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t last = 0;
    while (pcap_next_ex(p, &h, &data) == 1) {
        uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
        if (ts < last)
            out->time_ordered = false;
        last = ts;
        out->total++;
        if (h->caplen < 42 || data[12] != 0x08 || data[23] != 17)
            continue;
        uint16_t sport = (uint16_t)(data[34] << 8 | data[35]);
        if (sport == 5060) {
            out->sip++;
        } else if (sport == 20000 || sport == 30000) {
            if (!out->rtp)
                out->first_rtp_us = ts;
            out->last_rtp_us = ts;
            out->rtp++;
        }
    }
    pcap_close(p);
    return true;
}

/* ---- pcapng packet comments ---- */

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* The comments among an enhanced packet block's options. */
static int block_comments(const uint8_t *b, uint32_t total, int frame, struct ops_comment *out,
                          int n, int max)
{
    uint32_t caplen = get32(b + 20);
    for (uint32_t o = 28 + ((caplen + 3u) & ~3u); o + 4 <= total - 4;) {
        uint16_t code, len;
        memcpy(&code, b + o, 2);
        memcpy(&len, b + o + 2, 2);
        if (code == 0 || o + 4 + len > total - 4)
            break;
        if (code == 1 && n < max) {
            out[n].frame = frame;
            snprintf(out[n].text, sizeof(out[n].text), "%.*s", (int)len, (const char *)b + o + 4);
            n++;
        }
        o += 4 + ((len + 3u) & ~3u);
    }
    return n;
}

int ops_frame_comments(const char *path, struct ops_comment *out, int max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    const size_t room = 16u << 20;
    uint8_t *data = malloc(room);
    size_t size = data ? fread(data, 1, room, f) : 0;
    fclose(f);
    int n = -1, frame = 0;
    if (size >= 28 && get32(data) == 0x0a0d0d0au && get32(data + 8) == 0x1a2b3c4du)
        n = 0;
    for (size_t off = 0; n >= 0 && off + 12 <= size;) {
        uint32_t type = get32(data + off), total = get32(data + off + 4);
        if (total < 12 || off + total > size)
            n = -1;
        else if (type == 6 && total >= 32)
            n = block_comments(data + off, total, ++frame, out, n, max);
        off += total;
    }
    free(data);
    return n;
}

/*
 * Public-capture agreement: for every capture in $SIPTAP_PUBLIC_PCAPS, the
 * decoder and tshark must agree on
 *   - frames carrying UDP:  tshark -Y 'udp && !icmp && !icmpv6' (ICMP errors
 *     quote a UDP header, which tshark also calls "udp"); ours: frames in
 *     which at least one UDP header was decoded (decode.udp moved). A non-final
 *     fragment is not a UDP frame for either: tshark shows UDP in the frame
 *     that completes reassembly, and so do we;
 *   - frames carrying TCP:  tshark -Y 'tcp && !icmp && !icmpv6'; ours:
 *     decode.tcp moved;
 *   - reassembled IP datagrams: tshark -Y 'ip.fragments || ipv6.fragments'
 *     (the fragment list tree exists only in the frame that completed a
 *     reassembly); ours: decode.frag_reassembled.
 * The same holds for a copy of each capture cut to a 128-byte snap length
 * (editcap -s 128, as captagent's RTP profile cuts frames): frames are
 * decoded as far as their bytes go, so tshark and we still agree on UDP and
 * TCP frames, and every RTP header of the whole capture is still seen.
 * Skips when the folder or tshark is missing. No capture is excepted today;
 * an exception would go in agreement_exceptions[] with its reason.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "decoders/decode.h"
#include "rtp/rtp.h"

struct agreement_exception {
    const char *file;
    const char *reason;
};

/* Captures on which tshark and the decoder cannot agree, and why. */
static const struct agreement_exception agreement_exceptions[] = {
    {NULL, NULL},
};

struct decode_totals {
    long udp_frames, tcp_frames, reassembled, frames;
    long rtp; /* datagrams with an RTP header, not RTCP */
};

/* RTP as the media path tells it (calls/media.c). */
static void count_rtp(void *user, const struct packet *pkt)
{
    struct decode_totals *t = user;
    struct rtp_header h;
    if (!rtcp_looks_like(pkt->payload, pkt->payload_len) &&
        rtp_parse(pkt->payload, pkt->payload_len, &h))
        t->rtp++;
}

static bool tshark_available(void)
{
    return system("tshark -v >/dev/null 2>&1") == 0;
}

static long tshark_count(const char *path, const char *filter)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "tshark -n -r '%s' -Y '%s' 2>/dev/null | wc -l", path, filter);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    long n = -1;
    if (fscanf(f, "%ld", &n) != 1)
        n = -1;
    pclose(f);
    return n;
}

static size_t ignore_tcp(void *user, const struct tcp_data *data)
{
    (void)user;
    return data->len;
}

static void ignore_close(void *user, uint64_t stream_id)
{
    (void)user;
    (void)stream_id;
}

static bool decode_file(const char *path, struct decode_totals *t)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    if (!pc)
        return false;
    static struct counters counters;
    counters_init(&counters);
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    struct decode_handlers h = {
        .user = t, .udp = count_rtp, .tcp_data = ignore_tcp, .tcp_close = ignore_close};
    struct decoder *d = decoder_new(&cfg, &counters, &h);
    cr_assert_not_null(d);
    cr_assert_eq(decoder_set_linktype(d, pcap_datalink(pc)), 0, "%s: link type %d", path,
                 pcap_datalink(pc));
    uint64_t *udp = counters_register(&counters, "decode", "udp");
    uint64_t *tcp = counters_register(&counters, "decode", "tcp");
    uint64_t *reassembled = counters_register(&counters, "decode", "frag_reassembled");
    struct pcap_pkthdr *hdr;
    const u_char *bytes;
    memset(t, 0, sizeof(*t));
    while (pcap_next_ex(pc, &hdr, &bytes) == 1) {
        uint64_t udp0 = *udp, tcp0 = *tcp;
        uint64_t ts = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
        decoder_process(d, ts, bytes, hdr->caplen, hdr->len);
        t->frames++;
        t->udp_frames += *udp != udp0;
        t->tcp_frames += *tcp != tcp0;
    }
    t->reassembled = (long)*reassembled;
    decoder_free(d);
    pcap_close(pc);
    return true;
}

static bool has_capture_suffix(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".pcap") || !strcmp(dot, ".pcapng") || !strcmp(dot, ".cap"));
}

static const char *exception_reason(const char *name)
{
    for (size_t i = 0; agreement_exceptions[i].file; i++)
        if (!strcmp(agreement_exceptions[i].file, name))
            return agreement_exceptions[i].reason;
    return NULL;
}

Test(decode_pcaps, agrees_with_tshark_on_every_public_capture, .timeout = 600)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    DIR *dh = dir ? opendir(dir) : NULL;
    if (!dh)
        cr_skip_test("public captures not available (SIPTAP_PUBLIC_PCAPS=%s)", dir ? dir : "");
    if (!tshark_available()) {
        closedir(dh);
        cr_skip_test("tshark not installed");
    }
    int files = 0;
    struct dirent *e;
    long total_udp = 0, total_tcp = 0, total_reassembled = 0;
    while ((e = readdir(dh))) {
        if (!has_capture_suffix(e->d_name))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct decode_totals ours;
        cr_assert(decode_file(path, &ours), "cannot open %s", path);
        long udp = tshark_count(path, "udp && !icmp && !icmpv6");
        long tcp = tshark_count(path, "tcp && !icmp && !icmpv6");
        long reassembled = tshark_count(path, "ip.fragments || ipv6.fragments");
        const char *reason = exception_reason(e->d_name);
        if (reason) {
            cr_log_warn("%s: not compared: %s", e->d_name, reason);
            continue;
        }
        cr_expect_eq(ours.udp_frames, udp, "%s: UDP frames: decoder %ld, tshark %ld", e->d_name,
                     ours.udp_frames, udp);
        cr_expect_eq(ours.tcp_frames, tcp, "%s: TCP frames: decoder %ld, tshark %ld", e->d_name,
                     ours.tcp_frames, tcp);
        cr_expect_eq(ours.reassembled, reassembled,
                     "%s: reassembled datagrams: decoder %ld, tshark %ld", e->d_name,
                     ours.reassembled, reassembled);
        total_udp += udp;
        total_tcp += tcp;
        total_reassembled += reassembled;
        files++;
    }
    closedir(dh);
    cr_assert_gt(files, 0, "no capture found in %s", dir);
    cr_log_info("%d captures compared: %ld UDP frames, %ld TCP frames, %ld reassembled datagrams",
                files, total_udp, total_tcp, total_reassembled);
}

static bool editcap_available(void)
{
    return system("editcap -h >/dev/null 2>&1") == 0;
}

Test(decode_pcaps, snapped_copies_agree_with_tshark, .timeout = 600)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    DIR *dh = dir ? opendir(dir) : NULL;
    if (!dh)
        cr_skip_test("public captures not available (SIPTAP_PUBLIC_PCAPS=%s)", dir ? dir : "");
    if (!tshark_available() || !editcap_available()) {
        closedir(dh);
        cr_skip_test("tshark or editcap not installed");
    }
    char tmp[] = "/tmp/siptap-snap-XXXXXX";
    cr_assert_not_null(mkdtemp(tmp));
    char snapped[4200];
    snprintf(snapped, sizeof(snapped), "%s/snapped.pcapng", tmp);
    int files = 0;
    long total_udp = 0, total_rtp = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (!has_capture_suffix(e->d_name) || exception_reason(e->d_name))
            continue;
        char path[4096], cmd[8400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(cmd, sizeof(cmd), "editcap -F pcapng -s 128 '%s' '%s'", path, snapped);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        struct decode_totals whole, ours;
        cr_assert(decode_file(path, &whole), "cannot open %s", path);
        cr_assert(decode_file(snapped, &ours), "cannot open the snapped %s", e->d_name);
        long udp = tshark_count(snapped, "udp && !icmp && !icmpv6");
        long tcp = tshark_count(snapped, "tcp && !icmp && !icmpv6");
        cr_expect_eq(ours.udp_frames, udp, "%s snapped: UDP frames: decoder %ld, tshark %ld",
                     e->d_name, ours.udp_frames, udp);
        cr_expect_eq(ours.tcp_frames, tcp, "%s snapped: TCP frames: decoder %ld, tshark %ld",
                     e->d_name, ours.tcp_frames, tcp);
        cr_expect_eq(ours.rtp, whole.rtp, "%s snapped: RTP headers: %ld, %ld in the whole capture",
                     e->d_name, ours.rtp, whole.rtp);
        total_udp += udp;
        total_rtp += ours.rtp;
        files++;
    }
    closedir(dh);
    unlink(snapped);
    rmdir(tmp);
    cr_assert_gt(files, 0, "no capture found in %s", dir);
    cr_log_info("%d snapped captures compared: %ld UDP frames, %ld RTP headers", files, total_udp,
                total_rtp);
}

/* The layers the captures are known to exercise must have been decoded. */
struct layer_expectation {
    const char *file;
    const char *counter;
    uint64_t at_least;
};

static const struct layer_expectation layer_expectations[] = {
    {"sipnab__tests__pcap-samples__DTMFsipinfo.pcap", "decode.pppoe", 32},
    /* Despite its name, this one is GRE transparent Ethernet bridging (0x6558). */
    {"heplify__example__pcap__erspan_sip_ipv4_udp.pcapng", "decode.gre", 140},
    /* Two of its four frames are IP-in-IP. */
    {"sngrep__tests__ipip.pcap", "decode.ipip", 2},
    {"sngrep__tests__ipv6frag.pcap", "decode.frag_reassembled", 2},
    {"sngrep__tests__ipv6frag.pcap", "decode.sll", 34},
    {"heplify__example__pcap__sip_sctp.pcap", "decode.sctp", 5},
    {"sipnab__tests__pcap-samples__h263-over-rtp.pcap", "decode.ipv4", 49},
    {"heplify__example__pcap__sip_ipv4_tcp_retrans.pcap", "decode.tcp_retransmission", 1},
    {"heplify__example__pcap__sip_ipv6_udp.pcap", "decode.ipv6", 6},
};

static uint64_t tcp_bytes_seen;

static size_t count_tcp(void *user, const struct tcp_data *data)
{
    (void)user;
    tcp_bytes_seen += data->len;
    return data->len;
}

Test(decode_pcaps, known_layers_are_decoded)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    DIR *dh = dir ? opendir(dir) : NULL;
    if (!dh)
        cr_skip_test("public captures not available (SIPTAP_PUBLIC_PCAPS=%s)", dir ? dir : "");
    closedir(dh);
    for (size_t i = 0; i < sizeof(layer_expectations) / sizeof(layer_expectations[0]); i++) {
        const struct layer_expectation *x = &layer_expectations[i];
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, x->file);
        char err[PCAP_ERRBUF_SIZE];
        pcap_t *pc = pcap_open_offline(path, err);
        if (!pc) {
            cr_log_warn("%s missing, not checked", x->file);
            continue;
        }
        static struct counters counters;
        counters_init(&counters);
        struct decoder_config cfg;
        decoder_config_defaults(&cfg);
        struct decode_handlers h = {.tcp_data = count_tcp};
        struct decoder *d = decoder_new(&cfg, &counters, &h);
        cr_assert_eq(decoder_set_linktype(d, pcap_datalink(pc)), 0);
        struct pcap_pkthdr *hdr;
        const u_char *bytes;
        while (pcap_next_ex(pc, &hdr, &bytes) == 1)
            decoder_process(d, (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec,
                            bytes, hdr->caplen, hdr->len);
        cr_expect_geq(counters_get(&counters, x->counter), x->at_least, "%s: %s = %lu, want >= %lu",
                      x->file, x->counter, (unsigned long)counters_get(&counters, x->counter),
                      (unsigned long)x->at_least);
        decoder_free(d);
        pcap_close(pc);
    }
}

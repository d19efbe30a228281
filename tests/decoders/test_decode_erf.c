/*
 * Tests of Endace ERF records (link type 197): crafted records of each kind
 * the decoder follows or skips, every cut of a record, and public captures
 * rewrapped as ERF (each Ethernet frame in an ETH record, some behind
 * extension headers) that must decode exactly as the originals do, and as
 * tshark decodes them. The public part skips without $SIPTAP_PUBLIC_PCAPS.
 */
#include <dirent.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include "frame_build.h"

#define DLT_ERF_LINK 197
#define ERF_ETH      2
#define ERF_HDLC_POS 1
#define ERF_IPV4     22
#define ERF_IPV6     23
#define ERF_META     27
#define ERF_MORE_EXT 0x80

static uint8_t f[4096];
static uint8_t body[2048];

/* An ERF record of type `type` with `ext` extension headers around
 * payload; Ethernet types get their 2-byte pad. Returns its length. */
static size_t put_erf(uint8_t *b, uint8_t type, unsigned ext, const uint8_t *payload, size_t len)
{
    memset(b, 0, 16);
    b[0] = 0x11; /* timestamp, little-endian: not read */
    b[8] = (uint8_t)(type | (ext ? ERF_MORE_EXT : 0));
    b[9] = 0x04; /* varying-length record */
    size_t n = 16;
    for (unsigned i = 0; i < ext; i++, n += 8) {
        memset(b + n, 0, 8);
        b[n] = (uint8_t)((i + 1 < ext ? ERF_MORE_EXT : 0) | 0x05);
    }
    if (type == ERF_ETH) {
        b[n] = 0;
        b[n + 1] = 0;
        n += 2;
    }
    memcpy(b + n, payload, len);
    n += len;
    put16(b + 10, (uint16_t)n);
    put16(b + 14, (uint16_t)(type == ERF_ETH ? len + 4 : len)); /* wlen counts the FCS */
    return n;
}

Test(decode_erf, ethernet_and_ip_records_are_followed)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ERF_LINK);
    size_t m = build_udp4(body, 5060, 5060, "ERF!", 4);
    harness_feed(&h, 1, f, put_erf(f, ERF_ETH, 0, body, m));
    cr_assert_eq(h.udp_count, 1);
    cr_assert_str_eq(h.last_payload, "ERF!");
    /* Behind two extension headers, and a record padded past rlen. */
    size_t n = put_erf(f, ERF_ETH, 2, body, m);
    memset(f + n, 0xee, 8);
    harness_feed(&h, 2, f, n + 8);
    cr_assert_eq(h.udp_count, 2);
    cr_assert_str_eq(h.last_payload, "ERF!");
    /* IPv4 and IPv6 records start at the IP header. */
    harness_feed(&h, 3, f, put_erf(f, ERF_IPV4, 1, body + 14, m - 14));
    cr_assert_eq(h.udp_count, 3);
    m = put_ipv6(body, ip6_a, ip6_b, 17, 8 + 3);
    m += put_udp(body + m, 5060, 5062, 3);
    memcpy(body + m, "six", 3);
    m += 3;
    harness_feed(&h, 4, f, put_erf(f, ERF_IPV6, 0, body, m));
    cr_assert_eq(h.udp_count, 4);
    cr_assert_str_eq(h.last_payload, "six");
    cr_assert_eq(h.last.src.family, 6);
    cr_assert_eq(counter(&h, "erf"), 4);
    /* Metadata and link types that are not followed. */
    harness_feed(&h, 5, f, put_erf(f, ERF_META, 0, body, 24));
    cr_assert_eq(counter(&h, "erf_meta"), 1);
    harness_feed(&h, 6, f, put_erf(f, ERF_HDLC_POS, 0, body, 24));
    cr_assert_eq(counter(&h, "erf_unsupported_type"), 1);
    cr_assert_eq(h.udp_count, 4);
    harness_stop(&h);
}

Test(decode_erf, bad_and_cut_records_are_counted_never_read_past)
{
    struct harness h;
    harness_start(&h, NULL, DLT_ERF_LINK);
    size_t m = build_udp4(body, 5060, 5060, "cut", 3);
    size_t n = put_erf(f, ERF_ETH, 3, body, m);
    for (size_t len = 0; len < n; len++)
        harness_feed(&h, len + 1, f, len);
    cr_assert_gt(counter(&h, "erf_truncated"), 0);
    cr_assert_eq(counter(&h, "unsupported_link"), 0);
    harness_feed(&h, n + 1, f, n);
    cr_assert_eq(h.last.truncated, false);
    cr_assert_str_eq(h.last_payload, "cut");
    /* rlen shorter than the header itself. */
    put16(f + 10, 8);
    harness_feed(&h, n + 2, f, n);
    cr_assert_eq(counter(&h, "erf_bad"), 1);
    /* Extension headers that never end. */
    memset(f, 0, sizeof(f));
    f[8] = ERF_ETH | ERF_MORE_EXT;
    put16(f + 10, 16 + 20 * 8);
    for (size_t i = 16; i < 16 + 20 * 8; i += 8)
        f[i] = ERF_MORE_EXT;
    harness_feed(&h, n + 3, f, 16 + 20 * 8);
    cr_assert_eq(counter(&h, "erf_bad"), 2);
    harness_stop(&h);
}

/* ---- public captures rewrapped as ERF ---- */

struct totals {
    long udp, tcp;
};

static size_t skip_tcp(void *user, const struct tcp_data *t)
{
    (void)user;
    return t->len;
}

static bool decode_file(const char *path, struct totals *t)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    if (!pc)
        return false;
    static struct counters counters;
    counters_init(&counters);
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    struct decode_handlers h = {.tcp_data = skip_tcp};
    struct decoder *d = decoder_new(&cfg, &counters, &h);
    cr_assert_eq(decoder_set_linktype(d, pcap_datalink(pc)), 0, "%s: link type %d", path,
                 pcap_datalink(pc));
    struct pcap_pkthdr *hdr;
    const u_char *bytes;
    while (pcap_next_ex(pc, &hdr, &bytes) == 1)
        decoder_process(d, (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec, bytes,
                        hdr->caplen, hdr->len);
    t->udp = (long)counters_get(&counters, "decode.udp");
    t->tcp = (long)counters_get(&counters, "decode.tcp");
    decoder_free(d);
    pcap_close(pc);
    return true;
}

/* Every frame of an Ethernet capture in an ERF ETH record; every third one
 * behind an extension header. False if the capture is not Ethernet. */
static bool rewrap_as_erf(const char *in, const char *out)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(in, err);
    cr_assert_not_null(pc, "%s: %s", in, err);
    if (pcap_datalink(pc) != DLT_EN10MB) {
        pcap_close(pc);
        return false;
    }
    pcap_t *dead = pcap_open_dead(DLT_ERF_LINK, 65535);
    pcap_dumper_t *dump = pcap_dump_open(dead, out);
    cr_assert_not_null(dump, "%s", pcap_geterr(dead));
    struct pcap_pkthdr *hdr;
    const u_char *bytes;
    static uint8_t record[70000];
    for (unsigned i = 0; pcap_next_ex(pc, &hdr, &bytes) == 1; i++) {
        if (hdr->caplen + 32 > 65535)
            continue;
        size_t n = put_erf(record, ERF_ETH, i % 3 == 0, bytes, hdr->caplen);
        struct pcap_pkthdr h = *hdr;
        h.caplen = h.len = (uint32_t)n;
        pcap_dump((u_char *)dump, &h, record);
    }
    pcap_dump_close(dump);
    pcap_close(dead);
    pcap_close(pc);
    return true;
}

static long tshark_count(const char *path, const char *filter)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "tshark -n -r '%s' -Y '%s' 2>/dev/null | wc -l", path, filter);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    long n = -1;
    if (fscanf(p, "%ld", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

Test(decode_erf, public_captures_rewrapped_as_erf_decode_as_the_originals, .timeout = 600)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    DIR *dh = dir ? opendir(dir) : NULL;
    if (!dh)
        cr_skip_test("public captures not available (SIPTAP_PUBLIC_PCAPS=%s)", dir ? dir : "");
    bool tshark = system("tshark -v >/dev/null 2>&1") == 0;
    bool editcap = system("editcap -h >/dev/null 2>&1") == 0;
    if (!tshark)
        cr_log_warn("tshark not installed: not compared with it");
    char tmp[] = "/tmp/siptap-erf-XXXXXX";
    cr_assert_not_null(mkdtemp(tmp));
    char erf[4200], ng[4200];
    snprintf(erf, sizeof(erf), "%s/erf.pcap", tmp);
    snprintf(ng, sizeof(ng), "%s/erf.pcapng", tmp);
    int files = 0;
    long udp_total = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".pcap") && strcmp(dot, ".pcapng") && strcmp(dot, ".cap")))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (!rewrap_as_erf(path, erf))
            continue;
        struct totals orig, ours;
        cr_assert(decode_file(path, &orig));
        cr_assert(decode_file(erf, &ours), "cannot read the ERF copy of %s", e->d_name);
        cr_expect_eq(ours.udp, orig.udp, "%s as ERF: UDP %ld, originally %ld", e->d_name, ours.udp,
                     orig.udp);
        cr_expect_eq(ours.tcp, orig.tcp, "%s as ERF: TCP %ld, originally %ld", e->d_name, ours.tcp,
                     orig.tcp);
        if (editcap) {
            /* As DAG captures usually come: ERF inside pcapng. */
            char cmd[8500];
            snprintf(cmd, sizeof(cmd), "editcap -F pcapng '%s' '%s'", erf, ng);
            cr_assert_eq(system(cmd), 0, "%s", cmd);
            struct totals png;
            cr_assert(decode_file(ng, &png), "cannot read the pcapng ERF copy of %s", e->d_name);
            cr_expect_eq(png.udp, orig.udp, "%s as pcapng ERF: UDP %ld, originally %ld", e->d_name,
                         png.udp, orig.udp);
        }
        if (tshark && files < 4) {
            long udp = tshark_count(erf, "udp && !icmp && !icmpv6");
            long want = tshark_count(path, "udp && !icmp && !icmpv6");
            cr_expect_eq(udp, want, "%s: tshark reads the ERF copy wrongly (%ld vs %ld UDP)",
                         e->d_name, udp, want);
        }
        udp_total += ours.udp;
        files++;
    }
    closedir(dh);
    unlink(erf);
    unlink(ng);
    rmdir(tmp);
    cr_assert_gt(files, 0, "no Ethernet capture in %s", dir);
    cr_log_info("%d captures rewrapped as ERF: %ld UDP datagrams", files, udp_total);
}

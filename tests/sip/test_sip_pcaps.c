/*
 * The SIP layer over the public captures: for every capture that is plain
 * Ethernet / IPv4 / UDP (no VLAN, no IPv6, no fragments, no tunnels, no TCP
 * or SCTP payload -- what the placeholder decoder handles), the number of SIP
 * messages parsed must equal tshark's count in the truth file
 * (`sip_messages=`). Other captures are listed as skipped, with the reason.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "decoders/decode.h"
#include "sip/sip.h"

struct run {
    struct sip_layer *sip;
    uint64_t messages;
    uint64_t rejected_as_not_sip;
};

static void on_message(void *user, const struct sip_msg *msg, const struct sip_meta *meta)
{
    struct run *r = user;
    (void)meta;
    cr_assert_neq(msg->call_id[0], '\0');
    r->messages++;
}

static void on_udp(void *user, const struct packet *pkt)
{
    struct run *r = user;
    if (!sip_layer_udp(r->sip, pkt))
        r->rejected_as_not_sip++;
}

/* NULL if every frame is something the placeholder decoder sees whole, else why not. */
static const char *why_not_plain(const char *path)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    if (!p)
        return "cannot open";
    const char *why = NULL;
    if (pcap_datalink(p) != DLT_EN10MB) {
        why = "link type is not Ethernet";
        goto done;
    }
    struct pcap_pkthdr *h;
    const u_char *f;
    while (!why && pcap_next_ex(p, &h, &f) == 1) {
        if (h->caplen < 14)
            continue;
        unsigned type = (unsigned)f[12] << 8 | f[13];
        if (type == 0x8100 || type == 0x88a8)
            why = "VLAN tags";
        else if (type == 0x86dd)
            why = "IPv6";
        else if (type != 0x0800 && type != 0x0806)
            why = "another encapsulation (PPPoE, MPLS, ...)";
        if (type != 0x0800 || h->caplen < 34)
            continue;
        const u_char *ip = f + 14;
        unsigned ihl = (ip[0] & 0x0f) * 4u;
        unsigned frag = ((unsigned)ip[6] << 8 | ip[7]) & 0x3fff;
        unsigned total = (unsigned)ip[2] << 8 | ip[3];
        if (frag)
            why = "IPv4 fragments";
        else if (ip[9] == 4 || ip[9] == 41 || ip[9] == 47)
            why = "IP tunnels";
        else if (ip[9] == 132)
            why = "SCTP";
        else if (ip[9] == 6 && h->caplen >= 14 + ihl + 20) {
            unsigned doff = (ip[14 + ihl - 14 + 12] >> 4) * 4u;
            if (total > ihl + doff)
                why = "TCP payload";
        }
    }
done:
    pcap_close(p);
    return why;
}

static long truth_sip_messages(const char *truth_path)
{
    FILE *f = fopen(truth_path, "r");
    if (!f)
        return -1;
    char line[512];
    long v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "sip_messages=", 13) == 0) {
            v = atol(line + 13);
            break;
        }
    fclose(f);
    return v;
}

static uint64_t count_sip_messages(const char *path, uint64_t *malformed)
{
    struct counters counters;
    counters_init(&counters);
    struct run r = {0};
    r.sip = sip_layer_new(&counters, on_message, &r);
    cr_assert_not_null(r.sip);
    struct decoder_config cfg;
    decoder_config_defaults(&cfg);
    struct decode_handlers handlers = {.user = &r, .udp = on_udp};
    struct decoder *d = decoder_new(&cfg, &counters, &handlers);
    cr_assert_not_null(d);
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    cr_assert_not_null(p, "%s", err);
    cr_assert_eq(decoder_set_linktype(d, pcap_datalink(p)), 0);
    struct pcap_pkthdr *h;
    const u_char *f;
    while (pcap_next_ex(p, &h, &f) == 1)
        decoder_process(d, (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec, f,
                        h->caplen, h->len);
    pcap_close(p);
    decoder_free(d);
    sip_layer_free(r.sip);
    *malformed = counters_get(&counters, "sip.malformed");
    return r.messages;
}

Test(sip_pcaps, message_counts_match_tshark)
{
    const char *dir = getenv("SIPTAP_PUBLIC_PCAPS");
    DIR *dp = dir ? opendir(dir) : NULL;
    if (!dp)
        cr_skip_test("public captures not found (SIPTAP_PUBLIC_PCAPS=%s)", dir ? dir : "unset");
    struct dirent *e;
    int checked = 0;
    while ((e = readdir(dp))) {
        size_t n = strlen(e->d_name);
        if (n < 11 || strcmp(e->d_name + n - 10, ".truth.txt") != 0)
            continue;
        char truth[1024], cap[1024];
        snprintf(truth, sizeof(truth), "%s/%s", dir, e->d_name);
        snprintf(cap, sizeof(cap), "%s/%.*s", dir, (int)(n - 10), e->d_name);
        long want = truth_sip_messages(truth);
        const char *why = why_not_plain(cap);
        if (want < 0 || why) {
            cr_log_info("skipped %s: %s", cap, why ? why : "no sip_messages= line");
            continue;
        }
        uint64_t malformed = 0;
        uint64_t got = count_sip_messages(cap, &malformed);
        cr_log_info("%s: %llu SIP messages (tshark %ld), %llu malformed", cap,
                    (unsigned long long)got, want, (unsigned long long)malformed);
        cr_expect_eq(got, (uint64_t)want, "%s: parsed %llu SIP messages, tshark counts %ld", cap,
                     (unsigned long long)got, want);
        checked++;
    }
    closedir(dp);
    if (checked == 0)
        cr_skip_test("no plain Ethernet/IPv4/UDP capture among the public captures");
    cr_assert_geq(checked, 1);
}

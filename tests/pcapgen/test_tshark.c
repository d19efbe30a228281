/*
 * Cross-checks of generated captures against Wireshark's dissectors: for one
 * capture per generator feature, tshark with checksum validation on must
 * report no malformed packet and no error-level expert info; and tshark's RTP
 * stream statistics must count exactly the packets and losses we scripted.
 * Skips, saying so, when tshark is not installed.
 */
#include <criterion/criterion.h>

#include "tests/pcapgen/readback.h"

static bool have_tshark(void)
{
    return system("command -v tshark >/dev/null 2>&1") == 0;
}

static struct endpoint ep(const char *addr, uint16_t port)
{
    struct endpoint e = {.port = port};
    cr_assert(net_addr_parse(&e.addr, addr));
    return e;
}

/* Runs tshark on path with args; returns stdout (malloc'd). */
static char *tshark(const char *path, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "tshark -n -r '%s' -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE "
             "-o tcp.check_checksum:TRUE %s 2>/dev/null",
             path, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    out[len] = '\0';
    cr_assert_eq(pclose(p), 0, "tshark failed: %s", cmd);
    return out;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Writes g, asserts tshark sees want_min+ packets and nothing bad. */
static void check_clean(struct pcapgen *g, const char *tag, size_t want_frames)
{
    char path[256];
    rb_tmpname(path, sizeof(path), tag);
    cr_assert_eq(pcapgen_write(g, path), 0);
    char *all = tshark(path, "");
    cr_assert_eq(count_lines(all), want_frames, "%s: tshark read %zu frames, want %zu", tag,
                 count_lines(all), want_frames);
    free(all);
    char *bad = tshark(path, "-Y '_ws.malformed || _ws.expert.severity >= error'");
    cr_assert_str_empty(bad, "%s: tshark reports problems:\n%s", tag, bad);
    free(bad);
    unlink(path);
}

static struct pcapgen_call_spec base_call(uint64_t start)
{
    struct pcapgen_call_spec c = {.caller = ep("203.0.113.10", 5060),
                                  .callee = ep("198.51.100.20", 5060),
                                  .start_us = start,
                                  .talk_ms = 2000,
                                  .ring_ms = 500};
    return c;
}

Test(tshark, generated_captures_are_clean)
{
    if (!have_tshark())
        cr_skip_test("tshark not installed");
    /* Plain UDP call with RTCP on port+1, Ethernet. */
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_call_spec c = base_call(0);
    c.rtcp = PCAPGEN_RTCP_PORT_PLUS_1;
    c.talk_ms = 12000;
    pcapgen_call(g, &c);
    check_clean(g, "udpcall", pcapgen_count(g));
    pcapgen_free(g);

    /* TCP call with a proxy challenge, and a session timer. */
    g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    c = base_call(0);
    c.transport = PCAPGEN_TRANSPORT_TCP;
    c.auth = 407;
    c.session_expires = 90;
    pcapgen_call(g, &c);
    check_clean(g, "tcpcall", pcapgen_count(g));
    pcapgen_free(g);

    /* VLAN, QinQ, IPv6 and RTCP-mux calls, re-INVITE to a new address, forking. */
    g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_encap vlan = {.vlan = 100}, qinq = {.vlan = 20, .qinq_outer = 300};
    c = base_call(0);
    c.encap = &vlan;
    c.forking = true;
    pcapgen_call(g, &c);
    c = base_call(5000000);
    c.call_id = "qinq";
    c.encap = &qinq;
    c.reinvite_ms = 1000;
    c.reinvite_media = ep("203.0.113.11", 12000);
    pcapgen_call(g, &c);
    c = base_call(10000000);
    c.call_id = "v6";
    c.caller = ep("2001:db8::10", 5060);
    c.callee = ep("2001:db8:1::20", 5060);
    c.rtcp = PCAPGEN_RTCP_MUX;
    c.reinvite_ms = 1000;
    c.reinvite_direction = "sendonly";
    pcapgen_call(g, &c);
    check_clean(g, "encaps", pcapgen_count(g));
    pcapgen_free(g);

    /* IPv4 and IPv6 fragmentation (SIP with SDP is larger than the MTU). */
    g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_encap frag = {.mtu = 300, .frag_reverse = true};
    c = base_call(0);
    c.encap = &frag;
    c.rtp = PCAPGEN_RTP_NONE;
    pcapgen_call(g, &c);
    c.call_id = "frag6";
    c.caller = ep("2001:db8::10", 5060);
    c.callee = ep("2001:db8:1::20", 5060);
    frag.frag_reverse = false;
    pcapgen_call(g, &c);
    check_clean(g, "frag", pcapgen_count(g));
    pcapgen_free(g);

    /* Other link types with a registration loop and a 404. */
    const int lts[] = {PCAPGEN_LINK_LINUX_SLL, PCAPGEN_LINK_RAW, PCAPGEN_LINK_NULL};
    for (size_t i = 0; i < 3; i++) {
        g = pcapgen_new(lts[i]);
        struct pcapgen_register_spec r = {.ua = ep("203.0.113.60", 5060),
                                          .registrar = ep("203.0.113.1", 5060),
                                          .outcome = PCAPGEN_REG_LOOP_401,
                                          .stale = true};
        pcapgen_register(g, &r);
        c = base_call(1000000);
        c.final_status = 404;
        c.caller = ep("2001:db8::10", 5060);
        c.callee = ep("2001:db8:1::20", 5060);
        pcapgen_call(g, &c);
        check_clean(g, "links", pcapgen_count(g));
        pcapgen_free(g);
    }

    /* TCP stream games: mid-stream start, split, reorder, coalesce, retransmit, RST. */
    g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_tcp *t = pcapgen_tcp_new(g, &c.caller, &c.callee, 77, 99, NULL);
    char *m1 =
        pcapgen_sip_build("OPTIONS sip:a@[2001:db8:1::20] SIP/2.0",
                          "Via: SIP/2.0/TCP [2001:db8::10]:5060;branch=z9hG4bK1\n"
                          "From: <sip:b@[2001:db8::10]>;tag=1\nTo: <sip:a@[2001:db8:1::20]>\n"
                          "Call-ID: tcpgames\nCSeq: 1 OPTIONS\nMax-Forwards: 70",
                          NULL, NULL);
    size_t cuts[] = {20, 100};
    pcapgen_tcp_send_split(t, 0, 1000, PCAPGEN_C2S, (const uint8_t *)m1, strlen(m1), cuts, 2, true);
    pcapgen_tcp_retransmit(t, 10000, PCAPGEN_C2S);
    size_t l1 = strlen(m1);
    char *two = malloc(2 * l1 + 1);
    memcpy(two, m1, l1);
    memcpy(two + l1, m1, l1 + 1);
    pcapgen_tcp_send(t, 20000, PCAPGEN_C2S, (const uint8_t *)two, 2 * l1);
    pcapgen_tcp_ack(t, 30000, PCAPGEN_S2C);
    pcapgen_tcp_rst(t, 40000, PCAPGEN_S2C);
    pcapgen_tcp_free(t);
    free(m1);
    free(two);
    check_clean(g, "tcpgames", pcapgen_count(g));
    pcapgen_free(g);

    /* The demo capture. */
    g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    pcapgen_demo(g);
    check_clean(g, "demo", pcapgen_count(g));
    pcapgen_free(g);
}

/* RTCP XR VoIP Metrics as Wireshark reads them: clean, and every figure
 * the one README.md documents (siptap's own reading of the same blocks is
 * checked against those figures in tests/rtp/test_rtp_e2e.c). */
Test(tshark, xr_voip_metrics_decode_as_documented)
{
    if (!have_tshark())
        cr_skip_test("tshark not installed");
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    struct pcapgen_rtp_spec s = {.src = ep("192.0.2.1", 4000),
                                 .dst = ep("192.0.2.2", 6000),
                                 .ssrc = 0x11223344,
                                 .count = 600,
                                 .rtcp = PCAPGEN_RTCP_PORT_PLUS_1,
                                 .rtcp_rr = true,
                                 .rtcp_xr = true,
                                 .loss_every = 20};
    pcapgen_rtp_stream(g, &s, NULL);
    check_clean(g, "xr", pcapgen_count(g));
    char path[256];
    rb_tmpname(path, sizeof(path), "xrfields");
    cr_assert_eq(pcapgen_write(g, path), 0);
    char *fields = tshark(path, "-Y rtcp.xr.bt==7 -T fields -E separator=, "
                                "-e rtcp.xr.voipmetrics.moslq -e rtcp.xr.voipmetrics.moscq "
                                "-e rtcp.xr.voipmetrics.rfactor -e rtcp.xr.voipmetrics.extrfactor "
                                "-e rtcp.xr.voipmetrics.rtdelay -e rtcp.xr.voipmetrics.esdelay "
                                "-e rtcp.xr.voipmetrics.signallevel "
                                "-e rtcp.xr.voipmetrics.noiselevel -e rtcp.xr.voipmetrics.gmin "
                                "-e rtcp.xr.voipmetrics.jbnominal -e rtcp.xr.voipmetrics.jbmax "
                                "-e rtcp.xr.voipmetrics.jbabsmax");
    /* An RR every 5 s of the 12 s: two, each with its block. */
    const char *want = "4.1,4,88,127,2,60,-20,-70,16,40,80,200\n";
    char both[256];
    snprintf(both, sizeof(both), "%s%s", want, want);
    cr_assert_str_eq(fields, both);
    free(fields);
    unlink(path);
    pcapgen_free(g);
}

Test(tshark, detects_a_bad_checksum)
{
    /* The negative control: the check above would fail on a broken packet. */
    if (!have_tshark())
        cr_skip_test("tshark not installed");
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_RAW);
    struct endpoint a = ep("192.0.2.1", 5060), b = ep("192.0.2.2", 5060);
    pcapgen_udp(g, 0, &a, &b, (const uint8_t *)"hello", 5, NULL);
    char path[256];
    rb_tmpname(path, sizeof(path), "badsum");
    cr_assert_eq(pcapgen_write(g, path), 0);
    struct readback rb;
    cr_assert(rb_load_file(&rb, path));
    rb.f[0].data[26] ^= 0x01; /* UDP checksum */
    struct pcapgen *h = pcapgen_new(PCAPGEN_LINK_RAW);
    pcapgen_frame(h, 0, rb.f[0].data, rb.f[0].len);
    cr_assert_eq(pcapgen_write(h, path), 0);
    char *bad = tshark(path, "-Y '_ws.malformed || _ws.expert.severity >= error'");
    cr_assert_eq(count_lines(bad), 1, "tshark should flag the bad checksum");
    free(bad);
    unlink(path);
    rb_free(&rb);
    pcapgen_free(g);
    pcapgen_free(h);
}

/* Finds the rtp,streams row of ssrc; returns packets and lost. */
static bool stream_row(const char *out, uint32_t ssrc, long *pkts, long *lost)
{
    char key[16];
    snprintf(key, sizeof(key), "0x%08X", ssrc);
    const char *p = strstr(out, key);
    if (!p)
        return false;
    char codec[32];
    return sscanf(p + strlen(key), " %31s %ld %ld", codec, pkts, lost) == 3;
}

Test(tshark, rtp_stream_statistics_match)
{
    if (!have_tshark())
        cr_skip_test("tshark not installed");
    struct pcapgen *g = pcapgen_new(PCAPGEN_LINK_ETHERNET);
    /* Signalling only, so tshark learns the media ports from SDP. */
    struct pcapgen_call_spec c = base_call(0);
    c.caller_media = ep("203.0.113.10", 40000);
    c.callee_media = ep("198.51.100.20", 50000);
    c.rtp = PCAPGEN_RTP_NONE;
    c.talk_ms = 20000;
    pcapgen_call(g, &c);
    /* Answer at 0.5 s; streams from 1 s. */
    const uint16_t lost[] = {65535, 0, 1, 200};
    struct pcapgen_rtp_spec a = {.src = c.caller_media,
                                 .dst = c.callee_media,
                                 .ssrc = 0xA1,
                                 .start_us = 1000000,
                                 .count = 500,
                                 .start_seq = 65300,
                                 .lost_seqs = lost,
                                 .n_lost = 4};
    struct pcapgen_rtp_result ra;
    pcapgen_rtp_stream(g, &a, &ra);
    struct pcapgen_rtp_spec b = {.src = c.callee_media,
                                 .dst = c.caller_media,
                                 .ssrc = 0xB2,
                                 .start_us = 1000000,
                                 .count = 600,
                                 .loss_every = 100,
                                 .burst_start = 200,
                                 .burst_len = 10};
    struct pcapgen_rtp_result rbr;
    pcapgen_rtp_stream(g, &b, &rbr);
    cr_assert_eq(ra.sent, 496);
    cr_assert_eq(ra.lost, 4);
    /* Slots 99,199,...,599 and 200..209; the last slot's loss is invisible. */
    cr_assert_eq(rbr.lost, 16);
    char path[256];
    rb_tmpname(path, sizeof(path), "rtpstats");
    cr_assert_eq(pcapgen_write(g, path), 0);
    char *out = tshark(path, "-q -z rtp,streams");
    long pkts = 0, nlost = 0;
    cr_assert(stream_row(out, 0xA1, &pkts, &nlost), "no stream 0xA1 in:\n%s", out);
    cr_assert_eq(pkts, 496);
    cr_assert_eq(nlost, 4, "across the 16-bit wrap");
    cr_assert(stream_row(out, 0xB2, &pkts, &nlost), "no stream 0xB2 in:\n%s", out);
    cr_assert_eq(pkts, 584);
    cr_assert_eq(nlost, 15);
    free(out);
    unlink(path);
    pcapgen_free(g);
}

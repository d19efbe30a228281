/*
 * Live test of the media detectors: the real daemon capturing on the
 * loopback interface while sipp places two calls on 127.0.0.1, at the same
 * time so the whole test stays under a minute:
 *
 *   noack   the UAC never sends ACK; the UAS retransmits its 200 as RFC 3261
 *           13.3.1.4 says (T1 doubling to T2, written out as explicit sends
 *           so sipp's own retransmission logic does not abort the call) and
 *           sends BYE 32 s (64*T1) after the answer: call_drop missing_ack;
 *   oneway  a normal call whose RTP this test sends itself, from the UAC's SDP
 *           address to the UAS's only: one_way_audio, phase start.
 *
 * Scenarios are written by the test into a temporary directory; the daemon
 * writes JSON Lines to a file there (-o file:...), with a BPF filter on the
 * test's own port range, and is stopped with SIGTERM. Skipped (saying why)
 * when not root, when sipp is not installed or when SIPTAPD is not set.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/event_schema.h"

static char dir[256];
static int base_port;

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin:/usr/sbin:/sbin";
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *p = strtok_r(buf, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        char full[4200];
        snprintf(full, sizeof(full), "%s/%s", p, prog);
        if (access(full, X_OK) == 0)
            return true;
    }
    return false;
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Starts argv with stdout/stderr to DIR/log; returns the pid. */
static pid_t spawn(char *const argv[], const char *log)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, log);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (null >= 0)
            dup2(null, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Waits for pid up to timeout_s; kills it (by its pid) if it overstays.
 * Returns the exit status, or -1 if it had to be killed. */
static int wait_for(pid_t pid, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

#define INVITE_UAC                                                                                 \
    "  <send><![CDATA[\n\n"                                                                        \
    "INVITE sip:bob@127.0.0.1:%d SIP/2.0\n"                                                        \
    "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"                           \
    "From: <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n"                  \
    "To: <sip:bob@127.0.0.1:%d>\n"                                                                 \
    "Call-ID: [call_id]\n"                                                                         \
    "CSeq: 1 INVITE\n"                                                                             \
    "Contact: <sip:alice@[local_ip]:[local_port]>\n"                                               \
    "Max-Forwards: 70\n"                                                                           \
    "Content-Type: application/sdp\n"                                                              \
    "Content-Length: [len]\n\n"                                                                    \
    "v=0\n"                                                                                        \
    "o=alice 1 1 IN IP4 127.0.0.1\n"                                                               \
    "s=-\n"                                                                                        \
    "c=IN IP4 127.0.0.1\n"                                                                         \
    "t=0 0\n"                                                                                      \
    "m=audio %d RTP/AVP 0\n"                                                                       \
    "a=rtpmap:0 PCMU/8000\n\n"                                                                     \
    "]]></send>\n"

#define OK_UAS                                                                                     \
    "  <send><![CDATA[\n\n"                                                                        \
    "SIP/2.0 200 OK\n"                                                                             \
    "[last_Via:]\n"                                                                                \
    "[last_From:]\n"                                                                               \
    "[last_To:];tag=[pid]SIPpTag01[call_number]\n"                                                 \
    "[last_Call-ID:]\n"                                                                            \
    "[last_CSeq:]\n"                                                                               \
    "Contact: <sip:bob@[local_ip]:[local_port]>\n"                                                 \
    "Content-Type: application/sdp\n"                                                              \
    "Content-Length: [len]\n\n"                                                                    \
    "v=0\n"                                                                                        \
    "o=bob 1 1 IN IP4 127.0.0.1\n"                                                                 \
    "s=-\n"                                                                                        \
    "c=IN IP4 127.0.0.1\n"                                                                         \
    "t=0 0\n"                                                                                      \
    "m=audio %d RTP/AVP 0\n"                                                                       \
    "a=rtpmap:0 PCMU/8000\n\n"                                                                     \
    "]]></send>\n"

#define OK_TO_REQUEST                                                                              \
    "  <send><![CDATA[\n\n"                                                                        \
    "SIP/2.0 200 OK\n"                                                                             \
    "[last_Via:]\n"                                                                                \
    "[last_From:]\n"                                                                               \
    "[last_To:]\n"                                                                                 \
    "[last_Call-ID:]\n"                                                                            \
    "[last_CSeq:]\n"                                                                               \
    "Content-Length: 0\n\n"                                                                        \
    "]]></send>\n"

#define HEAD "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"%s\">\n"

/* Ports, all inside [base, base + 40): SIP, sipp's own media sockets (which
 * it binds at mp and mp+2), and the SDP ports of the one-way call, which
 * this test binds to send (and sink) its RTP. */
#define P_UAS1   (base_port + 0)
#define P_UAC1   (base_port + 1)
#define P_UAS2   (base_port + 2)
#define P_UAC2   (base_port + 3)
#define MP_UAS1  (base_port + 10)
#define MP_UAC1  (base_port + 14)
#define MP_UAS2  (base_port + 18)
#define MP_UAC2  (base_port + 22)
#define SDP_UAC1 (base_port + 26)
#define SDP_UAS1 (base_port + 28)
#define SDP_UAC2 (base_port + 30)
#define SDP_UAS2 (base_port + 32)

static void write_scenarios(void)
{
    static char buf[65536];
    size_t off;

    /* The UAS that is never acknowledged. */
    off = (size_t)snprintf(buf, sizeof(buf),
                           HEAD "  <recv request=\"INVITE\">\n"
                                "    <action>\n"
                                "      <ereg regexp=\".*\" search_in=\"hdr\" "
                                "header=\"From:\" assign_to=\"remote_from\"/>\n"
                                "      <ereg regexp=\".*\" search_in=\"hdr\" "
                                "header=\"To:\" assign_to=\"local_to\"/>\n"
                                "    </action>\n"
                                "  </recv>\n",
                           "siptap uas noack");
    off += (size_t)snprintf(buf + off, sizeof(buf) - off, OK_UAS, SDP_UAS1);
    unsigned iv = 500, at = 500, prev = 0;
    while (at < 32000) {
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "  <pause milliseconds=\"%u\"/>\n",
                                at - prev);
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, OK_UAS, SDP_UAS1);
        prev = at;
        iv = iv * 2 > 4000 ? 4000 : iv * 2;
        at += iv;
    }
    off += (size_t)snprintf(buf + off, sizeof(buf) - off,
                            "  <pause milliseconds=\"%u\"/>\n"
                            "  <send><![CDATA[\n\n"
                            "BYE sip:alice@127.0.0.1:%d SIP/2.0\n"
                            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
                            "From: [$local_to];tag=[pid]SIPpTag01[call_number]\n"
                            "To: [$remote_from]\n"
                            "[last_Call-ID:]\n"
                            "CSeq: 1 BYE\n"
                            "Max-Forwards: 70\n"
                            "Content-Length: 0\n\n"
                            "]]></send>\n"
                            "  <recv response=\"200\"/>\n"
                            "</scenario>\n",
                            32000 - prev, P_UAC1);
    cr_assert(off < sizeof(buf));
    write_file("uas_noack.xml", buf);

    /* The UAC that never sends ACK: retransmitted 200s loop back. */
    off = (size_t)snprintf(buf, sizeof(buf), HEAD, "siptap uac noack");
    off += (size_t)snprintf(buf + off, sizeof(buf) - off, INVITE_UAC, P_UAS1, P_UAS1, SDP_UAC1);
    off += (size_t)snprintf(buf + off, sizeof(buf) - off,
                            "  <recv response=\"200\"/>\n"
                            "  <label id=\"wait\"/>\n"
                            "  <recv response=\"200\" optional=\"true\" next=\"wait\"/>\n"
                            "  <recv request=\"BYE\"/>\n" OK_TO_REQUEST "</scenario>\n");
    write_file("uac_noack.xml", buf);

    /* A plain UAS: answer, ACK, wait for BYE. */
    off = (size_t)snprintf(buf, sizeof(buf), HEAD "  <recv request=\"INVITE\"/>\n",
                           "siptap uas plain");
    off += (size_t)snprintf(buf + off, sizeof(buf) - off, OK_UAS, SDP_UAS2);
    off += (size_t)snprintf(buf + off, sizeof(buf) - off,
                            "  <recv request=\"ACK\"/>\n"
                            "  <recv request=\"BYE\"/>\n" OK_TO_REQUEST "</scenario>\n");
    write_file("uas_plain.xml", buf);

    /* A plain UAC: ACK, talk 9 s, BYE. */
    off = (size_t)snprintf(buf, sizeof(buf), HEAD, "siptap uac plain");
    off += (size_t)snprintf(buf + off, sizeof(buf) - off, INVITE_UAC, P_UAS2, P_UAS2, SDP_UAC2);
    off += (size_t)snprintf(
        buf + off, sizeof(buf) - off,
        "  <recv response=\"200\"/>\n"
        "  <send><![CDATA[\n\n"
        "ACK sip:bob@127.0.0.1:%d SIP/2.0\n"
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
        "From: <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n"
        "[last_To:]\n"
        "Call-ID: [call_id]\n"
        "CSeq: 1 ACK\n"
        "Max-Forwards: 70\n"
        "Content-Length: 0\n\n"
        "]]></send>\n"
        "  <pause milliseconds=\"9000\"/>\n"
        "  <send><![CDATA[\n\n"
        "BYE sip:bob@127.0.0.1:%d SIP/2.0\n"
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
        "From: <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n"
        "[last_To:]\n"
        "Call-ID: [call_id]\n"
        "CSeq: 2 BYE\n"
        "Max-Forwards: 70\n"
        "Content-Length: 0\n\n"
        "]]></send>\n"
        "  <recv response=\"200\"/>\n"
        "</scenario>\n",
        P_UAS2, P_UAS2);
    write_file("uac_plain.xml", buf);
}

static pid_t start_sipp(const char *scenario, int port, int media_port, const char *cid,
                        int remote_port, const char *log)
{
    char sf[512], p[16], mp[16], remote[64], cidbuf[64];
    snprintf(sf, sizeof(sf), "%s/%s", dir, scenario);
    snprintf(p, sizeof(p), "%d", port);
    snprintf(mp, sizeof(mp), "%d", media_port);
    snprintf(remote, sizeof(remote), "127.0.0.1:%d", remote_port);
    snprintf(cidbuf, sizeof(cidbuf), "%s", cid ? cid : "");
    char *uas[] = {"sipp", "-sf", sf,  "-i",  "127.0.0.1", "-p",       p,     "-mp",
                   mp,     "-m",  "1", "-nr", "-nostdin",  "-timeout", "50s", NULL};
    char *uac[] = {"sipp", "-sf",      sf,     "-i",   "127.0.0.1", "-p",       p,
                   "-mp",  mp,         "-m",   "1",    "-nr",       "-nostdin", "-timeout",
                   "50s",  "-cid_str", cidbuf, remote, NULL};
    return spawn(cid ? uac : uas, log);
}

static int udp_socket(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind %d: %s", port,
              strerror(errno));
    return fd;
}

/* RTP from the oneway UAC's SDP address to the UAS's, 20 ms apart. */
static void send_rtp(int fd, int dst_port, int count)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)dst_port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint8_t pkt[12 + 160];
    memset(pkt, 0xff, sizeof(pkt));
    for (int i = 0; i < count; i++) {
        uint16_t seq = (uint16_t)(100 + i);
        uint32_t ts = (uint32_t)i * 160u;
        pkt[0] = 0x80;
        pkt[1] = 0;
        pkt[2] = (uint8_t)(seq >> 8);
        pkt[3] = (uint8_t)seq;
        pkt[4] = (uint8_t)(ts >> 24);
        pkt[5] = (uint8_t)(ts >> 16);
        pkt[6] = (uint8_t)(ts >> 8);
        pkt[7] = (uint8_t)ts;
        pkt[8] = 0x5e;
        pkt[9] = 0x55;
        pkt[10] = 0x10;
        pkt[11] = 0x01;
        sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to));
        sleep_ms(20);
    }
}

/* The events of one call of a type, from the JSON Lines file. */
static size_t find_events(json_t *all, const char *call_id, const char *type, json_t **first)
{
    size_t n = 0;
    *first = NULL;
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *ev = json_array_get(all, i);
        const char *c = json_string_value(json_object_get(ev, "call_id"));
        const char *t = json_string_value(json_object_get(ev, "type"));
        if (c && t && strcmp(c, call_id) == 0 && strcmp(t, type) == 0) {
            if (!n)
                *first = ev;
            n++;
        }
    }
    return n;
}

static json_t *read_events(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "siptapd wrote no %s", path);
    json_t *all = json_array();
    char line[65536];
    while (fgets(line, sizeof(line), f)) {
        json_error_t err;
        json_t *ev = json_loads(line, 0, &err);
        cr_assert_not_null(ev, "bad JSON line: %s", err.text);
        event_schema_check(ev);
        json_array_append_new(all, ev);
    }
    fclose(f);
    return all;
}

static const char *sget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    cr_assert(json_is_string(v), "no string field %s", k);
    return json_string_value(v);
}

Test(live_sipp, missing_ack_and_one_way_audio_on_loopback)
{
    const char *siptapd = getenv("SIPTAPD");
    if (geteuid() != 0)
        cr_skip_test("live capture on lo needs root; skipped");
    if (!in_path("sipp"))
        cr_skip_test("sipp (package sip-tester) is not installed; skipped");
    if (!siptapd || access(siptapd, X_OK) != 0)
        cr_skip_test("SIPTAPD is not set to the daemon; skipped");

    snprintf(dir, sizeof(dir), "/tmp/siptap-live-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    base_port = 31000 + (int)(getpid() % 400) * 40;
    write_scenarios();

    char bpf[128], out[600], events[300];
    snprintf(bpf, sizeof(bpf), "udp and host 127.0.0.1 and portrange %d-%d", base_port,
             base_port + 39);
    snprintf(events, sizeof(events), "%s/events.jsonl", dir);
    snprintf(out, sizeof(out), "file:%s", events);
    char *daemon_argv[] = {(char *)siptapd, "-i", "lo", "-f", bpf, "-o", out, "-n", "live", NULL};
    pid_t daemon = spawn(daemon_argv, "siptapd.log");
    sleep_ms(1500); /* the capture is open before the first packet */

    int rtp_src = udp_socket(SDP_UAC2);
    int rtp_sink = udp_socket(SDP_UAS2); /* no ICMP unreachable noise */
    pid_t uas1 = start_sipp("uas_noack.xml", P_UAS1, MP_UAS1, NULL, 0, "uas_noack.log");
    pid_t uas2 = start_sipp("uas_plain.xml", P_UAS2, MP_UAS2, NULL, 0, "uas_plain.log");
    sleep_ms(500);
    pid_t uac1 =
        start_sipp("uac_noack.xml", P_UAC1, MP_UAC1, "noack-%u@siptap", P_UAS1, "uac_noack.log");
    pid_t uac2 =
        start_sipp("uac_plain.xml", P_UAC2, MP_UAC2, "oneway-%u@siptap", P_UAS2, "uac_plain.log");
    sleep_ms(300);
    send_rtp(rtp_src, SDP_UAS2, 8 * 50); /* 8 s, while the call lasts 9 s */
    close(rtp_src);

    int st_uac2 = wait_for(uac2, 30), st_uas2 = wait_for(uas2, 10);
    int st_uac1 = wait_for(uac1, 45), st_uas1 = wait_for(uas1, 10);
    close(rtp_sink);
    sleep_ms(1500); /* let the daemon see the last packets */
    kill(daemon, SIGTERM);
    int st_daemon = wait_for(daemon, 15);
    cr_assert_eq(st_uac1, 0, "sipp uac noack failed (%d); logs in %s", st_uac1, dir);
    cr_assert_eq(st_uas1, 0, "sipp uas noack failed (%d); logs in %s", st_uas1, dir);
    cr_assert_eq(st_uac2, 0, "sipp uac plain failed (%d); logs in %s", st_uac2, dir);
    cr_assert_eq(st_uas2, 0, "sipp uas plain failed (%d); logs in %s", st_uas2, dir);
    cr_assert_eq(st_daemon, 0, "siptapd exited %d; log in %s", st_daemon, dir);

    json_t *all = read_events(events);
    json_t *ev;

    /* The unacknowledged call: dropped for the missing ACK, at the UAS's BYE. */
    cr_assert_eq(find_events(all, "noack-1@siptap", "call_answer", &ev), 1);
    cr_assert_eq(find_events(all, "noack-1@siptap", "call_drop", &ev), 1);
    cr_assert_str_eq(sget(ev, "cause"), "missing_ack");
    cr_assert_str_eq(sget(ev, "severity"), "error");
    cr_assert_eq(json_integer_value(json_object_get(ev, "ok_retransmits")), 10);
    cr_assert(json_is_true(json_object_get(ev, "bye_seen")));
    cr_assert_str_eq(sget(ev, "bye_from"), "callee");
    cr_assert(json_is_null(json_object_get(ev, "session_expires")));
    cr_assert_eq(find_events(all, "noack-1@siptap", "one_way_audio", &ev), 0);
    cr_assert_eq(find_events(all, "noack-1@siptap", "call_end", &ev), 1);
    cr_assert_str_eq(sget(ev, "reason"), "bye");
    cr_assert_str_eq(sget(ev, "drop_cause"), "missing_ack");

    /* The one-way call: only the UAC's RTP. */
    char uac_sdp[32], uas_sdp[32];
    snprintf(uac_sdp, sizeof(uac_sdp), "127.0.0.1:%d", SDP_UAC2);
    snprintf(uas_sdp, sizeof(uas_sdp), "127.0.0.1:%d", SDP_UAS2);
    cr_assert_eq(find_events(all, "oneway-1@siptap", "one_way_audio", &ev), 1);
    cr_assert_str_eq(sget(ev, "phase"), "start");
    cr_assert_str_eq(sget(ev, "hint"), "no_rtp_from_party");
    cr_assert_str_eq(sget(json_object_get(ev, "silent"), "src"), uas_sdp);
    cr_assert_str_eq(sget(json_object_get(ev, "silent"), "dst"), uac_sdp);
    cr_assert_str_eq(sget(json_object_get(ev, "active"), "src"), uac_sdp);
    cr_assert_str_eq(sget(json_object_get(ev, "active"), "dst"), uas_sdp);
    cr_assert_str_eq(sget(ev, "sdp_addr"), uas_sdp);
    /* A 9 s call, shorter than the 10 s window: judged at its end, the
     * silence the call's length. */
    double silent_s = json_number_value(json_object_get(ev, "silent_s"));
    cr_assert(silent_s > 8.5 && silent_s < 10.0, "silent_s %f", silent_s);
    cr_assert(json_is_true(json_object_get(ev, "at_end")));
    cr_assert_eq(find_events(all, "oneway-1@siptap", "call_drop", &ev), 0);
    cr_assert_eq(find_events(all, "oneway-1@siptap", "call_end", &ev), 1);
    cr_assert_str_eq(sget(ev, "reason"), "bye");
    json_decref(all);

    /* Passed: the scratch directory goes. */
    const char *names[] = {"uas_noack.xml", "uac_noack.xml", "uas_plain.xml", "uac_plain.xml",
                           "uas_noack.log", "uac_noack.log", "uas_plain.log", "uac_plain.log",
                           "siptapd.log",   "events.jsonl"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/*
 * Call captures on alert: a synthetic call that fails with 503 after early
 * media (call_fail, severity warning) must leave a pcap of that call's SIP
 * and RTP, named by date and Call-ID, and the event must carry its path.
 * The file is complete when call_end is out, marks where RTP was cut, and
 * holds no digest response unless keep_credentials is on.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/callcap.h"
#include "daemon/daemon.h"
#include "daemon/redact.h"
#include "outputs/sink.h"
#include "ops_util.h"
#include "tests/support/event_schema.h"

static char dir[128];

static void setup(void)
{
    ops_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
    ops_rmtree(dir);
}

TestSuite(callcap, .init = setup, .fini = teardown);

/* Writes a configuration of [capture] lines to DIR/siptap.conf. */
static void write_conf(const char *capture_lines, char *conf, size_t conflen)
{
    char text[1024];
    snprintf(conf, conflen, "%s/siptap.conf", dir);
    snprintf(text, sizeof(text), "[capture]\n%s\n", capture_lines);
    cr_assert(ops_write_file(conf, text));
}

/* Replays pcap with extra [capture] lines; returns the events. */
static json_t *replay_pcap(const char *pcap, const char *capture_lines)
{
    char conf[256], events[256];
    snprintf(events, sizeof(events), "%s/events.jsonl", dir);
    write_conf(capture_lines, conf, sizeof(conf));
    char out[300];
    snprintf(out, sizeof(out), "file:%s", events);
    const char *siptapd = ops_siptapd();
    cr_assert(siptapd, "SIPTAPD is not set");
    char *argv[] = {(char *)siptapd, "-c", conf, "-r", (char *)pcap, "-o", out, NULL};
    char err[256];
    snprintf(err, sizeof(err), "%s/stderr", dir);
    cr_assert_eq(ops_run(argv, NULL, err), 0, "siptapd failed: %s", ops_read_file(err));
    json_t *all = json_array();
    FILE *f = fopen(events, "r");
    cr_assert(f);
    char line[65536];
    while (fgets(line, sizeof(line), f)) {
        json_t *ev = json_loads(line, 0, NULL);
        cr_assert(ev, "not JSON: %s", line);
        event_schema_check(ev);
        json_array_append_new(all, ev);
    }
    fclose(f);
    return all;
}

/* Replays the synthetic call with extra [capture] lines; returns the events. */
static json_t *replay(const char *capture_lines, int rtp_each)
{
    char pcap[256];
    snprintf(pcap, sizeof(pcap), "%s/call.pcap", dir);
    cr_assert(ops_write_call_pcap(pcap, rtp_each));
    return replay_pcap(pcap, capture_lines);
}

static json_t *find(json_t *events, const char *type)
{
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "type")), type) == 0)
            return ev;
    }
    return NULL;
}

Test(callcap, alert_writes_the_calls_sip_and_rtp)
{
    char caps[256], line[400];
    snprintf(caps, sizeof(caps), "%s/caps", dir);
    snprintf(line, sizeof(line), "dir = %s", caps);
    json_t *events = replay(line, 30);
    json_t *fail = find(events, "call_fail");
    cr_assert(fail, "no call_fail event");
    cr_assert_str_eq(json_string_value(json_object_get(fail, "severity")), "warning");
    const char *path = json_string_value(json_object_get(fail, "capture_path"));
    cr_assert(path, "call_fail carries no capture_path");
    char expect[400];
    snprintf(expect, sizeof(expect), "%s/2026-01-01/%s.pcap", caps, OPS_CALL_ID);
    cr_assert_str_eq(path, expect);
    /* Info events do not write captures. */
    cr_assert_null(json_object_get(find(events, "call_start"), "capture_path"));

    struct ops_frame_counts n;
    cr_assert(ops_count_frames(path, &n), "capture does not open: %s", path);
    /* INVITE, 183, 503, ACK (the ACK came after the alert: the file was
     * completed when the call was freed) and all 60 RTP packets. */
    cr_assert_eq(n.sip, 4);
    cr_assert_eq(n.rtp, 60);
    cr_assert_eq(n.total, 64);
    cr_assert(n.time_ordered);
    char tmp[420];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    cr_assert_neq(access(tmp, F_OK), 0, "temporary file left behind");
    json_decref(events);
}

Test(callcap, caps_keep_the_first_and_last_rtp)
{
    char line[600];
    snprintf(line, sizeof(line), "dir = %s/caps\ncall_rtp_head = 10\ncall_rtp_tail = 10", dir);
    json_t *events = replay(line, 30);
    const char *path =
        json_string_value(json_object_get(find(events, "call_fail"), "capture_path"));
    cr_assert(path);
    char orig[256];
    snprintf(orig, sizeof(orig), "%s/call.pcap", dir);
    struct ops_frame_counts all, kept;
    cr_assert(ops_count_frames(orig, &all));
    cr_assert(ops_count_frames(path, &kept));
    cr_assert_eq(all.rtp, 60);
    cr_assert_eq(kept.rtp, 20);
    cr_assert_eq(kept.sip, 4);
    cr_assert_eq(kept.first_rtp_us, all.first_rtp_us);
    cr_assert_eq(kept.last_rtp_us, all.last_rtp_us);
    cr_assert(kept.time_ordered);
    json_decref(events);
}

Test(callcap, tshark_reads_the_capture)
{
    if (system("command -v tshark >/dev/null 2>&1") != 0)
        cr_skip_test("tshark is not installed");
    char line[400];
    snprintf(line, sizeof(line), "dir = %s/caps", dir);
    json_t *events = replay(line, 30);
    const char *path =
        json_string_value(json_object_get(find(events, "call_fail"), "capture_path"));
    cr_assert(path);
    char cmd[1024], out[256];
    snprintf(out, sizeof(out), "%s/tshark.txt", dir);
    snprintf(cmd, sizeof(cmd), "tshark -r '%s' -Y sip -T fields -e sip.Call-ID > '%s' 2>/dev/null",
             path, out);
    cr_assert_eq(system(cmd), 0);
    char *text = ops_read_file(out);
    int sip = 0;
    for (char *p = text; (p = strstr(p, OPS_CALL_ID)) != NULL; p++)
        sip++;
    cr_assert_eq(sip, 4, "tshark saw %d SIP messages of the call:\n%s", sip, text);
    free(text);
    snprintf(cmd, sizeof(cmd), "tshark -r '%s' -Y rtp -T fields -e rtp.ssrc > '%s' 2>/dev/null",
             path, out);
    cr_assert_eq(system(cmd), 0);
    text = ops_read_file(out);
    int rtp = 0;
    for (char *p = text; *p; p++)
        rtp += *p == '\n';
    cr_assert_eq(rtp, 60, "tshark decoded %d RTP packets", rtp);
    free(text);
    json_decref(events);
}

Test(callcap, replay_without_a_dir_writes_nothing)
{
    json_t *events = replay("", 5);
    json_t *fail = find(events, "call_fail");
    cr_assert(fail);
    cr_assert_null(json_object_get(fail, "capture_path"));
    json_decref(events);
}

Test(callcap, call_ids_become_safe_distinct_file_names)
{
    char a[160], b[160], c[160];
    callcap_sanitise("../../etc/passwd", a, sizeof(a));
    cr_assert_null(strchr(a, '/'));
    cr_assert_neq(a[0], '.');
    callcap_sanitise("abc@host.example", b, sizeof(b));
    cr_assert_str_eq(b, "abc@host.example");
    callcap_sanitise("a b", b, sizeof(b));
    callcap_sanitise("a:b", c, sizeof(c));
    cr_assert_str_neq(b, c, "two Call-IDs share the file name %s", b);
    char longid[400];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    callcap_sanitise(longid, a, sizeof(a));
    cr_assert_lt(strlen(a), sizeof(a));
    callcap_sanitise("", a, sizeof(a));
    cr_assert_gt(strlen(a), 0);
}

/* A real detector alert on a public capture: one_way_audio on the heplify
 * RTP/RTCP sample must point at a capture holding that call's SIP and RTP. */
Test(callcap, real_one_way_audio_alert_on_a_public_capture)
{
    const char *pcaps = getenv("SIPTAP_PUBLIC_PCAPS");
    char pcap[512];
    snprintf(pcap, sizeof(pcap), "%s/heplify__example__pcap__rtp_rtcp_sip_ipv4_udp.pcap",
             pcaps ? pcaps : "");
    if (!pcaps || access(pcap, R_OK) != 0)
        cr_skip_test("public captures not available (SIPTAP_PUBLIC_PCAPS)");
    char conf[256], events[256], text[400], out[300], err[256];
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(events, sizeof(events), "%s/events.jsonl", dir);
    snprintf(err, sizeof(err), "%s/stderr", dir);
    snprintf(text, sizeof(text), "[capture]\ndir = %s/caps\n", dir);
    cr_assert(ops_write_file(conf, text));
    snprintf(out, sizeof(out), "file:%s", events);
    char *argv[] = {(char *)ops_siptapd(), "-c", conf, "-r", pcap, "-o", out, NULL};
    cr_assert_eq(ops_run(argv, NULL, err), 0, "%s", ops_read_file(err));
    FILE *f = fopen(events, "r");
    cr_assert(f);
    char line[65536];
    json_t *alert = NULL;
    while (!alert && fgets(line, sizeof(line), f)) {
        json_t *ev = json_loads(line, 0, NULL);
        cr_assert(ev, "not JSON: %s", line);
        event_schema_check(ev);
        if (strcmp(json_string_value(json_object_get(ev, "type")), "one_way_audio") == 0)
            alert = ev;
        else
            json_decref(ev);
    }
    fclose(f);
    if (!alert)
        cr_skip_test("the one_way_audio detector did not fire on this capture");
    const char *path = json_string_value(json_object_get(alert, "capture_path"));
    cr_assert(path, "one_way_audio carries no capture_path");
    const char *call_id = json_string_value(json_object_get(alert, "call_id"));
    char stem[160];
    callcap_sanitise(call_id, stem, sizeof(stem));
    cr_assert(strstr(path, stem), "%s is not named after %s", path, call_id);
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, ebuf);
    cr_assert(p, "capture does not open: %s", ebuf);
    struct pcap_pkthdr *h;
    const u_char *data;
    int frames = 0, with_call_id = 0;
    while (pcap_next_ex(p, &h, &data) == 1) {
        frames++;
        if (memmem(data, h->caplen, call_id, strlen(call_id)))
            with_call_id++;
    }
    pcap_close(p);
    cr_assert_gt(with_call_id, 0, "no SIP message of the call in the capture");
    cr_assert_gt(frames - with_call_id, 0, "no media frames in the capture");
    json_decref(alert);
}

/* ---- credentials ---- */

#define DIGEST_RESPONSE "6629fae49393a05397450978507c4ef1"
#define PROXY_AUTHORIZATION                                                                        \
    "Proxy-Authorization: Digest username=\"alice\", realm=\"10.0.0.2\", nonce=\"4f1c2d\", "       \
    "uri=\"sip:bob@10.0.0.2\", response=\"" DIGEST_RESPONSE "\", algorithm=MD5\r\n"

/* Replays the answered call whose INVITE carries a digest response; the
 * capture_path of its one_way_audio alert (the callee alone sends RTP). */
static char *auth_call_capture(const char *capture_lines)
{
    char pcap[256];
    snprintf(pcap, sizeof(pcap), "%s/auth.pcap", dir);
    cr_assert(ops_write_answered_call_pcap(pcap, 12, PROXY_AUTHORIZATION));
    char *source = ops_read_file(pcap);
    cr_assert(source);
    cr_assert(memmem(source, 4096, DIGEST_RESPONSE, strlen(DIGEST_RESPONSE)),
              "the replayed call carries no digest response");
    free(source);
    json_t *events = replay_pcap(pcap, capture_lines);
    json_t *alert = find(events, "one_way_audio");
    cr_assert(alert, "no one_way_audio event");
    const char *path = json_string_value(json_object_get(alert, "capture_path"));
    cr_assert(path, "one_way_audio carries no capture_path");
    char *copy = strdup(path);
    json_decref(events);
    return copy;
}

/* The capture's bytes (pcapng frames hold the SIP text unchanged). */
static bool capture_holds(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    static char data[1 << 20];
    size_t n = fread(data, 1, sizeof(data), f);
    fclose(f);
    return memmem(data, n, text, strlen(text)) != NULL;
}

Test(callcap, digest_responses_are_masked_in_the_capture)
{
    char line[400];
    snprintf(line, sizeof(line), "dir = %s/caps", dir);
    char *path = auth_call_capture(line);
    cr_assert_not(capture_holds(path, DIGEST_RESPONSE), "the digest response is in %s", path);
    cr_assert(capture_holds(path, "response=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\", algorithm=MD5"),
              "the response is not masked in place, at its length");
    cr_assert(capture_holds(path, "username=\"alice\", realm=\"10.0.0.2\", nonce=\"4f1c2d\""));
    /* Same length, so the lengths hold; the checksum was made again. */
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, ebuf);
    cr_assert(p, "%s", ebuf);
    struct pcap_pkthdr *h;
    const u_char *data;
    int masked = 0;
    while (pcap_next_ex(p, &h, &data) == 1) {
        if (!memmem(data, h->caplen, "Proxy-Authorization", 19))
            continue;
        masked++;
        cr_assert(ops_udp_checksum_ok(data, h->caplen),
                  "the masked INVITE's UDP checksum is wrong");
    }
    pcap_close(p);
    cr_assert_eq(masked, 1);
    free(path);
}

Test(callcap, keep_credentials_keeps_the_digest_response)
{
    char line[400];
    snprintf(line, sizeof(line), "dir = %s/caps\nkeep_credentials = on", dir);
    char *path = auth_call_capture(line);
    cr_assert(capture_holds(path, "response=\"" DIGEST_RESPONSE "\""));
    free(path);
}

/* The text scan on its own: what is masked, and what is left alone. */
static void assert_redacts(const char *in, const char *expect, unsigned masked)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", in);
    unsigned n = redact_sip_text((uint8_t *)buf, (uint32_t)strlen(buf));
    cr_assert_str_eq(buf, expect);
    cr_assert_eq(n, masked, "%u values masked in: %s", n, in);
}

Test(callcap, redaction_finds_every_response_and_nothing_else)
{
    assert_redacts(
        "REGISTER sip:a SIP/2.0\r\nAuthorization: Digest username=\"u\",response=\"ab\"\r\n",
        "REGISTER sip:a SIP/2.0\r\nAuthorization: Digest username=\"u\",response=\"xx\"\r\n", 1);
    /* Any case, blanks before the colon, an unquoted value, a folded line. */
    assert_redacts("x\r\nproxy-authorization : Digest realm=r,\r\n  RESPONSE = 12ab , nc=1\r\n",
                   "x\r\nproxy-authorization : Digest realm=r,\r\n  RESPONSE = xxxx , nc=1\r\n", 1);
    /* A Basic credential is the password itself. */
    assert_redacts("x\nAuthorization: Basic YWxpY2U6c2VjcmV0\nTo: b\n",
                   "x\nAuthorization: Basic xxxxxxxxxxxxxxxx\nTo: b\n", 1);
    /* Not a credential header, or "response" inside another value. */
    assert_redacts("x\r\nX-Authorization: Digest response=\"ab\"\r\n",
                   "x\r\nX-Authorization: Digest response=\"ab\"\r\n", 0);
    assert_redacts("x\r\nWWW-Authenticate: Digest realm=\"response=ab\"\r\n",
                   "x\r\nWWW-Authenticate: Digest realm=\"response=ab\"\r\n", 0);
    assert_redacts("x\r\nAuthorization: Digest username=\"response=\\\"ab\", response=\"cd\"\r\n",
                   "x\r\nAuthorization: Digest username=\"response=\\\"ab\", response=\"xx\"\r\n",
                   1);
    /* Two headers; one cut short by the end of the frame. */
    assert_redacts("Authorization: Digest response=\"ab\"\r\nProxy-Authorization: Digest "
                   "response=\"cdef",
                   "Authorization: Digest response=\"xx\"\r\nProxy-Authorization: Digest "
                   "response=\"xxxx",
                   2);
    assert_redacts("x\r\nAuthorization: Digest response=\"\"\r\n",
                   "x\r\nAuthorization: Digest response=\"\"\r\n", 0);
    assert_redacts("x\r\nAuthorization:", "x\r\nAuthorization:", 0);
}

/* ---- completeness at call_end ---- */

/* A sink that, when an event of its type comes, counts the frames of its
 * capture as the file is at that moment. */
struct call_end_probe {
    struct sink base;
    const char *type;
    bool seen;
    char path[512];
    struct ops_frame_counts frames;
};

static int probe_start(struct sink *s, struct ev_loop *loop)
{
    (void)s;
    (void)loop;
    return 0;
}

static void probe_wake(struct sink *s)
{
    struct call_end_probe *p = (struct call_end_probe *)s;
    struct event_record *r;
    while ((r = sink_queue_peek(s, 0)) != NULL) {
        json_t *ev = json_loadb(r->text, r->len, 0, NULL);
        cr_assert(ev, "not JSON: %s", r->text);
        event_schema_check(ev);
        const char *path = json_string_value(json_object_get(ev, "capture_path"));
        if (strcmp(r->type, p->type) == 0 && !p->seen) {
            p->seen = true;
            snprintf(p->path, sizeof(p->path), "%s", path ? path : "");
            if (path)
                ops_count_frames(path, &p->frames);
        }
        json_decref(ev);
        sink_queue_pop(s);
    }
}

static void probe_drain(struct sink *s, double t)
{
    (void)t;
    probe_wake(s);
}

static void probe_destroy(struct sink *s)
{
    sink_base_destroy(s);
}

static const struct sink_ops probe_ops = {
    .kind = "probe",
    .start = probe_start,
    .wake = probe_wake,
    .drain = probe_drain,
    .destroy = probe_destroy,
};

/* Runs the daemon in this process on pcap with [capture] lines, the probe
 * watching for events of its type. */
static void run_with_probe(const char *pcap, const char *capture_lines,
                           struct call_end_probe *probe)
{
    char conf[256], out[300];
    write_conf(capture_lines, conf, sizeof(conf));
    snprintf(out, sizeof(out), "file:%s/events.jsonl", dir);
    char *argv[] = {"siptapd", "-c", conf, "-r", (char *)pcap, "-o", out, NULL};
    struct daemon_options opts;
    cr_assert_eq(daemon_parse_args(7, argv, &opts), -1);
    static struct siptap d;
    cr_assert_eq(daemon_init(&d, &opts), 0);
    cr_assert(sink_base_init(&probe->base, &probe_ops, "probe", 64));
    event_bus_add_sink(engine_bus(d.engine), &probe->base);
    cr_assert_eq(daemon_run(&d), 0);
    daemon_destroy(&d);
    cr_assert(probe->seen, "no %s", probe->type);
}

Test(callcap, the_capture_holds_the_message_that_raised_the_alert)
{
    char pcap[256], line[400];
    snprintf(pcap, sizeof(pcap), "%s/call.pcap", dir);
    cr_assert(ops_write_call_pcap(pcap, 5));
    snprintf(line, sizeof(line), "dir = %s/caps", dir);
    static struct call_end_probe probe = {.type = "call_fail"};
    run_with_probe(pcap, line, &probe);
    /* INVITE, 183 and the 503 that failed the call; the ACK is still to come. */
    cr_assert_eq(probe.frames.sip, 3);
    cr_assert_eq(probe.frames.rtp, 10);
}

Test(callcap, the_capture_is_complete_when_call_end_is_published)
{
    char pcap[256], line[400];
    snprintf(pcap, sizeof(pcap), "%s/answered.pcap", dir);
    cr_assert(ops_write_answered_call_pcap(pcap, 12, NULL));
    struct ops_frame_counts source;
    cr_assert(ops_count_frames(pcap, &source));
    cr_assert_eq(source.total, 5 + 12 * 50);
    snprintf(line, sizeof(line), "dir = %s/caps\ncall_rtp_head = 1000", dir);
    static struct call_end_probe probe = {.type = "call_end"};
    run_with_probe(pcap, line, &probe);

    cr_assert_neq(probe.path[0], '\0', "call_end of a call with a capture carries no capture_path");
    /* An alert (one_way_audio, 10 s in) wrote the file first; by call_end
     * it holds every frame of the call. */
    cr_assert_eq(probe.frames.total, source.total, "%d of %d frames in the capture at call_end",
                 probe.frames.total, source.total);
}

/* ---- where RTP was cut ---- */

Test(callcap, the_rtp_cut_is_marked_by_a_packet_comment)
{
    char line[600];
    snprintf(line, sizeof(line), "dir = %s/caps\ncall_rtp_head = 10\ncall_rtp_tail = 10", dir);
    json_t *events = replay(line, 30);
    const char *path =
        json_string_value(json_object_get(find(events, "call_fail"), "capture_path"));
    cr_assert(path);
    struct ops_comment c[4];
    int n = ops_frame_comments(path, c, 4);
    cr_assert_eq(n, 1, "%d packet comments", n);
    /* INVITE, 183, the first 10 RTP frames, then the cut: 40 not kept. */
    cr_assert_eq(c[0].frame, 13);
    cr_assert(strstr(c[0].text, "40 RTP/RTCP frames of this call were not kept before this one"),
              "%s", c[0].text);
    if (system("command -v tshark >/dev/null 2>&1") == 0) {
        char cmd[1024], out[256];
        snprintf(out, sizeof(out), "%s/comments.txt", dir);
        snprintf(cmd, sizeof(cmd),
                 "tshark -r '%s' -Y frame.comment -T fields -e frame.number -e frame.comment "
                 "> '%s' 2>/dev/null",
                 path, out);
        cr_assert_eq(system(cmd), 0);
        char *text = ops_read_file(out);
        cr_assert(strncmp(text, "13\tsiptap: 40 RTP/RTCP frames", 29) == 0, "tshark shows: %s",
                  text);
        free(text);
    }
    json_decref(events);
}

Test(callcap, a_cut_at_the_end_is_marked_on_the_last_frame_kept)
{
    char line[600];
    snprintf(line, sizeof(line), "dir = %s/caps\ncall_rtp_head = 10\ncall_rtp_tail = 0", dir);
    json_t *events = replay(line, 30);
    const char *path =
        json_string_value(json_object_get(find(events, "call_fail"), "capture_path"));
    cr_assert(path);
    struct ops_comment c[4];
    cr_assert_eq(ops_frame_comments(path, c, 4), 1);
    /* INVITE, 183, the 10 RTP frames kept (the last is frame 12), 503, ACK. */
    cr_assert_eq(c[0].frame, 12);
    cr_assert(strstr(c[0].text, "50 RTP/RTCP frames of this call after this one were not kept"),
              "%s", c[0].text);
    json_decref(events);
}

Test(callcap, a_capture_without_a_cut_has_no_comment)
{
    char line[400];
    snprintf(line, sizeof(line), "dir = %s/caps", dir);
    json_t *events = replay(line, 30);
    const char *path =
        json_string_value(json_object_get(find(events, "call_fail"), "capture_path"));
    cr_assert(path);
    struct ops_comment c[4];
    cr_assert_eq(ops_frame_comments(path, c, 4), 0);
    json_decref(events);
}

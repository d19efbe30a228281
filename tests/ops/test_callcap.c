/*
 * Call captures on alert: a synthetic call that fails with 503 after early
 * media (call_fail, severity warning) must leave a pcap of that call's SIP
 * and RTP, named by date and Call-ID, and the event must carry its path.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/callcap.h"
#include "ops_util.h"

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

/* Replays the synthetic call with extra [capture] lines; returns the events. */
static json_t *replay(const char *capture_lines, int rtp_each)
{
    char pcap[256], conf[256], events[256], text[1024];
    snprintf(pcap, sizeof(pcap), "%s/call.pcap", dir);
    snprintf(conf, sizeof(conf), "%s/siptap.conf", dir);
    snprintf(events, sizeof(events), "%s/events.jsonl", dir);
    cr_assert(ops_write_call_pcap(pcap, rtp_each));
    snprintf(text, sizeof(text), "[capture]\n%s\n", capture_lines);
    cr_assert(ops_write_file(conf, text));
    char out[300];
    snprintf(out, sizeof(out), "file:%s", events);
    const char *siptapd = ops_siptapd();
    cr_assert(siptapd, "SIPTAPD is not set");
    char *argv[] = {(char *)siptapd, "-c", conf, "-r", pcap, "-o", out, NULL};
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
        json_array_append_new(all, ev);
    }
    fclose(f);
    return all;
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
        if (ev && strcmp(json_string_value(json_object_get(ev, "type")), "one_way_audio") == 0)
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

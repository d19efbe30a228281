/*
 * ops_util: what the operations tests share: running siptapd as a child
 * process with its output captured, waiting for a condition with a bound,
 * writing a small synthetic call as a pcap file, and reading frames back.
 */
#ifndef SIPTAP_TESTS_OPS_UTIL_H
#define SIPTAP_TESTS_OPS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The siptapd under test ($SIPTAPD); NULL when unset. */
const char *ops_siptapd(void);
/* A fresh directory under /tmp; the caller removes it with ops_rmtree. */
void ops_tmpdir(char *out, size_t outlen);
void ops_rmtree(const char *dir);
/* Writes text to path. */
bool ops_write_file(const char *path, const char *text);
/* Reads a whole file (NUL-terminated, malloc'd); NULL if unreadable. */
char *ops_read_file(const char *path);

/* Runs argv (argv[0] a path) with stdout and stderr to files; returns the
 * exit status, or -1 if it did not exit normally. */
int ops_run(char *const argv[], const char *stdout_path, const char *stderr_path);
/* Starts argv in the background with stdout/stderr to files; returns the pid. */
pid_t ops_spawn(char *const argv[], const char *stdout_path, const char *stderr_path);
/* Sends sig and waits; returns the exit status or -1. */
int ops_stop(pid_t pid, int sig);
/* Polls fn every 50 ms for up to timeout_s; true as soon as it returns true. */
bool ops_wait_for(bool (*fn)(void *arg), void *arg, double timeout_s);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int ops_free_port(void);

/* promtool (Debian package prometheus) on PATH; NULL when it is not there. */
/* Where program is on PATH (out, executable), false if nowhere. */
bool ops_which(const char *program, char *out, size_t outlen);
const char *ops_promtool(void);
/* Runs `promtool check metrics` on the exposition in path: what it printed
 * (malloc'd, "" when the text is clean) and its exit status in *status. */
char *ops_promtool_check(const char *path, int *status);

/* The synthetic call: INVITE (SDP), 183 (SDP), rtp_each RTP packets in each
 * direction 20 ms apart, 503, ACK. Call-ID is OPS_CALL_ID. */
#define OPS_CALL_ID "ops-test-call-1@10.0.0.1"
bool ops_write_call_pcap(const char *path, int rtp_each);
/* An answered call with media from the callee only: INVITE (SDP, with
 * invite_header, a CRLF-terminated header line, if not NULL), 200 (SDP),
 * ACK, rtp_seconds of RTP from the callee (50 a second), BYE, 200. Same
 * Call-ID and addresses. */
bool ops_write_answered_call_pcap(const char *path, int rtp_seconds, const char *invite_header);
/* Whether the UDP checksum of an Ethernet/IPv4/UDP frame is right. */
bool ops_udp_checksum_ok(const uint8_t *frame, size_t caplen);

/* Frames of a pcap file by UDP port class. */
struct ops_frame_counts {
    int total, sip, rtp;
    bool time_ordered;
    uint64_t first_rtp_us, last_rtp_us;
};
bool ops_count_frames(const char *path, struct ops_frame_counts *out);

/* The packet comments of a pcapng file in host byte order: frame (1, 2...)
 * and text of each; the count, or -1 if the file is not such a pcapng. */
struct ops_comment {
    int frame;
    char text[256];
};
int ops_frame_comments(const char *path, struct ops_comment *out, int max);

#endif

/*
 * Test helpers for the outputs tests: a throw-away redis-server on a free
 * loopback port, a tiny pcap writer, running siptapd with its stdout in a
 * file, and an event loop driven until a condition holds (bounded).
 * Everything is static so each test executable includes its own copy.
 */
#ifndef SIPTAP_TESTS_OUTPUTS_HELPERS_H
#define SIPTAP_TESTS_OUTPUTS_HELPERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "outputs/event.h"

#define REDIS_SERVER_BIN "/usr/bin/redis-server"

static inline double helper_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void helper_pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
static inline int helper_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static inline bool helper_have_redis(void)
{
    return access(REDIS_SERVER_BIN, X_OK) == 0;
}

/* Starts redis-server on 127.0.0.1:port and waits (bounded) until it answers
 * PING. Returns its pid, or -1. */
static inline pid_t helper_redis_start(int port)
{
    char portbuf[16];
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execl(REDIS_SERVER_BIN, REDIS_SERVER_BIN, "--port", portbuf, "--bind", "127.0.0.1",
              "--save", "", "--appendonly", "no", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    for (int i = 0; i < 200; i++) {
        redisContext *c = redisConnect("127.0.0.1", port);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return pid;
        } else if (c) {
            redisFree(c);
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        helper_pause_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static inline void helper_redis_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Writes a classic pcap (Ethernet) with count UDP datagrams one second
 * apart, starting at t0 seconds. */
static inline bool helper_write_pcap(const char *path, unsigned count, uint32_t t0)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    const uint32_t gh[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 65535, 1};
    fwrite(gh, 4, 6, f);
    for (unsigned i = 0; i < count; i++) {
        uint8_t pkt[14 + 20 + 8 + 4] = {0};
        pkt[12] = 0x08; /* IPv4 */
        uint8_t *ip = pkt + 14;
        ip[0] = 0x45;
        ip[3] = 20 + 8 + 4;
        ip[8] = 64;
        ip[9] = 17;
        ip[12] = 192, ip[13] = 0, ip[14] = 2, ip[15] = 1;
        ip[16] = 192, ip[17] = 0, ip[18] = 2, ip[19] = 2;
        uint32_t sum = 0;
        for (int k = 0; k < 20; k += 2)
            sum += (uint32_t)(ip[k] << 8 | ip[k + 1]);
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        ip[10] = (uint8_t)(~sum >> 8), ip[11] = (uint8_t)~sum;
        uint8_t *udp = ip + 20;
        udp[0] = 0x30, udp[1] = 0x39, udp[2] = 0x30, udp[3] = 0x3a;
        udp[5] = 12;
        memcpy(udp + 8, "ping", 4);
        uint32_t rh[4] = {t0 + i, 0, sizeof(pkt), sizeof(pkt)};
        fwrite(rh, 4, 4, f);
        fwrite(pkt, 1, sizeof(pkt), f);
    }
    return fclose(f) == 0;
}

/* Starts argv with stdout to out_path and stderr to err_path; its pid. */
static inline pid_t helper_start(char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Waits for a helper_start child: its exit status, or -1. */
static inline int helper_wait(pid_t pid)
{
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Runs argv with stdout to out_path and stderr to err_path; exit status or -1. */
static inline int helper_run(char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Reads a file's lines (without newlines) into a NULL-terminated array. */
static inline char **helper_read_lines(const char *path, size_t *count)
{
    FILE *f = fopen(path, "r");
    *count = 0;
    if (!f)
        return NULL;
    size_t cap = 16;
    char **lines = calloc(cap + 1, sizeof(*lines));
    char *line = NULL;
    size_t n = 0;
    ssize_t len;
    while ((len = getline(&line, &n, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[len - 1] = '\0';
        if (*count == cap) {
            cap *= 2;
            lines = realloc(lines, (cap + 1) * sizeof(*lines));
        }
        lines[(*count)++] = strdup(line);
        lines[*count] = NULL;
    }
    free(line);
    fclose(f);
    return lines;
}

static inline void helper_free_lines(char **lines)
{
    for (size_t i = 0; lines && lines[i]; i++)
        free(lines[i]);
    free(lines);
}

static inline char *helper_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static inline void helper_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* Runs loop until cond(arg) or timeout_s (wall) passed; returns cond(arg). */
static inline bool helper_run_loop_until(struct ev_loop *loop, double timeout_s,
                                         bool (*cond)(void *), void *arg)
{
    ev_timer tick;
    ev_timer_init(&tick, helper_on_tick, 0.02, 0.02);
    ev_timer_start(loop, &tick);
    double end = helper_now() + timeout_s;
    while (!cond(arg) && helper_now() < end)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &tick);
    return cond(arg);
}

/* An event with the common fields only, published; returns its seq. */
static inline uint64_t helper_publish(struct event_bus *bus, const char *type,
                                      enum severity severity, uint64_t ts_us, const char *call_id,
                                      const char *trunk)
{
    struct event ev;
    event_begin(&ev, type, severity, ts_us, call_id, trunk);
    return event_publish(bus, &ev);
}

#endif

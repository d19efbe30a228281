/*
 * The benchmark tools' figures are quoted as target (a)'s evidence
 * (docs/benchmarks.md), so what they read must be right: on a gen_load
 * capture, bench/rtp_floor must see every frame pcap_loop sees, analyse
 * every RTP packet (all but each call's seven SIP messages) into two flows a
 * call, and its look-ahead and touch modes must give the same counts as the
 * plain one, including for a last batch (or pipeline) shorter than the rest.
 * gen_load itself prints its usage for --help and refuses a bad command line
 * (exit 2) without writing a file.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/capture.h"

#define CALLS        5
#define TALK_SECONDS 2
#define SIP_PER_CALL 7 /* INVITE, 100, 180, 200, ACK, BYE, 200 */

static char capture[] = "/tmp/siptap-bench-test-XXXXXX";

static const char *tool(const char *var)
{
    const char *path = getenv(var);
    cr_assert_not_null(path, "%s is set by tests/bench/meson.build", var);
    return path;
}

static void make_capture(void)
{
    int fd = mkstemp(capture);
    cr_assert_geq(fd, 0);
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s %s %d %d >/dev/null 2>&1", tool("GEN_LOAD"), capture, CALLS,
             TALK_SECONDS);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void drop_capture(void)
{
    unlink(capture);
}

/* The first line the command prints, which must hold `want` numbers. */
static void run_numbers(const char *cmd, int want, unsigned long long *out)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[256] = "";
    cr_assert_not_null(fgets(line, sizeof(line), p), "%s printed nothing", cmd);
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    char *s = line;
    for (int i = 0; i < want; i++) {
        char *end;
        out[i] = strtoull(s, &end, 10);
        cr_assert(end != s, "%s: '%s' has fewer than %d numbers", cmd, line, want);
        s = end;
    }
}

TestSuite(bench_tools, .init = make_capture, .fini = drop_capture);

Test(bench_tools, rtp_floor_analyses_every_rtp_frame_every_way)
{
    char cmd[1024];
    unsigned long long base[2], plain[3], ahead[3], touched[3];
    snprintf(cmd, sizeof(cmd), "%s %s", tool("PCAP_LOOP"), capture);
    run_numbers(cmd, 2, base);
    snprintf(cmd, sizeof(cmd), "%s %s", tool("RTP_FLOOR"), capture);
    run_numbers(cmd, 3, plain);
    snprintf(cmd, sizeof(cmd), "%s --lookahead %s", tool("RTP_FLOOR"), capture);
    run_numbers(cmd, 3, ahead);
    snprintf(cmd, sizeof(cmd), "%s --touch %s", tool("RTP_FLOOR"), capture);
    run_numbers(cmd, 3, touched);

    unsigned long long frames = base[0];
    /* 50 packets/s each way for the talk time, give or take the edges. */
    cr_assert_gt(frames, (unsigned long long)CALLS * 2 * 50 * (TALK_SECONDS - 1));
    cr_assert_neq(frames % CAPTURE_BATCH_FRAMES, 0,
                  "the capture must end in a short batch (%llu frames)", frames);
    cr_assert_eq(plain[0], frames, "rtp_floor read %llu of %llu frames", plain[0], frames);
    cr_assert_eq(plain[1], frames - (unsigned long long)CALLS * SIP_PER_CALL);
    cr_assert_eq(plain[2], 2 * CALLS, "flows: %llu", plain[2]);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ahead[i], plain[i], "--lookahead field %d: %llu against %llu", i, ahead[i],
                     plain[i]);
        cr_assert_eq(touched[i], plain[i], "--touch field %d: %llu against %llu", i, touched[i],
                     plain[i]);
    }
}

Test(bench_tools, rtp_floor_refuses_a_bad_command_line)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s --sideways %s >/dev/null 2>&1", tool("RTP_FLOOR"), capture);
    int rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "exit status %d", rc);
    snprintf(cmd, sizeof(cmd), "%s /nonexistent/file.pcap >/dev/null 2>&1", tool("RTP_FLOOR"));
    rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "exit status %d", rc);
}

/* ---- gen_load's command line: nothing is written unless it is right ---- */

/* Runs gen_load with args in a fresh directory; its exit status, what it
 * printed on stdout, and whether it left any file behind. */
static int gen_load_in_tmp(const char *args, char *out, size_t outlen, bool *wrote)
{
    char dir[] = "/tmp/siptap-gen-load-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd %s && %s %s 2>/dev/null", dir, tool("GEN_LOAD"), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    snprintf(cmd, sizeof(cmd), "rmdir %s 2>/dev/null", dir);
    *wrote = system(cmd) != 0; /* rmdir refuses a directory with a file in it */
    if (*wrote) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        cr_assert_eq(system(cmd), 0);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(gen_load_cli, help_prints_usage_and_writes_nothing)
{
    static const char *const forms[] = {"--help", "-h", "--realistic --help", "--realistic -h"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char out[1024];
        bool wrote;
        int rc = gen_load_in_tmp(forms[i], out, sizeof(out), &wrote);
        cr_assert_eq(rc, 0, "gen_load %s: exit status %d", forms[i], rc);
        cr_assert(strncmp(out, "usage: gen_load", 15) == 0, "gen_load %s printed: %s", forms[i],
                  out);
        cr_assert(!wrote, "gen_load %s wrote a file", forms[i]);
    }
}

Test(gen_load_cli, a_bad_command_line_exits_2_and_writes_nothing)
{
    static const char *const forms[] = {
        "",                      /* no output file */
        "--bogus",               /* unknown option */
        "--bogus out.pcap",      /* unknown option before a good operand */
        "out.pcap 10k",          /* not a whole number */
        "out.pcap 5 2 extra",    /* an operand too many */
        "out.pcap 0",            /* no calls */
        "out.pcap 12001",        /* more calls than media ports */
        "out.pcap 5 0",          /* no talk time */
        "--realistic out.pcap x" /* not a number */
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char out[1024];
        bool wrote;
        int rc = gen_load_in_tmp(forms[i], out, sizeof(out), &wrote);
        cr_assert_eq(rc, 2, "gen_load %s: exit status %d", forms[i], rc);
        cr_assert_eq(out[0], '\0', "gen_load %s printed on stdout: %s", forms[i], out);
        cr_assert(!wrote, "gen_load %s wrote a file", forms[i]);
    }
}

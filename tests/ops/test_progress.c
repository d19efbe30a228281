/*
 * Replay summary and progress line: the summary appears on stderr with
 * --summary or when stderr is a terminal, never otherwise (stderr then
 * holds only the outputs' final figures); the progress line is erased by
 * the end of the replay.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ops_util.h"

static char dir[128], pcap[256];

static void setup(void)
{
    ops_tmpdir(dir, sizeof(dir));
    snprintf(pcap, sizeof(pcap), "%s/call.pcap", dir);
    ops_write_call_pcap(pcap, 10);
}

static void teardown(void)
{
    ops_rmtree(dir);
}

TestSuite(progress, .init = setup, .fini = teardown);

static char *run_stderr(bool summary)
{
    char err[256];
    snprintf(err, sizeof(err), "%s/stderr", dir);
    cr_assert(ops_siptapd());
    char *argv[] = {(char *)ops_siptapd(),        "-r", pcap, "-o", "file:/dev/null",
                    summary ? "--summary" : NULL, NULL};
    cr_assert_eq(ops_run(argv, NULL, err), 0);
    return ops_read_file(err);
}

Test(progress, summary_on_request)
{
    char *err = run_stderr(true);
    cr_assert(strstr(err, "calls     1 started, 0 answered, 1 failed"), "stderr: %s", err);
    cr_assert(strstr(err, "alerts    1"), "stderr: %s", err);
    cr_assert(strstr(err, "call_fail"), "stderr: %s", err);
    cr_assert_null(strstr(err, "\033[K"), "progress line drawn without a terminal");
    free(err);
}

Test(progress, silent_without_terminal_or_flag)
{
    char *err = run_stderr(false);
    /* Only the outputs' final figures, which always go to stderr: call_start,
     * call_fail, call_end, the peer's trunk_stats and stats. */
    cr_assert_str_eq(err, "siptapd: output file:/dev/null: 5 delivered, 0 dropped, 0 failed\n");
    free(err);
}

Test(progress, terminal_gets_summary_and_erased_line)
{
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execl(ops_siptapd(), ops_siptapd(), "-r", pcap, "-o", "file:/dev/null", (char *)NULL);
        _exit(127);
    }
    char text[8192];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(master, text + len, sizeof(text) - 1 - len);
        if (n > 0)
            len += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break; /* EIO once the child has closed the terminal */
    }
    text[len] = '\0';
    int st;
    waitpid(pid, &st, 0);
    close(master);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert(strstr(text, "1 started, 0 answered, 1 failed"), "terminal: %s", text);
    /* If a progress line was drawn it was erased before the summary. */
    char *drawn = strstr(text, "packets/s");
    if (drawn)
        cr_assert(strstr(drawn, "\r\033[K"), "progress line not erased");
}

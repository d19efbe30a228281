/*
 * Privilege drop: siptapd started as root with -u nobody opens the capture
 * on lo, then runs as nobody with no capabilities at all (read from
 * /proc/PID/status, as an administrator would check it).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ops_util.h"

static pid_t child;
static uid_t nobody_uid;

static bool status_field(pid_t pid, const char *field, char *out, size_t outlen)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    char *text = ops_read_file(path);
    if (!text)
        return false;
    char key[32];
    snprintf(key, sizeof(key), "\n%s:\t", field);
    char *p = strstr(text, key);
    bool ok = p != NULL;
    if (ok) {
        p += strlen(key);
        size_t n = strcspn(p, "\n");
        snprintf(out, outlen, "%.*s", (int)n, p);
    }
    free(text);
    return ok;
}

static bool switched(void *arg)
{
    (void)arg;
    char uid[128];
    return status_field(child, "Uid", uid, sizeof(uid)) &&
           (uid_t)strtoul(uid, NULL, 10) == nobody_uid;
}

Test(privdrop, runs_as_user_without_capabilities)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to start and switch user");
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        cr_skip_test("no user 'nobody'");
    nobody_uid = pw->pw_uid;
    char dir[128], err[256];
    ops_tmpdir(dir, sizeof(dir));
    snprintf(err, sizeof(err), "%s/stderr", dir);
    char *argv[] = {(char *)ops_siptapd(), "-i", "lo", "-u", "nobody", "-o",
                    "file:/dev/null",      NULL};
    child = ops_spawn(argv, NULL, err);
    cr_assert(ops_wait_for(switched, NULL, 20.0), "never switched to nobody; stderr: %s",
              ops_read_file(err));
    char uid[128], gid[128], eff[64], prm[64], amb[64], inh[64];
    cr_assert(status_field(child, "Uid", uid, sizeof(uid)));
    cr_assert(status_field(child, "Gid", gid, sizeof(gid)));
    cr_assert(status_field(child, "CapEff", eff, sizeof(eff)));
    cr_assert(status_field(child, "CapPrm", prm, sizeof(prm)));
    cr_assert(status_field(child, "CapInh", inh, sizeof(inh)));
    /* real, effective, saved and filesystem uid are all nobody */
    char expect[128];
    snprintf(expect, sizeof(expect), "%u\t%u\t%u\t%u", (unsigned)nobody_uid, (unsigned)nobody_uid,
             (unsigned)nobody_uid, (unsigned)nobody_uid);
    cr_assert_str_eq(uid, expect);
    snprintf(expect, sizeof(expect), "%u\t%u\t%u\t%u", (unsigned)pw->pw_gid, (unsigned)pw->pw_gid,
             (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
    cr_assert_str_eq(gid, expect);
    cr_assert_str_eq(eff, "0000000000000000");
    cr_assert_str_eq(prm, "0000000000000000");
    cr_assert_str_eq(inh, "0000000000000000");
    if (status_field(child, "CapAmb", amb, sizeof(amb)))
        cr_assert_str_eq(amb, "0000000000000000");
    /* Still capturing and still stoppable cleanly. */
    cr_assert_eq(ops_stop(child, SIGTERM), 0, "stderr: %s", ops_read_file(err));
    ops_rmtree(dir);
}

/* Bad usage, found before anything opens: exit 2, as --check-config says. */
Test(privdrop, unknown_user_is_bad_usage)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to open lo");
    char *argv[] = {(char *)ops_siptapd(), "-i", "lo", "-u", "no-such-user-siptap", "-o",
                    "file:/dev/null",      NULL};
    char dir[128], err[256];
    ops_tmpdir(dir, sizeof(dir));
    snprintf(err, sizeof(err), "%s/stderr", dir);
    cr_assert_eq(ops_run(argv, NULL, err), 2);
    char *text = ops_read_file(err);
    cr_assert_str_eq(text,
                     "siptapd: -u no-such-user-siptap: no such user; name an existing user\n");
    free(text);
    ops_rmtree(dir);
}

static int count_in_file(const char *path, const char *needle)
{
    char *text = ops_read_file(path);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p++)
        n++;
    free(text);
    return n;
}

struct file_needle {
    const char *path, *needle;
    int want;
};

static bool file_has(void *arg)
{
    const struct file_needle *f = arg;
    return count_in_file(f->path, f->needle) >= f->want;
}

/* The configuration is a FIFO, so the daemon is caught mid-start (reading
 * it) when SIGUSR1 comes: the signal must wait for the loop (a stats event),
 * not kill the daemon (exit 138). With -u when root, as reported. */
Test(privdrop, a_signal_while_starting_waits_for_the_loop)
{
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    cr_assert(root);
    char dir[128], fifo[256], err[256], events[256], out[300], demo[512];
    ops_tmpdir(dir, sizeof(dir));
    snprintf(fifo, sizeof(fifo), "%s/siptap.conf", dir);
    snprintf(err, sizeof(err), "%s/stderr", dir);
    snprintf(events, sizeof(events), "%s/events.jsonl", dir);
    snprintf(out, sizeof(out), "file:%s", events);
    snprintf(demo, sizeof(demo), "%s/samples/demo.pcap", root);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    bool as_root = geteuid() == 0 && getpwnam("nobody");
    char *argv[] = {(char *)ops_siptapd(), "-c",     fifo, "-r", demo, "-o", out,
                    as_root ? "-u" : NULL, "nobody", NULL};
    pid_t pid = ops_spawn(argv, NULL, err);
    /* A writer can open the FIFO once the daemon has it open for reading. */
    int fd = -1;
    for (int i = 0; i < 400 && fd < 0; i++) {
        fd = open(fifo, O_WRONLY | O_NONBLOCK);
        if (fd < 0)
            usleep(10000);
    }
    cr_assert_geq(fd, 0, "the daemon never opened its configuration");
    kill(pid, SIGUSR1);
    usleep(300000);
    const char *conf = "[general]\nstats_interval = 86400\n";
    signal(SIGPIPE, SIG_IGN); /* a daemon the signal killed reads nothing */
    ssize_t written = write(fd, conf, strlen(conf));
    close(fd);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "killed by signal %d; stderr: %s", WTERMSIG(status),
              ops_read_file(err));
    cr_assert_eq(WEXITSTATUS(status), 0, "stderr: %s", ops_read_file(err));
    cr_assert_eq(written, (ssize_t)strlen(conf));
    /* One stats event for SIGUSR1, one at the end of the file. */
    cr_assert_eq(count_in_file(events, "\"type\":\"stats\""), 2, "%s", ops_read_file(events));
    ops_rmtree(dir);
}

/* -u and logrotate: an output file opened as root is handed to the user
 * before the switch, so SIGHUP can reopen it (copytruncate, or a plain
 * reload). Before, the reopen failed: "cannot reopen ...: Permission denied". */
Test(privdrop, output_files_reopen_after_the_switch)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to start and switch user");
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        cr_skip_test("no user 'nobody'");
    nobody_uid = pw->pw_uid;
    char dir[128], err[256], events[256], out[300];
    ops_tmpdir(dir, sizeof(dir));
    cr_assert_eq(chmod(dir, 0755), 0); /* root's directory, as /var/log is */
    snprintf(err, sizeof(err), "%s/stderr", dir);
    snprintf(events, sizeof(events), "%s/events.jsonl", dir);
    snprintf(out, sizeof(out), "file:%s", events);
    char *argv[] = {(char *)ops_siptapd(), "-i", "lo", "-u", "nobody", "-o", out, NULL};
    child = ops_spawn(argv, NULL, err);
    cr_assert(ops_wait_for(switched, NULL, 20.0), "never switched; stderr: %s", ops_read_file(err));
    struct stat st;
    cr_assert_eq(stat(events, &st), 0);
    cr_assert_eq(st.st_uid, nobody_uid, "the output file is the user's");
    kill(child, SIGHUP);
    usleep(300000);
    kill(child, SIGUSR1);
    struct file_needle stats = {events, "\"type\":\"stats\"", 1};
    cr_assert(ops_wait_for(file_has, &stats, 10.0), "no stats after SIGHUP; stderr: %s",
              ops_read_file(err));
    cr_assert_eq(ops_stop(child, SIGTERM), 0);
    char *text = ops_read_file(err);
    cr_assert(!strstr(text, "cannot reopen"), "%s", text);
    free(text);
    ops_rmtree(dir);
}

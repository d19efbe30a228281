/*
 * Privilege drop: siptapd started as root with -u nobody opens the capture
 * on lo, then runs as nobody with no capabilities at all (read from
 * /proc/PID/status, as an administrator would check it).
 */
#include <criterion/criterion.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

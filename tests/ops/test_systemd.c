/*
 * The systemd unit: `systemd-analyze verify` accepts it (with ExecStart
 * pointing at the built siptapd), and the offline security analysis scores
 * its exposure at 2.0 or less. Installed (`meson install --destdir` of the
 * build under test), the unit lands where systemd looks for units, names
 * the siptapd and the configuration the install put in place, and verifies
 * with the installed tree seen at its prefix (a private mount namespace
 * binds it there; the host is not touched).
 */
#include <criterion/criterion.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_util.h"

static char dir[128], unit[256];

static void setup(void)
{
    ops_tmpdir(dir, sizeof(dir));
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    char in[512];
    snprintf(in, sizeof(in), "%s/systemd/siptapd.service.in", root ? root : ".");
    char *text = ops_read_file(in);
    cr_assert(text, "cannot read %s", in);
    char sbindir[256];
    snprintf(sbindir, sizeof(sbindir), "%s", ops_siptapd());
    dirname(sbindir);
    char etc[256];
    snprintf(etc, sizeof(etc), "%s/etc", dir);
    /* Substitute the two placeholders. */
    size_t cap = strlen(text) * 2 + 4096, len = 0;
    char *out = malloc(cap);
    for (const char *p = text; *p;) {
        if (strncmp(p, "@SBINDIR@", 9) == 0) {
            len += (size_t)snprintf(out + len, cap - len, "%s", sbindir);
            p += 9;
        } else if (strncmp(p, "@SYSCONFDIR@", 12) == 0) {
            len += (size_t)snprintf(out + len, cap - len, "%s", etc);
            p += 12;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
    cr_assert_null(strstr(out, "DIR@"), "placeholder left in the unit");
    snprintf(unit, sizeof(unit), "%s/siptapd.service", dir);
    cr_assert(ops_write_file(unit, out));
    free(out);
    free(text);
}

static void teardown(void)
{
    ops_rmtree(dir);
}

TestSuite(systemd, .init = setup, .fini = teardown);

static bool have_analyze(void)
{
    return system("command -v systemd-analyze >/dev/null 2>&1") == 0;
}

Test(systemd, unit_verifies)
{
    if (!have_analyze())
        cr_skip_test("systemd-analyze is not installed");
    char cmd[1024], out[256];
    snprintf(out, sizeof(out), "%s/verify.txt", dir);
    snprintf(cmd, sizeof(cmd), "cd '%s' && systemd-analyze verify --man=no '%s' >'%s' 2>&1", dir,
             unit, out);
    int rc = system(cmd);
    char *text = ops_read_file(out);
    cr_assert_eq(rc, 0, "systemd-analyze verify: %s", text);
    free(text);
}

Test(systemd, security_exposure_at_most_2)
{
    if (!have_analyze())
        cr_skip_test("systemd-analyze is not installed");
    char cmd[1024], out[256];
    snprintf(out, sizeof(out), "%s/security.txt", dir);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && systemd-analyze security --offline=true --no-pager '%s' >'%s' 2>&1", dir,
             unit, out);
    int rc = system(cmd);
    char *text = ops_read_file(out);
    if (rc != 0 && strstr(text, "offline"))
        cr_skip_test("this systemd-analyze has no --offline: %s", text);
    const char *p = strstr(text, "Overall exposure level for siptapd.service: ");
    cr_assert(p, "no score in: %s", text);
    double score = strtod(p + strlen("Overall exposure level for siptapd.service: "), NULL);
    cr_assert_leq(score, 2.0, "exposure %.1f > 2.0:\n%s", score, text);
    cr_assert_gt(score, 0.0);
    free(text);
}

/* Runs a shell command with its output in DIR/name; the exit status, and
 * the output (malloc'd) in *text. */
static int shell(const char *cmd, const char *name, char **text)
{
    char out[256], full[4096];
    snprintf(out, sizeof(out), "%s/%s", dir, name);
    snprintf(full, sizeof(full), "(%s) >'%s' 2>&1", cmd, out);
    int rc = system(full);
    *text = ops_read_file(out);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The value of the unit's `key=` line up to the first blank (its program),
 * and in *conf the path after " -c ", if any. */
static bool unit_command(const char *unit_text, const char *key, char *prog, size_t proglen,
                         char *conf, size_t conflen)
{
    char needle[64];
    snprintf(needle, sizeof(needle), "\n%s=", key);
    const char *p = strstr(unit_text, needle);
    if (!p)
        return false;
    p += strlen(needle);
    size_t n = strcspn(p, " \n");
    snprintf(prog, proglen, "%.*s", (int)n, p);
    const char *eol = p + strcspn(p, "\n");
    const char *c = strstr(p, " -c ");
    conf[0] = '\0';
    if (c && c < eol)
        snprintf(conf, conflen, "%.*s", (int)strcspn(c + 4, " \n"), c + 4);
    return true;
}

Test(systemd, the_installed_unit_verifies)
{
    if (!have_analyze())
        cr_skip_test("systemd-analyze is not installed");
    if (system("command -v meson >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1") != 0)
        cr_skip_test("meson or unshare is not installed: cannot install into a scratch root");
    const char *build = getenv("SIPTAP_BUILD_ROOT");
    cr_assert(build, "SIPTAP_BUILD_ROOT is set by tests/meson.build");
    char cmd[2048], dest[256], *text;

    /* Can systemd-analyze verify anything here? A unit that must pass. */
    char probe[256];
    snprintf(probe, sizeof(probe), "%s/probe.service", dir);
    cr_assert(ops_write_file(probe, "[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n"));
    snprintf(cmd, sizeof(cmd), "cd '%s' && systemd-analyze verify --man=no '%s'", dir, probe);
    if (shell(cmd, "probe.txt", &text) != 0)
        cr_skip_test("systemd-analyze verify cannot run here (a trivial unit fails): %s", text);
    free(text);

    snprintf(dest, sizeof(dest), "%s/dest", dir);
    snprintf(cmd, sizeof(cmd), "meson install -C '%s' --no-rebuild --destdir '%s'", build, dest);
    cr_assert_eq(shell(cmd, "install.txt", &text), 0, "%s: %s", cmd, text);
    free(text);

    /* Where the install put the unit: a directory systemd reads units from. */
    snprintf(cmd, sizeof(cmd), "cd '%s' && find . -name siptapd.service -path '*/systemd/system/*'",
             dest);
    cr_assert_eq(shell(cmd, "find.txt", &text), 0);
    char rel[512];
    cr_assert(sscanf(text, ".%511s", rel) == 1, "no siptapd.service installed: %s", text);
    free(text);
    char unit_dir[512];
    snprintf(unit_dir, sizeof(unit_dir), "%s", rel);
    dirname(unit_dir);
    cr_assert_eq(shell("systemd-analyze unit-paths", "paths.txt", &text), 0, "%s", text);
    char line[600];
    snprintf(line, sizeof(line), "\n%s\n", unit_dir);
    char *paths = malloc(strlen(text) + 2);
    snprintf(paths, strlen(text) + 2, "\n%s", text);
    cr_assert(strstr(paths, line), "installed in %s, which systemd does not read units from:%s",
              unit_dir, paths);
    free(paths);
    free(text);

    /* It names the siptapd and the configuration the install put there. */
    char unit_path[1024], prog[512], conf[512], where[1024];
    snprintf(unit_path, sizeof(unit_path), "%s%s", dest, rel);
    char *unit_text = ops_read_file(unit_path);
    cr_assert(unit_text, "cannot read %s", unit_path);
    cr_assert(unit_command(unit_text, "ExecStart", prog, sizeof(prog), conf, sizeof(conf)));
    snprintf(where, sizeof(where), "%s%s", dest, prog);
    cr_assert_eq(access(where, X_OK), 0, "ExecStart=%s, not installed there", prog);
    cr_assert(conf[0], "ExecStart names no -c CONFIG");
    snprintf(where, sizeof(where), "%s%s", dest, conf);
    cr_assert_eq(access(where, R_OK), 0, "ExecStart's -c %s: not installed there", conf);
    char pre[512], pre_conf[512];
    cr_assert(
        unit_command(unit_text, "ExecStartPre", pre, sizeof(pre), pre_conf, sizeof(pre_conf)));
    cr_assert_str_eq(pre, prog, "ExecStartPre runs another program than ExecStart");
    cr_assert_str_eq(pre_conf, conf, "ExecStartPre checks another file than ExecStart reads");
    free(unit_text);

    /* Verified as installed: the installed program's directory is bound
     * over the real one in a mount namespace of this command only. */
    char sbin[512];
    snprintf(sbin, sizeof(sbin), "%s", prog);
    dirname(sbin);
    struct stat st;
    if (stat(sbin, &st) != 0 || !S_ISDIR(st.st_mode))
        cr_skip_test("%s does not exist on this machine: nothing to bind the installed one on",
                     sbin);
    const char *ns = geteuid() == 0 ? "unshare -m" : "unshare -rm";
    snprintf(cmd, sizeof(cmd), "%s sh -c 'mount --bind \"%s%s\" \"%s\" && true'", ns, dest, sbin,
             sbin);
    if (shell(cmd, "ns.txt", &text) != 0)
        cr_skip_test("no private mount namespace here (%s): %s", ns, text);
    free(text);
    snprintf(cmd, sizeof(cmd),
             "%s sh -c 'mount --bind \"%s%s\" \"%s\" && cd \"%s\" && "
             "systemd-analyze verify --man=no \"%s\"'",
             ns, dest, sbin, sbin, dir, unit_path);
    int rc = shell(cmd, "verify-installed.txt", &text);
    cr_assert_eq(rc, 0, "systemd-analyze verify of the installed unit: %s", text);
    free(text);
}

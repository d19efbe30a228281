/*
 * The systemd unit: `systemd-analyze verify` accepts it (with ExecStart
 * pointing at the built siptapd), and the offline security analysis scores
 * its exposure at 2.0 or less.
 */
#include <criterion/criterion.h>
#include <libgen.h>
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

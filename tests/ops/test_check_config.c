/*
 * --check-config: the documented example is valid (exit 0); each kind of
 * broken file exits 2 with "FILE:LINE: problem" naming the right line.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

TestSuite(check_config, .init = setup, .fini = teardown);

static int check(const char *conf, char **err_text, char **out_text)
{
    char err[256], out[256];
    snprintf(err, sizeof(err), "%s/stderr", dir);
    snprintf(out, sizeof(out), "%s/stdout", dir);
    cr_assert(ops_siptapd(), "SIPTAPD is not set");
    char *argv[] = {(char *)ops_siptapd(), "--check-config", "-c", (char *)conf, NULL};
    int rc = ops_run(argv, out, err);
    *err_text = ops_read_file(err);
    *out_text = ops_read_file(out);
    return rc;
}

Test(check_config, the_example_config_is_valid)
{
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    cr_assert(root);
    char path[512];
    snprintf(path, sizeof(path), "%s/siptap.conf.example", root);
    char *err, *out;
    cr_assert_eq(check(path, &err, &out), 0, "stderr: %s", err);
    cr_assert(strstr(out, "configuration is valid"), "stdout: %s", out);
    free(err);
    free(out);
}

struct broken {
    const char *text;
    int line;
    const char *says;
};

Test(check_config, broken_files_exit_2_naming_file_and_line)
{
    static const struct broken cases[] = {
        {"[general]\ntap_name = a\n\nbogus_key = 1\n", 4, "unknown key 'bogus_key'"},
        {"[capture]\nbuffer_mb = lots\n", 2, "must be a whole number"},
        /* libpcap takes the ring's size as an int of bytes: 2047 MiB at most. */
        {"[capture]\nbuffer_mb = 2048\n", 2, "must be a whole number from 1 to 2047"},
        {"[capture]\ntimeout_ms = 0\n", 2, "must be a whole number from 1 to 1000"},
        {"[capture]\n\nqueue_mb = 0\n", 3, "must be a whole number from 1 to 65536"},
        {"[output]\ndrain_timeout_s = 3601\n", 2, "must be a whole number from 0 to 3600"},
        {"[nosuch]\nx = 1\n", 2, "unknown section [nosuch]"},
        {"[metrics]\n; comment\nlisten = localhost\n", 3, "is not ADDR:PORT"},
        {"[capture]\ncalls = maybe\n", 2, "must be on or off"},
        {"[capture]\ndir = relative/path\n", 2, "absolute path"},
        {"[capture]\nsnaplen = 1500\nfilter = udp port\n", 3, "does not compile"},
        {"[general]\nuser = no-such-user-siptap-test\n", 2, "no such user"},
        {"[trunk a]\nmatch = 10.0.0.300\n", 2, "is not an address"},
        {"this is not ini\n", 1, "not an INI line"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256], expect[320];
        snprintf(path, sizeof(path), "%s/bad%zu.conf", dir, i);
        cr_assert(ops_write_file(path, cases[i].text));
        char *err, *out;
        cr_assert_eq(check(path, &err, &out), 2, "case %zu: stderr %s", i, err);
        snprintf(expect, sizeof(expect), "%s:%d: ", path, cases[i].line);
        cr_assert(strstr(err, expect), "case %zu: expected '%s' in: %s", i, expect, err);
        cr_assert(strstr(err, cases[i].says), "case %zu: expected '%s' in: %s", i, cases[i].says,
                  err);
        free(err);
        free(out);
    }
}

Test(check_config, the_largest_capture_buffer_is_valid)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/big.conf", dir);
    cr_assert(ops_write_file(path, "[capture]\nbuffer_mb = 2047\ntimeout_ms = 1000\n"
                                   "queue_mb = 65536\n"));
    char *err, *out;
    cr_assert_eq(check(path, &err, &out), 0, "stderr: %s", err);
    free(err);
    free(out);
}

Test(check_config, a_missing_file_exits_2)
{
    char *err, *out;
    cr_assert_eq(check("/nonexistent/siptap.conf", &err, &out), 2);
    cr_assert(strstr(err, "/nonexistent/siptap.conf: cannot open"), "%s", err);
    free(err);
    free(out);
}

/*
 * --check-config: the documented example is valid (exit 0); each kind of
 * broken file exits 2 with "FILE:LINE: problem" naming the right line, and
 * the daemon starting with the same file or arguments says exactly the same
 * and exits 2 as well.
 */
#include <criterion/criterion.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        {"[metrics]\ntrunk_stats_interval_s = 1m\n", 2,
         "trunk_stats_interval_s = '1m' must be a whole number from 0 to 86400 seconds (0: no "
         "trunk_stats events), e.g. trunk_stats_interval_s = 60"},
        {"[nosuch]\nx = 1\n", 2, "unknown section [nosuch]"},
        {"[metrics]\n; comment\nlisten = localhost\n", 3, "is not ADDR:PORT"},
        {"[capture]\ncalls = maybe\n", 2, "must be on or off"},
        {"[capture]\ndir = relative/path\n", 2, "absolute path"},
        {"[capture]\nsnaplen = 1500\nfilter = udp port\n", 3, "does not compile"},
        {"[general]\nuser = no-such-user-siptap-test\n", 2, "no such user"},
        {"[trunk a]\nmatch = 10.0.0.300\n", 2, "is not an address"},
        {"this is not ini\n", 1, "not an INI line"},
        {"[capture]\ninterface = lo\nfile = a.pcap\n", 3, "interface is already set on line 2"},
        {"[capture]\nfile = a.pcap\n\ninterface = lo\n", 4, "file is already set on line 2"},
        {"[capture]\ninterface =\n", 2, "interface is empty"},
        {"[output]\noutput = -\noutput = mqtt://x\n", 3, "unknown output 'mqtt://x'"},
        {"[output]\noutput = kafka://127.0.0.1:9092\n", 2, "no topic"},
        {"[output]\noutput = syslog:local9\n", 2, "unknown syslog facility"},
        {"[output]\noutput = file:\n", 2, "names no file"},
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

/* ---- the same message and exit 2 from --check-config and at start ----
 * Each case: a file (or none), extra arguments, and the whole message
 * expected on stderr, "%s" standing for the file's path. At start the
 * daemon replays the demo capture: it must refuse before reading it. */

static void run_both(const char *path, char *const extra[], const char *expect)
{
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    cr_assert(root);
    char demo[512], out_file[256], err_path[256];
    snprintf(demo, sizeof(demo), "%s/samples/demo.pcap", root);
    snprintf(out_file, sizeof(out_file), "file:%s/events.jsonl", dir);
    snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
    for (int start = 0; start < 2; start++) {
        char *argv[24];
        int n = 0;
        argv[n++] = (char *)ops_siptapd();
        if (!start)
            argv[n++] = "--check-config";
        if (path) {
            argv[n++] = "-c";
            argv[n++] = (char *)path;
        }
        for (int i = 0; extra && extra[i]; i++)
            argv[n++] = extra[i];
        if (start) {
            argv[n++] = "-r";
            argv[n++] = demo;
            argv[n++] = "-o";
            argv[n++] = out_file;
        }
        argv[n] = NULL;
        int rc = ops_run(argv, NULL, err_path);
        char *err = ops_read_file(err_path);
        cr_assert_eq(rc, 2, "%s: exit %d, stderr: %s", start ? "start" : "--check-config", rc, err);
        cr_assert_str_eq(err, expect, "%s", start ? "at start" : "from --check-config");
        free(err);
    }
}

static void expect_refused(const char *name, const char *text, const char *fmt)
{
    char path[256], expect[2048];
    snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
    cr_assert(ops_write_file(path, text));
    snprintf(expect, sizeof(expect), fmt, path);
    run_both(path, NULL, expect);
}

Test(check_config, kafka_property_name_is_checked_by_librdkafka)
{
    expect_refused("kafka_name", "[output]\nkafka.bogus.property = 1\n",
                   "siptapd: %s:2: kafka.bogus.property: No such configuration property: "
                   "\"bogus.property\"; see the property list of librdkafka (CONFIGURATION.md) "
                   "for the names and values it takes\n");
}

Test(check_config, kafka_property_value_is_checked_by_librdkafka)
{
    expect_refused("kafka_value", "[output]\nqueue_size = 10\nkafka.acks = sometimes\n",
                   "siptapd: %s:3: kafka.acks: Invalid value for configuration property "
                   "\"request.required.acks\"; see the property list of librdkafka "
                   "(CONFIGURATION.md) for the names and values it takes\n");
}

Test(check_config, redis_user_needs_a_password)
{
    expect_refused("redis_user", "[output]\n\nredis_user = siptap\n",
                   "siptapd: %s:3: redis_user = 'siptap' needs redis_password in [output] as "
                   "well (Redis AUTH takes both); add redis_password = ... or remove "
                   "redis_user\n");
}

Test(check_config, capture_dir_that_is_not_a_directory)
{
    expect_refused("dir_file", "[capture]\ndir = /etc/passwd/captures\n",
                   "siptapd: %s:2: dir = '/etc/passwd/captures': /etc/passwd is not a "
                   "directory; name a directory for call captures or turn them off with "
                   "calls = off\n");
}

Test(check_config, capture_dir_the_user_cannot_write)
{
    if (geteuid() != 0)
        cr_skip_test("needs root: root may write anywhere, so the case is another user's");
    if (!getpwnam("nobody"))
        cr_skip_test("no user 'nobody'");
    char text[512], fmt[1024];
    snprintf(text, sizeof(text), "[general]\nuser = nobody\n[capture]\ndir = %s/calls\n", dir);
    snprintf(fmt, sizeof(fmt),
             "siptapd: %%s:4: dir = '%s/calls': %s cannot be written by nobody; create it for "
             "that user (install -d -o nobody %s/calls) or turn call captures off with "
             "calls = off\n",
             dir, dir, dir);
    expect_refused("dir_perm", text, fmt);
}

Test(check_config, severity_of_an_event_type_that_does_not_exist)
{
    expect_refused("severity", "[severity]\ncall_drop = critical\ncall_dorp = error\n",
                   "siptapd: %s:3: [severity] call_dorp: no event type has that name; types "
                   "are: call_start, call_answer, call_fail, call_end, media_without_call, "
                   "one_way_audio, no_audio, call_drop, registration_loop, codec_mismatch, "
                   "trunk_down, trunk_up, trunk_failover, sip_scan, rtp_quality, stats, "
                   "trunk_stats\n");
}

Test(check_config, a_section_given_twice)
{
    expect_refused("dup_section", "[trunk a]\nmatch = 192.0.2.1\n\n[trunk a]\nmatch = 192.0.2.2\n",
                   "siptapd: %s:4: section [trunk a] appears twice (first on line 1); merge the "
                   "two into one\n");
}

Test(check_config, a_key_given_twice)
{
    expect_refused("dup_key", "[general]\ntap_name = a\nstats_interval = 60\ntap_name = b\n",
                   "siptapd: %s:4: 'tap_name' is set twice in [general] (first on line 2); keep "
                   "one of the two lines\n");
}

Test(check_config, a_continuation_line_is_not_a_second_key)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/continued.conf", dir);
    cr_assert(ops_write_file(path, "[trunk a]\nmatch = 192.0.2.1,\n  192.0.2.2\n"));
    char *err, *out;
    cr_assert_eq(check(path, &err, &out), 0, "stderr: %s", err);
    free(err);
    free(out);
}

Test(check_config, a_directory_given_as_the_file)
{
    char expect[512];
    snprintf(expect, sizeof(expect),
             "siptapd: %s: is a directory; -c takes the configuration file itself, e.g. -c "
             "%s/siptap.conf\n",
             dir, dir);
    run_both(dir, NULL, expect);
}

Test(check_config, a_filter_that_does_not_compile)
{
    expect_refused("filter", "[capture]\nfilter = udp port\n",
                   "siptapd: %s:2: filter = 'udp port' does not compile: can't parse filter "
                   "expression: syntax error; see pcap-filter(7), or check it with tcpdump -d\n");
}

Test(check_config, a_user_that_does_not_exist)
{
    expect_refused("user", "[general]\nuser = no-such-user-siptap-test\n",
                   "siptapd: %s:2: user = 'no-such-user-siptap-test': no such user; create it "
                   "(useradd --system no-such-user-siptap-test) or name an existing one\n");
}

Test(check_config, a_user_on_the_command_line_that_does_not_exist)
{
    char *extra[] = {"-u", "no-such-user-siptap-test", NULL};
    run_both(NULL, extra,
             "siptapd: -u no-such-user-siptap-test: no such user; name an existing "
             "user\n");
}

Test(check_config, an_unknown_output)
{
    char *extra[] = {"-o", "bogus", NULL};
    run_both(NULL, extra,
             "siptapd: -o bogus: unknown output 'bogus'; use one of: - | file:PATH | "
             "redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME] | "
             "kafka://HOST:PORT[,HOST:PORT...]/TOPIC | syslog[:FACILITY] | "
             "hep://HOST:PORT[?transport=udp|tcp&id=N&password=P&node=NAME]\n");
}

/* An output in the file is checked as an -o is, with its file and line;
 * an -o is checked in full (a bad port, a bad topic), not only its kind. */
Test(check_config, an_output_in_the_file_names_its_line)
{
    expect_refused("output", "[output]\noutput = -\n\noutput = redis://127.0.0.1:99999\n",
                   "siptapd: %s:4: output = 'redis://127.0.0.1:99999': bad port '99999' in "
                   "'redis://127.0.0.1:99999' (1-65535); write it as "
                   "redis://HOST:PORT[/DB][?stream=NAME][&channel=NAME][&stream_events=all|"
                   "alerts][&channel_events=all|alerts], for example "
                   "redis://127.0.0.1:6379/0?stream=siptap:events&channel=siptap\n");
}

Test(check_config, an_output_on_the_command_line_is_checked_in_full)
{
    char *extra[] = {"-o", "kafka://127.0.0.1:9092/bad topic", NULL};
    run_both(NULL, extra,
             "siptapd: -o kafka://127.0.0.1:9092/bad topic: bad topic 'bad topic' (letters, "
             "digits, '.', '_', '-', at most 249); write it as "
             "kafka://HOST:PORT[,HOST:PORT...]/TOPIC, for example "
             "kafka://10.0.0.5:9092,10.0.0.6:9092/siptap-events\n");
}

Test(check_config, interface_and_outputs_in_the_file_are_valid)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/where.conf", dir);
    cr_assert(ops_write_file(path, "[capture]\ninterface = eth1\n[output]\n"
                                   "output = redis://127.0.0.1:6379?stream=s&channel=c\n"
                                   "output = kafka://10.0.0.5:9092,10.0.0.6:9092/voip\n"
                                   "output = syslog:local3\noutput = file:/var/log/x.jsonl\n"));
    char *err, *out;
    cr_assert_eq(check(path, &err, &out), 0, "stderr: %s", err);
    free(err);
    free(out);
}

Test(check_config, a_tap_name_longer_than_the_file_allows)
{
    char name[65];
    memset(name, 'x', 64);
    name[64] = '\0';
    char *extra[] = {"-n", name, NULL};
    run_both(NULL, extra,
             "siptapd: -n: a tap name is at most 63 characters (as tap_name in [general]); "
             "'xxxxxxxxxxxxxxxxxxxx...' has 64\n");
    name[63] = '\0';
    char *argv[] = {(char *)ops_siptapd(), "--check-config", "-n", name, NULL};
    char err_path[256];
    snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
    cr_assert_eq(ops_run(argv, NULL, err_path), 0, "63 characters are fine");
}

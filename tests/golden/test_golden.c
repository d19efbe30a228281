/*
 * Golden-file cases, as Zeek's btest baselines and curl's tests/data: each
 * case in tests/golden/cases is a scenario for the capture generator
 * (NAME.scn, tools/pcapgen's language), an optional configuration
 * (NAME.conf, given with -c) and the events siptapd must write for it
 * (NAME.jsonl). The runner writes the capture with $PCAPGEN, runs
 * `$SIPTAPD [-c NAME.conf] -r CAPTURE` through tests/support/daemon_events
 * (every event held against docs/events.schema.json), normalises the
 * events and compares them with NAME.jsonl line for line; on a mismatch it
 * prints `diff -u` of the two, one field a line.
 *
 * Normalised: the periodic events (stats, trunk_stats: figures of the run,
 * not of the calls, with rss_kb and every counter) are left out, and so are
 * `tap` (the host's name by default) and `seq` (which counts the periodic
 * events too). Everything else is compared, in the daemon's field order.
 *
 * GOLDEN_UPDATE=1 writes NAME.jsonl from this run instead of comparing
 * (see tests/golden/README.md: review the diff before committing it).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/daemon_events.h"

#define MAX_CASES 256

struct golden_case {
    char name[96];
};

static const char *cases_dir(void)
{
    static char dir[1024];
    const char *root = getenv("SIPTAP_SOURCE_ROOT");
    snprintf(dir, sizeof(dir), "%s/tests/golden/cases", root ? root : ".");
    return dir;
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && strcmp(name + n - s, suffix) == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct golden_case *)a)->name, ((const struct golden_case *)b)->name);
}

/* The names (without suffix) of the files in the cases folder ending in
 * suffix, sorted. */
static size_t list_cases(const char *suffix, struct golden_case *out, size_t max)
{
    DIR *d = opendir(cases_dir());
    if (!d)
        return 0;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        if (!has_suffix(e->d_name, suffix) || strlen(e->d_name) >= sizeof(out->name))
            continue;
        snprintf(out[n].name, sizeof(out[n].name), "%.*s",
                 (int)(strlen(e->d_name) - strlen(suffix)), e->d_name);
        n++;
    }
    closedir(d);
    qsort(out, n, sizeof(*out), by_name);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool updating(void)
{
    const char *v = getenv("GOLDEN_UPDATE");
    return v && *v && strcmp(v, "0") != 0;
}

/* The events of a run as the expected files hold them: one compact JSON
 * object a line, periodic events, tap and seq left out. */
static char *normalise(struct daemon_events *run)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    cr_assert_not_null(out);
    for (size_t i = 0; i < run->count; i++) {
        json_t *ev = run->events[i];
        if (daemon_event_is_periodic(ev))
            continue;
        json_object_del(ev, "tap");
        json_object_del(ev, "seq");
        char *line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        cr_assert_not_null(line);
        fprintf(out, "%s\n", line);
        free(line);
    }
    fclose(out);
    return text;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0, "cannot write %s", path);
}

/* JSON Lines text as one field a line (each event headed by its number,
 * type and call), for a diff a reader can follow. */
static void write_readable(const char *path, const char *jsonl)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    char *copy = strdup(jsonl);
    size_t n = 0;
    for (char *save, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *ev = json_loads(line, 0, NULL);
        if (!ev) {
            fprintf(f, "# line %zu is not JSON\n%s\n", ++n, line);
            continue;
        }
        const char *id = json_string_value(json_object_get(ev, "call_id"));
        if (!id)
            id = json_string_value(json_object_get(ev, "aor"));
        if (!id)
            id = json_string_value(json_object_get(ev, "trunk"));
        fprintf(f, "# event %zu: %s %s\n", ++n, daemon_event_type(ev), id ? id : "");
        char *pretty =
            json_dumps(ev, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        fprintf(f, "%s\n", pretty);
        free(pretty);
        json_decref(ev);
    }
    free(copy);
    fclose(f);
}

/* Prints `diff -u expected got`, both written one field a line. */
static void print_diff(const char *name, const char *dir, const char *want, const char *got)
{
    char a[512], b[512], cmd[1200];
    snprintf(a, sizeof(a), "%s/%s.expected", dir, name);
    snprintf(b, sizeof(b), "%s/%s.got", dir, name);
    write_readable(a, want);
    write_readable(b, got);
    snprintf(cmd, sizeof(cmd), "diff -u -F '^# event' '%s' '%s' 1>&2", a, b);
    fprintf(stderr, "golden case %s: the events differ from %s.jsonl:\n", name, name);
    fflush(stderr);
    if (system(cmd) == -1)
        fprintf(stderr, "(diff could not run) expected:\n%s\ngot:\n%s\n", want, got);
}

static void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    (void)system(cmd);
}

static void run_case(const char *name)
{
    const char *siptapd = getenv("SIPTAPD"), *pcapgen = getenv("PCAPGEN");
    cr_assert(siptapd && pcapgen, "SIPTAPD and PCAPGEN are set by meson");
    char dir[] = "/tmp/siptap-golden-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char scn[1200], conf[1200], want_path[1200], pcap[600], cmd[4096];
    snprintf(scn, sizeof(scn), "%s/%s.scn", cases_dir(), name);
    snprintf(conf, sizeof(conf), "%s/%s.conf", cases_dir(), name);
    snprintf(want_path, sizeof(want_path), "%s/%s.jsonl", cases_dir(), name);
    snprintf(pcap, sizeof(pcap), "%s/%s.pcap", dir, name);

    snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s'", pcapgen, scn, pcap);
    cr_assert_eq(system(cmd), 0, "%s: the generator refused the scenario", name);
    char with_conf[1300] = "";
    if (exists(conf))
        snprintf(with_conf, sizeof(with_conf), "-c '%s' ", conf);
    snprintf(cmd, sizeof(cmd), "'%s' %s-n golden -r '%s'", siptapd, with_conf, pcap);
    struct daemon_events run;
    daemon_events_run(&run, cmd);
    cr_assert_eq(run.status, 0, "%s: siptapd exited with %d", name, run.status);
    char *got = normalise(&run);
    daemon_events_free(&run);

    if (updating()) {
        /* Not a check: the case is reported skipped, so a run with
         * GOLDEN_UPDATE set can never pass for one that compared. */
        write_text(want_path, got);
        free(got);
        remove_dir(dir);
        cr_skip_test("%s: wrote %s (GOLDEN_UPDATE): review it against the scenario's truth", name,
                     want_path);
    } else {
        cr_assert(exists(want_path),
                  "%s: no %s.jsonl; write it with GOLDEN_UPDATE=1 and review it against the "
                  "scenario's truth",
                  name, name);
        char *want = daemon_read_text(want_path);
        bool same = strcmp(want, got) == 0;
        if (!same)
            print_diff(name, dir, want, got);
        free(want);
        remove_dir(dir);
        cr_assert(same,
                  "golden case %s: events differ from tests/golden/cases/%s.jsonl (diff on "
                  "stderr). If the change is intended: GOLDEN_UPDATE=1 meson test golden, and "
                  "review the new file",
                  name, name);
    }
    free(got);
}

ParameterizedTestParameters(golden, case_gives_its_events)
{
    static struct golden_case cases[MAX_CASES];
    size_t n = list_cases(".scn", cases, MAX_CASES);
    return cr_make_param_array(struct golden_case, cases, n);
}

/* As tests/daemon/test_public_calls.c explains: with gcc's link-time
 * optimisation a parameterised test's registration is dropped unless
 * something references it. */
struct criterion_test *golden_case_gives_its_events_ptr;
__attribute__((used)) static struct criterion_test *const *const keep_registration =
    &golden_case_gives_its_events_ptr;

ParameterizedTest(struct golden_case *c, golden, case_gives_its_events)
{
    run_case(c->name);
}

/* The folder holds the cases (an empty list would pass without testing
 * anything), and every expected file or configuration has its scenario. */
Test(golden, every_file_belongs_to_a_case)
{
    static struct golden_case scns[MAX_CASES], others[MAX_CASES];
    size_t n = list_cases(".scn", scns, MAX_CASES);
    cr_assert_geq(n, 8, "only %zu golden cases in %s", n, cases_dir());
    static const char *const suffixes[] = {".jsonl", ".conf"};
    for (size_t s = 0; s < 2; s++) {
        size_t m = list_cases(suffixes[s], others, MAX_CASES);
        for (size_t i = 0; i < m; i++) {
            char scn[1200];
            snprintf(scn, sizeof(scn), "%s/%s.scn", cases_dir(), others[i].name);
            cr_assert(exists(scn), "%s%s has no scenario %s.scn", others[i].name, suffixes[s],
                      others[i].name);
        }
    }
}

/*
 * daemon_events: see daemon_events.h. getline grows its buffer to the line,
 * so no event is ever cut in two; stderr is kept through a temporary file
 * the shell redirects it to.
 */
#include "tests/support/daemon_events.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/event_schema.h"

static void keep(struct daemon_events *e, json_t *ev)
{
    if (e->count == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        json_t **more = realloc(e->events, cap * sizeof(*more));
        cr_assert_not_null(more);
        e->events = more;
        e->cap = cap;
    }
    e->events[e->count++] = ev;
}

/* Every line of f, parsed and held against the schema. */
static void read_lines(struct daemon_events *out, FILE *f, const char *what)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t why;
        json_t *ev = json_loadb(line, (size_t)len, 0, &why);
        cr_assert_not_null(ev, "%s: not JSON (%s): %.300s", what, why.text, line);
        event_schema_check(ev);
        keep(out, ev);
    }
    free(line);
}

static int exit_status(int rc)
{
    return rc >= 0 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void daemon_events_run(struct daemon_events *out, const char *cmd)
{
    memset(out, 0, sizeof(*out));
    out->status = -1;
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "cannot run %s", cmd);
    read_lines(out, p, cmd);
    out->status = exit_status(pclose(p));
}

void daemon_events_run_err(struct daemon_events *out, const char *cmd)
{
    char err[] = "/tmp/siptap-stderr-XXXXXX";
    int fd = mkstemp(err);
    cr_assert_geq(fd, 0);
    close(fd);
    size_t len = strlen(cmd) + strlen(err) + 16;
    char *full = malloc(len);
    cr_assert_not_null(full);
    snprintf(full, len, "{ %s; } 2>'%s'", cmd, err);
    daemon_events_run(out, full);
    free(full);
    out->err = daemon_read_text(err);
    unlink(err);
}

bool daemon_events_read_file(struct daemon_events *out, const char *path)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    read_lines(out, f, path);
    fclose(f);
    return true;
}

void daemon_events_free(struct daemon_events *e)
{
    for (size_t i = 0; i < e->count; i++)
        json_decref(e->events[i]);
    free(e->events);
    free(e->err);
    memset(e, 0, sizeof(*e));
}

bool daemon_event_is_periodic(const json_t *ev)
{
    const char *type = daemon_event_type(ev);
    return strcmp(type, "stats") == 0 || strcmp(type, "trunk_stats") == 0;
}

const char *daemon_event_type(const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    return type ? type : "";
}

size_t events_count_type(json_t *const *events, size_t count, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += strcmp(daemon_event_type(events[i]), type) == 0;
    return n;
}

json_t *events_find_type(json_t *const *events, size_t count, const char *type, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(daemon_event_type(events[i]), type) == 0 && n-- == 0)
            return events[i];
    return NULL;
}

size_t daemon_events_count(const struct daemon_events *e, const char *type)
{
    return events_count_type(e->events, e->count, type);
}

json_t *daemon_events_find(const struct daemon_events *e, const char *type, size_t n)
{
    return events_find_type(e->events, e->count, type, n);
}

json_t *daemon_events_last(const struct daemon_events *e, const char *type)
{
    for (size_t i = e->count; i-- > 0;)
        if (strcmp(daemon_event_type(e->events[i]), type) == 0)
            return e->events[i];
    return NULL;
}

char *daemon_run_text(const char *cmd, int *status)
{
    size_t len = strlen(cmd) + 16;
    char *full = malloc(len);
    cr_assert_not_null(full);
    snprintf(full, len, "{ %s; } 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p, "cannot run %s", cmd);
    free(full);
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    cr_assert_not_null(mem);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(mem);
    *status = exit_status(pclose(p));
    return text;
}

pid_t daemon_spawn(char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int daemon_wait(pid_t pid, double timeout_s)
{
    double end = now_s() + timeout_s;
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (now_s() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *daemon_read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    cr_assert_not_null(mem);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(mem);
    fclose(f);
    return text;
}

/*
 * daemon_events: the one way the tests that need a siptapd process run it
 * and read its events. A test either runs a command line to its end
 * (events on stdout: daemon_events_run), or starts the daemon in the
 * background with its events going to a file (daemon_spawn, -o file:PATH)
 * and reads that file as often as it likes (daemon_events_read_file).
 *
 * Every line is read whatever its length (a call_end with many streams runs
 * to ~100 KB, past any fixed buffer), parsed as JSON and held against
 * docs/events.schema.json (event_schema_check): a line that is not JSON, or
 * an event the schema refuses, fails the running test.
 *
 * What the daemon says on stderr (messages, not events) is kept when a test
 * asks for it (daemon_events_run_err, daemon_spawn's err_path), and a
 * command whose output is text, not events (--help), is run with
 * daemon_run_text.
 */
#ifndef SIPTAP_TESTS_DAEMON_EVENTS_H
#define SIPTAP_TESTS_DAEMON_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct daemon_events {
    json_t **events; /* owned, in output order */
    size_t count, cap;
    int status; /* the command's exit status (pclose), -1 if it could not run */
    char *err;  /* daemon_events_run_err: its stderr (owned); NULL otherwise */
};

/* Runs cmd (a shell command line) and reads its events (stdout) into out;
 * its stderr goes where the test's goes. */
void daemon_events_run(struct daemon_events *out, const char *cmd);
/* The same, with the command's stderr kept in out->err. */
void daemon_events_run_err(struct daemon_events *out, const char *cmd);
/* Reads the events of a JSON Lines file (a `-o file:PATH` output) into out
 * (status 0); false, with no events, when there is no such file. */
bool daemon_events_read_file(struct daemon_events *out, const char *path);
void daemon_events_free(struct daemon_events *e);

/* The periodic figures (stats, trunk_stats): no call's, and not a fault. */
bool daemon_event_is_periodic(const json_t *ev);
/* The event's "type" ("" when it has none). */
const char *daemon_event_type(const json_t *ev);
/* In any array of events (these, or tests/support/event_capture's): how
 * many are of a type, and the n-th (0-based) of a type or NULL. */
size_t events_count_type(json_t *const *events, size_t count, const char *type);
json_t *events_find_type(json_t *const *events, size_t count, const char *type, size_t n);
/* How many events of a type; the n-th (0-based) of a type, or NULL; the
 * last of a type, or NULL. Borrowed. */
size_t daemon_events_count(const struct daemon_events *e, const char *type);
json_t *daemon_events_find(const struct daemon_events *e, const char *type, size_t n);
json_t *daemon_events_last(const struct daemon_events *e, const char *type);

/* Runs cmd for text that is not events (--help, --version): its stdout and
 * stderr together (owned), *status its exit status (-1: killed). */
char *daemon_run_text(const char *cmd, int *status);

/* Starts argv (argv[0] the program) in the background, stdin /dev/null,
 * stdout and stderr to those files (NULL: /dev/null). */
pid_t daemon_spawn(char *const argv[], const char *out_path, const char *err_path);
/* Its exit status (128 + signal when killed by one), or -1 if it had to be
 * killed after timeout_s. */
int daemon_wait(pid_t pid, double timeout_s);
/* The whole of a text file (owned); "" when it does not exist. */
char *daemon_read_text(const char *path);

#endif

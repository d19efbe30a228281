/*
 * process_metrics: the process's own figures on the Prometheus page, under
 * the names every exporter uses (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds), so that
 * dashboards and alerts written for any exporter work on siptapd too.
 *
 * Read from /proc/self at render time, the way the Prometheus client
 * libraries do: CPU time, memory and start time from /proc/self/stat (the
 * start in clock ticks after boot, plus btime from /proc/stat), open
 * descriptors by listing /proc/self/fd, the limit from RLIMIT_NOFILE. A
 * figure that cannot be read (no /proc) is left off the page, HELP and TYPE
 * included: an absent series says "unknown", a 0 would lie.
 */
#ifndef SIPTAP_DAEMON_PROCESS_METRICS_H
#define SIPTAP_DAEMON_PROCESS_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

struct process_figures {
    bool have_stat; /* the four below */
    double cpu_seconds;
    uint64_t resident_bytes;
    uint64_t virtual_bytes;
    double start_time_s; /* Unix time */
    bool have_fds;
    uint64_t open_fds;
    bool have_max_fds;
    uint64_t max_fds;
};

/* Parses the text of /proc/PID/stat (the command name may hold spaces and
 * parentheses: fields are counted from the last ')'); ticks: clock ticks a
 * second, page: bytes a page, boot_time: btime of /proc/stat. false if the
 * text is not such a line. */
bool process_stat_parse(const char *stat, long ticks, long page, double boot_time,
                        struct process_figures *out);
/* The figures of the calling process now; the have_ flags say which. */
void process_figures_read(struct process_figures *out);
/* Appends the process_* metrics of the figures f holds; false if out's cap
 * was hit. */
bool process_metrics_render_figures(const struct process_figures *f, struct buf *out);
/* Reads the figures now and appends them. */
bool process_metrics_render(struct buf *out);

#endif

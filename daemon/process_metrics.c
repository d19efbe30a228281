/*
 * process_metrics: see process_metrics.h. Three small reads per scrape
 * (/proc/self/stat, the btime line of /proc/stat, the /proc/self/fd
 * listing), all far from the packet path: a scrape comes every few seconds.
 */
#include "daemon/process_metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

bool process_stat_parse(const char *stat, long ticks, long page, double boot_time,
                        struct process_figures *out)
{
    const char *p = strrchr(stat, ')');
    if (!p || ticks <= 0 || page <= 0)
        return false;
    /* Fields 3 (state) to 24 (rss), counted as proc(5) numbers them. */
    unsigned long long field[25] = {0};
    p++;
    for (int i = 3; i <= 24; i++) {
        while (*p == ' ')
            p++;
        if (*p == '\0' || *p == '\n')
            return false;
        if (i == 3) { /* the state: a letter */
            p++;
            continue;
        }
        char *end;
        field[i] = strtoull(p, &end, 10);
        if (end == p)
            return false;
        p = end;
    }
    out->cpu_seconds = (double)(field[14] + field[15]) / (double)ticks;
    out->start_time_s = boot_time + (double)field[22] / (double)ticks;
    out->virtual_bytes = field[23];
    out->resident_bytes = field[24] * (unsigned long long)page;
    out->have_stat = true;
    return true;
}

/* btime of /proc/stat: the boot, in seconds since the epoch; -1 if unknown. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[256];
    double t = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "btime ", 6) == 0) {
            t = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return t;
}

static void read_stat(struct process_figures *out)
{
    double boot = boot_time();
    FILE *f = boot >= 0 ? fopen("/proc/self/stat", "r") : NULL;
    if (!f)
        return;
    char text[1024];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    process_stat_parse(text, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), boot, out);
}

/* Descriptors open, the listing's own left out. */
static void read_fds(struct process_figures *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    uint64_t n = 0;
    const struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
            n++;
    closedir(d);
    out->open_fds = n;
    out->have_fds = true;
}

void process_figures_read(struct process_figures *out)
{
    memset(out, 0, sizeof(*out));
    read_stat(out);
    read_fds(out);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
        out->have_max_fds = true;
    }
}

bool process_metrics_render_figures(const struct process_figures *f, struct buf *out)
{
    bool ok = true;
    if (f->have_stat) {
        ok &= buf_appendf(out,
                          "# HELP process_cpu_seconds_total Total user and system CPU time "
                          "spent in seconds.\n# TYPE process_cpu_seconds_total counter\n"
                          "process_cpu_seconds_total %.2f\n",
                          f->cpu_seconds);
        ok &= buf_appendf(out,
                          "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                          "# TYPE process_resident_memory_bytes gauge\n"
                          "process_resident_memory_bytes %llu\n",
                          (unsigned long long)f->resident_bytes);
        ok &= buf_appendf(out,
                          "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                          "# TYPE process_virtual_memory_bytes gauge\n"
                          "process_virtual_memory_bytes %llu\n",
                          (unsigned long long)f->virtual_bytes);
        ok &= buf_appendf(out,
                          "# HELP process_start_time_seconds Start time of the process since "
                          "unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n"
                          "process_start_time_seconds %.2f\n",
                          f->start_time_s);
    }
    if (f->have_fds)
        ok &= buf_appendf(out,
                          "# HELP process_open_fds Number of open file descriptors.\n"
                          "# TYPE process_open_fds gauge\nprocess_open_fds %llu\n",
                          (unsigned long long)f->open_fds);
    if (f->have_max_fds)
        ok &= buf_appendf(out,
                          "# HELP process_max_fds Maximum number of open file descriptors.\n"
                          "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
                          (unsigned long long)f->max_fds);
    return ok;
}

bool process_metrics_render(struct buf *out)
{
    struct process_figures f;
    process_figures_read(&f);
    return process_metrics_render_figures(&f, out);
}

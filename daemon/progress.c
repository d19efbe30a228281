/*
 * progress: see progress.h. The line is drawn with a carriage return and
 * cleared with the ANSI erase-line sequence, which every terminal emulator
 * in use understands; nothing is drawn unless the caller saw a terminal.
 */
#include "daemon/progress.h"

#include <string.h>

#define PROGRESS_INTERVAL_S 0.25

static void draw(struct progress *p)
{
    double now = ev_now(p->loop);
    double dt = now - p->last_time;
    uint64_t pk = *p->packets;
    double rate = dt > 0 ? (double)(pk - p->last_packets) / dt : 0;
    p->last_packets = pk;
    p->last_time = now;
    double frac = capture_progress(p->capture);
    char pct[16] = "  ?%";
    if (frac >= 0)
        snprintf(pct, sizeof(pct), "%3.0f%%", frac * 100.0 > 100.0 ? 100.0 : frac * 100.0);
    fprintf(p->out, "\r\033[Ksiptapd: %s  %llu packets  %.0f packets/s  %zu active calls", pct,
            (unsigned long long)pk, rate, p->calls ? call_table_active(p->calls) : 0);
    fflush(p->out);
    p->shown = true;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    draw(w->data);
}

void progress_start(struct progress *p, struct ev_loop *loop, FILE *out,
                    const struct capture *capture, const uint64_t *packets,
                    struct call_table *calls)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->out = out;
    p->capture = capture;
    p->packets = packets;
    p->calls = calls;
    p->last_time = ev_now(loop);
    ev_timer_init(&p->timer, on_timer, PROGRESS_INTERVAL_S, PROGRESS_INTERVAL_S);
    p->timer.data = p;
    ev_timer_start(loop, &p->timer);
    p->running = true;
}

void progress_stop(struct progress *p)
{
    if (!p->running)
        return;
    ev_timer_stop(p->loop, &p->timer);
    p->running = false;
    if (p->shown) {
        fputs("\r\033[K", p->out);
        fflush(p->out);
        p->shown = false;
    }
}

void progress_print_summary(FILE *out, const char *source, uint64_t packets, double seconds,
                            const struct event_tally *tally)
{
    fprintf(out, "siptapd: %s: %llu packets in %.1f s\n", source, (unsigned long long)packets,
            seconds);
    fprintf(out, "  calls     %llu started, %llu answered, %llu failed\n",
            (unsigned long long)event_tally_get(tally, "call_start"),
            (unsigned long long)event_tally_get(tally, "call_answer"),
            (unsigned long long)event_tally_get(tally, "call_fail"));
    uint64_t alerts = 0;
    for (size_t i = 0; i < tally->count; i++)
        alerts += tally->alerts[i];
    fprintf(out, "  alerts    %llu\n", (unsigned long long)alerts);
    for (size_t i = 0; i < tally->count; i++)
        if (tally->alerts[i])
            fprintf(out, "    %-20s %llu\n", tally->types[i], (unsigned long long)tally->alerts[i]);
}

/*
 * histogram: a Prometheus histogram with fixed bucket bounds, kept as plain
 * counts in the caller's struct (no allocation) and rendered in the text
 * exposition format (cumulative _bucket lines, +Inf, _sum, _count).
 *
 * The bounds are a static array the caller owns and passes on every call,
 * so a histogram is only its counts: thousands of them (a trunk, a direction,
 * a figure each) cost a few hundred kilobytes, untouched until used.
 */
#ifndef SIPTAP_DAEMON_HISTOGRAM_H
#define SIPTAP_DAEMON_HISTOGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define HISTOGRAM_MAX_BOUNDS 15

struct histogram_bounds {
    const double *le; /* ascending, at most HISTOGRAM_MAX_BOUNDS */
    size_t count;
};

struct histogram {
    /* buckets[i]: observations <= le[i] and > le[i-1]; buckets[count]: above
     * the last bound (+Inf only) */
    uint64_t buckets[HISTOGRAM_MAX_BOUNDS + 1];
    uint64_t count;
    double sum;
};

/* v not finite (NaN, inf): not observed. */
void histogram_observe(struct histogram *h, const struct histogram_bounds *b, double v);
/* The _bucket, _sum and _count lines of name for one label set (labels:
 * `k="v",...` already escaped, or ""). Nothing for an empty histogram.
 * false if out's cap was hit. */
bool histogram_render(struct buf *out, const char *name, const char *labels,
                      const struct histogram_bounds *b, const struct histogram *h);

#endif

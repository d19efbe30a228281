/*
 * histogram: see histogram.h. Observations are counted in their own bucket
 * and summed into cumulative counts only when rendered: observing is one
 * short scan of at most 15 bounds.
 */
#include "daemon/histogram.h"

#include <math.h>

void histogram_observe(struct histogram *h, const struct histogram_bounds *b, double v)
{
    if (!isfinite(v))
        return; /* the page would say nan */
    size_t i = 0;
    while (i < b->count && v > b->le[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum += v;
}

bool histogram_render(struct buf *out, const char *name, const char *labels,
                      const struct histogram_bounds *b, const struct histogram *h)
{
    if (h->count == 0)
        return true;
    const char *sep = labels[0] ? "," : "";
    bool ok = true;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < b->count; i++) {
        cumulative += h->buckets[i];
        ok &= buf_appendf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, b->le[i],
                          (unsigned long long)cumulative);
    }
    ok &= buf_appendf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                      (unsigned long long)h->count);
    ok &= buf_appendf(out, "%s_sum{%s} %.12g\n%s_count{%s} %llu\n", name, labels, h->sum, name,
                      labels, (unsigned long long)h->count);
    return ok;
}

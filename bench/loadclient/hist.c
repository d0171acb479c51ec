#include "hist.h"

#include <string.h>

void
hist_init(hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min = INT64_MAX;
}

static int
bucket_of(uint64_t v)
{
    int msb, shift, idx;

    if (v < HIST_SUB) {
        return (int) v;
    }
    msb = 63 - __builtin_clzll(v);              /* >= HIST_SUB_BITS */
    shift = msb - HIST_SUB_BITS;
    idx = (shift + 1) * HIST_SUB + (int) ((v >> shift) - HIST_SUB);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Upper bound of a bucket (the value a percentile reports). */
static uint64_t
bucket_high(int idx)
{
    int shift;

    if (idx < HIST_SUB) {
        return (uint64_t) idx;
    }
    shift = idx / HIST_SUB - 1;
    return (((uint64_t) (idx % HIST_SUB + HIST_SUB) + 1) << shift) - 1;
}

void
hist_add(hist_t *h, int64_t value)
{
    if (value < 0) {
        value = 0;
    }
    h->counts[bucket_of((uint64_t) value)]++;
    h->total++;
    h->sum += (double) value;
    if (value > h->max) {
        h->max = value;
    }
    if (value < h->min) {
        h->min = value;
    }
}

int64_t
hist_percentile(const hist_t *h, double pct)
{
    uint64_t want, seen = 0;

    if (h->total == 0) {
        return 0;
    }
    want = (uint64_t) ((double) h->total * pct / 100.0 + 0.5);
    if (want < 1) {
        want = 1;
    }
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            int64_t v = (int64_t) bucket_high(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* Log-linear latency histogram in microseconds: each power of two is split
 * into HIST_SUB linear buckets, so a percentile is within 1/HIST_SUB (1.6 %)
 * of the true value; the maximum is kept exactly. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB      (1 << HIST_SUB_BITS)
#define HIST_POW      40                       /* up to 2^40 us, ~12 days */
#define HIST_BUCKETS  (HIST_POW * HIST_SUB)

typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    int64_t  max;
    int64_t  min;
    double   sum;
} hist_t;

void    hist_init(hist_t *h);
void    hist_add(hist_t *h, int64_t value);
int64_t hist_percentile(const hist_t *h, double pct);

#endif

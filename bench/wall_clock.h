/* The publisher stamps each round with its send time and the load client
 * subtracts it on receipt, in another process: both must read the same
 * clock, the wall clock, not each its own monotonic one. */
#ifndef BENCH_WALL_CLOCK_H
#define BENCH_WALL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
wall_clock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif

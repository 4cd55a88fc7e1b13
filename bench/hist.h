/* bench_hist: a log-linear histogram of durations in microseconds, as
 * HdrHistogram does it: exact below 256 us, then 128 buckets per power of
 * two (under 0.8 % error), up to 2^40 us. Fixed size and plain data, so a
 * worker process can send it to the parent as bytes and the parent merges
 * histograms by adding counts. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_HIST_BUCKETS (256 + 33 * 128)

typedef struct bench_hist {
    uint64_t count;
    uint64_t max_us;
    uint64_t buckets[BENCH_HIST_BUCKETS];
} bench_hist;

/* Records one value (microseconds; larger than 2^40 is clamped). */
void bench_hist_add(bench_hist *h, uint64_t us);

/* Adds every count of src into dst. */
void bench_hist_merge(bench_hist *dst, const bench_hist *src);

/* The value at quantile q in [0, 1] (lower edge of its bucket; q == 1 gives
 * the exact maximum). Returns 0 for an empty histogram. */
uint64_t bench_hist_quantile(const bench_hist *h, double q);

#endif

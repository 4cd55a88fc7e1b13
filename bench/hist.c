/* Log-linear histogram: a value below 256 is its own bucket; above, the
 * bucket is (power of two, top 7 bits below the leading one). Adding is a
 * count-leading-zeros and an increment, so recording every delivery of a
 * fan-out costs nothing next to the read that produced it. */
#include "hist.h"

#define EXACT 256u
#define SUB 128u
#define MAX_MSB 40u

static size_t index_of(uint64_t v)
{
    if (v < EXACT)
        return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    if (msb > MAX_MSB) {
        msb = MAX_MSB;
        v = (UINT64_C(1) << (MAX_MSB + 1)) - 1;
    }
    const unsigned shift = msb - 7u;
    return EXACT + (size_t)(msb - 8u) * SUB + (size_t)((v >> shift) - SUB);
}

static uint64_t value_of(size_t i)
{
    if (i < EXACT)
        return i;
    const size_t k = i - EXACT;
    const unsigned msb = (unsigned)(k / SUB) + 8u;
    const uint64_t top = SUB + (uint64_t)(k % SUB);
    return top << (msb - 7u);
}

void bench_hist_add(bench_hist *h, uint64_t us)
{
    h->buckets[index_of(us)]++;
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
}

void bench_hist_merge(bench_hist *dst, const bench_hist *src)
{
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

uint64_t bench_hist_quantile(const bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max_us;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            const uint64_t v = value_of(i);
            return v < h->max_us ? v : h->max_us;
        }
    }
    return h->max_us;
}

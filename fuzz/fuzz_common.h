/* Helpers shared by the fuzz targets (header only: each target is its own
 * program). */
#ifndef HR_FUZZ_COMMON_H
#define HR_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a style running hash of p[0..n) onto h: compares what two parses
 * produced without keeping it. */
static inline uint64_t fuzz_mix(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

/* Which allocation to fail in a parse that makes n of them, the first
 * `skip` excluded (jansson's lexer aborts on a failed allocation,
 * akheron/jansson#362, so a parse's own json_loadb is skipped): a choice
 * derived from the input so a replay fails the same one. 0 when none is
 * left to fail. */
static inline unsigned long fuzz_failure_pick(const uint8_t *data, size_t size, unsigned long skip,
                                              unsigned long n)
{
    if (n <= skip)
        return 0;
    unsigned long h = size;
    for (size_t i = 0; i < size; i++)
        h = h * 31 + data[i];
    return skip + 1 + h % (n - skip);
}

#endif

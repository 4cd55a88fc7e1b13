/* Capped exponential backoff with "equal jitter" (see backoff.h): half the
 * delay is fixed, the other half random, so waits still grow with failures
 * while the fleet spreads out. */
#include "broker/backoff.h"

uint64_t hr_backoff_delay_ms(uint32_t attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd)
{
    uint64_t d = base_ms;
    for (uint32_t i = 0; i < attempt && d < cap_ms; i++)
        d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
    if (d > cap_ms)
        d = cap_ms;
    const uint64_t half = d / 2;
    const uint64_t span = d - half; /* span * rnd could overflow: split it */
    const uint64_t jitter =
        span / UINT32_MAX * rnd + (span % UINT32_MAX) * (uint64_t)rnd / UINT32_MAX;
    const uint64_t out = half + jitter;
    return out == 0 && base_ms > 0 ? 1 : out;
}

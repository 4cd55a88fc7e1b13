/* hr_backoff: reconnect delays for the network broker adapters: capped
 * exponential growth with jitter, so a fleet of notifiers that lost the same
 * broker does not reconnect in lock-step. Pure: the caller passes the random
 * value. */
#ifndef HR_BACKOFF_H
#define HR_BACKOFF_H

#include <stdint.h>

/* Delay before reconnect attempt number attempt (0 for the first retry):
 * d = min(cap_ms, base_ms * 2^attempt), then scaled into [d/2, d] by rnd
 * (any 32-bit value; uniform rnd gives uniform jitter). Never overflows for
 * any attempt; returns at least 1 when base_ms > 0. */
uint64_t hr_backoff_delay_ms(uint32_t attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd);

#endif

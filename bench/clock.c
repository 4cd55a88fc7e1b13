/* The one clock of herald-bench: CLOCK_MONOTONIC, shared by all processes
 * of the host, so the publisher's timestamps compare with the workers'. */
#include <time.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

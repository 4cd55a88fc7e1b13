/* Publish phases (herald-bench --phases): a comma-separated list of
 *   K@R      K events, R per second on schedule, acknowledged or not
 *            (a sustained rate; the latency counts any queueing)
 *   K@max    K events, each sent when the last is acknowledged
 *   K@burst  K events written back to back without waiting for any
 *            acknowledgement (pipelined on the one connection)
 * e.g. "20@1,100@10,100@burst,20@max". Without --phases a run is one phase
 * of --events at --rate (each acknowledged before the next, as always). */
#ifndef BENCH_PHASES_H
#define BENCH_PHASES_H

#include <stddef.h>

#include "bench.h"

/* Fills o->phases, o->nphases and o->events from spec. 0, or -1 when spec
 * is malformed or too long. */
int bench_phases_parse(bench_opts *o, const char *spec);

/* "1/s", "max" or "burst": the phase's name in reports. */
void bench_phase_name(const bench_phase *ph, char *out, size_t cap);

#endif

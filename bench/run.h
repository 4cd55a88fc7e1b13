/* bench_run: the parent side of herald-bench. It forks the workers, walks
 * the phases (connect, idle hold, publish, drain; or churn), samples the
 * named server processes at the phase edges, shows a progress line on a
 * terminal, stops the workers, and merges their results into a summary. */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include "report.h"

/* Runs the benchmark described by o and fills *out (out->o = o). Every phase
 * is bounded by o->timeout_s. Returns 0, or -1 when the run could not start
 * (fork, socketpair) or a worker's result was lost; a message is printed. */
int bench_run(const bench_opts *o, bench_summary *out);

#endif

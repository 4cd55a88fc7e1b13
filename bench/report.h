/* The outcome of one herald-bench run, and its two renderings: a text block
 * for people and one JSON line for scripts (bench/plot.gp, the docs). Loss is
 * always shown: expected versus delivered, lossy connections, duplicates. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include "bench.h"
#include "procstat.h"

typedef struct bench_summary {
    const bench_opts *o;
    uint32_t workers;
    bench_result total;   /* merged worker results (counts and histograms) */
    bench_hist fanout;    /* per broadcast: first to last delivery, us */
    double connect_s;     /* first attempt to last ready */
    uint64_t published, publish_errors;
    uint64_t expected;    /* ready connections x events */
    double deliver_s;     /* first publish to last delivery */
    bench_hist phase_fanout[BENCH_MAX_PHASES]; /* fanout, per publish phase */
    uint64_t phase_last_ns[BENCH_MAX_PHASES];  /* the phase's last delivery */
    uint64_t phase_first_send_ns[BENCH_MAX_PHASES], phase_last_ack_ns[BENCH_MAX_PHASES];
    /* CPU seconds from a publish phase's start to its drain: each --pids
     * server's (in before.procs order) and herald-bench's own client
     * workers'. On one host the clients' share says whether the reading
     * side, not the server, bounds the latency (loopback bills part of each
     * side's TCP to the other). */
    double phase_proc_cpu_s[BENCH_MAX_PHASES][BENCH_MAX_PIDS];
    double phase_client_cpu_s[BENCH_MAX_PHASES];
    double run_s;
    bench_sample before, idle, end;
} bench_summary;

/* Writes the human-readable report. */
void bench_report_text(FILE *out, const bench_summary *s);

/* Writes the report as one JSON line ending in '\n'. */
void bench_report_json(FILE *out, const bench_summary *s);

#endif

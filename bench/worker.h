/* bench_worker: one forked process holding a share of the clients. It
 * connects them at its share of the connect rate, counts what they receive,
 * reports progress to the parent every 100 ms over a socketpair, and on the
 * parent's stop byte sends its bench_result and exits. */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include <uv.h>

#include "bench.h"

typedef struct bench_conn bench_conn;

typedef struct bench_worker {
    const bench_opts *o;
    uint32_t id;
    uint32_t first;  /* global index of this worker's first client */
    uint32_t n;      /* clients in this worker */
    int fd;          /* socketpair end to the parent */
    uv_loop_t loop;
    uv_timer_t tick;
    uv_poll_t ctl;
    bench_conn *conns;
    uint32_t launched;
    uint64_t start_ns;
    bool stopping;
    bool connect_phase_done;
    bench_result res;
    uint64_t *first_ns; /* per event (round): first delivery in this worker */
    uint64_t *last_ns;
    uint8_t rbuf[65536]; /* shared read buffer: reads are handled at once */
} bench_worker;

/* Runs worker id with clients [first, first + n) until the parent says stop
 * or the run's timeout passes. fd is the worker's end of the socketpair.
 * Returns the process exit status (0 ok). */
int bench_worker_main(const bench_opts *o, uint32_t id, uint32_t first, uint32_t n, int fd);

#endif

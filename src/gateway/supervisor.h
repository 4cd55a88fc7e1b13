/* gw_supervisor: the parent process of `herald-gateway --workers N` (N > 1).
 * It forks N workers, forwards SIGTERM/SIGINT (drain) and SIGHUP (reload) to
 * them, restarts a worker that dies with a per-worker backoff, and exits once
 * every worker has exited after a drain. It runs no event loop: it blocks in
 * sigtimedwait() on a fixed signal set, which is all it has to do. */
#ifndef GW_SUPERVISOR_H
#define GW_SUPERVISOR_H

#include <stdint.h>

#define GW_SUPERVISOR_MAX_WORKERS 64
#define GW_BACKOFF_MIN_MS 100
#define GW_BACKOFF_MAX_MS 10000
#define GW_BACKOFF_STABLE_MS 10000 /* a worker up this long restarts at once */

typedef struct gw_supervisor_ops {
    /* Runs worker `worker` in the forked child; its return value is the
     * child's exit status. Called with SIGTERM, SIGINT, SIGHUP and SIGCHLD
     * still blocked: a SIGTERM forwarded while the worker starts stays
     * pending instead of killing it; it calls gw_supervisor_worker_ready()
     * once its own handlers are in place. */
    int (*run_worker)(void *arg, unsigned worker);
    /* SIGHUP in the parent (before it is forwarded): refresh whatever later
     * forks inherit (the configuration). May be NULL. */
    void (*reload)(void *arg);
    /* A worker died (not during a drain); called before it is restarted.
     * May be NULL. */
    void (*on_death)(void *arg, unsigned worker);
} gw_supervisor_ops;

/* Supervises workers (1..GW_SUPERVISOR_MAX_WORKERS) until they have all
 * exited after SIGTERM/SIGINT. A worker that exits non-zero within 1 s of its
 * very first start (it could not listen, say) stops the whole gateway: every
 * other worker is sent SIGTERM and 1 is returned. Otherwise a dead worker is
 * restarted after gw_supervisor_backoff(). Returns 0 when every worker exited
 * 0 during the drain, else 1. Blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD in
 * the calling thread. */
int gw_supervisor_run(unsigned workers, const gw_supervisor_ops *ops, void *arg);

/* Unblocks the signals gw_supervisor_run() blocks (a no-op where none
 * are): for a worker whose handlers are installed, so what arrived during
 * its start-up is delivered to them now. */
void gw_supervisor_worker_ready(void);

/* Delay before restarting a worker that died after uptime_ms, given the
 * delay used for its previous restart (0: none yet). Doubling from
 * GW_BACKOFF_MIN_MS to GW_BACKOFF_MAX_MS while it keeps dying quickly; 0 (at
 * once) when it had been up for GW_BACKOFF_STABLE_MS or more. Pure. */
uint32_t gw_supervisor_backoff(uint32_t prev_ms, uint64_t uptime_ms);

#endif

/* gw_pool: the run-time state of one upstream (SPEC §4 "upstreams"): which
 * servers are healthy, how many connections each carries, and the choice of
 * a server for a new connection (round_robin, least_conn, hash_user on a
 * consistent-hash ring). Pure bookkeeping: health checks and connections
 * live elsewhere and report here. One pool per upstream per loop. */
#ifndef GW_POOL_H
#define GW_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ring.h"

typedef struct gw_server_state {
    gw_addr addr;
    bool up;           /* healthy: eligible for new connections */
    uint32_t ok_run;   /* consecutive successful checks */
    uint32_t fail_run; /* consecutive failed checks / connects */
    uint64_t active;   /* connections currently open to it */
    uint64_t picked;   /* times chosen (metrics) */
} gw_server_state;

typedef struct gw_pool {
    const gw_upstream_cfg *cfg; /* borrowed from the config, outlives the pool */
    gw_server_state *servers;
    size_t n_servers;
    size_t rr_next;
    gw_ring ring;
} gw_pool;

/* Initialises p for upstream u (borrowed). All servers start up. Returns 0
 * or HR_ENOMEM. */
int gw_pool_init(gw_pool *p, const gw_upstream_cfg *u);

/* Frees what gw_pool_init allocated. */
void gw_pool_deinit(gw_pool *p);

/* Chooses a server for a new connection. user[0..user_len) is the
 * authenticated user id (hash_user; NULL or empty falls back to
 * round_robin). skip (NULL or n_servers flags) excludes servers already
 * tried for this request. Returns the server index, or -1 when no healthy,
 * untried server is left (the caller answers 503). Counts the pick. */
int gw_pool_pick(gw_pool *p, const char *user, size_t user_len, const bool *skip);

/* Reports one health observation for server i: ok true/false. With
 * passive=true (a failed connect) a single failure marks the server down
 * at once; active checks need cfg->health.fall failures in a row, and
 * cfg->health.rise successes bring it back. Returns true when the server's
 * up/down state changed. */
bool gw_pool_report(gw_pool *p, size_t i, bool ok, bool passive);

/* Adjusts server i's active connection count by +1 / -1. */
void gw_pool_conn_add(gw_pool *p, size_t i, int delta);

/* Marks every server up again: for pools without an active health check,
 * called periodically so a passively marked server is retried. */
void gw_pool_revive(gw_pool *p);

/* Number of servers currently up. */
size_t gw_pool_up_count(const gw_pool *p);

#endif

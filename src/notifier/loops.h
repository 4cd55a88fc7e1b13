/* nf_shards: the notifier on several cores (--loops N).
 *
 * Loop 0, the primary, runs on the main thread with everything: the
 * listener, the HTTP API (/publish, /metrics, /readyz), the broker, the
 * link listener. Loops 1..N-1, the shards, each run an nf_loop of their
 * own (app.h) on their own thread and own the herald-links and the direct
 * WebSocket, Pusher and SSE clients the primary hands them (Pusher presence
 * records follow the events through the inbox, cluster.h) and
 * every session opened on those; hub, history, sessions, replays and flow control
 * are all local to a loop, so the hot path takes no lock.
 *
 *   broker ─▶ primary hub: encode once per channel ─▶ its own subscribers
 *                        └─ tap ─▶ inbox of shard 1 ─▶ shard 1's hub ─▶ its sessions
 *                               └▶ inbox of shard 2 ─▶ ...     (same hr_msg, by reference)
 *
 * Events cross loops as one refcounted frame (hr_msg, atomic count) in
 * broker order, with the channel name, the id and the primary's timestamp;
 * each shard's hub keeps its own history of references to the same frames,
 * so a resume is served from the loop the session lives on.
 *
 * Links: accepted connections are spread round-robin over all N loops; for
 * a shard, the primary accepts the socket, duplicates the descriptor, closes
 * its own handle and posts the descriptor to the shard (nf_links_adopt).
 *
 * Direct clients: the primary reads each upgrade request to /ws and each
 * GET /sse; every one but one in N (round robin) goes to a shard before it
 * is answered (any kind whose request a shard's server parses again: the
 * hand-off does not look at the request): the
 * descriptor and the bytes read so far (hr_conn_detach) travel through the
 * inbox, behind every event posted before, and the shard's server parses
 * the request again (hr_server_adopt), so auth, the 101, the welcome and
 * any resume happen there, against a history that already holds every
 * event the primary's did. A shard whose inbox is full (it is a whole
 * --loop-queue behind) refuses the item before the primary lets go of the
 * connection (hr_conn_detach gives first), so the client is served on the
 * primary instead: never refused, never dropped.
 *
 * Metrics: each shard copies its counters into a mutex-protected snapshot
 * once per loop turn, just before it blocks (a uv_prepare handle that runs
 * after the server's flush); the primary sums the snapshots.
 *
 * Stop: nf_shards_stop posts STOP to every shard (each closes its sessions
 * with 1001 and its handles, so its uv_run returns); nf_shards_free joins
 * the threads and frees every shard. */
#ifndef NF_LOOPS_H
#define NF_LOOPS_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "hub.h"
#include "link.h"

typedef struct nf_shards nf_shards;

/* Counters of one loop, summed by /metrics. */
typedef struct nf_loop_counters {
    hr_net_stats net; /* its direct clients */
    nf_hub_stats hub;
    nf_app_stats app;
    nf_link_stats link;
    uint64_t overflows; /* times the loop's inbox overflowed (sessions closed with 1013) */
} nf_loop_counters;

/* Most loops --loops accepts. */
#define NF_LOOPS_MAX 64

/* Starts loops 1..n-1 for the primary p (n >= 2; p->links listening; p and
 * its config must outlive the result) and installs the link hand-off on
 * p->links. A shard that cannot be set up is skipped (logged). Returns the
 * table, or NULL with one line in err when out of memory. */
nf_shards *nf_shards_start(nf_loop *p, unsigned n, char *err, size_t errcap);

/* Passes one frame the primary's hub delivered on to every shard (each
 * takes its own reference). A shard whose inbox is full loses it (see
 * inbox.h: its sessions are then closed with 1013). No-op once stopping. */
void nf_shards_post_event(nf_shards *sh, const char *name, hr_event_id id, hr_msg *plain,
                          uint64_t now_ms);

/* Raises every shard's history floor (broker up: nf_hub_raise_floor). */
void nf_shards_post_floor(nf_shards *sh, hr_event_id floor);

/* Orders every shard to stop (sessions closed with 1001). Idempotent, NULL ok. */
void nf_shards_stop(nf_shards *sh);

/* Stops (if not yet), joins every shard thread and frees everything. Call
 * from the primary's thread, after its uv_run returned. NULL is a no-op. */
void nf_shards_free(nf_shards *sh);

/* Loops in the process, the primary included (1 for NULL). */
unsigned nf_shards_loops(const nf_shards *sh);

/* The latest snapshot of shard loop index (1..loops-1). Thread-safe. */
void nf_shards_counters(nf_shards *sh, unsigned index, nf_loop_counters *out);

/* The loop for the next link: round robin over 0..n-1 (*next advances). */
unsigned nf_loops_pick(unsigned *next, unsigned n);

#endif

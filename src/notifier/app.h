/* nf_loop: everything mutable that one herald-notifier event loop owns: the
 * server and its connections, the broker, the hub, the sweep timer, the
 * signal handles and the counters. There are no other globals (beyond the
 * log threshold).
 *
 * Loop 0, the primary, has all of it. With --loops N > 1, loops 1..N-1
 * ("shards", loops.h) each run on their own thread with an nf_loop of their
 * own holding only a hub, the auth settings, the links and the direct
 * WebSocket clients the primary handed them, a server that never listens
 * (it adopts those clients), the sweep timer and the counters: no broker,
 * no signals, no HTTP API (nf_loop_init_shard). The shard code wires loop 0 to
 * them (nf_loop_peers, the hub's tap, the link hand-off); this file never
 * calls it.
 *
 * Every hr_conn the app has seen carries an app-data pointer to a struct
 * whose first member is an nf_conn_kind, so on_close knows what it holds. */
#ifndef NF_APP_H
#define NF_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "broker/broker.h"
#include "config.h"
#include "expiry.h"
#include "hub.h"
#include "net/server.h"

typedef enum nf_conn_kind {
    NF_KIND_SESSION = 1, /* nf_session: an upgraded client */
    NF_KIND_PUBLISH = 2, /* nf_pub_req: a /publish waiting for the broker */
    NF_KIND_SSE = 3,     /* nf_sse: a GET /sse stream (sse.h) */
    NF_KIND_PUSHER = 4,  /* nf_pusher: a Pusher client at /app/<key> (pusher.h) */
} nf_conn_kind;

/* Counters of the application layer (the hub and the server keep theirs). */
typedef struct nf_app_stats {
    uint64_t sessions_total;     /* WebSocket sessions opened */
    uint64_t sse_streams;        /* GET /sse streams open (gauge) */
    uint64_t handoffs_kept;      /* primary: direct clients a full shard inbox left on loop 0 */
    uint64_t publish_requests;   /* POST /publish answered 200 */
    uint64_t publish_rejected;   /* POST /publish answered 4xx/5xx */
    uint64_t auth_failures;      /* upgrades refused with 401/403 */
    uint64_t bad_commands;       /* error replies to client commands */
    uint64_t bad_command_closes; /* connections closed with 1008 */
} nf_app_stats;

typedef struct nf_pub_req nf_pub_req;
typedef struct nf_cpub nf_cpub;
struct nf_loop_counters;

/* The loop's view of the other loops of the process, installed on the
 * primary by the code that runs them (loops.h: nf_shards_start). The
 * primary's own code reaches them only through this table, so the wiring
 * lives with the shards: a future kind of loop (direct clients on several
 * loops, issue 18) installs a table of its own. */
typedef struct nf_loop_peers {
    /* The broker is up: every other loop raises its history floor too. */
    void (*floor)(void *arg, hr_event_id floor);
    /* The primary stops: every other loop stops (sessions get 1001). */
    void (*stop)(void *arg);
    /* Loops in the process, this one included. */
    unsigned (*count)(void *arg);
    /* The latest counters of loop index (1..count-1), thread-safe. */
    void (*counters)(void *arg, unsigned index, struct nf_loop_counters *out);
    /* A direct client's request arrived on the primary (a WebSocket upgrade
     * to /ws, GET /sse; any kind whose request the receiving loop can parse
     * again): true when another loop took the client over (hr_conn_detach:
     * c is closed here and the request runs there), false to serve it here. */
    bool (*direct)(void *arg, hr_conn *c);
} nf_loop_peers;

typedef struct nf_loop {
    const nf_config *cfg;
    uv_loop_t *uv;
    hr_server *server;
    hr_broker *broker;
    nf_hub *hub;
    nf_auth auth;
    uv_timer_t sweep;
    uv_signal_t sig_term, sig_int;
    nf_app_stats stats;
    nf_pub_req *pending;        /* publishes waiting for the broker */
    nf_cpub *cpubs;             /* client publishes waiting for the broker (cpub.h) */
    nf_expiry expiry;           /* token deadlines of this loop's sessions (expiry.h) */
    /* A shard has no broker: client publishes go to the primary through
     * this (installed by loops.c), the answer comes back through
     * nf_cpub_complete. Returns 0 or an HR_E* code (the queue is full). */
    int (*forward_publish)(void *arg, const char *channel, const char *data, size_t len, void *tag);
    void *forward_arg;
    struct nf_links *links;     /* herald-link listener or table (link.h), or NULL */
    const nf_loop_peers *peers; /* primary with --loops > 1: the other loops, or NULL */
    void *peers_arg;
    uint64_t start_ms;    /* wall clock at start: prefixes connection ids */
    uint64_t next_serial; /* numbers this loop's link sessions */
    struct nf_cluster *cluster; /* Pusher presence state (cluster.h), or NULL */
    unsigned index;       /* 0: the primary; 1..N-1: shards */
    bool stopping;
    bool bye_waiting; /* stopping: the broker has yet to take the presence byes */
    bool server_done; /* stopping: every client is gone */
    bool handles_open;
} nf_loop;

/* Sets up l on uv from cfg (borrowed, must outlive l): hub, broker, server
 * (not yet listening). Returns 0, or an HR_E* code with one line in err. */
int nf_loop_init(nf_loop *l, uv_loop_t *uv, const nf_config *cfg, char *err, size_t errcap);

/* Sets up shard loop number index (>= 1) on uv, which a thread of its own
 * will run: a hub, the auth settings and an empty link table (the links
 * arrive through nf_links_adopt), the sweep timer started. start_ms is the
 * primary's (connection ids stay unique per process through the index).
 * Its server (l->server) only adopts clients the primary hands over
 * (hr_server_adopt). Returns 0 or HR_ENOMEM with one line in err. Stop with nf_loop_stop, then
 * nf_loop_deinit after uv_run returned. */
int nf_loop_init_shard(nf_loop *l, uv_loop_t *uv, const nf_config *cfg, unsigned index,
                       uint64_t start_ms, char *err, size_t errcap);

/* Listens (clients, and links with --link-listen), starts the broker, the
 * sweep timer and the signal handlers. Returns 0 or an error with one line
 * in err (e.g. address in use). The caller starts the other loops
 * (nf_shards_start) afterwards, before running the loop. */
int nf_loop_start(nf_loop *l, char *err, size_t errcap);

/* Begins the graceful stop: every client gets 1001, then the handles close
 * and uv_run returns. Idempotent. */
void nf_loop_stop(nf_loop *l);

/* Frees what is left after uv_run returned. */
void nf_loop_deinit(nf_loop *l);

#endif

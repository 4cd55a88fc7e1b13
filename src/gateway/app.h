/* gw_app: the state of one gateway process (one libuv loop): the public and
 * admin servers, the upstream connection context, the current run-time
 * configuration (gw_runtime, replaced on SIGHUP while older ones live on for
 * the connections that started under them), per-IP limits and metrics.
 *
 *   client ──hr_conn (public)──▶ gw_ws / gw_hproxy / gw_static ──▶ upstream
 *                                      │                              ▲
 *                                      └── gw_runtime (cfg, pools) ───┘
 *
 * Ownership: gw_app owns everything here. A gw_runtime is reference counted:
 * the app holds one reference to the current runtime and every session holds
 * one to the runtime it was routed with (its route pointer borrows from it). */
#ifndef GW_APP_H
#define GW_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "iptable.h"
#include "net/conn.h"
#include "net/link_conn.h"
#include "net/server.h"
#include "pool.h"
#include "proto/token.h"
#include "proto/ws_deflate.h"
#include "transform.h"

typedef struct gw_app gw_app;
typedef struct gw_uphttp gw_uphttp;
typedef struct gw_health gw_health;

/* Per-route live counters (gauges and totals), indexed like cfg->routes. */
typedef struct gw_route_stats {
    uint64_t ws_active;
    uint64_t requests;
} gw_route_stats;

typedef struct gw_runtime {
    unsigned refs;
    gw_config *cfg;
    gw_pool *pools; /* cfg->n_upstreams */
    gw_route_stats *route_stats;
    hr_token_cfg tok; /* valid when cfg->jwt.enabled */
    uint8_t *public_key;
    size_t public_key_len;
    gw_health *health; /* active checks of these pools, or NULL */
    uint64_t generation;
} gw_runtime;

/* Handshake latency histogram buckets (ms upper bounds). */
#define GW_LAT_BUCKETS 10
extern const double gw_lat_bounds_ms[GW_LAT_BUCKETS];

/* Close codes counted one by one; the rest land in "other". */
#define GW_CLOSE_CODES 16 /* 1000..1015 */

/* Labelled positions shared between workers (labels.h): every route, and
 * the first GW_LBL_SERVERS servers over all upstreams in configuration order. */
#define GW_LBL_ROUTES GW_CONFIG_MAX_ROUTES
#define GW_LBL_SERVERS 1024

typedef struct gw_metrics {
    uint64_t status[600];                /* every answer (handshake or HTTP) by status */
    uint64_t hs_status[600];             /* WebSocket handshakes by status */
    uint64_t closes[GW_CLOSE_CODES + 1]; /* client closes by code, last: other */
    uint64_t frames_up, frames_down;     /* messages client->upstream, upstream->client */
    uint64_t bytes_up, bytes_down;
    uint64_t ws_total;
    uint64_t ws_active;
    uint64_t sse_active; /* SSE streams open: over herald-link (sselink.c) or proxied (hproxy.c) */
    uint64_t http_requests;
    uint64_t upstream_connect_failures;
    uint64_t lat_buckets[GW_LAT_BUCKETS + 1]; /* last: +Inf */
    double lat_sum_ms;
    uint64_t lat_count;
    uint64_t reloads, reload_failures;
    uint64_t links_open;          /* herald-link connections (uplink.c) */
    hr_link_conn_stats link_io;   /* batches written, bytes out and in (every link) */
    uint64_t link_frames_out;     /* frames in the batches written */
    uint64_t link_bcasts_in; /* BCAST frames received (one message, many sessions) */
    uint64_t ws_claimed;     /* this worker's gw_app.ws_open, for the gateway-wide cap */
    uint64_t listening;      /* 1 from its listeners' opening to its drain (admin /readyz) */
    /* Labelled series by position in the worker's configuration (labels.h):
     * valid when lbl_routes/lbl_servers match the reader's configuration. */
    uint64_t lbl_routes, lbl_servers;
    uint64_t route_ws[GW_LBL_ROUTES], route_req[GW_LBL_ROUTES];
    uint64_t server_conns[GW_LBL_SERVERS];
    uint64_t server_up[GW_LBL_SERVERS]; /* this worker's health view: 1 up, 0 down */
    gw_script_metrics script;           /* scripted routes by position (transform.h) */
} gw_metrics;

struct gw_app {
    uv_loop_t *loop;
    char *config_path;
    gw_runtime *rt;           /* current */
    hr_server *pub;           /* client-facing listeners */
    hr_server *ups;           /* context of upstream WebSocket connections */
    hr_server *admin;         /* NULL when no admin_listen */
    gw_uphttp *http;          /* keep-alive HTTP client to upstreams */
    struct gw_uplinks *links; /* herald-link connections to upstreams (uplink.h) */
    hr_ws_deflater deflater;  /* compresses frames shared by many clients (upmsg.h) */
    gw_transform *transform;  /* this worker's scripts (transform.h) */
    gw_iptable ips;
    gw_metrics *m;           /* this worker's slot of the shared metrics (shmetrics.h) */
    const gw_metrics *m_all; /* every worker's slot, summed by the admin page */
    unsigned n_workers;      /* slots in m_all */
    uv_timer_t tick;         /* 1 s: iptable sweep, pool revive */
    uv_prepare_t labels;     /* with several workers: publish labelled series (labels.h) */
    uv_signal_t sig_term, sig_int, sig_hup;
    bool draining;
    int pending_shutdowns;
    hr_server *tls_in;   /* internal plain listener behind the TLS bridges, or NULL */
    struct gw_tls **tls; /* one per TLS listener */
    size_t n_tls;
    void *tls_map; /* loopback port -> TLS bridge (tls.c) */
    bool reuse_port;
    uint64_t next_request_id;
    unsigned worker;    /* 0 .. workers-1 */
    uint64_t ws_open;   /* proxied WebSockets open or handshaking (max_connections) */
    size_t max_message; /* largest max_message_bytes of any route at start */
};

/* Proxied WebSockets open or handshaking in the whole gateway (every
 * worker's slot), for max_connections. Another worker's count is read while
 * it may change: with N workers the cap can be overshot by at most N - 1. */
uint64_t gw_app_ws_claimed(const gw_app *app);

/* Builds a runtime for cfg, which it takes over (freed with the runtime).
 * Reads the JWT public key file. Returns NULL with diag set on failure. */
gw_runtime *gw_runtime_new(gw_app *app, gw_config *cfg, char *diag, size_t diag_cap);

/* Reference counting for runtimes; the last unref frees it. */
gw_runtime *gw_runtime_ref(gw_runtime *rt);
void gw_runtime_unref(gw_runtime *rt);

/* The client's real address (for connections that came through a TLS bridge,
 * the TLS client's, not the loopback's); *tls (may be NULL) tells whether it
 * came over TLS. Valid while c lives. */
const struct sockaddr *gw_app_peer(const gw_app *app, hr_conn *c, bool *tls);

/* Formats gw_app_peer as "ip:port" / "[ip]:port" into out (cap >= 64). */
char *gw_app_peer_text(const gw_app *app, hr_conn *c, char *out, size_t cap);

/* Monotonic milliseconds of the loop. */
uint64_t gw_app_now_ms(const gw_app *app);

/* Writes a fresh request id ("<pid>-<n>" in hex) into out (cap >= 32). */
void gw_app_request_id(gw_app *app, char *out, size_t cap);

/* Counts an answer (handshake or HTTP) with status. */
void gw_app_count_status(gw_app *app, int status);

/* Counts a WebSocket handshake answer (also in the general counts). */
void gw_app_count_handshake(gw_app *app, int status);

/* Counts a client WebSocket close with code. */
void gw_app_count_close(gw_app *app, int code);

/* Records a handshake latency sample. */
void gw_app_observe_latency(gw_app *app, double ms);

#endif

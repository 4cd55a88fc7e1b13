/* The transformation layer in the gateway (SPEC §7): a route's script
 * (lib/script) applied to one worker's proxied WebSockets. This is the only
 * part of it wsproxy.c sees:
 *
 *   upgrade:      gw_transform_connect  accept, refuse with a status, add headers
 *   down (each):  gw_transform_down     event -> on_event once per view
 *                                       (views.c), else on_server_message
 *   up (each):    gw_transform_up       on_client_message
 *
 * One gw_transform per worker loop owns the Lua state, the compiled scripts
 * of the current configuration (by route path and host, so a reload switches
 * live connections on their next message), the per-view frame cache and a
 * uv_check handle that ends the cache's loop turn. Routes without a script
 * get no gw_tconn and cost nothing.
 *
 * Failures: a hook that errors, times out or runs out of memory is counted
 * (gw_script_metrics) and its message handled by the route's
 * script_on_error: drop, pass (deliver untransformed) or close (4003). */
#ifndef GW_TRANSFORM_H
#define GW_TRANSFORM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "core/buf.h"
#include "net/conn.h"
#include "proto/http_head.h"
#include "proto/ws_deflate.h"
#include "upmsg.h"

/* ---- metrics (kept per worker in shared memory, summed at scrape) ---- */

#define GW_SCRIPT_ROUTES 64 /* routes (by position) with script metrics */
#define GW_SCRIPT_HOOKS                                                                            \
    5                     /* on_connect, on_client_message, on_server_message, view_key, on_event  \
                           */
#define GW_SCRIPT_KINDS 3 /* runtime, timeout, memory */
#define GW_SCRIPT_LAT_BUCKETS 8

typedef struct gw_script_metrics {
    uint64_t calls[GW_SCRIPT_ROUTES][GW_SCRIPT_HOOKS];
    uint64_t errors[GW_SCRIPT_ROUTES][GW_SCRIPT_HOOKS][GW_SCRIPT_KINDS];
    uint64_t drops[GW_SCRIPT_ROUTES][GW_SCRIPT_HOOKS];
    uint64_t lat[GW_SCRIPT_ROUTES][GW_SCRIPT_HOOKS][GW_SCRIPT_LAT_BUCKETS + 1];
    double lat_sum_ms[GW_SCRIPT_ROUTES][GW_SCRIPT_HOOKS];
} gw_script_metrics;

/* The hook names by index (the `hook` label) and the duration histogram's
 * bucket bounds in milliseconds. */
extern const char *const gw_transform_hooks[GW_SCRIPT_HOOKS];
extern const double gw_transform_lat_bounds_ms[GW_SCRIPT_LAT_BUCKETS];

/* o += s (a worker's slot). */
void gw_transform_metrics_add(gw_script_metrics *o, const volatile gw_script_metrics *s);

/* Writes herald_gateway_script_calls_total, _errors_total{kind}, _drops_total
 * and _duration_seconds for the scripted routes of cfg (m summed over
 * workers). Returns 0 or HR_ENOMEM. */
int gw_transform_write_metrics(hr_buf *o, const gw_config *cfg, const gw_script_metrics *m);

/* ---- per worker ---- */

typedef struct gw_transform gw_transform;

/* A transform for one worker loop: m is the worker's metrics slot, d the
 * shared deflater for transformed frames (both outlive it). NULL when out
 * of memory. Starts a uv_check handle on loop. */
gw_transform *gw_transform_new(uv_loop_t *loop, gw_script_metrics *m, hr_ws_deflater *d);

/* Closes the handle; memory goes in its close callback. Every gw_tconn
 * must be gone first. NULL is a no-op. */
void gw_transform_close(gw_transform *t);

/* Compiles the scripts of cfg's routes and makes them current: live
 * connections use them from their next message. When any fails, nothing
 * changes: returns HR_EINVAL with "script:line: problem" in diag (or
 * HR_ENOMEM). The limits of cfg apply from then on. */
int gw_transform_load(gw_transform *t, const gw_config *cfg, char *diag, size_t cap);

/* Compiles every script of cfg in a scratch state (for --check, start-up
 * and reload): 0, or HR_EINVAL with "script:line: problem" in diag. */
int gw_transform_check(const gw_config *cfg, gw_diag *diag);

/* ---- per connection ---- */

typedef struct gw_tconn gw_tconn;

/* What the upgrade request looks like to on_connect and conn. */
typedef struct gw_treq {
    const char *path; /* without the query */
    size_t path_len;
    const char *query; /* after '?', or NULL */
    size_t query_len;
    const hr_http_header *headers; /* as sent */
    size_t n_headers;
    const char *ip;
    const char *user;            /* NULL: anonymous */
    const char *id;              /* the connection's id (request id) */
    const char *const *channels; /* the identity's channels claim */
    size_t n_channels;
} gw_treq;

/* The upgrade verdict. */
typedef struct gw_tconnect {
    bool refuse;
    int status;     /* refuse: HTTP status */
    char text[256]; /* refuse: body */
    char *headers;  /* accept: "Name: value\r\n" lines to add upstream (malloc'd) or NULL */
} gw_tconnect;

/* For a route with a script: runs on_connect and makes the connection's
 * state (*out). Returns 0 (see v: refused, or accepted with headers), or
 * HR_ENOMEM. For a route without a script: 0 with *out NULL. */
int gw_transform_connect(gw_transform *t, const gw_route_cfg *r, const gw_treq *req, gw_tconn **out,
                         gw_tconnect *v);

void gw_tconn_free(gw_tconn *c);

/* The upstream header block ("Name: value\r\n" lines, NUL-terminated)
 * with every header named in extra (same form) replaced by extra's: a
 * script's X-Herald-User wins over the gateway's. malloc'd; NULL when out of
 * memory. */
char *gw_transform_merge_headers(const char *block, const char *extra);

/* What to do with a message. */
typedef enum gw_tdo {
    GW_T_PASS = 0, /* send the original message */
    GW_T_DONE,     /* nothing more to do (sent, dropped, replied or the client closed) */
    GW_T_SEND,     /* send out->p/len (opcode out->opcode) instead (up: upstream; down: the
                      upstream gets it as an answer) */
    GW_T_CLOSED,   /* the client is being closed: touch nothing more */
} gw_tdo;

typedef struct gw_tout {
    int opcode;
    char *p; /* malloc'd; free after use */
    size_t len;
} gw_tout;

/* A message from upstream to client. For an event, the frames of this
 * connection's view are queued on client here (GW_T_DONE / GW_T_CLOSED);
 * other messages go through on_server_message. */
gw_tdo gw_transform_down(gw_tconn *c, hr_conn *client, gw_upmsg *m, gw_tout *out);

/* A message from client to upstream (on_client_message): PASS, SEND (the
 * changed message), DONE (dropped or replied) or CLOSED. */
gw_tdo gw_transform_up(gw_tconn *c, hr_conn *client, int opcode, const uint8_t *p, size_t len,
                       gw_tout *out);

#endif

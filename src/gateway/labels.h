/* gw_labels: the labelled per-route and per-server series of /metrics
 * (ws_connections{route}, route_requests_total{route},
 * upstream_connections{server}) summed over every worker process, and
 * upstream_up{server} combined (down when any worker sees it down).
 *
 * Each worker keeps these counts in its own runtime; with several workers it
 * copies them into its shared metrics slot (shmetrics.h) at the end of every
 * loop turn, by position: routes in configuration order, then the servers of
 * every upstream in order (the first GW_LBL_SERVERS of them). The admin
 * worker adds up the slots whose configuration has the same shape as its
 * own (a worker mid-reload is left out until it has caught up). */
#ifndef GW_LABELS_H
#define GW_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"

/* Copies this worker's labelled counts into its slot. No-op with one
 * worker. Called from the app->labels prepare handle. */
void gw_labels_publish(gw_app *app);

/* Gateway-wide values for route i / upstream u's server k of the admin
 * worker's current configuration (its own counts live, the others' from
 * their slots). */
uint64_t gw_labels_route_ws(const gw_app *app, size_t i);
uint64_t gw_labels_route_requests(const gw_app *app, size_t i);
uint64_t gw_labels_server_conns(const gw_app *app, size_t u, size_t k);

/* 1 when every worker's health view has upstream u's server k up (a worker
 * that saw it fail marks it down for the whole gateway), else 0. */
uint64_t gw_labels_server_up(const gw_app *app, size_t u, size_t k);

#endif

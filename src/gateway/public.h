/* gw_public: the public server's callbacks. Each request or upgrade is
 * routed (host + longest prefix on the app's current runtime) and handed
 * down to the WebSocket proxy, the HTTP proxy or the static file server;
 * later events on a connection go to the proxy whose kind tag sits first
 * in the connection's app data. Calls run one way only: this file calls
 * the proxies, the proxies call app.c's services, nothing calls back here.
 *
 *   hr_server (public) ─▶ gw_public_callbacks ─┬─▶ wsproxy.c  (GW_KIND_WS)
 *                                              ├─▶ hproxy.c   (GW_KIND_HTTP)
 *                                              ├─▶ sselink.c  (GW_KIND_SSE: GET on a
 *                                              │               herald-link upstream)
 *                                              └─▶ static.c   (answers at once)
 */
#ifndef GW_PUBLIC_H
#define GW_PUBLIC_H

#include "net/conn.h"

/* Connection-kind tags: the first byte of the struct a proxy sets as the
 * connection's app data (hr_conn_set_app_data), read by the dispatcher. */
#define GW_KIND_WS 1
#define GW_KIND_HTTP 2
#define GW_KIND_SSE 3

/* Callbacks of the public server (and the TLS bridge's and upstream
 * context's servers); hr_conn_app() is the gw_app. */
extern const hr_conn_callbacks gw_public_callbacks;

#endif

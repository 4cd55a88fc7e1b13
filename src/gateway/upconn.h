/* gw_upconn: the plain upstream transport, one WebSocket connection
 * (hr_client on the app's upstream context) per proxied client; it
 * implements gw_upstream (upstream.h). The connection is the handle's: a
 * gw_upconn lives until its hr_conn reported on_close, also after the proxy
 * closed it (then no event reaches the proxy). */
#ifndef GW_UPCONN_H
#define GW_UPCONN_H

#include <stddef.h>

#include "net/client.h"
#include "net/server.h"
#include "upstream.h"

extern const gw_upstream_ops gw_upconn_ops;

/* Connects to addr ("ip:port") on ctx with cc; events go to ev/arg. A send
 * that leaves more than queue_limit bytes queued returns GW_UPSTREAM_FULL.
 * Returns 0 with *out set (the gw_upconn_ops handle), or a negative code
 * (no callback follows). */
int gw_upconn_open(hr_server *ctx, const char *addr, const hr_client_config *cc,
                   size_t queue_limit, const gw_upstream_events *ev, void *arg, void **out);

#endif

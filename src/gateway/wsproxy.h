/* gw_ws: one proxied WebSocket: the client's connection (public server),
 * its upstream session (a gw_upstream, upstream.h: a plain hr_client
 * connection or a herald-link session; the proxy never asks which), and the
 * relay between them. The gateway never forwards bytes blindly: lib/net
 * parses every client frame, so messages cross whole, with their opcode,
 * and go to the client compressed when it negotiated permessage-deflate
 * (independently of the upstream).
 *
 *   on_upgrade ─▶ edge checks ─▶ open upstream (retry others on failure)
 *                                   ├─ on_open ─▶ accept client (101) ─▶ relay
 *                                   └─ refused ─▶ same status to client
 *
 *   relay down: upstream on_message(gw_upmsg) ─▶ up_message ─▶ client
 *   relay up:   client message ─▶ gw_upstream_send
 *
 * Lifetime: a gw_ws is created by gw_ws_start and freed once the client
 * reported on_close and its upstream session is closed or ended. */
#ifndef GW_WSPROXY_H
#define GW_WSPROXY_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "net/conn.h"
#include "proto/http_head.h"

/* Handles a WebSocket upgrade on route r (a websocket route of app->rt).
 * Runs the edge checks (Origin, per-IP rate and connection caps, total cap,
 * auth) and starts the upstream connection. Returns HR_CONN_UPGRADE_DEFER
 * (the session now owns the client's fate) or an HTTP status for lib/net to
 * answer (reply->body set to a static text). */
int gw_ws_start(gw_app *app, hr_conn *client, const hr_http_head *head, const gw_route_cfg *r,
                hr_upgrade_reply *reply);

/* Client-side events, dispatched by the public server's callbacks when the
 * connection's app data is a gw_ws. */
void gw_ws_client_open(hr_conn *c);
void gw_ws_client_message(hr_conn *c, int opcode, const uint8_t *data, size_t len);
void gw_ws_client_drain(hr_conn *c);
void gw_ws_client_close(hr_conn *c, int code);

/* Maps an upstream close code to the code sent to the client: codes an
 * application chose on purpose (1000, 1008, 1009, 1011, 1013, 3000-4999)
 * pass through; 1001 passes through while the gateway drains; anything else
 * (1001 from an upstream going away, 1006 lost, 1002/1007 errors) is 1012. */
int gw_ws_map_upstream_close(int code, bool draining);

/* Room for gw_ws_relay_reason's out: a close frame's payload is at most
 * 125 bytes, 2 of them the code; plus the NUL. */
#define GW_WS_REASON_CAP 124

/* The reason the client gets with the code gw_ws_map_upstream_close
 * returned (mapped) for an upstream close (code, reason[0..len)): the
 * upstream's own text, unchanged, when the code passes through unchanged
 * and the text fits a close frame (1..123 bytes), is valid UTF-8 and holds
 * no NUL; it is copied NUL-terminated into out (GW_WS_REASON_CAP bytes)
 * and out is returned. Otherwise NULL: the code goes alone (or with the
 * gateway's own reason for a code it chose), never a malformed frame. */
const char *gw_ws_relay_reason(int code, int mapped, const uint8_t *reason, size_t len, char *out);

#endif

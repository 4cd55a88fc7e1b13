/* gw_sse: an HTTP response stream (SSE, GET /sse) carried over a
 * herald-link upstream as a STREAM session (docs/link.md, version 4)
 * instead of one plain upstream connection per client (hproxy.c). The
 * notifier writes the answer as bytes: the first DATA holds its head, which
 * is parsed here and re-emitted through lib/net's streamed answer (hop-by-hop
 * headers dropped, X-Request-Id added, framing as the notifier said:
 * Content-Length for a refusal, close-delimited for a stream); every later
 * DATA is body bytes, and a BCAST is one event's SSE block shared by every
 * listed stream (one hr_msg, a reference per client). CLOSE ends the
 * answer; the client leaving sends CLOSE up.
 *
 *   client ◀─ hr_conn_stream_* ─ gw_sse ◀─ gw_upstream (uplink.c) ◀══ notifier
 *                                   └─ ops->credit once the client took it
 *
 * Backpressure: a message's length is credited back as soon as the
 * client's queue is under half of limits.send_queue_bytes, else when it
 * drained; past the bound lib/net closes the client (slow reader) and the
 * notifier's window holds the rest of that stream only. */
#ifndef GW_SSELINK_H
#define GW_SSELINK_H

#include "app.h"
#include "config.h"
#include "net/conn.h"
#include "proto/http_head.h"

/* Answers GET request h on route r, whose upstream is herald-link: 401 on a
 * bad token, 405 for another method, 503 while draining or with no server,
 * else opens the STREAM session (the client's answer follows from the
 * notifier). The connection's app data marks the stream (GW_KIND_SSE). */
void gw_sse_start(gw_app *app, hr_conn *c, const hr_http_head *h, const gw_route_cfg *r);

/* The client's queue drained: owed window goes back to the notifier. */
void gw_sse_client_drain(hr_conn *c);

/* The client went away: CLOSE toward the notifier. */
void gw_sse_client_close(hr_conn *c);

#endif

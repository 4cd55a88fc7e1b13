/* gw_hproxy: plain HTTP request/response proxying for upstream routes:
 * edge auth, upstream choice with retry on connect failure, the request
 * rewritten (target, hop-by-hop headers removed, X-Forwarded-For/Proto,
 * X-Request-Id, identity headers) and sent over the keep-alive pool
 * (gw_uphttp); the response streams back as it arrives (head first, then
 * the body, with backpressure), its hop-by-hop headers removed. */
#ifndef GW_HPROXY_H
#define GW_HPROXY_H

#include <stdbool.h>

#include "app.h"
#include "core/buf.h"
#include "net/conn.h"
#include "proto/http_head.h"

/* Largest upstream response head; larger ones are answered with 502. The
 * body streams and has no cap. */
#define GW_HPROXY_MAX_RESPONSE ((size_t)8 << 20)
/* Time from the request to the upstream's response head, then the longest
 * silence between two body reads. */
#define GW_HPROXY_TIMEOUT_MS 30000

/* Proxies the request h (body[0..len)) on route r. Answers the client itself
 * (now or later); the connection's app data marks the pending exchange. */
void gw_hproxy_start(gw_app *app, hr_conn *c, const hr_http_head *h, const uint8_t *body,
                     size_t len, const gw_route_cfg *r);

/* Answers h on c with status and a short text body, counting and logging it
 * (r may be NULL). */
void gw_hproxy_answer(gw_app *app, hr_conn *c, const hr_http_head *h, const gw_route_cfg *r,
                      int status, const char *text);

/* The client's send queue drained: resumes a paused upstream read. */
void gw_hproxy_client_drain(hr_conn *c);

/* The client went away: cancels its pending upstream exchange. */
void gw_hproxy_client_close(hr_conn *c);

/* True when resp's Content-Type is text/event-stream (any case, any
 * parameters): an SSE stream, counted in herald_gateway_sse_open. */
bool gw_hproxy_is_event_stream(const hr_http_head *resp);

/* Appends the response headers of resp worth relaying to the client
 * ("Name: value\r\n"): all but hop-by-hop ones (and those its Connection
 * header names), Content-Length,
 * Content-Type (passed separately), Date and Server. Returns 0,
 * HR_ETOOBIG or HR_ENOMEM. */
int gw_hproxy_response_headers(const hr_http_head *resp, hr_buf *out);

#endif

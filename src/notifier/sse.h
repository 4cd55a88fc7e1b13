/* nf_sse: Server-Sent Events at GET /sse (SPEC §8). An SSE stream is one
 * more carrier of a client session (transport.h): the session checks the
 * identity and ?channels=, subscribes and resumes as for a WebSocket, and
 * this file turns what it sends into text/event-stream: events as
 * "id/event/data" blocks, replies as comment lines. The SSE block of an
 * event is built once per event on each loop and shared by every stream
 * (a reference each). Resume: the Last-Event-ID header wins over ?since=,
 * because a reconnecting EventSource repeats its first URL. A comment every
 * 15 s keeps proxies from timing the stream out. */
#ifndef NF_SSE_H
#define NF_SSE_H

#include <stdint.h>

#include "app.h"
#include "net/conn.h"
#include "proto/http_head.h"

typedef struct nf_sse nf_sse;

/* Seconds between keepalive comments. */
#define NF_SSE_KEEPALIVE_S 15
/* The reconnection delay announced to clients ("retry:"), milliseconds. */
#define NF_SSE_RETRY_MS 1000

/* Answers GET /sse on c: 400 (no channels), 401 (bad token, or a protected
 * channel without one), 403 (a channel the identity may not read), 503
 * (shutting down) before the stream; else starts the stream. */
void nf_sse_request(nf_loop *l, hr_conn *c, const hr_http_head *head);

/* on_drain and on_close of a stream's connection (its app data). */
void nf_sse_drain(nf_sse *s);
void nf_sse_close(nf_sse *s);

#endif

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

/* The wire of one stream: what carries its bytes to the client. The
 * notifier's own HTTP connection (direct, below: hr_conn writes the head
 * and frames the answer) or a herald-link STREAM session (link.c: a byte
 * pipe, so this file writes the HTTP/1.1 head and refusals as bytes). */
typedef struct nf_sse_wire_ops {
    /* Body bytes of the answer, by reference (m may be shared by every
     * stream). Returns 0, or a negative code when closing or over the
     * client's bound (the wire then closes the client itself). */
    int (*send)(void *w, hr_msg *m);
    /* Ends the answer after what is queued. code: a WebSocket close code
     * saying why (1000, 1001 shutting down, 1008 token expired, 1013 slow). */
    void (*close)(void *w, int code, const char *reason);
    /* Bytes queued toward the client (replay pacing). */
    size_t (*queued)(const void *w);
} nf_sse_wire_ops;

typedef struct nf_sse_wire {
    const nf_sse_wire_ops *ops;
    void *self;
} nf_sse_wire;

/* Seconds between keepalive comments. */
#define NF_SSE_KEEPALIVE_S 15
/* The reconnection delay announced to clients ("retry:"), milliseconds. */
#define NF_SSE_RETRY_MS 1000

/* Answers GET /sse on c: 400 (no channels), 401 (bad token, or a protected
 * channel without one), 403 (a channel the identity may not read), 503
 * (shutting down) before the stream; else starts the stream. */
void nf_sse_request(nf_loop *l, hr_conn *c, const hr_http_head *head);

/* A stream over a byte-pipe wire (a herald-link STREAM session): head is
 * the request as the gateway forwarded it, peer the address whose
 * --trusted-proxy rule applies, conn_id the session's id. The HTTP/1.1
 * answer is written to w as bytes, "Connection: close" and close-delimited;
 * a refusal (400, 401, 403, 414, 503) is a whole answer followed by
 * ops->close. Returns the stream, or NULL when refused (w was closed). */
nf_sse *nf_sse_open(nf_loop *l, nf_sse_wire w, const char *conn_id, const struct sockaddr *peer,
                    const hr_http_head *head);

/* on_drain and on_close of a stream's connection (its app data) or link
 * session: the wire has room again / is gone (no wire call after this). */
void nf_sse_drain(nf_sse *s);
void nf_sse_close(nf_sse *s);

#endif

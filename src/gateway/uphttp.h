/* gw_uphttp: a small HTTP/1.1 client for upstream requests (plain HTTP
 * routes and active health checks) with a keep-alive pool per server. One
 * request per connection at a time (no pipelining). A response is either
 * buffered whole, up to a cap, and handed over in one callback
 * (gw_uphttp_request), or streamed: the head in one callback, then the body
 * as it arrives, with pause/resume for backpressure (gw_uphttp_stream).
 * Content-Length, chunked (decoded) and read-until-close bodies are all
 * supported.
 * Requests are bytes prepared by the caller (head plus body). */
#ifndef GW_UPHTTP_H
#define GW_UPHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "proto/http_head.h"

typedef struct gw_uphttp gw_uphttp;
typedef struct gw_upreq gw_upreq;

/* err is 0 with head (a parsed response head; views valid during the call)
 * and body[0..body_len) (decoded); or a negative code and head NULL:
 * HR_ETOOBIG (response over the cap), HR_EPROTO (malformed), UV_ETIMEDOUT,
 * or a libuv connect/read error. connected tells whether a TCP connection was
 * established at all (false: the server is unreachable). */
typedef void (*gw_upreq_cb)(void *arg, int err, bool connected, const hr_http_head *head,
                            const uint8_t *body, size_t body_len);

/* New client on loop keeping at most max_idle idle connections in total,
 * each closed after idle_ms without use. NULL when out of memory. */
gw_uphttp *gw_uphttp_new(uv_loop_t *loop, size_t max_idle, uint32_t idle_ms);

/* Sends req[0..len) (copied) to addr and calls cb(arg, ...) exactly once,
 * later (never from inside this call), unless the request is cancelled.
 * head_req: the request is HEAD (no response body). max_resp caps the
 * response head plus body; timeout_ms covers connect to last byte. A request
 * on a reused connection that fails before any response byte is retried once
 * on a fresh connection. Returns 0 and the handle in *out (may be NULL), or
 * HR_ENOMEM / HR_ECLOSED (the client is shutting down) without calling cb. */
int gw_uphttp_request(gw_uphttp *h, const gw_addr *addr, const void *req, size_t len, bool head_req,
                      size_t max_resp, uint32_t timeout_ms, gw_upreq_cb cb, void *arg,
                      gw_upreq **out);

/* Body callbacks of a streamed request. on_body gets decoded body bytes
 * (views valid during the call); on_end comes once, last: err 0 when the
 * body was complete, else why it was cut (HR_EPROTO, UV_ETIMEDOUT, a libuv
 * read error, UV_EOF before a declared end). Either may cancel the request. */
typedef struct gw_upstream_body_cb {
    void (*on_body)(void *arg, const uint8_t *p, size_t len);
    void (*on_end)(void *arg, int err);
} gw_upstream_body_cb;

/* Like gw_uphttp_request, but cb is called as soon as the response head
 * arrives (err 0, head set, body NULL/0) and the body then streams through
 * body->on_body and body->on_end (body outlives the request); an error
 * before the head reaches cb as in gw_uphttp_request, and then nothing else
 * is called. max_resp caps the head; the body has no cap. timeout_ms covers
 * connect to head, then each silence between body reads (not while
 * paused). */
int gw_uphttp_stream(gw_uphttp *h, const gw_addr *addr, const void *req, size_t len, bool head_req,
                     size_t max_resp, uint32_t timeout_ms, gw_upreq_cb cb,
                     const gw_upstream_body_cb *body, void *arg, gw_upreq **out);

/* Stops (true) or resumes (false) reading a streamed response's body. */
void gw_upreq_pause(gw_upreq *r, bool pause);

/* Cancels a pending request: its callback will not run; its connection is
 * closed. */
void gw_upreq_cancel(gw_upreq *r);

/* Number of idle pooled connections (tests, metrics). */
size_t gw_uphttp_idle(const gw_uphttp *h);

/* Cancels every request (without callbacks), closes every connection and
 * frees h once libuv has released the handles (run the loop afterwards).
 * NULL is a no-op. */
void gw_uphttp_free(gw_uphttp *h);

#endif

/* nf_api: the notifier's internal HTTP API (SPEC §3): POST /publish,
 * GET /healthz, /readyz, /metrics; 404 for other paths, 405 for a wrong
 * method, 426 for a plain GET /ws. Publishing goes through the broker and
 * answers when the broker completes (at once for the memory broker). */
#ifndef NF_API_H
#define NF_API_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "core/buf.h"
#include "net/conn.h"
#include "proto/http_head.h"
#include "proto/publish.h"

/* A /publish waiting for the broker; attached to its connection. */
struct nf_pub_req {
    nf_conn_kind kind; /* NF_KIND_PUBLISH; first member */
    nf_loop *loop;
    hr_conn *conn; /* NULL once the connection closed: answer nobody */
    bool is_batch;
    bool pusher;             /* a Pusher HTTP API request: reply {} */
    nf_pub_req *prev, *next; /* in loop->pending */
};

/* on_request: answers one plain HTTP request (now, or when the broker
 * completes a publish). */
void nf_api_request(nf_loop *l, hr_conn *c, const hr_http_head *head, const uint8_t *body,
                    size_t len);

/* Publishes a parsed batch (borrowed) for c and answers when the broker
 * completes: Herald's {"id"}/{"ids"} reply, or {} with pusher (the Pusher
 * HTTP API's). Broker down or out of memory: 503. */
void nf_api_publish(nf_loop *l, hr_conn *c, const hr_pub_batch *batch, bool pusher);

/* on_close for a connection whose /publish is still pending. */
void nf_api_close(nf_pub_req *req);

/* Frees publishes the broker never completed (its callbacks are dropped when
 * it is freed). Call after the broker is gone. */
void nf_api_free_pending(nf_loop *l);

/* Writes the Prometheus text of every metric of l into out. Returns 0,
 * HR_ETOOBIG or HR_ENOMEM. */
int nf_api_write_metrics(const nf_loop *l, hr_buf *out);

#endif

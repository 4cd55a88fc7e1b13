/* bench_conn: one benchmark client on a worker's loop. It binds a
 * source address of 127.0.0.0/8, connects, sends the upgrade request, checks
 * the 101 with lib/proto (http_head, ws_handshake), then reads frames with
 * hr_ws_reader (client side: require_masked = false), answers pings, and
 * records each event's publish-to-receive latency from the "t" timestamp
 * the publisher put in the event data. Idle connections hold no buffer: reads
 * land in the worker's shared buffer and the reader keeps only partial
 * frames. The other protocols reuse all of it: an SSE client (sse_client.c) sends a
 * GET and reads the event stream with hr_sse_reader instead of frames; a
 * Pusher client (pusher_client.c) is a WebSocket client with its own handshake
 * messages and event envelope. */
#ifndef BENCH_CONN_H
#define BENCH_CONN_H

#include <uv.h>

#include "proto/http_chunked.h"
#include "proto/sse_reader.h"
#include "proto/ws_reader.h"
#include "worker.h"

typedef enum bench_conn_state {
    BENCH_CONN_IDLE = 0,
    BENCH_CONN_CONNECTING,
    BENCH_CONN_HANDSHAKE,
    BENCH_CONN_OPEN,
    BENCH_CONN_CLOSING,
    BENCH_CONN_CLOSED,
} bench_conn_state;

struct bench_conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    bench_worker *w;
    uint32_t gidx; /* global client index: picks source address and channel */
    uint8_t state;
    bool ready;     /* subscribed (herald) or open (peer) */
    bool was_ready; /* was ready at least once: counts toward loss */
    char key[25];
    uint8_t *hbuf; /* handshake response bytes until the head is complete */
    size_t hlen;
    uint64_t t_start;
    uint64_t delivered;
    int64_t last_seq;
    hr_ws_reader rd;
    bool pusher_subscribing; /* pusher: pusher:subscribe sent */
    bool chunked;            /* sse: the body has chunked coding */
    hr_http_chunked chunks;  /* sse */
    hr_sse_reader sse;       /* sse */
};

/* Starts connecting c (caller storage, zeroed or closed before) as global
 * client gidx. Failures are counted in w->res, never returned: the
 * connection ends up CLOSED. */
void bench_conn_start(bench_worker *w, bench_conn *c, uint32_t gidx);

/* Closes c's handle if it is open (no close frame: the run is over).
 * The memory is released when the loop runs the close callback. */
void bench_conn_abort(bench_conn *c);

/* Frees what c holds besides its handle (after its handle closed). */
void bench_conn_deinit(bench_conn *c);

/* ---- for the protocol files (sse_client.c, pusher_client.c) ---- */

/* Counts a failure (or a close once ready) and closes c. */
void bench_conn_fail(bench_conn *c);

/* c is subscribed: counts it ready (and in churn mode closes it). */
void bench_conn_ready(bench_conn *c);

/* One delivered message: finds the publisher's "t" and "s" in p[0..len)
 * (also inside a JSON string, as Pusher carries data: \"t\":) and records
 * latency, loss and order. Messages without both are ignored. */
void bench_conn_event(bench_conn *c, const uint8_t *p, size_t len);

/* Sends text as one masked WebSocket text frame (copied). */
void bench_conn_send_text(bench_conn *c, const char *text, size_t len);

/* Sends len bytes as they are (copied). Returns 0 or fails c. */
int bench_conn_write(bench_conn *c, const char *p, size_t len);

/* True when p[0..len) is Herald's "subscribed" reply. */
bool bench_conn_is_subscribed_reply(const uint8_t *p, size_t len);

/* The channel of c ("NAME" or "NAME-i") into out[0..cap). */
void bench_conn_channel(const bench_conn *c, char *out, size_t cap);

#endif

/* bench_conn: one benchmark WebSocket client on a worker's loop. It binds a
 * source address of 127.0.0.0/8, connects, sends the upgrade request, checks
 * the 101 with lib/proto (http_head, ws_handshake), then reads frames with
 * hr_ws_reader (client side: require_masked = false), answers pings, and
 * records each event's publish-to-receive latency from the "t" timestamp
 * the publisher put in the event data. Idle connections hold no buffer: reads
 * land in the worker's shared buffer and the reader keeps only partial
 * frames. */
#ifndef BENCH_CONN_H
#define BENCH_CONN_H

#include <uv.h>

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

#endif

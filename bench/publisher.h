/* bench_pub: the publishing side of a run, on the parent's loop. It sends
 * events * channels events (round r goes to every channel, in order) over
 * one TCP connection to one of:
 *   http://host:port/path   POST; Herald's {"channel":..,"data":..} body, or
 *                           the raw data when publish_raw (a peer; "{ch}" in
 *                           the path names the channel)
 *   redis://host:port[?stream=S]  XADD S * channel <ch> data <json>
 *   nats://host:port        PUB herald.events.<ch>, each followed by PING
 * Each event's data is {"t":<CLOCK_MONOTONIC ns at send>,"s":<round>,"p":".."}
 * padded to opts.size bytes. At most one event is unacknowledged at a time
 * (an HTTP response, a Redis reply, a NATS PONG); with rate 0 the next one
 * goes as soon as the last is acknowledged, otherwise round r is sent at
 * start + r / rate. */
#ifndef BENCH_PUBLISHER_H
#define BENCH_PUBLISHER_H

#include <uv.h>

#include "bench.h"

typedef enum { BENCH_PUB_HTTP, BENCH_PUB_REDIS, BENCH_PUB_NATS } bench_pub_kind;

typedef struct bench_pub bench_pub;
typedef void (*bench_pub_done_cb)(bench_pub *p);

struct bench_pub {
    const bench_opts *o;
    uv_loop_t *loop;
    bench_pub_kind kind;
    char host[64];
    int port;
    char path[256];
    char stream[128];
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_timer_t timer;
    bench_pub_done_cb on_done;
    uint64_t total;     /* events * channels */
    uint64_t sent, acked, errors;
    bool waiting;       /* one event is unacknowledged */
    bool finished;
    uint64_t start_ns, first_send_ns, last_ack_ns;
    uint8_t in[65536];
    size_t in_len;
};

/* Parses o->publish into p. Returns 0, or -1 with a reason in err. */
int bench_pub_init(bench_pub *p, uv_loop_t *loop, const bench_opts *o, char *err, size_t cap);

/* Connects and publishes everything; on_done runs once, when every event is
 * acknowledged or the connection failed (then errors counts what is missing). */
void bench_pub_start(bench_pub *p, bench_pub_done_cb on_done);

/* Closes the handles (call once the run is over, before the loop ends). */
void bench_pub_close(bench_pub *p);

#endif

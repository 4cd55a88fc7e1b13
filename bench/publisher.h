/* bench_pub: the publishing side of a run, on the parent's loop. It sends
 * events * channels events (round r goes to every channel, in order) over
 * one TCP connection to one of:
 *   http://host:port/path   POST; Herald's {"channel":..,"data":..} body, or
 *                           the raw data when publish_raw (a peer; "{ch}" in
 *                           the path names the channel)
 *   redis://host:port[?stream=S]  XADD S * channel <ch> data <json>
 *   nats://host:port        PUB herald.events.<ch>, each followed by PING
 * Each event's data is {"t":<CLOCK_MONOTONIC ns at send>,"s":<round>,"p":".."}
 * padded to opts.size bytes. The rounds are sent phase by phase
 * (bench_opts.phases): an ACKED phase keeps at most one event
 * unacknowledged (an HTTP response, a Redis reply, a NATS PONG) and, with a
 * rate, also waits for round r's time (phase start + r / rate); an OPEN
 * phase sends on that schedule whatever is acknowledged; a BURST phase
 * writes all its rounds at once. Acknowledgements are read in order. */
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
    uint64_t inflight; /* sent, not yet acknowledged */
    bool connected;
    bool finished;    /* the connection failed or closed: nothing more goes out */
    uint32_t phase;   /* the phase being sent */
    uint64_t seg_end; /* events (sent counter) that end the phase */
    uint64_t start_ns, first_send_ns, last_ack_ns;
    uint64_t phase_first_send_ns[BENCH_MAX_PHASES], phase_last_ack_ns[BENCH_MAX_PHASES];
    uint8_t in[65536];
    size_t in_len;
};

/* Parses o->publish into p. Returns 0, or -1 with a reason in err. */
int bench_pub_init(bench_pub *p, uv_loop_t *loop, const bench_opts *o, char *err, size_t cap);

/* Publishes phase `phase` (connecting first if needed); on_done runs once
 * per call, when every event of the phase is acknowledged or the connection
 * failed (then finished is set and errors counts what is missing). */
void bench_pub_start(bench_pub *p, uint32_t phase, bench_pub_done_cb on_done);

/* Closes the handles (call once the run is over, before the loop ends). */
void bench_pub_close(bench_pub *p);

#endif

/* herald-bench's shared definitions: the run options (parsed once in main.c,
 * read-only afterwards, inherited by forked workers) and the records that
 * workers send to the parent over their socketpair. */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define BENCH_MAX_WORKERS 64
#define BENCH_MAX_EVENTS 1000000
#define BENCH_MAX_SOURCES 250
#define BENCH_MAX_PHASES 8

/* How a publish phase paces its events (--phases). ACKED: each after the
 * last is acknowledged (with a rate, also not before its time); OPEN: on
 * schedule (rate/s), acknowledged or not, a sustained rate; BURST: all at
 * once, back to back, the acknowledgements read as they come. */
typedef enum bench_pace {
    BENCH_PACE_ACKED = 0,
    BENCH_PACE_OPEN = 1,
    BENCH_PACE_BURST = 2,
} bench_pace;

/* One publish phase: events rounds sent with pace at rate/s. Phases run in
 * order on the same connections, each drained before the next starts. */
typedef struct bench_phase {
    uint32_t events;
    uint32_t rate;
    bench_pace pace;
} bench_phase;

typedef enum bench_proto {
    BENCH_PROTO_HERALD = 0,   /* wait for "subscribed" (channels= in the URL) */
    BENCH_PROTO_NONE = 1,     /* a peer whose URL names the channel: ready at 101 */
    BENCH_PROTO_SSE = 2,      /* Herald's GET /sse: ready at the "subscribed" comment */
    BENCH_PROTO_SSE_NONE = 3, /* a peer's event stream: ready at the 200 */
    BENCH_PROTO_PUSHER = 4,   /* Pusher protocol 7: ready at subscription_succeeded */
} bench_proto;

/* The client reads an HTTP event stream, not WebSocket frames. */
static inline bool bench_proto_is_sse(bench_proto p)
{
    return p == BENCH_PROTO_SSE || p == BENCH_PROTO_SSE_NONE;
}

typedef struct bench_opts {
    /* client side */
    char host[64];     /* connect address, dotted IPv4 */
    int port;
    char target[512]; /* request-target; "{ch}" is replaced by the channel
                         (pusher: the channel goes in pusher:subscribe) */
    bench_proto proto;
    uint32_t clients;
    uint32_t connect_rate; /* new connections per second, all workers */
    uint32_t workers;
    uint32_t sources;   /* source addresses 127.0.0.10 .. */
    uint32_t channels;  /* client i is on channel i % channels */
    char channel[64];   /* channel name; with channels > 1: <name>-<i> */
    /* publish side */
    char publish[512];  /* http://h:p/path, redis://h:p, nats://h:p, or "none" */
    bool publish_raw;   /* HTTP body is the event data itself (a peer), not Herald's JSON */
    char api_key[128];
    uint32_t events;    /* broadcasts per channel */
    uint32_t rate;      /* broadcasts per second, 0 = as fast as acknowledged */
    uint32_t size;      /* bytes of event data */
    bench_phase phases[BENCH_MAX_PHASES]; /* --phases, or one phase of events at rate */
    uint32_t nphases;                     /* events is the sum of the phases' events */
    double gap_s;                         /* pause between phases, after the drain */
    /* phases, all bounded */
    double idle_s;      /* hold after all are ready, before publishing */
    double drain_s;     /* wait for deliveries after the last publish */
    double timeout_s;   /* hard bound on the whole run */
    double churn_s;     /* > 0: churn mode for this long (connect, ready, close, repeat) */
    /* reporting */
    char label[128];
    char json_path[512];
    char pids[512];     /* "name=pid,name=pid" */
    bool progress;
} bench_opts;

/* Worker -> parent record (fixed size; several may be in flight). */
enum { BENCH_REC_PROGRESS = 1, BENCH_REC_RESULT = 2 };

typedef struct bench_rec {
    uint32_t type;
    uint32_t worker;
    uint64_t connected; /* TCP connected (cumulative, churn counts every cycle) */
    uint64_t ready;     /* currently ready (subscribed or open) */
    uint64_t failed;    /* connect or handshake failures */
    uint64_t closed;    /* closed by the server or reset while open */
    uint64_t delivered; /* events received */
    uint64_t cycles;    /* churn: complete connect-ready-close cycles */
} bench_rec;

/* The result a worker sends after BENCH_REC_RESULT: this struct, then
 * first_ns[events] and last_ns[events] (0 = never received). */
typedef struct bench_result {
    bench_rec rec;
    uint32_t conns;        /* connections this worker was given */
    uint32_t ready_conns;  /* ready at the end of the connect phase */
    uint64_t min_per_conn; /* least events received by a ready connection */
    uint64_t max_per_conn;
    uint32_t lossy_conns;  /* ready connections that got fewer than expected */
    uint64_t duplicates;   /* a sequence number seen again or going backwards */
    uint64_t connect_first_ns, connect_last_ns; /* first attempt, last ready */
    bench_hist handshake;  /* connect start to 101, microseconds */
    bench_hist latency;    /* publish timestamp to receive, microseconds */
    bench_hist phase_latency[BENCH_MAX_PHASES]; /* the same, per publish phase */
} bench_result;

/* CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the
 * host, so a timestamp written by the publisher is comparable in workers. */
uint64_t bench_now_ns(void);

/* The phase that round s (0-based, over all phases) belongs to. */
uint32_t bench_phase_of(const bench_opts *o, uint64_t s);

/* The first round of phase i. */
uint64_t bench_phase_first(const bench_opts *o, uint32_t i);

#endif

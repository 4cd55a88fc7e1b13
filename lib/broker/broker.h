/* hr_broker: the message-queue side of the notifier behind one ops table
 * (like Redis's ConnectionType or HAProxy's xprt_ops), one adapter per file:
 * memory.c (in-process, the default), later redis.c, nats.c, ...
 *
 * An adapter turns broker data into hr_events, delivered through
 * cb->on_event on the loop's thread in id order, and reports its state
 * through cb->on_state (up: connected and consuming; down: reconnecting with
 * backoff). Fan-out belongs to the caller (the notifier's hub).
 *
 * Publishing is asynchronous-capable: hr_broker_publish() hands items to the
 * broker and the completion callback receives one id per item. An adapter may
 * complete synchronously (the memory broker delivers the events and then
 * calls the callback before hr_broker_publish returns), so callers must not
 * hold state that the callback invalidates across the call.
 *
 *   hr_broker *b = hr_broker_new(loop, "memory", &cbs, app, err, sizeof err);
 *   hr_broker_start(b);                 on_state(up) follows
 *   hr_broker_publish(b, items, n, done, req);
 *   ...
 *   hr_broker_free(b);                  no callback runs after this */
#ifndef HR_BROKER_H
#define HR_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/event.h"
#include "proto/publish.h"

typedef struct hr_broker hr_broker;

typedef struct hr_broker_callbacks {
    /* One event, borrowed for the call. Events arrive in increasing id order. */
    void (*on_event)(void *app, const hr_event *ev);
    /* The broker went up (true) or down (false); detail is a short static or
     * borrowed text for the log ("connected", "connection refused", ...). */
    void (*on_state)(void *app, bool up, const char *detail);
} hr_broker_callbacks;

/* Completion of hr_broker_publish: status 0 with ids[0..n) (one per item, in
 * item order, borrowed for the call), or a negative HR_E* code (n == 0):
 * HR_EBROKER when the broker refused or went away. */
typedef void (*hr_broker_publish_cb)(void *arg, int status, const hr_event_id *ids, size_t n);

typedef struct hr_broker_ops {
    const char *name;
    int (*start)(hr_broker *b);
    int (*publish)(hr_broker *b, const hr_pub_item *items, size_t n, hr_broker_publish_cb cb,
                   void *arg);
    /* Stops all I/O and releases the adapter; may finish asynchronously on the
     * loop (closing handles) but never calls back into the app again. */
    void (*free)(hr_broker *b);
} hr_broker_ops;

/* Counters and gauges an adapter keeps for /metrics (zero where they do not
 * apply: the memory broker keeps none). Written on the loop thread only. */
typedef struct hr_broker_stats {
    uint64_t connected;  /* gauge: 1 while connected and consuming */
    uint64_t reconnects; /* counter: connections made after the first */
    uint64_t consumed;   /* counter: events handed to on_event */
    uint64_t malformed;  /* counter: records skipped (bad channel or data) */
    uint64_t lag_events; /* gauge: records the broker holds past ours (when it tells) */
    uint64_t lag_ms;     /* gauge: broker's newest id time minus ours (Redis ids) */
} hr_broker_stats;

/* The base every adapter embeds as its first member. Adapters set ready and
 * call the callbacks; users go through the hr_broker_* functions only. */
struct hr_broker {
    const hr_broker_ops *ops;
    uv_loop_t *loop;
    hr_broker_callbacks cb; /* copied */
    void *app;
    bool ready;
    /* Every event after origin is (or will be) delivered to on_event; a
     * resume point older than origin cannot be complete. The memory broker
     * sets (start ms, 0); network adapters set it once they know where they
     * started reading. Valid when on_state(up) is reported. */
    hr_event_id origin;
    hr_broker_stats stats;
};

/* Creates the adapter for url: "memory", "redis://...", "nats://..." (those
 * adapters when built in). cb is copied; app is passed to the callbacks.
 * Returns NULL with one line in err[0..errcap) for an unknown scheme, a bad
 * URL, or out of memory. Nothing starts until hr_broker_start. */
hr_broker *hr_broker_new(uv_loop_t *loop, const char *url, const hr_broker_callbacks *cb, void *app,
                         char *err, size_t errcap);

/* Starts consuming (connecting in the background for network brokers).
 * on_state may be called before this returns. Returns 0 or an HR_E* code. */
int hr_broker_start(hr_broker *b);

/* Publishes items[0..n) (borrowed for the call; adapters copy what they
 * keep). Returns 0 when accepted: cb(arg, ...) is then called exactly once,
 * possibly before this returns; or HR_EBROKER (not ready), HR_EINVAL (n == 0),
 * HR_ENOMEM, and then cb is never called. */
int hr_broker_publish(hr_broker *b, const hr_pub_item *items, size_t n, hr_broker_publish_cb cb,
                      void *arg);

/* True while the broker is up (for /readyz). */
bool hr_broker_is_ready(const hr_broker *b);

/* The adapter's counters (see hr_broker_stats); valid for the broker's life. */
const hr_broker_stats *hr_broker_stats_view(const hr_broker *b);

/* The adapter's name ("memory", "redis", ...). */
const char *hr_broker_name(const hr_broker *b);

/* Stops and frees the broker. Pending publish callbacks are dropped without
 * being called; no callback runs after this. Run the loop afterwards so
 * network adapters can close their handles. NULL is a no-op. */
void hr_broker_free(hr_broker *b);

#endif

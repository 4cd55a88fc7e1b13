/* A bounded hand-off from a client library's own thread to the libuv loop:
 * a mutex-protected FIFO of caller-made items plus one uv_async wake-up.
 * Used by the adapters whose library blocks or delivers on a thread of its
 * own (NATS, RabbitMQ).
 *
 *   producer thread(s) --post--> [FIFO under mu] --uv_async--> loop: on_item
 *
 * Items are intrusive: the caller's struct starts with an hr_handoff_item,
 * and a posted item belongs to the hand-off until on_item (or on_drop at
 * close) hands it back. The bound is cooperative: hr_handoff_wait_space()
 * blocks a producer while max items are queued, and hr_handoff_post() never
 * blocks (small state notes may go past the bound). */
#ifndef HR_HANDOFF_H
#define HR_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct hr_handoff_item {
    struct hr_handoff_item *next;
} hr_handoff_item;

typedef struct hr_handoff hr_handoff;

/* Called on the loop thread with one item, which it now owns. */
typedef void (*hr_handoff_item_cb)(hr_handoff *h, hr_handoff_item *item);
/* Called on the loop thread once the hand-off is closed and deinitialised;
 * the storage of h may be freed from here. */
typedef void (*hr_handoff_closed_cb)(hr_handoff *h);

struct hr_handoff {
    void *data; /* the owner's, untouched */
    /* --- private --- */
    uv_async_t async;
    uv_mutex_t mu;
    uv_cond_t space;
    hr_handoff_item *head, *tail; /* under mu */
    size_t n, max;                /* under mu */
    bool stopped;                 /* under mu */
    hr_handoff_item_cb on_item;
    hr_handoff_item_cb on_drop;
    hr_handoff_closed_cb on_closed;
};

/* Initialises h in the caller's storage on loop (loop thread), with data as
 * h->data. on_item receives every posted item, in posting order, on the
 * loop thread; max (> 0) is the queue length at which
 * hr_handoff_wait_space() blocks.
 * Returns 0, or HR_EINTERNAL when the mutex or the async handle cannot be
 * set up (nothing is left to release then). */
int hr_handoff_init(hr_handoff *h, uv_loop_t *loop, size_t max, hr_handoff_item_cb on_item,
                    void *data);

/* Appends item (ownership moves in) and wakes the loop. Any thread; never
 * blocks on the bound. Not after hr_handoff_close(). */
void hr_handoff_post(hr_handoff *h, hr_handoff_item *item);

/* Blocks the calling (producer) thread while max items are queued. Returns
 * true when there is room, false once hr_handoff_stop() was called (then
 * it never blocks). Never call it on the loop thread. */
bool hr_handoff_wait_space(hr_handoff *h);

/* Releases every producer waiting for room, now and later. Any thread. */
void hr_handoff_stop(hr_handoff *h);

/* Closes the hand-off (loop thread; no producer may post any more): when
 * libuv has closed the handle, every item still queued goes to on_drop
 * (which owns it), the mutex is destroyed, then on_closed(h) runs. */
void hr_handoff_close(hr_handoff *h, hr_handoff_item_cb on_drop, hr_handoff_closed_cb on_closed);

#endif

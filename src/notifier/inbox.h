/* nf_inbox: the queue through which the primary loop talks to one shard
 * loop (loops.h), and the one through which the shards send client
 * publishes to the primary (several producers: the mutex serialises them):
 * events (a reference to the frame the primary encoded, the channel name,
 * the id and the primary's timestamp), history floors, link and direct
 * client sockets handed over, and the stop order. Items keep their order,
 * so a client handed over after an event finds it in the shard's history.
 * A mutex around a ring of items, and an optional uv_async_t signalled
 * (under the mutex) when the ring turns non-empty: libuv coalesces the
 * signals, so the consumer takes everything at once with nf_inbox_take()
 * and works outside the lock.
 *
 * Bounded: at most max items wait (a STOP always fits). An event that does
 * not fit is not queued (the caller drops its reference) and the inbox
 * remembers that it lost events and the newest lost id; from then on every
 * event is refused (and counted) until the consumer's next take, which
 * reports the loss after the items that came before it. So the consumer can
 * close its sessions (1013) and raise its history floor (a resume from
 * before the gap says recovered:false) before anything newer than the gap
 * reaches them. Once closed (the consumer stopped), pushes are refused. */
#ifndef NF_INBOX_H
#define NF_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/event.h"
#include "core/msg.h"
#include "proto/channel.h"

typedef enum nf_inbox_kind {
    NF_INBOX_EVENT = 1, /* deliver msg on channel with id, stamped now_ms */
    NF_INBOX_FLOOR = 2, /* raise the hub's floor to id */
    NF_INBOX_LINK = 3,  /* run a herald-link on socket fd */
    NF_INBOX_STOP = 4,  /* SIGTERM: close every session with 1001 and end */
    /* Client publish from a shard's session (cpub.h), shard -> primary: msg
     * holds the data, channel the name, from the shard, tag its request. */
    NF_INBOX_PUBLISH = 5,
    /* The primary's answer, primary -> shard: status, the id's text in
     * channel, tag the shard's request. */
    NF_INBOX_PUBLISHED = 6,
    NF_INBOX_DIRECT = 7, /* serve a direct client (WS, SSE) on socket fd; bytes: what was read */
} nf_inbox_kind;

typedef struct nf_inbox_item {
    nf_inbox_kind kind;
    uv_os_sock_t fd; /* LINK, DIRECT: owned by the item */
    uint8_t *bytes;  /* DIRECT: the input read so far (the upgrade request), owned */
    size_t len;
    hr_msg *msg;     /* EVENT: one reference, owned by the item */
    hr_event_id id;
    uint64_t now_ms;
    void *tag;                        /* PUBLISH, PUBLISHED: only compared, never read across */
    int status;                       /* PUBLISHED */
    unsigned from;                    /* PUBLISH */
    char channel[HR_CHANNEL_MAX + 1]; /* EVENT, PUBLISH; PUBLISHED: the id */
} nf_inbox_item;

/* A FIFO of items: a ring that grows by doubling (no locking). */
typedef struct nf_ring {
    nf_inbox_item *items;
    size_t cap, head, n;
} nf_ring;

typedef struct nf_inbox {
    uv_mutex_t lock;
    nf_ring ring;
    size_t max;          /* items at most */
    uv_async_t *wake;    /* signalled when the ring turns non-empty, or NULL */
    bool closed;         /* the consumer stopped: pushes refused */
    uint64_t lost;       /* events refused for want of room since the last take */
    hr_event_id lost_id; /* the newest of them */
} nf_inbox;

/* Initialises an empty inbox of at most max items; wake may be NULL (tests)
 * and must stay valid until nf_inbox_close(). Returns 0 or a libuv error. */
int nf_inbox_init(nf_inbox *ib, size_t max, uv_async_t *wake);

/* Releases the inbox and whatever it still holds (message references
 * dropped, sockets closed). No push or take may run concurrently. */
void nf_inbox_deinit(nf_inbox *ib);

/* Appends *it (ownership of its msg or fd moves in on success). Returns 0;
 * HR_ELIMIT when full (an event is counted as lost); HR_ECLOSED once
 * closed; HR_ENOMEM. On any error the caller keeps ownership. Thread-safe. */
int nf_inbox_push(nf_inbox *ib, const nf_inbox_item *it);

/* Moves every waiting item into out (which must be empty; its storage is
 * reused, so pass the same ring back each time), and reports events lost
 * since the last take in *lost and *lost_id (the counters restart). Thread-safe. */
void nf_inbox_take(nf_inbox *ib, nf_ring *out, uint64_t *lost, hr_event_id *lost_id);

/* Refuses every later push; call before closing the wake handle. Thread-safe. */
void nf_inbox_close(nf_inbox *ib);

/* Ring operations (no locking). push: 0, HR_ELIMIT (n == max) or HR_ENOMEM. */
int nf_ring_push(nf_ring *r, const nf_inbox_item *it, size_t max);
/* Removes the oldest item into *it; false when empty. */
bool nf_ring_pop(nf_ring *r, nf_inbox_item *it);
/* Drops every item (references, sockets) and frees the storage. */
void nf_ring_deinit(nf_ring *r);
/* Releases what one item owns (its message reference or its socket). */
void nf_inbox_item_release(nf_inbox_item *it);

#endif

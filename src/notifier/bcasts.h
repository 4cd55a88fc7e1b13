/* nf_bcasts: one herald-link's pending broadcasts (link.c, docs/link.md
 * *Broadcast*). The hub hands one event to its subscribers in a row, each
 * getting the encoding its protocol speaks: Herald sessions the event's
 * Herald frame, Pusher sessions its Pusher frame (pusher.c), SSE streams
 * its SSE block (sse.c), in whatever order they subscribed. A single
 * pending message would break a run of H P H P ... into one tiny BCAST per
 * session; a few slots, one per message, keep one BCAST per message
 * instead.
 *
 * Order: every slot is written at once, in slot order (nf_bcasts_add says
 * when: NF_BCASTS_FLUSH), and a session never joins a slot before the one
 * it already waits in, so each session's messages keep their order. A mark
 * per session (nf_bcast_mark) remembers where it waits. Pure: no loop, no
 * I/O; the caller writes the slots. */
#ifndef NF_BCASTS_H
#define NF_BCASTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/* Messages pending at once: the Herald, Pusher and SSE encodings of two
 * events. */
#define NF_BCASTS_SLOTS 6
/* nf_bcasts_add: write every slot (then nf_bcasts_reset) and add again. */
#define NF_BCASTS_FLUSH 1

typedef struct nf_bcast_slot {
    hr_msg *msg; /* our reference */
    uint8_t opcode;
    size_t off, len; /* the WebSocket payload inside msg */
    uint32_t *ids;   /* reused from one broadcast to the next */
    size_t n, cap;
} nf_bcast_slot;

typedef struct nf_bcasts {
    nf_bcast_slot slot[NF_BCASTS_SLOTS];
    size_t used;  /* slots [0, used) hold a message */
    uint64_t gen; /* counts resets: a mark of an older one waits nowhere */
    size_t max;   /* most ids per slot (HR_LINK_MAX_BCAST) */
} nf_bcasts;

/* Where one session waits: slot `slot` of generation `gen`. Zeroed: nowhere. */
typedef struct nf_bcast_mark {
    uint64_t gen;
    size_t slot;
} nf_bcast_mark;

/* Empty, with at most max (> 0) ids per slot. */
void nf_bcasts_init(nf_bcasts *b, size_t max);

/* Adds session id (its mark *m) to the slot of msg (payload at off, len;
 * opcode), opening one when msg has none. Returns 0 (added: one more
 * reference to msg when the slot is new), NF_BCASTS_FLUSH (nothing done:
 * every slot is taken, msg's slot is full, or the session waits in a later
 * slot) or HR_ENOMEM (nothing done: the caller sends it on its own). */
int nf_bcasts_add(nf_bcasts *b, nf_bcast_mark *m, uint32_t id, hr_msg *msg, uint8_t opcode,
                  size_t off, size_t len);

/* Drops every slot's message (written, or the link is gone); marks of
 * sessions that waited there no longer count. */
void nf_bcasts_reset(nf_bcasts *b);

/* Frees the id lists (after nf_bcasts_reset). */
void nf_bcasts_deinit(nf_bcasts *b);

#endif

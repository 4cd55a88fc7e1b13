/* hr_link_flow: the sending side of one herald-link session's flow control
 * (docs/link.md *Flow control*) as a plain struct: the credit window, PAUSE,
 * and the held queue of messages waiting for either. No sockets, no loop,
 * no clock: the caller asks, writes, and reports what it wrote.
 *
 *   message of len ──▶ hr_link_flow_can_send(len)?
 *        yes ──▶ the caller writes it, then hr_link_flow_spend(len)
 *        no  ──▶ hr_link_flow_hold(msg, off, len, opcode)   (a reference)
 *                  HR_ELIMIT past the limit: the caller closes (1013)
 *   CREDIT n ──▶ hr_link_flow_credit(n);  PAUSE/RESUME ──▶ hr_link_flow_pause()
 *        then  while ((e = hr_link_flow_next(f)) != NULL) {
 *                  the caller writes e; hr_link_flow_pop(f);   (spends e->len)
 *              }
 *
 * Held messages are references to immutable hr_msg payloads (msg bytes
 * [off, off + len)), never copies, and are never parsed again: the entry
 * says what the frame is. They leave strictly in order, and nothing is sent
 * directly while anything is held, so a session's messages keep their
 * order. The held bound counts what the frames will take on the wire
 * (HR_LINK_HEADER + len each), as a copied buffer of frames would.
 *
 *   ring[head]                                ring[head + count - 1]
 *   | msg A [off,len] | msg B [off,len] | ... |
 *     ^ next to go once can_send(A.len)
 *
 * The window: at most HR_LINK_WINDOW payload bytes in flight (sent, not yet
 * credited); a message larger than the room left goes once no more than
 * HR_LINK_CREDIT_LAG is in flight (what a receiver may keep back). Credit
 * beyond the window is capped at the window.
 *
 * The receiving side's one rule is hr_link_credit_due: credit collects per
 * session until it reaches HR_LINK_CREDIT_LAG, then leaves whole. */
#ifndef HR_LINK_FLOW_H
#define HR_LINK_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

typedef struct hr_link_held {
    hr_msg *msg; /* one reference, the flow's */
    uint32_t off, len;
    uint8_t opcode; /* 1 text, 2 binary */
} hr_link_held;

typedef struct hr_link_flow {
    uint32_t window; /* payload bytes that may still go before CREDIT */
    bool paused;     /* PAUSE received, no RESUME yet */
    hr_link_held *ring;
    uint32_t head, count, cap;
    size_t held_bytes; /* wire size of the held frames */
    size_t limit;      /* bound on held_bytes */
} hr_link_flow;

/* A fresh session: a full window, not paused, nothing held; held frames may
 * take up to limit bytes on the wire. */
void hr_link_flow_init(hr_link_flow *f, size_t limit);

/* Drops every held reference and frees the ring. */
void hr_link_flow_deinit(hr_link_flow *f);

/* True when a message of len payload bytes may be written now: nothing is
 * held, no PAUSE, and the window has room (or nothing is in flight). */
bool hr_link_flow_can_send(const hr_link_flow *f, size_t len);

/* The caller wrote len payload bytes: the window shrinks (never below 0). */
void hr_link_flow_spend(hr_link_flow *f, size_t len);

/* Queues msg [off, off + len) (opcode 1 or 2) behind what is held, taking a
 * reference. Returns 0, HR_ELIMIT when the held frames would pass the
 * limit, or HR_ENOMEM; nothing is held on error. */
int hr_link_flow_hold(hr_link_flow *f, hr_msg *msg, size_t off, size_t len, uint8_t opcode);

/* CREDIT of n bytes: the window grows, capped at HR_LINK_WINDOW. */
void hr_link_flow_credit(hr_link_flow *f, uint32_t n);

/* PAUSE (true) or RESUME (false). */
void hr_link_flow_pause(hr_link_flow *f, bool paused);

/* The oldest held message when it may be written now, else NULL
 * (borrowed: valid until the next call that changes f). */
const hr_link_held *hr_link_flow_next(const hr_link_flow *f);

/* The message hr_link_flow_next returned was written: spends its length,
 * drops it and its reference. */
void hr_link_flow_pop(hr_link_flow *f);

/* True while anything is held. */
bool hr_link_flow_has_held(const hr_link_flow *f);

/* Bytes the session has queued toward the client: held (on the wire) plus
 * payload in flight (sent, not yet credited). */
size_t hr_link_flow_queued(const hr_link_flow *f);

/* Receiving side (toward a version-5 sender): n more bytes were handed on;
 * *kept is the credit kept back so far (always below HR_LINK_CREDIT_LAG).
 * Returns the credit to send now, all of it once it reaches the lag, or 0
 * while it stays kept. */
size_t hr_link_credit_due(uint32_t *kept, size_t n);

#endif

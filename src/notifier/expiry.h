/* nf_expiry: one loop's token deadlines, a binary min-heap of items
 * embedded in the sessions (one item per session, no per-session timer
 * handle). The loop's once-a-second sweep pops what is due (app.c); the
 * session decides what a due item means (expiring notice, then 4001).
 * Pure: no clock, no I/O; O(log n) set/remove, O(1) peek. Memory: one
 * pointer per queued session in the heap array plus the item itself. */
#ifndef NF_EXPIRY_H
#define NF_EXPIRY_H

#include <stddef.h>
#include <stdint.h>

/* Embedded in its owner. slot: 0 = not queued, else heap index + 1. */
typedef struct nf_expiry_item {
    int64_t at; /* unix seconds when it is due */
    size_t slot;
} nf_expiry_item;

typedef struct nf_expiry {
    nf_expiry_item **heap;
    size_t n, cap;
} nf_expiry;

/* Queues it for at, or moves it there when already queued. Returns 0 or
 * HR_ENOMEM (then it is not queued). */
int nf_expiry_set(nf_expiry *e, nf_expiry_item *it, int64_t at);

/* Takes it out of the heap if queued. */
void nf_expiry_remove(nf_expiry *e, nf_expiry_item *it);

/* The earliest item with at <= now, taken out of the heap, or NULL. */
nf_expiry_item *nf_expiry_pop_due(nf_expiry *e, int64_t now);

/* Frees the heap array (the items are their owners'). */
void nf_expiry_free(nf_expiry *e);

#endif

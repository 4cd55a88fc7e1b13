/* hr_sendq: a connection's send queue, a ring of (message reference, offset)
 * entries (STYLE.md §6). Frames are never copied into it: an entry holds a
 * reference to an immutable hr_msg and how much of it was already written.
 *
 *   ring[head]                                   ring[head+count-1]
 *   | msg A, off 1200 | msg B, off 0 | msg C, off 0 |
 *     ^ partly written  (bytes = unwritten bytes of A + B + C)
 *
 * The first HR_SENDQ_INLINE entries live in the struct itself, so a
 * broadcast (one frame per connection per turn) allocates nothing per
 * connection; a deeper queue moves to a heap ring, freed when it empties
 * (idle connections hold no heap memory). */
#ifndef HR_NET_SENDQ_H
#define HR_NET_SENDQ_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/msg.h"

#define HR_SENDQ_INLINE 2

typedef struct hr_sendq_entry {
    hr_msg *msg;
    uint32_t off;
} hr_sendq_entry;

typedef struct hr_sendq {
    hr_sendq_entry *ring; /* heap ring, or NULL: the entries are in inl */
    hr_sendq_entry inl[HR_SENDQ_INLINE];
    uint32_t head;
    uint32_t count;
    uint32_t cap; /* of ring; HR_SENDQ_INLINE while ring is NULL */
    size_t bytes; /* unwritten bytes over all entries */
} hr_sendq;

/* Initialises an empty queue in caller storage. The queue holds no pointer
 * into itself, so the struct may be moved while empty. */
void hr_sendq_init(hr_sendq *q);

/* Drops every entry (unref) and frees the ring. The queue stays usable. */
void hr_sendq_deinit(hr_sendq *q);

/* Appends m (with m->len > 0) and takes a reference of its own; the caller
 * keeps theirs. Returns 0 or HR_ENOMEM (nothing queued). */
int hr_sendq_push(hr_sendq *q, hr_msg *m);

/* The i-th queued entry (i < q->count), counted from the head. */
static inline hr_sendq_entry *hr_sendq_at(hr_sendq *q, size_t i)
{
    hr_sendq_entry *r = q->ring != NULL ? q->ring : q->inl;
    return &r[(q->head + i) % q->cap];
}

/* Fills up to max uv_buf_t with the unwritten parts of entries, starting at
 * entry skip. Returns the number filled; *bytes (may be NULL) gets their
 * total length. The buffers point into the messages (valid while the
 * entries are queued). */
size_t hr_sendq_iov(hr_sendq *q, size_t skip, uv_buf_t *bufs, size_t max, size_t *bytes);

/* Unwritten bytes of the first n entries (n <= q->count). */
size_t hr_sendq_head_bytes(hr_sendq *q, size_t n);

/* Marks n bytes (n <= q->bytes) written from the head: entries written in
 * full are dropped (unref), a partly written one advances its offset. */
void hr_sendq_advance(hr_sendq *q, size_t n);

/* Keeps the first keep entries and drops the others (unref): used when a
 * connection is closed for overload and only the bytes already handed to
 * the kernel must stay. */
void hr_sendq_truncate(hr_sendq *q, size_t keep);

#endif

/* hr_buf: one linear byte buffer with a consumed head, used for a
 * connection's input. Invariants:
 *
 *   base                 base+off          base+off+len        base+cap
 *   |---- consumed ------|----- data -------|------ free ---------|
 *
 *   0 <= off, off + len <= cap <= max. Data is appended at the tail (libuv
 *   reads there) and consumed at the head (the parser eats from there). The
 *   buffer is compacted (data moved to base) when the head passes half the
 *   capacity or when tail space is needed. It never grows beyond max, which is
 *   the largest head or message the owner accepts. An empty buffer may hold no
 *   memory at all (base == NULL), so idle connections cost nothing here. */
#ifndef HR_BUF_H
#define HR_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct hr_buf {
    uint8_t *base;
    size_t off;
    size_t len;
    size_t cap;
    size_t max;
} hr_buf;

/* Initialises an empty buffer in caller storage that may grow to max bytes. */
void hr_buf_init(hr_buf *b, size_t max);

/* Frees the memory; the buffer is empty and reusable afterwards. */
void hr_buf_deinit(hr_buf *b);

/* Makes at least want bytes (capped by what max allows) writable at the tail;
 * returns the tail pointer and stores the writable size in *avail.
 * Returns NULL with *avail = 0 when the buffer is full at max (HR_ETOOBIG for
 * the caller) or on allocation failure (*avail left as 1 to tell them apart). */
uint8_t *hr_buf_reserve(hr_buf *b, size_t want, size_t *avail);

/* Marks n bytes written at the tail (n <= the last reserved avail). */
void hr_buf_commit(hr_buf *b, size_t n);

/* Drops n bytes from the head (n <= len). Frees the memory when it empties. */
void hr_buf_consume(hr_buf *b, size_t n);

/* Appends a copy of p[0..n). Returns 0, HR_ETOOBIG or HR_ENOMEM. */
int hr_buf_append(hr_buf *b, const void *p, size_t n);

static inline const uint8_t *hr_buf_data(const hr_buf *b)
{
    return b->base + b->off;
}

#endif

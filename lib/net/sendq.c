/* The send queue: a growable ring of (hr_msg reference, offset) entries.
 * Pushing takes a reference; writing advances offsets and drops references
 * of finished entries; the ring is freed whenever it empties, so an idle
 * connection holds no queue memory. */
#include "sendq.h"

#include <stdlib.h>

#include "core/err.h"

void hr_sendq_init(hr_sendq *q)
{
    *q = (hr_sendq){0};
}

static hr_sendq_entry *at(const hr_sendq *q, size_t i)
{
    return &q->ring[(q->head + i) % q->cap];
}

static void release_ring(hr_sendq *q)
{
    free(q->ring);
    *q = (hr_sendq){0};
}

void hr_sendq_deinit(hr_sendq *q)
{
    for (size_t i = 0; i < q->count; i++)
        hr_msg_unref(at(q, i)->msg);
    release_ring(q);
}

static int grow(hr_sendq *q)
{
    if (q->cap > UINT32_MAX / 2)
        return HR_ENOMEM;
    const uint32_t ncap = q->cap ? q->cap * 2 : 4;
    hr_sendq_entry *n = malloc(sizeof *n * ncap);
    if (n == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        n[i] = *at(q, i);
    free(q->ring);
    q->ring = n;
    q->head = 0;
    q->cap = ncap;
    return 0;
}

int hr_sendq_push(hr_sendq *q, hr_msg *m)
{
    HR_ASSERT(m != NULL && m->len > 0);
    if (q->count == q->cap && grow(q) != 0)
        return HR_ENOMEM;
    q->ring[(q->head + q->count) % q->cap] = (hr_sendq_entry){hr_msg_ref(m), 0};
    q->count++;
    q->bytes += m->len;
    return 0;
}

size_t hr_sendq_iov(const hr_sendq *q, size_t skip, uv_buf_t *bufs, size_t max, size_t *bytes)
{
    size_t n = 0, total = 0;
    for (size_t i = skip; i < q->count && n < max; i++, n++) {
        const hr_sendq_entry *e = at(q, i);
        bufs[n] = uv_buf_init((char *)e->msg->data + e->off, e->msg->len - e->off);
        total += e->msg->len - e->off;
    }
    if (bytes != NULL)
        *bytes = total;
    return n;
}

void hr_sendq_advance(hr_sendq *q, size_t n)
{
    HR_ASSERT(n <= q->bytes);
    q->bytes -= n;
    while (n > 0) {
        hr_sendq_entry *e = at(q, 0);
        const size_t left = e->msg->len - e->off;
        if (n < left) {
            e->off += (uint32_t)n;
            return;
        }
        n -= left;
        hr_msg_unref(e->msg);
        e->msg = NULL;
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    if (q->count == 0)
        release_ring(q);
}

void hr_sendq_truncate(hr_sendq *q, size_t keep)
{
    while (q->count > keep) {
        hr_sendq_entry *e = at(q, q->count - 1);
        q->bytes -= e->msg->len - e->off;
        hr_msg_unref(e->msg);
        e->msg = NULL;
        q->count--;
    }
    if (q->count == 0)
        release_ring(q);
}

/* The send queue: a ring of (hr_msg reference, offset) entries, kept in the
 * struct while it holds at most HR_SENDQ_INLINE of them and on the heap
 * beyond. Pushing takes a reference; writing advances offsets and drops
 * references of finished entries; a heap ring is freed whenever the queue
 * empties, so an idle connection holds no heap memory for it. */
#include "sendq.h"

#include "core/alloc.h"
#include "core/err.h"

void hr_sendq_init(hr_sendq *q)
{
    *q = (hr_sendq){.cap = HR_SENDQ_INLINE};
}

/* The queue is empty: back to the inline entries (no free() call when
 * they were in use: this runs once per client per broadcast). */
static void reset(hr_sendq *q)
{
    if (q->ring != NULL)
        hr_free(q->ring);
    hr_sendq_init(q);
}

void hr_sendq_deinit(hr_sendq *q)
{
    for (size_t i = 0; i < q->count; i++)
        hr_msg_unref(hr_sendq_at(q, i)->msg);
    reset(q);
}

static int grow(hr_sendq *q)
{
    if (q->cap > UINT32_MAX / 2)
        return HR_ENOMEM;
    const uint32_t ncap = q->cap * 2 < 8 ? 8 : q->cap * 2;
    hr_sendq_entry *n = hr_malloc(sizeof *n * ncap);
    if (n == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        n[i] = *hr_sendq_at(q, i);
    hr_free(q->ring);
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
    q->count++;
    *hr_sendq_at(q, q->count - 1) = (hr_sendq_entry){hr_msg_ref(m), 0};
    q->bytes += m->len;
    return 0;
}

size_t hr_sendq_iov(hr_sendq *q, size_t skip, uv_buf_t *bufs, size_t max, size_t *bytes)
{
    size_t n = 0, total = 0;
    for (size_t i = skip; i < q->count && n < max; i++, n++) {
        const hr_sendq_entry *e = hr_sendq_at(q, i);
        bufs[n] = uv_buf_init((char *)e->msg->data + e->off, e->msg->len - e->off);
        total += e->msg->len - e->off;
    }
    if (bytes != NULL)
        *bytes = total;
    return n;
}

size_t hr_sendq_head_bytes(hr_sendq *q, size_t n)
{
    HR_ASSERT(n <= q->count);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const hr_sendq_entry *e = hr_sendq_at(q, i);
        total += e->msg->len - e->off;
    }
    return total;
}

void hr_sendq_advance(hr_sendq *q, size_t n)
{
    HR_ASSERT(n <= q->bytes);
    q->bytes -= n;
    while (n > 0) {
        hr_sendq_entry *e = hr_sendq_at(q, 0);
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
        reset(q);
}

void hr_sendq_truncate(hr_sendq *q, size_t keep)
{
    while (q->count > keep) {
        hr_sendq_entry *e = hr_sendq_at(q, q->count - 1);
        q->bytes -= e->msg->len - e->off;
        hr_msg_unref(e->msg);
        e->msg = NULL;
        q->count--;
    }
    if (q->count == 0)
        reset(q);
}

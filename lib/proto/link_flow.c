/* Per-session herald-link flow control on the sending side (link_flow.h):
 * a window, a PAUSE flag and a ring of held (message reference, range)
 * entries. The ring holds no memory while empty, like lib/net/sendq.c, so a
 * session that keeps up costs nothing here. */
#include "link_flow.h"

#include "core/alloc.h"
#include "core/err.h"
#include "link.h"

void hr_link_flow_init(hr_link_flow *f, size_t limit)
{
    *f = (hr_link_flow){.window = HR_LINK_WINDOW, .limit = limit};
}

static hr_link_held *at(const hr_link_flow *f, uint32_t i)
{
    return &f->ring[(f->head + i) % f->cap];
}

static void release_ring(hr_link_flow *f)
{
    hr_free(f->ring);
    f->ring = NULL;
    f->head = f->count = f->cap = 0;
    f->held_bytes = 0;
}

void hr_link_flow_deinit(hr_link_flow *f)
{
    for (uint32_t i = 0; i < f->count; i++)
        hr_msg_unref(at(f, i)->msg);
    release_ring(f);
}

static bool fits(const hr_link_flow *f, size_t len)
{
    /* A message larger than the room left goes once no more than the credit
     * a version-5 receiver keeps back is in flight: waiting for nothing in
     * flight would wait for credit it never sends. */
    return !f->paused && (len <= f->window || HR_LINK_WINDOW - f->window <= HR_LINK_CREDIT_LAG);
}

bool hr_link_flow_can_send(const hr_link_flow *f, size_t len)
{
    return f->count == 0 && fits(f, len);
}

void hr_link_flow_spend(hr_link_flow *f, size_t len)
{
    f->window -= len < f->window ? (uint32_t)len : f->window;
}

static int grow(hr_link_flow *f)
{
    if (f->cap > UINT32_MAX / 2)
        return HR_ENOMEM;
    const uint32_t cap = f->cap != 0 ? f->cap * 2 : 8;
    hr_link_held *ring = hr_malloc(sizeof *ring * cap);
    if (ring == NULL)
        return HR_ENOMEM;
    for (uint32_t i = 0; i < f->count; i++)
        ring[i] = *at(f, i);
    hr_free(f->ring);
    f->ring = ring;
    f->head = 0;
    f->cap = cap;
    return 0;
}

int hr_link_flow_hold(hr_link_flow *f, hr_msg *msg, size_t off, size_t len, uint8_t opcode)
{
    HR_ASSERT(off <= msg->len && len <= msg->len - off);
    const size_t wire = HR_LINK_HEADER + len;
    if (wire > f->limit || f->held_bytes > f->limit - wire)
        return HR_ELIMIT;
    if (f->count == f->cap && grow(f) != 0)
        return HR_ENOMEM;
    f->ring[(f->head + f->count) % f->cap] =
        (hr_link_held){hr_msg_ref(msg), (uint32_t)off, (uint32_t)len, opcode};
    f->count++;
    f->held_bytes += wire;
    return 0;
}

void hr_link_flow_credit(hr_link_flow *f, uint32_t n)
{
    f->window = HR_LINK_WINDOW - f->window < n ? HR_LINK_WINDOW : f->window + n;
}

void hr_link_flow_pause(hr_link_flow *f, bool paused)
{
    f->paused = paused;
}

const hr_link_held *hr_link_flow_next(const hr_link_flow *f)
{
    if (f->count == 0)
        return NULL;
    const hr_link_held *e = at(f, 0);
    return fits(f, e->len) ? e : NULL;
}

void hr_link_flow_pop(hr_link_flow *f)
{
    HR_ASSERT(f->count > 0);
    hr_link_held *e = at(f, 0);
    hr_link_flow_spend(f, e->len);
    f->held_bytes -= HR_LINK_HEADER + (size_t)e->len;
    hr_msg_unref(e->msg);
    e->msg = NULL;
    f->head = (f->head + 1) % f->cap;
    if (--f->count == 0)
        release_ring(f);
}

bool hr_link_flow_has_held(const hr_link_flow *f)
{
    return f->count > 0;
}

size_t hr_link_flow_queued(const hr_link_flow *f)
{
    return f->held_bytes + (HR_LINK_WINDOW - f->window);
}

size_t hr_link_credit_due(uint32_t *kept, size_t n)
{
    if (n < HR_LINK_CREDIT_LAG - *kept) { /* *kept stays below the lag */
        *kept += (uint32_t)n;
        return 0;
    }
    const size_t due = n > SIZE_MAX - *kept ? SIZE_MAX : *kept + n;
    *kept = 0;
    return due;
}

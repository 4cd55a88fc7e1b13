/* The primary-to-shard queue (see inbox.h). The ring:
 *
 *   items: [ . . 3 4 5 6 . . ]     head = 2, n = 4, cap = 8
 *                ^head
 *
 * grows by doubling (unwrapping the items into the new block) up to max.
 * take() swaps the producer's ring with the consumer's empty one, so the
 * lock is held for a few stores and the consumer's storage is recycled:
 * no allocation per batch once both rings have grown. */
#include "inbox.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

void nf_inbox_item_release(nf_inbox_item *it)
{
    if (it->kind == NF_INBOX_EVENT || it->kind == NF_INBOX_PUBLISH)
        hr_msg_unref(it->msg);
    else if (it->kind == NF_INBOX_LINK || it->kind == NF_INBOX_DIRECT)
        close(it->fd);
    free(it->bytes);
    it->bytes = NULL;
    it->msg = NULL;
    it->kind = 0;
}

static int ring_grow(nf_ring *r, size_t max)
{
    size_t cap = r->cap == 0 ? 64 : r->cap * 2;
    if (cap > max)
        cap = max;
    nf_inbox_item *items = malloc(cap * sizeof *items);
    if (items == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < r->n; i++)
        items[i] = r->items[(r->head + i) % r->cap];
    free(r->items);
    r->items = items;
    r->cap = cap;
    r->head = 0;
    return 0;
}

int nf_ring_push(nf_ring *r, const nf_inbox_item *it, size_t max)
{
    if (r->n >= max)
        return HR_ELIMIT;
    if (r->n == r->cap) {
        const int rc = ring_grow(r, max);
        if (rc != 0)
            return rc;
    }
    r->items[(r->head + r->n) % r->cap] = *it;
    r->n++;
    return 0;
}

bool nf_ring_pop(nf_ring *r, nf_inbox_item *it)
{
    if (r->n == 0)
        return false;
    *it = r->items[r->head];
    r->head = (r->head + 1) % r->cap;
    r->n--;
    return true;
}

void nf_ring_deinit(nf_ring *r)
{
    nf_inbox_item it;
    while (nf_ring_pop(r, &it))
        nf_inbox_item_release(&it);
    free(r->items);
    *r = (nf_ring){0};
}

int nf_inbox_init(nf_inbox *ib, size_t max, uv_async_t *wake)
{
    memset(ib, 0, sizeof *ib);
    ib->max = max;
    ib->wake = wake;
    return uv_mutex_init(&ib->lock);
}

void nf_inbox_deinit(nf_inbox *ib)
{
    nf_ring_deinit(&ib->ring);
    uv_mutex_destroy(&ib->lock);
}

int nf_inbox_push(nf_inbox *ib, const nf_inbox_item *it)
{
    uv_mutex_lock(&ib->lock);
    int rc = HR_ECLOSED;
    if (!ib->closed) {
        const bool was_empty = ib->ring.n == 0;
        const bool is_event = it->kind == NF_INBOX_EVENT;
        /* After a loss, events wait for the consumer to learn of it (take),
         * so that nothing newer than the gap reaches a session first. STOP
         * always finds room. */
        if (is_event && ib->lost > 0)
            rc = HR_ELIMIT;
        else
            rc = nf_ring_push(&ib->ring, it, ib->max + (it->kind == NF_INBOX_STOP));
        if (rc != 0 && is_event) {
            ib->lost++;
            if (hr_event_id_cmp(it->id, ib->lost_id) > 0)
                ib->lost_id = it->id;
        }
        /* Signalled under the lock, so it never races with close + uv_close. */
        if (rc == 0 && was_empty && ib->wake != NULL)
            uv_async_send(ib->wake);
    }
    uv_mutex_unlock(&ib->lock);
    return rc;
}

void nf_inbox_take(nf_inbox *ib, nf_ring *out, uint64_t *lost, hr_event_id *lost_id)
{
    HR_ASSERT(out->n == 0);
    uv_mutex_lock(&ib->lock);
    const nf_ring mine = ib->ring;
    ib->ring = (nf_ring){.items = out->items, .cap = out->cap};
    *out = mine;
    *lost = ib->lost;
    *lost_id = ib->lost_id;
    ib->lost = 0;
    ib->lost_id = (hr_event_id){0, 0};
    uv_mutex_unlock(&ib->lock);
}

void nf_inbox_close(nf_inbox *ib)
{
    uv_mutex_lock(&ib->lock);
    ib->closed = true;
    uv_mutex_unlock(&ib->lock);
}

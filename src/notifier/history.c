/* Per-channel event history: a growable ring of shared frames, evicted by
 * count and age (see history.h). */
#include "history.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void nf_history_init(nf_history *h)
{
    memset(h, 0, sizeof *h);
}

static nf_hist_entry *slot(const nf_history *h, uint32_t i)
{
    return &h->ring[(h->head + i) & (h->cap - 1)];
}

static void evict_oldest(nf_history *h)
{
    nf_hist_entry *e = slot(h, 0);
    h->evicted = e->id;
    hr_msg_unref(e->plain);
    hr_msg_unref(e->deflated);
    memset(e, 0, sizeof *e);
    h->head = (h->head + 1) & (h->cap - 1);
    h->len--;
}

void nf_history_deinit(nf_history *h)
{
    while (h->len > 0)
        evict_oldest(h);
    free(h->ring);
    h->ring = NULL;
    h->cap = h->head = 0;
}

/* Doubles the ring (or allocates 4 entries), unrolling it to start at 0. */
static int grow(nf_history *h)
{
    uint32_t ncap = h->cap == 0 ? 4 : h->cap * 2;
    if (ncap == 0 || ncap > (UINT32_MAX >> 1))
        return HR_ENOMEM;
    nf_hist_entry *ring = malloc((size_t)ncap * sizeof *ring);
    if (ring == NULL)
        return HR_ENOMEM;
    for (uint32_t i = 0; i < h->len; i++)
        ring[i] = *slot(h, i);
    free(h->ring);
    h->ring = ring;
    h->cap = ncap;
    h->head = 0;
    return 0;
}

static hr_event_id newest(const nf_history *h)
{
    return h->len > 0 ? slot(h, h->len - 1)->id : h->evicted;
}

int nf_history_append(nf_history *h, hr_event_id id, hr_msg *plain, uint64_t ts_ms,
                      uint32_t max_count)
{
    if (hr_event_id_cmp(id, newest(h)) <= 0)
        return HR_EINVAL;
    if (max_count == 0) {
        h->evicted = id;
        return 0;
    }
    while (h->len >= max_count)
        evict_oldest(h);
    if (h->len == h->cap && grow(h) != 0) {
        h->evicted = id;
        return HR_ENOMEM;
    }
    *slot(h, h->len) = (nf_hist_entry){id, hr_msg_ref(plain), NULL, ts_ms};
    h->len++;
    return 0;
}

size_t nf_history_expire(nf_history *h, uint64_t cutoff_ms)
{
    size_t n = 0;
    while (h->len > 0 && slot(h, 0)->ts_ms < cutoff_ms) {
        evict_oldest(h);
        n++;
    }
    return n;
}

uint32_t nf_history_first_after(const nf_history *h, hr_event_id since)
{
    uint32_t lo = 0, hi = h->len;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (hr_event_id_cmp(slot(h, mid)->id, since) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

nf_hist_entry *nf_history_at(const nf_history *h, uint32_t i)
{
    HR_ASSERT(i < h->len);
    return slot(h, i);
}

bool nf_history_covers(const nf_history *h, hr_event_id since)
{
    return hr_event_id_cmp(h->evicted, since) <= 0;
}

/* The loop's deadline heap (expiry.h). */
#include "expiry.h"

#include <stdlib.h>

#include "core/err.h"

static void place(nf_expiry *e, size_t i, nf_expiry_item *it)
{
    e->heap[i] = it;
    it->slot = i + 1;
}

static void up(nf_expiry *e, size_t i)
{
    nf_expiry_item *it = e->heap[i];
    while (i > 0) {
        const size_t parent = (i - 1) / 2;
        if (e->heap[parent]->at <= it->at)
            break;
        place(e, i, e->heap[parent]);
        i = parent;
    }
    place(e, i, it);
}

static void down(nf_expiry *e, size_t i)
{
    nf_expiry_item *it = e->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= e->n)
            break;
        if (c + 1 < e->n && e->heap[c + 1]->at < e->heap[c]->at)
            c++;
        if (e->heap[c]->at >= it->at)
            break;
        place(e, i, e->heap[c]);
        i = c;
    }
    place(e, i, it);
}

int nf_expiry_set(nf_expiry *e, nf_expiry_item *it, int64_t at)
{
    if (it->slot != 0) {
        const int64_t was = it->at;
        it->at = at;
        if (at < was)
            up(e, it->slot - 1);
        else
            down(e, it->slot - 1);
        return 0;
    }
    if (e->n == e->cap) {
        const size_t cap = e->cap ? e->cap * 2 : 64;
        nf_expiry_item **grown = realloc(e->heap, cap * sizeof *grown);
        if (grown == NULL)
            return HR_ENOMEM;
        e->heap = grown;
        e->cap = cap;
    }
    it->at = at;
    place(e, e->n++, it);
    up(e, e->n - 1);
    return 0;
}

void nf_expiry_remove(nf_expiry *e, nf_expiry_item *it)
{
    if (it->slot == 0)
        return;
    const size_t i = it->slot - 1;
    it->slot = 0;
    nf_expiry_item *last = e->heap[--e->n];
    if (i == e->n)
        return;
    place(e, i, last);
    up(e, i);
    down(e, last->slot - 1);
}

nf_expiry_item *nf_expiry_pop_due(nf_expiry *e, int64_t now)
{
    if (e->n == 0 || e->heap[0]->at > now)
        return NULL;
    nf_expiry_item *it = e->heap[0];
    nf_expiry_remove(e, it);
    return it;
}

void nf_expiry_free(nf_expiry *e)
{
    free(e->heap);
    e->heap = NULL;
    e->n = e->cap = 0;
}

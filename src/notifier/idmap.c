/* The id map (idmap.h). Ids come from the gateway, which numbers sessions
 * generation << 20 | slot: a multiplicative hash spreads both parts. */
#include "idmap.h"

#include <stdlib.h>

#include "core/err.h"

static char tombstone;
#define TOMB ((void *)&tombstone)

static size_t slot_of(uint32_t id, size_t cap)
{
    return (size_t)(id * 2654435761u) & (cap - 1);
}

void nf_idmap_init(nf_idmap *m)
{
    *m = (nf_idmap){0};
}

void nf_idmap_deinit(nf_idmap *m)
{
    free(m->e);
    nf_idmap_init(m);
}

void *nf_idmap_get(const nf_idmap *m, uint32_t id)
{
    for (size_t i = m->cap ? slot_of(id, m->cap) : 0, n = 0; n < m->cap; n++) {
        const nf_idmap_entry *e = &m->e[i];
        if (e->v == NULL)
            return NULL;
        if (e->v != TOMB && e->id == id)
            return e->v;
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

/* Stores into a table known to have a free slot. */
static void place(nf_idmap *m, uint32_t id, void *v)
{
    size_t i = slot_of(id, m->cap);
    while (m->e[i].v != NULL && m->e[i].v != TOMB)
        i = (i + 1) & (m->cap - 1);
    if (m->e[i].v == NULL)
        m->used++;
    m->e[i] = (nf_idmap_entry){id, v};
    m->live++;
}

static int grow(nf_idmap *m)
{
    const size_t cap = m->cap == 0 ? 64 : m->cap * 2;
    nf_idmap_entry *e = calloc(cap, sizeof *e);
    if (e == NULL)
        return HR_ENOMEM;
    nf_idmap old = *m;
    *m = (nf_idmap){.e = e, .cap = cap};
    for (size_t i = 0; i < old.cap; i++)
        if (old.e[i].v != NULL && old.e[i].v != TOMB)
            place(m, old.e[i].id, old.e[i].v);
    free(old.e);
    return 0;
}

int nf_idmap_put(nf_idmap *m, uint32_t id, void *v)
{
    if ((m->used + 1) * 4 > m->cap * 3) {
        const int rc = grow(m);
        if (rc != 0)
            return rc;
    }
    place(m, id, v);
    return 0;
}

void nf_idmap_del(nf_idmap *m, uint32_t id, const void *v)
{
    for (size_t i = m->cap ? slot_of(id, m->cap) : 0, n = 0; n < m->cap; n++) {
        if (m->e[i].v == NULL)
            return;
        if (m->e[i].v == v && m->e[i].id == id) {
            nf_idmap_clear_slot(m, i);
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

void *nf_idmap_slot(const nf_idmap *m, size_t i)
{
    void *v = m->e[i].v;
    return v == TOMB ? NULL : v;
}

void nf_idmap_clear_slot(nf_idmap *m, size_t i)
{
    if (m->e[i].v != NULL && m->e[i].v != TOMB) {
        m->e[i].v = TOMB;
        m->live--;
    }
}

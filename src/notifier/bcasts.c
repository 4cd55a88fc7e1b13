/* A herald-link's pending broadcasts (bcasts.h). */
#include "bcasts.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

void nf_bcasts_init(nf_bcasts *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->gen = 1; /* a zeroed mark waits nowhere */
    b->max = max;
}

static nf_bcast_slot *slot_of(nf_bcasts *b, const hr_msg *msg)
{
    for (size_t i = 0; i < b->used; i++)
        if (b->slot[i].msg == msg)
            return &b->slot[i];
    return NULL;
}

int nf_bcasts_add(nf_bcasts *b, nf_bcast_mark *m, uint32_t id, hr_msg *msg, uint8_t opcode,
                  size_t off, size_t len)
{
    nf_bcast_slot *s = slot_of(b, msg);
    if (s == NULL && b->used == NF_BCASTS_SLOTS)
        return NF_BCASTS_FLUSH;
    const size_t at = s != NULL ? (size_t)(s - b->slot) : b->used;
    if (m->gen == b->gen && m->slot > at)
        return NF_BCASTS_FLUSH; /* it waits in a later slot: it would overtake */
    if (s == NULL)
        s = &b->slot[at];
    if (s->n == b->max)
        return NF_BCASTS_FLUSH;
    if (s->n == s->cap) {
        const size_t cap = s->cap == 0 ? 64 : s->cap * 2 < b->max ? s->cap * 2 : b->max;
        uint32_t *ids = hr_realloc(s->ids, cap * sizeof *ids);
        if (ids == NULL)
            return HR_ENOMEM;
        s->ids = ids;
        s->cap = cap;
    }
    if (s->msg == NULL) {
        s->msg = hr_msg_ref(msg);
        s->opcode = opcode;
        s->off = off;
        s->len = len;
        b->used++;
    }
    s->ids[s->n++] = id;
    *m = (nf_bcast_mark){b->gen, at};
    return 0;
}

void nf_bcasts_reset(nf_bcasts *b)
{
    for (size_t i = 0; i < b->used; i++) {
        hr_msg_unref(b->slot[i].msg);
        b->slot[i].msg = NULL;
        b->slot[i].n = 0;
    }
    b->used = 0;
    b->gen++;
}

void nf_bcasts_deinit(nf_bcasts *b)
{
    for (size_t i = 0; i < NF_BCASTS_SLOTS; i++) {
        free(b->slot[i].ids);
        b->slot[i].ids = NULL;
        b->slot[i].cap = 0;
    }
}

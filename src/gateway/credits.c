/* Owed herald-link window, one table per link (credits.h). Pairs are
 * appended in the order sessions were first credited in a turn; a write
 * first squeezes out forgotten pairs (indexes move: gen changes), then
 * hands the pairs to the frame writers. */
#include "credits.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/link.h"

void gw_credits_init(gw_credits *c)
{
    memset(c, 0, sizeof *c);
}

void gw_credits_deinit(gw_credits *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

static gw_credit *pair_of(gw_credits *c, const gw_credit_ref *ref)
{
    if (ref->ix == 0 || ref->gen != c->gen || ref->ix > c->n)
        return NULL;
    return &c->v[ref->ix - 1];
}

int gw_credits_add(gw_credits *c, gw_credit_ref *ref, uint32_t session, uint32_t n)
{
    gw_credit *p = pair_of(c, ref);
    if (p != NULL && p->session == session && p->bytes > 0 && p->bytes <= UINT32_MAX - n) {
        p->bytes += n;
        return 0;
    }
    if (c->n == c->cap) {
        const size_t cap = c->cap == 0 ? 64 : c->cap * 2;
        gw_credit *v = realloc(c->v, cap * sizeof *v);
        if (v == NULL)
            return HR_ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (gw_credit){session, n};
    ref->gen = c->gen;
    ref->ix = (uint32_t)c->n;
    return 0;
}

void gw_credits_forget(gw_credits *c, gw_credit_ref *ref)
{
    gw_credit *p = pair_of(c, ref);
    if (p != NULL)
        p->bytes = 0;
    ref->ix = 0;
}

/* Drops forgotten pairs; every ref goes stale. */
static void squeeze(gw_credits *c)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].bytes > 0)
            c->v[k++] = c->v[i];
    c->n = k;
    c->gen++;
}

/* Drops the first k pairs (written). */
static void shift(gw_credits *c, size_t k)
{
    memmove(c->v, c->v + k, (c->n - k) * sizeof *c->v);
    c->n -= k;
}

/* At most want pairs, as many as one CREDITS frame in out's free room holds
 * (a frame larger than the whole batch would never go). */
static size_t pairs_that_fit(const hr_buf *out, size_t want)
{
    const size_t room = out->max > out->len ? out->max - out->len : 0;
    const size_t fit = room > HR_LINK_HEADER ? (room - HR_LINK_HEADER) / sizeof(gw_credit) : 0;
    return want < fit ? want : fit;
}

int gw_credits_write(gw_credits *c, hr_buf *out, bool multi, size_t max_pairs, size_t *frames)
{
    size_t written = 0;
    int rc = 0;
    squeeze(c);
    size_t done = 0;
    while (done < c->n) {
        size_t k = 1;
        if (multi) {
            k = pairs_that_fit(out, c->n - done < max_pairs ? c->n - done : max_pairs);
            rc = k > 0 ? hr_link_write_credits(out, c->v + done, k) : HR_ETOOBIG;
        } else
        {
            rc = hr_link_write_credit(out, c->v[done].session, c->v[done].bytes);
        }
        if (rc != 0)
            break;
        done += k;
        written++;
    }
    shift(c, done);
    if (frames != NULL)
        *frames = written;
    return rc;
}

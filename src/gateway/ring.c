/* Consistent hashing (Karger et al.; the ketama layout): every server owns
 * GW_RING_VNODES points on a 64-bit circle, placed by hashing "name#i"; a key
 * belongs to the first point at or after its own hash. Lookup is a binary
 * search, then a clockwise walk past servers that are down, so a down server's
 * users spread over the others and come back when it recovers. */
#include "ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

uint64_t gw_ring_hash(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static int cmp_point(const void *a, const void *b)
{
    const gw_ring_point *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->server < y->server ? -1 : x->server > y->server;
}

int gw_ring_init(gw_ring *r, const char *const *names, size_t n)
{
    r->points = NULL;
    r->n_points = 0;
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / GW_RING_VNODES / sizeof *r->points)
        return HR_ENOMEM;
    r->points = malloc(n * GW_RING_VNODES * sizeof *r->points);
    if (r->points == NULL)
        return HR_ENOMEM;
    for (size_t s = 0; s < n; s++) {
        for (size_t v = 0; v < GW_RING_VNODES; v++) {
            char label[160];
            const int len = snprintf(label, sizeof label, "%.140s#%zu", names[s], v);
            gw_ring_point *pt = &r->points[r->n_points++];
            pt->hash = gw_ring_hash(label, (size_t)len);
            pt->server = (uint32_t)s;
        }
    }
    qsort(r->points, r->n_points, sizeof *r->points, cmp_point);
    return 0;
}

void gw_ring_deinit(gw_ring *r)
{
    free(r->points);
    r->points = NULL;
    r->n_points = 0;
}

int gw_ring_lookup(const gw_ring *r, const void *key, size_t len,
                   bool (*usable)(uint32_t server, void *arg), void *arg)
{
    if (r->n_points == 0)
        return -1;
    const uint64_t h = gw_ring_hash(key, len);
    size_t lo = 0, hi = r->n_points;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (r->points[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < r->n_points; k++) {
        const gw_ring_point *pt = &r->points[(lo + k) % r->n_points];
        if (usable == NULL || usable(pt->server, arg))
            return (int)pt->server;
    }
    return -1;
}

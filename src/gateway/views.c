/* Per-view frame cache. Entries live in a ring in insertion order, so the
 * oldest is always at the head: eviction by count and by age both pop the
 * head. A chained hash over the ring's slots finds an entry by key.
 *
 *   slots: [ head ... head+count-1 ] (mod capacity), oldest first
 *   buckets[hash & mask] -> slot -> slot->next -> ... -> -1 */
#include "views.h"

#include <string.h>

#include "core/alloc.h"

typedef struct entry {
    gw_view_frames frames;
    uint64_t hash;
    uint64_t born_ms;
    int32_t next; /* next slot in the same bucket, -1 = end */
    uint32_t route;
    uint16_t clen, idlen, vlen;
    char *key; /* channel, id and view, back to back (heap) */
} entry;

struct gw_views {
    entry *slots;
    int32_t *buckets;
    size_t capacity, head, count, mask;
    uint64_t now_ms, max_age_ms;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return (h ^ 0xff) * UINT64_C(0x100000001b3); /* separates the parts */
}

static uint64_t hash_key(const gw_view_key *k)
{
    uint64_t h = mix(UINT64_C(0xcbf29ce484222325), &k->route, sizeof k->route);
    h = mix(h, k->channel, k->clen);
    h = mix(h, k->id, k->idlen);
    return mix(h, k->view, k->vlen);
}

gw_views *gw_views_new(size_t capacity, uint64_t max_age_ms)
{
    if (capacity == 0 || capacity > INT32_MAX / 4)
        return NULL;
    gw_views *v = hr_calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    size_t nb = 1;
    while (nb < 2 * capacity)
        nb <<= 1;
    v->slots = hr_calloc(capacity, sizeof *v->slots);
    v->buckets = hr_malloc(nb * sizeof *v->buckets);
    if (v->slots == NULL || v->buckets == NULL) {
        gw_views_free(v);
        return NULL;
    }
    memset(v->buckets, 0xff, nb * sizeof *v->buckets); /* all -1 */
    v->capacity = capacity;
    v->mask = nb - 1;
    v->max_age_ms = max_age_ms;
    return v;
}

static void release(entry *e)
{
    hr_free(e->key);
    e->key = NULL;
    hr_msg_unref(e->frames.plain);
    hr_msg_unref(e->frames.deflated);
    e->frames = (gw_view_frames){NULL, NULL, false, false};
}

void gw_views_free(gw_views *v)
{
    if (v == NULL)
        return;
    if (v->slots != NULL)
        for (size_t i = 0; i < v->count; i++)
            release(&v->slots[(v->head + i) % v->capacity]);
    hr_free(v->slots);
    hr_free(v->buckets);
    hr_free(v);
}

bool gw_views_key_fits(const gw_view_key *k)
{
    return k->clen <= GW_VIEWS_CHANNEL_MAX && k->idlen <= GW_VIEWS_ID_MAX &&
           k->vlen <= GW_VIEWS_VIEW_MAX;
}

static bool same_key(const entry *e, uint64_t h, const gw_view_key *k)
{
    return e->hash == h && e->route == k->route && e->clen == k->clen && e->idlen == k->idlen &&
           e->vlen == k->vlen && memcmp(e->key, k->channel, k->clen) == 0 &&
           memcmp(e->key + k->clen, k->id, k->idlen) == 0 &&
           memcmp(e->key + k->clen + k->idlen, k->view, k->vlen) == 0;
}

gw_view_frames *gw_views_find(gw_views *v, const gw_view_key *k)
{
    if (!gw_views_key_fits(k))
        return NULL;
    const uint64_t h = hash_key(k);
    for (int32_t s = v->buckets[h & v->mask]; s >= 0; s = v->slots[s].next)
        if (same_key(&v->slots[s], h, k))
            return &v->slots[s].frames;
    return NULL;
}

/* Unlinks slot s from its bucket and releases its frames. */
static void evict_slot(gw_views *v, int32_t s)
{
    int32_t *link = &v->buckets[v->slots[s].hash & v->mask];
    while (*link != s)
        link = &v->slots[*link].next;
    *link = v->slots[s].next;
    release(&v->slots[s]);
}

static void evict_oldest(gw_views *v)
{
    evict_slot(v, (int32_t)v->head);
    v->head = (v->head + 1) % v->capacity;
    v->count--;
}

gw_view_frames *gw_views_put(gw_views *v, const gw_view_key *k, hr_msg *plain, bool drop)
{
    gw_view_frames *f = gw_views_find(v, k);
    if (f == NULL && !gw_views_key_fits(k))
        return NULL;
    if (f == NULL) {
        char *key = hr_malloc(k->clen + k->idlen + k->vlen + 1);
        if (key == NULL)
            return NULL;
        if (v->count == v->capacity)
            evict_oldest(v);
        const int32_t s = (int32_t)((v->head + v->count) % v->capacity);
        entry *e = &v->slots[s];
        e->hash = hash_key(k);
        e->route = k->route;
        e->born_ms = v->now_ms;
        e->clen = (uint16_t)k->clen;
        e->idlen = (uint16_t)k->idlen;
        e->vlen = (uint16_t)k->vlen;
        memcpy(key, k->channel, k->clen);
        memcpy(key + k->clen, k->id, k->idlen);
        memcpy(key + k->clen + k->idlen, k->view, k->vlen);
        e->key = key;
        e->next = v->buckets[e->hash & v->mask];
        v->buckets[e->hash & v->mask] = s;
        v->count++;
        f = &e->frames;
    }
    hr_msg *keep = plain != NULL ? hr_msg_ref(plain) : NULL; /* plain may be f's own */
    hr_msg_unref(f->plain);
    hr_msg_unref(f->deflated);
    *f = (gw_view_frames){keep, NULL, drop, false};
    return f;
}

void gw_views_set_deflated(gw_view_frames *f, hr_msg *deflated)
{
    hr_msg *keep = deflated != NULL ? hr_msg_ref(deflated) : NULL;
    hr_msg_unref(f->deflated);
    f->deflated = keep;
}

void gw_views_end_turn(gw_views *v, uint64_t now_ms)
{
    v->now_ms = now_ms;
    while (v->count > 0 && now_ms - v->slots[v->head].born_ms >= v->max_age_ms)
        evict_oldest(v);
}

size_t gw_views_count(const gw_views *v)
{
    return v->count;
}

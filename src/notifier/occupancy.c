/* The process-wide subscription counts (occupancy.h): a chained hash table
 * that doubles when it holds twice as many channels as buckets. */
#include "occupancy.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct slot {
    struct slot *next;
    size_t count;
    char name[]; /* NUL-terminated */
} slot;

static uv_once_t once = UV_ONCE_INIT;
static uv_mutex_t lock;
static slot **buckets;
static size_t n_buckets, n_slots;

static void init(void)
{
    (void)uv_mutex_init(&lock);
}

static uint64_t hash(const char *s)
{
    uint64_t x = 1469598103934665603ULL;
    for (; *s != '\0'; s++)
        x = (x ^ (unsigned char)*s) * 1099511628211ULL;
    return x ^ (x >> 29);
}

/* Doubles the table (or makes the first one); false when out of memory. */
static bool grow(void)
{
    const size_t n = n_buckets == 0 ? 256 : n_buckets * 2;
    slot **b = calloc(n, sizeof *b);
    if (b == NULL)
        return n_buckets > 0; /* keep the old, longer chains */
    for (size_t i = 0; i < n_buckets; i++)
        for (slot *s = buckets[i], *next; s != NULL; s = next) {
            next = s->next;
            slot **at = &b[hash(s->name) & (n - 1)];
            s->next = *at;
            *at = s;
        }
    free(buckets);
    buckets = b;
    n_buckets = n;
    return true;
}

static void add_locked(const char *name, int delta)
{
    if ((n_buckets == 0 || n_slots >= 2 * n_buckets) && !grow())
        return;
    slot **at = &buckets[hash(name) & (n_buckets - 1)];
    while (*at != NULL && strcmp((*at)->name, name) != 0)
        at = &(*at)->next;
    slot *s = *at;
    if (s == NULL) {
        const size_t len = strlen(name);
        if (delta <= 0 || (s = malloc(sizeof *s + len + 1)) == NULL)
            return;
        s->next = NULL;
        s->count = 0;
        memcpy(s->name, name, len + 1);
        *at = s;
        n_slots++;
    }
    if (delta < 0 && s->count <= (size_t)-delta) {
        *at = s->next;
        free(s);
        n_slots--;
        return;
    }
    s->count = delta < 0 ? s->count - (size_t)-delta : s->count + (size_t)delta;
}

void nf_occupancy_add(const char *name, int delta)
{
    uv_once(&once, init);
    uv_mutex_lock(&lock);
    add_locked(name, delta);
    uv_mutex_unlock(&lock);
}

size_t nf_occupancy_get(const char *name)
{
    uv_once(&once, init);
    uv_mutex_lock(&lock);
    size_t n = 0;
    const slot *s = n_buckets > 0 ? buckets[hash(name) & (n_buckets - 1)] : NULL;
    for (; s != NULL; s = s->next)
        if (strcmp(s->name, name) == 0) {
            n = s->count;
            break;
        }
    uv_mutex_unlock(&lock);
    return n;
}

void nf_occupancy_each(void (*each)(void *arg, const char *name, size_t count), void *arg)
{
    uv_once(&once, init);
    uv_mutex_lock(&lock);
    for (size_t i = 0; i < n_buckets; i++)
        for (const slot *s = buckets[i]; s != NULL; s = s->next)
            each(arg, s->name, s->count);
    uv_mutex_unlock(&lock);
}

/* Per-IP limits in a linear-probing hash table that doubles when half full
 * and starts small (idle gateways pay nothing). Entries are never deleted one
 * by one (that would need back-shifting runs); instead gw_iptable_sweep()
 * rebuilds the table once a second from the entries still worth keeping: those
 * holding connections or whose bucket has not refilled yet, shrinking it when
 * mostly empty. So the table holds the IPs active within the last second plus
 * those with connections. */
#include "iptable.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ring.h"

static void make_key(const struct sockaddr *a, uint8_t key[17])
{
    memset(key, 0, 17);
    if (a->sa_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr, 16);
    } else {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)(const void *)a)->sin_addr, 4);
    }
}

#define MIN_CAP 64

int gw_iptable_init(gw_iptable *t, size_t max_entries)
{
    memset(t, 0, sizeof *t);
    t->slots = calloc(MIN_CAP, sizeof *t->slots);
    if (t->slots == NULL)
        return HR_ENOMEM;
    t->cap = MIN_CAP;
    t->max_entries = max_entries;
    return 0;
}

void gw_iptable_deinit(gw_iptable *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->used = 0;
}

static size_t home(const gw_iptable *t, const uint8_t key[17])
{
    return (size_t)gw_ring_hash(key, 17) & (t->cap - 1);
}

static gw_ip_entry *lookup(const gw_iptable *t, const uint8_t key[17], bool *found)
{
    size_t i = home(t, key);
    for (size_t n = 0; n < t->cap; n++, i = (i + 1) & (t->cap - 1)) {
        gw_ip_entry *e = &t->slots[i];
        if (e->key[0] == 0) {
            *found = false;
            return e;
        }
        if (memcmp(e->key, key, 17) == 0) {
            *found = true;
            return e;
        }
    }
    *found = false;
    return NULL;
}

/* Moves the entries worth keeping (keep NULL: all) into a table of new_cap
 * slots. Returns 0 or HR_ENOMEM (t unchanged). */
static int rehash(gw_iptable *t, size_t new_cap, bool (*keep)(gw_ip_entry *, void *), void *arg)
{
    gw_ip_entry *fresh = calloc(new_cap, sizeof *fresh);
    if (fresh == NULL)
        return HR_ENOMEM;
    gw_ip_entry *old = t->slots;
    const size_t old_cap = t->cap;
    t->slots = fresh;
    t->cap = new_cap;
    t->used = 0;
    for (size_t i = 0; i < old_cap; i++) {
        gw_ip_entry *e = &old[i];
        if (e->key[0] == 0 || (keep != NULL && !keep(e, arg)))
            continue;
        bool found = false;
        *lookup(t, e->key, &found) = *e;
        t->used++;
    }
    free(old);
    return 0;
}

static gw_ip_entry *get(gw_iptable *t, const struct sockaddr *a)
{
    uint8_t key[17];
    make_key(a, key);
    bool found = false;
    gw_ip_entry *e = lookup(t, key, &found);
    if (found)
        return e;
    if (t->used >= t->max_entries)
        return NULL;
    if ((t->used + 1) * 2 > t->cap) { /* keep the load under one half */
        if (rehash(t, t->cap * 2, NULL, NULL) != 0)
            return NULL;
        e = lookup(t, key, &found);
    }
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, 17);
    t->used++;
    return e;
}

static void refill(gw_ip_entry *e, uint64_t now_ms, uint64_t rate)
{
    if (now_ms > e->last_ms) {
        e->tokens += (double)(now_ms - e->last_ms) * (double)rate / 1000.0;
        if (e->tokens > (double)rate)
            e->tokens = (double)rate;
    }
    e->last_ms = now_ms;
}

int gw_iptable_handshake(gw_iptable *t, const struct sockaddr *addr, uint64_t now_ms,
                         uint64_t rate_per_s)
{
    gw_ip_entry *e = get(t, addr);
    if (e == NULL)
        return HR_ENOMEM;
    if (e->last_ms == 0) {
        e->tokens = (double)rate_per_s;
        e->last_ms = now_ms;
    }
    refill(e, now_ms, rate_per_s);
    if (e->tokens < 1.0)
        return HR_ELIMIT;
    e->tokens -= 1.0;
    return 0;
}

int gw_iptable_conn_open(gw_iptable *t, const struct sockaddr *addr, uint64_t max)
{
    gw_ip_entry *e = get(t, addr);
    if (e == NULL)
        return HR_ENOMEM;
    if (e->conns >= max)
        return HR_ELIMIT;
    e->conns++;
    return 0;
}

void gw_iptable_conn_close(gw_iptable *t, const struct sockaddr *addr)
{
    uint8_t key[17];
    make_key(addr, key);
    bool found = false;
    gw_ip_entry *e = lookup(t, key, &found);
    if (!found || e->conns == 0)
        return;
    e->conns--;
}

uint32_t gw_iptable_conns(const gw_iptable *t, const struct sockaddr *addr)
{
    uint8_t key[17];
    make_key(addr, key);
    bool found = false;
    const gw_ip_entry *e = lookup(t, key, &found);
    return found ? e->conns : 0;
}

typedef struct sweep_arg {
    uint64_t now_ms, rate;
} sweep_arg;

static bool worth_keeping(gw_ip_entry *e, void *arg)
{
    const sweep_arg *a = arg;
    if (e->conns > 0)
        return true;
    refill(e, a->now_ms, a->rate);
    return e->tokens < (double)a->rate;
}

int gw_iptable_sweep(gw_iptable *t, uint64_t now_ms, uint64_t rate_per_s)
{
    sweep_arg a = {now_ms, rate_per_s};
    size_t keep = 0;
    for (size_t i = 0; i < t->cap; i++)
        keep += t->slots[i].key[0] != 0 && worth_keeping(&t->slots[i], &a);
    size_t cap = t->cap;
    while (cap > MIN_CAP && keep * 8 < cap) /* shrink when mostly empty */
        cap >>= 1;
    return rehash(t, cap, worth_keeping, &a);
}

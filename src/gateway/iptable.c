/* Per-IP limits in a linear-probing hash table. Entries are never deleted one
 * by one (that would need back-shifting runs); instead gw_iptable_sweep()
 * rebuilds the table once a second from the entries still worth keeping: those
 * holding connections or whose bucket has not refilled yet. So the table holds
 * the IPs active within the last second plus those with connections. */
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

int gw_iptable_init(gw_iptable *t, size_t max_entries)
{
    memset(t, 0, sizeof *t);
    size_t cap = 64;
    while (cap < max_entries * 2 && cap < ((size_t)1 << 30))
        cap <<= 1;
    t->slots = calloc(cap, sizeof *t->slots);
    if (t->slots == NULL)
        return HR_ENOMEM;
    t->cap = cap;
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

static gw_ip_entry *get(gw_iptable *t, const struct sockaddr *a)
{
    uint8_t key[17];
    make_key(a, key);
    bool found = false;
    gw_ip_entry *e = lookup(t, key, &found);
    if (found)
        return e;
    if (e == NULL || t->used >= t->max_entries)
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

int gw_iptable_sweep(gw_iptable *t, uint64_t now_ms, uint64_t rate_per_s)
{
    gw_ip_entry *old = t->slots;
    gw_ip_entry *fresh = calloc(t->cap, sizeof *fresh);
    if (fresh == NULL)
        return HR_ENOMEM;
    const size_t cap = t->cap;
    t->slots = fresh;
    t->used = 0;
    for (size_t i = 0; i < cap; i++) {
        gw_ip_entry *e = &old[i];
        if (e->key[0] == 0)
            continue;
        if (e->conns == 0) {
            refill(e, now_ms, rate_per_s);
            if (e->tokens >= (double)rate_per_s)
                continue;
        }
        bool found = false;
        gw_ip_entry *slot = lookup(t, e->key, &found);
        *slot = *e;
        t->used++;
    }
    free(old);
    return 0;
}

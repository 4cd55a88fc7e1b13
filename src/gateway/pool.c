/* Upstream pools: server health and the three balance policies.
 * round_robin walks a cursor over the healthy servers; least_conn takes the
 * healthy server with the fewest active connections (ties: lowest index after
 * the cursor, so equal loads still rotate); hash_user looks the user up on a
 * consistent-hash ring and walks past servers that are down. Passive marking
 * (a failed connect) takes a server down at once; it comes back through the
 * active health check (rise successes), or, when no health check is
 * configured, through gw_pool_revive (a timer) or on the next pick that finds
 * every server down (so a pool never stays dead forever without checks). */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int gw_pool_init(gw_pool *p, const gw_upstream_cfg *u)
{
    memset(p, 0, sizeof *p);
    p->cfg = u;
    p->servers = calloc(u->n_servers, sizeof *p->servers);
    const char **names = calloc(u->n_servers, sizeof *names);
    if (p->servers == NULL || names == NULL) {
        free(p->servers);
        free(names);
        p->servers = NULL;
        return HR_ENOMEM;
    }
    p->n_servers = u->n_servers;
    for (size_t i = 0; i < u->n_servers; i++) {
        p->servers[i].addr = u->servers[i];
        p->servers[i].up = true;
        names[i] = u->servers[i].text;
    }
    int rc = gw_ring_init(&p->ring, names, u->n_servers);
    free(names);
    if (rc != 0) {
        free(p->servers);
        p->servers = NULL;
    }
    return rc;
}

void gw_pool_deinit(gw_pool *p)
{
    gw_ring_deinit(&p->ring);
    free(p->servers);
    p->servers = NULL;
    p->n_servers = 0;
}

typedef struct pick_ctx {
    const gw_pool *p;
    const bool *skip;
} pick_ctx;

static bool usable(uint32_t i, void *arg)
{
    const pick_ctx *c = arg;
    return c->p->servers[i].up && (c->skip == NULL || !c->skip[i]);
}

static int pick_rr(gw_pool *p, pick_ctx *c)
{
    for (size_t k = 0; k < p->n_servers; k++) {
        const size_t i = (p->rr_next + k) % p->n_servers;
        if (usable((uint32_t)i, c)) {
            p->rr_next = i + 1;
            return (int)i;
        }
    }
    return -1;
}

static int pick_least(gw_pool *p, pick_ctx *c)
{
    int best = -1;
    for (size_t k = 0; k < p->n_servers; k++) {
        const size_t i = (p->rr_next + k) % p->n_servers;
        if (usable((uint32_t)i, c) && (best < 0 || p->servers[i].active < p->servers[best].active))
            best = (int)i;
    }
    if (best >= 0)
        p->rr_next = (size_t)best + 1;
    return best;
}

static int pick_once(gw_pool *p, const char *user, size_t user_len, pick_ctx *c)
{
    switch (p->cfg->balance) {
    case GW_BALANCE_LEAST_CONN:
        return pick_least(p, c);
    case GW_BALANCE_HASH_USER:
        if (user != NULL && user_len > 0)
            return gw_ring_lookup(&p->ring, user, user_len, usable, c);
        return pick_rr(p, c);
    default:
        return pick_rr(p, c);
    }
}

int gw_pool_pick(gw_pool *p, const char *user, size_t user_len, const bool *skip)
{
    pick_ctx c = {.p = p, .skip = skip};
    int i = pick_once(p, user, user_len, &c);
    if (i < 0 && !p->cfg->health.enabled && gw_pool_up_count(p) == 0) {
        /* Without health checks nothing would ever bring a server back. */
        for (size_t k = 0; k < p->n_servers; k++)
            p->servers[k].up = true;
        i = pick_once(p, user, user_len, &c);
    }
    if (i >= 0)
        p->servers[i].picked++;
    return i;
}

bool gw_pool_report(gw_pool *p, size_t i, bool ok, bool passive)
{
    if (i >= p->n_servers)
        return false;
    gw_server_state *s = &p->servers[i];
    const bool was = s->up;
    if (ok) {
        s->fail_run = 0;
        s->ok_run++;
        if (!s->up && s->ok_run >= p->cfg->health.rise)
            s->up = true;
    } else {
        s->ok_run = 0;
        s->fail_run++;
        if (s->up && (passive || s->fail_run >= p->cfg->health.fall))
            s->up = false;
    }
    return was != s->up;
}

void gw_pool_conn_add(gw_pool *p, size_t i, int delta)
{
    if (i >= p->n_servers)
        return;
    if (delta < 0 && p->servers[i].active == 0)
        return;
    p->servers[i].active += (uint64_t)(int64_t)delta;
}

size_t gw_pool_up_count(const gw_pool *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_servers; i++)
        n += p->servers[i].up;
    return n;
}

void gw_pool_revive(gw_pool *p)
{
    for (size_t i = 0; i < p->n_servers; i++) {
        p->servers[i].up = true;
        p->servers[i].fail_run = 0;
    }
}

/* Active health checks: one timer per checked upstream; each tick sends one
 * request per server unless the previous one is still in flight. A change of
 * state is logged (warn when a server goes down, info when it comes back). */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "uphttp.h"

typedef struct probe {
    struct checker *ck;
    size_t server;
    gw_upreq *req;
} probe;

typedef struct checker {
    uv_timer_t timer;
    gw_health *h;
    gw_pool *pool;
    probe *probes;
    bool started;
} checker;

struct gw_health {
    gw_app *app;
    checker *checkers;
    size_t n;
    size_t open_timers;
};

bool gw_health_wanted(const gw_config *cfg)
{
    for (size_t i = 0; i < cfg->n_upstreams; i++)
        if (cfg->upstreams[i].health.enabled)
            return true;
    return false;
}

static void on_result(void *arg, int err, bool connected, const hr_http_head *head,
                      const uint8_t *body, size_t len)
{
    probe *p = arg;
    p->req = NULL;
    gw_pool *pool = p->ck->pool;
    const bool ok = err == 0 && head->status >= 200 && head->status < 400;
    if (gw_pool_report(pool, p->server, ok, false)) {
        hr_log(ok ? HR_LOG_INFO : HR_LOG_WARN, "gateway", "upstream %s upstream=%s server=%s",
               ok ? "up" : "down", pool->cfg->name, pool->servers[p->server].addr.text);
    }
}

static void on_tick(uv_timer_t *t)
{
    checker *ck = t->data;
    const gw_health_cfg *hc = &ck->pool->cfg->health;
    for (size_t i = 0; i < ck->pool->n_servers; i++) {
        probe *p = &ck->probes[i];
        if (p->req != NULL)
            continue;
        char req[1024];
        const int n = snprintf(req, sizeof req,
                               "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: herald-gateway\r\n"
                               "Connection: keep-alive\r\n\r\n",
                               hc->path, ck->pool->servers[i].addr.text);
        if (n <= 0 || (size_t)n >= sizeof req)
            continue;
        gw_uphttp_request(ck->h->app->http, &ck->pool->servers[i].addr, req, (size_t)n, false,
                          65536, hc->timeout_ms, on_result, p, &p->req);
    }
}

static void free_if_done(gw_health *h)
{
    if (h->open_timers > 0)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->checkers[i].probes);
    free(h->checkers);
    free(h);
}

static void on_timer_closed(uv_handle_t *hd)
{
    checker *ck = hd->data;
    gw_health *h = ck->h;
    h->open_timers--;
    free_if_done(h);
}

gw_health *gw_health_start(gw_app *app, gw_runtime *rt)
{
    if (!gw_health_wanted(rt->cfg))
        return NULL;
    gw_health *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->app = app;
    h->n = rt->cfg->n_upstreams;
    h->checkers = calloc(h->n, sizeof *h->checkers);
    if (h->checkers == NULL) {
        free(h);
        return NULL;
    }
    for (size_t i = 0; i < h->n; i++) {
        checker *ck = &h->checkers[i];
        ck->h = h;
        ck->pool = &rt->pools[i];
        if (!ck->pool->cfg->health.enabled)
            continue;
        ck->probes = calloc(ck->pool->n_servers, sizeof *ck->probes);
        if (ck->probes == NULL)
            continue; /* no checks for this one; passive marking still works */
        for (size_t k = 0; k < ck->pool->n_servers; k++) {
            ck->probes[k].ck = ck;
            ck->probes[k].server = k;
        }
        uv_timer_init(app->loop, &ck->timer);
        ck->timer.data = ck;
        ck->started = true;
        h->open_timers++;
        const uint64_t every = ck->pool->cfg->health.interval_ms;
        uv_timer_start(&ck->timer, on_tick, 0, every);
    }
    return h;
}

void gw_health_stop(gw_health *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++) {
        checker *ck = &h->checkers[i];
        if (!ck->started)
            continue;
        for (size_t k = 0; k < ck->pool->n_servers; k++) {
            gw_upreq_cancel(ck->probes[k].req);
            ck->probes[k].req = NULL;
        }
        uv_timer_stop(&ck->timer);
        uv_close((uv_handle_t *)&ck->timer, on_timer_closed);
    }
    free_if_done(h);
}

/* Labelled series summed over workers (labels.h). Positions rather than
 * names: every worker runs the same configuration file, so route i and
 * server (u, k) mean the same thing in every slot whose shape matches. */
#include "labels.h"

#include <stddef.h>

/* Flat position of upstream u's server k, or GW_LBL_SERVERS when past the
 * shared range. */
static size_t server_pos(const gw_runtime *rt, size_t u, size_t k)
{
    size_t pos = 0;
    for (size_t i = 0; i < u; i++)
        pos += rt->pools[i].n_servers;
    pos += k;
    return pos < GW_LBL_SERVERS ? pos : GW_LBL_SERVERS;
}

static size_t total_servers(const gw_runtime *rt)
{
    return rt->cfg->n_upstreams == 0 ? 0 : server_pos(rt, rt->cfg->n_upstreams, 0);
}

void gw_labels_publish(gw_app *app)
{
    const gw_runtime *rt = app->rt;
    if (app->n_workers <= 1 || rt == NULL)
        return;
    gw_metrics *m = app->m;
    const size_t nr = rt->cfg->n_routes;
    for (size_t i = 0; i < nr; i++) {
        m->route_ws[i] = rt->route_stats[i].ws_active;
        m->route_req[i] = rt->route_stats[i].requests;
    }
    for (size_t u = 0; u < rt->cfg->n_upstreams; u++)
        for (size_t k = 0; k < rt->pools[u].n_servers; k++) {
            const size_t pos = server_pos(rt, u, k);
            if (pos < GW_LBL_SERVERS) {
                m->server_conns[pos] = rt->pools[u].servers[k].active;
                m->server_up[pos] = rt->pools[u].servers[k].up;
            }
        }
    m->lbl_routes = nr;
    m->lbl_servers = total_servers(rt);
}

/* True when slot w describes a configuration shaped like app's. */
static bool same_shape(const gw_app *app, unsigned w)
{
    const volatile gw_metrics *s = &app->m_all[w];
    return w != app->worker && s->lbl_routes == app->rt->cfg->n_routes &&
           s->lbl_servers == total_servers(app->rt);
}

/* The other workers' values at position pos of the array at byte offset
 * off in gw_metrics (route_ws, route_req or server_conns), summed. */
static uint64_t others(const gw_app *app, size_t off, size_t pos)
{
    uint64_t v = 0;
    for (unsigned w = 0; app->m_all != NULL && w < app->n_workers; w++)
        if (same_shape(app, w))
            v += ((const volatile uint64_t *)((const volatile char *)&app->m_all[w] + off))[pos];
    return v;
}

uint64_t gw_labels_route_ws(const gw_app *app, size_t i)
{
    return app->rt->route_stats[i].ws_active + others(app, offsetof(gw_metrics, route_ws), i);
}

uint64_t gw_labels_route_requests(const gw_app *app, size_t i)
{
    return app->rt->route_stats[i].requests + others(app, offsetof(gw_metrics, route_req), i);
}

uint64_t gw_labels_server_conns(const gw_app *app, size_t u, size_t k)
{
    const size_t pos = server_pos(app->rt, u, k);
    const uint64_t own = app->rt->pools[u].servers[k].active;
    return pos < GW_LBL_SERVERS ? own + others(app, offsetof(gw_metrics, server_conns), pos) : own;
}

uint64_t gw_labels_server_up(const gw_app *app, size_t u, size_t k)
{
    if (!app->rt->pools[u].servers[k].up)
        return 0;
    const size_t pos = server_pos(app->rt, u, k);
    for (unsigned w = 0; pos < GW_LBL_SERVERS && app->m_all != NULL && w < app->n_workers; w++)
        if (same_shape(app, w) && ((const volatile gw_metrics *)&app->m_all[w])->server_up[pos] == 0)
            return 0;
    return 1;
}

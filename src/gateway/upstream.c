/* Opening an upstream session with the transport its upstream speaks
 * (upstream.h). The only place that knows both transports: the proxy sees
 * the ops table, each transport sees only its own side. */
#include "upstream.h"

#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "upconn.h"
#include "uplink.h"

/* Fills o from the request target and header block ("Name: value\r\n"
 * lines, NUL-terminated); X-Herald-User / X-Herald-Channels also become the
 * OPEN identity. Views point into req. Headers past HR_LINK_MAX_HEADERS are
 * dropped (the block holds about ten). */
static void link_open_fields(const gw_upstream_req *req, hr_link_open *o)
{
    memset(o, 0, sizeof *o);
    o->peer = hr_link_str_of(req->peer);
    o->target = hr_link_str_of(req->target);
    const char *p = req->headers;
    while (p != NULL && *p != '\0' && o->n_headers < HR_LINK_MAX_HEADERS) {
        const char *eol = strstr(p, "\r\n");
        const char *colon = memchr(p, ':', eol != NULL ? (size_t)(eol - p) : strlen(p));
        if (eol == NULL || colon == NULL)
            break;
        const char *v = colon + 1;
        while (v < eol && *v == ' ')
            v++;
        hr_link_header h = {{(const uint8_t *)p, (size_t)(colon - p)},
                            {(const uint8_t *)v, (size_t)(eol - v)}};
        o->headers[o->n_headers++] = h;
        if (h.name.len == 13 && strncasecmp(p, "X-Herald-User", 13) == 0) {
            o->has_user = true;
            o->user = h.value;
        } else if (h.name.len == 17 && strncasecmp(p, "X-Herald-Channels", 17) == 0) {
            o->channels = h.value;
        }
        p = eol + 2;
    }
    if (!o->has_user)
        o->channels = (hr_link_str){NULL, 0};
}

int gw_upstream_open(gw_upstream *u, gw_app *app, const gw_upstream_cfg *cfg,
                     const gw_addr *addr, const gw_upstream_req *req,
                     const gw_upstream_events *events, void *arg)
{
    u->ops = NULL;
    u->h = NULL;
    void *h = NULL;
    int rc = 0;
    const gw_upstream_ops *ops = NULL;
    if (cfg->link) {
        hr_link_open o;
        link_open_fields(req, &o);
        o.stream = req->stream;
        gw_usess *s = NULL;
        rc = gw_usess_open(app->links, addr, &o, events, arg, &s);
        h = s;
        ops = &gw_usess_ops;
    } else if (req->stream) {
        return HR_EINVAL; /* plain upstreams stream through hproxy.c */
    } else {
        const hr_client_config cc = {
            .path = req->target,
            .host = addr->text,
            .extra_headers = req->headers,
            .deflate = false,
            .connect_timeout_ms = req->connect_timeout_ms,
        };
        rc = gw_upconn_open(app->ups, addr->text, &cc, req->queue_limit, events, arg, &h);
        ops = &gw_upconn_ops;
    }
    if (rc != 0)
        return rc;
    u->ops = ops;
    u->h = h;
    return 0;
}

int gw_upstream_open_next(gw_upstream *u, gw_app *app, gw_pool *pool, const char *user,
                          bool *tried, int *server, const gw_upstream_req *req,
                          const gw_upstream_events *events, void *arg, bool *too_old)
{
    for (;;) {
        const int i = gw_pool_pick(pool, user, strlen(user), tried);
        if (i < 0)
            return HR_ELIMIT;
        tried[i] = true;
        *server = i;
        const int rc = gw_upstream_open(u, app, pool->cfg, &pool->servers[i].addr, req, events, arg);
        if (rc == 0) {
            gw_pool_conn_add(pool, (size_t)i, 1);
            return 0;
        }
        if (rc == HR_EPROTO) { /* up, but too old for this session (uplink.c logged it) */
            *too_old = true;
            continue;
        }
        app->m->upstream_connect_failures++;
        gw_pool_report(pool, (size_t)i, false, true);
    }
}

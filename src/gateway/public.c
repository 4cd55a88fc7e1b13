/* The public server's callbacks: route, then hand each connection to the
 * proxy that owns it (public.h). */
#include "public.h"

#include "app.h"
#include "hproxy.h"
#include "proto/http_query.h"
#include "route.h"
#include "sselink.h"
#include "static.h"
#include "wsproxy.h"

static const gw_route_cfg *route_for(gw_app *app, const hr_http_head *h)
{
    const hr_http_header *host = hr_http_head_find(h, "Host");
    size_t path_len = 0;
    const char *query = NULL;
    size_t query_len = 0;
    hr_http_query_split(h->target, h->target_len, &path_len, &query, &query_len);
    return gw_route_match(app->rt->cfg, host ? host->value : "", host ? host->value_len : 0,
                          h->target, path_len);
}

static int on_upgrade(hr_conn *c, const hr_http_head *h, hr_upgrade_reply *reply)
{
    gw_app *app = hr_conn_app(c);
    const gw_route_cfg *r = route_for(app, h);
    static const char not_found[] = "no route\n";
    static const char not_ws[] = "not a websocket route\n";
    if (r == NULL || !r->websocket) {
        const int st = r == NULL ? 404 : 400;
        gw_app_count_handshake(app, st);
        reply->content_type = "text/plain; charset=utf-8";
        reply->body = r == NULL ? not_found : not_ws;
        reply->body_len = r == NULL ? sizeof not_found - 1 : sizeof not_ws - 1;
        return st;
    }
    return gw_ws_start(app, c, h, r, reply);
}

static void on_request(hr_conn *c, const hr_http_head *h, const uint8_t *body, size_t len)
{
    gw_app *app = hr_conn_app(c);
    app->m->http_requests++;
    const gw_route_cfg *r = route_for(app, h);
    if (r == NULL) {
        gw_hproxy_answer(app, c, h, NULL, 404, "no route\n");
        return;
    }
    app->rt->route_stats[r - app->rt->cfg->routes].requests++;
    if (r->static_dir != NULL)
        gw_static_serve(app, c, h, r);
    else if (app->rt->cfg->upstreams[r->upstream].link && !r->websocket)
        gw_sse_start(app, c, h, r); /* a STREAM session: an event stream over the link */
    else if (app->rt->cfg->upstreams[r->upstream].link)
        /* a herald-link server speaks only the link: no plain HTTP there */
        gw_hproxy_answer(app, c, h, NULL, 400, "WebSocket only (herald-link upstream)\n");
    else
        gw_hproxy_start(app, c, h, body, len, r);
}

static uint8_t kind_of(hr_conn *c)
{
    const uint8_t *tag = hr_conn_app_data(c);
    return tag != NULL ? *tag : 0;
}

static void on_open(hr_conn *c)
{
    if (kind_of(c) == GW_KIND_WS)
        gw_ws_client_open(c);
}

static void on_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    if (kind_of(c) == GW_KIND_WS)
        gw_ws_client_message(c, opcode, data, len);
}

static void on_drain(hr_conn *c)
{
    if (kind_of(c) == GW_KIND_WS)
        gw_ws_client_drain(c);
    else if (kind_of(c) == GW_KIND_HTTP)
        gw_hproxy_client_drain(c);
    else if (kind_of(c) == GW_KIND_SSE)
        gw_sse_client_drain(c);
}

static void on_close(hr_conn *c, int code)
{
    const uint8_t k = kind_of(c);
    if (k == GW_KIND_WS)
        gw_ws_client_close(c, code);
    else if (k == GW_KIND_HTTP)
        gw_hproxy_client_close(c);
    else if (k == GW_KIND_SSE)
        gw_sse_client_close(c);
}

const hr_conn_callbacks gw_public_callbacks = {
    .on_request = on_request,
    .on_upgrade = on_upgrade,
    .on_open = on_open,
    .on_message = on_message,
    .on_drain = on_drain,
    .on_close = on_close,
};

/* WebSocket proxying (SPEC §4): edge checks before the upgrade, the upstream
 * connection with retries, then a message relay with the gateway's own
 * limits (size 1009, rate 1008), keepalive pings to clients (lib/net answers
 * and sends pings itself, so pongs are never forwarded), and backpressure
 * both ways: when one side's send queue passes limits.send_queue_bytes we
 * stop reading the other side until the queue drains (on_drain).
 *
 * Close rules: client gone -> upstream closed (1000, or 1001 while
 * draining); upstream lost -> client closed with gw_ws_map_upstream_close().
 * Freeing: the session goes when both connections have reported on_close;
 * after any call that may close the other side synchronously we return at
 * once without touching the session again. */
#include "wsproxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alog.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "edge.h"
#include "net/client.h"
#include "route.h"

typedef struct gw_ws {
    uint8_t kind; /* GW_KIND_WS: app data tag */
    gw_app *app;
    gw_runtime *rt;
    const gw_route_cfg *route;
    hr_conn *client;
    hr_conn *up;
    int server;
    bool *tried;
    char *target;
    char *headers;
    char user[HR_IDENTITY_USER_MAX + 1];
    struct sockaddr_storage peer;
    char peer_text[64];
    char request_id[132];
    uint64_t t_start_ms, t_open_ms;
    uint64_t win_start_ms;
    uint64_t win_count;
    uint64_t frames_up, frames_down, bytes_up, bytes_down;
    int close_code;
    bool tls;
    bool ip_counted, opened, client_gone, up_gone, client_paused, up_paused, answered;
} gw_ws;

static const hr_conn_callbacks up_callbacks;

static const struct sockaddr *peer_sa(const gw_ws *s)
{
    return (const struct sockaddr *)(const void *)&s->peer;
}

static void maybe_free(gw_ws *s)
{
    if (!s->client_gone || (s->up != NULL && !s->up_gone))
        return;
    gw_runtime_unref(s->rt);
    free(s->tried);
    free(s->target);
    free(s->headers);
    free(s);
}

/* ---- edge checks -------------------------------------------------------- */

static int refuse(gw_app *app, hr_upgrade_reply *reply, int status, const char *why)
{
    gw_app_count_handshake(app, status);
    reply->content_type = "text/plain; charset=utf-8";
    reply->body = why;
    reply->body_len = strlen(why);
    return status;
}

static int check_limits(gw_app *app, hr_conn *client, hr_upgrade_reply *reply)
{
    const gw_limits *lim = &app->rt->cfg->limits;
    const struct sockaddr *sa = gw_app_peer(app, client, NULL);
    const int rate =
        gw_iptable_handshake(&app->ips, sa, gw_app_now_ms(app), lim->handshakes_per_ip_per_s);
    if (rate == HR_ELIMIT)
        return refuse(app, reply, 429, "too many handshakes from this address\n");
    if (rate != 0)
        return refuse(app, reply, 503, "overloaded\n");
    if (app->ws_open >= lim->max_connections)
        return refuse(app, reply, 503, "too many connections\n");
    if (gw_iptable_conn_open(&app->ips, sa, lim->max_connections_per_ip) != 0)
        return refuse(app, reply, 503, "too many connections from this address\n");
    return 0;
}

/* Builds the upstream target and header block; keeps them for retries. */
static int prepare(gw_ws *s, const hr_http_head *head, const hr_identity *id)
{
    const size_t cap = head->target_len + 2;
    s->target = malloc(cap);
    if (s->target == NULL ||
        gw_route_rewrite(s->route, head->target, head->target_len, s->target, cap) == 0)
        return HR_ENOMEM;
    hr_buf hb;
    hr_buf_init(&hb, (size_t)s->rt->cfg->limits.max_header_bytes + 4096);
    char ip[64];
    snprintf(ip, sizeof ip, "%s", s->peer_text);
    char *colon = strrchr(ip, ':');
    if (colon != NULL && ip[0] != '[')
        *colon = '\0';
    gw_edge_fwd fwd = {
        .id = id, .client_ip = ip, .tls = s->tls, .request_id = s->request_id, .websocket = true};
    int rc = gw_edge_upstream_headers(head, &fwd, &hb);
    if (rc == 0)
        rc = hr_buf_append(&hb, "", 1);
    if (rc == 0) {
        s->headers = malloc(hb.len);
        if (s->headers == NULL)
            rc = HR_ENOMEM;
        else
            memcpy(s->headers, hr_buf_data(&hb), hb.len);
    }
    hr_buf_deinit(&hb);
    return rc;
}

/* ---- upstream connection ------------------------------------------------- */

static gw_pool *pool_of(const gw_ws *s)
{
    return &s->rt->pools[s->route->upstream];
}

/* Connects to the next healthy, untried server. Returns 0 or HR_ELIMIT when
 * none is left. */
static int connect_next(gw_ws *s)
{
    gw_pool *pool = pool_of(s);
    for (;;) {
        const int i = gw_pool_pick(pool, s->user, strlen(s->user), s->tried);
        if (i < 0)
            return HR_ELIMIT;
        s->tried[i] = true;
        s->server = i;
        const hr_client_config cc = {
            .path = s->target,
            .host = pool->servers[i].addr.text,
            .extra_headers = s->headers,
            .deflate = false,
            .connect_timeout_ms = (uint32_t)s->rt->cfg->limits.upstream_connect_timeout_ms,
        };
        s->up = NULL;
        s->up_gone = false;
        const int rc = hr_client_connect(s->app->ups, pool->servers[i].addr.text, &cc,
                                         &up_callbacks, s, &s->up);
        if (rc == 0) {
            gw_pool_conn_add(pool, (size_t)i, 1);
            return 0;
        }
        s->up = NULL;
        s->app->m->upstream_connect_failures++;
        gw_pool_report(pool, (size_t)i, false, true);
    }
}

static int alloc_session(gw_app *app, hr_conn *client, const gw_route_cfg *r, gw_ws **out)
{
    gw_ws *s = calloc(1, sizeof *s);
    if (s == NULL)
        return HR_ENOMEM;
    s->kind = GW_KIND_WS;
    s->app = app;
    s->rt = gw_runtime_ref(app->rt);
    s->route = r;
    s->client = client;
    s->server = -1;
    s->t_start_ms = gw_app_now_ms(app);
    s->tried = calloc(pool_of(s)->n_servers, sizeof *s->tried);
    const struct sockaddr *sa = gw_app_peer(app, client, &s->tls);
    memcpy(&s->peer, sa,
           sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    gw_app_peer_text(app, client, s->peer_text, sizeof s->peer_text);
    gw_app_request_id(app, s->request_id, sizeof s->request_id);
    if (s->tried == NULL) {
        gw_runtime_unref(s->rt);
        free(s);
        return HR_ENOMEM;
    }
    *out = s;
    return 0;
}

static int authenticate(gw_app *app, const gw_route_cfg *r, const hr_http_head *head,
                        hr_identity *id, hr_upgrade_reply *reply)
{
    const gw_runtime *rt = app->rt;
    const char *why = NULL;
    const int rc = gw_edge_authenticate(rt->cfg->jwt.enabled ? &rt->tok : NULL, r->auth,
                                        rt->cfg->jwt.cookie, head, (int64_t)time(NULL), id, &why);
    if (rc == HR_ENOMEM)
        return refuse(app, reply, 503, "out of memory\n");
    if (rc != 0) {
        hr_log(HR_LOG_DEBUG, "gateway", "auth refused why=\"%s\"", why ? why : "?");
        return refuse(app, reply, 401, "invalid or missing token\n");
    }
    return 0;
}

int gw_ws_start(gw_app *app, hr_conn *client, const hr_http_head *head, const gw_route_cfg *r,
                hr_upgrade_reply *reply)
{
    if (app->draining)
        return refuse(app, reply, 503, "shutting down\n");
    if (!gw_edge_origin_allowed(app->rt->cfg, head))
        return refuse(app, reply, 403, "origin not allowed\n");
    /* Limits before the token: a flood must not buy signature checks. */
    int st = check_limits(app, client, reply);
    if (st != 0)
        return st;
    hr_identity id;
    st = authenticate(app, r, head, &id, reply);
    if (st != 0) {
        gw_iptable_conn_close(&app->ips, gw_app_peer(app, client, NULL));
        return st;
    }
    gw_ws *s = NULL;
    int rc = alloc_session(app, client, r, &s);
    if (rc == 0) {
        s->ip_counted = true;
        if (id.user != NULL)
            snprintf(s->user, sizeof s->user, "%s", id.user);
        gw_edge_client_request_id(head, s->request_id, sizeof s->request_id);
        rc = prepare(s, head, &id);
    }
    hr_identity_deinit(&id);
    if (rc == 0)
        rc = connect_next(s);
    if (rc != 0) {
        if (s != NULL) {
            s->client_gone = true;
            maybe_free(s);
        }
        gw_iptable_conn_close(&app->ips, gw_app_peer(app, client, NULL));
        return refuse(app, reply, 503,
                      rc == HR_ELIMIT ? "no healthy upstream\n" : "out of memory\n");
    }
    app->ws_open++; /* counts handshakes in flight too, so a burst cannot overshoot */
    hr_conn_set_app_data(client, s);
    return HR_CONN_UPGRADE_DEFER;
}

/* ---- upstream events ------------------------------------------------------ */

static void up_open(hr_conn *up)
{
    gw_ws *s = hr_conn_app_data(up);
    s->opened = true;
    gw_pool_report(pool_of(s), (size_t)s->server, true, true);
    const double ms = (double)(gw_app_now_ms(s->app) - s->t_start_ms);
    gw_app_observe_latency(s->app, ms);
    if (s->client_gone) {
        hr_conn_close(up, 1001, NULL);
        return;
    }
    s->answered = true;
    gw_app_count_handshake(s->app, 101);
    if (hr_conn_upgrade_accept(s->client, NULL) != 0)
        hr_conn_close(up, 1001, NULL);
}

static void apply_backpressure(gw_ws *s, hr_conn *target, hr_conn *source, bool *paused)
{
    if (!*paused && hr_conn_queued_bytes(target) >= s->rt->cfg->limits.send_queue_bytes) {
        *paused = true;
        hr_conn_pause(source, true);
    }
}

static void up_message(hr_conn *up, int opcode, const uint8_t *data, size_t len)
{
    gw_ws *s = hr_conn_app_data(up);
    if (s->client_gone || !hr_conn_is_open(s->client))
        return;
    s->frames_down++;
    s->bytes_down += len;
    s->app->m->frames_down++;
    s->app->m->bytes_down += len;
    if (hr_conn_send(s->client, opcode, data, len) != 0)
        return; /* the client is being closed (1013 on overflow); its on_close follows */
    apply_backpressure(s, s->client, up, &s->up_paused);
}

static void up_drain(hr_conn *up)
{
    gw_ws *s = hr_conn_app_data(up);
    if (s->client_paused && !s->client_gone) {
        s->client_paused = false;
        hr_conn_pause(s->client, false);
    }
}

static void answer_failed_handshake(gw_ws *s, int status)
{
    int st = status >= 400 && status <= 599 ? status : (status == 0 ? 503 : 502);
    const char *body = st == 503 ? "no healthy upstream\n" : "upstream refused the upgrade\n";
    gw_app_count_handshake(s->app, st);
    s->answered = true;
    hr_conn_respond(s->client, st, "text/plain; charset=utf-8", body, strlen(body), NULL);
}

static void up_close(hr_conn *up, int code)
{
    gw_ws *s = hr_conn_app_data(up);
    s->up_gone = true;
    gw_pool_conn_add(pool_of(s), (size_t)s->server, -1);
    if (s->client_gone) {
        maybe_free(s);
        return;
    }
    if (!s->opened) {
        const int status = hr_client_status(up);
        if (status == 0) {
            s->app->m->upstream_connect_failures++;
            gw_pool_report(pool_of(s), (size_t)s->server, false, true);
            hr_log(HR_LOG_WARN, "gateway", "upstream connect failed server=%s",
                   pool_of(s)->servers[s->server].addr.text);
            if (!s->app->draining && connect_next(s) == 0)
                return;
        }
        answer_failed_handshake(s, status);
        return;
    }
    const int mapped = gw_ws_map_upstream_close(code, s->app->draining);
    hr_conn_close(s->client, mapped, mapped == 1012 ? "upstream lost" : NULL);
}

static const hr_conn_callbacks up_callbacks = {
    .on_open = up_open,
    .on_message = up_message,
    .on_drain = up_drain,
    .on_close = up_close,
};

/* ---- client events ------------------------------------------------------- */

void gw_ws_client_open(hr_conn *c)
{
    gw_ws *s = hr_conn_app_data(c);
    s->t_open_ms = gw_app_now_ms(s->app);
    s->app->m->ws_active++;
    s->app->m->ws_total++;
    s->rt->route_stats[s->route - s->rt->cfg->routes].ws_active++;
}

static bool over_rate(gw_ws *s)
{
    const uint64_t now = gw_app_now_ms(s->app);
    if (now - s->win_start_ms >= 1000) {
        s->win_start_ms = now;
        s->win_count = 0;
    }
    return ++s->win_count > s->route->messages_per_s;
}

void gw_ws_client_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    gw_ws *s = hr_conn_app_data(c);
    if (s->up == NULL || s->up_gone)
        return;
    if (len > s->route->max_message_bytes) {
        hr_conn_close(c, 1009, "message too big");
        return;
    }
    if (over_rate(s)) {
        hr_conn_close(c, 1008, "message rate exceeded");
        return;
    }
    s->frames_up++;
    s->bytes_up += len;
    s->app->m->frames_up++;
    s->app->m->bytes_up += len;
    if (hr_conn_send(s->up, opcode, data, len) != 0)
        return; /* upstream overflowing or closing: its on_close closes the client */
    apply_backpressure(s, s->up, c, &s->client_paused);
}

void gw_ws_client_drain(hr_conn *c)
{
    gw_ws *s = hr_conn_app_data(c);
    if (s->up_paused && s->up != NULL && !s->up_gone) {
        s->up_paused = false;
        hr_conn_pause(s->up, false);
    }
}

static void log_close(gw_ws *s, int code)
{
    if (!s->rt->cfg->access_log)
        return;
    const gw_pool *pool = pool_of(s);
    const uint64_t now = gw_app_now_ms(s->app);
    gw_alog_rec rec = {
        .kind = "ws",
        .client = s->peer_text,
        .path = s->target,
        .path_len = s->target != NULL ? gw_route_path_len(s->target, strlen(s->target)) : 0,
        .route = s->route->path,
        .upstream = pool->cfg->name,
        .server = s->server >= 0 ? pool->servers[s->server].addr.text : NULL,
        .status = s->opened ? 101 : 503,
        .close_code = s->opened ? code : 0,
        .duration_ms = (double)(now - s->t_start_ms),
        .bytes_in = s->bytes_up,
        .bytes_out = s->bytes_down,
        .request_id = s->request_id,
        .user = s->user[0] != '\0' ? s->user : NULL,
    };
    gw_alog_write(&rec);
}

void gw_ws_client_close(hr_conn *c, int code)
{
    gw_ws *s = hr_conn_app_data(c);
    s->client_gone = true;
    s->app->ws_open--;
    if (s->ip_counted)
        gw_iptable_conn_close(&s->app->ips, peer_sa(s));
    if (s->t_open_ms != 0) {
        s->app->m->ws_active--;
        s->rt->route_stats[s->route - s->rt->cfg->routes].ws_active--;
        gw_app_count_close(s->app, code);
    }
    if (s->opened || s->answered)
        log_close(s, code);
    hr_conn *up = s->up;
    if (up == NULL || s->up_gone) {
        maybe_free(s);
        return;
    }
    if (s->opened)
        hr_conn_close(up, s->app->draining || code == 1001 ? 1001 : 1000, NULL);
    else
        hr_conn_abort(up);
}

int gw_ws_map_upstream_close(int code, bool draining)
{
    if (code == 1001 && draining)
        return 1001;
    if (code == 1000 || code == 1008 || code == 1009 || code == 1011 || code == 1013 ||
        (code >= 3000 && code <= 4999))
        return code;
    return 1012;
}

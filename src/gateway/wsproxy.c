/* WebSocket proxying (SPEC §4): edge checks before the upgrade, the upstream
 * connection with retries, then a message relay with the gateway's own
 * limits (size 1009, rate 1008), keepalive pings to clients (lib/net answers
 * and sends pings itself, so pongs are never forwarded), and backpressure
 * both ways: when one side's send queue passes limits.send_queue_bytes we
 * stop reading the other side until the queue drains (on_drain).
 *
 * Subprotocols: the client's Sec-WebSocket-Protocol offer goes upstream
 * with the other headers, and the upstream's choice (if any) is relayed in
 * the client's 101; herald-link upstreams select none.
 *
 * Close rules: client gone -> upstream closed (1000, or 1001 while
 * draining); upstream lost -> client closed with gw_ws_map_upstream_close(),
 * with the upstream's reason text when that code is the upstream's own
 * (gw_ws_relay_reason). The gateway's own closes carry their own reasons.
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
#include "route.h"
#include "public.h"
#include "proto/utf8.h"
#include "proto/ws_frame.h"
#include "refresh.h"
#include "transform.h"
#include "upstream.h"

typedef struct gw_ws {
    uint8_t kind; /* GW_KIND_WS: app data tag */
    gw_app *app;
    gw_runtime *rt;
    const gw_route_cfg *route;
    hr_conn *client;
    gw_upstream up; /* empty before a connect and once closed or ended */
    gw_tconn *tc;   /* the route's script state (transform.h), NULL: no script */
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
    size_t owed_credit; /* payload handed to the client, not yet given back (ops->credit) */
    int close_code;
    bool tls;
    bool ip_counted, opened, client_gone, client_paused, up_paused, answered;
} gw_ws;

static const gw_upstream_events up_events;

static const struct sockaddr *peer_sa(const gw_ws *s)
{
    return (const struct sockaddr *)(const void *)&s->peer;
}

static void maybe_free(gw_ws *s)
{
    if (!s->client_gone || gw_upstream_is_set(&s->up))
        return;
    gw_tconn_free(s->tc);
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
    if (gw_app_ws_claimed(app) >= lim->max_connections)
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
    const gw_limits *lim = &s->rt->cfg->limits;
    const gw_upstream_req req = {
        .target = s->target,
        .headers = s->headers,
        .peer = s->peer_text,
        .connect_timeout_ms = (uint32_t)lim->upstream_connect_timeout_ms,
        .queue_limit = lim->send_queue_bytes,
    };
    bool too_old = false; /* WebSocket sessions go to every link version */
    return gw_upstream_open_next(&s->up, s->app, pool, s->user, s->tried, &s->server, &req,
                                 &up_events, s, &too_old);
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
        static char body[HR_TOKEN_REFUSAL_CAP]; /* read by lib/net before the next upgrade */
        return refuse(app, reply, 401, hr_token_refusal(why, body, sizeof body));
    }
    return 0;
}

/* The route's script sees the upgrade (on_connect): refuse with its status,
 * or accept, maybe adding upstream headers. Returns 0 to go on, or the
 * status answered. */
static int transform_connect(gw_ws *s, const hr_http_head *head, const hr_identity *id,
                             hr_upgrade_reply *reply)
{
    const char *q = memchr(head->target, '?', head->target_len);
    const size_t plen = q != NULL ? (size_t)(q - head->target) : head->target_len;
    char ip[64];
    snprintf(ip, sizeof ip, "%s", s->peer_text);
    char *colon = strrchr(ip, ':');
    if (colon != NULL && ip[0] != '[')
        *colon = '\0';
    const gw_treq req = {
        .path = head->target,
        .path_len = plen,
        .query = q != NULL ? q + 1 : NULL,
        .query_len = q != NULL ? head->target_len - plen - 1 : 0,
        .headers = head->headers,
        .n_headers = head->n_headers,
        .ip = ip,
        .user = id->user,
        .id = s->request_id,
        .channels = (const char *const *)id->channels,
        .n_channels = id->n_channels,
    };
    gw_tconnect v;
    if (gw_transform_connect(s->app->transform, s->route, &req, &s->tc, &v) != 0)
        return refuse(s->app, reply, 503, "out of memory\n");
    if (v.refuse) {
        static _Thread_local char text[sizeof v.text];
        memcpy(text, v.text, sizeof text);
        return refuse(s->app, reply, v.status, text);
    }
    if (v.headers != NULL) {
        char *merged = gw_transform_merge_headers(s->headers, v.headers);
        free(v.headers);
        if (merged == NULL)
            return refuse(s->app, reply, 503, "out of memory\n");
        free(s->headers);
        s->headers = merged;
    }
    return 0;
}

static int start(gw_app *app, hr_conn *client, const hr_http_head *head, const gw_route_cfg *r,
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
    if (rc == 0 && r->script != NULL) {
        st = transform_connect(s, head, &id, reply);
        if (st != 0) {
            hr_identity_deinit(&id);
            s->client_gone = true;
            maybe_free(s);
            gw_iptable_conn_close(&app->ips, gw_app_peer(app, client, NULL));
            return st;
        }
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
    app->m->ws_claimed = app->ws_open;
    hr_conn_set_app_data(client, s);
    return HR_CONN_UPGRADE_DEFER;
}

/* An upgrade refused at the edge gets its access-log line here, with the
 * refusal's text as "error" (the token's reason for a 401). */
static void log_refusal(gw_app *app, hr_conn *client, const hr_http_head *head,
                        const gw_route_cfg *r, int status, const hr_upgrade_reply *reply)
{
    if (!app->rt->cfg->access_log)
        return;
    char peer[64];
    char rid[132] = "";
    if (!gw_edge_client_request_id(head, rid, sizeof rid))
        gw_app_request_id(app, rid, sizeof rid);
    gw_alog_rec rec = {
        .kind = "ws",
        .client = gw_app_peer_text(app, client, peer, sizeof peer),
        .path = head->target,
        .path_len = gw_route_path_len(head->target, head->target_len),
        .route = r->path,
        .status = status,
        .request_id = rid,
        .error = reply->body,
        .error_len = reply->body != NULL ? reply->body_len : 0,
    };
    gw_alog_write(&rec);
}

int gw_ws_start(gw_app *app, hr_conn *client, const hr_http_head *head, const gw_route_cfg *r,
                hr_upgrade_reply *reply)
{
    const int st = start(app, client, head, r, reply);
    if (st >= 400)
        log_refusal(app, client, head, r, st, reply);
    return st;
}

/* ---- upstream events (upstream.h) ------------------------------------------ */

/* Closes the upstream side, which then reports nothing more. */
static void close_upstream(gw_ws *s, int code)
{
    if (!gw_upstream_is_set(&s->up))
        return;
    gw_pool_conn_add(pool_of(s), (size_t)s->server, -1);
    gw_upstream_close(&s->up, code);
}

static void up_open(void *arg)
{
    gw_ws *s = arg;
    s->opened = true;
    gw_pool_report(pool_of(s), (size_t)s->server, true, true);
    const double ms = (double)(gw_app_now_ms(s->app) - s->t_start_ms);
    gw_app_observe_latency(s->app, ms);
    if (s->client_gone) {
        close_upstream(s, 1001);
        maybe_free(s);
        return;
    }
    s->answered = true;
    gw_app_count_handshake(s->app, 101);
    /* Relay only what the upstream chose: hr_client already checked it
     * against the client's offer (forwarded as is), per RFC 6455 §4.1. */
    const hr_upgrade_reply reply = {.protocol = gw_upstream_protocol(&s->up)};
    if (hr_conn_upgrade_accept(s->client, &reply) != 0)
        close_upstream(s, 1001);
}

/* Counts one message toward the client; false when the client is gone. */
static bool count_down(gw_ws *s, size_t len)
{
    if (s->client_gone || !hr_conn_is_open(s->client))
        return false;
    s->frames_down++;
    s->bytes_down += len;
    s->app->m->frames_down++;
    s->app->m->bytes_down += len;
    return true;
}

/* Gives the upstream back what the client took (a no-op for transports
 * without a window). The transport owns it from here: a CREDIT it cannot
 * write yet stays owed there. */
static void return_credit(gw_ws *s)
{
    gw_upstream_credit(&s->up, s->owed_credit);
    s->owed_credit = 0;
}

/* After a message of len payload bytes (as received) left for the client:
 * credit while the client keeps up, pause the upstream while its queue is
 * full; both resume in gw_ws_client_drain. */
static void relayed_down(gw_ws *s, size_t len)
{
    if (!gw_upstream_is_set(&s->up))
        return;
    s->owed_credit += len;
    const size_t queued = hr_conn_queued_bytes(s->client);
    const size_t bound = s->rt->cfg->limits.send_queue_bytes;
    if (queued >= bound) {
        if (!s->up_paused) {
            s->up_paused = true;
            gw_upstream_pause(&s->up, true);
        }
    } else if (queued < bound / 2) {
        return_credit(s);
    }
}

/* Queues m to the client: a message for this session alone as the
 * connection's own frame (compressed with its own context), a shared one
 * as the frames built once per message (a reference each, no copy).
 * Returns 0, or non-zero when the client is being closed (1013 on
 * overflow, 1011 out of memory; its on_close follows). */
static int send_down(gw_ws *s, gw_upmsg *m)
{
    if (!m->shared)
        return hr_conn_send(s->client, m->opcode, m->data, m->len);
    hr_msg *plain = gw_upmsg_plain(m);
    if (plain == NULL) {
        hr_conn_close(s->client, 1011, "out of memory");
        return HR_ENOMEM;
    }
    hr_msg *deflated =
        hr_conn_has_deflate(s->client) ? gw_upmsg_deflated(m, &s->app->deflater) : NULL;
    return hr_conn_send_event(s->client, plain, deflated);
}

/* The one path down, for every transport. The transformation layer's seam
 * is here, between count_down and relayed_down: it may pick another frame
 * for this connection's view (send that instead of send_down) or drop the
 * message (send nothing), but relayed_down always gets m->len, the length
 * the upstream sent, so the herald-link window never leaks (upstream.h). */
static void up_message(void *arg, gw_upmsg *m)
{
    gw_ws *s = arg;
    if (!count_down(s, m->len))
        return;
    gw_tout out = {0};
    const gw_tdo what = s->tc != NULL ? gw_transform_down(s->tc, s->client, m, &out) : GW_T_PASS;
    if (what == GW_T_CLOSED || (what == GW_T_PASS && send_down(s, m) != 0))
        return;
    if (what == GW_T_SEND) { /* on_server_message answered the upstream */
        (void)gw_upstream_send(&s->up, out.opcode, (const uint8_t *)out.p, out.len);
        free(out.p);
    }
    relayed_down(s, m->len);
}

static void up_drain(void *arg)
{
    gw_ws *s = arg;
    if (s->client_paused && !s->client_gone) {
        s->client_paused = false;
        hr_conn_pause(s->client, false);
    }
}

static void up_pause(void *arg, bool pause)
{
    gw_ws *s = arg;
    if (!s->client_gone && s->client_paused != pause) {
        s->client_paused = pause;
        hr_conn_pause(s->client, pause);
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

/* The upstream side ended. Before it opened: status 0 is retried on another
 * server, anything else answers the client with that status. */
static void up_close(void *arg, const gw_upstream_end *end)
{
    gw_ws *s = arg;
    const bool opened = end->opened;
    const int status = end->status;
    s->up = (gw_upstream){NULL, NULL};
    gw_pool_conn_add(pool_of(s), (size_t)s->server, -1);
    if (s->client_gone) {
        maybe_free(s);
        return;
    }
    if (!opened) {
        if (status == 0) {
            s->app->m->upstream_connect_failures++;
            gw_pool_report(pool_of(s), (size_t)s->server, false, true);
            if (!s->app->draining && connect_next(s) == 0)
                return;
        }
        answer_failed_handshake(s, status);
        return;
    }
    const int mapped = gw_ws_map_upstream_close(end->code, s->app->draining);
    char buf[GW_WS_REASON_CAP];
    const char *why = gw_ws_relay_reason(end->code, mapped, end->reason, end->reason_len, buf);
    if (mapped == 1012)
        why = "upstream lost";
    hr_conn_close(s->client, mapped, why);
}

static const gw_upstream_events up_events = {
    .on_open = up_open,
    .on_message = up_message,
    .on_drain = up_drain,
    .on_pause = up_pause,
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

/* A refresh on a route whose tokens the gateway verifies is answered here
 * (refresh.h). Returns true when the message is dealt with; else *alt may
 * hold the message to send up in its place (caller frees). */
static bool intercept_refresh(gw_ws *s, int opcode, const uint8_t **data, size_t *len, char **alt)
{
    *alt = NULL;
    if (opcode != HR_WS_OP_TEXT || !s->rt->cfg->jwt.enabled || s->route->auth == GW_AUTH_NONE)
        return false;
    size_t alen = 0;
    const int v =
        gw_refresh_rewrite(&s->rt->tok, s->user, *data, *len, (int64_t)time(NULL), alt, &alen);
    if (v == HR_ENOMEM) {
        hr_conn_close(s->client, 1011, "out of memory");
        return true;
    }
    if (v == GW_REFRESH_DOWN) {
        hr_conn_send(s->client, HR_WS_OP_TEXT, *alt, alen);
        free(*alt);
        *alt = NULL;
        return true;
    }
    if (v == GW_REFRESH_UP) {
        *data = (const uint8_t *)*alt;
        *len = alen;
    }
    return false;
}

void gw_ws_client_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    gw_ws *s = hr_conn_app_data(c);
    if (!gw_upstream_is_set(&s->up))
        return;
    if (len > s->route->max_message_bytes) {
        hr_conn_close(c, 1009, "message too big");
        return;
    }
    if (over_rate(s)) {
        hr_conn_close(c, 1008, "message rate exceeded");
        return;
    }
    gw_tout out = {0};
    const gw_tdo what =
        s->tc != NULL ? gw_transform_up(s->tc, c, opcode, data, len, &out) : GW_T_PASS;
    if (what == GW_T_DONE || what == GW_T_CLOSED)
        return;
    if (what == GW_T_SEND) {
        opcode = out.opcode;
        data = (const uint8_t *)out.p;
        len = out.len;
    }
    /* On what goes up, so nothing but the gateway's own identity form of
     * a refresh ever reaches the notifier on a verifying route. */
    char *alt = NULL;
    if (intercept_refresh(s, opcode, &data, &len, &alt)) {
        free(out.p);
        return;
    }
    s->frames_up++;
    s->bytes_up += len;
    s->app->m->frames_up++;
    s->app->m->bytes_up += len;
    const int rc = gw_upstream_send(&s->up, opcode, data, len);
    free(out.p);
    free(alt);
    if (rc == HR_ETOOBIG) {
        hr_conn_close(c, 1013, "upstream link overloaded");
    } else if (rc == GW_UPSTREAM_FULL && !s->client_paused) {
        s->client_paused = true; /* until up_drain */
        hr_conn_pause(c, true);
    }
    /* another error: the upstream is closing, its on_close closes the client */
}

void gw_ws_client_drain(hr_conn *c)
{
    gw_ws *s = hr_conn_app_data(c);
    if (!gw_upstream_is_set(&s->up))
        return;
    return_credit(s);
    if (s->up_paused) {
        s->up_paused = false;
        gw_upstream_pause(&s->up, false);
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
    s->app->m->ws_claimed = s->app->ws_open;
    if (s->ip_counted)
        gw_iptable_conn_close(&s->app->ips, peer_sa(s));
    if (s->t_open_ms != 0) {
        s->app->m->ws_active--;
        s->rt->route_stats[s->route - s->rt->cfg->routes].ws_active--;
        gw_app_count_close(s->app, code);
    }
    if (s->opened || s->answered)
        log_close(s, code);
    close_upstream(s, s->app->draining || code == 1001 ? 1001 : 1000);
    maybe_free(s);
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

const char *gw_ws_relay_reason(int code, int mapped, const uint8_t *reason, size_t len, char *out)
{
    if (code != mapped || reason == NULL || len == 0 || len > GW_WS_REASON_CAP - 1)
        return NULL;
    if (memchr(reason, '\0', len) != NULL || !hr_utf8_valid(reason, len))
        return NULL; /* hr_conn_close takes C text; a NUL would cut it short */
    memcpy(out, reason, len);
    out[len] = '\0';
    return out;
}

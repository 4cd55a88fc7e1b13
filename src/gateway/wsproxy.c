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
 * draining); upstream lost -> client closed with gw_ws_map_upstream_close().
 * Freeing: the session goes when both connections have reported on_close;
 * after any call that may close the other side synchronously we return at
 * once without touching the session again. */
#include "wsproxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alog.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "edge.h"
#include "net/client.h"
#include "route.h"
#include "public.h"
#include "uplink.h"

typedef struct gw_ws {
    uint8_t kind; /* GW_KIND_WS: app data tag */
    gw_app *app;
    gw_runtime *rt;
    const gw_route_cfg *route;
    hr_conn *client;
    hr_conn *up;
    gw_usess *link; /* instead of up, for herald-link upstreams */
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
    size_t owed_credit; /* herald-link: payload handed to the client, not yet credited */
    int close_code;
    bool tls;
    bool ip_counted, opened, client_gone, up_gone, client_paused, up_paused, answered;
} gw_ws;

static const hr_conn_callbacks up_callbacks;
static const gw_usess_callbacks link_callbacks;

static const struct sockaddr *peer_sa(const gw_ws *s)
{
    return (const struct sockaddr *)(const void *)&s->peer;
}

static void maybe_free(gw_ws *s)
{
    if (!s->client_gone || ((s->up != NULL || s->link != NULL) && !s->up_gone))
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

/* Fills o from the prepared target and header block ("Name: value\r\n"
 * lines, NUL-terminated); X-Herald-User / X-Herald-Channels also become the
 * OPEN identity. Views point into s. Headers past HR_LINK_MAX_HEADERS are
 * dropped (the block holds about ten). */
static void link_open_fields(gw_ws *s, hr_link_open *o)
{
    memset(o, 0, sizeof *o);
    o->peer = hr_link_str_of(s->peer_text);
    o->target = hr_link_str_of(s->target);
    const char *p = s->headers;
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

static int open_link(gw_ws *s, const gw_addr *addr)
{
    hr_link_open o;
    link_open_fields(s, &o);
    s->up = NULL;
    s->link = NULL;
    s->up_gone = false;
    return gw_usess_open(s->app->links, addr, &o, &link_callbacks, s, &s->link);
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
        if (pool->cfg->link) {
            if (open_link(s, &pool->servers[i].addr) == 0) {
                gw_pool_conn_add(pool, (size_t)i, 1);
                return 0;
            }
            s->app->m->upstream_connect_failures++;
            gw_pool_report(pool, (size_t)i, false, true);
            continue;
        }
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
    app->m->ws_claimed = app->ws_open;
    hr_conn_set_app_data(client, s);
    return HR_CONN_UPGRADE_DEFER;
}

/* ---- upstream events ------------------------------------------------------ */

static void close_upstream(gw_ws *s, int code)
{
    if (s->link != NULL) {
        if (!s->up_gone) {
            s->up_gone = true;
            gw_pool_conn_add(pool_of(s), (size_t)s->server, -1);
            gw_usess_close(s->link, code);
        }
        return;
    }
    hr_conn_close(s->up, code, NULL);
}

static void upstream_opened(gw_ws *s)
{
    s->opened = true;
    gw_pool_report(pool_of(s), (size_t)s->server, true, true);
    const double ms = (double)(gw_app_now_ms(s->app) - s->t_start_ms);
    gw_app_observe_latency(s->app, ms);
    if (s->client_gone) {
        close_upstream(s, 1001);
        maybe_free(s); /* a link session gets no on_close after this */
        return;
    }
    s->answered = true;
    gw_app_count_handshake(s->app, 101);
    /* Relay only what the upstream chose: hr_client already checked it
     * against the client's offer (forwarded as is), per RFC 6455 §4.1. */
    const hr_upgrade_reply reply = {.protocol = s->up != NULL ? hr_client_protocol(s->up) : NULL};
    if (hr_conn_upgrade_accept(s->client, &reply) != 0)
        close_upstream(s, 1001);
}

static void up_open(hr_conn *up)
{
    upstream_opened(hr_conn_app_data(up));
}

static void apply_backpressure(gw_ws *s, hr_conn *target, hr_conn *source, bool *paused)
{
    if (!*paused && hr_conn_queued_bytes(target) >= s->rt->cfg->limits.send_queue_bytes) {
        *paused = true;
        hr_conn_pause(source, true);
    }
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

/* After a message was queued toward the client: backpressure on the
 * upstream connection, or CREDIT for a herald-link session. */
static void relayed_down(gw_ws *s, hr_conn *up, size_t len)
{
    if (up != NULL) {
        apply_backpressure(s, s->client, up, &s->up_paused);
        return;
    }
    /* herald-link: return the window now while the client keeps up, else
     * once its queue drained (gw_ws_client_drain). */
    s->owed_credit += len;
    if (hr_conn_queued_bytes(s->client) < s->rt->cfg->limits.send_queue_bytes / 2) {
        gw_usess_credit(s->link, s->owed_credit);
        s->owed_credit = 0;
    }
}

static void upstream_message(gw_ws *s, hr_conn *up, int opcode, const uint8_t *data, size_t len)
{
    if (!count_down(s, len))
        return;
    if (hr_conn_send(s->client, opcode, data, len) != 0)
        return; /* the client is being closed (1013 on overflow); its on_close follows */
    relayed_down(s, up, len);
}

static void up_message(hr_conn *up, int opcode, const uint8_t *data, size_t len)
{
    upstream_message(hr_conn_app_data(up), up, opcode, data, len);
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

/* ---- herald-link upstream events ------------------------------------------ */

static void link_open(void *arg)
{
    upstream_opened(arg);
}

static void link_message(void *arg, int opcode, const uint8_t *data, size_t len)
{
    upstream_message(arg, NULL, opcode, data, len);
}

/* A broadcast (BCAST) message: the same frame, and deflated twin, for every
 * client it lists; this client's queue takes a reference, no copy. */
static void link_shared(void *arg, gw_ushared *sh, size_t len)
{
    gw_ws *s = arg;
    if (!count_down(s, len))
        return;
    hr_msg *plain = gw_ushared_plain(sh);
    if (plain == NULL) {
        hr_conn_close(s->client, 1011, "out of memory");
        return;
    }
    hr_msg *deflated = hr_conn_has_deflate(s->client) ? gw_ushared_deflated(sh) : NULL;
    if (hr_conn_send_event(s->client, plain, deflated) != 0)
        return; /* being closed (1013 on overflow); its on_close follows */
    relayed_down(s, NULL, len);
}

static void link_pause(void *arg, bool pause)
{
    gw_ws *s = arg;
    if (!s->client_gone && s->client_paused != pause) {
        s->client_paused = pause;
        hr_conn_pause(s->client, pause);
    }
}

/* Before the first message: 4000 + status is a refusal with that HTTP
 * status; 1006 (link lost or connect failed) is retried on another server. */
static void link_refused(gw_ws *s, int code)
{
    if (code == 1006) {
        s->app->m->upstream_connect_failures++;
        gw_pool_report(pool_of(s), (size_t)s->server, false, true);
        if (!s->app->draining && connect_next(s) == 0)
            return;
        answer_failed_handshake(s, 0);
        return;
    }
    answer_failed_handshake(s, code >= 4400 && code <= 4599 ? code - 4000 : 502);
}

static void link_close(void *arg, int code, bool opened)
{
    gw_ws *s = arg;
    s->up_gone = true;
    gw_pool_conn_add(pool_of(s), (size_t)s->server, -1);
    if (s->client_gone) {
        maybe_free(s);
        return;
    }
    if (!opened) {
        link_refused(s, code);
        return;
    }
    const int mapped = gw_ws_map_upstream_close(code, s->app->draining);
    hr_conn_close(s->client, mapped, mapped == 1012 ? "upstream lost" : NULL);
}

static const gw_usess_callbacks link_callbacks = {
    .on_open = link_open,
    .on_message = link_message,
    .on_shared = link_shared,
    .on_pause = link_pause,
    .on_close = link_close,
};

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
    if ((s->up == NULL && s->link == NULL) || s->up_gone)
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
    if (s->link != NULL) {
        if (gw_usess_send(s->link, opcode, data, len) != 0)
            hr_conn_close(c, 1013, "upstream link overloaded");
        return;
    }
    if (hr_conn_send(s->up, opcode, data, len) != 0)
        return; /* upstream overflowing or closing: its on_close closes the client */
    apply_backpressure(s, s->up, c, &s->client_paused);
}

void gw_ws_client_drain(hr_conn *c)
{
    gw_ws *s = hr_conn_app_data(c);
    if (s->link != NULL && !s->up_gone) {
        gw_usess_credit(s->link, s->owed_credit);
        s->owed_credit = 0;
    } else if (s->up_paused && s->up != NULL && !s->up_gone) {
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
    if (s->link != NULL) {
        close_upstream(s, s->app->draining || code == 1001 ? 1001 : 1000);
        maybe_free(s);
        return;
    }
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

/* SSE through a herald-link upstream (sselink.h): edge checks, a STREAM
 * session with retries over the pool's servers, then the answer relayed as
 * the notifier writes it. One owner frees the stream: whichever side ends
 * first closes the other (which then reports nothing) and frees it. */
#include "sselink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alog.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "edge.h"
#include "hproxy.h"
#include "public.h"
#include "route.h"
#include "upstream.h"

typedef struct gw_sse {
    uint8_t kind; /* GW_KIND_SSE: app data tag */
    gw_app *app;
    gw_runtime *rt;
    const gw_route_cfg *route;
    hr_conn *client;
    gw_upstream up; /* empty before a connect and once closed or ended */
    int server;
    bool *tried;
    char *target;
    char *headers;
    char user[HR_IDENTITY_USER_MAX + 1];
    char peer[64];
    char request_id[132];
    uint64_t t_start_ms;
    uint64_t bytes_down;
    size_t owed_credit; /* body handed to the client, not yet given back */
    int status;         /* the notifier's, once its head arrived */
    bool too_old;       /* a server could not take STREAM sessions (version < 4) */
    bool counted;       /* in the connection limits (release_limits) */
    bool sse_counted;   /* an event stream under way, in sse_active (finish) */
    struct sockaddr_storage peer_sa;
} gw_sse;

static const gw_upstream_events up_events;

static gw_pool *pool_of(const gw_sse *s)
{
    return &s->rt->pools[s->route->upstream];
}

static void log_done(gw_sse *s, int status, const char *error)
{
    if (!s->rt->cfg->access_log)
        return;
    const gw_pool *pool = pool_of(s);
    gw_alog_rec rec = {
        .kind = "sse",
        .client = s->peer,
        .method = "GET",
        .path = s->target,
        .path_len = gw_route_path_len(s->target, strlen(s->target)),
        .route = s->route->path,
        .upstream = pool->cfg->name,
        .server = s->server >= 0 ? pool->servers[s->server].addr.text : NULL,
        .status = status,
        .duration_ms = (double)(gw_app_now_ms(s->app) - s->t_start_ms),
        .bytes_out = s->bytes_down,
        .request_id = s->request_id,
        .user = s->user[0] != '\0' ? s->user : NULL,
        .error = error,
        .error_len = error != NULL ? strlen(error) : 0,
    };
    gw_alog_write(&rec);
}

/* ---- limits: a stream is a long-lived client, as a WebSocket is ---- */

/* handshakes_per_ip_per_s, max_connections, max_connections_per_ip.
 * Returns 0 (counted: release_limits undoes it) or the status to refuse
 * with, *why its text. */
static int claim_limits(gw_app *app, hr_conn *c, const char **why)
{
    const gw_limits *lim = &app->rt->cfg->limits;
    const struct sockaddr *sa = gw_app_peer(app, c, NULL);
    const int rate =
        gw_iptable_handshake(&app->ips, sa, gw_app_now_ms(app), lim->handshakes_per_ip_per_s);
    *why = rate == HR_ELIMIT ? "too many requests from this address\n" : "overloaded\n";
    if (rate != 0)
        return rate == HR_ELIMIT ? 429 : 503;
    *why = "too many connections\n";
    if (gw_app_ws_claimed(app) >= lim->max_connections)
        return 503;
    *why = "too many connections from this address\n";
    if (gw_iptable_conn_open(&app->ips, sa, lim->max_connections_per_ip) != 0)
        return 503;
    app->ws_open++;
    app->m->ws_claimed = app->ws_open;
    return 0;
}

static void unclaim(gw_app *app, const struct sockaddr *sa)
{
    app->ws_open--;
    app->m->ws_claimed = app->ws_open;
    gw_iptable_conn_close(&app->ips, sa);
}

static void release_limits(gw_sse *s)
{
    if (s->counted)
        unclaim(s->app, (const struct sockaddr *)&s->peer_sa);
    s->counted = false;
}

/* Detaches s from its client (which may serve another request after a
 * Content-Length answer) and frees it. */
static void finish(gw_sse *s, int status, const char *error)
{
    if (s->client != NULL)
        hr_conn_set_app_data(s->client, NULL);
    release_limits(s);
    if (s->sse_counted)
        s->app->m->sse_active--;
    s->sse_counted = false;
    log_done(s, status, error);
    gw_runtime_unref(s->rt);
    free(s->tried);
    free(s->target);
    free(s->headers);
    free(s);
}

static void close_upstream(gw_sse *s, int code)
{
    if (!gw_upstream_is_set(&s->up))
        return;
    gw_pool_conn_add(pool_of(s), (size_t)s->server, -1);
    gw_upstream_close(&s->up, code);
}

/* Answers the client with an error of our own, then frees s. */
static void answer(gw_sse *s, int status, const char *text)
{
    gw_app_count_status(s->app, status);
    char rid[160];
    snprintf(rid, sizeof rid, "X-Request-Id: %s\r\n", s->request_id);
    hr_conn_respond(s->client, status, "text/plain; charset=utf-8", text, strlen(text), rid);
    finish(s, status, text);
}

/* ---- the STREAM session ---- */

/* Opens a session on the next healthy, untried server: 0, or HR_ELIMIT
 * when none is left. */
static int connect_next(gw_sse *s)
{
    gw_pool *pool = pool_of(s);
    const gw_limits *lim = &s->rt->cfg->limits;
    const gw_upstream_req req = {
        .target = s->target,
        .headers = s->headers,
        .peer = s->peer,
        .connect_timeout_ms = (uint32_t)lim->upstream_connect_timeout_ms,
        .queue_limit = lim->send_queue_bytes,
        .stream = true,
    };
    return gw_upstream_open_next(&s->up, s->app, pool, s->user, s->tried, &s->server, &req,
                                 &up_events, s, &s->too_old);
}

static void up_open(void *arg)
{
    gw_sse *s = arg;
    gw_pool_report(pool_of(s), (size_t)s->server, true, true);
}

/* The first message: the answer's head (and maybe body bytes after it). */
static int start_answer(gw_sse *s, const uint8_t *p, size_t len)
{
    hr_http_head head;
    const int n = hr_http_head_parse(p, len, true, NULL, &head);
    if (n <= 0 || head.status < 200) {
        hr_log(HR_LOG_WARN, "gateway",
               "herald-link stream: no whole response head in the first "
               "DATA (%d)",
               n);
        return HR_EPROTO;
    }
    hr_buf extra;
    hr_buf_init(&extra, 65536);
    int rc = gw_hproxy_response_headers(&head, &extra);
    char rid[160];
    const int rl = snprintf(rid, sizeof rid, "X-Request-Id: %s\r\n", s->request_id);
    if (rc == 0 && hr_http_head_find(&head, "X-Request-Id") == NULL)
        rc = hr_buf_append(&extra, rid, (size_t)rl);
    if (rc == 0)
        rc = hr_buf_append(&extra, "", 1);
    const hr_http_header *ct = hr_http_head_find(&head, "Content-Type");
    char ctype[256];
    snprintf(ctype, sizeof ctype, "%.*s",
             ct != NULL ? (int)(ct->value_len < 255 ? ct->value_len : 255) : 0,
             ct != NULL ? ct->value : "");
    if (rc == 0)
        rc = hr_conn_stream_start(
            s->client, head.status, ct != NULL ? ctype : NULL, (const char *)hr_buf_data(&extra),
            head.content_length >= 0 ? head.content_length : HR_CONN_STREAM_CLOSE);
    hr_buf_deinit(&extra);
    if (rc != 0)
        return rc;
    s->status = head.status;
    gw_app_count_status(s->app, head.status);
    if (gw_hproxy_is_event_stream(&head)) {
        s->sse_counted = true;
        s->app->m->sse_active++;
    }
    s->bytes_down += len - (size_t)n;
    return (size_t)n < len ? hr_conn_stream_write(s->client, p + n, len - (size_t)n) : 0;
}

/* Body bytes: a BCAST's shared block by reference, a DATA copied. */
static int relay(gw_sse *s, gw_upmsg *m)
{
    s->bytes_down += m->len;
    s->app->m->frames_down++;
    s->app->m->bytes_down += m->len;
    if (!m->shared)
        return hr_conn_stream_write(s->client, m->data, m->len);
    hr_msg *raw = gw_upmsg_raw(m);
    return raw != NULL ? hr_conn_stream_send_msg(s->client, raw) : HR_ENOMEM;
}

static void up_message(void *arg, gw_upmsg *m)
{
    gw_sse *s = arg;
    const int rc = s->status == 0 ? start_answer(s, m->data, m->len) : relay(s, m);
    if (rc != 0) {
        /* A bad head, or the client is gone, too slow (lib/net closes it)
         * or out of memory: the stream ends here. */
        hr_conn *c = s->client;
        close_upstream(s, 1011);
        if (s->status == 0 && rc == HR_EPROTO) {
            answer(s, 502, "bad gateway\n");
            return;
        }
        finish(s, s->status, rc == HR_ELIMIT ? "slow reader" : NULL);
        if (rc == HR_ENOMEM)
            hr_conn_abort(c);
        return;
    }
    s->owed_credit += m->len;
    if (hr_conn_queued_bytes(s->client) < s->rt->cfg->limits.send_queue_bytes / 2) {
        gw_upstream_credit(&s->up, s->owed_credit);
        s->owed_credit = 0;
    }
}

static void up_drain(void *arg)
{
    (void)arg; /* nothing goes up on a stream */
}

static void up_pause(void *arg, bool pause)
{
    (void)arg;
    (void)pause;
}

/* The notifier ended the answer (CLOSE), or the link is gone. */
static void up_close(void *arg, const gw_upstream_end *end)
{
    gw_sse *s = arg;
    const bool opened = end->opened;
    const int status = end->status;
    s->up = (gw_upstream){NULL, NULL};
    gw_pool_conn_add(pool_of(s), (size_t)s->server, -1);
    if (!opened) {
        if (status == 0) {
            s->app->m->upstream_connect_failures++;
            gw_pool_report(pool_of(s), (size_t)s->server, false, true);
            if (!s->app->draining && connect_next(s) == 0)
                return;
            answer(s, s->too_old ? 502 : 503,
                   s->too_old ? "bad gateway\n" : "no healthy upstream\n");
            return;
        }
        answer(s, status, status == 502 ? "bad gateway\n" : "upstream refused the stream\n");
        return;
    }
    hr_conn *c = s->client;
    const int st = s->status;
    finish(s, st, end->code == 1006 ? "upstream lost" : NULL);
    hr_conn_stream_end(c); /* a close-delimited stream closes after the flush */
}

static const gw_upstream_events up_events = {
    .on_open = up_open,
    .on_message = up_message,
    .on_drain = up_drain,
    .on_pause = up_pause,
    .on_close = up_close,
};

/* ---- the request ---- */

/* The upstream target and header block (kept for retries). */
static int prepare(gw_sse *s, const hr_http_head *h, const hr_identity *id)
{
    const size_t cap = h->target_len + 2;
    s->target = malloc(cap);
    if (s->target == NULL ||
        gw_route_rewrite(s->route, h->target, h->target_len, s->target, cap) == 0)
        return HR_ENOMEM;
    char ip[64];
    snprintf(ip, sizeof ip, "%s", s->peer);
    char *colon = strrchr(ip, ':');
    if (colon != NULL && ip[0] != '[')
        *colon = '\0';
    bool tls = false;
    gw_app_peer(s->app, s->client, &tls);
    hr_buf hb;
    hr_buf_init(&hb, (size_t)s->rt->cfg->limits.max_header_bytes + 4096);
    gw_edge_fwd fwd = {.id = id, .client_ip = ip, .tls = tls, .request_id = s->request_id};
    int rc = gw_edge_upstream_headers(h, &fwd, &hb);
    if (rc == 0)
        rc = hr_buf_append(&hb, "", 1);
    if (rc == 0 && (s->headers = malloc(hb.len)) == NULL)
        rc = HR_ENOMEM;
    if (rc == 0)
        memcpy(s->headers, hr_buf_data(&hb), hb.len);
    hr_buf_deinit(&hb);
    return rc;
}

static gw_sse *new_sse(gw_app *app, hr_conn *c, const hr_http_head *h, const gw_route_cfg *r)
{
    gw_sse *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->kind = GW_KIND_SSE;
    s->app = app;
    s->rt = gw_runtime_ref(app->rt);
    s->route = r;
    s->client = c;
    s->server = -1;
    s->t_start_ms = gw_app_now_ms(app);
    gw_app_peer_text(app, c, s->peer, sizeof s->peer);
    const struct sockaddr *sa = gw_app_peer(app, c, NULL);
    memcpy(&s->peer_sa, sa,
           sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    if (!gw_edge_client_request_id(h, s->request_id, sizeof s->request_id))
        gw_app_request_id(app, s->request_id, sizeof s->request_id);
    s->tried = calloc(pool_of(s)->n_servers, sizeof *s->tried);
    if (s->tried == NULL) {
        gw_runtime_unref(s->rt);
        free(s);
        return NULL;
    }
    return s;
}

void gw_sse_start(gw_app *app, hr_conn *c, const hr_http_head *h, const gw_route_cfg *r)
{
    if (h->method_len != 3 || memcmp(h->method_str, "GET", 3) != 0) {
        gw_hproxy_answer(app, c, h, r, 405, "GET only (an event stream over herald-link)\n");
        return;
    }
    if (app->draining) {
        gw_hproxy_answer(app, c, h, r, 503, "shutting down\n");
        return;
    }
    const char *limit = NULL;
    const int st = claim_limits(app, c, &limit);
    if (st != 0) {
        gw_hproxy_answer(app, c, h, r, st, limit);
        return;
    }
    hr_identity id;
    const char *why = NULL;
    const gw_runtime *rt = app->rt;
    const int auth = gw_edge_authenticate(rt->cfg->jwt.enabled ? &rt->tok : NULL, r->auth,
                                          rt->cfg->jwt.cookie, h, (int64_t)time(NULL), &id, &why);
    if (auth != 0) {
        unclaim(app, gw_app_peer(app, c, NULL));
        char text[HR_TOKEN_REFUSAL_CAP];
        gw_hproxy_answer(app, c, h, r, auth == HR_ENOMEM ? 503 : 401,
                         auth == HR_ENOMEM ? "out of memory\n"
                                           : hr_token_refusal(why, text, sizeof text));
        return;
    }
    gw_sse *s = new_sse(app, c, h, r);
    int rc = s != NULL ? 0 : HR_ENOMEM;
    if (s != NULL)
        s->counted = true; /* claimed above; finish() releases it */
    if (rc == 0 && id.user != NULL)
        snprintf(s->user, sizeof s->user, "%s", id.user);
    if (rc == 0)
        rc = prepare(s, h, &id);
    hr_identity_deinit(&id);
    if (rc == 0)
        rc = connect_next(s);
    if (rc != 0) {
        if (s == NULL) {
            unclaim(app, gw_app_peer(app, c, NULL));
            gw_hproxy_answer(app, c, h, r, 503, "out of memory\n");
            return;
        }
        if (s->too_old)
            hr_log(HR_LOG_WARN, "gateway",
                   "GET %s: no server of upstream %s takes SSE over "
                   "herald-link (version 4); answered 502",
                   s->target, pool_of(s)->cfg->name);
        answer(s, s->too_old ? 502 : 503,
               s->too_old        ? "bad gateway\n"
               : rc == HR_ELIMIT ? "no healthy upstream\n"
                                 : "out of memory\n");
        return;
    }
    hr_conn_set_app_data(c, s);
}

void gw_sse_client_drain(hr_conn *c)
{
    gw_sse *s = hr_conn_app_data(c);
    if (s == NULL || !gw_upstream_is_set(&s->up) || s->owed_credit == 0)
        return;
    gw_upstream_credit(&s->up, s->owed_credit);
    s->owed_credit = 0;
}

void gw_sse_client_close(hr_conn *c)
{
    gw_sse *s = hr_conn_app_data(c);
    if (s == NULL)
        return;
    s->client = NULL;
    hr_conn_set_app_data(c, NULL);
    close_upstream(s, s->app->draining ? 1001 : 1000);
    finish(s, s->status != 0 ? s->status : 499, NULL);
}

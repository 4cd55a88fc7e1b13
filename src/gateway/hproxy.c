/* HTTP proxying. The client's request arrives whole from lib/net (body
 * buffered up to its cap); we write one upstream request (HTTP/1.1,
 * keep-alive, Content-Length body) and stream the response back as it
 * arrives (SSE, long or chunked responses are never buffered whole): the
 * head as soon as it is read, with the upstream's Content-Length or else
 * chunked framing, then each body piece. While the client's queue holds
 * more than GW_HPROXY_PAUSE_BYTES the upstream is not read (resumed from
 * on_drain), so a slow client costs a bounded buffer. An event stream
 * (text/event-stream) is the connection's last answer: Connection: close.
 * A connect failure marks the server down (passive health) and tries the
 * next one; a failure after the request went out is 502 (not retried: the
 * request may not be idempotent); a timeout is 504. */
#include "hproxy.h"

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
#include "route.h"
#include "uphttp.h"
#include "public.h"

typedef struct gw_hreq {
    uint8_t kind; /* GW_KIND_HTTP */
    gw_app *app;
    gw_runtime *rt;
    const gw_route_cfg *route;
    hr_conn *client;
    gw_upreq *up;
    int server;
    bool *tried;
    uint8_t *req;
    size_t req_len;
    bool head_req;
    uint64_t t_start_ms;
    uint64_t bytes_in;
    char method[16];
    char *path;
    char request_id[132];
    char user[HR_IDENTITY_USER_MAX + 1];
    char peer[64];
    bool tls;
    int status;         /* the upstream's, once its head arrived */
    uint64_t bytes_out; /* body bytes relayed */
    bool paused;        /* upstream reads paused for backpressure */
    bool sse;           /* an event stream, counted in sse_active until freed */
} gw_hreq;

#define GW_HPROXY_PAUSE_BYTES ((size_t)256 << 10)

static void log_line(gw_app *app, hr_conn *c, const char *method, const char *path, size_t path_len,
                     const gw_route_cfg *r, const char *upstream, const char *server, int status,
                     uint64_t t0, uint64_t in, uint64_t out, const char *rid, const char *user,
                     const char *error)
{
    if (!app->rt->cfg->access_log)
        return;
    char peer[64];
    gw_alog_rec rec = {.kind = "http",
                       .client = gw_app_peer_text(app, c, peer, sizeof peer),
                       .method = method,
                       .path = path,
                       .path_len = path_len,
                       .route = r != NULL ? r->path : NULL,
                       .upstream = upstream,
                       .server = server,
                       .status = status,
                       .duration_ms = (double)(gw_app_now_ms(app) - t0),
                       .bytes_in = in,
                       .bytes_out = out,
                       .request_id = rid,
                       .user = user,
                       .error = error,
                       .error_len = error != NULL ? strlen(error) : 0};
    gw_alog_write(&rec);
}

void gw_hproxy_answer(gw_app *app, hr_conn *c, const hr_http_head *h, const gw_route_cfg *r,
                      int status, const char *text)
{
    gw_app_count_status(app, status);
    const size_t n = strlen(text);
    hr_conn_respond(c, status, "text/plain; charset=utf-8", text, n, NULL);
    char method[16];
    snprintf(method, sizeof method, "%.*s", (int)(h->method_len < 15 ? h->method_len : 15),
             h->method_str ? h->method_str : "");
    log_line(app, c, method, h->target, gw_route_path_len(h->target, h->target_len), r, NULL, NULL,
             status, gw_app_now_ms(app), 0, n, NULL, NULL, status >= 400 ? text : NULL);
}

/* Every end of an exchange comes here: the stream gauge goes down with it. */
static void free_hreq(gw_hreq *q)
{
    if (q->sse)
        q->app->m->sse_active--;
    gw_runtime_unref(q->rt);
    free(q->tried);
    free(q->req);
    free(q->path);
    free(q);
}

bool gw_hproxy_is_event_stream(const hr_http_head *resp)
{
    static const char want[] = "text/event-stream";
    const size_t n = sizeof want - 1;
    const hr_http_header *ct = hr_http_head_find(resp, "Content-Type");
    if (ct == NULL)
        return false;
    const char *v = ct->value;
    size_t len = ct->value_len;
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    if (len < n || strncasecmp(v, want, n) != 0)
        return false;
    return len == n || v[n] == ';' || v[n] == ' ' || v[n] == '\t';
}

int gw_hproxy_response_headers(const hr_http_head *resp, hr_buf *out)
{
    static const char *const skip[] = {"content-length", "content-type", "date", "server"};
    for (size_t i = 0; i < resp->n_headers; i++) {
        const hr_http_header *hd = &resp->headers[i];
        bool drop = gw_edge_is_hop_header(hd->name, hd->name_len);
        for (size_t k = 0; k < HR_ARRAY_LEN(skip) && !drop; k++)
            drop = hd->name_len == strlen(skip[k]) &&
                   strncasecmp(hd->name, skip[k], hd->name_len) == 0;
        if (!drop && hd->name_len < 64) {
            char name[64];
            memcpy(name, hd->name, hd->name_len);
            name[hd->name_len] = '\0';
            drop = hr_http_head_has_token(resp, "Connection", name);
        }
        if (drop)
            continue;
        const int rc = gw_edge_write_header(out, hd->name, hd->name_len, hd->value, hd->value_len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The relayed response headers plus X-Request-Id, NUL-terminated in *extra
 * (caller deinits), and the Content-Type into ctype (NULL when none).
 * Returns 0, HR_ETOOBIG or HR_ENOMEM. */
static int relay_headers(const gw_hreq *q, const hr_http_head *resp, hr_buf *extra, char ctype[256],
                         const char **ct_out)
{
    hr_buf_init(extra, 65536);
    const hr_http_header *ct = resp != NULL ? hr_http_head_find(resp, "Content-Type") : NULL;
    snprintf(ctype, 256, "%.*s", ct ? (int)(ct->value_len < 255 ? ct->value_len : 255) : 0,
             ct ? ct->value : "");
    *ct_out = resp == NULL ? "text/plain; charset=utf-8" : (ct ? ctype : NULL);
    int rc = resp != NULL ? gw_hproxy_response_headers(resp, extra) : 0;
    if (rc == 0 && (resp == NULL || hr_http_head_find(resp, "X-Request-Id") == NULL)) {
        char rid[160];
        const int n = snprintf(rid, sizeof rid, "X-Request-Id: %s\r\n", q->request_id);
        rc = hr_buf_append(extra, rid, (size_t)n);
    }
    return rc == 0 ? hr_buf_append(extra, "", 1) : rc;
}

/* error: the text of an answer of our own (logged as "error"), or NULL. */
static void log_done(gw_hreq *q, int status, uint64_t bytes_out, const char *error)
{
    const gw_pool *pool = &q->rt->pools[q->route->upstream];
    log_line(q->app, q->client, q->method, q->path, strlen(q->path), q->route, pool->cfg->name,
             q->server >= 0 ? pool->servers[q->server].addr.text : NULL, status, q->t_start_ms,
             q->bytes_in, bytes_out, q->request_id, q->user[0] ? q->user : NULL, error);
}

/* Answers with an error of our own (no upstream response to relay). */
static void respond(gw_hreq *q, int status)
{
    hr_conn *c = q->client;
    hr_conn_set_app_data(c, NULL);
    gw_app_count_status(q->app, status);
    const char *text = status == 503   ? "no healthy upstream\n"
                       : status == 504 ? "upstream timed out\n"
                                       : "bad gateway\n";
    hr_buf extra;
    char ctype[256];
    const char *ct;
    const int rc = relay_headers(q, NULL, &extra, ctype, &ct);
    hr_conn_respond(c, status, ct, text, strlen(text),
                    rc == 0 ? (const char *)hr_buf_data(&extra) : NULL);
    hr_buf_deinit(&extra);
    log_done(q, status, strlen(text), text);
    free_hreq(q);
}

/* ---- the streamed response ---- */

static void on_body(void *arg, const uint8_t *p, size_t len)
{
    gw_hreq *q = arg;
    q->bytes_out += len;
    if (hr_conn_stream_write(q->client, p, len) != 0) {
        /* The client is gone, closed as too slow, or out of memory: stop
         * reading for it and drop it (its on_close finds nothing to do). */
        hr_conn *c = q->client;
        gw_upreq_cancel(q->up);
        q->up = NULL;
        hr_conn_set_app_data(c, NULL);
        log_done(q, q->status, q->bytes_out, NULL);
        free_hreq(q);
        hr_conn_abort(c);
        return;
    }
    if (!q->paused && hr_conn_queued_bytes(q->client) > GW_HPROXY_PAUSE_BYTES) {
        q->paused = true;
        gw_upreq_pause(q->up, true);
    }
}

static void on_end(void *arg, int err)
{
    gw_hreq *q = arg;
    hr_conn *c = q->client;
    q->up = NULL;
    hr_conn_set_app_data(c, NULL);
    log_done(q, q->status, q->bytes_out, NULL);
    free_hreq(q);
    if (err == 0) {
        hr_conn_stream_end(c);
        return;
    }
    /* A cut body must look cut to the client too. */
    hr_log(HR_LOG_WARN, "gateway", "upstream response cut err=%s", hr_err_str(err));
    hr_conn_abort(c);
}

static const gw_upstream_body_cb body_cbs = {.on_body = on_body, .on_end = on_end};

/* The upstream's head arrived: relay it and let the body stream. */
static void start_stream(gw_hreq *q, const hr_http_head *head)
{
    hr_buf extra;
    char ctype[256];
    const char *ct;
    int rc = relay_headers(q, head, &extra, ctype, &ct);
    const int64_t length =
        head->chunked || head->content_length < 0 ? HR_CONN_STREAM_CHUNKED : head->content_length;
    const bool sse = !q->head_req && gw_hproxy_is_event_stream(head);
    /* No request follows an event stream (EventSource reconnects on a new
     * connection): the answer says Connection: close and the connection
     * closes when the stream ends, as over herald-link. */
    if (rc == 0 && sse)
        hr_conn_close(q->client, 1000, NULL);
    if (rc == 0)
        rc = hr_conn_stream_start(q->client, head->status, ct, (const char *)hr_buf_data(&extra),
                                  length);
    hr_buf_deinit(&extra);
    if (rc != 0) {
        gw_upreq_cancel(q->up);
        q->up = NULL;
        respond(q, 502);
        return;
    }
    q->status = head->status;
    gw_app_count_status(q->app, head->status);
    if (sse) {
        q->sse = true;
        q->app->m->sse_active++;
    }
}

void gw_hproxy_client_drain(hr_conn *c)
{
    gw_hreq *q = hr_conn_app_data(c);
    if (q == NULL || q->kind != GW_KIND_HTTP || !q->paused)
        return;
    q->paused = false;
    gw_upreq_pause(q->up, false);
}

static int send_next(gw_hreq *q);

static void on_upstream(void *arg, int err, bool connected, const hr_http_head *head,
                        const uint8_t *body, size_t len)
{
    gw_hreq *q = arg;
    gw_pool *pool = &q->rt->pools[q->route->upstream];
    (void)body;
    (void)len;
    if (err == 0) {
        gw_pool_report(pool, (size_t)q->server, true, true);
        if (head->status >= 200) {
            start_stream(q, head);
            return;
        }
        gw_upreq_cancel(q->up); /* 1xx without asking: nothing to relay */
        q->up = NULL;
        respond(q, 502);
        return;
    }
    q->up = NULL;
    if (!connected) {
        q->app->m->upstream_connect_failures++;
        gw_pool_report(pool, (size_t)q->server, false, true);
        hr_log(HR_LOG_WARN, "gateway", "upstream connect failed server=%s err=%s",
               pool->servers[q->server].addr.text, hr_err_str(err));
        if (send_next(q) == 0)
            return;
        respond(q, 503);
        return;
    }
    respond(q, err == UV_ETIMEDOUT ? 504 : 502);
}

static int send_next(gw_hreq *q)
{
    gw_pool *pool = &q->rt->pools[q->route->upstream];
    for (;;) {
        const int i = gw_pool_pick(pool, q->user, strlen(q->user), q->tried);
        if (i < 0)
            return HR_ELIMIT;
        q->tried[i] = true;
        q->server = i;
        const int rc = gw_uphttp_stream(q->app->http, &pool->servers[i].addr, q->req, q->req_len,
                                        q->head_req, GW_HPROXY_MAX_RESPONSE, GW_HPROXY_TIMEOUT_MS,
                                        on_upstream, &body_cbs, q, &q->up);
        if (rc == 0)
            return 0;
        if (rc == HR_ENOMEM || rc == HR_ECLOSED)
            return rc;
    }
}

static bool method_has_body(const hr_http_head *h)
{
    static const char *const m[] = {"POST", "PUT", "PATCH"};
    for (size_t i = 0; i < HR_ARRAY_LEN(m); i++)
        if (h->method_len == strlen(m[i]) && memcmp(h->method_str, m[i], h->method_len) == 0)
            return true;
    return false;
}

/* Builds "METHOD target HTTP/1.1", Host, forwarded headers, body. */
static int build_request(gw_hreq *q, const hr_http_head *h, const hr_identity *id,
                         const uint8_t *body, size_t len)
{
    char *target = malloc(h->target_len + 2);
    if (target == NULL)
        return HR_ENOMEM;
    const size_t tl =
        gw_route_rewrite(q->route, h->target, h->target_len, target, h->target_len + 2);
    hr_buf b;
    hr_buf_init(&b, (size_t)q->rt->cfg->limits.max_header_bytes + 8192 + len);
    const hr_http_header *host = hr_http_head_find(h, "Host");
    char cl[48];
    int rc = tl == 0 ? HR_EINVAL : 0;
    rc = rc ? rc : hr_buf_append(&b, h->method_str, h->method_len);
    rc = rc ? rc : hr_buf_append(&b, " ", 1);
    rc = rc ? rc : hr_buf_append(&b, target, tl);
    rc = rc ? rc : hr_buf_append(&b, " HTTP/1.1\r\nHost: ", 17);
    rc = rc ? rc : hr_buf_append(&b, host ? host->value : "", host ? host->value_len : 0);
    rc = rc ? rc : hr_buf_append(&b, "\r\n", 2);
    char ip[64];
    snprintf(ip, sizeof ip, "%s", q->peer);
    char *colon = strrchr(ip, ':');
    if (colon != NULL && ip[0] != '[')
        *colon = '\0';
    gw_edge_fwd fwd = {.id = id, .client_ip = ip, .tls = q->tls, .request_id = q->request_id};
    rc = rc ? rc : gw_edge_upstream_headers(h, &fwd, &b);
    if (len > 0 || method_has_body(h)) {
        const int n = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", len);
        rc = rc ? rc : hr_buf_append(&b, cl, (size_t)n);
    }
    rc = rc ? rc : hr_buf_append(&b, "\r\n", 2);
    rc = rc ? rc : (len ? hr_buf_append(&b, body, len) : 0);
    free(target);
    if (rc == 0) {
        q->req = malloc(b.len);
        if (q->req == NULL)
            rc = HR_ENOMEM;
        else
            memcpy(q->req, hr_buf_data(&b), b.len);
        q->req_len = b.len;
    }
    hr_buf_deinit(&b);
    return rc;
}

static gw_hreq *new_hreq(gw_app *app, hr_conn *c, const hr_http_head *h, size_t len,
                         const gw_route_cfg *r)
{
    gw_hreq *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->kind = GW_KIND_HTTP;
    q->app = app;
    q->rt = gw_runtime_ref(app->rt);
    q->route = r;
    q->client = c;
    q->server = -1;
    q->bytes_in = len;
    q->t_start_ms = gw_app_now_ms(app);
    q->head_req = h->method_len == 4 && memcmp(h->method_str, "HEAD", 4) == 0;
    snprintf(q->method, sizeof q->method, "%.*s", (int)(h->method_len < 15 ? h->method_len : 15),
             h->method_str);
    gw_app_peer_text(app, c, q->peer, sizeof q->peer);
    gw_app_peer(app, c, &q->tls);
    if (!gw_edge_client_request_id(h, q->request_id, sizeof q->request_id))
        gw_app_request_id(app, q->request_id, sizeof q->request_id);
    const size_t pl = gw_route_path_len(h->target, h->target_len);
    q->path = strndup(h->target, pl);
    q->tried = calloc(q->rt->pools[r->upstream].n_servers, sizeof *q->tried);
    if (q->path == NULL || q->tried == NULL) {
        free_hreq(q);
        return NULL;
    }
    return q;
}

void gw_hproxy_start(gw_app *app, hr_conn *c, const hr_http_head *h, const uint8_t *body,
                     size_t len, const gw_route_cfg *r)
{
    hr_identity id;
    const char *why = NULL;
    const gw_runtime *rt = app->rt;
    const int auth = gw_edge_authenticate(rt->cfg->jwt.enabled ? &rt->tok : NULL, r->auth,
                                          rt->cfg->jwt.cookie, h, (int64_t)time(NULL), &id, &why);
    if (auth != 0) {
        char text[HR_TOKEN_REFUSAL_CAP];
        gw_hproxy_answer(app, c, h, r, auth == HR_ENOMEM ? 503 : 401,
                         auth == HR_ENOMEM ? "out of memory\n"
                                           : hr_token_refusal(why, text, sizeof text));
        return;
    }
    gw_hreq *q = new_hreq(app, c, h, len, r);
    int rc = q != NULL ? 0 : HR_ENOMEM;
    if (rc == 0 && id.user != NULL)
        snprintf(q->user, sizeof q->user, "%s", id.user);
    rc = rc ? rc : build_request(q, h, &id, body, len);
    hr_identity_deinit(&id);
    rc = rc ? rc : send_next(q);
    if (rc != 0) {
        if (q != NULL)
            free_hreq(q);
        gw_hproxy_answer(app, c, h, r, rc == HR_ETOOBIG ? 431 : 503,
                         rc == HR_ELIMIT ? "no healthy upstream\n" : "cannot proxy\n");
        return;
    }
    hr_conn_set_app_data(c, q);
}

void gw_hproxy_client_close(hr_conn *c)
{
    gw_hreq *q = hr_conn_app_data(c);
    hr_conn_set_app_data(c, NULL);
    if (q == NULL)
        return;
    gw_upreq_cancel(q->up);
    q->up = NULL;
    free_hreq(q);
}

/* Outgoing WebSocket connections: connect, send the upgrade request (queued
 * before the TCP connect completes and flushed once it does), check the 101
 * with lib/proto/ws_handshake, then hand the connection to conn_ws.c with
 * the client role (frames masked, server frames must be unmasked).
 *
 * Subprotocols (RFC 6455 §4.1): the offer is whatever Sec-WebSocket-Protocol
 * lines the caller put in extra_headers; it is kept after the key in aux
 * ("key\0offer\0") until the 101 arrives. A 101 selecting a protocol that
 * was not offered (or several) fails the connection; the selected one is
 * copied into c->protocol for hr_client_protocol(). */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "proto/http_head.h"

static void on_connect(uv_connect_t *req, int status)
{
    hr_conn *c = req->data;
    free(req);
    if (c->phase == HR_PH_CLOSED)
        return;
    if (status < 0) {
        hr_log(HR_LOG_DEBUG, "net", "connect failed conn=%llu err=%s", (unsigned long long)c->id,
               uv_strerror(status));
        hr_conn_terminate(c);
        return;
    }
    c->phase = HR_PH_CLIENT_HS;
    c->srv->stats.conns_accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    hr_conn_start_reading(c);
    hr_server_want_flush(c->srv, c);
}

static int queue_request(hr_conn *c, const char *addr, const hr_client_config *cfg, const char *key)
{
    const char *host = cfg->host != NULL ? cfg->host : addr;
    const char *path = cfg->path != NULL ? cfg->path : "/";
    const char *extra = cfg->extra_headers;
    const size_t cap = 512 + strlen(host) + strlen(path) + (extra ? strlen(extra) : 0);
    hr_msg *m = hr_msg_new(cap);
    if (m == NULL)
        return HR_ENOMEM;
    const size_t n =
        hr_ws_handshake_write_request(host, path, key, cfg->deflate, extra, (char *)m->data, cap);
    m->len = (uint32_t)n;
    const int rc = n > 0 ? hr_sendq_push(&c->q, m) : HR_EINVAL;
    hr_msg_unref(m);
    return rc;
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Joins the values of the Sec-WebSocket-Protocol lines of extra (NULL or
 * "Name: value\r\n" lines) with ", " into out, which must hold
 * strlen(extra) + 1 bytes (the joined list is never longer). */
static void collect_offer(const char *extra, char *out)
{
    static const char name[] = "Sec-WebSocket-Protocol:";
    const size_t nlen = sizeof name - 1;
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = extra; p != NULL && *p != '\0';) {
        const char *eol = strstr(p, "\r\n");
        const size_t line = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (line > nlen && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen;
            const char *end = p + line;
            while (v < end && is_ows(*v))
                v++;
            while (end > v && is_ows(end[-1]))
                end--;
            if (end > v && n > 0) {
                memcpy(out + n, ", ", 2);
                n += 2;
            }
            memcpy(out + n, v, (size_t)(end - v));
            n += (size_t)(end - v);
            out[n] = '\0';
        }
        p = eol != NULL ? eol + 2 : NULL;
    }
}

/* True when the comma-separated list offer holds exactly v[0..len). */
static bool offer_has(const char *offer, const char *v, size_t len)
{
    for (const char *p = offer; *p != '\0';) {
        while (*p == ',' || is_ows(*p))
            p++;
        const char *end = p;
        while (*end != '\0' && *end != ',')
            end++;
        const char *last = end;
        while (last > p && is_ows(last[-1]))
            last--;
        if ((size_t)(last - p) == len && len > 0 && memcmp(p, v, len) == 0)
            return true;
        p = end;
    }
    return false;
}

static int start(hr_conn *c, const struct sockaddr_storage *ss)
{
    uv_connect_t *req = malloc(sizeof *req);
    if (req == NULL)
        return HR_ENOMEM;
    req->data = c;
    const int rc = uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)ss, on_connect);
    if (rc != 0)
        free(req);
    return rc;
}

int hr_client_connect(hr_server *s, const char *addr, const hr_client_config *cfg,
                      const hr_conn_callbacks *cb, void *app_data, hr_conn **out)
{
    if (s->shutting_down)
        return HR_ECLOSED;
    struct sockaddr_storage ss;
    if (hr_server_parse_addr(addr, &ss) != 0)
        return HR_EINVAL;
    const size_t extra_len = cfg->extra_headers != NULL ? strlen(cfg->extra_headers) : 0;
    char *key = malloc(HR_WS_KEY_LEN + 2 + extra_len); /* key, NUL, offer, NUL */
    if (key == NULL)
        return HR_ENOMEM;
    collect_offer(cfg->extra_headers, key + HR_WS_KEY_LEN + 1);
    hr_conn *c = hr_ws_handshake_new_key(key) == 0 ? hr_conn_new(s, cb) : NULL;
    if (c == NULL) {
        free(key);
        return HR_ENOMEM;
    }
    c->aux = key;
    c->flags |= HR_CF_CLIENT | (cfg->deflate ? HR_CF_DEFLATE : 0);
    c->app_data = app_data;
    c->phase = HR_PH_CONNECTING;
    hr_buf_init(&c->in, s->cfg.max_head + HR_NET_READ_BUF);
    memcpy(&c->peer, &ss, sizeof c->peer);
    const uint32_t t =
        cfg->connect_timeout_ms ? cfg->connect_timeout_ms : s->cfg.handshake_timeout_ms;
    c->deadline = uv_now(s->loop) + t;
    int rc = queue_request(c, addr, cfg, key);
    if (rc == 0)
        rc = start(c, &ss);
    if (rc != 0) {
        hr_conn_terminate(c); /* not SEEN yet: no callback */
        return rc;
    }
    c->flags |= HR_CF_SEEN;
    if (out != NULL)
        *out = c;
    return 0;
}

/* Checks the 101's Sec-WebSocket-Protocol against the offer and keeps a
 * copy in c->protocol. Returns 0, HR_EPROTO (several, empty or not offered)
 * or HR_ENOMEM. */
static int take_protocol(hr_conn *c, const hr_http_head *h)
{
    static const char name[] = "Sec-WebSocket-Protocol";
    const size_t n = hr_http_head_count(h, name);
    if (n == 0)
        return 0;
    const hr_http_header *p = hr_http_head_find(h, name);
    const char *offer = (const char *)c->aux + HR_WS_KEY_LEN + 1;
    if (n > 1 || p == NULL || !offer_has(offer, p->value, p->value_len))
        return HR_EPROTO;
    c->protocol = malloc(p->value_len + 1);
    if (c->protocol == NULL)
        return HR_ENOMEM;
    memcpy(c->protocol, p->value, p->value_len);
    c->protocol[p->value_len] = '\0';
    return 0;
}

static void open_ws(hr_conn *c, const hr_ws_handshake *hs, size_t head_len)
{
    hr_buf_consume(&c->in, head_len);
    free(c->aux);
    c->aux = NULL;
    c->status = 101;
    c->flags &= ~HR_CF_DEFLATE; /* "offered" until now; ws_open sets "negotiated" */
    hr_conn_ws_open(c, &hs->deflate_params, hs->deflate);
    if (c->in.len > 0) {
        /* Frames that came with the 101 are fed by the flush pass (after
         * on_open). Stop reading until then (refeed starts it again): a read
         * later in this loop turn would go to the WebSocket reader first and
         * put the stream out of order (a resume replay right after the
         * welcome failed the proxied connection with 1002). */
        hr_conn_stop_reading(c);
        hr_conn_refeed(c);
    }
    if (c->cb->on_open != NULL)
        c->cb->on_open(c);
}

void hr_client_feed(hr_conn *c)
{
    const hr_http_limits lim = {.max_head = c->srv->cfg.max_head};
    hr_http_head h;
    const int rc = hr_http_head_parse(hr_buf_data(&c->in), c->in.len, true, &lim, &h);
    if (rc == 0 && c->in.len < c->srv->cfg.max_head)
        return;
    if (rc <= 0) {
        hr_conn_terminate(c);
        return;
    }
    c->status = (uint16_t)(h.status > 0 && h.status < 1000 ? h.status : 0);
    hr_ws_handshake hs;
    if (hr_ws_handshake_check_response(&h, c->aux, &hs) != 0 ||
        (hs.deflate && !(c->flags & HR_CF_DEFLATE))) {
        hr_log(HR_LOG_DEBUG, "net", "upgrade refused conn=%llu status=%d why=%s",
               (unsigned long long)c->id, c->status, hs.error ? hs.error : "extension");
        if (c->status == 101)
            c->status = 0;
        hr_conn_terminate(c);
        return;
    }
    if (take_protocol(c, &h) != 0) {
        hr_log(HR_LOG_DEBUG, "net", "upgrade refused conn=%llu why=subprotocol not offered",
               (unsigned long long)c->id);
        c->status = 0;
        hr_conn_terminate(c);
        return;
    }
    open_ws(c, &hs, h.head_len);
}

int hr_client_status(const hr_conn *c)
{
    return c->status;
}

const char *hr_client_protocol(const hr_conn *c)
{
    return c->protocol;
}

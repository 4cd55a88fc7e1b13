/* The HTTP/1.1 phase of a server connection: request heads are parsed
 * statelessly (lib/proto/http_head) from the connection's input buffer each
 * time bytes arrive; bodies (Content-Length or chunked) are buffered whole up
 * to max_body; one request at a time goes to the app, and pipelined ones
 * wait in the buffer until it has responded. A valid WebSocket upgrade goes
 * to on_upgrade and, once accepted, the connection switches to conn_ws.c.
 * Errors we answer ourselves (400, 405, 413, 426, 431) close the connection
 * after the response, lingering so the client reads it (see hr_conn_linger). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "proto/http_chunked.h"
#include "proto/http_head.h"
#include "proto/http_write.h"

#define HTTP_HEAD_METHOD 2 /* llhttp's HTTP_HEAD */

static size_t opt_len(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

static const char *connection_header(int conn)
{
    if (conn == HR_HTTP_CLOSE)
        return "Connection: close\r\n";
    return conn == HR_HTTP_KEEP_ALIVE ? "Connection: keep-alive\r\n" : "";
}

hr_msg *hr_conn_http_response(int status, const char *content_type, const void *body, size_t len,
                              bool head_only, int conn, const char *extra_headers)
{
    const size_t cap = 160 + opt_len(content_type) + opt_len(extra_headers);
    if (len > HR_MSG_MAX - cap)
        return NULL;
    hr_msg *m = hr_msg_new(cap + len);
    if (m == NULL)
        return NULL;
    char *out = (char *)m->data;
    int n = snprintf(out, cap, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%s%s\r\n", status,
                     hr_http_write_reason(status), content_type ? "Content-Type: " : "",
                     content_type ? content_type : "", content_type ? "\r\n" : "", len,
                     connection_header(conn), extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= cap) {
        hr_msg_unref(m);
        return NULL;
    }
    if (!head_only && len > 0) {
        memcpy(out + n, body, len);
        n += (int)len;
    }
    m->len = (uint32_t)n;
    return m;
}

void hr_conn_http_error(hr_conn *c, int status, const char *why)
{
    if (status == 0 || c->phase == HR_PH_CLOSED) {
        hr_conn_terminate(c);
        return;
    }
    c->srv->stats.http_errors++;
    char body[128];
    const int n = snprintf(body, sizeof body, "%s\n", why);
    const char *extra = status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL;
    hr_msg *m = hr_conn_http_response(status, "text/plain; charset=utf-8", body,
                                      n > 0 ? (size_t)n : 0, false, HR_HTTP_CLOSE, extra);
    if (m == NULL) {
        hr_conn_terminate(c);
        return;
    }
    hr_conn_queue(c, m, false);
    hr_msg_unref(m);
    hr_conn_linger(c);
}

/* Body of a chunked request starting at p[0..len): returns 1 complete (size
 * in *body_len, coded length in *coded), 0 need more, or an HTTP status. When
 * out is not NULL the decoded bytes are copied there. */
static int chunked_body(const uint8_t *p, size_t len, size_t max, uint8_t *out, size_t *body_len,
                        size_t *coded)
{
    hr_http_chunked ch;
    hr_http_chunked_init(&ch);
    size_t off = 0, total = 0;
    for (;;) {
        size_t used = 0, dlen = 0;
        const uint8_t *d = NULL;
        const int rc = hr_http_chunked_decode(&ch, p + off, len - off, &used, &d, &dlen);
        if (rc < 0)
            return rc == HR_ETOOBIG ? 431 : 400;
        if (dlen > max - total)
            return 413;
        if (out != NULL && dlen > 0)
            memcpy(out + total, d, dlen);
        total += dlen;
        off += used;
        if (rc == 1) {
            *body_len = total;
            *coded = off;
            return 1;
        }
        if (used == 0 && dlen == 0)
            return 0;
    }
}

/* Finds the request's body in the buffer. Returns 1 with *body (NULL or a
 * heap copy for chunked bodies, to free) and *total (bytes to consume),
 * 0 when more input is needed, or an HTTP error status. */
static int find_body(hr_conn *c, const hr_http_head *h, const uint8_t *p, size_t len,
                     uint8_t **heap, size_t *body_len, size_t *total)
{
    const size_t max = c->srv->cfg.max_body;
    *heap = NULL;
    if (h->chunked) {
        size_t coded = 0;
        int rc = chunked_body(p + h->head_len, len - h->head_len, max, NULL, body_len, &coded);
        if (rc != 1)
            return rc;
        *heap = malloc(*body_len ? *body_len : 1);
        if (*heap == NULL)
            return 503;
        chunked_body(p + h->head_len, len - h->head_len, max, *heap, body_len, &coded);
        *total = h->head_len + coded;
        return 1;
    }
    const uint64_t cl = h->content_length > 0 ? (uint64_t)h->content_length : 0;
    if (cl > max)
        return 413;
    *body_len = (size_t)cl;
    *total = h->head_len + (size_t)cl;
    return len >= *total ? 1 : 0;
}

static void maybe_continue(hr_conn *c, const hr_http_head *h)
{
    if ((c->flags & HR_CF_CONTINUE) || !hr_http_head_has_token(h, "Expect", "100-continue"))
        return;
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    hr_msg *m = hr_msg_new_copy(line, sizeof line - 1);
    if (m == NULL)
        return;
    c->flags |= HR_CF_CONTINUE;
    hr_conn_queue(c, m, false);
    hr_msg_unref(m);
}

static void dispatch(hr_conn *c, const hr_http_head *h, const uint8_t *body, size_t len)
{
    c->phase = HR_PH_APP;
    c->deadline = 0;
    c->flags &= ~(HR_CF_KEEPALIVE | HR_CF_HEAD_REQ | HR_CF_CONTINUE | HR_CF_HTTP10);
    if (h->http_major == 1 && h->http_minor == 0)
        c->flags |= HR_CF_HTTP10;
    c->flags |= HR_CF_SEEN;
    if (h->keep_alive && !c->srv->shutting_down && !c->srv->cfg.http_close)
        c->flags |= HR_CF_KEEPALIVE;
    if (h->method == HTTP_HEAD_METHOD)
        c->flags |= HR_CF_HEAD_REQ;
    c->srv->stats.http_requests++;
    hr_conn_stop_reading(c);
    if (c->cb->on_request != NULL) {
        c->cb->on_request(c, h, body, len);
        return;
    }
    static const char nf[] = "not found\n";
    hr_conn_http_respond(c, 404, "text/plain; charset=utf-8", nf, sizeof nf - 1, NULL);
}

static void handle_upgrade(hr_conn *c, const hr_http_head *h);

/* Handles one complete head at the start of the buffer. Returns true when
 * the loop may look for another request in the buffer. */
static bool handle_request(hr_conn *c, const hr_http_head *h)
{
    if (h->upgrade) {
        handle_upgrade(c, h);
        return false;
    }
    uint8_t *heap = NULL;
    size_t body_len = 0, total = 0;
    const uint8_t *p = hr_buf_data(&c->in);
    const int rc = find_body(c, h, p, c->in.len, &heap, &body_len, &total);
    if (rc == 0) {
        maybe_continue(c, h);
        return false;
    }
    if (rc != 1) {
        hr_conn_http_error(c, rc, rc == 413 ? "request body too large" : "bad request body");
        return false;
    }
    dispatch(c, h, heap != NULL ? heap : p + h->head_len, body_len);
    free(heap);
    if (c->phase == HR_PH_CLOSED || c->phase == HR_PH_LINGER) {
        hr_buf_deinit(&c->in);
        return false;
    }
    hr_buf_consume(&c->in, total);
    return c->phase == HR_PH_HTTP;
}

void hr_conn_http_feed(hr_conn *c)
{
    c->flags |= HR_CF_IN_FEED;
    const hr_http_limits lim = {.max_head = c->srv->cfg.max_head};
    bool more = true;
    while (more && c->phase == HR_PH_HTTP && c->in.len > 0) {
        hr_http_head h;
        const int rc = hr_http_head_parse(hr_buf_data(&c->in), c->in.len, false, &lim, &h);
        if (rc == 0 && c->in.len < c->srv->cfg.max_head)
            break;
        if (rc == 0 || rc == HR_ETOOBIG)
            hr_conn_http_error(c, 431, "request header fields too large");
        else if (rc < 0)
            hr_conn_http_error(c, 400, "bad request");
        else
            more = handle_request(c, &h);
        if (rc <= 0)
            break;
    }
    c->flags &= ~HR_CF_IN_FEED;
    hr_conn_start_reading(c); /* no-op unless back in HTTP and not paused */
}

void hr_conn_http_done(hr_conn *c)
{
    if (!(c->flags & HR_CF_KEEPALIVE) || c->srv->shutting_down) {
        hr_conn_linger(c);
        return;
    }
    c->phase = HR_PH_HTTP;
    const hr_server_config *cfg = &c->srv->cfg;
    c->deadline = uv_now(c->srv->loop) +
                  (cfg->idle_timeout_ms ? cfg->idle_timeout_ms : cfg->handshake_timeout_ms);
    if (!(c->flags & HR_CF_IN_FEED)) {
        if (c->in.len > 0)
            hr_conn_refeed(c);
        else
            hr_conn_start_reading(c);
    }
}

int hr_conn_http_respond(hr_conn *c, int status, const char *content_type, const void *body,
                         size_t len, const char *extra_headers)
{
    if (c->phase == HR_PH_CLOSED)
        return HR_ECLOSED;
    if ((c->phase != HR_PH_APP && c->phase != HR_PH_DEFER) || status < 100 || status > 599)
        return HR_EINVAL;
    const bool refusal = c->phase == HR_PH_DEFER;
    if (refusal)
        c->flags &= ~HR_CF_KEEPALIVE;
    const bool no_body =
        (c->flags & HR_CF_HEAD_REQ) || status < 200 || status == 204 || status == 304;
    const bool close = !(c->flags & HR_CF_KEEPALIVE) || c->srv->shutting_down;
    /* HTTP/1.0 clients keep a connection only when told so explicitly. */
    const int conn = close                       ? HR_HTTP_CLOSE
                     : (c->flags & HR_CF_HTTP10) ? HR_HTTP_KEEP_ALIVE
                                                 : HR_HTTP_DEFAULT;
    hr_msg *m =
        hr_conn_http_response(status, content_type, body, len, no_body, conn, extra_headers);
    if (m == NULL)
        return HR_ENOMEM;
    hr_conn_queue(c, m, false);
    hr_msg_unref(m);
    free(c->aux);
    c->aux = NULL;
    hr_conn_http_done(c);
    return 0;
}

static char *join_headers(const hr_upgrade_reply *r)
{
    const char *proto = r != NULL ? r->protocol : NULL;
    const char *extra = r != NULL ? r->extra_headers : NULL;
    const size_t cap = 40 + opt_len(proto) + opt_len(extra);
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    snprintf(out, cap, "%s%s%s%s", proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
             proto ? "\r\n" : "", extra ? extra : "");
    return out;
}

static int accept_ws(hr_conn *c, const hr_ws_handshake *hs, const hr_upgrade_reply *r)
{
    char *extra = join_headers(r);
    const size_t cap = 256 + HR_WS_EXT_MAX + (extra ? strlen(extra) : 0);
    hr_msg *m = extra != NULL ? hr_msg_new(cap) : NULL;
    const size_t n = m != NULL ? hr_ws_handshake_write_101(hs, extra, (char *)m->data, cap) : 0;
    free(extra);
    if (n == 0) {
        hr_msg_unref(m);
        hr_conn_http_error(c, 503, "out of memory");
        return HR_ENOMEM;
    }
    m->len = (uint32_t)n;
    hr_conn_queue(c, m, false);
    hr_msg_unref(m);
    c->srv->stats.ws_upgrades++;
    hr_conn_ws_open(c, &hs->deflate_params, hs->deflate);
    if (c->in.len > 0)
        hr_conn_refeed(c);
    if (c->cb->on_open != NULL)
        c->cb->on_open(c);
    hr_conn_start_reading(c);
    return 0;
}

static void refuse(hr_conn *c, int status, const hr_upgrade_reply *r)
{
    c->phase = HR_PH_DEFER; /* hr_conn_http_respond answers the pending upgrade */
    c->flags &= ~HR_CF_KEEPALIVE;
    if (status < 400 || status > 599)
        status = 500;
    const char *ctype = r->content_type ? r->content_type : "text/plain; charset=utf-8";
    if (hr_conn_http_respond(c, status, ctype, r->body, r->body ? r->body_len : 0, NULL) != 0)
        hr_conn_terminate(c);
}

static void handle_upgrade(hr_conn *c, const hr_http_head *h)
{
    hr_ws_handshake hs;
    if (hr_ws_handshake_check(h, c->srv->cfg.deflate, &hs) != 0) {
        hr_conn_http_error(c, hs.status, hs.error ? hs.error : "bad upgrade");
        return;
    }
    c->flags |= HR_CF_SEEN;
    c->deadline = 0;
    hr_conn_stop_reading(c);
    hr_upgrade_reply reply = {0};
    c->phase = HR_PH_DEFER; /* while the app decides */
    const int verdict = c->cb->on_upgrade != NULL ? c->cb->on_upgrade(c, h, &reply) : 0;
    if (c->phase != HR_PH_DEFER) /* the app closed it */
        return;
    hr_buf_consume(&c->in, h->head_len);
    if (verdict == 0) {
        accept_ws(c, &hs, &reply);
    } else if (verdict == HR_CONN_UPGRADE_DEFER) {
        c->aux = malloc(sizeof hs);
        if (c->aux == NULL) {
            hr_conn_http_error(c, 503, "out of memory");
            return;
        }
        memcpy(c->aux, &hs, sizeof hs);
    } else {
        refuse(c, verdict, &reply);
    }
}

int hr_conn_http_accept(hr_conn *c, const hr_upgrade_reply *reply)
{
    if (c->phase == HR_PH_CLOSED)
        return HR_ECLOSED;
    if (c->phase != HR_PH_DEFER || c->aux == NULL)
        return HR_EINVAL;
    hr_ws_handshake *hs = c->aux;
    c->aux = NULL;
    const int rc = accept_ws(c, hs, reply);
    free(hs);
    return rc;
}

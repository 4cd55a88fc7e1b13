/* Upstream HTTP client. Each connection is a uv_tcp_t plus a timer (request
 * timeout while busy, idle timeout while pooled); it is freed once both
 * handles are closed. A pooled connection keeps reading: any byte or EOF
 * while idle means the server gave up on it, so it is closed at once and a
 * later request never meets a stale socket except in a race, which the single
 * retry covers.
 *
 *   new ──connect──▶ BUSY ──response complete, keep-alive──▶ IDLE ──reuse──▶ BUSY
 *                     │                                        │
 *                     └──error / close / cancel──▶ CLOSED ◀────┘ EOF, timeout */
#include "uphttp.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "proto/http_chunked.h"

typedef struct upconn upconn;

struct gw_upreq {
    gw_uphttp *h;
    upconn *c;
    gw_addr addr;
    char *data;
    size_t len;
    bool head_req;
    bool retried;
    size_t max_resp;
    uint32_t timeout_ms;
    gw_upreq_cb cb;
    void *arg;
    bool got_bytes;
    bool connected;
    /* Streamed requests (gw_uphttp_stream) only: */
    const gw_upstream_body_cb *body;
    bool streaming; /* the head went out; the body is under way */
    bool paused;
    bool keep_alive;
    int mode; /* BODY_* */
    uint64_t remaining;
    hr_http_chunked ch;
};

enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };

struct upconn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    gw_uphttp *h;
    gw_addr addr;
    gw_upreq *req;
    upconn *next, *prev; /* on h->conns */
    hr_buf in;
    int handles; /* open handles: free at 0 */
    bool idle, closing, reused;
};

struct gw_uphttp {
    uv_loop_t *loop;
    upconn *conns;
    size_t n_idle, max_idle;
    uint32_t idle_ms;
    bool freeing;
};

static void conn_close(upconn *c);
static void start_on(gw_upreq *r, upconn *c);
static void finish(gw_upreq *r, int err, const hr_http_head *head, const uint8_t *body, size_t len);
static void end_stream(upconn *c, int err, bool reuse);

/* ---- connections ---------------------------------------------------------- */

static void maybe_free_h(gw_uphttp *h)
{
    if (h->freeing && h->conns == NULL)
        free(h);
}

static void on_handle_closed(uv_handle_t *hd)
{
    upconn *c = hd->data;
    if (--c->handles > 0)
        return;
    gw_uphttp *h = c->h;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    hr_buf_deinit(&c->in);
    free(c);
    maybe_free_h(h);
}

static void conn_close(upconn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->idle) {
        c->idle = false;
        c->h->n_idle--;
    }
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static upconn *conn_new(gw_uphttp *h, const gw_addr *addr)
{
    upconn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->h = h;
    c->addr = *addr;
    hr_buf_init(&c->in, 64);
    if (uv_tcp_init(h->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    return c;
}

static void on_timeout(uv_timer_t *t)
{
    upconn *c = t->data;
    gw_upreq *r = c->req;
    if (r != NULL && r->streaming) {
        end_stream(c, UV_ETIMEDOUT, false);
        return;
    }
    conn_close(c);
    if (r != NULL)
        finish(r, UV_ETIMEDOUT, NULL, NULL, 0);
}

static void make_idle(upconn *c)
{
    gw_uphttp *h = c->h;
    c->req = NULL;
    hr_buf_deinit(&c->in);
    if (h->freeing || h->n_idle >= h->max_idle) {
        conn_close(c);
        return;
    }
    c->idle = true;
    c->reused = true;
    h->n_idle++;
    uv_timer_start(&c->timer, on_timeout, h->idle_ms, 0);
}

/* ---- responses -------------------------------------------------------------- */

static void finish(gw_upreq *r, int err, const hr_http_head *head, const uint8_t *body, size_t len)
{
    if (r->c != NULL && r->c->req == r)
        r->c->req = NULL;
    r->c = NULL;
    r->cb(r->arg, err, r->connected, head, body, len);
    free(r->data);
    free(r);
}

static bool retry(gw_upreq *r)
{
    if (r->retried || r->got_bytes || r->c == NULL || !r->c->reused)
        return false;
    r->retried = true;
    upconn *fresh = conn_new(r->h, &r->addr);
    if (fresh == NULL)
        return false;
    r->c->req = NULL;
    start_on(r, fresh);
    return true;
}

static void fail(upconn *c, int err)
{
    gw_upreq *r = c->req;
    if (r != NULL && r->streaming) {
        end_stream(c, err, false);
        return;
    }
    if (r != NULL && retry(r)) {
        conn_close(c);
        return;
    }
    conn_close(c);
    if (r != NULL)
        finish(r, err, NULL, NULL, 0);
}

static bool no_body(const gw_upreq *r, const hr_http_head *hd)
{
    return r->head_req || (hd->status >= 100 && hd->status < 200) || hd->status == 204 ||
           hd->status == 304;
}

/* Decodes a chunked body at in[0..len). With out == NULL it only checks
 * whether the body is complete; with out == in it decodes in place (data runs
 * only ever move left). Returns 1 complete (with *out_len), 0 need more, or an
 * error. */
static int decode_chunked(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
    hr_http_chunked ch;
    hr_http_chunked_init(&ch);
    size_t pos = 0, o = 0;
    for (;;) {
        size_t used = 0, dl = 0;
        const uint8_t *d = NULL;
        const int rc = hr_http_chunked_decode(&ch, in + pos, len - pos, &used, &d, &dl);
        if (rc < 0)
            return rc;
        if (dl > 0 && out != NULL)
            memmove(out + o, d, dl);
        o += dl;
        pos += used;
        if (rc == 1) {
            *out_len = o;
            return 1;
        }
        if (used == 0)
            return 0;
    }
}

/* ---- streamed bodies ------------------------------------------------------------ */

/* The body ended (err 0: complete): the request goes, then on_end runs, last;
 * the connection is pooled again or closed. */
static void end_stream(upconn *c, int err, bool reuse)
{
    gw_upreq *r = c->req;
    const gw_upstream_body_cb *b = r->body;
    void *arg = r->arg;
    c->req = NULL;
    r->c = NULL;
    free(r->data);
    free(r);
    reuse ? make_idle(c) : conn_close(c);
    b->on_end(arg, err);
}

static bool gone(bool *cut)
{
    *cut = true;
    return false;
}

/* Hands p[0..n) to on_body. False when the callback cancelled the request
 * (r is then gone; c stays valid until its handles close). */
static bool deliver(upconn *c, gw_upreq *r, const uint8_t *p, size_t n)
{
    r->body->on_body(r->arg, p, n);
    return c->req == r;
}

/* Delivers what c->in holds of the body; true once the body is complete.
 * *cut is set when the request went away (cancelled or failed). */
static bool stream_some(upconn *c, gw_upreq *r, bool *cut)
{
    for (;;) {
        const uint8_t *p = hr_buf_data(&c->in);
        const size_t len = c->in.len;
        if (r->mode == BODY_NONE)
            return true;
        if (r->mode == BODY_LENGTH || r->mode == BODY_CLOSE) {
            size_t take = len;
            if (r->mode == BODY_LENGTH && take > r->remaining)
                take = (size_t)r->remaining;
            if (take > 0 && !deliver(c, r, p, take))
                return gone(cut);
            hr_buf_consume(&c->in, take);
            if (r->mode == BODY_LENGTH)
                r->remaining -= take;
            return r->mode == BODY_LENGTH && r->remaining == 0;
        }
        size_t used = 0, dl = 0;
        const uint8_t *d = NULL;
        const int rc = hr_http_chunked_decode(&r->ch, p, len, &used, &d, &dl);
        if (rc < 0) {
            fail(c, HR_EPROTO);
            return gone(cut);
        }
        if (dl > 0 && !deliver(c, r, d, dl))
            return gone(cut);
        hr_buf_consume(&c->in, used);
        if (rc == 1)
            return true;
        if (used == 0)
            return false;
    }
}

static void stream_body(upconn *c, bool eof)
{
    gw_upreq *r = c->req;
    bool cut = false;
    const bool done = stream_some(c, r, &cut);
    if (cut)
        return;
    if (done) {
        const bool reuse = r->keep_alive && c->in.len == 0 && !eof && r->mode != BODY_CLOSE;
        end_stream(c, 0, reuse);
    } else if (eof) {
        r->mode == BODY_CLOSE ? end_stream(c, 0, false) : fail(c, UV_EOF);
    }
}

static void stream_head(upconn *c, bool eof)
{
    gw_upreq *r = c->req;
    hr_http_head hd;
    const hr_http_limits lim = {.max_head = r->max_resp < 65536 ? r->max_resp : 65536};
    const int n = hr_http_head_parse(hr_buf_data(&c->in), c->in.len, true, &lim, &hd);
    if (n < 0 || (n == 0 && eof)) {
        fail(c, n < 0 ? n : HR_EPROTO);
        return;
    }
    if (n == 0)
        return;
    if (no_body(r, &hd)) {
        r->mode = BODY_NONE;
    } else if (hd.chunked) {
        r->mode = BODY_CHUNKED;
        hr_http_chunked_init(&r->ch);
    } else if (hd.content_length >= 0) {
        r->mode = BODY_LENGTH;
        r->remaining = (uint64_t)hd.content_length;
    } else {
        r->mode = BODY_CLOSE;
    }
    r->keep_alive = hd.keep_alive;
    r->streaming = true;
    uv_timer_start(&c->timer, on_timeout, r->timeout_ms, 0);
    r->cb(r->arg, 0, r->connected, &hd, NULL, 0);
    if (c->req != r)
        return; /* cancelled from the head callback */
    hr_buf_consume(&c->in, (size_t)n);
    stream_body(c, eof);
}

/* Checks whether c->in holds a complete response; completes the request. */
static void try_complete(upconn *c, bool eof)
{
    gw_upreq *r = c->req;
    if (r->body != NULL) {
        r->streaming ? stream_body(c, eof) : stream_head(c, eof);
        return;
    }
    const uint8_t *p = hr_buf_data(&c->in);
    hr_http_head hd;
    const hr_http_limits lim = {.max_head = r->max_resp < 65536 ? r->max_resp : 65536};
    const int n = hr_http_head_parse(p, c->in.len, true, &lim, &hd);
    if (n < 0 || (n == 0 && eof)) {
        fail(c, n < 0 ? n : HR_EPROTO);
        return;
    }
    if (n == 0)
        return;
    const size_t blen = c->in.len - (size_t)n;
    uint8_t *body = (uint8_t *)p + n;
    if (no_body(r, &hd)) {
        const bool reuse = hd.keep_alive && blen == 0;
        finish(r, 0, &hd, NULL, 0);
        reuse ? make_idle(c) : conn_close(c);
        return;
    }
    size_t out_len = 0;
    bool reuse = hd.keep_alive;
    if (hd.chunked) {
        const int rc = decode_chunked(body, blen, NULL, &out_len);
        if (rc < 0 || (rc == 0 && eof)) {
            fail(c, HR_EPROTO);
            return;
        }
        if (rc == 0)
            return; /* the whole body is decoded again when more arrives */
        decode_chunked(body, blen, body, &out_len);
    } else if (hd.content_length >= 0) {
        if ((uint64_t)hd.content_length > r->max_resp - (size_t)n) {
            fail(c, HR_ETOOBIG); /* refuse now rather than wait for what cannot fit */
            return;
        }
        if (blen < (uint64_t)hd.content_length) {
            if (eof)
                fail(c, HR_EPROTO);
            return;
        }
        out_len = (size_t)hd.content_length;
        reuse = reuse && blen == out_len;
    } else {
        if (!eof)
            return;
        out_len = blen;
        reuse = false;
    }
    finish(r, 0, &hd, body, out_len);
    reuse && !eof ? make_idle(c) : conn_close(c);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    upconn *c = hd->data;
    size_t avail = 0;
    uint8_t *p = hr_buf_reserve(&c->in, 16384, &avail);
    buf->base = (char *)p;
    buf->len = p != NULL ? avail : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    upconn *c = s->data;
    if (c->closing)
        return;
    if (c->idle || c->req == NULL) {
        if (nread != 0)
            conn_close(c); /* the server closed or spoke out of turn */
        return;
    }
    if (nread == 0)
        return;
    if (nread == UV_ENOBUFS) {
        fail(c, HR_ETOOBIG);
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF && c->req->got_bytes) {
            try_complete(c, true);
            return;
        }
        fail(c, (int)nread);
        return;
    }
    c->req->got_bytes = true;
    hr_buf_commit(&c->in, (size_t)nread);
    if (c->req->streaming) /* the timeout is per silence once the body streams */
        uv_timer_start(&c->timer, on_timeout, c->req->timeout_ms, 0);
    try_complete(c, false);
}

static void on_write(uv_write_t *w, int status)
{
    upconn *c = w->data;
    if (status != 0 && !c->closing)
        fail(c, status);
}

static void send_req(upconn *c)
{
    gw_upreq *r = c->req;
    c->write.data = c;
    uv_buf_t b = uv_buf_init(r->data, (unsigned)r->len);
    int rc = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0 && rc != UV_EALREADY)
        fail(c, rc);
}

static void on_connect(uv_connect_t *req, int status)
{
    upconn *c = req->data;
    if (c->closing)
        return;
    if (status != 0) {
        fail(c, status);
        return;
    }
    if (c->req == NULL) {
        conn_close(c);
        return;
    }
    c->req->connected = true;
    send_req(c);
}

static int addr_of(const gw_addr *a, struct sockaddr_storage *ss)
{
    if (a->v6)
        return uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)ss);
}

static void start_on(gw_upreq *r, upconn *c)
{
    r->c = c;
    c->req = r;
    hr_buf_deinit(&c->in);
    hr_buf_init(&c->in, r->max_resp);
    uv_timer_start(&c->timer, on_timeout, r->timeout_ms, 0);
    if (c->reused) {
        r->connected = true;
        send_req(c);
        return;
    }
    struct sockaddr_storage ss;
    c->connect.data = c;
    int rc = addr_of(&c->addr, &ss);
    if (rc == 0)
        rc = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&ss, on_connect);
    if (rc != 0)
        fail(c, rc);
}

static upconn *take_idle(gw_uphttp *h, const gw_addr *addr)
{
    for (upconn *c = h->conns; c != NULL; c = c->next) {
        if (c->idle && !c->closing && c->addr.port == addr->port &&
            strcmp(c->addr.host, addr->host) == 0) {
            c->idle = false;
            h->n_idle--;
            uv_timer_stop(&c->timer);
            return c;
        }
    }
    return NULL;
}

/* ---- public API --------------------------------------------------------------- */

gw_uphttp *gw_uphttp_new(uv_loop_t *loop, size_t max_idle, uint32_t idle_ms)
{
    gw_uphttp *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->loop = loop;
    h->max_idle = max_idle;
    h->idle_ms = idle_ms;
    return h;
}

static void on_deferred_start(uv_timer_t *t);

static int request(gw_uphttp *h, const gw_addr *addr, const void *req, size_t len, bool head_req,
                   size_t max_resp, uint32_t timeout_ms, gw_upreq_cb cb,
                   const gw_upstream_body_cb *body, void *arg, gw_upreq **out)
{
    if (h->freeing)
        return HR_ECLOSED;
    gw_upreq *r = calloc(1, sizeof *r);
    char *copy = malloc(len ? len : 1);
    if (r == NULL || copy == NULL) {
        free(r);
        free(copy);
        return HR_ENOMEM;
    }
    memcpy(copy, req, len);
    *r = (gw_upreq){.h = h,
                    .addr = *addr,
                    .data = copy,
                    .len = len,
                    .head_req = head_req,
                    .max_resp = max_resp,
                    .timeout_ms = timeout_ms,
                    .cb = cb,
                    .body = body,
                    .arg = arg};
    upconn *c = take_idle(h, addr);
    if (c == NULL)
        c = conn_new(h, addr);
    if (c == NULL) {
        free(copy);
        free(r);
        return HR_ENOMEM;
    }
    /* Start from the loop, not from inside this call, so that an immediate
     * failure still reports through cb later (as documented). */
    r->c = c;
    c->req = r;
    c->timer.data = c;
    uv_timer_start(&c->timer, on_deferred_start, 0, 0);
    if (out != NULL)
        *out = r;
    return 0;
}

int gw_uphttp_request(gw_uphttp *h, const gw_addr *addr, const void *req, size_t len, bool head_req,
                      size_t max_resp, uint32_t timeout_ms, gw_upreq_cb cb, void *arg,
                      gw_upreq **out)
{
    return request(h, addr, req, len, head_req, max_resp, timeout_ms, cb, NULL, arg, out);
}

int gw_uphttp_stream(gw_uphttp *h, const gw_addr *addr, const void *req, size_t len, bool head_req,
                     size_t max_resp, uint32_t timeout_ms, gw_upreq_cb cb,
                     const gw_upstream_body_cb *body, void *arg, gw_upreq **out)
{
    if (body == NULL || body->on_body == NULL || body->on_end == NULL)
        return HR_EINVAL;
    return request(h, addr, req, len, head_req, max_resp, timeout_ms, cb, body, arg, out);
}

void gw_upreq_pause(gw_upreq *r, bool pause)
{
    upconn *c = r != NULL ? r->c : NULL;
    if (c == NULL || c->closing || !r->streaming || r->paused == pause)
        return;
    r->paused = pause;
    if (pause) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, r->timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        fail(c, HR_EPROTO);
}

static void on_deferred_start(uv_timer_t *t)
{
    upconn *c = t->data;
    if (c->req != NULL)
        start_on(c->req, c);
}

void gw_upreq_cancel(gw_upreq *r)
{
    if (r == NULL)
        return;
    if (r->c != NULL) {
        r->c->req = NULL;
        conn_close(r->c);
    }
    free(r->data);
    free(r);
}

size_t gw_uphttp_idle(const gw_uphttp *h)
{
    return h->n_idle;
}

void gw_uphttp_free(gw_uphttp *h)
{
    if (h == NULL)
        return;
    h->freeing = true;
    for (upconn *c = h->conns; c != NULL; c = c->next) {
        gw_upreq *r = c->req;
        if (r != NULL) {
            c->req = NULL;
            free(r->data);
            free(r);
        }
        conn_close(c);
    }
    maybe_free_h(h);
}

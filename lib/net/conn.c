/* hr_conn: the life of one TCP connection on the loop. This file owns what
 * every phase shares: reading (into the server's shared buffer, then handed
 * to the HTTP or WebSocket code), the send queue and its per-turn flush
 * (uv_try_write with many buffers first, uv_write for the rest), the
 * deadlines applied by the server's sweep, and closing, which is a state:
 * stop reading new messages, queue the close frame, wait for the peer, then
 * uv_close; memory is released only in uv_close's callback, where the app
 * hears on_close exactly once. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "proto/ws_frame.h"

static atomic_uint_fast64_t next_id = 1;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

hr_conn *hr_conn_new(hr_server *s, const hr_conn_callbacks *cb)
{
    hr_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (uv_tcp_init(s->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    c->tcp.data = c;
    c->srv = s;
    c->cb = cb;
    c->id = atomic_fetch_add(&next_id, 1);
    c->last_rx = uv_now(s->loop);
    c->phase = HR_PH_HTTP;
    /* Room for a head and a body with generous chunked-coding overhead. */
    hr_buf_init(&c->in, s->cfg.max_head + s->cfg.max_body + s->cfg.max_body / 4 + 4096);
    hr_sendq_init(&c->q);
    hr_server_attach(s, c);
    return c;
}

static bool may_read(const hr_conn *c)
{
    switch (c->phase) {
    case HR_PH_HTTP:
    case HR_PH_CLIENT_HS:
    case HR_PH_WS:
        return !(c->flags & HR_CF_PAUSED);
    case HR_PH_WS_CLOSING:
    case HR_PH_LINGER:
    case HR_PH_STREAM: /* to notice the peer leaving */
        return true;
    default:
        return false;
    }
}

void hr_conn_start_reading(hr_conn *c)
{
    if ((c->flags & HR_CF_READING) || !may_read(c))
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->flags |= HR_CF_READING;
}

void hr_conn_stop_reading(hr_conn *c)
{
    if (!(c->flags & HR_CF_READING))
        return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->flags &= ~HR_CF_READING;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    hr_conn *c = h->data;
    *buf = uv_buf_init((char *)c->srv->rbuf, HR_NET_READ_BUF);
}

static void unlink_flush(hr_conn *c)
{
    hr_flushq_remove(&c->srv->flushq, &c->flush);
    c->flags &= ~HR_CF_FLUSH;
}

static int close_code_for_app(const hr_conn *c)
{
    if (!(c->flags & HR_CF_WAS_WS))
        return (c->flags & HR_CF_CLIENT) ? 1006 : 0;
    if (c->flags & (HR_CF_CLOSE_SENT | HR_CF_CLOSE_RCVD))
        return c->close_code ? c->close_code : 1005;
    return 1006;
}

static void on_closed(uv_handle_t *h)
{
    hr_conn *c = h->data;
    hr_server *s = c->srv;
    if (c->flags & HR_CF_FLUSH)
        unlink_flush(c);
    if ((c->flags & HR_CF_SEEN) && c->cb->on_close != NULL)
        c->cb->on_close(c, close_code_for_app(c));
    if (c->flags & HR_CF_WAS_WS)
        s->stats.ws_open--;
    hr_sendq_deinit(&c->q);
    hr_buf_deinit(&c->in);
    hr_conn_ws_release(c);
    free(c->aux);
    c->aux = NULL;
    free(c->protocol);
    c->protocol = NULL;
    free(c->close_reason);
    c->close_reason = NULL;
    hr_server_detach(s, c);
    free(c);
}

void hr_conn_terminate(hr_conn *c)
{
    if (c->phase == HR_PH_CLOSED)
        return;
    c->phase = HR_PH_CLOSED;
    hr_conn_stop_reading(c);
    uv_os_fd_t fd;
    /* The ring's file table would hold the socket open past uv_close. */
    if (c->srv->uring != NULL && uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0)
        hr_uring_forget(c->srv->uring, fd);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_eof(hr_conn *c)
{
    hr_conn_terminate(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    hr_conn *c = st->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        on_eof(c);
        return;
    }
    hr_server *s = c->srv;
    s->stats.bytes_in += (uint64_t)nread;
    c->last_rx = uv_now(s->loop);
    c->flags &= ~HR_CF_PING_OUT;
    switch (c->phase) {
    case HR_PH_HTTP:
    case HR_PH_CLIENT_HS:
        if (hr_buf_append(&c->in, buf->base, (size_t)nread) != 0) {
            hr_conn_http_error(c, c->phase == HR_PH_HTTP ? 413 : 0, "input buffer full");
            return;
        }
        if (c->phase == HR_PH_HTTP)
            hr_conn_http_feed(c);
        else
            hr_client_feed(c);
        break;
    case HR_PH_WS:
    case HR_PH_WS_CLOSING:
        hr_conn_ws_feed(c, (uint8_t *)buf->base, (size_t)nread);
        break;
    case HR_PH_STREAM: /* a pipelined request waits for the stream's end */
        if (hr_buf_append(&c->in, buf->base, (size_t)nread) != 0 || c->in.len >= HR_NET_READ_BUF)
            hr_conn_stop_reading(c);
        break;
    default:
        break; /* LINGER: discard until EOF */
    }
}

/* ---- writing ---- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    free(req);
}

/* The queue is empty: act on what the phase was waiting for. */
static void after_flush(hr_conn *c)
{
    if (c->phase == HR_PH_LINGER && !(c->flags & HR_CF_SHUTDOWN)) {
        c->flags |= HR_CF_SHUTDOWN;
        uv_shutdown_t *req = malloc(sizeof *req);
        if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
            free(req);
            hr_conn_terminate(c);
            return;
        }
        hr_conn_start_reading(c);
        return;
    }
    if (c->phase == HR_PH_WS_CLOSING && (c->flags & HR_CF_CLOSE_SENT) &&
        (c->flags & HR_CF_CLOSE_RCVD) && !(c->flags & HR_CF_CLIENT)) {
        hr_conn_terminate(c); /* RFC 6455 §7.1.1: the server closes TCP first */
        return;
    }
    if ((c->phase == HR_PH_WS || c->phase == HR_PH_STREAM) && (c->flags & HR_CF_SEEN) &&
        c->cb->on_drain != NULL)
        c->cb->on_drain(c);
}

static void on_write(uv_write_t *req, int status);

static void start_write(hr_conn *c)
{
    uv_buf_t bufs[HR_NET_MAX_IOV];
    const size_t n = hr_sendq_iov(&c->q, 0, bufs, HR_NET_MAX_IOV, NULL);
    uv_write_t *req = hr_malloc(sizeof *req);
    if (req == NULL) {
        hr_conn_terminate(c);
        return;
    }
    req->data = c;
    if (uv_write(req, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write) != 0) {
        hr_free(req);
        hr_conn_terminate(c);
        return;
    }
    c->srv->stats.writes++;
    c->inflight = (uint16_t)n;
    c->flags |= HR_CF_WRITING;
}

/* Input left buffered while the app decided (a pipelined request, frames
 * sent right behind an upgrade) is processed here, from the flush pass,
 * never nested inside the app's call that unblocked it. */
static void refeed(hr_conn *c)
{
    c->flags &= ~HR_CF_REFEED;
    if (c->phase == HR_PH_HTTP) {
        hr_conn_http_feed(c);
    } else if (c->phase == HR_PH_WS && c->in.len > 0) {
        hr_buf in = c->in;
        hr_buf_init(&c->in, c->in.max);
        hr_conn_ws_feed(c, in.base + in.off, in.len);
        hr_buf_deinit(&in);
    }
    hr_conn_start_reading(c);
}

void hr_conn_refeed(hr_conn *c)
{
    c->flags |= HR_CF_REFEED;
    hr_server_want_flush(c->srv, c);
}

/* What one write (libuv's or an io_uring send) did: an error ends the
 * connection (false), else the bytes written leave the queue. */
static bool took(hr_conn *c, int res)
{
    if (res < 0) {
        hr_conn_terminate(c);
        return false;
    }
    c->srv->stats.bytes_out += (uint64_t)res;
    hr_sendq_advance(&c->q, (size_t)res);
    return true;
}

/* Whether c cannot write now (a write in flight, closed, not connected). */
static bool cannot_write(const hr_conn *c)
{
    return (c->flags & HR_CF_WRITING) || c->phase == HR_PH_CLOSED ||
           c->phase == HR_PH_CONNECTING;
}

void hr_conn_flush(hr_conn *c)
{
    if (c->flags & HR_CF_REFEED)
        refeed(c);
    if (cannot_write(c))
        return;
    while (c->q.count > 0) {
        uv_buf_t bufs[HR_NET_MAX_IOV];
        size_t total;
        const size_t n = hr_sendq_iov(&c->q, 0, bufs, HR_NET_MAX_IOV, &total);
        int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)n);
        c->srv->stats.writes++;
        if (w == UV_EAGAIN || w == UV_ENOSYS)
            w = 0;
        if (!took(c, w))
            return;
        if ((size_t)w < total) {
            start_write(c);
            return;
        }
    }
    after_flush(c);
}

static void on_write(uv_write_t *req, int status)
{
    hr_conn *c = req->data;
    hr_free(req);
    c->flags &= ~HR_CF_WRITING;
    const size_t done = hr_sendq_head_bytes(&c->q, c->inflight);
    c->inflight = 0;
    hr_sendq_advance(&c->q, done);
    if (status < 0) {
        hr_conn_terminate(c);
        return;
    }
    c->srv->stats.bytes_out += done;
    hr_conn_flush(c);
}

/* ---- the flush pass with io_uring ---- */

/* A queued send of c's head completed in a batch: like on_write, then the
 * usual flush writes whatever is left (a short send, -EAGAIN, frames queued
 * by callbacks since) or reports the drain. */
static void batch_done(void *owner, int res)
{
    hr_conn *c = owner;
    c->flags &= ~HR_CF_WRITING;
    c->inflight = 0;
    if (took(c, res == -EAGAIN ? 0 : res))
        hr_conn_flush(c);
}

/* Adds c's head to the batch (c counts as writing until batch_done).
 * False when c must take the usual path or the batch is full. */
static bool batch_add(hr_uring *u, hr_conn *c)
{
    if ((c->flags & HR_CF_REFEED) || c->q.count == 0 || cannot_write(c))
        return false;
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
        return false;
    uv_buf_t bufs[HR_NET_MAX_IOV];
    const size_t n = hr_sendq_iov(&c->q, 0, bufs, HR_NET_MAX_IOV, NULL);
    if (!hr_uring_add(u, fd, bufs, n, c))
        return false;
    c->inflight = (uint16_t)n;
    c->flags |= HR_CF_WRITING;
    c->srv->stats.writes++; /* a send per connection, as on the libuv path */
    c->srv->stats.uring_sends++;
    return true;
}

/* Nothing that may call back into the app (and so close a connection whose
 * send is queued, freeing its descriptor number for reuse) runs while sends
 * wait in the ring: a connection for the usual path, or one that finds the
 * batch full, submits the batch first. Callbacks run only after the kernel
 * finished the whole batch; they may close c meanwhile, which both paths
 * then see (its phase). */
void hr_conn_flush_batched(hr_uring *u, hr_conn *c)
{
    if (batch_add(u, c))
        return;
    if (!(c->flags & HR_CF_REFEED) && cannot_write(c))
        return; /* hr_conn_flush would do nothing: no need to cut the batch short */
    hr_uring_submit(u, batch_done);
    if (!batch_add(u, c))
        hr_conn_flush(c);
}

void hr_conn_flush_submit(hr_uring *u)
{
    hr_uring_submit(u, batch_done);
}

static void schedule_flush(hr_conn *c)
{
    if (!(c->flags & HR_CF_WRITING) || (c->flags & HR_CF_REFEED))
        hr_server_want_flush(c->srv, c);
}

/* Too slow a reader: keep only bytes the kernel or an in-flight write
 * already has (a frame must not be cut), then close with 1013. */
static void close_slow(hr_conn *c)
{
    c->srv->stats.slow_closes++;
    size_t keep = c->inflight;
    if (keep == 0 && c->q.count > 0 && hr_sendq_at(&c->q, 0)->off > 0)
        keep = 1;
    hr_sendq_truncate(&c->q, keep);
    hr_conn_close(c, c->slow_code != 0 ? c->slow_code : HR_WS_CLOSE_TRY_AGAIN, "send queue full");
    hr_log(HR_LOG_DEBUG, "net", "slow reader closed conn=%llu", (unsigned long long)c->id);
}

int hr_conn_queue(hr_conn *c, hr_msg *m, bool limited)
{
    if (c->phase == HR_PH_CLOSED)
        return HR_ECLOSED;
    const size_t limit = c->srv->cfg.send_queue_limit;
    if (limited && c->q.bytes > 0 && c->q.bytes + m->len > limit) {
        close_slow(c);
        return HR_ELIMIT;
    }
    if (hr_sendq_push(&c->q, m) != 0)
        return HR_ENOMEM;
    c->srv->stats.frames_out++;
    schedule_flush(c);
    return 0;
}

/* ---- closing ---- */

static bool code_is_sendable(int code)
{
    return code >= 1000 && code <= 4999 && hr_ws_close_code_is_valid((uint16_t)code);
}

static int close_ws(hr_conn *c, int code, const char *reason)
{
    if (c->flags & HR_CF_CLOSE_SENT)
        return HR_ECLOSED;
    const uint16_t wire = code_is_sendable(code) ? (uint16_t)code : 0;
    char payload[HR_WS_MAX_CONTROL] = {0};
    size_t len = 0;
    if (wire != 0) {
        payload[0] = (char)(wire >> 8);
        payload[1] = (char)(wire & 0xff);
        len = 2;
        if (reason != NULL) {
            const size_t full = strlen(reason);
            size_t r = full > HR_WS_MAX_CLOSE_REASON ? HR_WS_MAX_CLOSE_REASON : full;
            while (r > 0 && r < full && ((uint8_t)reason[r] & 0xC0) == 0x80)
                r--; /* never cut a UTF-8 character */
            memcpy(payload + 2, reason, r);
            len += r;
        }
    }
    hr_msg *m = hr_conn_ws_frame(c, HR_WS_OP_CLOSE, payload, len);
    c->flags |= HR_CF_CLOSE_SENT;
    if (!(c->flags & HR_CF_CLOSE_RCVD))
        c->close_code = (uint16_t)(code > 0 && code <= 4999 ? code : 1000);
    c->phase = HR_PH_WS_CLOSING;
    c->deadline = uv_now(c->srv->loop) + c->srv->cfg.close_timeout_ms;
    hr_conn_start_reading(c);
    if (m == NULL) {
        hr_conn_terminate(c);
        return 0;
    }
    hr_conn_queue(c, m, false);
    hr_msg_unref(m);
    return 0;
}

void hr_conn_linger(hr_conn *c)
{
    if (c->phase == HR_PH_CLOSED || c->phase == HR_PH_LINGER)
        return;
    c->phase = HR_PH_LINGER;
    c->deadline = uv_now(c->srv->loop) + c->srv->cfg.close_timeout_ms;
    schedule_flush(c);
}

int hr_conn_close(hr_conn *c, int code, const char *reason)
{
    switch (c->phase) {
    case HR_PH_WS:
    case HR_PH_WS_CLOSING:
        return close_ws(c, code, reason);
    case HR_PH_APP:
        c->flags &= ~HR_CF_KEEPALIVE; /* close once the app has responded */
        return 0;
    case HR_PH_HTTP:
    case HR_PH_DEFER:
    case HR_PH_STREAM: /* the answer ends here, after what is queued */
        hr_conn_linger(c);
        return 0;
    case HR_PH_CONNECTING:
    case HR_PH_CLIENT_HS:
        hr_conn_terminate(c);
        return 0;
    default:
        return HR_ECLOSED;
    }
}

const char *hr_conn_close_reason(const hr_conn *c, size_t *len)
{
    *len = c->close_reason != NULL ? c->close_reason_len : 0;
    return c->close_reason;
}

void hr_conn_set_close_codes(hr_conn *c, int slow_code, int shutdown_code)
{
    c->slow_code = (uint16_t)(slow_code >= 1000 && slow_code <= 4999 ? slow_code : 0);
    c->shutdown_code =
        (uint16_t)(shutdown_code >= 1000 && shutdown_code <= 4999 ? shutdown_code : 0);
}

int hr_conn_detach(hr_conn *c, hr_conn_give_fn give, void *arg)
{
    uv_os_fd_t fd = -1;
    /* An upgrade with on_upgrade, or a request with on_request that nothing
     * was written for yet: the other loop starts from the request itself. */
    const bool pending = (c->phase == HR_PH_DEFER || c->phase == HR_PH_APP) && c->q.count == 0;
    if (!pending || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return HR_EINVAL;
    const size_t n = c->in.len;
    uint8_t *copy = malloc(n > 0 ? n : 1);
    const int dup_fd = copy != NULL ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (dup_fd < 0) {
        free(copy);
        return HR_ENOMEM;
    }
    if (n > 0)
        memcpy(copy, c->in.base + c->in.off, n);
    /* This side reads nothing more (stopped for the app) and has written
     * nothing, so the receiver may start on the socket at once. */
    const int rc = give(arg, dup_fd, copy, n);
    if (rc != 0) {
        close(dup_fd);
        free(copy);
        return rc;
    }
    hr_conn_terminate(c); /* closes our descriptor only: the duplicate keeps the socket */
    return 0;
}

void hr_conn_abort(hr_conn *c)
{
    hr_conn_terminate(c);
}

void hr_conn_server_shutdown(hr_conn *c, int code)
{
    if (c->phase == HR_PH_HTTP && c->in.len == 0 && c->q.count == 0)
        hr_conn_terminate(c);
    else
        hr_conn_close(c, c->shutdown_code != 0 ? c->shutdown_code : code, "server shutting down");
}

void hr_conn_sweep(hr_conn *c, uint64_t now)
{
    if (c->phase == HR_PH_CLOSED)
        return;
    if (c->deadline != 0 && now >= c->deadline) {
        c->deadline = 0;
        if (c->phase != HR_PH_LINGER && c->phase != HR_PH_WS_CLOSING)
            c->srv->stats.timeout_closes++;
        hr_conn_terminate(c);
        return;
    }
    if (c->phase != HR_PH_WS)
        return;
    const hr_server_config *cfg = &c->srv->cfg;
    const uint64_t silent = now - c->last_rx;
    const bool ping_lost = cfg->ping_interval_ms != 0 && (c->flags & HR_CF_PING_OUT) &&
                           silent >= 2 * (uint64_t)cfg->ping_interval_ms;
    if ((cfg->idle_timeout_ms != 0 && silent >= cfg->idle_timeout_ms) || ping_lost) {
        c->srv->stats.timeout_closes++;
        hr_conn_close(c, HR_WS_CLOSE_GOING_AWAY, "idle timeout");
        return;
    }
    if (cfg->ping_interval_ms != 0 && silent >= cfg->ping_interval_ms &&
        !(c->flags & HR_CF_PING_OUT)) {
        c->flags |= HR_CF_PING_OUT;
        hr_conn_ws_ping(c);
    }
}

/* ---- accessors and sending ---- */

uint64_t hr_conn_id(const hr_conn *c)
{
    return c->id;
}

const struct sockaddr *hr_conn_peer_addr(const hr_conn *c)
{
    return &c->peer.sa;
}

char *hr_conn_peer(const hr_conn *c, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (c->peer.sa.sa_family == AF_INET) {
        uv_ip4_name(&c->peer.v4, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, ntohs(c->peer.v4.sin_port));
    } else if (c->peer.sa.sa_family == AF_INET6) {
        uv_ip6_name(&c->peer.v6, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, ntohs(c->peer.v6.sin6_port));
    } else {
        snprintf(out, cap, "?");
    }
    return out;
}

void hr_conn_set_app_data(hr_conn *c, void *data)
{
    c->app_data = data;
}

void *hr_conn_app_data(const hr_conn *c)
{
    return c->app_data;
}

void *hr_conn_app(const hr_conn *c)
{
    return c->srv->app;
}

hr_server *hr_conn_server(const hr_conn *c)
{
    return c->srv;
}

bool hr_conn_is_open(const hr_conn *c)
{
    return c->phase == HR_PH_WS;
}

bool hr_conn_has_deflate(const hr_conn *c)
{
    return (c->flags & HR_CF_DEFLATE) != 0;
}

size_t hr_conn_queued_bytes(const hr_conn *c)
{
    return c->q.bytes;
}

int hr_conn_send_msg(hr_conn *c, hr_msg *frame)
{
    if (c->flags & HR_CF_CLIENT)
        return HR_EINVAL;
    if (c->phase != HR_PH_WS)
        return HR_ECLOSED;
    return hr_conn_queue(c, frame, true);
}

int hr_conn_send_event(hr_conn *c, hr_msg *plain, hr_msg *deflated)
{
    const bool use_deflated = deflated != NULL && (c->flags & HR_CF_DEFLATE);
    return hr_conn_send_msg(c, use_deflated ? deflated : plain);
}

int hr_conn_send(hr_conn *c, int opcode, const void *p, size_t len)
{
    if (opcode != HR_WS_OP_TEXT && opcode != HR_WS_OP_BINARY)
        return HR_EINVAL;
    if (c->phase != HR_PH_WS)
        return HR_ECLOSED;
    hr_msg *m = hr_conn_ws_frame(c, (uint8_t)opcode, p, len);
    if (m == NULL)
        return HR_ENOMEM;
    const int rc = hr_conn_queue(c, m, true);
    hr_msg_unref(m);
    return rc;
}

int hr_conn_send_text(hr_conn *c, const void *p, size_t len)
{
    return hr_conn_send(c, HR_WS_OP_TEXT, p, len);
}

int hr_conn_respond(hr_conn *c, int status, const char *content_type, const void *body, size_t len,
                    const char *extra_headers)
{
    return hr_conn_http_respond(c, status, content_type, body, len, extra_headers);
}

int hr_conn_upgrade_accept(hr_conn *c, const hr_upgrade_reply *reply)
{
    return hr_conn_http_accept(c, reply);
}

void hr_conn_pause(hr_conn *c, bool pause)
{
    if (pause) {
        c->flags |= HR_CF_PAUSED;
        if (c->phase == HR_PH_HTTP || c->phase == HR_PH_WS || c->phase == HR_PH_CLIENT_HS)
            hr_conn_stop_reading(c);
    } else {
        c->flags &= ~HR_CF_PAUSED;
        hr_conn_start_reading(c);
    }
}

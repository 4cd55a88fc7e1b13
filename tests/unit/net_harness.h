/* Loopback harness for lib/net tests: an hr_server on 127.0.0.1 port 0 runs
 * its loop in a background thread, with a small test app (echo, plus a few
 * commands); the test body talks to it over blocking sockets with receive
 * timeouts, writing frames with lib/proto. Every wait is bounded: a socket
 * read gives up after 5 s. Shared by tests/unit/test_net_*.c. */
#ifndef NET_HARNESS_H
#define NET_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "net/client.h"
#include "net/conn.h"
#include "net/server.h"
#include "proto/http_head.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"

typedef struct harness {
    uv_loop_t loop;
    hr_server *srv;
    uv_thread_t thread;
    uv_async_t async;
    uv_sem_t done;
    void (*job)(struct harness *h, void *arg);
    void *job_arg;
    int port;
    atomic_int closes;    /* on_close calls */
    atomic_int last_code; /* last on_close code */
    atomic_int opens;     /* on_open calls */
    atomic_int requests;  /* on_request calls */
    atomic_int stopped;   /* shutdown's on_done ran */
    atomic_int drains;    /* on_drain calls */
    atomic_int paused;    /* a "pause" message paused reading */
    hr_conn *deferred;    /* loop thread only */
    hr_conn *last;        /* loop thread only: the last connection opened */
} harness;

/* A broadcast-style event: one plain and one deflated frame built once,
 * hr_conn_send_event picks per connection. */
static inline void h_send_event(hr_conn *c)
{
    static const char ev[] =
        "{\"type\":\"event\",\"data\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    p.server_no_context_takeover = true;
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, true, 6);
    hr_msg *plain = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, ev, sizeof ev - 1);
    hr_msg *deflated = hr_ws_deflate_frame_new(&d, HR_WS_OP_TEXT, ev, sizeof ev - 1);
    hr_conn_send_event(c, plain, deflated);
    hr_msg_unref(plain);
    hr_msg_unref(deflated);
    hr_ws_deflater_deinit(&d);
}

static inline void h_on_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    if (len == 5 && memcmp(data, "flood", 5) == 0) {
        static uint8_t chunk[16384];
        for (int i = 0; i < 4096; i++)
            if (hr_conn_send(c, HR_WS_OP_BINARY, chunk, sizeof chunk) != 0)
                break;
        return;
    }
    if (len == 5 && memcmp(data, "close", 5) == 0) {
        hr_conn_close(c, 4001, "asked");
        return;
    }
    if (len == 5 && memcmp(data, "pause", 5) == 0) {
        harness *h = hr_conn_app(c);
        hr_conn_pause(c, true);
        atomic_store(&h->paused, 1);
        return;
    }
    if (len == 5 && memcmp(data, "event", 5) == 0) {
        h_send_event(c);
        return;
    }
    hr_conn_send(c, opcode, data, len);
}

/* Streamed answers (test_net_stream): /stream/chunked, /stream/close and
 * /stream/len give "abc" then "defg" (one copied piece, one shared message)
 * with each framing; /stream/open starts a chunked answer and leaves it
 * open (the test closes the server or the client). */
static inline void h_stream(hr_conn *c, const char *what, size_t n)
{
    const int64_t length = n == 7 && memcmp(what, "chunked", 7) == 0 ? HR_CONN_STREAM_CHUNKED
                           : n == 5 && memcmp(what, "close", 5) == 0 ? HR_CONN_STREAM_CLOSE
                           : n == 4 && memcmp(what, "open", 4) == 0  ? HR_CONN_STREAM_CHUNKED
                                                                     : 7;
    if (hr_conn_stream_start(c, 200, "text/plain", "X-Stream: 1\r\n", length) != 0)
        return;
    hr_conn_stream_write(c, "abc", 3);
    if (n == 4 && memcmp(what, "open", 4) == 0)
        return;
    hr_msg *m = hr_msg_new_copy("defg", 4);
    hr_conn_stream_send_msg(c, m);
    hr_msg_unref(m);
    hr_conn_stream_end(c);
}

static inline void h_on_request(hr_conn *c, const hr_http_head *hd, const uint8_t *body, size_t len)
{
    harness *h = hr_conn_app(c);
    atomic_fetch_add(&h->requests, 1);
    if (hd->target_len > 8 && memcmp(hd->target, "/stream/", 8) == 0) {
        h_stream(c, hd->target + 8, hd->target_len - 8);
        return;
    }
    char out[256];
    const int n = snprintf(out, sizeof out, "%.*s %.*s %zu", (int)hd->method_len, hd->method_str,
                           (int)hd->target_len, hd->target, len);
    hr_conn_respond(c, 200, "text/plain", out, (size_t)n, NULL);
}

static inline int h_on_upgrade(hr_conn *c, const hr_http_head *hd, hr_upgrade_reply *r)
{
    harness *h = hr_conn_app(c);
    if (hd->target_len >= 5 && memcmp(hd->target, "/deny", 5) == 0) {
        r->body = "no";
        r->body_len = 2;
        return 403;
    }
    if (hd->target_len >= 6 && memcmp(hd->target, "/defer", 6) == 0) {
        h->deferred = c;
        return HR_CONN_UPGRADE_DEFER;
    }
    return 0;
}

static inline void h_on_open(hr_conn *c)
{
    harness *h = hr_conn_app(c);
    h->last = c;
    atomic_fetch_add(&h->opens, 1);
}

static inline void h_on_drain(hr_conn *c)
{
    harness *h = hr_conn_app(c);
    atomic_fetch_add(&h->drains, 1);
}

static inline void h_on_close(hr_conn *c, int code)
{
    harness *h = hr_conn_app(c);
    if (h->deferred == c)
        h->deferred = NULL;
    if (h->last == c)
        h->last = NULL;
    atomic_store(&h->last_code, code);
    atomic_fetch_add(&h->closes, 1);
}

static const hr_conn_callbacks h_callbacks = {
    .on_request = h_on_request,
    .on_upgrade = h_on_upgrade,
    .on_open = h_on_open,
    .on_message = h_on_message,
    .on_drain = h_on_drain,
    .on_close = h_on_close,
};

static inline void h_on_async(uv_async_t *a)
{
    harness *h = a->data;
    if (h->job != NULL) {
        void (*job)(harness *, void *) = h->job;
        h->job = NULL;
        job(h, h->job_arg);
        uv_sem_post(&h->done);
    }
}

static inline void h_thread(void *arg)
{
    harness *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
}

/* Runs job(h, arg) on the loop thread and waits for it to return. */
static inline void h_run(harness *h, void (*job)(harness *, void *), void *arg)
{
    h->job = job;
    h->job_arg = arg;
    uv_async_send(&h->async);
    uv_sem_wait(&h->done);
}

static inline harness *h_start(const hr_server_config *cfg_in)
{
    harness *h = calloc(1, sizeof *h);
    if (h == NULL)
        abort();
    uv_loop_init(&h->loop);
    uv_sem_init(&h->done, 0);
    uv_async_init(&h->loop, &h->async, h_on_async);
    h->async.data = h;
    hr_server_config cfg;
    if (cfg_in != NULL)
        cfg = *cfg_in;
    else
        hr_server_config_default(&cfg);
    /* ctest runs the lib/net suites twice: the second time (this variable
     * set) every write goes through the io_uring flush pass. */
    if (getenv("HERALD_TEST_IO_URING") != NULL)
        cfg.io_uring = true;
    h->srv = hr_server_new(&h->loop, &cfg, &h_callbacks, h);
    if (h->srv == NULL || hr_server_listen(h->srv, "127.0.0.1:0") != 0)
        abort();
    h->port = hr_server_port(h->srv, 0);
    uv_thread_create(&h->thread, h_thread, h);
    return h;
}

static inline void h_stopped(hr_server *s, void *arg)
{
    harness *h = arg;
    atomic_store(&h->stopped, 1);
    uv_close((uv_handle_t *)&h->async, NULL);
}

static inline void h_shutdown_job(harness *h, void *arg)
{
    hr_server_shutdown(h->srv, 1001, h_stopped, h);
}

/* Shuts the server down, joins the loop thread and frees everything. */
static inline void h_stop(harness *h)
{
    h_run(h, h_shutdown_job, NULL);
    uv_thread_join(&h->thread);
    hr_server_free(h->srv);
    uv_loop_close(&h->loop);
    uv_sem_destroy(&h->done);
    free(h);
}

/* Waits (bounded, 5 s) until *v reaches at least want. Returns the value. */
static inline int h_wait_at_least(atomic_int *v, int want)
{
    for (int i = 0; i < 500 && atomic_load(v) < want; i++)
        usleep(10000);
    return atomic_load(v);
}

/* ---- raw blocking client ---- */

typedef struct tc {
    int fd;
    size_t len;
    uint8_t buf[1 << 20];
} tc;

static inline tc *tc_connect(int port)
{
    tc *t = calloc(1, sizeof *t);
    if (t == NULL)
        abort();
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(t->fd, (struct sockaddr *)&a, sizeof a) != 0)
        abort();
    return t;
}

static inline void tc_free(tc *t)
{
    close(t->fd);
    free(t);
}

static inline void tc_send(tc *t, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        const ssize_t w = send(t->fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        b += w;
        n -= (size_t)w;
    }
}

/* Reads more bytes into the buffer. Returns the count, 0 on EOF, -1 on
 * error or timeout. */
static inline ssize_t tc_fill(tc *t)
{
    if (t->len == sizeof t->buf)
        return -1;
    const ssize_t r = recv(t->fd, t->buf + t->len, sizeof t->buf - t->len, 0);
    if (r > 0)
        t->len += (size_t)r;
    return r;
}

static inline void tc_consume(tc *t, size_t n)
{
    memmove(t->buf, t->buf + n, t->len - n);
    t->len -= n;
}

/* True once the peer closed (EOF or reset), discarding anything else. */
static inline bool tc_wait_eof(tc *t)
{
    for (;;) {
        t->len = 0;
        const ssize_t r = tc_fill(t);
        if (r == 0)
            return true;
        if (r < 0)
            return errno == ECONNRESET;
    }
}

/* Reads one HTTP response head (+ Content-Length body). Returns the status,
 * or -1; head text (NUL-terminated) in head[0..cap); body in body/cap. */
static inline int tc_read_response(tc *t, char *head, size_t hcap, char *body, size_t bcap)
{
    hr_http_head h;
    int rc;
    while ((rc = hr_http_head_parse(t->buf, t->len, true, NULL, &h)) == 0)
        if (tc_fill(t) <= 0)
            return -1;
    if (rc < 0)
        return -1;
    const int status = h.status;
    const size_t hl = h.head_len;
    const size_t cl = h.content_length > 0 ? (size_t)h.content_length : 0;
    if (head != NULL) {
        const size_t n = hl < hcap - 1 ? hl : hcap - 1;
        memcpy(head, t->buf, n);
        head[n] = '\0';
    }
    while (t->len < hl + cl)
        if (tc_fill(t) <= 0)
            return -1;
    if (body != NULL) {
        const size_t n = cl < bcap - 1 ? cl : bcap - 1;
        memcpy(body, t->buf + hl, n);
        body[n] = '\0';
    }
    tc_consume(t, hl + cl);
    return status;
}

/* Sends a WebSocket upgrade for path with extra header lines; returns the
 * response status (101 when open), head text in head. */
static inline int tc_upgrade(tc *t, const char *path, const char *extra, char *head, size_t hcap)
{
    char req[2048];
    const int n = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n%s\r\n",
                           path, extra ? extra : "");
    tc_send(t, req, (size_t)n);
    return tc_read_response(t, head, hcap, NULL, 0);
}

/* Sends one masked frame. */
static inline void tc_frame(tc *t, uint8_t opcode, bool fin, bool rsv1, const void *p, size_t n)
{
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    uint8_t *out = malloc(n + HR_WS_MAX_HEADER);
    const size_t w =
        hr_ws_frame_client_write(out, n + HR_WS_MAX_HEADER, opcode, fin, rsv1, p, n, mask);
    tc_send(t, out, w);
    free(out);
}

/* Reads one (unmasked server) frame; payload copied into out (cap). Returns
 * the opcode, or -1 on EOF/timeout. *len gets the payload length. */
static inline int tc_read_frame(tc *t, uint8_t *out, size_t cap, size_t *len, bool *rsv1)
{
    hr_ws_header hd;
    int rc;
    while ((rc = hr_ws_frame_parse_header(t->buf, t->len, &hd)) == 0)
        if (tc_fill(t) <= 0)
            return -1;
    if (rc < 0)
        return -1;
    while (t->len < hd.header_len + hd.len)
        if (tc_fill(t) <= 0)
            return -1;
    const size_t n = hd.len < cap ? (size_t)hd.len : cap;
    if (out != NULL)
        memcpy(out, t->buf + hd.header_len, n);
    *len = (size_t)hd.len;
    if (rsv1 != NULL)
        *rsv1 = hd.rsv1;
    tc_consume(t, hd.header_len + (size_t)hd.len);
    return hd.opcode;
}

/* Reads frames until a close frame; returns its code (0 when empty), -1 on
 * EOF first. */
static inline int tc_read_close(tc *t)
{
    uint8_t p[256];
    size_t len;
    int op;
    while ((op = tc_read_frame(t, p, sizeof p, &len, NULL)) >= 0) {
        if (op == HR_WS_OP_CLOSE)
            return len >= 2 ? (p[0] << 8 | p[1]) : 0;
    }
    return -1;
}

#endif

/* Loopback tests for the gateway's upstream HTTP client (gw_uphttp): a tiny
 * libuv server on 127.0.0.1:0 answers each request with a canned response
 * chosen by the request path; the client must decode Content-Length, chunked
 * and close-delimited bodies, reuse keep-alive connections, time out, report
 * refused connects as not connected, and refuse oversized responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/err.h"
#include "gateway/config.h"
#include "gateway/uphttp.h"

typedef struct srv_conn {
    uv_tcp_t tcp;
    char buf[8192];
    size_t len;
} srv_conn;

static uv_loop_t loop;
static uv_tcp_t listener;
static int port;
static int accepted;

static const char *answer_for(const char *req)
{
    if (strstr(req, "GET /cl ") != NULL)
        return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
    if (strstr(req, "GET /chunked ") != NULL)
        return "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: 1\r\n\r\n";
    if (strstr(req, "GET /close ") != NULL)
        return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end";
    if (strstr(req, "HEAD /head ") != NULL)
        return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    if (strstr(req, "GET /big ") != NULL)
        return "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    if (strstr(req, "GET /bad ") != NULL)
        return "HTTP/1.1 2x0 Nope\r\n\r\n";
    if (strstr(req, "GET /silent ") != NULL)
        return NULL;
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
}

static void srv_closed(uv_handle_t *h)
{
    free(h->data);
}

static void srv_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    srv_conn *c = h->data;
    b->base = c->buf + c->len;
    b->len = sizeof c->buf - c->len - 1;
}

static void srv_written(uv_write_t *w, int status)
{
    free(w);
}

static void srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    srv_conn *c = s->data;
    if (n < 0) {
        uv_close((uv_handle_t *)s, srv_closed);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL)
        return;
    const char *ans = answer_for(c->buf);
    const size_t used = (size_t)(end + 4 - c->buf);
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    if (ans == NULL)
        return;
    uv_write_t *w = malloc(sizeof *w);
    uv_buf_t out = uv_buf_init((char *)ans, (unsigned)strlen(ans));
    uv_write(w, s, &out, 1, srv_written);
    if (strstr(ans, "Connection: close") != NULL)
        uv_close((uv_handle_t *)s, srv_closed);
}

static void srv_accept(uv_stream_t *l, int status)
{
    srv_conn *c = calloc(1, sizeof *c);
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    uv_accept(l, (uv_stream_t *)&c->tcp);
    accepted++;
    uv_read_start((uv_stream_t *)&c->tcp, srv_alloc, srv_read);
}

typedef struct result {
    bool done;
    int err;
    bool connected;
    int status;
    char body[256];
    size_t body_len;
} result;

static void on_result(void *arg, int err, bool connected, const hr_http_head *head,
                      const uint8_t *body, size_t len)
{
    result *r = arg;
    r->done = true;
    r->err = err;
    r->connected = connected;
    r->status = head != NULL ? head->status : 0;
    r->body_len = len;
    if (len < sizeof r->body) {
        if (len > 0)
            memcpy(r->body, body, len);
        r->body[len] = '\0';
    }
}

static gw_addr addr_of(int p)
{
    gw_addr a;
    char text[32];
    snprintf(text, sizeof text, "127.0.0.1:%d", p);
    assert_int_equal(gw_config_parse_addr(text, strlen(text), &a), 0);
    return a;
}

static result request(gw_uphttp *h, int p, const char *method, const char *path, size_t max_resp,
                      uint32_t timeout_ms)
{
    char req[256];
    const int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, path);
    result r = {0};
    gw_addr a = addr_of(p);
    assert_int_equal(gw_uphttp_request(h, &a, req, (size_t)n, strcmp(method, "HEAD") == 0, max_resp,
                                       timeout_ms, on_result, &r, NULL),
                     0);
    assert_false(r.done); /* never called from inside the request */
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    return r;
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    uv_tcp_init(&loop, &listener);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&listener, (const struct sockaddr *)&a, 0);
    uv_listen((uv_stream_t *)&listener, 64, srv_accept);
    struct sockaddr_in got;
    int len = sizeof got;
    uv_tcp_getsockname(&listener, (struct sockaddr *)&got, &len);
    port = ntohs(got.sin_port);
    accepted = 0;
    return 0;
}

static void close_all(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, h == (uv_handle_t *)&listener ? NULL : srv_closed);
}

static int teardown(void **state)
{
    uv_walk(&loop, close_all, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static void test_gw_uphttp_bodies_and_reuse(void **state)
{
    gw_uphttp *h = gw_uphttp_new(&loop, 8, 30000);
    result r = request(h, port, "GET", "/cl", 65536, 5000);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_int_equal(gw_uphttp_idle(h), 1);
    r = request(h, port, "GET", "/chunked", 65536, 5000);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "abcdefg");
    r = request(h, port, "HEAD", "/head", 65536, 5000);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    r = request(h, port, "GET", "/nope", 65536, 5000);
    assert_int_equal(r.status, 404);
    assert_int_equal(accepted, 1); /* one keep-alive connection for all four */
    r = request(h, port, "GET", "/close", 65536, 5000);
    assert_int_equal(r.err, 0);
    assert_string_equal(r.body, "until the end");
    assert_int_equal(gw_uphttp_idle(h), 0);
    r = request(h, port, "GET", "/cl", 65536, 5000);
    assert_string_equal(r.body, "hello");
    assert_int_equal(accepted, 2);
    gw_uphttp_free(h);
}

static void test_gw_uphttp_errors(void **state)
{
    gw_uphttp *h = gw_uphttp_new(&loop, 8, 30000);
    result r = request(h, port, "GET", "/big", 1024, 5000);
    assert_int_equal(r.err, HR_ETOOBIG);
    assert_true(r.connected);
    r = request(h, port, "GET", "/bad", 65536, 5000);
    assert_int_equal(r.err, HR_EPROTO);
    r = request(h, port, "GET", "/silent", 65536, 200);
    assert_int_equal(r.err, UV_ETIMEDOUT);
    /* A port nobody listens on: refused, never connected. */
    uv_tcp_t probe;
    uv_tcp_init(&loop, &probe);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&probe, (const struct sockaddr *)&a, 0);
    struct sockaddr_in got;
    int len = sizeof got;
    uv_tcp_getsockname(&probe, (struct sockaddr *)&got, &len);
    const int dead = ntohs(got.sin_port);
    uv_close((uv_handle_t *)&probe, NULL);
    r = request(h, dead, "GET", "/cl", 65536, 5000);
    assert_true(r.err < 0);
    assert_false(r.connected);
    gw_uphttp_free(h);
}

static void test_gw_uphttp_cancel(void **state)
{
    gw_uphttp *h = gw_uphttp_new(&loop, 8, 30000);
    result r = {0};
    gw_addr a = addr_of(port);
    gw_upreq *q = NULL;
    const char req[] = "GET /silent HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(
        gw_uphttp_request(h, &a, req, sizeof req - 1, false, 65536, 5000, on_result, &r, &q), 0);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    gw_upreq_cancel(q);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_false(r.done);
    /* Freeing with a request in flight cancels it without a callback. */
    assert_int_equal(
        gw_uphttp_request(h, &a, req, sizeof req - 1, false, 65536, 5000, on_result, &r, NULL), 0);
    gw_uphttp_free(h);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_false(r.done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gw_uphttp_bodies_and_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gw_uphttp_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gw_uphttp_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

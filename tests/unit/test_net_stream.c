/* Loopback tests of lib/net's streamed HTTP answers (hr_conn_stream_*):
 * chunked, close-delimited and Content-Length framing byte for byte, HEAD
 * and HTTP/1.0 clients, a pipelined request waiting for the stream's end,
 * and a client leaving in the middle of an open stream (on_close runs).
 * See net_harness.h (h_stream). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net_harness.h"

/* Reads until the peer closes (or cap); returns the bytes, NUL-terminated. */
static size_t read_all(tc *t, char *out, size_t cap)
{
    while (t->len < cap - 1 && tc_fill(t) > 0) {
    }
    const size_t n = t->len < cap - 1 ? t->len : cap - 1;
    memcpy(out, t->buf, n);
    out[n] = '\0';
    return n;
}

/* Reads until out holds want (a prefix of the stream), failing past cap. */
static void read_exact(tc *t, const char *want)
{
    const size_t n = strlen(want);
    while (t->len < n)
        assert_true(tc_fill(t) > 0);
    assert_memory_equal(t->buf, want, n);
    tc_consume(t, n);
}

static void test_net_stream_chunked_then_pipelined(void **state)
{
    (void)state;
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    const char req[] = "GET /stream/chunked HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /stream/len HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    tc_send(t, req, sizeof req - 1);
    read_exact(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                  "X-Stream: 1\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    read_exact(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
                  "X-Stream: 1\r\n\r\nabcdefg");
    char head[512], body[64];
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_string_equal(body, "GET /after 0");
    assert_true(tc_wait_eof(t));
    tc_free(t);
    assert_int_equal(atomic_load(&h->requests), 3);
    h_stop(h);
}

static void test_net_stream_close_delimited_and_http10(void **state)
{
    (void)state;
    harness *h = h_start(NULL);
    char all[512];
    tc *t = tc_connect(h->port);
    tc_send(t, "GET /stream/close HTTP/1.1\r\nHost: x\r\n\r\n", 39);
    read_all(t, all, sizeof all);
    assert_string_equal(all, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                             "X-Stream: 1\r\n\r\nabcdefg");
    tc_free(t);
    /* HTTP/1.0 has no chunked coding: the body ends with the connection. */
    t = tc_connect(h->port);
    tc_send(t, "GET /stream/chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 56);
    read_all(t, all, sizeof all);
    assert_string_equal(all, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                             "X-Stream: 1\r\n\r\nabcdefg");
    tc_free(t);
    /* HEAD: the head only, and the connection stays usable. */
    t = tc_connect(h->port);
    tc_send(t, "HEAD /stream/len HTTP/1.1\r\nHost: x\r\n\r\n", 38);
    read_exact(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
                  "X-Stream: 1\r\n\r\n");
    tc_send(t, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", 28);
    char head[512], body[64];
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_string_equal(body, "GET /x 0");
    tc_free(t);
    h_stop(h);
}

static void test_net_stream_client_leaves(void **state)
{
    (void)state;
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    tc_send(t, "GET /stream/open HTTP/1.1\r\nHost: x\r\n\r\n", 38);
    read_exact(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                  "X-Stream: 1\r\n\r\n3\r\nabc\r\n");
    tc_free(t); /* the stream is still open on the server: it must notice */
    assert_int_equal(h_wait_at_least(&h->closes, 1), 1);
    /* And a stream open at shutdown ends with the server. */
    t = tc_connect(h->port);
    tc_send(t, "GET /stream/open HTTP/1.1\r\nHost: x\r\n\r\n", 38);
    read_exact(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                  "X-Stream: 1\r\n\r\n3\r\nabc\r\n");
    h_stop(h);
    assert_true(tc_wait_eof(t));
    tc_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_stream_chunked_then_pipelined),
        cmocka_unit_test(test_net_stream_close_delimited_and_http10),
        cmocka_unit_test(test_net_stream_client_leaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

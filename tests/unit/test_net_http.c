/* Loopback tests of lib/net's HTTP side: keep-alive and pipelining,
 * Content-Length and chunked bodies, 100-continue, our own refusals (400,
 * 413, 426, 431), app refusals of upgrades (403) and a deferred upgrade
 * accepted later. See net_harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net_harness.h"

static void test_net_http_pipelined_keepalive(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                       "HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n";
    tc_send(t, req, sizeof req - 1);
    char head[1024], body[256];
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_string_equal(body, "GET /a 0");
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_string_equal(body, "POST /b 5");
    /* HEAD: Content-Length of the would-be body, and no body bytes. */
    hr_http_head hd;
    while (hr_http_head_parse(t->buf, t->len, true, NULL, &hd) == 0)
        assert_true(tc_fill(t) > 0);
    assert_int_equal(hd.content_length, 9); /* "HEAD /c 0" */
    assert_int_equal(t->len, hd.head_len);
    tc_consume(t, hd.head_len);
    /* Still open for another request. */
    tc_send(t, "GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 47);
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_non_null(strstr(head, "Connection: close"));
    assert_true(tc_wait_eof(t));
    tc_free(t);
    assert_int_equal(atomic_load(&h->requests), 4);
    h_stop(h);
}

static void test_net_http_chunked_and_continue(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    const char head1[] = "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         "Expect: 100-continue\r\n\r\n";
    tc_send(t, head1, sizeof head1 - 1);
    char head[1024], body[256];
    /* 100 Continue comes before the body is sent. */
    assert_int_equal(tc_read_response(t, head, sizeof head, NULL, 0), 100);
    const char chunks[] = "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n";
    tc_send(t, chunks, sizeof chunks - 1);
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_string_equal(body, "POST /p 7");
    tc_free(t);
    h_stop(h);
}

static int status_of(harness *h, const char *raw, size_t n, char *head, size_t hcap)
{
    tc *t = tc_connect(h->port);
    tc_send(t, raw, n);
    const int st = tc_read_response(t, head, hcap, NULL, 0);
    tc_free(t);
    return st;
}

static void test_net_http_refusals(void **state)
{
    hr_server_config cfg;
    hr_server_config_default(&cfg);
    cfg.max_body = 100;
    harness *h = h_start(&cfg);
    char head[1024];
    const char bad[] = "GARBAGE\r\n\r\n";
    assert_int_equal(status_of(h, bad, sizeof bad - 1, head, sizeof head), 400);
    const char big[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n";
    assert_int_equal(status_of(h, big, sizeof big - 1, head, sizeof head), 413);
    const char v12[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 12\r\n\r\n";
    assert_int_equal(status_of(h, v12, sizeof v12 - 1, head, sizeof head), 426);
    assert_non_null(strstr(head, "Sec-WebSocket-Version: 13"));
    const char nokey[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_int_equal(status_of(h, nokey, sizeof nokey - 1, head, sizeof head), 400);
    /* A head over 8 KiB. */
    char *huge = malloc(12000);
    int n = snprintf(huge, 12000, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(huge + n, 'a', 10000);
    memcpy(huge + n + 10000, "\r\n\r\n", 4);
    assert_int_equal(status_of(h, huge, (size_t)n + 10004, head, sizeof head), 431);
    free(huge);
    assert_int_equal(atomic_load(&h->requests), 0);
    assert_true(hr_server_stats(h->srv)->http_errors >= 5);
    h_stop(h);
}

static void test_net_http_upgrade_refused_by_app(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    char head[1024];
    assert_int_equal(tc_upgrade(t, "/deny", NULL, head, sizeof head), 403);
    assert_true(tc_wait_eof(t));
    tc_free(t);
    assert_int_equal(h_wait_at_least(&h->closes, 1), 1);
    assert_int_equal(atomic_load(&h->last_code), 0);
    h_stop(h);
}

static void accept_deferred(harness *h, void *arg)
{
    int *rc = arg;
    *rc = h->deferred != NULL ? hr_conn_upgrade_accept(h->deferred, NULL) : -1;
}

static void test_net_http_deferred_upgrade(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    char req[512];
    const int n = snprintf(req, sizeof req,
                           "GET /defer HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n");
    tc_send(t, req, (size_t)n);
    int rc = 1;
    for (int i = 0; i < 500 && rc != 0; i++) {
        h_run(h, accept_deferred, &rc);
        if (rc != 0)
            usleep(10000);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(tc_read_response(t, NULL, 0, NULL, 0), 101);
    tc_frame(t, HR_WS_OP_TEXT, true, false, "late", 4);
    uint8_t buf[16];
    size_t len = 0;
    assert_int_equal(tc_read_frame(t, buf, sizeof buf, &len, NULL), HR_WS_OP_TEXT);
    assert_int_equal(len, 4);
    tc_free(t);
    h_stop(h);
}

static void test_net_http_shutdown_idle(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    tc_send(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    assert_int_equal(tc_read_response(t, NULL, 0, NULL, 0), 200);
    h_run(h, h_shutdown_job, NULL);
    assert_true(tc_wait_eof(t));
    uv_thread_join(&h->thread);
    assert_int_equal(atomic_load(&h->stopped), 1);
    assert_int_equal(hr_server_stats(h->srv)->conns_open, 0);
    hr_server_free(h->srv);
    uv_loop_close(&h->loop);
    uv_sem_destroy(&h->done);
    free(h);
    tc_free(t);
}

/* HTTP/1.0: kept open only when asked, and then told so explicitly. */
static void test_net_http_http10(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    char head[1024], body[256];
    const char ka[] = "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    tc_send(t, ka, sizeof ka - 1);
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_non_null(strstr(head, "Connection: keep-alive"));
    const char plain[] = "GET /c HTTP/1.0\r\n\r\n";
    tc_send(t, plain, sizeof plain - 1);
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_string_equal(body, "GET /c 0");
    assert_non_null(strstr(head, "Connection: close"));
    assert_true(tc_wait_eof(t));
    tc_free(t);
    h_stop(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_http_pipelined_keepalive),
        cmocka_unit_test(test_net_http_chunked_and_continue),
        cmocka_unit_test(test_net_http_refusals),
        cmocka_unit_test(test_net_http_upgrade_refused_by_app),
        cmocka_unit_test(test_net_http_deferred_upgrade),
        cmocka_unit_test(test_net_http_shutdown_idle),
        cmocka_unit_test(test_net_http_http10),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

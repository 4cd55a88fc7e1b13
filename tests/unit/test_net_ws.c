/* Loopback tests of lib/net's WebSocket side: handshake, echo, fragments
 * with interleaved pings, close handshakes both ways, protocol errors (1002,
 * 1007, 1009), permessage-deflate, a slow reader closed with 1013 and a
 * server shutdown with 1001. Raw frames from lib/proto over blocking
 * sockets; see net_harness.h. No timing asserts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/tcp.h>

#include "net_harness.h"
#include "proto/ws_deflate.h"

static void expect_bytes(tc *t, uint8_t opcode, const char *s, size_t n)
{
    uint8_t buf[256];
    size_t len = 0;
    assert_int_equal(tc_read_frame(t, buf, sizeof buf, &len, NULL), opcode);
    assert_int_equal(len, n);
    assert_memory_equal(buf, s, len);
}

static void expect_echo(tc *t, uint8_t opcode, const char *s)
{
    expect_bytes(t, opcode, s, strlen(s));
}

static void test_net_ws_echo(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    char head[1024];
    assert_int_equal(tc_upgrade(t, "/anything?x=1", NULL, head, sizeof head), 101);
    assert_non_null(strstr(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    tc_frame(t, HR_WS_OP_TEXT, true, false, "hello", 5);
    expect_echo(t, HR_WS_OP_TEXT, "hello");
    tc_frame(t, HR_WS_OP_BINARY, true, false, "\x00\x01\x02", 3);
    expect_bytes(t, HR_WS_OP_BINARY, "\x00\x01\x02", 3);
    tc_frame(t, HR_WS_OP_TEXT, true, false, "", 0);
    expect_echo(t, HR_WS_OP_TEXT, "");
    assert_int_equal(h_wait_at_least(&h->opens, 1), 1);
    tc_free(t);
    assert_int_equal(h_wait_at_least(&h->closes, 1), 1);
    assert_int_equal(atomic_load(&h->last_code), 1006);
    h_stop(h);
}

static void test_net_ws_fragments_and_ping(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    tc_frame(t, HR_WS_OP_TEXT, false, false, "fr", 2);
    tc_frame(t, HR_WS_OP_PING, true, false, "pp", 2);
    tc_frame(t, HR_WS_OP_CONT, false, false, "ag", 2);
    tc_frame(t, HR_WS_OP_CONT, true, false, "\xc3\xa9", 2);
    expect_echo(t, HR_WS_OP_PONG, "pp");
    expect_echo(t, HR_WS_OP_TEXT, "frag\xc3\xa9");
    tc_frame(t, HR_WS_OP_CLOSE, true, false, "\x03\xe8", 2);
    assert_int_equal(tc_read_close(t), 1000);
    assert_true(tc_wait_eof(t));
    assert_int_equal(h_wait_at_least(&h->closes, 1), 1);
    assert_int_equal(atomic_load(&h->last_code), 1000);
    tc_free(t);
    h_stop(h);
}

static void test_net_ws_close_echoes_code(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    tc_frame(t, HR_WS_OP_CLOSE, true, false, "\x0f\xa1why", 5); /* 4001 */
    assert_int_equal(tc_read_close(t), 4001);
    assert_true(tc_wait_eof(t));
    assert_int_equal(h_wait_at_least(&h->closes, 1), 1);
    assert_int_equal(atomic_load(&h->last_code), 4001);
    tc_free(t);
    /* An empty close is answered with an empty close; the app sees 1005. */
    t = tc_connect(h->port);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    tc_frame(t, HR_WS_OP_CLOSE, true, false, NULL, 0);
    assert_int_equal(tc_read_close(t), 0);
    assert_true(tc_wait_eof(t));
    assert_int_equal(h_wait_at_least(&h->closes, 2), 2);
    assert_int_equal(atomic_load(&h->last_code), 1005);
    tc_free(t);
    h_stop(h);
}

static void test_net_ws_server_initiated_close(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    tc_frame(t, HR_WS_OP_TEXT, true, false, "close", 5);
    assert_int_equal(tc_read_close(t), 4001);
    tc_frame(t, HR_WS_OP_CLOSE, true, false, "\x0f\xa1", 2);
    assert_true(tc_wait_eof(t));
    assert_int_equal(h_wait_at_least(&h->closes, 1), 1);
    assert_int_equal(atomic_load(&h->last_code), 4001);
    tc_free(t);
    h_stop(h);
}

/* Sends raw bytes after an upgrade and expects a close frame with code. */
static void expect_failure(harness *h, const void *raw, size_t n, int code)
{
    tc *t = tc_connect(h->port);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    tc_send(t, raw, n);
    assert_int_equal(tc_read_close(t), code);
    assert_true(tc_wait_eof(t));
    tc_free(t);
}

static void test_net_ws_protocol_errors(void **state)
{
    hr_server_config cfg;
    hr_server_config_default(&cfg);
    cfg.max_message = 1000;
    harness *h = h_start(&cfg);
    /* An unmasked client frame. */
    expect_failure(h, "\x81\x02hi", 4, 1002);
    /* RSV2 set. */
    expect_failure(h, "\xa1\x80\x00\x00\x00\x00", 6, 1002);
    /* RSV1 without negotiated deflate. */
    expect_failure(h, "\xc1\x80\x00\x00\x00\x00", 6, 1002);
    /* Invalid UTF-8 in a text message (masked with a zero key). */
    expect_failure(h, "\x81\x82\x00\x00\x00\x00\xc0\xaf", 8, 1007);
    /* A message over max_message (2000 bytes announced). */
    expect_failure(h, "\x82\xfe\x07\xd0\x00\x00\x00\x00", 8, 1009);
    /* Reserved opcode 3. */
    expect_failure(h, "\x83\x80\x00\x00\x00\x00", 6, 1002);
    assert_int_equal(h_wait_at_least(&h->closes, 6), 6);
    assert_true(hr_server_stats(h->srv)->protocol_closes >= 6);
    h_stop(h);
}

static void test_net_ws_deflate(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    char head[1024];
    assert_int_equal(tc_upgrade(t, "/",
                                "Sec-WebSocket-Extensions: permessage-deflate; "
                                "client_max_window_bits\r\n",
                                head, sizeof head),
                     101);
    assert_non_null(strstr(head, "permessage-deflate"));
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    p.server_no_context_takeover = true;
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, false, 6);
    hr_buf z;
    hr_buf_init(&z, 1 << 20);
    char msg[600];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)('a' + i % 7);
    assert_int_equal(hr_ws_deflate_message(&d, (const uint8_t *)msg, sizeof msg, &z), 0);
    tc_frame(t, HR_WS_OP_TEXT, true, true, hr_buf_data(&z), z.len);
    uint8_t buf[2048];
    size_t len = 0;
    bool rsv1 = false;
    assert_int_equal(tc_read_frame(t, buf, sizeof buf, &len, &rsv1), HR_WS_OP_TEXT);
    assert_true(rsv1);
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &p, false);
    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    assert_int_equal(hr_ws_inflate(&f, buf, len, &out, 1 << 20), 0);
    assert_int_equal(out.len, sizeof msg);
    assert_memory_equal(hr_buf_data(&out), msg, sizeof msg);
    /* Corrupt deflate data fails the connection with 1007. */
    tc_frame(t, HR_WS_OP_BINARY, true, true, "\xff\xff\xff\xff", 4);
    assert_int_equal(tc_read_close(t), 1007);
    hr_buf_deinit(&out);
    hr_buf_deinit(&z);
    hr_ws_inflater_deinit(&f);
    hr_ws_deflater_deinit(&d);
    tc_free(t);
    h_stop(h);
}

static void test_net_ws_slow_reader_1013(void **state)
{
    hr_server_config cfg;
    hr_server_config_default(&cfg);
    cfg.send_queue_limit = 256 * 1024;
    cfg.close_timeout_ms = 200;
    harness *h = h_start(&cfg);
    tc *t = tc_connect(h->port);
    int small = 4096;
    setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    /* A second, well-behaved connection must not be affected. */
    tc *ok = tc_connect(h->port);
    assert_int_equal(tc_upgrade(ok, "/", NULL, NULL, 0), 101);
    tc_frame(t, HR_WS_OP_TEXT, true, false, "flood", 5);
    assert_int_equal(h_wait_at_least(&h->closes, 1), 1);
    assert_int_equal(atomic_load(&h->last_code), 1013);
    assert_int_equal(hr_server_stats(h->srv)->slow_closes, 1);
    tc_frame(ok, HR_WS_OP_TEXT, true, false, "still here", 10);
    expect_echo(ok, HR_WS_OP_TEXT, "still here");
    tc_free(t);
    tc_free(ok);
    h_stop(h);
}

static void test_net_ws_shutdown_1001(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    assert_int_equal(h_wait_at_least(&h->opens, 1), 1);
    h_run(h, h_shutdown_job, NULL);
    assert_int_equal(tc_read_close(t), 1001);
    tc_frame(t, HR_WS_OP_CLOSE, true, false, "\x03\xe9", 2);
    assert_true(tc_wait_eof(t));
    uv_thread_join(&h->thread);
    assert_int_equal(atomic_load(&h->stopped), 1);
    assert_int_equal(atomic_load(&h->last_code), 1001);
    hr_server_free(h->srv);
    uv_loop_close(&h->loop);
    uv_sem_destroy(&h->done);
    free(h);
    tc_free(t);
}

/* Frames trickling in one byte per write: partial headers and payloads. */
static void test_net_ws_byte_by_byte(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    int one = 1;
    setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    static const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t raw[512];
    size_t n =
        hr_ws_frame_client_write(raw, sizeof raw, HR_WS_OP_TEXT, false, false, "ab", 2, mask);
    n +=
        hr_ws_frame_client_write(raw + n, sizeof raw - n, HR_WS_OP_PING, true, false, "x", 1, mask);
    n += hr_ws_frame_client_write(raw + n, sizeof raw - n, HR_WS_OP_CONT, true, false, "cd", 2,
                                  mask);
    for (size_t i = 0; i < n; i++)
        tc_send(t, raw + i, 1);
    expect_echo(t, HR_WS_OP_PONG, "x");
    expect_echo(t, HR_WS_OP_TEXT, "abcd");
    tc_free(t);
    h_stop(h);
}

/* A 4 MiB binary message in 64 KiB fragments comes back whole. */
static void test_net_ws_large_message(void **state)
{
    hr_server_config cfg;
    hr_server_config_default(&cfg);
    cfg.max_message = 8 << 20;
    cfg.send_queue_limit = 16 << 20;
    harness *h = h_start(&cfg);
    tc *t = tc_connect(h->port);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    const size_t total = 4 << 20, part = 64 << 10;
    uint8_t *msg = malloc(total);
    for (size_t i = 0; i < total; i++)
        msg[i] = (uint8_t)(i * 7);
    for (size_t off = 0; off < total; off += part)
        tc_frame(t, off == 0 ? HR_WS_OP_BINARY : HR_WS_OP_CONT, off + part == total, false,
                 msg + off, part);
    /* The echo is one frame of 4 MiB; read it in pieces (the buffer is 1 MiB). */
    while (t->len < 10)
        assert_true(tc_fill(t) > 0);
    hr_ws_header hd;
    assert_int_equal(hr_ws_frame_parse_header(t->buf, t->len, &hd), 10);
    assert_int_equal(hd.opcode, HR_WS_OP_BINARY);
    assert_int_equal(hd.len, total);
    tc_consume(t, 10);
    size_t got = 0;
    while (got < total) {
        if (t->len == 0)
            assert_true(tc_fill(t) > 0);
        const size_t take = t->len < total - got ? t->len : total - got;
        assert_memory_equal(t->buf, msg + got, take);
        got += take;
        tc_consume(t, take);
    }
    free(msg);
    tc_free(t);
    h_stop(h);
}

/* Keep-alive: a silent peer is pinged, then closed with 1001; a connection
 * that never sends a request head is dropped at the handshake timeout. */
static void test_net_ws_keepalive_and_timeouts(void **state)
{
    hr_server_config cfg;
    hr_server_config_default(&cfg);
    cfg.ping_interval_ms = 50;
    cfg.idle_timeout_ms = 400;
    cfg.handshake_timeout_ms = 200;
    cfg.close_timeout_ms = 200;
    harness *h = h_start(&cfg);
    tc *t = tc_connect(h->port);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    uint8_t buf[128];
    size_t len = 0;
    assert_int_equal(tc_read_frame(t, buf, sizeof buf, &len, NULL), HR_WS_OP_PING);
    assert_int_equal(tc_read_close(t), 1001);
    assert_true(tc_wait_eof(t));
    tc_free(t);
    tc *silent = tc_connect(h->port);
    assert_true(tc_wait_eof(silent));
    tc_free(silent);
    assert_int_equal(h_wait_at_least(&h->closes, 1), 1);
    assert_true(hr_server_stats(h->srv)->timeout_closes >= 2);
    h_stop(h);
}

static void resume_last(harness *h, void *arg)
{
    if (h->last != NULL)
        hr_conn_pause(h->last, false);
}

/* Backpressure hooks: a paused connection delivers nothing until resumed;
 * on_drain reports an emptied send queue. */
static void test_net_ws_pause_and_drain(void **state)
{
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    tc_frame(t, HR_WS_OP_TEXT, true, false, "one", 3);
    expect_echo(t, HR_WS_OP_TEXT, "one");
    assert_true(h_wait_at_least(&h->drains, 1) >= 1);
    tc_frame(t, HR_WS_OP_TEXT, true, false, "pause", 5);
    assert_int_equal(h_wait_at_least(&h->paused, 1), 1);
    tc_frame(t, HR_WS_OP_TEXT, true, false, "two", 3);
    /* Nothing comes back while paused (a short bounded look). */
    struct timeval tv = {.tv_usec = 200000};
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_true(tc_fill(t) < 0);
    tv = (struct timeval){.tv_sec = 5};
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    h_run(h, resume_last, NULL);
    expect_echo(t, HR_WS_OP_TEXT, "two");
    tc_free(t);
    h_stop(h);
}

/* hr_conn_send_event: the deflated frame to a connection that negotiated
 * permessage-deflate, the plain one otherwise; both decode to the event. */
static void test_net_ws_send_event(void **state)
{
    harness *h = h_start(NULL);
    static const char want[] =
        "{\"type\":\"event\",\"data\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
    for (int z = 0; z < 2; z++) {
        tc *t = tc_connect(h->port);
        const char *ext = z ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : NULL;
        assert_int_equal(tc_upgrade(t, "/", ext, NULL, 0), 101);
        tc_frame(t, HR_WS_OP_TEXT, true, false, "event", 5);
        uint8_t buf[256];
        size_t len = 0;
        bool rsv1 = false;
        assert_int_equal(tc_read_frame(t, buf, sizeof buf, &len, &rsv1), HR_WS_OP_TEXT);
        assert_int_equal(rsv1, z == 1);
        if (z) {
            hr_ws_deflate_params p;
            hr_ws_deflate_params_default(&p);
            p.server_no_context_takeover = true;
            hr_ws_inflater f;
            hr_ws_inflater_init(&f, &p, false);
            hr_buf out;
            hr_buf_init(&out, 4096);
            assert_int_equal(hr_ws_inflate(&f, buf, len, &out, 4096), 0);
            assert_int_equal(out.len, sizeof want - 1);
            assert_memory_equal(hr_buf_data(&out), want, out.len);
            hr_buf_deinit(&out);
            hr_ws_inflater_deinit(&f);
        } else {
            assert_int_equal(len, sizeof want - 1);
            assert_memory_equal(buf, want, len);
        }
        tc_free(t);
    }
    h_stop(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_ws_echo),
        cmocka_unit_test(test_net_ws_fragments_and_ping),
        cmocka_unit_test(test_net_ws_close_echoes_code),
        cmocka_unit_test(test_net_ws_server_initiated_close),
        cmocka_unit_test(test_net_ws_protocol_errors),
        cmocka_unit_test(test_net_ws_deflate),
        cmocka_unit_test(test_net_ws_slow_reader_1013),
        cmocka_unit_test(test_net_ws_shutdown_1001),
        cmocka_unit_test(test_net_ws_byte_by_byte),
        cmocka_unit_test(test_net_ws_large_message),
        cmocka_unit_test(test_net_ws_keepalive_and_timeouts),
        cmocka_unit_test(test_net_ws_pause_and_drain),
        cmocka_unit_test(test_net_ws_send_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

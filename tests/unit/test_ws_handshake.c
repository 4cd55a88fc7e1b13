/* Unit tests for lib/proto/ws_handshake: RFC 6455 §4 vectors, every refusal,
 * the 101 writer and the client side round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/http_head.h"
#include "proto/http_write.h"
#include "proto/ws_handshake.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static char text[4096];

/* Parses a request built from a request line and header lines. */
static void parse_req(hr_http_head *h, const char *line, const char *headers)
{
    const int n = snprintf(text, sizeof text, "%s\r\n%s\r\n", line, headers);
    assert_true(n > 0 && (size_t)n < sizeof text);
    assert_int_equal(hr_http_head_parse((const uint8_t *)text, (size_t)n, false, NULL, h), n);
}

#define GOOD_HEADERS                                                                               \
    "Host: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"                    \
    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"

static void test_ws_handshake_accept_key_vector(void **state)
{
    (void)state;
    char out[29];
    hr_ws_handshake_accept_key(KEY, strlen(KEY), out);
    assert_string_equal(out, ACCEPT);
}

static void test_ws_handshake_rfc_example(void **state)
{
    (void)state;
    hr_http_head h;
    parse_req(&h, "GET /chat HTTP/1.1",
              GOOD_HEADERS "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat\r\n");
    hr_ws_handshake hs;
    assert_int_equal(hr_ws_handshake_check(&h, true, &hs), 0);
    assert_int_equal(hs.status, 101);
    assert_string_equal(hs.accept, ACCEPT);
    assert_false(hs.deflate);
    assert_null(hs.error);
    char out[512];
    const size_t n = hr_ws_handshake_write_101(&hs, NULL, out, sizeof out);
    const char want[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(hr_ws_handshake_write_101(&hs, NULL, out, n), 0);
}

static void test_ws_handshake_deflate(void **state)
{
    (void)state;
    hr_http_head h;
    parse_req(&h, "GET /ws HTTP/1.1",
              GOOD_HEADERS "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"
                           "Sec-WebSocket-Extensions: permessage-deflate; "
                           "client_max_window_bits\r\n");
    hr_ws_handshake hs;
    assert_int_equal(hr_ws_handshake_check(&h, true, &hs), 0);
    assert_true(hs.deflate);
    assert_true(hs.deflate_params.server_no_context_takeover);
    assert_string_equal(hs.extensions, "permessage-deflate; server_no_context_takeover; "
                                       "client_no_context_takeover");
    char out[512];
    const size_t n = hr_ws_handshake_write_101(&hs, "X-A: 1\r\n", out, sizeof out);
    assert_true(n > 0);
    hr_http_head r;
    assert_int_equal(hr_http_head_parse((const uint8_t *)out, n, true, NULL, &r), (int)n);
    const hr_http_header *e = hr_http_head_find(&r, "sec-websocket-extensions");
    assert_non_null(e);
    assert_int_equal(e->value_len, strlen(hs.extensions));
    assert_non_null(hr_http_head_find(&r, "x-a"));

    /* Disabled: no extension even when offered. */
    assert_int_equal(hr_ws_handshake_check(&h, false, &hs), 0);
    assert_false(hs.deflate);
    assert_int_equal(hr_ws_handshake_write_101(&hs, NULL, out, sizeof out),
                     strlen("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n\r\n"));
}

static void expect_refusal(const char *line, const char *headers, int status)
{
    hr_http_head h;
    parse_req(&h, line, headers);
    hr_ws_handshake hs;
    assert_int_equal(hr_ws_handshake_check(&h, true, &hs), HR_EINVAL);
    assert_int_equal(hs.status, status);
    assert_non_null(hs.error);
}

static void test_ws_handshake_refusals(void **state)
{
    (void)state;
    const char *get = "GET /ws HTTP/1.1";
    expect_refusal("POST /ws HTTP/1.1", GOOD_HEADERS, 400);
    expect_refusal("GET /ws HTTP/1.0", GOOD_HEADERS, 400);
    expect_refusal(get,
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n",
                   400); /* no Host */
    expect_refusal(get,
                   "Host: a\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n",
                   400); /* no Upgrade */
    expect_refusal(get,
                   "Host: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n",
                   400);
    expect_refusal(get,
                   "Host: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                   "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n",
                   400); /* no Connection: upgrade */
    expect_refusal(get,
                   "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Version: 13\r\n",
                   400); /* no key */
    expect_refusal(get,
                   "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\nSec-WebSocket-Version: 13\r\n",
                   400); /* 15 bytes */
    expect_refusal(get,
                   "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==AAAA\r\n"
                   "Sec-WebSocket-Version: 13\r\n",
                   400); /* too long */
    expect_refusal(get,
                   "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n"
                   "Sec-WebSocket-Version: 13\r\n",
                   400);                                                     /* not base64 */
    expect_refusal(get, GOOD_HEADERS "Sec-WebSocket-Key: " KEY "\r\n", 400); /* repeated */
    expect_refusal(get,
                   "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 8\r\n",
                   426);
    expect_refusal(get,
                   "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: " KEY "\r\n",
                   426);                                                   /* no version */
    expect_refusal(get, GOOD_HEADERS "Sec-WebSocket-Version: 8\r\n", 426); /* two versions */

    /* The 426 answer carries the version we speak. */
    char out[256];
    const size_t n = hr_http_write_status(426, NULL, NULL, 0, NULL, out, sizeof out);
    hr_http_head r;
    assert_int_equal(hr_http_head_parse((const uint8_t *)out, n, true, NULL, &r), (int)n);
    assert_true(hr_http_header_equals(hr_http_head_find(&r, "sec-websocket-version"), "13"));
}

static void test_ws_handshake_lenient_forms(void **state)
{
    (void)state;
    hr_http_head h;
    parse_req(&h, "GET /ws HTTP/1.1",
              "host: a\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
              "sec-websocket-key: " KEY "\r\nsec-websocket-version: 13\r\n");
    hr_ws_handshake hs;
    assert_int_equal(hr_ws_handshake_check(&h, true, &hs), 0);
    assert_string_equal(hs.accept, ACCEPT);
    /* A token list split over two header lines. */
    parse_req(&h, "GET /ws HTTP/1.1",
              "Host: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
              "Sec-WebSocket-Version: 13\r\n");
    assert_true(h.upgrade);
    assert_int_equal(hr_ws_handshake_check(&h, true, &hs), 0);
}

static void test_ws_handshake_client_round_trip(void **state)
{
    (void)state;
    char key[25];
    assert_int_equal(hr_ws_handshake_new_key(key), 0);
    assert_int_equal(strlen(key), 24);
    char req[1024];
    size_t n = hr_ws_handshake_write_request("127.0.0.1:7070", "/ws?channels=a", key, true,
                                             "X-Herald-User: u1\r\n", req, sizeof req);
    assert_true(n > 0);
    char small[40];
    assert_int_equal(hr_ws_handshake_write_request("h", "/", key, true, NULL, small, 40), 0);
    hr_http_head h;
    assert_int_equal(hr_http_head_parse((const uint8_t *)req, n, false, NULL, &h), (int)n);
    hr_ws_handshake srv;
    assert_int_equal(hr_ws_handshake_check(&h, true, &srv), 0);
    assert_true(srv.deflate);
    char resp[1024];
    n = hr_ws_handshake_write_101(&srv, NULL, resp, sizeof resp);
    hr_http_head r;
    assert_int_equal(hr_http_head_parse((const uint8_t *)resp, n, true, NULL, &r), (int)n);
    hr_ws_handshake cli;
    assert_int_equal(hr_ws_handshake_check_response(&r, key, &cli), 0);
    assert_int_equal(cli.status, 101);
    assert_true(cli.deflate);
    assert_true(cli.deflate_params.server_no_context_takeover);
    assert_true(cli.deflate_params.client_no_context_takeover);

    /* A different key gives a wrong accept. */
    assert_int_equal(hr_ws_handshake_check_response(&r, KEY, &cli), HR_EPROTO);
    assert_non_null(cli.error);
}

static void check_resp(const char *text_resp, int rc, int status)
{
    hr_http_head r;
    const size_t n = strlen(text_resp);
    assert_int_equal(hr_http_head_parse((const uint8_t *)text_resp, n, true, NULL, &r), (int)n);
    hr_ws_handshake cli;
    assert_int_equal(hr_ws_handshake_check_response(&r, KEY, &cli), rc);
    assert_int_equal(cli.status, status);
}

static void test_ws_handshake_client_refusals(void **state)
{
    (void)state;
    check_resp("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
               0, 101);
    check_resp("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", HR_EPROTO, 503);
    check_resp("HTTP/1.1 101 OK\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
               HR_EPROTO, 101);
    check_resp("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Extensions: x-other\r\n\r\n",
               HR_EPROTO, 101);
    check_resp("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Extensions: "
               "permessage-deflate; client_max_window_bits=10\r\n\r\n",
               0, 101);
    check_resp("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Extensions: "
               "permessage-deflate; client_max_window_bits\r\n\r\n",
               HR_EPROTO, 101);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_handshake_accept_key_vector),
        cmocka_unit_test(test_ws_handshake_rfc_example),
        cmocka_unit_test(test_ws_handshake_deflate),
        cmocka_unit_test(test_ws_handshake_refusals),
        cmocka_unit_test(test_ws_handshake_lenient_forms),
        cmocka_unit_test(test_ws_handshake_client_round_trip),
        cmocka_unit_test(test_ws_handshake_client_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

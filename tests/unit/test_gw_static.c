/* Unit tests for the gateway's pure helpers around HTTP answers: static path
 * resolution (no traversal), content types, ETags and conditional requests,
 * the relayed response headers, and the JSON access log line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"
#include "gateway/alog.h"
#include "gateway/hproxy.h"
#include "gateway/static.h"

static void resolve_ok(const char *path, size_t prefix, const char *want)
{
    char out[256];
    const int rc = gw_static_resolve(path, strlen(path), prefix, out, sizeof out);
    if (rc != 0)
        fail_msg("%s: rc %d", path, rc);
    assert_string_equal(out, want);
}

static void resolve_bad(const char *path, size_t prefix)
{
    char out[256];
    const int rc = gw_static_resolve(path, strlen(path), prefix, out, sizeof out);
    if (rc != HR_EDENIED)
        fail_msg("%s: want denied, got rc %d (%s)", path, rc, rc == 0 ? out : "");
}

static void test_gw_static_resolve(void **state)
{
    resolve_ok("/", 1, "index.html");
    resolve_ok("/index.html", 1, "index.html");
    resolve_ok("/a/b.js", 1, "a/b.js");
    resolve_ok("/a//b.js", 1, "a/b.js");
    resolve_ok("/sub/", 1, "sub/index.html");
    resolve_ok("/static/app.css", 7, "app.css");
    resolve_ok("/static", 7, "index.html");
    resolve_ok("/a%20b.txt", 1, "a b.txt");
    resolve_ok("/..a/b..", 1, "..a/b..");
    resolve_ok("/.well-known/x", 1, ".well-known/x");
    resolve_bad("/../etc/passwd", 1);
    resolve_bad("/a/../../etc/passwd", 1);
    resolve_bad("/%2e%2e/etc/passwd", 1);
    resolve_bad("/a/%2E%2E%2Fb", 1);
    resolve_bad("/a/..", 1);
    resolve_bad("/./a", 1);
    resolve_bad("/a%00b", 1);
    resolve_bad("/a\\..\\b", 1);
    resolve_bad("/a%5c..%5cb", 1);
    resolve_bad("/bad%zzescape", 1);
    resolve_bad("/trunc%2", 1);
    char small[8];
    assert_int_equal(gw_static_resolve("/abcdefghij", 11, 1, small, sizeof small), HR_ETOOBIG);
    assert_int_equal(gw_static_resolve("/", 1, 1, small, sizeof small), HR_ETOOBIG);
}

static void test_gw_static_content_type(void **state)
{
    assert_string_equal(gw_static_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(gw_static_content_type("a/herald.js"), "text/javascript; charset=utf-8");
    assert_string_equal(gw_static_content_type("x.CSS"), "text/css; charset=utf-8");
    assert_string_equal(gw_static_content_type("p.svg"), "image/svg+xml");
    assert_string_equal(gw_static_content_type("README"), "application/octet-stream");
    assert_string_equal(gw_static_content_type(".js"), "application/octet-stream");
}

static hr_http_head *parse(const char *text)
{
    static hr_http_head h;
    static char buf[1024];
    const size_t n = strlen(text);
    memcpy(buf, text, n);
    assert_int_equal(hr_http_head_parse((const uint8_t *)buf, n, false, NULL, &h), (int)n);
    return &h;
}

static void test_gw_static_conditional(void **state)
{
    char etag[48];
    gw_static_etag(4739, 0x6b09d0b1, etag, sizeof etag);
    assert_string_equal(etag, "W/\"1283-6b09d0b1\"");
    assert_true(gw_static_not_modified(
        parse("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/\"1283-6b09d0b1\"\r\n\r\n"), etag,
        0x6b09d0b1));
    assert_true(gw_static_not_modified(
        parse("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"x\", \"1283-6b09d0b1\"\r\n\r\n"), etag,
        0x6b09d0b1));
    assert_false(gw_static_not_modified(
        parse("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"1283-6b09d0b2\"\r\n\r\n"), etag,
        0x6b09d0b1));
    assert_true(gw_static_not_modified(parse("GET / HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Fri, "
                                             "27 Nov 2026 18:49:21 GMT\r\n\r\n"),
                                       etag, 1795805361));
    assert_false(gw_static_not_modified(parse("GET / HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: "
                                              "Fri, 27 Nov 2026 18:49:20 GMT\r\n\r\n"),
                                        etag, 1795805361));
    assert_false(gw_static_not_modified(
        parse("GET / HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: yesterday\r\n\r\n"), etag, 1));
    assert_false(gw_static_not_modified(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), etag, 1));
}

static void test_gw_hproxy_response_headers(void **state)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 2\r\nConnection: keep-alive, X-Hop\r\n"
                               "Keep-Alive: timeout=5\r\nX-Hop: 1\r\nSet-Cookie: a=1\r\n"
                               "Date: today\r\nServer: up\r\nX-Upstream: yes\r\n\r\n";
    hr_http_head h;
    assert_true(hr_http_head_parse((const uint8_t *)resp, sizeof resp - 1, true, NULL, &h) > 0);
    hr_buf out;
    hr_buf_init(&out, 4096);
    assert_int_equal(gw_hproxy_response_headers(&h, &out), 0);
    assert_int_equal(hr_buf_append(&out, "", 1), 0);
    const char *s = (const char *)hr_buf_data(&out);
    assert_non_null(strstr(s, "Set-Cookie: a=1\r\n"));
    assert_non_null(strstr(s, "X-Upstream: yes\r\n"));
    assert_null(strstr(s, "Content-Type"));
    assert_null(strstr(s, "Content-Length"));
    assert_null(strstr(s, "Connection"));
    assert_null(strstr(s, "Keep-Alive"));
    assert_null(strstr(s, "Date"));
    assert_null(strstr(s, "Server"));
    assert_null(strstr(s, "X-Hop")); /* named by Connection: hop-by-hop */
    hr_buf_deinit(&out);
}

static void test_gw_alog_format(void **state)
{
    const gw_alog_rec r = {.kind = "ws",
                           .client = "10.0.0.1:5",
                           .path = "/ws\"\n\xff",
                           .path_len = 6,
                           .route = "/ws",
                           .upstream = "notifier",
                           .server = "127.0.0.1:7070",
                           .status = 101,
                           .close_code = 1000,
                           .duration_ms = 12.5,
                           .bytes_in = 3,
                           .bytes_out = 4,
                           .request_id = "r-1",
                           .user = "alice"};
    char line[1024];
    const size_t n = gw_alog_format(&r, line, sizeof line);
    assert_true(n > 0 && line[n - 1] == '\n');
    json_error_t err;
    json_t *o = json_loadb(line, n, 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "ws");
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/ws\"??");
    assert_int_equal(json_integer_value(json_object_get(o, "close")), 1000);
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 101);
    assert_string_equal(json_string_value(json_object_get(o, "user")), "alice");
    json_decref(o);
    assert_int_equal(gw_alog_format(&r, line, 20), 0);
    assert_int_equal(gw_alog_format(&r, line, 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_static_resolve),
        cmocka_unit_test(test_gw_static_content_type),
        cmocka_unit_test(test_gw_static_conditional),
        cmocka_unit_test(test_gw_hproxy_response_headers),
        cmocka_unit_test(test_gw_alog_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

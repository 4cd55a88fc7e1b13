/* Unit tests for lib/proto/http_head, http_query, http_chunked, http_write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/http_chunked.h"
#include "proto/http_head.h"
#include "proto/http_query.h"
#include "proto/http_write.h"

static const char upgrade_req[] = "GET /ws?channels=a,b&token=x%2By HTTP/1.1\r\n"
                                  "Host: example.com\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: keep-alive, Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "X-Empty:\r\n"
                                  "X-Trail: v \t\r\n"
                                  "\r\n";

/* Exactly sized heap copy so ASan catches reads past the input. */
static uint8_t *dup_exact(const char *s, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

static int parse_exact(const char *s, size_t n, bool resp, const hr_http_limits *lim,
                       hr_http_head *h)
{
    uint8_t *p = dup_exact(s, n);
    const int rc = hr_http_head_parse(p, n, resp, lim, h);
    free(p);
    return rc;
}

static void expect_header(const hr_http_head *h, const char *name, const char *value)
{
    const hr_http_header *hd = hr_http_head_find(h, name);
    assert_non_null(hd);
    assert_int_equal(hd->value_len, strlen(value));
    assert_memory_equal(hd->value, value, hd->value_len);
}

static void test_http_head_upgrade_request(void **state)
{
    (void)state;
    hr_http_head h;
    const size_t n = strlen(upgrade_req);
    uint8_t *p = dup_exact(upgrade_req, n);
    assert_int_equal(hr_http_head_parse(p, n, false, NULL, &h), (int)n);
    assert_int_equal(h.head_len, n);
    assert_false(h.is_response);
    assert_int_equal(h.method, 1); /* HTTP_GET */
    assert_int_equal(h.method_len, 3);
    assert_memory_equal(h.method_str, "GET", 3);
    assert_int_equal(h.target_len, strlen("/ws?channels=a,b&token=x%2By"));
    assert_int_equal(h.http_major, 1);
    assert_int_equal(h.http_minor, 1);
    assert_true(h.upgrade);
    assert_true(h.keep_alive);
    assert_false(h.chunked);
    assert_int_equal(h.content_length, -1);
    assert_int_equal(h.n_headers, 7);
    expect_header(&h, "HOST", "example.com");
    expect_header(&h, "x-empty", "");
    expect_header(&h, "X-Trail", "v");
    assert_null(hr_http_head_find(&h, "absent"));
    assert_true(hr_http_head_has_token(&h, "connection", "upgrade"));
    assert_true(hr_http_head_has_token(&h, "Connection", "KEEP-ALIVE"));
    assert_false(hr_http_head_has_token(&h, "connection", "close"));
    assert_true(hr_http_header_equals(hr_http_head_find(&h, "upgrade"), "WebSocket"));
    free(p);
}

static void test_http_head_split_every_offset(void **state)
{
    (void)state;
    const size_t n = strlen(upgrade_req);
    for (size_t cut = 0; cut < n; cut++) {
        hr_http_head h;
        assert_int_equal(parse_exact(upgrade_req, cut, false, NULL, &h), 0);
    }
    /* Byte by byte growth, with body bytes after the head. */
    char buf[1024];
    memcpy(buf, upgrade_req, n);
    memcpy(buf + n, "\x81\x05hello", 7);
    for (size_t len = 1; len <= n + 7; len++) {
        hr_http_head h;
        const int rc = parse_exact(buf, len, false, NULL, &h);
        assert_int_equal(rc, len < n ? 0 : (int)n);
    }
}

static void test_http_head_body_framing(void **state)
{
    (void)state;
    hr_http_head h;
    const char cl[] = "POST /publish HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd";
    assert_int_equal(parse_exact(cl, strlen(cl), false, NULL, &h), (int)strlen(cl) - 4);
    assert_int_equal(h.content_length, 4);
    assert_false(h.chunked);
    assert_false(h.upgrade);
    const char ch[] = "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n";
    assert_int_equal(parse_exact(ch, strlen(ch), false, NULL, &h), (int)strlen(ch) - 3);
    assert_true(h.chunked);
    assert_int_equal(h.content_length, -1);
    const char h10[] = "GET / HTTP/1.0\r\n\r\n";
    assert_int_equal(parse_exact(h10, strlen(h10), false, NULL, &h), (int)strlen(h10));
    assert_false(h.keep_alive);
    assert_int_equal(h.http_minor, 0);
    const char close[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_true(parse_exact(close, strlen(close), false, NULL, &h) > 0);
    assert_false(h.keep_alive);
}

/* llhttp accepts any Content-Length up to 2^64 - 1; one that does not fit
 * in int64_t used to wrap to a negative value, -1 included, which reads as
 * "no Content-Length" (no body): a framing disagreement with the next hop. */
static void test_http_head_content_length_overflow(void **state)
{
    (void)state;
    static const char *const huge[] = {"18446744073709551615", "18446744073709551614",
                                       "9223372036854775808"};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        char req[160];
        snprintf(req, sizeof req, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: %s\r\n\r\n",
                 huge[i]);
        hr_http_head h;
        assert_int_equal(parse_exact(req, strlen(req), false, NULL, &h), HR_EPROTO);
        char resp[160];
        snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n", huge[i]);
        assert_int_equal(parse_exact(resp, strlen(resp), true, NULL, &h), HR_EPROTO);
    }
    const char max[] = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n";
    hr_http_head h;
    assert_int_equal(parse_exact(max, strlen(max), false, NULL, &h), (int)strlen(max));
    assert_int_equal(h.content_length, INT64_MAX);
}

static void test_http_head_response(void **state)
{
    (void)state;
    hr_http_head h;
    const char r101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\n\r\n\x81\x02hi";
    assert_int_equal(parse_exact(r101, strlen(r101), true, NULL, &h), (int)strlen(r101) - 4);
    assert_true(h.is_response);
    assert_int_equal(h.status, 101);
    assert_true(h.upgrade);
    const char r200[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(parse_exact(r200, strlen(r200), true, NULL, &h), (int)strlen(r200) - 5);
    assert_int_equal(h.status, 200);
    assert_int_equal(h.content_length, 5);
    assert_true(h.keep_alive);
    assert_int_equal(parse_exact(r200, strlen(r200), false, NULL, &h), HR_EPROTO);
}

static void test_http_head_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: a\r\n\r\n",
        "GET / HTTP/9.1\r\n\r\n",
        "G\x01T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\nHost: a\n\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
        "GET / HTTP/1.1\r\n: empty\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hr_http_head h;
        assert_int_equal(parse_exact(bad[i], strlen(bad[i]), false, NULL, &h), HR_EPROTO);
    }
}

static void test_http_head_limits(void **state)
{
    (void)state;
    hr_http_head h;
    const size_t n = strlen(upgrade_req);
    hr_http_limits lim = {.max_head = n};
    assert_int_equal(parse_exact(upgrade_req, n, false, &lim, &h), (int)n);
    lim.max_head = n - 1;
    assert_int_equal(parse_exact(upgrade_req, n, false, &lim, &h), HR_ETOOBIG);
    assert_int_equal(parse_exact(upgrade_req, n - 2, false, &lim, &h), 0);
    lim = (hr_http_limits){.max_headers = 7};
    assert_int_equal(parse_exact(upgrade_req, n, false, &lim, &h), (int)n);
    lim.max_headers = 6;
    assert_int_equal(parse_exact(upgrade_req, n, false, &lim, &h), HR_ETOOBIG);

    /* 64 headers fit, 65 exceed the hard cap; 9000 bytes of one header
     * exceed 8192. */
    char big[16384];
    for (int count = 64; count <= 65; count++) {
        size_t len = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
        for (int i = 0; i < count; i++)
            len += (size_t)snprintf(big + len, sizeof big - len, "X-%d: v\r\n", i);
        len += (size_t)snprintf(big + len, sizeof big - len, "\r\n");
        const int rc = parse_exact(big, len, false, NULL, &h);
        assert_int_equal(rc, count == 64 ? (int)len : HR_ETOOBIG);
    }
    size_t len;
    len = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX: ");
    memset(big + len, 'a', 9000);
    len += 9000;
    assert_int_equal(parse_exact(big, len, false, NULL, &h), HR_ETOOBIG);
}

static void test_http_head_tokens(void **state)
{
    (void)state;
    const char v[] = " foo ;q=1,\tBar , ,baz";
    const hr_http_header h = {.name = "X", .name_len = 1, .value = v, .value_len = strlen(v)};
    assert_true(hr_http_header_has_token(&h, "foo"));
    assert_true(hr_http_header_has_token(&h, "bar"));
    assert_true(hr_http_header_has_token(&h, "BAZ"));
    assert_false(hr_http_header_has_token(&h, "ba"));
    assert_false(hr_http_header_has_token(&h, "q=1"));
    assert_false(hr_http_header_has_token(NULL, "foo"));
}

static void test_http_query_get(void **state)
{
    (void)state;
    const char t[] = "/ws?channels=a,b&token=x%2By+z&empty=&flag&bad=%G1&nul=%00#frag";
    char out[32];
    size_t n = 99;
    assert_int_equal(hr_http_query_get(t, strlen(t), "channels", out, sizeof out, &n), 1);
    assert_string_equal(out, "a,b");
    assert_int_equal(n, 3);
    assert_int_equal(hr_http_query_get(t, strlen(t), "token", out, sizeof out, &n), 1);
    assert_string_equal(out, "x+y z");
    assert_int_equal(hr_http_query_get(t, strlen(t), "empty", out, sizeof out, NULL), 1);
    assert_string_equal(out, "");
    assert_int_equal(hr_http_query_get(t, strlen(t), "flag", out, sizeof out, NULL), 1);
    assert_string_equal(out, "");
    assert_int_equal(hr_http_query_get(t, strlen(t), "chan", out, sizeof out, NULL), 0);
    assert_int_equal(hr_http_query_get(t, strlen(t), "bad", out, sizeof out, NULL), HR_EINVAL);
    assert_int_equal(hr_http_query_get(t, strlen(t), "nul", out, sizeof out, NULL), HR_EINVAL);
    assert_int_equal(hr_http_query_get(t, strlen(t), "frag", out, sizeof out, NULL), 0);
    assert_int_equal(hr_http_query_get(t, strlen(t), "channels", out, 3, NULL), HR_ETOOBIG);
    assert_int_equal(hr_http_query_get(t, strlen(t), "channels", out, 4, NULL), 1);
    assert_true(hr_http_query_has(t, strlen(t), "flag"));
    assert_false(hr_http_query_has("/ws", 3, "ws"));
    assert_int_equal(hr_http_query_get("a=1&b=%41", 9, "b", out, sizeof out, NULL), 1);
    assert_string_equal(out, "A");
    assert_int_equal(hr_http_query_get("a=%4", 4, "a", out, sizeof out, NULL), HR_EINVAL);

    size_t path_len, qlen;
    const char *q;
    hr_http_query_split(t, strlen(t), &path_len, &q, &qlen);
    assert_int_equal(path_len, 3);
    assert_non_null(q);
    assert_int_equal(qlen, strlen(t) - strlen("#frag") - 4);
    hr_http_query_split("/x", 2, &path_len, &q, &qlen);
    assert_int_equal(path_len, 2);
    assert_null(q);
    assert_int_equal(qlen, 0);
}

/* Decodes s fed in pieces of `step` bytes (each piece copied exactly). */
static int chunked_decode_all(const char *s, size_t n, size_t step, char *out, size_t *out_len,
                              size_t *used)
{
    hr_http_chunked c;
    hr_http_chunked_init(&c);
    size_t avail = 0, pos = 0;
    *out_len = 0;
    for (;;) {
        const size_t more = n - pos - avail < step ? n - pos - avail : step;
        avail += more;
        uint8_t *p = dup_exact(s + pos, avail);
        size_t consumed;
        const uint8_t *data;
        size_t dlen;
        const int rc = hr_http_chunked_decode(&c, p, avail, &consumed, &data, &dlen);
        if (dlen > 0) {
            memcpy(out + *out_len, data, dlen);
            *out_len += dlen;
        }
        free(p);
        pos += consumed;
        avail -= consumed;
        if (rc != 0) {
            *used = pos;
            return rc;
        }
        if (consumed == 0 && pos + avail == n) {
            *used = pos;
            return 0;
        }
    }
}

static void test_http_chunked_decode(void **state)
{
    (void)state;
    const char body[] = "5;ext=\"q\"\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                        "0\r\nTrailer: x\r\n\r\nNEXT";
    const size_t n = strlen(body);
    for (size_t step = 1; step <= n; step++) {
        char out[64];
        size_t len, used;
        assert_int_equal(chunked_decode_all(body, n, step, out, &len, &used), 1);
        assert_int_equal(len, 31);
        assert_memory_equal(out, "helloabcdefghijklmnopqrstuvwxyz", 31);
        assert_int_equal(used, n - 4);
    }
    char out[64];
    size_t len, used;
    assert_int_equal(chunked_decode_all("0\r\n\r\n", 5, 5, out, &len, &used), 1);
    assert_int_equal(len, 0);
    assert_int_equal(chunked_decode_all("3\r\nab", 5, 5, out, &len, &used), 0);
    static const char *const bad[] = {
        "x\r\n",          "5\nhello\r\n", "\r\n", "3\r\nabcX\r\n", "1234567890abcdef0\r\n",
        "0\r\nTrailer\n", "0\r\n\rX",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(chunked_decode_all(bad[i], strlen(bad[i]), 64, out, &len, &used),
                         HR_EPROTO);
    /* An over-long size line and over-long trailers. */
    char *big = malloc(20000);
    assert_non_null(big);
    memcpy(big, "1;", 2);
    memset(big + 2, 'e', 19998);
    assert_int_equal(hr_http_chunked_write_header(0, out, 4), 0);
    hr_http_chunked c;
    hr_http_chunked_init(&c);
    size_t consumed;
    const uint8_t *data;
    size_t dlen;
    assert_int_equal(
        hr_http_chunked_decode(&c, (const uint8_t *)big, 20000, &consumed, &data, &dlen),
        HR_ETOOBIG);
    memcpy(big, "0\r\nX: ", 6);
    hr_http_chunked_init(&c);
    assert_int_equal(
        hr_http_chunked_decode(&c, (const uint8_t *)big, 20000, &consumed, &data, &dlen),
        HR_ETOOBIG);
    free(big);
}

static void test_http_chunked_write_round_trip(void **state)
{
    (void)state;
    char buf[128];
    size_t len = hr_http_chunked_write_header(26, buf, sizeof buf);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "1a\r\n", 4);
    memcpy(buf + len, "abcdefghijklmnopqrstuvwxyz\r\n", 28);
    len += 28;
    len += hr_http_chunked_write_header(0, buf + len, sizeof buf - len);
    char out[64];
    size_t olen, used;
    assert_int_equal(chunked_decode_all(buf, len, len, out, &olen, &used), 1);
    assert_int_equal(olen, 26);
    assert_int_equal(used, len);
}

static void test_http_write_status(void **state)
{
    (void)state;
    char out[256];
    size_t n = hr_http_write_status(426, "text/plain", "upgrade", 7, "Connection: close\r\n", out,
                                    sizeof out);
    const char want[] = "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\n"
                        "Content-Length: 7\r\nSec-WebSocket-Version: 13\r\n"
                        "Connection: close\r\n\r\nupgrade";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(hr_http_write_status(426, "text/plain", "upgrade", 7, NULL, out, n - 20), 0);
    n = hr_http_write_status(204, NULL, NULL, 0, NULL, out, sizeof out);
    assert_int_equal(n, strlen("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"));
    assert_int_equal(hr_http_write_status(42, NULL, NULL, 0, NULL, out, sizeof out), 0);
    assert_string_equal(hr_http_write_reason(431), "Request Header Fields Too Large");

    /* parse(write(x)) */
    n = hr_http_write_status(503, "application/json", "{}", 2, NULL, out, sizeof out);
    hr_http_head h;
    assert_int_equal(parse_exact(out, n, true, NULL, &h), (int)n - 2);
    assert_int_equal(h.status, 503);
    assert_int_equal(h.content_length, 2);
    n = hr_http_write_request("POST", "127.0.0.1:7070", "/publish", "Content-Length: 0\r\n", out,
                              sizeof out);
    assert_true(n > 0);
    assert_int_equal(hr_http_head_parse((const uint8_t *)out, n, false, NULL, &h), (int)n);
    assert_int_equal(h.method, 3); /* HTTP_POST */
    expect_header(&h, "host", "127.0.0.1:7070");
    assert_int_equal(hr_http_write_request("GET", "h", "/", NULL, out, 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_head_upgrade_request),
        cmocka_unit_test(test_http_head_split_every_offset),
        cmocka_unit_test(test_http_head_body_framing),
        cmocka_unit_test(test_http_head_response),
        cmocka_unit_test(test_http_head_malformed),
        cmocka_unit_test(test_http_head_limits),
        cmocka_unit_test(test_http_head_tokens),
        cmocka_unit_test(test_http_query_get),
        cmocka_unit_test(test_http_head_content_length_overflow),
        cmocka_unit_test(test_http_chunked_decode),
        cmocka_unit_test(test_http_chunked_write_round_trip),
        cmocka_unit_test(test_http_write_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

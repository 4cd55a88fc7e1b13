/* Unit tests for the gateway's edge checks: Origin allow-list, where tokens
 * come from, authentication per route mode, and the header rewrite for the
 * upstream (X-Herald-* stripped, identity and X-Forwarded-* added). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/err.h"
#include "gateway/config.h"
#include "gateway/edge.h"
#include "gw_config_load.h"
#include "jwt_mint.h"

static const char *secret = "s3cret";

static char *make_token(const char *sub, long exp_delta, const char *key)
{
    char claims[160];
    const int n =
        snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"exp\":%ld,\"channels\":[\"orders:*\"]}",
                 sub, (long)time(NULL) + exp_delta);
    assert_true(n > 0 && (size_t)n < sizeof claims);
    return mint_hs256(key, claims);
}

typedef struct req {
    char *text;
    hr_http_head head;
} req;

static void parse_req(req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void parse_req(req *r, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    r->text = malloc((size_t)n);
    assert_non_null(r->text);
    memcpy(r->text, buf, (size_t)n);
    assert_int_equal(hr_http_head_parse((const uint8_t *)r->text, (size_t)n, false, NULL, &r->head),
                     n);
}

static void test_gw_edge_origin(void **state)
{
    gw_config *cfg = load_gw_config("allowed_origins: [\"https://app.example\"]\n"
                                    "routes: [{path: /, static: web}]\n");
    req r;
    parse_req(&r, "GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n");
    assert_true(gw_edge_origin_allowed(cfg, &r.head));
    free(r.text);
    parse_req(&r, "GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n");
    assert_false(gw_edge_origin_allowed(cfg, &r.head));
    free(r.text);
    parse_req(&r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(gw_edge_origin_allowed(cfg, &r.head)); /* no Origin: not a browser */
    free(r.text);
    gw_config_free(cfg);
    cfg = load_gw_config("routes: [{path: /, static: web}]\n");
    parse_req(&r, "GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n");
    assert_true(gw_edge_origin_allowed(cfg, &r.head)); /* empty list: any */
    free(r.text);
    gw_config_free(cfg);
}

static void test_gw_edge_find_token(void **state)
{
    char out[128];
    req r;
    parse_req(&r, "GET /ws?token=q HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer  abc \r\n"
                  "Cookie: herald_token=c\r\n\r\n");
    assert_int_equal(gw_edge_find_token(&r.head, "herald_token", out, sizeof out), 1);
    assert_string_equal(out, "abc");
    free(r.text);
    parse_req(&r, "GET /ws?a=1&token=q%%2Ex HTTP/1.1\r\nHost: x\r\nCookie: herald_token=c\r\n\r\n");
    assert_int_equal(gw_edge_find_token(&r.head, "herald_token", out, sizeof out), 1);
    assert_string_equal(out, "q.x");
    free(r.text);
    parse_req(&r, "GET /ws HTTP/1.1\r\nHost: x\r\nCookie: a=1; herald_token=c2 ; b=2\r\n\r\n");
    assert_int_equal(gw_edge_find_token(&r.head, "herald_token", out, sizeof out), 1);
    assert_string_equal(out, "c2");
    free(r.text);
    parse_req(&r, "GET /ws HTTP/1.1\r\nHost: x\r\nCookie: xherald_token=c\r\n\r\n");
    assert_int_equal(gw_edge_find_token(&r.head, "herald_token", out, sizeof out), 0);
    free(r.text);
    parse_req(&r, "GET /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Zm9v\r\n\r\n");
    assert_int_equal(gw_edge_find_token(&r.head, "herald_token", out, sizeof out), HR_EDENIED);
    free(r.text);
    parse_req(&r, "GET /ws?token= HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(gw_edge_find_token(&r.head, "herald_token", out, sizeof out), HR_EDENIED);
    free(r.text);
    parse_req(&r, "GET /ws?token=%%zz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(gw_edge_find_token(&r.head, "herald_token", out, sizeof out), HR_EDENIED);
    free(r.text);
    parse_req(&r, "GET /ws?token=0123456789 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(gw_edge_find_token(&r.head, "herald_token", out, 5), HR_EDENIED);
    free(r.text);
}

static void test_gw_edge_authenticate(void **state)
{
    hr_token_cfg tc = {
        .allow_hs256 = true, .secret = (const uint8_t *)secret, .secret_len = strlen(secret)};
    const int64_t now = (int64_t)time(NULL);
    char *good = make_token("alice", 3600, secret);
    char *expired = make_token("alice", -3600, secret);
    char *forged = make_token("alice", 3600, "other");
    hr_identity id;
    const char *why = NULL;
    req r;

    parse_req(&r, "GET /ws?token=%s HTTP/1.1\r\nHost: x\r\n\r\n", good);
    assert_int_equal(
        gw_edge_authenticate(&tc, GW_AUTH_REQUIRED, "herald_token", &r.head, now, &id, &why), 0);
    assert_string_equal(id.user, "alice");
    assert_int_equal(id.n_channels, 1);
    hr_identity_deinit(&id);
    assert_int_equal(
        gw_edge_authenticate(&tc, GW_AUTH_NONE, "herald_token", &r.head, now, &id, &why), 0);
    assert_null(id.user); /* auth none: tokens are not looked at */
    free(r.text);

    parse_req(&r, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(
        gw_edge_authenticate(&tc, GW_AUTH_OPTIONAL, "herald_token", &r.head, now, &id, &why), 0);
    assert_null(id.user);
    assert_int_equal(
        gw_edge_authenticate(&tc, GW_AUTH_REQUIRED, "herald_token", &r.head, now, &id, &why),
        HR_EDENIED);
    assert_string_equal(why, "missing");
    free(r.text);

    parse_req(&r, "GET /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", expired);
    assert_int_equal(
        gw_edge_authenticate(&tc, GW_AUTH_OPTIONAL, "herald_token", &r.head, now, &id, &why),
        HR_EDENIED); /* invalid is never downgraded to anonymous */
    assert_string_equal(why, "expired");
    free(r.text);

    parse_req(&r, "GET /ws HTTP/1.1\r\nHost: x\r\nCookie: herald_token=%s\r\n\r\n", forged);
    assert_int_equal(
        gw_edge_authenticate(&tc, GW_AUTH_REQUIRED, "herald_token", &r.head, now, &id, &why),
        HR_EDENIED);
    assert_string_equal(why, "bad signature");
    free(r.text);
    free(good);
    free(expired);
    free(forged);
}

static void test_gw_edge_upstream_headers(void **state)
{
    req r;
    parse_req(&r, "GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade, "
                  "X-Secret\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n"
                  "X-Herald-User: mallory\r\nx-herald-channels: admin:*\r\nX-Secret: 1\r\n"
                  "X-Forwarded-For: 1.1.1.1\r\nKeep-Alive: 5\r\nUser-Agent: t\r\n"
                  "X-Request-Id: abc-123\r\n\r\n");
    hr_identity id;
    assert_int_equal(hr_identity_from_headers("alice", 5, "orders:*", 8, &id), 0);
    gw_edge_fwd fwd = {.id = &id, .client_ip = "10.0.0.9", .websocket = true, .request_id = "r1"};
    hr_buf out;
    hr_buf_init(&out, 8192);
    assert_int_equal(gw_edge_upstream_headers(&r.head, &fwd, &out), 0);
    assert_int_equal(hr_buf_append(&out, "", 1), 0);
    const char *s = (const char *)hr_buf_data(&out);
    assert_null(strstr(s, "mallory"));
    assert_null(strstr(s, "admin:*"));
    assert_null(strstr(s, "X-Secret"));
    assert_null(strstr(s, "Keep-Alive"));
    assert_null(strstr(s, "Upgrade"));
    assert_null(strstr(s, "Sec-WebSocket-Key"));
    assert_null(strstr(s, "Host:"));
    assert_non_null(strstr(s, "Sec-WebSocket-Protocol: chat\r\n"));
    assert_non_null(strstr(s, "User-Agent: t\r\n"));
    assert_non_null(strstr(s, "X-Herald-User: alice\r\n"));
    assert_non_null(strstr(s, "X-Herald-Channels: orders:*\r\n"));
    assert_non_null(strstr(s, "X-Forwarded-For: 1.1.1.1, 10.0.0.9\r\n"));
    assert_non_null(strstr(s, "X-Forwarded-Proto: http\r\n"));
    assert_non_null(strstr(s, "X-Request-Id: abc-123\r\n"));
    hr_buf_deinit(&out);
    hr_identity_deinit(&id);
    free(r.text);

    parse_req(&r, "POST /p HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n"
                  "X-Request-Id: bad id\r\n\r\n");
    gw_edge_fwd anon = {.client_ip = "10.0.0.9", .tls = true, .request_id = "r1"};
    hr_buf_init(&out, 8192);
    assert_int_equal(gw_edge_upstream_headers(&r.head, &anon, &out), 0);
    assert_int_equal(hr_buf_append(&out, "", 1), 0);
    s = (const char *)hr_buf_data(&out);
    assert_null(strstr(s, "X-Herald-User"));
    assert_null(strstr(s, "Content-Length"));
    assert_non_null(strstr(s, "X-Forwarded-Proto: https\r\n"));
    assert_non_null(strstr(s, "X-Request-Id: r1\r\n"));
    hr_buf_deinit(&out);
    /* A too small output is an error, not a truncated head. */
    hr_buf_init(&out, 16);
    assert_int_equal(gw_edge_upstream_headers(&r.head, &anon, &out), HR_ETOOBIG);
    hr_buf_deinit(&out);
    free(r.text);
}

static void test_gw_edge_client_request_id(void **state)
{
    char out[16];
    req r;
    parse_req(&r, "GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc.DEF-1_2\r\n\r\n");
    assert_true(gw_edge_client_request_id(&r.head, out, sizeof out));
    assert_string_equal(out, "abc.DEF-1_2");
    assert_false(gw_edge_client_request_id(&r.head, out, 5)); /* does not fit */
    free(r.text);
    parse_req(&r, "GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: a b\r\n\r\n");
    assert_false(gw_edge_client_request_id(&r.head, out, sizeof out));
    free(r.text);
    parse_req(&r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_false(gw_edge_client_request_id(&r.head, out, sizeof out));
    free(r.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_edge_origin),
        cmocka_unit_test(test_gw_edge_find_token),
        cmocka_unit_test(test_gw_edge_authenticate),
        cmocka_unit_test(test_gw_edge_upstream_headers),
        cmocka_unit_test(test_gw_edge_client_request_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

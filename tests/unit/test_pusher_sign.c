/* Unit tests for lib/proto/pusher_sign: socket ids, channel auth strings
 * (Pusher's documented vectors), and the signed HTTP API query: the
 * documented example, every refusal (key, version, stale or future
 * timestamp, body_md5, signature, malformed query), and sign/verify round
 * trips in any parameter order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/pusher_sign.h"

#define KEY "278d425bdf160c739803"
#define SECRET "7ad3773142a6692b25b8"

static void test_pusher_sign_socket_id(void **state)
{
    (void)state;
    const char *ok[] = {"1.2", "123.456", "00000000000000000000.99999999999999999999"};
    const char *no[] = {"",      ".",   "1.",   ".1",   "1",
                        "1.2.3", "a.1", "1.2 ", "-1.2", "123456789012345678901.1"};
    for (size_t i = 0; i < 3; i++)
        assert_true(hr_pusher_socket_id_is_valid(ok[i], strlen(ok[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(hr_pusher_socket_id_is_valid(no[i], strlen(no[i])));
    assert_false(hr_pusher_socket_id_is_valid(NULL, 0));
}

static void test_pusher_sign_channel_auth(void **state)
{
    (void)state;
    /* Pusher's documentation example for a private channel. */
    const char *good = KEY ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4";
    assert_true(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "private-foobar", NULL, good));
    assert_false(hr_pusher_auth_check(KEY, SECRET, "1234.1235", "private-foobar", NULL, good));
    assert_false(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "private-foobaz", NULL, good));
    assert_false(hr_pusher_auth_check(KEY, "other", "1234.1234", "private-foobar", NULL, good));
    assert_false(hr_pusher_auth_check("other", SECRET, "1234.1234", "private-foobar", NULL, good));
    assert_false(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "private-foobar", "{}", good));
    char bad[128];
    snprintf(bad, sizeof bad, "%s", good);
    bad[strlen(bad) - 1] = '5';
    assert_false(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "private-foobar", NULL, bad));
    for (size_t i = 0; good[i] != '\0'; i++) { /* every truncation */
        snprintf(bad, sizeof bad, "%.*s", (int)i, good);
        assert_false(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "private-foobar", NULL, bad));
    }
    snprintf(bad, sizeof bad, "%s0", good);
    assert_false(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "private-foobar", NULL, bad));
    /* Presence: channel_data is signed too (vector computed with Python's hmac). */
    const char *cd = "{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}";
    const char *pres = KEY ":31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80";
    assert_true(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "presence-foobar", cd, pres));
    assert_false(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "presence-foobar", "{}", pres));
    assert_false(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "presence-foobar", NULL, pres));
    assert_false(hr_pusher_auth_check(KEY, SECRET, "1234.1234", "presence-foobar", cd, NULL));
}

static const char BODY[] = "{\"name\":\"foo\",\"channels\":[\"project-3\"],"
                           "\"data\":\"{\\\"some\\\":\\\"data\\\"}\"}";
#define TS 1353088179

static int verify(const char *method, const char *query, const char *body, int64_t now,
                  const char **why)
{
    const hr_pusher_api_req req = {
        .method = method,
        .method_len = strlen(method),
        .path = "/apps/3/events",
        .path_len = 14,
        .query = query,
        .query_len = strlen(query),
        .body = (const uint8_t *)body,
        .body_len = strlen(body),
    };
    return hr_pusher_api_verify(&req, KEY, SECRET, now, why);
}

/* Pusher's documentation example, with its parameters in any order. */
static void test_pusher_sign_api_example(void **state)
{
    (void)state;
    const char *why = NULL;
    const char *q =
        "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=1.0"
        "&body_md5=ec365a775a4cd0599faeb73354201b6f"
        "&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
    assert_int_equal(verify("POST", q, BODY, TS, &why), 0);
    assert_int_equal(verify("POST", q, BODY, TS + 600, &why), 0);
    assert_int_equal(verify("POST", q, BODY, TS - 600, &why), 0);
    const char *shuffled =
        "auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        "&body_md5=ec365a775a4cd0599faeb73354201b6f&AUTH_VERSION=1%2E0&&auth_key=" KEY
        "&auth_timestamp=1353088179";
    assert_int_equal(verify("POST", shuffled, BODY, TS, &why), 0);
}

static void expect_denied(const char *method, const char *query, const char *body, int64_t now,
                          const char *reason)
{
    const char *why = NULL;
    assert_int_equal(verify(method, query, body, now, &why), HR_EDENIED);
    assert_non_null(why);
    assert_string_equal(why, reason);
}

static void test_pusher_sign_api_refusals(void **state)
{
    (void)state;
    const char *sig =
        "&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
    char q[512];
    snprintf(q, sizeof q,
             "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=1.0"
             "&body_md5=ec365a775a4cd0599faeb73354201b6f%s",
             sig);
    expect_denied("POST", q, BODY, TS + 601,
                  "auth_timestamp expired: the clocks differ by more than 600 s");
    expect_denied("POST", q, BODY, TS - 601,
                  "auth_timestamp expired: the clocks differ by more than 600 s");
    expect_denied("PUT", q, BODY, TS, "invalid auth_signature");
    expect_denied("POST", q, "{}", TS, "body_md5 does not match the body");
    expect_denied("POST", "auth_key=x", BODY, TS,
                  "missing auth_key, auth_timestamp, auth_version or auth_signature");
    snprintf(q, sizeof q, "auth_key=other&auth_timestamp=1353088179&auth_version=1.0%s", sig);
    expect_denied("GET", q, "", TS, "unknown auth_key");
    snprintf(q, sizeof q, "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=2.0%s", sig);
    expect_denied("GET", q, "", TS, "auth_version must be 1.0");
    snprintf(q, sizeof q, "auth_key=" KEY "&auth_timestamp=1e9&auth_version=1.0%s", sig);
    expect_denied("GET", q, "", TS, "auth_timestamp expired: the clocks differ by more than 600 s");
    snprintf(q, sizeof q, "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=1.0%s", sig);
    expect_denied("POST", q, BODY, TS, "missing body_md5");
    expect_denied("GET", q, "", TS, "invalid auth_signature");
    /* malformed queries */
    const char *why;
    assert_int_equal(verify("GET", "a=%zz", "", TS, &why), HR_EINVAL);
    assert_int_equal(verify("GET", "a=1&A=2", "", TS, &why), HR_EINVAL);
    assert_int_equal(verify("GET", "=1", "", TS, &why), HR_EINVAL);
    assert_int_equal(verify("GET", "a=\x01", "", TS, &why), HR_EINVAL);
    assert_int_equal(verify("GET", "a=b c", "", TS, &why), HR_EINVAL);
    char many[512] = "";
    for (int i = 0; i <= HR_PUSHER_API_MAX_PARAMS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "p%d=1&", i);
    assert_int_equal(verify("GET", many, "", TS, &why), HR_EINVAL);
    char *longv = malloc(HR_PUSHER_API_PARAM_MAX + 8);
    assert_non_null(longv);
    memset(longv, 'v', HR_PUSHER_API_PARAM_MAX + 7);
    memcpy(longv, "v=", 2);
    longv[HR_PUSHER_API_PARAM_MAX + 7] = '\0';
    assert_int_equal(verify("GET", longv, "", TS, &why), HR_EINVAL);
    free(longv);
}

/* What hr_pusher_api_sign writes, hr_pusher_api_verify accepts, with the
 * caller's own parameters (GET /channels filters) signed along. */
static void test_pusher_sign_api_roundtrip(void **state)
{
    (void)state;
    const char *queries[] = {"", "filter_by_prefix=presence-&info=user_count,subscription_count"};
    const char *bodies[] = {"", BODY};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 2; j++) {
            hr_pusher_api_req req = {.method = "GET",
                                     .method_len = 3,
                                     .path = "/apps/3/channels",
                                     .path_len = 16,
                                     .query = queries[i],
                                     .query_len = strlen(queries[i]),
                                     .body = (const uint8_t *)bodies[j],
                                     .body_len = strlen(bodies[j])};
            char *signed_q = NULL;
            assert_int_equal(hr_pusher_api_sign(&req, KEY, SECRET, TS, &signed_q), 0);
            req.query = signed_q;
            req.query_len = strlen(signed_q);
            assert_int_equal(hr_pusher_api_verify(&req, KEY, SECRET, TS + 5, NULL), 0);
            assert_int_equal(hr_pusher_api_verify(&req, KEY, "wrong", TS, NULL), HR_EDENIED);
            req.path = "/apps/4/channels";
            assert_int_equal(hr_pusher_api_verify(&req, KEY, SECRET, TS, NULL), HR_EDENIED);
            free(signed_q);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pusher_sign_socket_id),
        cmocka_unit_test(test_pusher_sign_channel_auth),
        cmocka_unit_test(test_pusher_sign_api_example),
        cmocka_unit_test(test_pusher_sign_api_refusals),
        cmocka_unit_test(test_pusher_sign_api_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

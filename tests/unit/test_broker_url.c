/* Unit tests for lib/broker/broker_url.c and the adapters' URL checks:
 * userinfo, IPv6 hosts, ports, percent escapes, parameters, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "broker/broker_url.h"
#include "broker/redis.h"
#include "core/err.h"

static void test_broker_url_full(void **state)
{
    (void)state;
    hr_broker_url u;
    char err[200];
    assert_int_equal(hr_broker_url_parse("redis://app:p%40ss@10.0.0.5:6380/2?stream=a:b&maxlen=10",
                                         &u, err, sizeof err),
                     0);
    assert_string_equal(u.scheme, "redis");
    assert_true(u.has_user);
    assert_true(u.has_password);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.path, "2");
    assert_int_equal(u.n_params, 2);
    assert_string_equal(hr_broker_url_param_get(&u, "stream"), "a:b");
    assert_null(hr_broker_url_param_get(&u, "nope"));
    uint64_t v = 0;
    assert_int_equal(hr_broker_url_param_u64(&u, "maxlen", 5, 0, 100, &v, err, sizeof err), 0);
    assert_int_equal(v, 10);
    assert_int_equal(hr_broker_url_param_u64(&u, "warm", 5, 0, 100, &v, err, sizeof err), 0);
    assert_int_equal(v, 5);
    assert_int_equal(hr_broker_url_param_u64(&u, "maxlen", 5, 11, 100, &v, err, sizeof err),
                     HR_EINVAL);
}

static void test_broker_url_minimal_and_ipv6(void **state)
{
    (void)state;
    hr_broker_url u;
    char err[200];
    assert_int_equal(hr_broker_url_parse("nats://localhost", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 0);
    assert_false(u.has_user);
    assert_string_equal(u.path, "");
    assert_int_equal(hr_broker_url_parse("nats://tok@[::1]:4222?stream=S", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 4222);
    assert_true(u.has_user);
    assert_false(u.has_password);
    assert_string_equal(u.user, "tok");
}

static void test_broker_url_errors(void **state)
{
    (void)state;
    hr_broker_url u;
    char err[200];
    const char *bad[] = {
        "localhost:6379", "redis://",        "redis://:6379",
        "redis://h:0",    "redis://h:65536", "redis://h:12x",
        "redis://[::1",   "redis://[::1]x",  "redis://h?novalue",
        "redis://u%zz@h", "redis://u%00@h",  "redis://h?a=%4",
        "://h",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(hr_broker_url_parse(bad[i], &u, err, sizeof err), HR_EINVAL);
        assert_non_null(strstr(err, "--broker"));
    }
    char long_url[600] = "redis://";
    memset(long_url + 8, 'h', 300);
    assert_int_equal(hr_broker_url_parse(long_url, &u, err, sizeof err), HR_EINVAL);
    char many[1000] = "redis://h?";
    for (int i = 0; i < 17; i++)
        strcat(many, "a=b&");
    assert_int_equal(hr_broker_url_parse(many, &u, err, sizeof err), HR_EINVAL);
    /* the password never appears in the message */
    assert_int_equal(hr_broker_url_parse("redis://u:s3cret@h:99999", &u, err, sizeof err),
                     HR_EINVAL);
    assert_null(strstr(err, "s3cret"));
    const char *allowed[] = {"stream"};
    assert_int_equal(hr_broker_url_parse("redis://h?strem=x", &u, err, sizeof err), 0);
    assert_int_equal(hr_broker_url_check_params(&u, allowed, 1, err, sizeof err), HR_EINVAL);
    assert_non_null(strstr(err, "strem"));
}

static void test_broker_url_redis_config(void **state)
{
    (void)state;
    hr_redis_config c;
    char err[200];
    assert_int_equal(hr_redis_config_parse("redis://127.0.0.1", &c, err, sizeof err), 0);
    assert_int_equal(c.port, 6379);
    assert_int_equal(c.db, 0);
    assert_false(c.has_password);
    assert_string_equal(c.stream, "herald:events");
    assert_int_equal(c.maxlen, 1000000);
    assert_int_equal(c.warm, 10000);
    assert_int_equal(
        hr_redis_config_parse("redis://bob:pw@h:7000/3?stream=s&maxlen=0&warm=5&block_ms=100", &c,
                              err, sizeof err),
        0);
    assert_string_equal(c.user, "bob");
    assert_string_equal(c.password, "pw");
    assert_true(c.has_password);
    assert_int_equal(c.db, 3);
    assert_string_equal(c.stream, "s");
    assert_int_equal(c.maxlen, 0);
    assert_int_equal(c.warm, 5);
    assert_int_equal(c.block_ms, 100);
    assert_int_equal(hr_redis_config_parse("redis://secret@h", &c, err, sizeof err), 0);
    assert_string_equal(c.user, "");
    assert_string_equal(c.password, "secret");
    assert_true(c.has_password);
    assert_int_equal(hr_redis_config_parse("rediss://h:6380?tls_ca=/x/ca.pem", &c, err, sizeof err),
                     0);
    assert_true(c.tls);
    assert_string_equal(c.tls_ca, "/x/ca.pem");
    assert_false(c.tls_insecure);
    assert_int_equal(hr_redis_config_parse("rediss://h?tls_insecure=1", &c, err, sizeof err), 0);
    assert_true(c.tls_insecure);
    const char *bad[] = {
        "redis://h?tls_ca=x", "rediss://h?tls_insecure=2", "redis://h/x",   "redis://h/70000",
        "redis://h?stream=",  "redis://h?warm=-1",         "redis://h?x=1", "nats://h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hr_redis_config_parse(bad[i], &c, err, sizeof err), HR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broker_url_full),
        cmocka_unit_test(test_broker_url_minimal_and_ipv6),
        cmocka_unit_test(test_broker_url_errors),
        cmocka_unit_test(test_broker_url_redis_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

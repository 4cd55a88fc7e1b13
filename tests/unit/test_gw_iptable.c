/* Unit tests for per-IP limits: handshake token bucket, connection caps,
 * sweeping, and the table bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "core/err.h"
#include "gateway/iptable.h"

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

#define SA(x) ((const struct sockaddr *)(const void *)&(x))

static void test_gw_iptable_rate(void **state)
{
    gw_iptable t;
    assert_int_equal(gw_iptable_init(&t, 100), 0);
    struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");
    for (int i = 0; i < 5; i++)
        assert_int_equal(gw_iptable_handshake(&t, SA(a), 1000, 5), 0);
    assert_int_equal(gw_iptable_handshake(&t, SA(a), 1000, 5), HR_ELIMIT);
    assert_int_equal(gw_iptable_handshake(&t, SA(b), 1000, 5), 0); /* other IPs unaffected */
    assert_int_equal(gw_iptable_handshake(&t, SA(a), 1100, 5), HR_ELIMIT); /* 0.5 token */
    assert_int_equal(gw_iptable_handshake(&t, SA(a), 1200, 5), 0);         /* 1 token */
    assert_int_equal(gw_iptable_handshake(&t, SA(a), 5000, 5), 0);         /* capped refill */
    for (int i = 0; i < 4; i++)
        assert_int_equal(gw_iptable_handshake(&t, SA(a), 5000, 5), 0);
    assert_int_equal(gw_iptable_handshake(&t, SA(a), 5000, 5), HR_ELIMIT);
    gw_iptable_deinit(&t);
}

static void test_gw_iptable_conns(void **state)
{
    gw_iptable t;
    assert_int_equal(gw_iptable_init(&t, 100), 0);
    struct sockaddr_in a = v4("10.0.0.1");
    struct sockaddr_in6 six;
    memset(&six, 0, sizeof six);
    six.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &six.sin6_addr);
    assert_int_equal(gw_iptable_conn_open(&t, SA(a), 2), 0);
    assert_int_equal(gw_iptable_conn_open(&t, SA(a), 2), 0);
    assert_int_equal(gw_iptable_conn_open(&t, SA(a), 2), HR_ELIMIT);
    assert_int_equal(gw_iptable_conn_open(&t, SA(six), 2), 0);
    assert_int_equal(gw_iptable_conns(&t, SA(a)), 2);
    gw_iptable_conn_close(&t, SA(a));
    assert_int_equal(gw_iptable_conn_open(&t, SA(a), 2), 0);
    gw_iptable_conn_close(&t, SA(a));
    gw_iptable_conn_close(&t, SA(a));
    gw_iptable_conn_close(&t, SA(a)); /* extra close is harmless */
    assert_int_equal(gw_iptable_conns(&t, SA(a)), 0);
    assert_int_equal(gw_iptable_conns(&t, SA(six)), 1);
    gw_iptable_deinit(&t);
}

static void test_gw_iptable_sweep_and_bound(void **state)
{
    gw_iptable t;
    assert_int_equal(gw_iptable_init(&t, 50), 0);
    char ip[32];
    for (int i = 0; i < 50; i++) {
        snprintf(ip, sizeof ip, "10.1.0.%d", i);
        struct sockaddr_in a = v4(ip);
        assert_int_equal(gw_iptable_handshake(&t, SA(a), 1000, 10), 0);
    }
    struct sockaddr_in extra = v4("10.2.0.1");
    assert_int_equal(gw_iptable_handshake(&t, SA(extra), 1000, 10), HR_ENOMEM);
    struct sockaddr_in keep = v4("10.1.0.7");
    assert_int_equal(gw_iptable_conn_open(&t, SA(keep), 5), 0);
    assert_int_equal(gw_iptable_sweep(&t, 1050, 10), 0); /* buckets not yet full */
    assert_int_equal(gw_iptable_size(&t), 50);
    assert_int_equal(gw_iptable_sweep(&t, 3000, 10), 0);
    assert_int_equal(gw_iptable_size(&t), 1); /* only the one holding a connection */
    assert_int_equal(gw_iptable_conns(&t, SA(keep)), 1);
    assert_int_equal(gw_iptable_handshake(&t, SA(extra), 3000, 10), 0);
    gw_iptable_deinit(&t);
}

static void test_gw_iptable_grows_and_shrinks(void **state)
{
    gw_iptable t;
    assert_int_equal(gw_iptable_init(&t, 100000), 0);
    const size_t small = t.cap;
    char ip[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
        struct sockaddr_in a = v4(ip);
        assert_int_equal(gw_iptable_handshake(&t, SA(a), 1000, 10), 0);
        if (i % 2 == 0)
            assert_int_equal(gw_iptable_conn_open(&t, SA(a), 5), 0);
    }
    assert_int_equal(gw_iptable_size(&t), 5000);
    assert_true(t.cap >= 10000 && t.cap > small);
    for (int i = 0; i < 5000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
        struct sockaddr_in a = v4(ip);
        assert_int_equal(gw_iptable_conns(&t, SA(a)), i % 2 == 0 ? 1 : 0);
        if (i % 2 == 0 && i >= 100)
            gw_iptable_conn_close(&t, SA(a));
    }
    assert_int_equal(gw_iptable_sweep(&t, 9000, 10), 0);
    assert_int_equal(gw_iptable_size(&t), 50);
    assert_true(t.cap < 10000);
    struct sockaddr_in kept = v4("10.0.98.1");
    assert_int_equal(gw_iptable_conns(&t, SA(kept)), 1);
    gw_iptable_deinit(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_iptable_rate),
        cmocka_unit_test(test_gw_iptable_conns),
        cmocka_unit_test(test_gw_iptable_sweep_and_bound),
        cmocka_unit_test(test_gw_iptable_grows_and_shrinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

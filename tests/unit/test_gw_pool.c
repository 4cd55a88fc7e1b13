/* Unit tests for upstream pools and the consistent-hash ring: policy
 * behaviour, distribution, and how few users move when a server is added or
 * removed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/config.h"
#include "gateway/pool.h"
#include "gateway/ring.h"

static gw_upstream_cfg upstream(gw_addr *servers, size_t n, gw_balance b)
{
    for (size_t i = 0; i < n; i++) {
        char text[32];
        snprintf(text, sizeof text, "10.0.0.%u:7070", (unsigned)(i + 1) % 250);
        assert_int_equal(gw_config_parse_addr(text, strlen(text), &servers[i]), 0);
    }
    gw_upstream_cfg u = {.name = "u", .servers = servers, .n_servers = n, .balance = b};
    u.health.rise = 2;
    u.health.fall = 3;
    u.health.enabled = true;
    return u;
}

static void test_gw_pool_round_robin(void **state)
{
    gw_addr s[3];
    gw_upstream_cfg u = upstream(s, 3, GW_BALANCE_ROUND_ROBIN);
    gw_pool p;
    assert_int_equal(gw_pool_init(&p, &u), 0);
    assert_int_equal(gw_pool_pick(&p, NULL, 0, NULL), 0);
    assert_int_equal(gw_pool_pick(&p, NULL, 0, NULL), 1);
    assert_int_equal(gw_pool_pick(&p, NULL, 0, NULL), 2);
    assert_int_equal(gw_pool_pick(&p, NULL, 0, NULL), 0);
    assert_true(gw_pool_report(&p, 1, false, true)); /* passive: down at once */
    assert_int_equal(gw_pool_pick(&p, NULL, 0, NULL), 2);
    assert_int_equal(gw_pool_pick(&p, NULL, 0, NULL), 0);
    bool skip[3] = {true, false, false};
    assert_int_equal(gw_pool_pick(&p, NULL, 0, skip), 2);
    skip[2] = true;
    assert_int_equal(gw_pool_pick(&p, NULL, 0, skip), -1);
    gw_pool_deinit(&p);
}

static void test_gw_pool_rise_fall(void **state)
{
    gw_addr s[2];
    gw_upstream_cfg u = upstream(s, 2, GW_BALANCE_ROUND_ROBIN);
    gw_pool p;
    assert_int_equal(gw_pool_init(&p, &u), 0);
    assert_false(gw_pool_report(&p, 0, false, false));
    assert_false(gw_pool_report(&p, 0, false, false));
    assert_true(gw_pool_report(&p, 0, false, false)); /* fall = 3 */
    assert_int_equal(gw_pool_up_count(&p), 1);
    assert_false(gw_pool_report(&p, 0, true, false));
    assert_true(gw_pool_report(&p, 0, true, false)); /* rise = 2 */
    assert_int_equal(gw_pool_up_count(&p), 2);
    gw_pool_report(&p, 0, false, true);
    gw_pool_report(&p, 1, false, true);
    assert_int_equal(gw_pool_pick(&p, NULL, 0, NULL), -1); /* checks on: stays down */
    gw_pool_revive(&p);
    assert_int_equal(gw_pool_up_count(&p), 2);
    gw_pool_deinit(&p);
}

static void test_gw_pool_no_checks_recovers(void **state)
{
    gw_addr s[2];
    gw_upstream_cfg u = upstream(s, 2, GW_BALANCE_ROUND_ROBIN);
    u.health.enabled = false;
    gw_pool p;
    assert_int_equal(gw_pool_init(&p, &u), 0);
    gw_pool_report(&p, 0, false, true);
    gw_pool_report(&p, 1, false, true);
    assert_true(gw_pool_pick(&p, NULL, 0, NULL) >= 0);
    gw_pool_deinit(&p);
}

static void test_gw_pool_least_conn(void **state)
{
    gw_addr s[3];
    gw_upstream_cfg u = upstream(s, 3, GW_BALANCE_LEAST_CONN);
    gw_pool p;
    assert_int_equal(gw_pool_init(&p, &u), 0);
    gw_pool_conn_add(&p, 0, 1);
    gw_pool_conn_add(&p, 0, 1);
    gw_pool_conn_add(&p, 1, 1);
    assert_int_equal(gw_pool_pick(&p, NULL, 0, NULL), 2);
    gw_pool_conn_add(&p, 2, 1);
    gw_pool_conn_add(&p, 2, 1);
    assert_int_equal(gw_pool_pick(&p, NULL, 0, NULL), 1);
    gw_pool_conn_add(&p, 1, -1);
    gw_pool_conn_add(&p, 1, -1);
    gw_pool_conn_add(&p, 1, -1); /* never below zero */
    assert_int_equal(p.servers[1].active, 0);
    /* Equal loads rotate. */
    gw_pool_conn_add(&p, 0, -1);
    gw_pool_conn_add(&p, 0, -1);
    gw_pool_conn_add(&p, 2, -1);
    gw_pool_conn_add(&p, 2, -1);
    int a = gw_pool_pick(&p, NULL, 0, NULL), b = gw_pool_pick(&p, NULL, 0, NULL);
    assert_int_not_equal(a, b);
    gw_pool_deinit(&p);
}

static void test_gw_pool_hash_user_sticky(void **state)
{
    gw_addr s[4];
    gw_upstream_cfg u = upstream(s, 4, GW_BALANCE_HASH_USER);
    gw_pool p;
    assert_int_equal(gw_pool_init(&p, &u), 0);
    const int first = gw_pool_pick(&p, "alice", 5, NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(gw_pool_pick(&p, "alice", 5, NULL), first);
    gw_pool_report(&p, (size_t)first, false, true);
    const int other = gw_pool_pick(&p, "alice", 5, NULL);
    assert_int_not_equal(other, first);
    assert_true(other >= 0);
    gw_pool_revive(&p);
    assert_int_equal(gw_pool_pick(&p, "alice", 5, NULL), first);
    /* Anonymous: round robin. */
    int a = gw_pool_pick(&p, NULL, 0, NULL), b = gw_pool_pick(&p, "", 0, NULL);
    assert_int_not_equal(a, b);
    gw_pool_deinit(&p);
}

#define USERS 20000

static void names_for(const char **names, char (*buf)[32], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(buf[i], 32, "10.0.0.%u:7070", (unsigned)(i + 1) % 250);
        names[i] = buf[i];
    }
}

static int lookup_user(const gw_ring *r, size_t u)
{
    char key[32];
    const int n = snprintf(key, sizeof key, "user-%zu", u);
    return gw_ring_lookup(r, key, (size_t)n, NULL, NULL);
}

static void test_gw_ring_distribution(void **state)
{
    char buf[5][32];
    const char *names[5];
    names_for(names, buf, 5);
    gw_ring r;
    assert_int_equal(gw_ring_init(&r, names, 5), 0);
    size_t count[5] = {0};
    for (size_t u = 0; u < USERS; u++) {
        const int s = lookup_user(&r, u);
        assert_true(s >= 0 && s < 5);
        count[s]++;
    }
    /* Each server should hold its share (4000) within +-25%. */
    for (size_t i = 0; i < 5; i++) {
        if (count[i] < 3000 || count[i] > 5000)
            fail_msg("server %zu holds %zu of %d users", i, count[i], USERS);
    }
    gw_ring_deinit(&r);
}

static void test_gw_ring_movement(void **state)
{
    char buf[5][32];
    const char *names[5];
    names_for(names, buf, 5);
    gw_ring four, five;
    assert_int_equal(gw_ring_init(&four, names, 4), 0);
    assert_int_equal(gw_ring_init(&five, names, 5), 0);
    size_t moved = 0, moved_elsewhere = 0;
    for (size_t u = 0; u < USERS; u++) {
        const int a = lookup_user(&four, u), b = lookup_user(&five, u);
        if (a != b) {
            moved++;
            moved_elsewhere += b != 4; /* a move must only go to the new server */
        }
    }
    /* Adding a fifth server should move about 1/5 of the users (4000), all to it. */
    if (moved < 3000 || moved > 5000)
        fail_msg("%zu of %d users moved", moved, USERS);
    assert_int_equal(moved_elsewhere, 0);
    /* Removing server 4 again: exactly those users move back. Removing another
     * (index 1) from the five: only its users move. */
    const char *without1[4] = {names[0], names[2], names[3], names[4]};
    gw_ring less;
    assert_int_equal(gw_ring_init(&less, without1, 4), 0);
    size_t moved2 = 0;
    for (size_t u = 0; u < USERS; u++) {
        const int before = lookup_user(&five, u);
        const int after = lookup_user(&less, u);
        const int after_orig = after == 0 ? 0 : after + 1; /* map back to 5-server indices */
        if (before != 1)
            assert_int_equal(after_orig, before);
        else
            moved2++;
    }
    if (moved2 < 3000 || moved2 > 5000)
        fail_msg("%zu users were on the removed server", moved2);
    gw_ring_deinit(&four);
    gw_ring_deinit(&five);
    gw_ring_deinit(&less);
}

static void test_gw_ring_empty(void **state)
{
    gw_ring r;
    assert_int_equal(gw_ring_init(&r, NULL, 0), 0);
    assert_int_equal(gw_ring_lookup(&r, "a", 1, NULL, NULL), -1);
    gw_ring_deinit(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_pool_round_robin),
        cmocka_unit_test(test_gw_pool_rise_fall),
        cmocka_unit_test(test_gw_pool_no_checks_recovers),
        cmocka_unit_test(test_gw_pool_least_conn),
        cmocka_unit_test(test_gw_pool_hash_user_sticky),
        cmocka_unit_test(test_gw_ring_distribution),
        cmocka_unit_test(test_gw_ring_movement),
        cmocka_unit_test(test_gw_ring_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

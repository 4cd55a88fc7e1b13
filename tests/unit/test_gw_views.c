/* Unit tests for src/gateway/views: the per-view frame cache finds what was
 * put under (route, channel, id, view) and nothing else, holds exactly one
 * reference per stored frame (counted on the messages), evicts the oldest
 * when full and by age at the end of loop turns, refuses oversized keys,
 * and keeps working through many collisions. No Lua involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gateway/views.h"

static gw_view_key key(uint32_t route, const char *ch, const char *id, const char *view)
{
    return (gw_view_key){route, ch, strlen(ch), id, strlen(id), view, strlen(view)};
}

static unsigned refs(hr_msg *m)
{
    return atomic_load(&m->refs);
}

static void test_gw_views_put_find(void **state)
{
    (void)state;
    gw_views *v = gw_views_new(8, 0);
    assert_non_null(v);
    hr_msg *a = hr_msg_new_copy("A", 1), *b = hr_msg_new_copy("B", 1);
    gw_view_key ka = key(1, "orders", "17-0", "eur"), kb = key(1, "orders", "17-0", "usd");
    assert_null(gw_views_find(v, &ka));
    gw_view_frames *fa = gw_views_put(v, &ka, a, false);
    assert_non_null(fa);
    assert_ptr_equal(fa->plain, a);
    assert_null(fa->deflated);
    assert_int_equal(refs(a), 2);
    assert_non_null(gw_views_put(v, &kb, NULL, true));
    assert_int_equal(gw_views_count(v), 2);
    assert_ptr_equal(gw_views_find(v, &ka)->plain, a);
    assert_true(gw_views_find(v, &kb)->drop);
    assert_null(gw_views_find(v, &kb)->plain);
    /* every part of the key counts */
    gw_view_key other[] = {key(2, "orders", "17-0", "eur"), key(1, "order", "17-0", "eur"),
                           key(1, "orders", "17-1", "eur"), key(1, "orders", "17-0", "eu"),
                           key(1, "orders", "17-0eur", ""), key(1, "orders17-0", "", "eur")};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        assert_null(gw_views_find(v, &other[i]));
    /* the deflated twin, then a replacement under the same key */
    gw_views_set_deflated(gw_views_find(v, &ka), b);
    assert_int_equal(refs(b), 2);
    gw_views_set_deflated(gw_views_find(v, &ka), b);
    assert_int_equal(refs(b), 2);
    assert_non_null(gw_views_put(v, &ka, b, false));
    assert_int_equal(gw_views_count(v), 2);
    assert_int_equal(refs(a), 1);
    assert_int_equal(refs(b), 2);
    /* putting the frame the entry already holds keeps it alive */
    gw_view_frames *f = gw_views_find(v, &ka);
    assert_non_null(gw_views_put(v, &ka, f->plain, false));
    assert_int_equal(refs(b), 2);
    gw_views_free(v);
    assert_int_equal(refs(a), 1);
    assert_int_equal(refs(b), 1);
    hr_msg_unref(a);
    hr_msg_unref(b);
}

static void test_gw_views_evicts_oldest_when_full(void **state)
{
    (void)state;
    gw_views *v = gw_views_new(3, 1000000);
    hr_msg *m[5];
    char id[5][8];
    for (int i = 0; i < 5; i++) {
        m[i] = hr_msg_new_copy("x", 1);
        snprintf(id[i], sizeof id[i], "%d-0", i);
        gw_view_key k = key(1, "c", id[i], "v");
        assert_non_null(gw_views_put(v, &k, m[i], false));
        assert_true(gw_views_count(v) <= 3);
    }
    for (int i = 0; i < 5; i++) {
        gw_view_key k = key(1, "c", id[i], "v");
        if (i < 2) {
            assert_null(gw_views_find(v, &k));
            assert_int_equal(refs(m[i]), 1);
        } else {
            assert_non_null(gw_views_find(v, &k));
            assert_int_equal(refs(m[i]), 2);
        }
    }
    gw_views_free(v);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(refs(m[i]), 1);
        hr_msg_unref(m[i]);
    }
}

static void test_gw_views_end_turn(void **state)
{
    (void)state;
    gw_views *v = gw_views_new(16, 0);
    gw_view_key k1 = key(1, "c", "1", "v");
    hr_msg *m = hr_msg_new_copy("x", 1);
    gw_views_put(v, &k1, m, false);
    gw_views_end_turn(v, 0);
    assert_int_equal(gw_views_count(v), 0);
    assert_int_equal(refs(m), 1);
    gw_views_free(v);

    /* with max_age_ms 100 an entry lives until a turn ends 100 ms after its birth */
    v = gw_views_new(16, 100);
    gw_views_end_turn(v, 1000);
    gw_views_put(v, &k1, m, false);
    gw_views_end_turn(v, 1050);
    gw_view_key k2 = key(1, "c", "2", "v");
    gw_views_put(v, &k2, m, false);
    gw_views_end_turn(v, 1099);
    assert_non_null(gw_views_find(v, &k1));
    gw_views_end_turn(v, 1100);
    assert_null(gw_views_find(v, &k1));
    assert_non_null(gw_views_find(v, &k2));
    gw_views_end_turn(v, 1150);
    assert_int_equal(gw_views_count(v), 0);
    assert_int_equal(refs(m), 1);
    gw_views_free(v);
    hr_msg_unref(m);
}

static void test_gw_views_key_limits(void **state)
{
    (void)state;
    gw_views *v = gw_views_new(4, 0);
    char big[GW_VIEWS_VIEW_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    gw_view_key k = key(1, "c", "1", big);
    assert_false(gw_views_key_fits(&k));
    assert_null(gw_views_put(v, &k, NULL, true));
    assert_null(gw_views_find(v, &k));
    big[GW_VIEWS_VIEW_MAX] = '\0';
    k = key(1, "c", "1", big);
    assert_true(gw_views_key_fits(&k));
    assert_non_null(gw_views_put(v, &k, NULL, true));
    assert_null(gw_views_new(0, 0));
    gw_views_free(v);
    gw_views_free(NULL);
}

/* Many entries through a small table: every lookup stays right while
 * evictions unlink from shared buckets. */
static void test_gw_views_churn(void **state)
{
    (void)state;
    gw_views *v = gw_views_new(5, 1000000);
    hr_msg *m = hr_msg_new_copy("x", 1);
    for (int i = 0; i < 2000; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", i);
        gw_view_key k = key((uint32_t)(i % 3), "c", id, i % 2 ? "a" : "b");
        assert_non_null(gw_views_put(v, &k, m, false));
        for (int back = 0; back < 7 && back <= i; back++) {
            char id2[16];
            snprintf(id2, sizeof id2, "%d", i - back);
            gw_view_key k2 = key((uint32_t)((i - back) % 3), "c", id2, (i - back) % 2 ? "a" : "b");
            if (back < 5)
                assert_non_null(gw_views_find(v, &k2));
            else
                assert_null(gw_views_find(v, &k2));
        }
        if (i % 97 == 0)
            gw_views_end_turn(v, 0);
    }
    assert_int_equal(refs(m), 1 + gw_views_count(v));
    gw_views_free(v);
    assert_int_equal(refs(m), 1);
    hr_msg_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_views_put_find),
        cmocka_unit_test(test_gw_views_evicts_oldest_when_full),
        cmocka_unit_test(test_gw_views_end_turn),
        cmocka_unit_test(test_gw_views_key_limits),
        cmocka_unit_test(test_gw_views_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

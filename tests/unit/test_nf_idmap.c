/* Unit tests for the notifier's session id map (src/notifier/idmap): put,
 * get, removal by value (a reused id keeps its new value), growth through
 * many entries with tombstones in between, and a walk that clears every
 * slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "notifier/idmap.h"

static int vals[5000];

static void test_nf_idmap_put_get_del(void **state)
{
    (void)state;
    nf_idmap m;
    nf_idmap_init(&m);
    assert_null(nf_idmap_get(&m, 1));
    nf_idmap_del(&m, 1, &vals[1]); /* empty: no-op */
    assert_int_equal(nf_idmap_put(&m, 1, &vals[1]), 0);
    assert_int_equal(nf_idmap_put(&m, 0x100001, &vals[2]), 0);
    assert_ptr_equal(nf_idmap_get(&m, 1), &vals[1]);
    assert_ptr_equal(nf_idmap_get(&m, 0x100001), &vals[2]);
    assert_null(nf_idmap_get(&m, 2));
    nf_idmap_del(&m, 1, &vals[2]); /* another value: kept */
    assert_ptr_equal(nf_idmap_get(&m, 1), &vals[1]);
    nf_idmap_del(&m, 1, &vals[1]);
    assert_null(nf_idmap_get(&m, 1));
    assert_int_equal(m.live, 1);
    /* the id comes back with a new value; removing the old one is a no-op */
    assert_int_equal(nf_idmap_put(&m, 1, &vals[3]), 0);
    nf_idmap_del(&m, 1, &vals[1]);
    assert_ptr_equal(nf_idmap_get(&m, 1), &vals[3]);
    nf_idmap_deinit(&m);
}

static void test_nf_idmap_grows_with_tombstones(void **state)
{
    (void)state;
    nf_idmap m;
    nf_idmap_init(&m);
    for (uint32_t i = 1; i < 5000; i++) {
        assert_int_equal(nf_idmap_put(&m, i << 20 | i, &vals[i]), 0);
        if (i % 3 == 0)
            nf_idmap_del(&m, (i - 1) << 20 | (i - 1), &vals[i - 1]);
    }
    size_t live = 0;
    for (uint32_t i = 1; i < 5000; i++) {
        const bool gone = (i + 1) % 3 == 0;
        void *v = nf_idmap_get(&m, i << 20 | i);
        if (gone) {
            assert_null(v);
        } else {
            assert_ptr_equal(v, &vals[i]);
            live++;
        }
    }
    assert_int_equal(m.live, live);
    assert_true(m.used * 4 <= m.cap * 3);
    size_t seen = 0;
    for (size_t i = 0; i < m.cap; i++)
        if (nf_idmap_slot(&m, i) != NULL) {
            nf_idmap_clear_slot(&m, i);
            seen++;
        }
    assert_int_equal(seen, live);
    assert_int_equal(m.live, 0);
    assert_null(nf_idmap_get(&m, 1 << 20 | 1));
    nf_idmap_deinit(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nf_idmap_put_get_del),
        cmocka_unit_test(test_nf_idmap_grows_with_tombstones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

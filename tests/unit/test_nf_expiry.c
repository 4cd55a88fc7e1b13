/* Unit tests for the notifier's per-loop deadline heap (src/notifier/
 * expiry.c): order, moving an item, removal from the middle, and a random
 * sequence checked against a plain scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "notifier/expiry.h"

static void test_expiry_order(void **state)
{
    (void)state;
    nf_expiry e = {0};
    nf_expiry_item it[5] = {{0}};
    const int64_t at[5] = {50, 10, 40, 20, 30};
    for (int i = 0; i < 5; i++)
        assert_int_equal(nf_expiry_set(&e, &it[i], at[i]), 0);
    assert_null(nf_expiry_pop_due(&e, 9));
    assert_ptr_equal(nf_expiry_pop_due(&e, 25), &it[1]);
    assert_ptr_equal(nf_expiry_pop_due(&e, 25), &it[3]);
    assert_null(nf_expiry_pop_due(&e, 25));
    assert_int_equal(it[1].slot, 0); /* popped: not queued */
    /* Move one earlier and one later, remove one from the middle. */
    assert_int_equal(nf_expiry_set(&e, &it[0], 5), 0);
    assert_int_equal(nf_expiry_set(&e, &it[4], 100), 0);
    nf_expiry_remove(&e, &it[2]);
    nf_expiry_remove(&e, &it[2]); /* twice is fine */
    assert_ptr_equal(nf_expiry_pop_due(&e, 1000), &it[0]);
    assert_ptr_equal(nf_expiry_pop_due(&e, 1000), &it[4]);
    assert_null(nf_expiry_pop_due(&e, 1000));
    assert_int_equal(e.n, 0);
    nf_expiry_free(&e);
}

#define N 2000

static void test_expiry_random(void **state)
{
    (void)state;
    nf_expiry e = {0};
    static nf_expiry_item it[N];
    static int64_t want[N]; /* -1: not queued */
    srand(7);
    for (int i = 0; i < N; i++)
        want[i] = -1;
    for (int step = 0; step < 20000; step++) {
        const int i = rand() % N;
        if (rand() % 4 == 0) {
            nf_expiry_remove(&e, &it[i]);
            want[i] = -1;
        } else {
            const int64_t at = rand() % 10000;
            assert_int_equal(nf_expiry_set(&e, &it[i], at), 0);
            want[i] = at;
        }
    }
    int64_t last = -1;
    size_t popped = 0;
    nf_expiry_item *p;
    while ((p = nf_expiry_pop_due(&e, INT64_MAX)) != NULL) {
        const size_t i = (size_t)(p - it);
        assert_true(want[i] >= last);
        assert_int_equal(p->at, want[i]);
        last = want[i];
        want[i] = -1;
        popped++;
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(want[i], -1);
    assert_true(popped > 0);
    nf_expiry_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry_order),
        cmocka_unit_test(test_expiry_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

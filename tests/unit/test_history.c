/* Unit tests for src/notifier/history: bounds, eviction marker, range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "notifier/history.h"

static hr_event_id id_of(uint64_t seq)
{
    return (hr_event_id){1000, seq};
}

static void test_history_count_bound(void **state)
{
    (void)state;
    nf_history h;
    nf_history_init(&h);
    hr_msg *m = hr_msg_new_copy("x", 1);
    for (uint64_t i = 1; i <= 10; i++)
        assert_int_equal(nf_history_append(&h, id_of(i), m, i, 3), 0);
    assert_int_equal(nf_history_len(&h), 3);
    assert_int_equal(atomic_load(&m->refs), 4);
    assert_true(nf_history_at(&h, 0)->id.seq == 8);
    assert_true(nf_history_at(&h, 2)->id.seq == 10);
    assert_true(h.evicted.seq == 7);
    assert_false(nf_history_covers(&h, id_of(6)));
    assert_true(nf_history_covers(&h, id_of(7)));
    assert_true(nf_history_covers(&h, id_of(10)));
    nf_history_deinit(&h);
    assert_int_equal(atomic_load(&m->refs), 1);
    hr_msg_unref(m);
}

static void test_history_first_after(void **state)
{
    (void)state;
    nf_history h;
    nf_history_init(&h);
    hr_msg *m = hr_msg_new_copy("x", 1);
    /* Sparse ids, enough to wrap the ring several times. */
    for (uint64_t i = 1; i <= 100; i++)
        assert_int_equal(nf_history_append(&h, id_of(i * 10), m, i, 50), 0);
    assert_int_equal(nf_history_len(&h), 50);
    assert_int_equal(nf_history_first_after(&h, id_of(0)), 0);
    assert_int_equal(nf_history_first_after(&h, id_of(505)), 0);
    assert_int_equal(nf_history_first_after(&h, id_of(510)), 1);
    assert_int_equal(nf_history_first_after(&h, id_of(515)), 1);
    assert_int_equal(nf_history_first_after(&h, id_of(520)), 2);
    assert_int_equal(nf_history_first_after(&h, id_of(995)), 49);
    assert_int_equal(nf_history_first_after(&h, id_of(1000)), 50);
    assert_int_equal(nf_history_first_after(&h, (hr_event_id){2000, 0}), 50);
    for (uint32_t i = 0; i < 50; i++)
        assert_true(nf_history_at(&h, i)->id.seq == 510 + 10 * i);
    nf_history_deinit(&h);
    hr_msg_unref(m);
}

static void test_history_ttl_and_deflated(void **state)
{
    (void)state;
    nf_history h;
    nf_history_init(&h);
    hr_msg *m = hr_msg_new_copy("x", 1);
    for (uint64_t i = 1; i <= 5; i++)
        assert_int_equal(nf_history_append(&h, id_of(i), m, 100 * i, 1000), 0);
    nf_history_at(&h, 0)->deflated = hr_msg_new_copy("z", 1);
    assert_int_equal(nf_history_expire(&h, 250), 2);
    assert_int_equal(nf_history_len(&h), 3);
    assert_true(h.evicted.seq == 2);
    assert_int_equal(nf_history_expire(&h, 250), 0);
    assert_int_equal(nf_history_expire(&h, 10000), 3);
    assert_int_equal(nf_history_len(&h), 0);
    assert_false(nf_history_covers(&h, id_of(4)));
    assert_true(nf_history_covers(&h, id_of(5)));
    /* Old or repeated ids are refused, even after everything was evicted. */
    assert_int_equal(nf_history_append(&h, id_of(5), m, 1, 10), HR_EINVAL);
    assert_int_equal(nf_history_append(&h, id_of(6), m, 1, 10), 0);
    assert_int_equal(nf_history_append(&h, id_of(6), m, 1, 10), HR_EINVAL);
    nf_history_deinit(&h);
    assert_int_equal(atomic_load(&m->refs), 1);
    hr_msg_unref(m);
}

static void test_history_zero_count(void **state)
{
    (void)state;
    nf_history h;
    nf_history_init(&h);
    hr_msg *m = hr_msg_new_copy("x", 1);
    assert_true(nf_history_covers(&h, id_of(0)));
    assert_int_equal(nf_history_append(&h, id_of(3), m, 1, 0), 0);
    assert_int_equal(nf_history_len(&h), 0);
    assert_false(nf_history_covers(&h, id_of(2)));
    assert_true(nf_history_covers(&h, id_of(3)));
    nf_history_deinit(&h);
    hr_msg_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_count_bound),
        cmocka_unit_test(test_history_first_after),
        cmocka_unit_test(test_history_ttl_and_deflated),
        cmocka_unit_test(test_history_zero_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

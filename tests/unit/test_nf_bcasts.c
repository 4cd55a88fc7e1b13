/* Unit tests for a herald-link's pending broadcasts (src/notifier/bcasts):
 * Herald and Pusher sessions alternating in the hub's order make one slot
 * per message (not one per run); a session never overtakes itself (joining
 * an earlier slot than the one it waits in asks for a flush); every slot
 * taken, a full slot, and out of memory; references held and dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/err.h"
#include "notifier/bcasts.h"

static hr_msg *msg(void)
{
    hr_msg *m = hr_msg_new_copy("\x81\x02{}", 4);
    assert_non_null(m);
    m->head_len = 2;
    return m;
}

static int add(nf_bcasts *b, nf_bcast_mark *m, uint32_t id, hr_msg *x)
{
    return nf_bcasts_add(b, m, id, x, 1, x->head_len, x->len - x->head_len);
}

static void test_nf_bcasts_alternating_protocols(void **state)
{
    (void)state;
    nf_bcasts b;
    nf_bcasts_init(&b, 4096);
    hr_msg *herald = msg(), *pusher = msg();
    nf_bcast_mark mk[1000] = {{0}};
    for (uint32_t i = 0; i < 1000; i++) /* H P H P ... */
        assert_int_equal(add(&b, &mk[i], i + 1, i % 2 == 0 ? herald : pusher), 0);
    assert_int_equal(b.used, 2);
    assert_ptr_equal(b.slot[0].msg, herald);
    assert_ptr_equal(b.slot[1].msg, pusher);
    assert_int_equal(b.slot[0].n, 500);
    assert_int_equal(b.slot[1].n, 500);
    assert_int_equal(b.slot[0].ids[1], 3);
    assert_int_equal(b.slot[1].ids[0], 2);
    assert_int_equal(herald->refs, 2); /* ours and the slot's */
    nf_bcasts_reset(&b);
    assert_int_equal(b.used, 0);
    assert_int_equal(herald->refs, 1);
    assert_int_equal(pusher->refs, 1);
    /* The next event: marks of the last one wait nowhere now. */
    assert_int_equal(add(&b, &mk[1], 2, pusher), 0);
    assert_int_equal(add(&b, &mk[0], 1, herald), 0);
    assert_int_equal(b.used, 2);
    nf_bcasts_reset(&b);
    nf_bcasts_deinit(&b);
    hr_msg_unref(herald);
    hr_msg_unref(pusher);
}

static void test_nf_bcasts_keeps_each_sessions_order(void **state)
{
    (void)state;
    nf_bcasts b;
    nf_bcasts_init(&b, 4096);
    hr_msg *e1 = msg(), *e2 = msg();
    nf_bcast_mark s = {0}, t = {0};
    assert_int_equal(add(&b, &t, 2, e2), 0); /* slot 0: e2 (t) */
    assert_int_equal(add(&b, &s, 1, e1), 0); /* slot 1: e1 (s) */
    /* s waits in slot 1: joining slot 0 would send e2 before its e1. */
    assert_int_equal(add(&b, &s, 1, e2), NF_BCASTS_FLUSH);
    assert_int_equal(b.slot[0].n, 1);
    /* A later slot is fine, and so is the same one. */
    hr_msg *e3 = msg();
    assert_int_equal(add(&b, &s, 1, e3), 0);
    assert_int_equal(add(&b, &t, 2, e3), 0);
    assert_int_equal(b.used, 3);
    nf_bcasts_reset(&b);
    assert_int_equal(add(&b, &s, 1, e2), 0); /* after the flush */
    nf_bcasts_reset(&b);
    nf_bcasts_deinit(&b);
    hr_msg_unref(e1);
    hr_msg_unref(e2);
    hr_msg_unref(e3);
}

static void test_nf_bcasts_limits(void **state)
{
    (void)state;
    nf_bcasts b;
    nf_bcasts_init(&b, 3);
    hr_msg *m[NF_BCASTS_SLOTS + 1];
    nf_bcast_mark mk[8] = {{0}};
    for (size_t i = 0; i <= NF_BCASTS_SLOTS; i++)
        m[i] = msg();
    for (uint32_t i = 0; i < NF_BCASTS_SLOTS; i++)
        assert_int_equal(add(&b, &mk[i], i + 1, m[i]), 0);
    /* Every slot taken: a fifth message waits for a flush. */
    assert_int_equal(add(&b, &mk[5], 6, m[NF_BCASTS_SLOTS]), NF_BCASTS_FLUSH);
    assert_int_equal(m[NF_BCASTS_SLOTS]->refs, 1);
    /* A full slot (max 3 ids) too. */
    assert_int_equal(add(&b, &mk[5], 6, m[NF_BCASTS_SLOTS - 1]), 0);
    assert_int_equal(add(&b, &mk[6], 7, m[NF_BCASTS_SLOTS - 1]), 0);
    assert_int_equal(add(&b, &mk[7], 8, m[NF_BCASTS_SLOTS - 1]), NF_BCASTS_FLUSH);
    nf_bcasts_reset(&b);
    /* Out of memory for a new id list: nothing taken, the caller sends alone. */
    nf_bcasts_deinit(&b);
    nf_bcasts_init(&b, 3);
    nf_bcast_mark fresh = {0};
    hr_alloc_fail_nth(1);
    assert_int_equal(add(&b, &fresh, 1, m[0]), HR_ENOMEM);
    hr_alloc_fail_nth(0);
    assert_int_equal(b.used, 0);
    assert_int_equal(m[0]->refs, 1);
    assert_int_equal(fresh.gen, 0); /* waits nowhere */
    assert_int_equal(add(&b, &fresh, 1, m[0]), 0);
    nf_bcasts_reset(&b);
    nf_bcasts_deinit(&b);
    for (size_t i = 0; i <= NF_BCASTS_SLOTS; i++)
        hr_msg_unref(m[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nf_bcasts_alternating_protocols),
        cmocka_unit_test(test_nf_bcasts_keeps_each_sessions_order),
        cmocka_unit_test(test_nf_bcasts_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

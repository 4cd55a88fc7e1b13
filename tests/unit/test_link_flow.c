/* Unit tests for herald-link flow control (lib/proto/link_flow): the window
 * exhausted and refilled, a message larger than the window or than the
 * room left (it goes once no more than the credit lag is in flight), the
 * receiver's credit lag (hr_link_credit_due), PAUSE and
 * RESUME, credit arriving late (after messages were held), order kept while
 * anything is held, the held bound, references instead of copies, and
 * allocation failure. No sockets, no loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/err.h"
#include "proto/link.h"
#include "proto/link_flow.h"

static hr_msg *msg_n(size_t n)
{
    hr_msg *m = hr_msg_new(n);
    assert_non_null(m);
    memset(m->data, 'm', n);
    return m;
}

/* Sends len directly when allowed, else holds it; returns true when sent. */
static bool offer(hr_link_flow *f, hr_msg *m, size_t len)
{
    if (hr_link_flow_can_send(f, len)) {
        hr_link_flow_spend(f, len);
        return true;
    }
    assert_int_equal(hr_link_flow_hold(f, m, 0, len, 1), 0);
    return false;
}

/* Releases whatever may go; returns how many left the held queue. */
static int release(hr_link_flow *f)
{
    int n = 0;
    for (const hr_link_held *e; (e = hr_link_flow_next(f)) != NULL; n++)
        hr_link_flow_pop(f);
    return n;
}

static void test_link_flow_window_exhausted_then_credit(void **state)
{
    (void)state;
    hr_link_flow f;
    hr_link_flow_init(&f, 1 << 20);
    hr_msg *m = msg_n(100000);
    assert_true(offer(&f, m, 100000));
    assert_true(offer(&f, m, 100000));
    assert_int_equal(f.window, HR_LINK_WINDOW - 200000);
    assert_false(offer(&f, m, 100000)); /* 62144 left: held */
    assert_false(offer(&f, m, 10));     /* small, but behind a held one: held too */
    assert_true(hr_link_flow_has_held(&f));
    assert_int_equal(hr_link_flow_queued(&f), 200000 + (10 + 100000) + (10 + 10));
    assert_int_equal(atomic_load(&m->refs), 3); /* held by reference */
    assert_null(hr_link_flow_next(&f));
    hr_link_flow_credit(&f, 37856); /* 100000 now fits */
    assert_int_equal(release(&f), 1);
    assert_int_equal(f.window, 0);
    assert_null(hr_link_flow_next(&f)); /* the 10 bytes wait for more */
    hr_link_flow_credit(&f, 10);
    assert_int_equal(release(&f), 1);
    assert_false(hr_link_flow_has_held(&f));
    assert_int_equal(atomic_load(&m->refs), 1);
    assert_int_equal(hr_link_flow_queued(&f), HR_LINK_WINDOW);
    hr_link_flow_credit(&f, UINT32_MAX); /* capped at the window */
    assert_int_equal(f.window, HR_LINK_WINDOW);
    assert_int_equal(hr_link_flow_queued(&f), 0);
    hr_link_flow_deinit(&f);
    hr_msg_unref(m);
}

static void test_link_flow_larger_than_window(void **state)
{
    (void)state;
    hr_link_flow f;
    hr_link_flow_init(&f, 4 << 20);
    hr_msg *m = msg_n(HR_LINK_WINDOW + 1000);
    assert_true(offer(&f, m, HR_LINK_WINDOW + 1000)); /* nothing in flight: goes */
    assert_int_equal(f.window, 0);
    assert_false(offer(&f, m, HR_LINK_WINDOW + 1000));
    hr_link_flow_credit(&f, HR_LINK_WINDOW - HR_LINK_CREDIT_LAG - 1);
    assert_int_equal(release(&f), 0); /* more than a receiver may keep back is in flight */
    hr_link_flow_credit(&f, 1);
    assert_int_equal(release(&f), 1); /* no more than the lag: it goes */
    hr_link_flow_deinit(&f);
    hr_msg_unref(m);
}

/* A message larger than the room left, behind a little in flight that a
 * version-5 receiver keeps back uncredited: it goes without waiting. */
static void test_link_flow_larger_than_room_behind_kept_credit(void **state)
{
    (void)state;
    hr_link_flow f;
    hr_link_flow_init(&f, 4 << 20);
    hr_msg *small = msg_n(1000), *big = msg_n(HR_LINK_WINDOW - 500);
    assert_true(offer(&f, small, 1000));
    assert_true(offer(&f, big, HR_LINK_WINDOW - 500)); /* 1000 in flight, below the lag */
    assert_int_equal(f.window, 0);
    hr_link_flow_deinit(&f);
    hr_msg_unref(small);
    hr_msg_unref(big);
}

/* The receiving side's rule: credit is kept until it reaches the lag, then
 * leaves whole, and the count starts again. */
static void test_link_credit_due(void **state)
{
    (void)state;
    uint32_t kept = 0;
    assert_int_equal(hr_link_credit_due(&kept, 100), 0);
    assert_int_equal(kept, 100);
    assert_int_equal(hr_link_credit_due(&kept, HR_LINK_CREDIT_LAG - 101), 0);
    assert_int_equal(kept, HR_LINK_CREDIT_LAG - 1);
    assert_int_equal(hr_link_credit_due(&kept, 1), HR_LINK_CREDIT_LAG);
    assert_int_equal(kept, 0);
    assert_int_equal(hr_link_credit_due(&kept, 10), 0);
    assert_int_equal(hr_link_credit_due(&kept, 5000000), 5000010); /* one large message */
    assert_int_equal(kept, 0);
    kept = 7;
    assert_int_equal(hr_link_credit_due(&kept, SIZE_MAX), SIZE_MAX); /* no wrap */
    assert_int_equal(kept, 0);
    assert_int_equal(hr_link_credit_due(&kept, 0), 0);
    assert_int_equal(kept, 0);
}

static void test_link_flow_pause_resume(void **state)
{
    (void)state;
    hr_link_flow f;
    hr_link_flow_init(&f, 1 << 20);
    hr_msg *m = msg_n(10);
    hr_link_flow_pause(&f, true);
    assert_false(hr_link_flow_can_send(&f, 1));
    assert_false(offer(&f, m, 10));
    hr_link_flow_credit(&f, 1000); /* credit does not lift a PAUSE */
    assert_int_equal(release(&f), 0);
    hr_link_flow_pause(&f, false);
    assert_int_equal(release(&f), 1);
    assert_true(offer(&f, m, 10));
    assert_int_equal(f.window, HR_LINK_WINDOW - 20);
    hr_link_flow_deinit(&f);
    hr_msg_unref(m);
}

/* Credit for what was sent arrives only after several messages were held:
 * they leave in order, each as soon as the window lets it. */
static void test_link_flow_late_credit_keeps_order(void **state)
{
    (void)state;
    hr_link_flow f;
    hr_link_flow_init(&f, 1 << 20);
    hr_msg *a = msg_n(HR_LINK_WINDOW), *b = msg_n(1000), *c = msg_n(2000);
    assert_true(offer(&f, a, HR_LINK_WINDOW));
    assert_false(offer(&f, b, 1000));
    assert_false(offer(&f, c, 2000));
    assert_int_equal(hr_link_flow_hold(&f, c, 500, 1500, 2), 0);
    const hr_link_held *e = NULL;
    hr_link_flow_credit(&f, 1500);
    assert_non_null(e = hr_link_flow_next(&f));
    assert_ptr_equal(e->msg, b);
    hr_link_flow_pop(&f);
    assert_null(hr_link_flow_next(&f)); /* 500 left, c needs 2000 */
    hr_link_flow_credit(&f, HR_LINK_WINDOW);
    assert_non_null(e = hr_link_flow_next(&f));
    assert_ptr_equal(e->msg, c);
    assert_int_equal(e->off, 0);
    hr_link_flow_pop(&f);
    assert_non_null(e = hr_link_flow_next(&f));
    assert_ptr_equal(e->msg, c);
    assert_int_equal(e->off, 500);
    assert_int_equal(e->len, 1500);
    assert_int_equal(e->opcode, 2);
    hr_link_flow_pop(&f);
    assert_null(hr_link_flow_next(&f));
    assert_int_equal(atomic_load(&c->refs), 1);
    hr_link_flow_deinit(&f);
    hr_msg_unref(a);
    hr_msg_unref(b);
    hr_msg_unref(c);
}

static void test_link_flow_held_bound(void **state)
{
    (void)state;
    hr_link_flow f;
    hr_link_flow_init(&f, 3 * (HR_LINK_HEADER + 100));
    hr_link_flow_pause(&f, true);
    hr_msg *m = msg_n(100);
    for (int i = 0; i < 3; i++)
        assert_int_equal(hr_link_flow_hold(&f, m, 0, 100, 1), 0);
    assert_int_equal(hr_link_flow_hold(&f, m, 0, 1, 1), HR_ELIMIT);
    assert_int_equal(f.count, 3);
    assert_int_equal(atomic_load(&m->refs), 4);
    hr_link_flow_deinit(&f); /* drops the held references */
    assert_int_equal(atomic_load(&m->refs), 1);
    assert_false(hr_link_flow_has_held(&f));
    hr_link_flow_init(&f, 50);
    assert_int_equal(hr_link_flow_hold(&f, m, 0, 100, 1), HR_ELIMIT); /* alone over it */
    hr_link_flow_deinit(&f);
    hr_msg_unref(m);
}

/* The ring wraps and grows with entries in it; order survives. */
static void test_link_flow_ring_wraps(void **state)
{
    (void)state;
    hr_link_flow f;
    hr_link_flow_init(&f, 1 << 20);
    hr_link_flow_pause(&f, true);
    hr_msg *m = msg_n(64);
    uint32_t next_in = 0, next_out = 0;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 7; i++, next_in++)
            assert_int_equal(hr_link_flow_hold(&f, m, next_in % 64, 0, 1), 0);
        hr_link_flow_pause(&f, false);
        for (int i = 0; i < 5; i++, next_out++) {
            const hr_link_held *e = hr_link_flow_next(&f);
            assert_non_null(e);
            assert_int_equal(e->off, next_out % 64);
            hr_link_flow_pop(&f);
        }
        hr_link_flow_pause(&f, true);
    }
    hr_link_flow_pause(&f, false);
    for (const hr_link_held *e; (e = hr_link_flow_next(&f)) != NULL; next_out++) {
        assert_int_equal(e->off, next_out % 64);
        hr_link_flow_pop(&f);
    }
    assert_int_equal(next_out, next_in);
    assert_null(f.ring); /* no memory while empty */
    hr_link_flow_deinit(&f);
    hr_msg_unref(m);
}

static void test_link_flow_alloc_failure(void **state)
{
    (void)state;
    hr_link_flow f;
    hr_link_flow_init(&f, 1 << 20);
    hr_link_flow_pause(&f, true);
    hr_msg *m = msg_n(8);
    hr_alloc_fail_nth(1);
    assert_int_equal(hr_link_flow_hold(&f, m, 0, 8, 1), HR_ENOMEM);
    hr_alloc_fail_nth(0);
    assert_false(hr_link_flow_has_held(&f));
    assert_int_equal(atomic_load(&m->refs), 1);
    assert_int_equal(hr_link_flow_queued(&f), 0);
    hr_link_flow_deinit(&f);
    hr_msg_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_flow_window_exhausted_then_credit),
        cmocka_unit_test(test_link_flow_larger_than_window),
        cmocka_unit_test(test_link_flow_larger_than_room_behind_kept_credit),
        cmocka_unit_test(test_link_credit_due),
        cmocka_unit_test(test_link_flow_pause_resume),
        cmocka_unit_test(test_link_flow_late_credit_keeps_order),
        cmocka_unit_test(test_link_flow_held_bound),
        cmocka_unit_test(test_link_flow_ring_wraps),
        cmocka_unit_test(test_link_flow_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

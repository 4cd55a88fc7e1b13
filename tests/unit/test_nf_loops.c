/* Unit tests for the cross-loop plumbing of the notifier: the inbox ring
 * (order, wrap-around, growth, bound), the inbox rules (a loss holds back
 * later events until the consumer took it, STOP always fits, closed refuses,
 * take swaps storage), item release (message references, sockets), the
 * round-robin pick of a loop for each link, and one producer thread against
 * one consumer thread (run it under TSan too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "notifier/inbox.h"
#include "notifier/loops.h"

static nf_inbox_item event(uint64_t seq, hr_msg *m)
{
    nf_inbox_item it = {.kind = NF_INBOX_EVENT, .msg = m, .id = {1000, seq}, .now_ms = seq};
    strcpy(it.channel, "orders");
    return it;
}

static void test_nf_loops_ring_order_wrap_and_bound(void **state)
{
    (void)state;
    nf_ring r = {0};
    nf_inbox_item it;
    assert_false(nf_ring_pop(&r, &it));
    uint64_t next_in = 0, next_out = 0;
    /* Interleave pushes and pops so the ring wraps and then grows while wrapped. */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 7; i++) {
            const nf_inbox_item e = event(next_in++, NULL);
            assert_int_equal(nf_ring_push(&r, &e, 1000), 0);
        }
        for (int i = 0; i < 5; i++) {
            assert_true(nf_ring_pop(&r, &it));
            assert_int_equal(it.id.seq, next_out++);
        }
    }
    while (nf_ring_pop(&r, &it))
        assert_int_equal(it.id.seq, next_out++);
    assert_int_equal(next_out, next_in);
    for (uint64_t i = 0; i < 100; i++) {
        const nf_inbox_item e = event(i, NULL);
        assert_int_equal(nf_ring_push(&r, &e, 100), 0);
    }
    const nf_inbox_item e = event(100, NULL);
    assert_int_equal(nf_ring_push(&r, &e, 100), HR_ELIMIT);
    assert_int_equal(r.n, 100);
    nf_ring_deinit(&r);
    assert_null(r.items);
}

/* Pushes event seq holding a new reference to m; drops it when refused. */
static int push_event(nf_inbox *ib, hr_msg *m, uint64_t seq)
{
    nf_inbox_item e = event(seq, hr_msg_ref(m));
    const int rc = nf_inbox_push(ib, &e);
    if (rc != 0)
        nf_inbox_item_release(&e);
    return rc;
}

static void test_nf_loops_inbox_loss_holds_back_events(void **state)
{
    (void)state;
    nf_inbox ib;
    assert_int_equal(nf_inbox_init(&ib, 4, NULL), 0);
    hr_msg *m = hr_msg_new_copy("x", 1); /* our reference */
    assert_non_null(m);
    for (uint64_t i = 1; i <= 4; i++)
        assert_int_equal(push_event(&ib, m, i), 0);
    assert_int_equal(push_event(&ib, m, 5), HR_ELIMIT); /* full: lost */
    const nf_inbox_item floor = {.kind = NF_INBOX_FLOOR, .id = {1, 0}};
    assert_int_equal(nf_inbox_push(&ib, &floor), HR_ELIMIT);
    const nf_inbox_item stop = {.kind = NF_INBOX_STOP};
    assert_int_equal(nf_inbox_push(&ib, &stop), 0); /* STOP always fits */
    nf_ring batch = {0};
    uint64_t lost = 0;
    hr_event_id lost_id = {0, 0};
    nf_inbox_take(&ib, &batch, &lost, &lost_id);
    assert_int_equal(batch.n, 5);
    assert_int_equal(lost, 1);
    assert_int_equal(lost_id.seq, 5);
    nf_ring_deinit(&batch);
    /* The consumer took the loss: events are accepted again... */
    for (uint64_t i = 6; i <= 9; i++)
        assert_int_equal(push_event(&ib, m, i), 0);
    assert_int_equal(push_event(&ib, m, 10), HR_ELIMIT);
    nf_inbox_take(&ib, &batch, &lost, &lost_id); /* 6..9, then the loss of 10 */
    assert_int_equal(batch.n, 4);
    assert_int_equal(lost, 1);
    assert_int_equal(lost_id.seq, 10);
    nf_ring_deinit(&batch);
    assert_int_equal(push_event(&ib, m, 12), 0);
    nf_inbox_take(&ib, &batch, &lost, &lost_id);
    assert_int_equal(lost, 0);
    assert_int_equal(batch.n, 1);
    nf_inbox_close(&ib);
    assert_int_equal(push_event(&ib, m, 13), HR_ECLOSED);
    assert_int_equal(push_event(&ib, m, 14), HR_ECLOSED);
    nf_ring_deinit(&batch);
    nf_inbox_deinit(&ib);
    assert_int_equal(atomic_load(&m->refs), 1);
    hr_msg_unref(m);
}

static void test_nf_loops_release_closes_sockets(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    nf_inbox ib;
    assert_int_equal(nf_inbox_init(&ib, 8, NULL), 0);
    const nf_inbox_item link = {.kind = NF_INBOX_LINK, .fd = fds[0]};
    assert_int_equal(nf_inbox_push(&ib, &link), 0);
    nf_inbox_deinit(&ib); /* still queued: closed with the inbox */
    assert_int_equal(fcntl(fds[0], F_GETFD), -1);
    close(fds[1]);
}

static void test_nf_loops_pick_round_robin(void **state)
{
    (void)state;
    unsigned next = 0;
    unsigned seen[3] = {0};
    for (int i = 0; i < 9; i++) {
        const unsigned k = nf_loops_pick(&next, 3);
        assert_int_equal(k, (unsigned)i % 3);
        seen[k]++;
    }
    assert_int_equal(seen[0], 3);
    assert_int_equal(seen[2], 3);
    next = 0;
    assert_int_equal(nf_loops_pick(&next, 1), 0);
    assert_int_equal(nf_loops_pick(&next, 1), 0);
}

/* One producer, one consumer: every event arrives once, in order. */
typedef struct pc {
    nf_inbox ib;
    hr_msg *m;
    uint64_t n;
} pc;

static void produce(void *arg)
{
    pc *p = arg;
    for (uint64_t i = 1; i <= p->n;) {
        const nf_inbox_item e = event(i, hr_msg_ref(p->m));
        if (nf_inbox_push(&p->ib, &e) == 0) {
            i++;
            continue;
        }
        hr_msg_unref(p->m);
        uv_sleep(1); /* full: a real producer would count a loss */
    }
    const nf_inbox_item stop = {.kind = NF_INBOX_STOP};
    assert_int_equal(nf_inbox_push(&p->ib, &stop), 0);
}

static void test_nf_loops_threads_in_order(void **state)
{
    (void)state;
    pc p = {.m = hr_msg_new_copy("frame", 5), .n = 100000};
    assert_non_null(p.m);
    assert_int_equal(nf_inbox_init(&p.ib, 1024, NULL), 0);
    uv_thread_t t;
    assert_int_equal(uv_thread_create(&t, produce, &p), 0);
    nf_ring batch = {0};
    uint64_t expect = 1, lost_total = 0;
    for (bool done = false; !done;) {
        uint64_t lost;
        hr_event_id lost_id;
        nf_inbox_take(&p.ib, &batch, &lost, &lost_id);
        lost_total += lost;
        nf_inbox_item it;
        while (nf_ring_pop(&batch, &it)) {
            if (it.kind == NF_INBOX_STOP)
                done = true;
            else
                assert_int_equal(it.id.seq, expect++);
            nf_inbox_item_release(&it);
        }
    }
    uv_thread_join(&t);
    assert_int_equal(expect, p.n + 1);
    (void)lost_total; /* the producer's refused tries: it retried them */
    nf_ring_deinit(&batch);
    nf_inbox_deinit(&p.ib);
    assert_int_equal(atomic_load(&p.m->refs), 1);
    hr_msg_unref(p.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nf_loops_ring_order_wrap_and_bound),
        cmocka_unit_test(test_nf_loops_inbox_loss_holds_back_events),
        cmocka_unit_test(test_nf_loops_release_closes_sockets),
        cmocka_unit_test(test_nf_loops_pick_round_robin),
        cmocka_unit_test(test_nf_loops_threads_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

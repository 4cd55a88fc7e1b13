/* Unit tests for lib/broker/handoff.c: a real producer thread hands items to
 * a real libuv loop. No timing is asserted: the tests wait on the loop, a
 * semaphore or a join. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "broker/handoff.h"

#define N_ITEMS 20000
#define MAX_QUEUED 8

typedef struct item {
    hr_handoff_item link; /* first, as handoff.h asks */
    size_t seq;
} item;

typedef struct fixture {
    uv_loop_t loop;
    hr_handoff h;
    uv_thread_t thread;
    uv_sem_t parked; /* producer: about to wait for room */
    size_t to_post;
    bool park;
    size_t received, dropped, closed;
    size_t most_queued; /* producer: the longest queue seen right after a post */
    bool order_ok;
    bool last_wait; /* producer: what its final wait_space returned */
} fixture;

static item *new_item(size_t seq)
{
    item *it = calloc(1, sizeof *it);
    assert_non_null(it);
    it->seq = seq;
    return it;
}

static size_t queued(hr_handoff *h)
{
    uv_mutex_lock(&h->mu);
    const size_t n = h->n;
    uv_mutex_unlock(&h->mu);
    return n;
}

static void on_closed(hr_handoff *h)
{
    fixture *f = h->data;
    f->closed++;
}

static void on_drop(hr_handoff *h, hr_handoff_item *link)
{
    fixture *f = h->data;
    item *it = (item *)link;
    if (it->seq != f->received + f->dropped)
        f->order_ok = false;
    f->dropped++;
    free(it);
}

static void on_item(hr_handoff *h, hr_handoff_item *link)
{
    fixture *f = h->data;
    item *it = (item *)link;
    if (it->seq != f->received)
        f->order_ok = false;
    f->received++;
    free(it);
}

/* Posts to_post items, waiting for room before each; then, if asked to
 * park, announces it and waits once more (the stop test releases it). */
static void producer(void *arg)
{
    fixture *f = arg;
    for (size_t i = 0; i < f->to_post; i++) {
        if (!hr_handoff_wait_space(&f->h))
            return;
        hr_handoff_post(&f->h, &new_item(i)->link);
        const size_t n = queued(&f->h);
        if (n > f->most_queued)
            f->most_queued = n;
    }
    if (!f->park)
        return;
    uv_sem_post(&f->parked);
    f->last_wait = hr_handoff_wait_space(&f->h);
}

static void setup(fixture *f, size_t to_post, bool park)
{
    *f = (fixture){.to_post = to_post, .park = park, .order_ok = true, .last_wait = true};
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_sem_init(&f->parked, 0), 0);
    assert_int_equal(hr_handoff_init(&f->h, &f->loop, MAX_QUEUED, on_item, f), 0);
    assert_ptr_equal(f->h.data, f);
}

static void teardown(fixture *f)
{
    assert_int_equal(uv_loop_close(&f->loop), 0);
    uv_sem_destroy(&f->parked);
}

/* Many more items than the bound cross in order; the queue never holds
 * more than the bound; closing after the last one leaves nothing behind. */
static void test_broker_handoff_order_and_bound(void **state)
{
    (void)state;
    fixture f;
    setup(&f, N_ITEMS, false);
    assert_int_equal(uv_thread_create(&f.thread, producer, &f), 0);
    while (f.received < N_ITEMS) /* each turn waits for the async wake-up */
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_int_equal(uv_thread_join(&f.thread), 0);
    hr_handoff_close(&f.h, on_drop, on_closed);
    assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
    assert_true(f.order_ok);
    assert_int_equal(f.received, N_ITEMS);
    assert_int_equal(f.dropped, 0);
    assert_int_equal(f.closed, 1);
    assert_true(f.most_queued <= MAX_QUEUED);
    teardown(&f);
}

/* With the loop not running the producer fills the queue and waits;
 * hr_handoff_stop releases it, and later waits return at once. Closing
 * hands the queued items to on_drop, in order. */
static void test_broker_handoff_stop_releases_waiter(void **state)
{
    (void)state;
    fixture f;
    setup(&f, MAX_QUEUED, true);
    assert_int_equal(uv_thread_create(&f.thread, producer, &f), 0);
    uv_sem_wait(&f.parked);
    hr_handoff_stop(&f.h);
    assert_int_equal(uv_thread_join(&f.thread), 0);
    assert_false(f.last_wait);
    assert_false(hr_handoff_wait_space(&f.h));
    assert_int_equal(queued(&f.h), MAX_QUEUED);
    hr_handoff_close(&f.h, on_drop, on_closed);
    assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
    assert_true(f.order_ok);
    assert_int_equal(f.received, 0);
    assert_int_equal(f.dropped, MAX_QUEUED);
    assert_int_equal(f.closed, 1);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broker_handoff_order_and_bound),
        cmocka_unit_test(test_broker_handoff_stop_releases_waiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

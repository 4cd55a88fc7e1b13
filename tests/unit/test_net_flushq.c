/* The flush queue (lib/net/flushq.h), sans-I/O: FIFO order, answers at the
 * front, a node queued again after its pop goes to the back, removal from
 * anywhere keeps head, tail and length right, and a bounded pass leaves
 * the rest in order for the next one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/flushq.h"

typedef struct item {
    int id;
    hr_flushq_node node;
} item;

static int id_of(hr_flushq_node *n)
{
    return n == NULL ? -1 : ((item *)((char *)n - offsetof(item, node)))->id;
}

static void expect_order(hr_flushq *q, const int *ids, size_t n)
{
    assert_int_equal(q->len, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(id_of(hr_flushq_pop(q)), ids[i]);
    assert_null(hr_flushq_pop(q));
    assert_true(hr_flushq_empty(q));
    assert_null(q->tail);
    assert_int_equal(q->len, 0);
}

static void test_flushq_fifo_with_answers_first(void **state)
{
    item it[6] = {0};
    hr_flushq q;
    hr_flushq_init(&q);
    assert_null(hr_flushq_pop(&q));
    for (int i = 0; i < 6; i++)
        it[i].id = i;
    hr_flushq_push_back(&q, &it[0].node);
    hr_flushq_push_back(&q, &it[1].node);
    hr_flushq_push_front(&q, &it[4].node); /* an HTTP answer */
    hr_flushq_push_back(&q, &it[2].node);
    hr_flushq_push_front(&q, &it[5].node);
    expect_order(&q, (const int[]){5, 4, 0, 1, 2}, 5);
    /* The front of an empty queue is also its back. */
    hr_flushq_push_front(&q, &it[3].node);
    hr_flushq_push_back(&q, &it[1].node);
    expect_order(&q, (const int[]){3, 1}, 2);
}

static void test_flushq_remove_anywhere(void **state)
{
    item it[4] = {0};
    hr_flushq q;
    hr_flushq_init(&q);
    for (int i = 0; i < 4; i++) {
        it[i].id = i;
        hr_flushq_push_back(&q, &it[i].node);
    }
    assert_true(hr_flushq_remove(&q, &it[3].node)); /* the tail */
    assert_ptr_equal(q.tail, &it[2].node);
    assert_false(hr_flushq_remove(&q, &it[3].node)); /* not queued any more */
    assert_true(hr_flushq_remove(&q, &it[0].node));  /* the head */
    assert_true(hr_flushq_remove(&q, &it[1].node));  /* the middle */
    assert_int_equal(q.len, 1);
    hr_flushq_push_back(&q, &it[3].node); /* appends behind the right tail */
    expect_order(&q, (const int[]){2, 3}, 2);
    hr_flushq_push_back(&q, &it[1].node);
    assert_true(hr_flushq_remove(&q, &it[1].node)); /* the only one */
    assert_null(q.head);
    assert_null(q.tail);
    hr_flushq_push_back(&q, &it[0].node);
    expect_order(&q, (const int[]){0}, 1);
    /* Behind an answer put in front: its link back is the answer. */
    hr_flushq_push_back(&q, &it[0].node);
    hr_flushq_push_front(&q, &it[1].node);
    assert_true(hr_flushq_remove(&q, &it[0].node));
    assert_ptr_equal(q.tail, &it[1].node);
    assert_false(hr_flushq_remove(&q, &it[0].node));
    /* A popped node is not queued. */
    assert_ptr_equal(hr_flushq_pop(&q), &it[1].node);
    assert_false(hr_flushq_remove(&q, &it[1].node));
    assert_true(hr_flushq_empty(&q));
}

/* A pass of at most 3 over 5 connections; between passes 1 and 0 are queued
 * again (written already: to the back) and 4 gets more bytes (still queued:
 * unchanged). Every connection is written before any is written twice. */
static void test_flushq_bounded_pass_is_round_robin(void **state)
{
    item it[5] = {0};
    hr_flushq q;
    hr_flushq_init(&q);
    for (int i = 0; i < 5; i++) {
        it[i].id = i;
        hr_flushq_push_back(&q, &it[i].node);
    }
    for (int k = 0; k < 3; k++)
        assert_int_equal(id_of(hr_flushq_pop(&q)), k);
    hr_flushq_push_back(&q, &it[1].node);
    hr_flushq_push_back(&q, &it[0].node);
    expect_order(&q, (const int[]){3, 4, 1, 0}, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flushq_fifo_with_answers_first),
        cmocka_unit_test(test_flushq_remove_anywhere),
        cmocka_unit_test(test_flushq_bounded_pass_is_round_robin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

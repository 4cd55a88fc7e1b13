/* Unit tests for src/notifier/occupancy: counts up and down, channels
 * leaving at zero, many channels (the table grows), iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "notifier/occupancy.h"

static void count_each(void *arg, const char *name, size_t count)
{
    (void)name;
    size_t *sum = arg;
    *sum += count;
}

static void test_occupancy_counts(void **state)
{
    (void)state;
    nf_occupancy_add("orders", 1);
    nf_occupancy_add("orders", 1);
    nf_occupancy_add("user:7", 1);
    assert_int_equal(nf_occupancy_get("orders"), 2);
    assert_int_equal(nf_occupancy_get("user:7"), 1);
    assert_int_equal(nf_occupancy_get("none"), 0);
    nf_occupancy_add("orders", -1);
    nf_occupancy_add("orders", -1);
    nf_occupancy_add("orders", -1); /* below zero: ignored */
    assert_int_equal(nf_occupancy_get("orders"), 0);
    nf_occupancy_add("user:7", -1);
    size_t sum = 0;
    nf_occupancy_each(count_each, &sum);
    assert_int_equal(sum, 0);
}

static void test_occupancy_many(void **state)
{
    (void)state;
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "ch%d", i);
        nf_occupancy_add(name, 1);
        if (i % 2 == 0)
            nf_occupancy_add(name, 1);
    }
    assert_int_equal(nf_occupancy_get("ch4998"), 2);
    assert_int_equal(nf_occupancy_get("ch4999"), 1);
    size_t sum = 0;
    nf_occupancy_each(count_each, &sum);
    assert_int_equal(sum, 7500);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "ch%d", i);
        nf_occupancy_add(name, -2);
    }
    sum = 0;
    nf_occupancy_each(count_each, &sum);
    assert_int_equal(sum, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_occupancy_counts),
        cmocka_unit_test(test_occupancy_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

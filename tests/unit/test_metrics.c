/* Unit tests for lib/core/metrics: exposition text, summing, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "core/metrics.h"

typedef struct loop_stats {
    uint64_t conns;
    uint64_t sent;
} loop_stats;

static const hr_metric_desc table[] = {
    HR_METRIC_FIELD(loop_stats, conns, HR_METRIC_GAUGE, "herald_test_connections",
                    "Open connections."),
    HR_METRIC_FIELD(loop_stats, sent, HR_METRIC_COUNTER, "herald_test_sent_total",
                    "Messages sent."),
};

static void test_metrics_table_sums_loops(void **state)
{
    (void)state;
    loop_stats a = {3, 10}, b = {4, UINT64_C(1) << 40};
    const void *blocks[] = {&a, &b};
    hr_buf out;
    hr_buf_init(&out, 1 << 16);
    assert_int_equal(hr_metrics_write_table(&out, table, 2, blocks, 2), 0);
    assert_int_equal(hr_buf_append(&out, "", 1), 0);
    assert_string_equal((const char *)hr_buf_data(&out),
                        "# HELP herald_test_connections Open connections.\n"
                        "# TYPE herald_test_connections gauge\n"
                        "herald_test_connections 7\n"
                        "# HELP herald_test_sent_total Messages sent.\n"
                        "# TYPE herald_test_sent_total counter\n"
                        "herald_test_sent_total 1099511627786\n");
    hr_buf_deinit(&out);
}

static void test_metrics_labels(void **state)
{
    (void)state;
    hr_buf out;
    hr_buf_init(&out, 1 << 16);
    assert_int_equal(hr_metrics_write_sample(&out, "x_total", "upstream=\"a\"", 5), 0);
    assert_int_equal(hr_metrics_write_sample(&out, "y", "", 0), 0);
    assert_int_equal(hr_buf_append(&out, "", 1), 0);
    assert_string_equal((const char *)hr_buf_data(&out), "x_total{upstream=\"a\"} 5\ny 0\n");
    hr_buf_deinit(&out);
}

static void test_metrics_bounded(void **state)
{
    (void)state;
    loop_stats a = {1, 2};
    const void *blocks[] = {&a};
    hr_buf out;
    hr_buf_init(&out, 40);
    assert_int_equal(hr_metrics_write_table(&out, table, 2, blocks, 1), HR_ETOOBIG);
    hr_buf_deinit(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_table_sums_loops),
        cmocka_unit_test(test_metrics_labels),
        cmocka_unit_test(test_metrics_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

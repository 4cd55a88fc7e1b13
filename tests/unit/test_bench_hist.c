/* Unit tests for herald-bench's histogram (bench/hist.c) and its /proc
 * "name=pid" list parser (bench/procstat.c). herald-bench's modules are not
 * in the libraries unit tests link, so the two sources are compiled in here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../bench/hist.c"
#include "../../bench/procstat.c"
#include "core/err.h"

static void test_hist_exact_below_256(void **state)
{
    (void)state;
    bench_hist *h = calloc(1, sizeof *h);
    assert_non_null(h);
    for (uint64_t v = 1; v <= 100; v++)
        bench_hist_add(h, v);
    assert_int_equal(h->count, 100);
    assert_int_equal(bench_hist_quantile(h, 0.5), 51);
    assert_int_equal(bench_hist_quantile(h, 0.99), 100);
    assert_int_equal(bench_hist_quantile(h, 1.0), 100);
    assert_int_equal(bench_hist_quantile(h, 0.0), 1);
    free(h);
}

static void test_hist_relative_error_bounded(void **state)
{
    (void)state;
    bench_hist *h = calloc(1, sizeof *h);
    assert_non_null(h);
    const uint64_t vals[] = {256, 1000, 12345, 999999, UINT64_C(1) << 39};
    for (size_t i = 0; i < HR_ARRAY_LEN(vals); i++) {
        memset(h, 0, sizeof *h);
        bench_hist_add(h, vals[i]);
        bench_hist_add(h, vals[i] * 2); /* max differs, so q=0 reads a bucket */
        const uint64_t got = bench_hist_quantile(h, 0.0);
        assert_true(got <= vals[i]);
        assert_true((double)(vals[i] - got) <= (double)vals[i] / 128.0 + 1);
    }
    free(h);
}

static void test_hist_clamps_huge_and_merges(void **state)
{
    (void)state;
    bench_hist *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    bench_hist_add(a, UINT64_MAX);
    bench_hist_add(b, 5);
    bench_hist_merge(a, b);
    assert_int_equal(a->count, 2);
    assert_int_equal(a->max_us, UINT64_MAX);
    assert_int_equal(bench_hist_quantile(a, 0.0), 5);
    bench_hist empty = {0};
    assert_int_equal(bench_hist_quantile(&empty, 0.5), 0);
    free(a);
    free(b);
}

static void test_procstat_parse(void **state)
{
    (void)state;
    bench_sample s;
    assert_int_equal(bench_procstat_parse("gateway=12,notifier=345", &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.procs[0].name, "gateway");
    assert_int_equal(s.procs[1].pid, 345);
    assert_int_equal(bench_procstat_parse("", &s), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(bench_procstat_parse("x", &s), -1);
    assert_int_equal(bench_procstat_parse("x=0", &s), -1);
    assert_int_equal(bench_procstat_parse("x=1y", &s), -1);
    assert_int_equal(bench_procstat_parse("=1", &s), -1);
    /* BENCH_MAX_PIDS (32: a gateway supervisor, its workers, notifiers)
     * entries are taken, one more is refused. */
    char list[512] = "";
    size_t len = 0;
    for (int i = 1; i <= BENCH_MAX_PIDS; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%sw%d=%d", i > 1 ? "," : "", i, i);
    assert_int_equal(bench_procstat_parse(list, &s), 0);
    assert_int_equal(s.n, BENCH_MAX_PIDS);
    assert_int_equal(s.procs[BENCH_MAX_PIDS - 1].pid, BENCH_MAX_PIDS);
    snprintf(list + len, sizeof list - len, ",extra=99");
    assert_int_equal(bench_procstat_parse(list, &s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_exact_below_256),
        cmocka_unit_test(test_hist_relative_error_bounded),
        cmocka_unit_test(test_hist_clamps_huge_and_merges),
        cmocka_unit_test(test_procstat_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

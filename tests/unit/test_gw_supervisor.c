/* Unit tests for the worker supervisor's pure parts and the shared metrics
 * slots: restart backoff, summing across workers (including across a real
 * fork, which is the point of MAP_SHARED), gauge reset of a dead worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/shmetrics.h"
#include "gateway/supervisor.h"

static void test_gw_supervisor_backoff_doubles_to_cap(void **state)
{
    uint32_t b = gw_supervisor_backoff(0, 10);
    assert_int_equal(b, GW_BACKOFF_MIN_MS);
    uint32_t prev = b;
    for (int i = 0; i < 20; i++) {
        b = gw_supervisor_backoff(b, 10);
        assert_true(b >= prev);
        assert_true(b <= GW_BACKOFF_MAX_MS);
        prev = b;
    }
    assert_int_equal(b, GW_BACKOFF_MAX_MS);
}

static void test_gw_supervisor_backoff_resets_when_stable(void **state)
{
    assert_int_equal(gw_supervisor_backoff(GW_BACKOFF_MAX_MS, GW_BACKOFF_STABLE_MS), 0);
    assert_int_equal(gw_supervisor_backoff(400, GW_BACKOFF_STABLE_MS - 1), 800);
    assert_int_equal(gw_supervisor_backoff(0, GW_BACKOFF_STABLE_MS * 10), 0);
}

static void test_gw_supervisor_metrics_sum(void **state)
{
    gw_metrics *slots = gw_shmetrics_new(3);
    assert_non_null(slots);
    for (unsigned i = 0; i < 3; i++) {
        slots[i].ws_active = i + 1;
        slots[i].ws_total = 10 * (i + 1);
        slots[i].status[101] = 2;
        slots[i].closes[GW_CLOSE_CODES] = 1;
        slots[i].lat_buckets[GW_LAT_BUCKETS] = 5;
        slots[i].lat_sum_ms = 0.5;
        slots[i].reload_failures = 7 + i;
        slots[i].ws_claimed = 1;
        slots[i].server_up[0] = 0;
    }
    gw_metrics sum;
    gw_shmetrics_sum(slots, 3, &sum);
    assert_int_equal(sum.ws_active, 6);
    assert_int_equal(sum.ws_total, 60);
    assert_int_equal(sum.status[101], 6);
    assert_int_equal(sum.closes[GW_CLOSE_CODES], 3);
    assert_int_equal(sum.lat_buckets[GW_LAT_BUCKETS], 15);
    assert_true(sum.lat_sum_ms > 1.49 && sum.lat_sum_ms < 1.51);
    assert_int_equal(sum.reload_failures, 9); /* one SIGHUP reaches every worker: the most */
    assert_int_equal(sum.ws_claimed, 3);
    gw_shmetrics_reset_gauges(&slots[1]);
    gw_shmetrics_sum(slots, 3, &sum);
    assert_int_equal(sum.ws_active, 4);
    assert_int_equal(sum.ws_claimed, 2);
    assert_int_equal(slots[1].server_up[0], 1); /* a dead worker's health view is dropped */
    assert_int_equal(sum.ws_total, 60);
    gw_shmetrics_free(slots, 3);
}

static void test_gw_supervisor_metrics_shared_across_fork(void **state)
{
    gw_metrics *slots = gw_shmetrics_new(2);
    assert_non_null(slots);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        slots[1].frames_up = 42;
        _exit(0);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    slots[0].frames_up = 1;
    gw_metrics sum;
    gw_shmetrics_sum(slots, 2, &sum);
    assert_int_equal(sum.frames_up, 43);
    gw_shmetrics_free(slots, 2);
}

static void test_gw_supervisor_metrics_bad_sizes(void **state)
{
    assert_null(gw_shmetrics_new(0));
    assert_null(gw_shmetrics_new(SIZE_MAX));
    gw_shmetrics_free(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_supervisor_backoff_doubles_to_cap),
        cmocka_unit_test(test_gw_supervisor_backoff_resets_when_stable),
        cmocka_unit_test(test_gw_supervisor_metrics_sum),
        cmocka_unit_test(test_gw_supervisor_metrics_shared_across_fork),
        cmocka_unit_test(test_gw_supervisor_metrics_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

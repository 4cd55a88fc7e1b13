/* Unit tests for the notifier's loop and API glue without sockets: set-up
 * from the default config, memory-broker publish into the hub, the metrics
 * page, and the stop sequence (server shutdown, broker freed, loop empty). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "notifier/api.h"
#include "notifier/app.h"
#include "notifier/config.h"

static void done(void *arg, int status, const hr_event_id *ids, size_t n)
{
    *(int *)arg = status == 0 ? (int)n : -1;
}

static void test_app_metrics_and_stop(void **state)
{
    (void)state;
    nf_config cfg;
    char err[300];
    assert_int_equal(nf_config_load(&cfg, 1, (char *[]){"n", NULL}, NULL, err, sizeof err), 0);
    uv_loop_t uv;
    assert_int_equal(uv_loop_init(&uv), 0);
    nf_loop l;
    assert_int_equal(nf_loop_init(&l, &uv, &cfg, err, sizeof err), 0);
    assert_int_equal(hr_broker_start(l.broker), 0);
    assert_true(hr_broker_is_ready(l.broker));

    char *chs[] = {"orders"};
    hr_pub_item item = {.channels = chs, .n_channels = 1, .data = "{\"a\":1}", .data_len = 7};
    int n = 0;
    assert_int_equal(hr_broker_publish(l.broker, &item, 1, done, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(nf_hub_stats_view(l.hub)->history_events, 1);

    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    assert_int_equal(nf_api_write_metrics(&l, &out), 0);
    assert_int_equal(hr_buf_append(&out, "", 1), 0);
    const char *text = (const char *)hr_buf_data(&out);
    static const char *const want[] = {
        "# TYPE herald_notifier_connections gauge\nherald_notifier_connections 0\n",
        "herald_notifier_events_published_total 1\n",
        "herald_notifier_history_events 1\n",
        "herald_notifier_channels 1\n",
        "# TYPE herald_notifier_bytes_out_total counter\n",
        "# TYPE herald_notifier_slow_reader_closes_total counter\n",
        "herald_notifier_broker_up 1\n",
    };
    for (size_t i = 0; i < HR_ARRAY_LEN(want); i++) {
        if (strstr(text, want[i]) == NULL)
            fail_msg("missing '%s' in:\n%s", want[i], text);
    }
    hr_buf_deinit(&out);

    nf_loop_stop(&l);
    nf_loop_stop(&l); /* idempotent */
    assert_int_equal(uv_run(&uv, UV_RUN_DEFAULT), 0);
    assert_null(l.broker);
    nf_loop_deinit(&l);
    assert_int_equal(uv_loop_close(&uv), 0);
    nf_config_deinit(&cfg);
}

static void test_app_bad_broker(void **state)
{
    (void)state;
    nf_config cfg;
    char err[300];
    assert_int_equal(
        nf_config_load(&cfg, 3, (char *[]){"n", "--broker", "kafka://x", NULL}, NULL, err, 300), 0);
    uv_loop_t uv;
    assert_int_equal(uv_loop_init(&uv), 0);
    nf_loop l;
    assert_int_equal(nf_loop_init(&l, &uv, &cfg, err, sizeof err), HR_EINVAL);
    assert_non_null(strstr(err, "herald-notifier: --broker: unsupported broker 'kafka://x'"));
    nf_loop_stop(&l);
    uv_run(&uv, UV_RUN_DEFAULT);
    nf_loop_deinit(&l);
    assert_int_equal(uv_loop_close(&uv), 0);
    nf_config_deinit(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_app_metrics_and_stop),
        cmocka_unit_test(test_app_bad_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

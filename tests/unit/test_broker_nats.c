/* Unit tests for the NATS adapter's pure parts: URL to config, messages to
 * events (subject or Herald-Channels header, malformed data), the subject
 * an item is published to, and where a consumer starts (warm history). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "broker/nats.h"
#include "core/err.h"

static void test_broker_nats_config(void **state)
{
    (void)state;
    hr_nats_config c;
    char err[200];
    assert_int_equal(hr_nats_config_parse("nats://127.0.0.1", &c, err, sizeof err), 0);
    assert_string_equal(c.url, "nats://127.0.0.1:4222");
    assert_string_equal(c.stream, "HERALD");
    assert_string_equal(c.prefix, "herald.events");
    assert_false(c.has_user);
    assert_false(c.has_token);
    assert_int_equal(c.max_age_s, 86400);
    assert_int_equal(c.warm, 10000);
    assert_int_equal(hr_nats_config_parse("nats://u:p%3Aw@[::1]:5000?stream=S&prefix=a.b&"
                                          "max_age=0&max_msgs=5&max_bytes=100&warm=0",
                                          &c, err, sizeof err),
                     0);
    assert_string_equal(c.url, "nats://[::1]:5000");
    assert_true(c.has_user);
    assert_string_equal(c.user, "u");
    assert_string_equal(c.password, "p:w");
    assert_string_equal(c.stream, "S");
    assert_string_equal(c.prefix, "a.b");
    assert_int_equal(c.max_msgs, 5);
    assert_int_equal(c.warm, 0);
    assert_null(strstr(c.url, "p:w")); /* credentials never go into the URL */
    assert_int_equal(hr_nats_config_parse("nats://tok@h", &c, err, sizeof err), 0);
    assert_true(c.has_token);
    assert_string_equal(c.token, "tok");
    const char *bad[] = {
        "nats://h/x",           "nats://h?stream=a.b", "nats://h?stream=", "nats://h?prefix=a.",
        "nats://h?prefix=a..b", "nats://h?prefix=a.*", "nats://h?nope=1",  "redis://h",
        "nats://h?warm=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hr_nats_config_parse(bad[i], &c, err, sizeof err), HR_EINVAL);
}

static void test_broker_nats_map(void **state)
{
    (void)state;
    hr_entry *e = malloc(sizeof *e);
    assert_non_null(e);
    assert_int_equal(hr_nats_map_msg("herald.events", "herald.events.orders.eu", NULL,
                                     "{ \"a\" : 1 }", 11, 42, e),
                     0);
    assert_int_equal(e->ev.id.ms, 0);
    assert_int_equal(e->ev.id.seq, 42);
    assert_int_equal(e->ev.n_channels, 1);
    assert_string_equal(e->ev.channels[0], "orders.eu");
    assert_string_equal(e->ev.data, "{\"a\":1}");
    hr_entry_deinit(e);
    assert_int_equal(hr_nats_map_msg("herald.events", "herald.events._", "a,user:1", "[]", 2, 7, e),
                     0);
    assert_int_equal(e->ev.n_channels, 2);
    assert_string_equal(e->ev.channels[1], "user:1");
    hr_entry_deinit(e);
    /* malformed: wrong prefix, bad name, bad or empty data */
    assert_int_equal(hr_nats_map_msg("herald.events", "other.x", NULL, "1", 1, 1, e), HR_EINVAL);
    hr_entry_deinit(e);
    assert_int_equal(hr_nats_map_msg("herald.events", "herald.eventsx", NULL, "1", 1, 1, e),
                     HR_EINVAL);
    hr_entry_deinit(e);
    assert_int_equal(hr_nats_map_msg("herald.events", "herald.events.a!b", NULL, "1", 1, 1, e),
                     HR_EINVAL);
    hr_entry_deinit(e);
    assert_int_equal(hr_nats_map_msg("herald.events", "herald.events.a", NULL, "", 0, 1, e),
                     HR_EINVAL);
    hr_entry_deinit(e);
    assert_int_equal(hr_nats_map_msg("herald.events", "herald.events.a", "a,,b", "1", 1, 1, e),
                     HR_EINVAL);
    hr_entry_deinit(e);
    free(e);
}

static void test_broker_nats_subject_for(void **state)
{
    (void)state;
    char out[64];
    bool hdr = true;
    const char *one[] = {"orders"};
    assert_int_equal(hr_nats_subject_for("herald.events", one, 1, out, sizeof out, &hdr), 0);
    assert_string_equal(out, "herald.events.orders");
    assert_false(hdr);
    const char *two[] = {"a", "b"};
    assert_int_equal(hr_nats_subject_for("herald.events", two, 2, out, sizeof out, &hdr), 0);
    assert_string_equal(out, "herald.events.a");
    assert_true(hdr);
    const char *odd[] = {".x"};
    assert_int_equal(hr_nats_subject_for("herald.events", odd, 1, out, sizeof out, &hdr), 0);
    assert_string_equal(out, "herald.events._");
    assert_true(hdr);
    const char *dots[] = {"a..b"};
    assert_int_equal(hr_nats_subject_for("p", dots, 1, out, sizeof out, &hdr), 0);
    assert_string_equal(out, "p._");
    assert_int_equal(hr_nats_subject_for("herald.events", one, 1, out, 10, &hdr), HR_ETOOBIG);
}

static void test_broker_nats_start_seq(void **state)
{
    (void)state;
    uint64_t origin = 99;
    assert_int_equal(hr_nats_start_seq(0, 0, 100, &origin), 1); /* new stream */
    assert_int_equal(origin, 0);
    assert_int_equal(hr_nats_start_seq(1, 50, 100, &origin), 1); /* all of it */
    assert_int_equal(origin, 0);
    assert_int_equal(hr_nats_start_seq(1, 500, 100, &origin), 401); /* the newest 100 */
    assert_int_equal(origin, 400);
    assert_int_equal(hr_nats_start_seq(480, 500, 100, &origin), 480); /* older ones dropped */
    assert_int_equal(origin, 479);
    assert_int_equal(hr_nats_start_seq(11, 10, 100, &origin), 11); /* purged, empty */
    assert_int_equal(origin, 10);
    assert_int_equal(hr_nats_start_seq(1, 500, 0, &origin), 501); /* no warm-up */
    assert_int_equal(origin, 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broker_nats_config),
        cmocka_unit_test(test_broker_nats_map),
        cmocka_unit_test(test_broker_nats_subject_for),
        cmocka_unit_test(test_broker_nats_start_seq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

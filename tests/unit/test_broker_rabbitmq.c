/* Unit tests for the RabbitMQ adapter's pure parts: URL to config (defaults,
 * percent-decoding, vhost, TLS, errors), message headers to what the
 * adapter reads (offset, channel, marker), messages to events (ids are
 * offset + 1, malformed ones refused), and where warm history starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "broker/rabbitmq.h"
#include "core/err.h"

static void test_broker_rabbitmq_config(void **state)
{
    (void)state;
    hr_rabbitmq_config c;
    char err[200];
    assert_int_equal(hr_rabbitmq_config_parse("amqp://127.0.0.1", &c, err, sizeof err), 0);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 5672);
    assert_string_equal(c.vhost, "/");
    assert_string_equal(c.user, "guest");
    assert_string_equal(c.password, "guest");
    assert_string_equal(c.stream, "herald.events");
    assert_int_equal(c.max_age_s, 86400);
    assert_int_equal(c.max_bytes, 0);
    assert_int_equal(c.warm, 10000);
    assert_false(c.tls);
    assert_int_equal(hr_rabbitmq_config_parse("amqp://app:p%40ss%3Aw@[::1]:5000/%2F?stream=my%20s&"
                                              "max_age=0&max_bytes=1000&warm=5",
                                              &c, err, sizeof err),
                     0);
    assert_string_equal(c.host, "::1");
    assert_int_equal(c.port, 5000);
    assert_string_equal(c.user, "app");
    assert_string_equal(c.password, "p@ss:w");
    assert_string_equal(c.vhost, "/");
    assert_string_equal(c.stream, "my s");
    assert_int_equal(c.max_age_s, 0);
    assert_int_equal(c.max_bytes, 1000);
    assert_int_equal(c.warm, 5);
    assert_int_equal(hr_rabbitmq_config_parse("amqp://h/prod", &c, err, sizeof err), 0);
    assert_string_equal(c.vhost, "prod");
    assert_int_equal(hr_rabbitmq_config_parse("amqps://h", &c, err, sizeof err), 0);
    assert_true(c.tls);
    assert_int_equal(c.port, 5671);
    assert_string_equal(c.tls_ca, "");
    assert_int_equal(hr_rabbitmq_config_parse("amqps://h?tls_ca=/dev/null", &c, err, sizeof err),
                     0);
    assert_string_equal(c.tls_ca, "/dev/null");
    const char *bad[] = {"amqp://",
                         "amqp://h?nope=1",
                         "amqp://h?stream=",
                         "amqp://h?stream=amq.x",
                         "amqp://h?stream=a%0Ab",
                         "amqp://h?warm=x",
                         "amqp://h:0",
                         "amqp://h?tls_ca=/dev/null",
                         "amqps://h?tls_ca=/nonexistent.pem",
                         "redis://h",
                         "amqp://h?max_age=-1",
                         "amqp://u:p%zz@h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(hr_rabbitmq_config_parse(bad[i], &c, err, sizeof err), HR_EINVAL);
        assert_non_null(strstr(err, "--broker"));
    }
    /* The password never appears in an error. */
    assert_int_equal(hr_rabbitmq_config_parse("amqp://u:s3cret@h?nope=1", &c, err, sizeof err),
                     HR_EINVAL);
    assert_null(strstr(err, "s3cret"));
}

static amqp_table_entry_t text(const char *key, const char *value)
{
    amqp_table_entry_t e = {.key = amqp_cstring_bytes(key)};
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes(value);
    return e;
}

static amqp_table_entry_t i64(const char *key, int64_t v)
{
    amqp_table_entry_t e = {.key = amqp_cstring_bytes(key)};
    e.value.kind = AMQP_FIELD_KIND_I64;
    e.value.value.i64 = v;
    return e;
}

static void test_broker_rabbitmq_headers(void **state)
{
    (void)state;
    hr_rabbitmq_meta m;
    hr_rabbitmq_read_headers(NULL, &m);
    assert_false(m.has_offset);
    assert_null(m.channel);
    assert_false(m.marker);
    amqp_table_entry_t e[] = {text("channel", "orders"), i64("x-stream-offset", 41),
                              text("other", "x")};
    amqp_table_t t = {3, e};
    hr_rabbitmq_read_headers(&t, &m);
    assert_true(m.has_offset);
    assert_int_equal(m.offset, 41);
    assert_int_equal(m.channel_len, 6);
    assert_memory_equal(m.channel, "orders", 6);
    assert_false(m.marker);
    /* A negative offset, a channel that is not text, a marker. */
    amqp_table_entry_t f[] = {i64("x-stream-offset", -1), i64("channel", 5),
                              text("x-herald-marker", "hr1")};
    t = (amqp_table_t){3, f};
    hr_rabbitmq_read_headers(&t, &m);
    assert_false(m.has_offset);
    assert_null(m.channel);
    assert_true(m.marker);
    /* The optional event name. */
    amqp_table_entry_t ev[] = {text("event", "order-paid"), i64("x-stream-offset", 2),
                               text("channel", "a")};
    t = (amqp_table_t){3, ev};
    hr_rabbitmq_read_headers(&t, &m);
    assert_int_equal(m.event_len, 10);
    assert_memory_equal(m.event, "order-paid", 10);
    amqp_table_entry_t evn[] = {i64("event", 1)};
    t = (amqp_table_t){1, evn};
    hr_rabbitmq_read_headers(&t, &m);
    assert_non_null(m.event); /* present but not text: kept so it is refused */
    assert_int_equal(m.event_len, 0);
    /* An empty channel text is present (and then refused as a name). */
    amqp_table_entry_t g[] = {{.key = amqp_cstring_bytes("channel")}};
    g[0].value.kind = AMQP_FIELD_KIND_BYTES;
    g[0].value.value.bytes = (amqp_bytes_t){0, NULL};
    t = (amqp_table_t){1, g};
    hr_rabbitmq_read_headers(&t, &m);
    assert_non_null(m.channel);
    assert_int_equal(m.channel_len, 0);
}

static void test_broker_rabbitmq_map(void **state)
{
    (void)state;
    hr_entry *e = malloc(sizeof *e);
    assert_non_null(e);
    hr_rabbitmq_meta m = {.has_offset = true, .offset = 0, .channel = "a,b,a", .channel_len = 5};
    assert_int_equal(hr_rabbitmq_map_msg(&m, "{ \"x\" : [1, 2] }", 16, e), 0);
    assert_int_equal(e->ev.id.ms, 0);
    assert_int_equal(e->ev.id.seq, 1); /* offset 0 is id 1 */
    assert_int_equal(e->ev.n_channels, 2);
    assert_string_equal(e->ev.channels[0], "a");
    assert_string_equal(e->ev.channels[1], "b");
    assert_string_equal(e->ev.data, "{\"x\":[1,2]}");
    hr_entry_deinit(e);
    m.offset = 99;
    assert_int_equal(hr_rabbitmq_map_msg(&m, "7", 1, e), 0);
    assert_int_equal(e->ev.id.seq, 100);
    hr_entry_deinit(e);
    /* An event name rides along; an invalid one makes the message malformed. */
    hr_rabbitmq_meta named = m;
    named.event = "order-paid";
    named.event_len = 10;
    assert_int_equal(hr_rabbitmq_map_msg(&named, "1", 1, e), 0);
    assert_string_equal(e->ev.event, "order-paid");
    assert_int_equal(e->ev.event_len, 10);
    hr_entry_deinit(e);
    named.event = "";
    named.event_len = 0;
    assert_int_equal(hr_rabbitmq_map_msg(&named, "1", 1, e), HR_EINVAL);
    /* Malformed: no channel, a bad name, an empty body, bad JSON. */
    hr_rabbitmq_meta none = {.has_offset = true, .offset = 3};
    assert_int_equal(hr_rabbitmq_map_msg(&none, "1", 1, e), HR_EINVAL);
    hr_rabbitmq_meta bad = {
        .has_offset = true, .offset = 3, .channel = "bad name", .channel_len = 8};
    assert_int_equal(hr_rabbitmq_map_msg(&bad, "1", 1, e), HR_EINVAL);
    assert_int_equal(hr_rabbitmq_map_msg(&m, "", 0, e), HR_EINVAL);
    assert_int_equal(hr_rabbitmq_map_msg(&m, NULL, 0, e), HR_EINVAL);
    assert_int_equal(hr_rabbitmq_map_msg(&m, "{nope", 5, e), HR_EINVAL);
    /* No offset: cannot be placed. */
    hr_rabbitmq_meta nooff = {.channel = "a", .channel_len = 1};
    assert_int_equal(hr_rabbitmq_map_msg(&nooff, "1", 1, e), HR_EPROTO);
    hr_entry_deinit(e);
    free(e);
}

static void test_broker_rabbitmq_warm(void **state)
{
    (void)state;
    assert_int_equal(hr_rabbitmq_warm_start(0, 10), 0);
    assert_int_equal(hr_rabbitmq_warm_start(10, 10), 0);
    assert_int_equal(hr_rabbitmq_warm_start(25, 10), 15);
    assert_int_equal(hr_rabbitmq_warm_start(25, 0), 25);
    assert_int_equal(hr_rabbitmq_id(UINT64_MAX - 1).seq, UINT64_MAX);
    char age[16];
    assert_int_equal(hr_rabbitmq_max_age_arg(86400, age, sizeof age), 0);
    assert_string_equal(age, "86400s");
    assert_int_equal(hr_rabbitmq_max_age_arg(86400, age, 4), HR_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broker_rabbitmq_config),
        cmocka_unit_test(test_broker_rabbitmq_headers),
        cmocka_unit_test(test_broker_rabbitmq_map),
        cmocka_unit_test(test_broker_rabbitmq_warm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

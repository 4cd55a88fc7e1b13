/* Unit tests for lib/proto/pusher_api: endpoint matching, event bodies as
 * the `pusher` server package sends them (single, many channels, batch,
 * socket_id), every refusal, Pusher data into Herald data and back through
 * hr_pusher_write_event, and the channel query replies byte-exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "proto/pusher_api.h"

static char errbuf[160];

static int parse(const char *text, bool batch, hr_pub_batch *b, char ***excl)
{
    const size_t n = strlen(text);
    uint8_t *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    memcpy(p, text, n);
    const int rc = hr_pusher_api_parse_events(p, n, batch, b, excl, errbuf, sizeof errbuf);
    free(p);
    return rc;
}

static void test_pusher_api_match(void **state)
{
    (void)state;
    hr_pusher_api_route r;
    char ch[HR_PUSHER_CHANNEL_MAX + 1];
    assert_int_equal(hr_pusher_api_match("/apps/42/events", 15, "42", &r, ch), 0);
    assert_int_equal(r, HR_PUSHER_API_EVENTS);
    assert_int_equal(hr_pusher_api_match("/apps/42/batch_events", 21, "42", &r, ch), 0);
    assert_int_equal(r, HR_PUSHER_API_BATCH);
    assert_int_equal(hr_pusher_api_match("/apps/42/channels", 17, "42", &r, ch), 0);
    assert_int_equal(r, HR_PUSHER_API_CHANNELS);
    assert_int_equal(hr_pusher_api_match("/apps/42/channels/presence-a", 28, "42", &r, ch), 0);
    assert_int_equal(r, HR_PUSHER_API_CHANNEL);
    assert_string_equal(ch, "presence-a");
    assert_int_equal(hr_pusher_api_match("/apps/42/channels/presence-a/users", 34, "42", &r, ch),
                     0);
    assert_int_equal(r, HR_PUSHER_API_CHANNEL_USERS);
    assert_string_equal(ch, "presence-a");
    const char *no[] = {
        "/apps/4/events", "/apps/421/events",   "/apps/42/event",        "/apps/42",
        "/apps/42/",      "/apps/42/channels/", "/apps/42/channels/a:b", "/app/42/events"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_int_equal(hr_pusher_api_match(no[i], strlen(no[i]), "42", &r, ch), HR_EINVAL);
    assert_true(hr_pusher_api_is_api_path("/apps/x", 7));
    assert_false(hr_pusher_api_is_api_path("/app/x", 6));
}

/* The body the pusher package sends for trigger(["a","private-user-7"], "created", {id: 7}). */
static void test_pusher_api_events(void **state)
{
    (void)state;
    hr_pub_batch b;
    char **ex;
    assert_int_equal(parse("{\"name\":\"created\",\"data\":\"{\\\"id\\\": 7}\",\"channels\":[\"a\","
                           "\"private-user-7\",\"a\"],\"socket_id\":\"12.34\"}",
                           false, &b, &ex),
                     0);
    assert_false(b.is_batch);
    assert_int_equal(b.n_items, 1);
    assert_int_equal(b.items[0].n_channels, 2);
    assert_string_equal(b.items[0].channels[0], "a");
    assert_string_equal(b.items[0].channels[1], "user:7");
    assert_string_equal(b.items[0].data, "{\"id\":7}");
    assert_string_equal(b.items[0].event, "created");
    assert_int_equal(b.items[0].event_len, 7);
    assert_string_equal(ex[0], "12.34");
    hr_pusher_api_exclude_free(ex, HR_PUSHER_API_MAX_BATCH);
    hr_publish_batch_deinit(&b);

    assert_int_equal(parse("{\"batch\":[{\"channel\":\"x\",\"name\":\"e1\",\"data\":\"hello\"},"
                           "{\"channel\":\"presence-r\",\"name\":\"e2\",\"data\":\"[1]\"}]}",
                           true, &b, &ex),
                     0);
    assert_true(b.is_batch);
    assert_int_equal(b.n_items, 2);
    assert_string_equal(b.items[0].data, "\"hello\""); /* not JSON: kept as a string */
    assert_string_equal(b.items[1].data, "[1]");
    assert_string_equal(b.items[1].channels[0], "presence-r");
    assert_null(ex[0]);
    hr_pusher_api_exclude_free(ex, HR_PUSHER_API_MAX_BATCH);
    hr_publish_batch_deinit(&b);
}

static void expect_refused(const char *text, bool batch, const char *msg)
{
    hr_pub_batch b;
    char **ex = (char **)1;
    assert_int_equal(parse(text, batch, &b, &ex), HR_EINVAL);
    assert_null(ex);
    assert_null(b.items);
    assert_string_equal(errbuf, msg);
}

static void test_pusher_api_refusals(void **state)
{
    (void)state;
    expect_refused("", false, "invalid JSON");
    expect_refused("[]", false, "the body must be a JSON object");
    expect_refused("{}", true, "the body must be {\"batch\":[1 to 10 events]}");
    expect_refused("{\"batch\":[]}", true, "the body must be {\"batch\":[1 to 10 events]}");
    expect_refused("{\"batch\":[1,1,1,1,1,1,1,1,1,1,1]}", true,
                   "the body must be {\"batch\":[1 to 10 events]}");
    expect_refused("{\"batch\":[1]}", true, "an event must be a JSON object");
    expect_refused("{\"data\":\"x\",\"channel\":\"a\"}", false,
                   "\"name\" must be an event name of 1 to 200 bytes");
    expect_refused("{\"name\":\"e\",\"data\":{},\"channel\":\"a\"}", false,
                   "\"data\" must be a string");
    expect_refused("{\"name\":\"e\",\"data\":\"x\"}", false,
                   "give either \"channel\" or \"channels\"");
    expect_refused("{\"name\":\"e\",\"data\":\"x\",\"channel\":\"a\",\"channels\":[\"b\"]}", false,
                   "give either \"channel\" or \"channels\"");
    expect_refused("{\"name\":\"e\",\"data\":\"x\",\"channels\":[]}", false,
                   "\"channels\" must list 1 to 100 channels");
    expect_refused("{\"name\":\"e\",\"data\":\"x\",\"channels\":[\"a\",\"b=c\"]}", false,
                   "channel 1 is not a channel name Herald can carry");
    expect_refused("{\"name\":\"e\",\"data\":\"x\",\"channel\":\"a\",\"socket_id\":\"1\"}", false,
                   "\"socket_id\" must match ^\\d+\\.\\d+$");
    /* jansson refuses \u0000 in strings: no NUL reaches the data */
    expect_refused("{\"name\":\"e\",\"data\":\"a\\u0000b\",\"channel\":\"a\"}", false,
                   "invalid JSON");
    /* one bad event refuses the whole batch */
    expect_refused("{\"batch\":[{\"channel\":\"x\",\"name\":\"e1\",\"data\":\"1\"},"
                   "{\"channel\":\"x\",\"data\":\"1\"}]}",
                   true, "\"name\" must be an event name of 1 to 200 bytes");
}

static void test_pusher_api_alloc_failures(void **state)
{
    (void)state;
    const char *text =
        "{\"batch\":[{\"channel\":\"x\",\"name\":\"e1\",\"data\":\"1\",\"socket_id\":"
        "\"1.2\"},{\"channels\":[\"y\",\"z\"],\"name\":\"e2\",\"data\":\"q\"}]}";
    for (unsigned long nth = 1;; nth++) {
        assert_true(nth < 400);
        hr_pub_batch b;
        char **ex;
        hr_alloc_fail_nth(nth);
        const int rc = parse(text, true, &b, &ex);
        const bool failed = hr_alloc_failed();
        hr_alloc_fail_nth(0);
        if (!failed) {
            assert_int_equal(rc, 0);
            hr_pusher_api_exclude_free(ex, HR_PUSHER_API_MAX_BATCH);
            hr_publish_batch_deinit(&b);
            break;
        }
        assert_true(rc == HR_ENOMEM || rc == HR_EINVAL);
        assert_null(ex);
        assert_null(b.items);
    }
}

/* What a Pusher library published reaches Pusher clients as it was sent. */
static void test_pusher_api_data_roundtrip(void **state)
{
    (void)state;
    const char *in[] = {"{\"id\":7}", "hello", "\"quoted\"", "123", "caf\xc3\xa9 \"x\"", ""};
    const char *herald[] = {
        "{\"id\":7}", "\"hello\"", "\"quoted\"", "123", "\"caf\xc3\xa9 \\\"x\\\"\"", "\"\""};
    const char *wire[] = {"\"{\\\"id\\\":7}\"",        "\"hello\"", "\"quoted\"", "\"123\"",
                          "\"caf\xc3\xa9 \\\"x\\\"\"", "\"\""};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char *d;
        size_t dl;
        assert_int_equal(hr_pusher_api_data(in[i], strlen(in[i]), &d, &dl), 0);
        assert_string_equal(d, herald[i]);
        char buf[256];
        const int n = hr_pusher_write_event(buf, sizeof buf, "e", 1, "c", 1, d, dl, NULL);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        buf[n] = '\0';
        char want[256];
        snprintf(want, sizeof want, "{\"event\":\"e\",\"channel\":\"c\",\"data\":%s}", wire[i]);
        assert_string_equal(buf, want);
        free(d);
    }
    char *d;
    size_t dl;
    assert_int_equal(hr_pusher_api_data("\xff", 1, &d, &dl), HR_EINVAL);
}

static void expect_out(int rc, char **out, const size_t *len, const char *want)
{
    assert_int_equal(rc, 0);
    assert_string_equal(*out, want);
    assert_int_equal(*len, strlen(want));
    free(*out);
}

static void test_pusher_api_replies(void **state)
{
    (void)state;
    char *o;
    size_t n;
    const hr_pusher_channel_info chs[] = {{"orders", 3, 0}, {"presence-r", 2, 1}};
    expect_out(hr_pusher_api_write_channels(chs, 2, true, &o, &n), &o, &n,
               "{\"channels\":{\"orders\":{},\"presence-r\":{\"user_count\":1}}}");
    expect_out(hr_pusher_api_write_channels(chs, 2, false, &o, &n), &o, &n,
               "{\"channels\":{\"orders\":{},\"presence-r\":{}}}");
    expect_out(hr_pusher_api_write_channels(NULL, 0, false, &o, &n), &o, &n, "{\"channels\":{}}");
    expect_out(hr_pusher_api_write_channel(&chs[1], true, true, &o, &n), &o, &n,
               "{\"occupied\":true,\"subscription_count\":2,\"user_count\":1}");
    const hr_pusher_channel_info empty = {"x", 0, 0};
    expect_out(hr_pusher_api_write_channel(&empty, false, false, &o, &n), &o, &n,
               "{\"occupied\":false}");
    const hr_pusher_channel_info elsewhere = {"presence-r", 0, 2};
    expect_out(hr_pusher_api_write_channel(&elsewhere, false, false, &o, &n), &o, &n,
               "{\"occupied\":true}");
    const char *ids[] = {"1", "ann"};
    expect_out(hr_pusher_api_write_users(ids, 2, &o, &n), &o, &n,
               "{\"users\":[{\"id\":\"1\"},{\"id\":\"ann\"}]}");
    const hr_pusher_channel_info bad = {"a:b", 1, 0};
    assert_int_equal(hr_pusher_api_write_channels(&bad, 1, false, &o, &n), HR_EINVAL);
    assert_int_equal(hr_pusher_api_write_channel(&bad, false, false, &o, &n), HR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pusher_api_match),
        cmocka_unit_test(test_pusher_api_events),
        cmocka_unit_test(test_pusher_api_refusals),
        cmocka_unit_test(test_pusher_api_alloc_failures),
        cmocka_unit_test(test_pusher_api_data_roundtrip),
        cmocka_unit_test(test_pusher_api_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

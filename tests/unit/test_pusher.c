/* Unit tests for lib/proto/pusher: client messages as pusher-js sends them,
 * every refusal, server messages byte-exact (data as a JSON string), the
 * event encoder's snprintf contract, and the channel name mapping both ways. */
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
#include "proto/pusher.h"

static hr_pusher_error perr;

/* Parses text from an exactly sized heap copy so ASan sees over-reads. */
static int parse(const char *text, hr_pusher_msg *m)
{
    const size_t n = strlen(text);
    uint8_t *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    memcpy(p, text, n);
    const int rc = hr_pusher_parse(p, n, m, &perr);
    free(p);
    return rc;
}

static void expect_refused(const char *text, const char *msg)
{
    hr_pusher_msg m;
    assert_int_equal(parse(text, &m), HR_EINVAL);
    assert_null(m.event);
    assert_null(m.channel);
    assert_int_equal(perr.code, 0);
    assert_string_equal(perr.message, msg);
}

static void test_pusher_parse_subscribe(void **state)
{
    (void)state;
    hr_pusher_msg m;
    assert_int_equal(
        parse("{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"orders\"}}", &m), 0);
    assert_int_equal(m.type, HR_PUSHER_MSG_SUBSCRIBE);
    assert_string_equal(m.channel, "orders");
    assert_null(m.auth);
    assert_null(m.channel_data);
    hr_pusher_msg_deinit(&m);
    hr_pusher_msg_deinit(&m);

    assert_int_equal(parse("{\"event\":\"pusher:subscribe\",\"data\":{\"auth\":\"k:abc\","
                           "\"channel_data\":\"{\\\"user_id\\\":\\\"7\\\"}\","
                           "\"channel\":\"presence-room\"}}",
                           &m),
                     0);
    assert_string_equal(m.channel, "presence-room");
    assert_string_equal(m.auth, "k:abc");
    assert_string_equal(m.channel_data, "{\"user_id\":\"7\"}");
    hr_pusher_msg_deinit(&m);

    /* data as a string holding the object is accepted too */
    assert_int_equal(
        parse("{\"event\":\"pusher:unsubscribe\",\"data\":\"{\\\"channel\\\":\\\"a-b\\\"}\"}", &m),
        0);
    assert_int_equal(m.type, HR_PUSHER_MSG_UNSUBSCRIBE);
    assert_string_equal(m.channel, "a-b");
    hr_pusher_msg_deinit(&m);
}

static void test_pusher_parse_ping_other_client(void **state)
{
    (void)state;
    hr_pusher_msg m;
    assert_int_equal(parse("{\"event\":\"pusher:ping\",\"data\":{}}", &m), 0);
    assert_int_equal(m.type, HR_PUSHER_MSG_PING);
    hr_pusher_msg_deinit(&m);
    assert_int_equal(parse("{\"event\":\"pusher:pong\"}", &m), 0);
    assert_int_equal(m.type, HR_PUSHER_MSG_PONG);
    hr_pusher_msg_deinit(&m);
    assert_int_equal(parse("{\"event\":\"pusher:signin\",\"data\":{\"auth\":\"x\"}}", &m), 0);
    assert_int_equal(m.type, HR_PUSHER_MSG_OTHER);
    assert_string_equal(m.event, "pusher:signin");
    hr_pusher_msg_deinit(&m);

    assert_int_equal(parse("{\"event\":\"client-typing\",\"channel\":\"private-chat\","
                           "\"data\":{ \"who\" : \"ann\" }}",
                           &m),
                     0);
    assert_int_equal(m.type, HR_PUSHER_MSG_CLIENT_EVENT);
    assert_string_equal(m.event, "client-typing");
    assert_string_equal(m.channel, "private-chat");
    assert_string_equal(m.data, "{\"who\":\"ann\"}");
    assert_int_equal(m.data_len, strlen(m.data));
    hr_pusher_msg_deinit(&m);
    assert_int_equal(parse("{\"event\":\"client-x\",\"channel\":\"private-c\"}", &m), 0);
    assert_string_equal(m.data, "null");
    hr_pusher_msg_deinit(&m);
}

static void test_pusher_parse_refusals(void **state)
{
    (void)state;
    expect_refused("", "invalid JSON");
    hr_pusher_msg m;
    assert_int_equal(
        hr_pusher_parse((const uint8_t *)"{\"event\":\"pusher:ping\"}\0", 24, &m, &perr),
        HR_EINVAL);
    assert_string_equal(perr.message, "invalid JSON");
    expect_refused("[1]", "a message must be a JSON object");
    expect_refused("{\"data\":{}}", "event must be a string");
    expect_refused("{\"event\":7}", "event must be a string");
    expect_refused("{\"event\":\"\"}", "invalid event name");
    expect_refused("{\"event\":\"a\\nb\"}", "invalid event name");
    expect_refused("{\"event\":\"my-event\",\"channel\":\"c\"}",
                   "event must be pusher:* or client-*");
    expect_refused("{\"event\":\"pusher:subscribe\"}", "data must be an object");
    expect_refused("{\"event\":\"pusher:subscribe\",\"data\":\"[1]\"}", "data must be an object");
    expect_refused("{\"event\":\"pusher:subscribe\",\"data\":{}}", "channel must be a string");
    expect_refused("{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"a:b\"}}",
                   "invalid channel name");
    expect_refused("{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"c\",\"auth\":1}}",
                   "auth must be a string");
    expect_refused(
        "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"c\",\"channel_data\":{}}}",
        "channel_data must be a string");
    expect_refused("{\"event\":\"client-a\",\"data\":1}", "channel must be a string");
    expect_refused("{\"event\":\"pusher:ping\",\"event\":\"pusher:ping\"}", "invalid JSON");
    char big[300];
    memset(big, 'e', sizeof big);
    memcpy(big, "{\"event\":\"client-", 17);
    memcpy(big + sizeof big - 3, "\"}", 3);
    expect_refused(big, "invalid event name");
}

/* Every prefix of a valid message is refused cleanly (byte by byte). */
static void test_pusher_parse_prefixes(void **state)
{
    (void)state;
    const char *full = "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"presence-x\","
                       "\"auth\":\"k:s\",\"channel_data\":\"{}\"}}";
    for (size_t n = 0; n < strlen(full); n++) {
        uint8_t *p = malloc(n > 0 ? n : 1);
        assert_non_null(p);
        memcpy(p, full, n);
        hr_pusher_msg m;
        assert_int_equal(hr_pusher_parse(p, n, &m, NULL), HR_EINVAL);
        free(p);
    }
}

static void test_pusher_parse_alloc_failures(void **state)
{
    (void)state;
    const char *text = "{\"event\":\"client-a\",\"channel\":\"private-c\",\"data\":[1]}";
    for (unsigned long nth = 1; nth < 64; nth++) {
        hr_pusher_msg m;
        hr_alloc_fail_nth(nth);
        const int rc = hr_pusher_parse((const uint8_t *)text, strlen(text), &m, &perr);
        const bool failed = hr_alloc_failed();
        hr_alloc_fail_nth(0);
        if (!failed) {
            assert_int_equal(rc, 0);
            hr_pusher_msg_deinit(&m);
            return;
        }
        assert_true(rc == HR_ENOMEM || rc == HR_EINVAL);
        assert_null(m.event);
    }
    fail_msg("allocation count did not converge");
}

static void test_pusher_channel_data(void **state)
{
    (void)state;
    char *id, *info;
    const char *cd = "{\"user_id\":\"u 1\",\"user_info\":{ \"name\":\"Ann\" }}";
    assert_int_equal(hr_pusher_parse_channel_data(cd, strlen(cd), &id, &info), 0);
    assert_string_equal(id, "u 1");
    assert_string_equal(info, "{\"name\":\"Ann\"}");
    free(id);
    free(info);
    assert_int_equal(hr_pusher_parse_channel_data("{\"user_id\":10}", 14, &id, &info), 0);
    assert_string_equal(id, "10");
    assert_null(info);
    free(id);
    const char *bad[] = {"",
                         "{}",
                         "[]",
                         "{\"user_id\":\"\"}",
                         "{\"user_id\":1.5}",
                         "{\"user_id\":\"a\\u0001\"}",
                         "{\"user_id\":true}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(hr_pusher_parse_channel_data(bad[i], strlen(bad[i]), &id, &info),
                         HR_EINVAL);
        assert_null(id);
        assert_null(info);
    }
}

static void expect_map(const char *pusher, const char *herald)
{
    char h[HR_CHANNEL_MAX + 1], p[HR_PUSHER_CHANNEL_MAX + 1];
    assert_int_equal(hr_pusher_channel_to_herald(pusher, strlen(pusher), h), strlen(herald));
    assert_string_equal(h, herald);
    assert_int_equal(hr_pusher_channel_from_herald(herald, strlen(herald), p), strlen(pusher));
    assert_string_equal(p, pusher);
}

static void test_pusher_channel_mapping(void **state)
{
    (void)state;
    expect_map("orders", "orders");
    expect_map("private-orders", "private-orders");
    expect_map("presence-room.1", "presence-room.1");
    expect_map("private-user-42", "user:42");
    expect_map("private-user-a;b", "user:a:b");
    expect_map("private-team;42;orders", "team:42:orders");
    expect_map("private-private-a;b", "private-a:b");
    char h[HR_CHANNEL_MAX + 1];
    const char *no[] = {"",    "a b",          "a:b", "a=b",
                        "a,b", "presence-a;b", "x;y", "private-encrypted-x"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_int_equal(hr_pusher_channel_to_herald(no[i], strlen(no[i]), h), HR_EINVAL);
    assert_string_equal(h, "");
    /* private-user-<id> is user:<id>, so Herald's own private-user-x is shadowed */
    assert_int_equal(hr_pusher_channel_to_herald("private-user-x", 14, h), 6);
    assert_string_equal(h, "user:x");
    /* Lengths: every Herald name has a Pusher spelling; long Pusher names may not */
    char name[HR_CHANNEL_MAX + 1], p[HR_PUSHER_CHANNEL_MAX + 1];
    memset(name, 'a', HR_CHANNEL_MAX);
    name[1] = ':';
    assert_int_equal(hr_pusher_channel_from_herald(name, HR_CHANNEL_MAX, p), HR_CHANNEL_MAX + 8);
    assert_int_equal(hr_pusher_channel_to_herald(p, strlen(p), h), HR_CHANNEL_MAX);
    assert_memory_equal(h, name, HR_CHANNEL_MAX);
    char longp[HR_PUSHER_CHANNEL_MAX + 2];
    memset(longp, 'a', sizeof longp);
    assert_int_equal(hr_pusher_channel_to_herald(longp, HR_CHANNEL_MAX + 1, h), HR_EINVAL);
    assert_false(hr_pusher_channel_is_valid(longp, HR_PUSHER_CHANNEL_MAX + 1));
    assert_true(hr_pusher_channel_is_valid(longp, HR_PUSHER_CHANNEL_MAX));
    assert_true(hr_pusher_channel_is_valid("-_=@,.;aZ9", 10));
    assert_false(hr_pusher_channel_is_valid("a\0b", 3)); /* a NUL is no name character */
    assert_int_equal(hr_pusher_channel_from_herald("a b", 3, p), HR_EINVAL);
    assert_int_equal(hr_pusher_channel_kind("presence-x", 10), HR_PUSHER_PRESENCE);
    assert_int_equal(hr_pusher_channel_kind("private-x", 9), HR_PUSHER_PRIVATE);
    assert_int_equal(hr_pusher_channel_kind("privatex", 8), HR_PUSHER_PUBLIC);
}

/* Takes pointers: the arguments are read after the writer ran. */
static void expect_out(int rc, char **out, const size_t *len, const char *want)
{
    assert_int_equal(rc, 0);
    assert_string_equal(*out, want);
    assert_int_equal(*len, strlen(want));
    free(*out);
}

static void test_pusher_write_control(void **state)
{
    (void)state;
    char *o;
    size_t n;
    expect_out(hr_pusher_write_established("123.456", 120, &o, &n), &o, &n,
               "{\"event\":\"pusher:connection_established\",\"data\":"
               "\"{\\\"socket_id\\\":\\\"123.456\\\",\\\"activity_timeout\\\":120}\"}");
    assert_int_equal(hr_pusher_write_established("12", 1, &o, &n), HR_EINVAL);
    assert_null(o);
    expect_out(hr_pusher_write_pong(&o, &n), &o, &n, "{\"event\":\"pusher:pong\",\"data\":\"{}\"}");
    expect_out(hr_pusher_write_ping(&o, &n), &o, &n, "{\"event\":\"pusher:ping\",\"data\":\"{}\"}");
    expect_out(hr_pusher_write_subscribed("private-a", NULL, 0, &o, &n), &o, &n,
               "{\"event\":\"pusher_internal:subscription_succeeded\",\"channel\":\"private-a\","
               "\"data\":\"{}\"}");
    const hr_pusher_member ms[] = {{"1", "{\"name\":\"A\"}"}, {"2", NULL}};
    expect_out(hr_pusher_write_subscribed("presence-r", ms, 2, &o, &n), &o, &n,
               "{\"event\":\"pusher_internal:subscription_succeeded\",\"channel\":\"presence-r\","
               "\"data\":\"{\\\"presence\\\":{\\\"count\\\":2,\\\"ids\\\":[\\\"1\\\",\\\"2\\\"],"
               "\\\"hash\\\":{\\\"1\\\":{\\\"name\\\":\\\"A\\\"},\\\"2\\\":null}}}\"}");
    expect_out(
        hr_pusher_write_member("presence-r", true, &ms[0], &o, &n), &o, &n,
        "{\"event\":\"pusher_internal:member_added\",\"channel\":\"presence-r\","
        "\"data\":\"{\\\"user_id\\\":\\\"1\\\",\\\"user_info\\\":{\\\"name\\\":\\\"A\\\"}}\"}");
    expect_out(hr_pusher_write_member("presence-r", false, &ms[0], &o, &n), &o, &n,
               "{\"event\":\"pusher_internal:member_removed\",\"channel\":\"presence-r\","
               "\"data\":\"{\\\"user_id\\\":\\\"1\\\"}\"}");
    expect_out(hr_pusher_write_error(4009, "no \"auth\"", &o, &n), &o, &n,
               "{\"event\":\"pusher:error\",\"data\":"
               "\"{\\\"code\\\":4009,\\\"message\\\":\\\"no \\\\\\\"auth\\\\\\\"\\\"}\"}");
    expect_out(hr_pusher_write_error(0, "bad", &o, &n), &o, &n,
               "{\"event\":\"pusher:error\",\"data\":\"{\\\"code\\\":null,\\\"message\\\":"
               "\\\"bad\\\"}\"}");
    expect_out(hr_pusher_write_subscription_error("private-a", 401, "Invalid signature", &o, &n),
               &o, &n,
               "{\"event\":\"pusher:subscription_error\",\"channel\":\"private-a\",\"data\":"
               "\"{\\\"type\\\":\\\"AuthError\\\",\\\"error\\\":\\\"Invalid signature\\\","
               "\\\"status\\\":401}\"}");
    const hr_pusher_member bad[] = {{"", NULL}, {"1", "{"}, {NULL, NULL}};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(hr_pusher_write_subscribed("presence-r", &bad[i], 1, &o, &n), HR_EINVAL);
    assert_int_equal(hr_pusher_write_subscribed("a:b", NULL, 0, &o, &n), HR_EINVAL);
    assert_int_equal(hr_pusher_write_subscribed("a", ms, 0, &o, &n), HR_EINVAL);
    assert_int_equal(hr_pusher_write_error(1, "\xff", &o, &n), HR_EINVAL);
}

static void test_pusher_write_control_alloc_failures(void **state)
{
    (void)state;
    const hr_pusher_member ms[] = {{"1", "{\"n\":1}"}, {"2", NULL}};
    for (unsigned long nth = 1;; nth++) {
        assert_true(nth < 200);
        char *o;
        size_t n;
        hr_alloc_fail_nth(nth);
        const int rc = hr_pusher_write_subscribed("presence-r", ms, 2, &o, &n);
        const bool failed = hr_alloc_failed();
        hr_alloc_fail_nth(0);
        if (!failed) {
            assert_int_equal(rc, 0);
            free(o);
            break;
        }
        assert_int_equal(rc, HR_ENOMEM);
        assert_null(o);
    }
}

static void expect_event(const char *event, const char *data, const char *user, const char *want)
{
    const int need = hr_pusher_write_event(NULL, 0, event, strlen(event), "private-c", 9, data,
                                           strlen(data), user);
    assert_int_equal(need, strlen(want));
    char *buf = malloc((size_t)need);
    assert_non_null(buf);
    assert_int_equal(hr_pusher_write_event(buf, (size_t)need - 1, event, strlen(event), "private-c",
                                           9, data, strlen(data), user),
                     need);
    assert_int_equal(hr_pusher_write_event(buf, (size_t)need, event, strlen(event), "private-c", 9,
                                           data, strlen(data), user),
                     need);
    assert_memory_equal(buf, want, (size_t)need);
    free(buf);
}

static void test_pusher_write_event(void **state)
{
    (void)state;
    expect_event("created", "{\"id\":7,\"s\":\"a\\\"b\"}", NULL,
                 "{\"event\":\"created\",\"channel\":\"private-c\","
                 "\"data\":\"{\\\"id\\\":7,\\\"s\\\":\\\"a\\\\\\\"b\\\"}\"}");
    /* a JSON string is sent as it is: what a Pusher library published */
    expect_event("App\\Events\\Shipped", "\"hello\"", NULL,
                 "{\"event\":\"App\\\\Events\\\\Shipped\",\"channel\":\"private-c\","
                 "\"data\":\"hello\"}");
    expect_event("client-typing", "null", "u\"1",
                 "{\"event\":\"client-typing\",\"channel\":\"private-c\",\"data\":\"null\","
                 "\"user_id\":\"u\\\"1\"}");
    char buf[64];
    assert_int_equal(hr_pusher_write_event(buf, sizeof buf, "", 0, "c", 1, "1", 1, NULL),
                     HR_EINVAL);
    assert_int_equal(hr_pusher_write_event(buf, sizeof buf, "e", 1, "a:b", 3, "1", 1, NULL),
                     HR_EINVAL);
    assert_int_equal(hr_pusher_write_event(buf, sizeof buf, "e", 1, "c", 1, "", 0, NULL),
                     HR_EINVAL);
    assert_int_equal(hr_pusher_write_event(buf, sizeof buf, "e", 1, "c", 1, "1", 1, ""), HR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pusher_parse_subscribe),
        cmocka_unit_test(test_pusher_parse_ping_other_client),
        cmocka_unit_test(test_pusher_parse_refusals),
        cmocka_unit_test(test_pusher_parse_prefixes),
        cmocka_unit_test(test_pusher_parse_alloc_failures),
        cmocka_unit_test(test_pusher_channel_data),
        cmocka_unit_test(test_pusher_channel_mapping),
        cmocka_unit_test(test_pusher_write_control),
        cmocka_unit_test(test_pusher_write_control_alloc_failures),
        cmocka_unit_test(test_pusher_write_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

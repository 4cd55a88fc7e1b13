/* Unit tests for lib/proto/cproto: command parsing (every error shape, ref
 * echo, limits, escapes), server message encoders byte-exact against SPEC §2,
 * and parse/write round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/cproto.h"

/* Parses text from an exactly sized heap copy so ASan sees over-reads. */
static int parse(const char *text, size_t max, hr_cmd *cmd, hr_cproto_error *err)
{
    const size_t n = strlen(text);
    uint8_t *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    memcpy(p, text, n);
    const int rc = hr_cproto_parse(p, n, max, cmd, err);
    free(p);
    return rc;
}

/* Parses text expecting failure and returns the error reply. */
static char *error_reply(const char *text, size_t max)
{
    hr_cmd cmd;
    hr_cproto_error err;
    assert_int_equal(parse(text, max, &cmd, &err), HR_EINVAL);
    assert_null(cmd.channels);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(hr_cproto_write_parse_error(&err, &out, &len), 0);
    assert_int_equal(len, strlen(out));
    return out;
}

static void expect_error(const char *text, size_t max, const char *want)
{
    char *got = error_reply(text, max);
    assert_string_equal(got, want);
    free(got);
}

static void test_cproto_subscribe(void **state)
{
    (void)state;
    hr_cmd cmd;
    hr_cproto_error err;
    assert_int_equal(
        parse(
            "{\"type\":\"subscribe\",\"channels\":[\"a\",\"b\"],\"since\":\"17-0\",\"ref\":\"1\"}",
            128, &cmd, &err),
        0);
    assert_int_equal(cmd.type, HR_CMD_SUBSCRIBE);
    assert_int_equal(cmd.n_channels, 2);
    assert_string_equal(cmd.channels[0], "a");
    assert_string_equal(cmd.channels[1], "b");
    assert_string_equal(cmd.since, "17-0");
    assert_string_equal(cmd.ref, "1");
    hr_cmd_deinit(&cmd);
    hr_cmd_deinit(&cmd);
}

static void test_cproto_unsubscribe_minimal(void **state)
{
    (void)state;
    hr_cmd cmd;
    assert_int_equal(
        parse(" {\"channels\":[\"a\"],\"type\":\"unsubscribe\",\"extra\":{\"x\":[1]}} ", 1, &cmd,
              NULL),
        0);
    assert_int_equal(cmd.type, HR_CMD_UNSUBSCRIBE);
    assert_int_equal(cmd.n_channels, 1);
    assert_null(cmd.since);
    assert_null(cmd.ref);
    hr_cmd_deinit(&cmd);
}

static void test_cproto_dedupe(void **state)
{
    (void)state;
    hr_cmd cmd;
    assert_int_equal(parse("{\"type\":\"subscribe\",\"channels\":[\"b\",\"a\",\"b\",\"a\",\"c\"]}",
                           3, &cmd, NULL),
                     0);
    assert_int_equal(cmd.n_channels, 3);
    assert_string_equal(cmd.channels[0], "b");
    assert_string_equal(cmd.channels[1], "a");
    assert_string_equal(cmd.channels[2], "c");
    hr_cmd_deinit(&cmd);
}

static void test_cproto_bad_request_shapes(void **state)
{
    (void)state;
    expect_error("", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":\"invalid JSON\"}");
    expect_error("{\"type\":\"subscribe\"", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":\"invalid JSON\"}");
    expect_error("[1]", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\","
                 "\"message\":\"a command must be a JSON object\"}");
    expect_error("{\"type\":\"publish\",\"channels\":[\"a\"],\"ref\":\"7\"}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"channel must be a channel name ([A-Za-z0-9_.:@-]{1,128})\",\"ref\":\"7\"}");
    expect_error("{\"channels\":[\"a\"],\"ref\":\"7\"}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"type must be \\\"subscribe\\\", \\\"unsubscribe\\\", \\\"refresh\\\" or "
                 "\\\"publish\\\"\",\"ref\":\"7\"}");
    expect_error("{\"type\":\"subscribe\",\"ref\":\"r\"}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"channels must be a non-empty array of channel names\",\"ref\":\"r\"}");
    expect_error("{\"type\":\"subscribe\",\"channels\":[],\"ref\":\"r\"}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"channels must be a non-empty array of channel names\",\"ref\":\"r\"}");
    expect_error("{\"type\":\"subscribe\",\"channels\":\"a\"}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"channels must be a non-empty array of channel names\"}");
    expect_error("{\"type\":\"subscribe\",\"channels\":[\"a\",\"b c\"],\"ref\":\"2\"}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"channels[1] is not a valid channel name: \\\"b c\\\" (names match "
                 "[A-Za-z0-9_.:@-]{1,128})\",\"ref\":\"2\"}");
    expect_error("{\"type\":\"subscribe\",\"channels\":[1]}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"channels[0] is not a string (names match [A-Za-z0-9_.:@-]{1,128})\"}");
    expect_error("{\"type\":\"subscribe\",\"channels\":[\"a\"],\"since\":5,\"ref\":\"s\"}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"since must be an event id\",\"ref\":\"s\"}");
    expect_error("{\"type\":\"subscribe\",\"channels\":[\"a\"],\"since\":\"\"}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"since must be an event id\"}");
    /* Duplicate keys are refused rather than guessed at. */
    expect_error("{\"type\":\"subscribe\",\"type\":\"unsubscribe\",\"channels\":[\"a\"]}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":\"invalid JSON\"}");
}

/* jansson accepts a raw NUL right after a number; we do not. */
static void test_cproto_nul_byte(void **state)
{
    (void)state;
    static const char text[] = "{\"type\":\"subscribe\",\"channels\":[\"a\"],\"x\":1\0}";
    hr_cmd cmd;
    hr_cproto_error err;
    assert_int_equal(hr_cproto_parse((const uint8_t *)text, sizeof text - 1, 8, &cmd, &err),
                     HR_EINVAL);
    assert_string_equal(err.message, "invalid JSON");
}

static void test_cproto_bad_ref(void **state)
{
    (void)state;
    /* A ref that is not a string (or too long) is not echoed. */
    expect_error("{\"type\":\"subscribe\",\"channels\":[\"a\"],\"ref\":1}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"ref must be a string of at most 128 bytes\"}");
    char text[400];
    char ref[HR_CPROTO_REF_MAX + 2];
    memset(ref, 'r', sizeof ref - 1);
    ref[sizeof ref - 1] = '\0';
    snprintf(text, sizeof text, "{\"type\":\"subscribe\",\"channels\":[\"a\"],\"ref\":\"%s\"}",
             ref);
    expect_error(text, 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                 "\"ref must be a string of at most 128 bytes\"}");
    ref[HR_CPROTO_REF_MAX] = '\0'; /* exactly at the limit: fine */
    snprintf(text, sizeof text, "{\"type\":\"subscribe\",\"channels\":[\"a\"],\"ref\":\"%s\"}",
             ref);
    hr_cmd cmd;
    assert_int_equal(parse(text, 8, &cmd, NULL), 0);
    assert_int_equal(strlen(cmd.ref), HR_CPROTO_REF_MAX);
    hr_cmd_deinit(&cmd);
    /* \u0000 inside a ref is invalid JSON for jansson: no NUL ever reaches us. */
    expect_error("{\"type\":\"subscribe\",\"channels\":[\"a\"],\"ref\":\"a\\u0000b\"}", 8,
                 "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":\"invalid JSON\"}");
}

static void test_cproto_too_many_channels(void **state)
{
    (void)state;
    expect_error("{\"type\":\"subscribe\",\"channels\":[\"a\",\"b\",\"c\"],\"ref\":\"9\"}", 2,
                 "{\"type\":\"error\",\"code\":\"too_many_channels\","
                 "\"message\":\"at most 2 channels per command\",\"ref\":\"9\"}");
    /* Duplicates do not count. */
    hr_cmd cmd;
    assert_int_equal(
        parse("{\"type\":\"subscribe\",\"channels\":[\"a\",\"b\",\"a\"]}", 2, &cmd, NULL), 0);
    hr_cmd_deinit(&cmd);
    expect_error("{\"type\":\"subscribe\",\"channels\":[\"a\"]}", 0,
                 "{\"type\":\"error\",\"code\":\"too_many_channels\","
                 "\"message\":\"at most 0 channels per command\"}");
}

static void test_cproto_ref_escapes(void **state)
{
    (void)state;
    /* Unicode escapes in, UTF-8 out; quotes, backslashes and controls escaped. */
    hr_cmd cmd;
    hr_cproto_error err;
    assert_int_equal(parse("{\"type\":\"unsubscribe\",\"channels\":[\"a\"],"
                           "\"ref\":\"\\u00e9\\\"\\\\\\n\\ud83d\\ude00</\"}",
                           8, &cmd, &err),
                     0);
    assert_string_equal(cmd.ref, "\xc3\xa9\"\\\n\xf0\x9f\x98\x80</");
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(hr_cproto_write_unsubscribed((const char *const *)cmd.channels, cmd.n_channels,
                                                  cmd.ref, &out, &len),
                     0);
    assert_string_equal(out, "{\"type\":\"unsubscribed\",\"channels\":[\"a\"],"
                             "\"ref\":\"\xc3\xa9\\\"\\\\\\n\xf0\x9f\x98\x80</\"}");
    free(out);
    hr_cmd_deinit(&cmd);
    /* The error path echoes the same decoded ref. */
    char *reply = error_reply("{\"type\":\"x\",\"ref\":\"\\u0001\\t\"}", 8);
    assert_string_equal(reply,
                        "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":"
                        "\"type must be \\\"subscribe\\\", \\\"unsubscribe\\\", \\\"refresh\\\" or "
                        "\\\"publish\\\"\","
                        "\"ref\":\"\\u0001\\t\"}");
    free(reply);
}

/* The event name extension: escaped, between id and data; the reader of
 * event messages still finds channel, id and data. */
static void test_cproto_write_named_event(void **state)
{
    (void)state;
    const char *ev = "App\\Events\\\"Shipped\"";
    const int n =
        hr_cproto_write_named_event(NULL, 0, "orders", 6, "1-2", 3, ev, strlen(ev), "{}", 2);
    const char *want = "{\"type\":\"event\",\"channel\":\"orders\",\"id\":\"1-2\","
                       "\"event\":\"App\\\\Events\\\\\\\"Shipped\\\"\",\"data\":{}}";
    assert_int_equal(n, strlen(want));
    char buf[128];
    assert_int_equal(hr_cproto_write_named_event(buf, (size_t)n - 1, "orders", 6, "1-2", 3, ev,
                                                 strlen(ev), "{}", 2),
                     n);
    assert_int_equal(hr_cproto_write_named_event(buf, sizeof buf, "orders", 6, "1-2", 3, ev,
                                                 strlen(ev), "{}", 2),
                     n);
    assert_memory_equal(buf, want, (size_t)n);
    hr_cproto_event e;
    assert_int_equal(hr_cproto_parse_event((const uint8_t *)buf, (size_t)n, &e), 1);
    assert_int_equal(e.channel_len, 6);
    assert_int_equal(e.data_len, 2);
    assert_int_equal(
        hr_cproto_write_named_event(buf, sizeof buf, "orders", 6, "1-2", 3, "", 0, "1", 1),
        HR_EINVAL);
    assert_int_equal(
        hr_cproto_write_named_event(buf, sizeof buf, "orders", 6, "1-2", 3, "a\nb", 3, "1", 1),
        HR_EINVAL);
}

static void test_cproto_write_welcome(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(hr_cproto_write_welcome("c1", "alice", &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"welcome\",\"connection\":\"c1\",\"user\":\"alice\"}");
    assert_int_equal(len, strlen(out));
    free(out);
    assert_int_equal(hr_cproto_write_welcome("c2", NULL, &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"welcome\",\"connection\":\"c2\",\"user\":null}");
    free(out);
    assert_int_equal(hr_cproto_write_welcome("c3", "a\"b", &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"welcome\",\"connection\":\"c3\",\"user\":\"a\\\"b\"}");
    free(out);
    assert_int_equal(hr_cproto_write_welcome("c4", "\xff", &out, &len), HR_EINVAL);
    assert_null(out);
    assert_int_equal(hr_cproto_write_welcome(NULL, NULL, &out, &len), HR_EINVAL);
}

static void test_cproto_write_subscribed(void **state)
{
    (void)state;
    const char *ch[] = {"a", "b"};
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(hr_cproto_write_subscribed(ch, 2, true, "1", &out, &len), 0);
    assert_string_equal(
        out,
        "{\"type\":\"subscribed\",\"channels\":[\"a\",\"b\"],\"recovered\":true,\"ref\":\"1\"}");
    free(out);
    assert_int_equal(hr_cproto_write_subscribed(ch, 1, false, NULL, &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"subscribed\",\"channels\":[\"a\"],\"recovered\":false}");
    free(out);
    const char *bad[] = {"a b"};
    assert_int_equal(hr_cproto_write_subscribed(bad, 1, true, NULL, &out, &len), HR_EINVAL);
    assert_null(out);
}

static void test_cproto_write_unsubscribed_and_error(void **state)
{
    (void)state;
    const char *ch[] = {"a"};
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(hr_cproto_write_unsubscribed(ch, 1, "2", &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"unsubscribed\",\"channels\":[\"a\"],\"ref\":\"2\"}");
    free(out);
    assert_int_equal(hr_cproto_write_error("forbidden", "not allowed: user:bob", "3", &out, &len),
                     0);
    assert_string_equal(out, "{\"type\":\"error\",\"code\":\"forbidden\","
                             "\"message\":\"not allowed: user:bob\",\"ref\":\"3\"}");
    free(out);
    assert_int_equal(hr_cproto_write_error("rate_limited", "slow down", NULL, &out, &len), 0);
    assert_string_equal(out,
                        "{\"type\":\"error\",\"code\":\"rate_limited\",\"message\":\"slow down\"}");
    free(out);
}

static void test_cproto_write_event(void **state)
{
    (void)state;
    static const char want[] =
        "{\"type\":\"event\",\"channel\":\"orders\",\"id\":\"1700-0\",\"data\":{\"n\":1}}";
    const size_t wlen = sizeof want - 1;
    assert_int_equal(hr_cproto_write_event(NULL, 0, "orders", 6, "1700-0", 6, "{\"n\":1}", 7),
                     (int)wlen);
    char *buf = malloc(wlen); /* exactly sized */
    assert_non_null(buf);
    assert_int_equal(hr_cproto_write_event(buf, wlen, "orders", 6, "1700-0", 6, "{\"n\":1}", 7),
                     (int)wlen);
    assert_memory_equal(buf, want, wlen);
    /* One byte short: reports the size, writes nothing past cap. */
    assert_int_equal(hr_cproto_write_event(buf, wlen - 1, "orders", 6, "1700-0", 6, "{\"n\":1}", 7),
                     (int)wlen);
    free(buf);
    char small[128];
    assert_int_equal(hr_cproto_write_event(small, sizeof small, "a b", 3, "1", 1, "1", 1),
                     HR_EINVAL);
    assert_int_equal(hr_cproto_write_event(small, sizeof small, "a", 1, "1\"", 2, "1", 1),
                     HR_EINVAL);
    assert_int_equal(hr_cproto_write_event(small, sizeof small, "a", 1, "", 0, "1", 1), HR_EINVAL);
    assert_int_equal(hr_cproto_write_event(small, sizeof small, "a", 1, "1", 1, "", 0), HR_EINVAL);
    const int n = hr_cproto_write_event(small, sizeof small, "a", 1, "9", 1, "null", 4);
    assert_int_equal(n, 51);
    assert_memory_equal(small, "{\"type\":\"event\",\"channel\":\"a\",\"id\":\"9\",\"data\":null}",
                        (size_t)n);
}

static void test_cproto_id_valid(void **state)
{
    (void)state;
    assert_true(hr_cproto_id_is_valid("1700000000000-0", 15));
    assert_true(hr_cproto_id_is_valid("42", 2));
    assert_false(hr_cproto_id_is_valid("a b", 3));
    assert_false(hr_cproto_id_is_valid("a\\", 2));
    assert_false(hr_cproto_id_is_valid("\x7f", 1));
    assert_false(hr_cproto_id_is_valid(NULL, 0));
    char id[HR_CPROTO_ID_MAX + 1];
    memset(id, '1', sizeof id);
    assert_true(hr_cproto_id_is_valid(id, HR_CPROTO_ID_MAX));
    assert_false(hr_cproto_id_is_valid(id, HR_CPROTO_ID_MAX + 1));
}

/* Writes a subscribe command the way a client would, then parses it. */
static void test_cproto_round_trip(void **state)
{
    (void)state;
    const char *refs[] = {"1", "", "\xc3\xa9t\xc3\xa9", "q\"uo\\te", "tab\there"};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        char *reply = NULL;
        size_t len = 0;
        const char *ch[] = {"user:x", "a.b@c-d_e"};
        assert_int_equal(hr_cproto_write_unsubscribed(ch, 2, refs[i], &reply, &len), 0);
        /* The reply is a valid command too once its type is swapped. */
        char *p = strstr(reply, "unsubscribed");
        assert_non_null(p);
        memcpy(p, "unsubscribe\"", 12);
        p[12] = ' ';
        hr_cmd cmd;
        assert_int_equal(hr_cproto_parse((const uint8_t *)reply, len, 8, &cmd, NULL), 0);
        assert_int_equal(cmd.n_channels, 2);
        assert_string_equal(cmd.channels[0], "user:x");
        assert_string_equal(cmd.channels[1], "a.b@c-d_e");
        assert_string_equal(cmd.ref, refs[i]);
        hr_cmd_deinit(&cmd);
        free(reply);
    }
}

/* Every prefix of a valid command is an error, never a crash or success. */
static void test_cproto_truncations(void **state)
{
    (void)state;
    static const char text[] =
        "{\"type\":\"subscribe\",\"channels\":[\"a\",\"b\"],\"since\":\"1-0\",\"ref\":\"1\"}";
    for (size_t n = 0; n < sizeof text - 1; n++) {
        uint8_t *p = malloc(n > 0 ? n : 1);
        assert_non_null(p);
        memcpy(p, text, n);
        hr_cmd cmd;
        hr_cproto_error err;
        assert_int_equal(hr_cproto_parse(p, n, 8, &cmd, &err), HR_EINVAL);
        assert_string_equal(err.code, "bad_request");
        free(p);
    }
}

/* Reads text as a server message from an exactly sized heap copy. */
static int read_event(const char *text, hr_cproto_event *ev, uint8_t **keep)
{
    const size_t n = strlen(text);
    uint8_t *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    memcpy(p, text, n);
    const int rc = hr_cproto_parse_event(p, n, ev);
    *keep = p;
    return rc;
}

static void expect_event(const char *text, const char *channel, const char *id, const char *data)
{
    hr_cproto_event ev;
    uint8_t *p = NULL;
    assert_int_equal(read_event(text, &ev, &p), 1);
    assert_int_equal(ev.channel_len, strlen(channel));
    assert_memory_equal(ev.channel, channel, ev.channel_len);
    assert_int_equal(ev.id_len, strlen(id));
    assert_memory_equal(ev.id, id, ev.id_len);
    assert_int_equal(ev.data_len, strlen(data));
    assert_memory_equal(ev.data, data, ev.data_len);
    assert_true((const uint8_t *)ev.channel > p && (const uint8_t *)ev.data > p);
    free(p);
}

static void expect_event_rc(const char *text, int want)
{
    hr_cproto_event ev;
    uint8_t *p = NULL;
    assert_int_equal(read_event(text, &ev, &p), want);
    assert_null(ev.channel);
    assert_null(ev.id);
    assert_null(ev.data);
    free(p);
}

static void test_cproto_parse_event(void **state)
{
    (void)state;
    expect_event(
        "{\"type\":\"event\",\"channel\":\"orders:1\",\"id\":\"17-0\",\"data\":{\"a\":[1]}}",
        "orders:1", "17-0", "{\"a\":[1]}");
    /* any key order, whitespace, unknown keys, escapes in keys and type */
    expect_event(" { \"data\" : \"x\\\"}\" , \"x\":[{}], \"id\":\"9\",\"ch\\u0061nnel\":\"c\","
                 "\"type\":\"ev\\u0065nt\" } ",
                 "c", "9", "\"x\\\"}\"");
    expect_event("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":null}", "a", "1",
                 "null");
    expect_event("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":-1.5e3}", "a", "1",
                 "-1.5e3");
}

/* The event encoder's output reads back to its parts. */
static void test_cproto_parse_event_round_trip(void **state)
{
    (void)state;
    const char *data = "{\"price\":12.5,\"items\":[],\"note\":\"caf\xc3\xa9\"}";
    char buf[256];
    const int n = hr_cproto_write_event(buf, sizeof buf, "shop:eu", 7, "1700000000000-3", 15, data,
                                        strlen(data));
    assert_true(n > 0 && (size_t)n < sizeof buf);
    buf[n] = '\0';
    expect_event(buf, "shop:eu", "1700000000000-3", data);
    /* every strict prefix is not an event (and never read past its end) */
    for (int k = 0; k < n; k++) {
        char *pre = strndup(buf, (size_t)k);
        assert_non_null(pre);
        expect_event_rc(pre, 0);
        free(pre);
    }
}

static void test_cproto_parse_event_not_events(void **state)
{
    (void)state;
    expect_event_rc("", 0);
    expect_event_rc("hello", 0);
    expect_event_rc("[1,2]", 0);
    expect_event_rc("\"event\"", 0);
    expect_event_rc("{}", 0);
    expect_event_rc("{\"type\":\"welcome\",\"connection\":\"c1\",\"user\":null}", 0);
    expect_event_rc("{\"type\":\"subscribed\",\"channels\":[\"a\"],\"recovered\":true}", 0);
    expect_event_rc("{\"type\":\"Event\",\"channel\":\"a\",\"id\":\"1\",\"data\":1}", 0);
    expect_event_rc("{\"type\":1,\"channel\":\"a\",\"id\":\"1\",\"data\":1}", 0);
    expect_event_rc("{\"channel\":\"a\",\"id\":\"1\",\"data\":1}", 0);
    /* not valid JSON, whatever it claims */
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":1", 0);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":1}x", 0);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":01}", 0);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":1,}", 0);
    expect_event_rc("{\"type\":\"event\" \"channel\":\"a\",\"id\":\"1\",\"data\":1}", 0);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":\"\xff\"}", 0);
}

static void test_cproto_parse_event_invalid(void **state)
{
    (void)state;
    expect_event_rc("{\"type\":\"event\",\"id\":\"1\",\"data\":1}", HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"data\":1}", HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\"}", HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a b\",\"id\":\"1\",\"data\":1}", HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"\",\"id\":\"1\",\"data\":1}", HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":7,\"id\":\"1\",\"data\":1}", HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":1,\"data\":1}", HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"\",\"data\":1}", HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"\\u0061\",\"id\":\"1\",\"data\":1}",
                    HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\\/2\",\"data\":1}",
                    HR_EINVAL);
    expect_event_rc("{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":1,\"data\":2}",
                    HR_EINVAL);
    expect_event_rc(
        "{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":1,\"d\\u0061ta\":2}",
        HR_EINVAL);
    expect_event_rc("{\"type\":\"x\",\"type\":\"event\",\"channel\":\"a\",\"id\":\"1\",\"data\":1}",
                    HR_EINVAL);
    char id[HR_CPROTO_ID_MAX + 64];
    int n = snprintf(id, sizeof id, "{\"type\":\"event\",\"channel\":\"a\",\"id\":\"");
    memset(id + n, '7', HR_CPROTO_ID_MAX + 1);
    snprintf(id + n + HR_CPROTO_ID_MAX + 1, sizeof id - (size_t)n - HR_CPROTO_ID_MAX - 1,
             "\",\"data\":1}");
    expect_event_rc(id, HR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cproto_subscribe),
        cmocka_unit_test(test_cproto_unsubscribe_minimal),
        cmocka_unit_test(test_cproto_dedupe),
        cmocka_unit_test(test_cproto_bad_request_shapes),
        cmocka_unit_test(test_cproto_nul_byte),
        cmocka_unit_test(test_cproto_bad_ref),
        cmocka_unit_test(test_cproto_too_many_channels),
        cmocka_unit_test(test_cproto_ref_escapes),
        cmocka_unit_test(test_cproto_write_named_event),
        cmocka_unit_test(test_cproto_write_welcome),
        cmocka_unit_test(test_cproto_write_subscribed),
        cmocka_unit_test(test_cproto_write_unsubscribed_and_error),
        cmocka_unit_test(test_cproto_write_event),
        cmocka_unit_test(test_cproto_id_valid),
        cmocka_unit_test(test_cproto_round_trip),
        cmocka_unit_test(test_cproto_truncations),
        cmocka_unit_test(test_cproto_parse_event),
        cmocka_unit_test(test_cproto_parse_event_round_trip),
        cmocka_unit_test(test_cproto_parse_event_not_events),
        cmocka_unit_test(test_cproto_parse_event_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

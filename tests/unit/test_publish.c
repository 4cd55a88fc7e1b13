/* Unit tests for lib/proto/publish: single and batch bodies, every error,
 * all-or-nothing, verbatim compact data, reply bodies byte-exact (SPEC §3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/publish.h"

static char errbuf[256];

/* Parses text from an exactly sized heap copy so ASan sees over-reads. */
static int parse(const char *text, size_t max, hr_pub_batch *b)
{
    const size_t n = strlen(text);
    uint8_t *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    memcpy(p, text, n);
    const int rc = hr_publish_parse(p, n, max, b, errbuf, sizeof errbuf);
    free(p);
    return rc;
}

static void expect_fail(const char *text, int code, const char *msg)
{
    hr_pub_batch b;
    assert_int_equal(parse(text, 16, &b), code);
    assert_null(b.items);
    assert_int_equal(b.n_items, 0);
    assert_string_equal(errbuf, msg);
}

static void test_publish_single(void **state)
{
    (void)state;
    hr_pub_batch b;
    assert_int_equal(parse("{\"channel\":\"orders\",\"data\":{\"id\":7,\"price\":0.1}}", 16, &b),
                     0);
    assert_false(b.is_batch);
    assert_int_equal(b.n_items, 1);
    assert_int_equal(b.items[0].n_channels, 1);
    assert_string_equal(b.items[0].channels[0], "orders");
    assert_string_equal(b.items[0].data, "{\"id\":7,\"price\":0.1}");
    assert_int_equal(b.items[0].data_len, strlen(b.items[0].data));
    hr_publish_batch_deinit(&b);
    hr_publish_batch_deinit(&b);
}

static void test_publish_channels(void **state)
{
    (void)state;
    hr_pub_batch b;
    assert_int_equal(parse("{\"data\":null,\"channels\":[\"a\",\"user:x\",\"a\"],\"x\":1}", 16, &b),
                     0);
    assert_int_equal(b.items[0].n_channels, 2);
    assert_string_equal(b.items[0].channels[0], "a");
    assert_string_equal(b.items[0].channels[1], "user:x");
    assert_string_equal(b.items[0].data, "null");
    assert_int_equal(b.items[0].data_len, 4);
    hr_publish_batch_deinit(&b);
}

/* Long channel lists are deduplicated through a hash set: the same result
 * as the pairwise rule (first occurrences, in order), for every length. */
static void test_publish_channels_dedup_long(void **state)
{
    (void)state;
    for (size_t n = 1; n <= HR_PUBLISH_MAX_CHANNELS; n = n < 40 ? n + 1 : n * 2 + 1) {
        if (n > HR_PUBLISH_MAX_CHANNELS)
            n = HR_PUBLISH_MAX_CHANNELS;
        char *body = malloc(16 * n + 64);
        assert_non_null(body);
        size_t w = (size_t)sprintf(body, "{\"channels\":[");
        for (size_t i = 0; i < n; i++) /* c0..c(n/2), then again backwards */
            w += (size_t)sprintf(body + w, "%s\"c%zu\"", i > 0 ? "," : "", i <= n / 2 ? i : n - i);
        sprintf(body + w, "],\"data\":1}");
        hr_pub_batch b;
        assert_int_equal(parse(body, 4, &b), 0);
        assert_int_equal(b.items[0].n_channels, n / 2 + 1);
        for (size_t i = 0; i < b.items[0].n_channels; i++) {
            char want[16];
            snprintf(want, sizeof want, "c%zu", i);
            assert_string_equal(b.items[0].channels[i], want);
        }
        hr_publish_batch_deinit(&b);
        free(body);
        if (n == HR_PUBLISH_MAX_CHANNELS)
            break;
    }
}

static void test_publish_batch(void **state)
{
    (void)state;
    hr_pub_batch b;
    assert_int_equal(parse(" [ {\"channel\":\"a\",\"data\":1} ,\n"
                           "{\"channels\":[\"b\"],\"data\":[ 1 , \"x y\" ]},"
                           "{\"data\":\"s\",\"channel\":\"c\"} ] ",
                           3, &b),
                     0);
    assert_true(b.is_batch);
    assert_int_equal(b.n_items, 3);
    assert_string_equal(b.items[0].data, "1");
    assert_string_equal(b.items[1].channels[0], "b");
    assert_string_equal(b.items[1].data, "[1,\"x y\"]");
    assert_string_equal(b.items[2].channels[0], "c");
    assert_string_equal(b.items[2].data, "\"s\"");
    hr_publish_batch_deinit(&b);
}

static void test_publish_data_verbatim(void **state)
{
    (void)state;
    hr_pub_batch b;
    /* Whitespace outside strings goes; strings, escapes and digits stay. */
    assert_int_equal(
        parse("{\"channel\":\"a\",\"data\" : {\n \"t\" : \"a \\\" }\\\\\" ,\"n\":[1e3, -0.0, "
              "12345678901234567890123], \"u\":\"\\u00e9\xc3\xa9\", \"o\":{}}\n}",
              16, &b),
        0);
    assert_string_equal(b.items[0].data, "{\"t\":\"a \\\" }\\\\\",\"n\":[1e3,-0.0,"
                                         "12345678901234567890123],\"u\":\"\\u00e9\xc3\xa9\","
                                         "\"o\":{}}");
    hr_publish_batch_deinit(&b);
    /* "data" spelled with an escape in its key is still "data". */
    assert_int_equal(parse("{\"dat\\u0061\":true,\"channel\":\"a\",\"d\":1}", 16, &b), 0);
    assert_string_equal(b.items[0].data, "true");
    hr_publish_batch_deinit(&b);
    /* Every letter escaped (upper-case hex too): the publisher's bytes are kept. */
    assert_int_equal(parse("{\"\\u0064\\u0061\\u0074\\u0061\":[1.50],\"channel\":\"a\"}", 16, &b),
                     0);
    assert_string_equal(b.items[0].data, "[1.50]");
    hr_publish_batch_deinit(&b);
    assert_int_equal(parse("{\"d\\u0061\\u0074\\u0061\":0.10,\"channel\":\"a\"}", 16, &b), 0);
    assert_string_equal(b.items[0].data, "0.10");
    hr_publish_batch_deinit(&b);
    /* Near misses are other keys: no "data" at all. */
    assert_int_equal(parse("{\"\\u0044ata\":1,\"channel\":\"a\"}", 16, &b), HR_EINVAL);
    assert_int_equal(parse("{\"dat\\u0061x\":1,\"channel\":\"a\"}", 16, &b), HR_EINVAL);
    assert_int_equal(parse("{\"\\u0064at\":1,\"channel\":\"a\"}", 16, &b), HR_EINVAL);
    assert_int_equal(parse("{\"\\n\":1,\"channel\":\"a\"}", 16, &b), HR_EINVAL);
    /* A "data" key nested in another value is not the item's. */
    assert_int_equal(parse("{\"x\":{\"data\":1},\"channel\":\"a\",\"data\":2}", 16, &b), 0);
    assert_string_equal(b.items[0].data, "2");
    hr_publish_batch_deinit(&b);
}

static void test_publish_errors(void **state)
{
    (void)state;
    expect_fail("", HR_EINVAL, "invalid JSON at byte 0: '[' or '{' expected near end of file");
    expect_fail("\"x\"", HR_EINVAL, "invalid JSON at byte 3: '[' or '{' expected near '\"x\"'");
    expect_fail("{\"channel\":\"a\"}", HR_EINVAL, "missing \"data\"");
    expect_fail("{\"data\":1}", HR_EINVAL, "missing \"channel\" or \"channels\"");
    expect_fail("{\"channel\":\"a\",\"channels\":[\"b\"],\"data\":1}", HR_EINVAL,
                "give either \"channel\" or \"channels\", not both");
    expect_fail(
        "{\"channel\":\"a b\",\"data\":1}", HR_EINVAL,
        "\"channel\" is not a valid channel name: \"a b\" (names match [A-Za-z0-9_.:@-]{1,128})");
    expect_fail("{\"channel\":7,\"data\":1}", HR_EINVAL,
                "\"channel\" is not a string (names match [A-Za-z0-9_.:@-]{1,128})");
    expect_fail("{\"channels\":[],\"data\":1}", HR_EINVAL,
                "\"channels\" must be a non-empty array of channel names");
    expect_fail("{\"channels\":\"a\",\"data\":1}", HR_EINVAL,
                "\"channels\" must be a non-empty array of channel names");
    expect_fail(
        "{\"channels\":[\"a\",\"\"],\"data\":1}", HR_EINVAL,
        "channels[1] is not a valid channel name: \"\" (names match [A-Za-z0-9_.:@-]{1,128})");
    expect_fail("[]", HR_EINVAL, "empty batch");
    expect_fail("[1]", HR_EINVAL, "item 0: must be a JSON object");
    expect_fail("{\"channel\":\"a\",\"channel\":\"b\",\"data\":1}", HR_EINVAL,
                "invalid JSON at byte 24: duplicate object key near '\"channel\"'");
    const char *ev_msg = "\"event\" must be a string of 1 to 200 bytes without control characters";
    expect_fail("{\"channel\":\"a\",\"data\":1,\"event\":7}", HR_EINVAL, ev_msg);
    expect_fail("{\"channel\":\"a\",\"data\":1,\"event\":\"\"}", HR_EINVAL, ev_msg);
    expect_fail("{\"channel\":\"a\",\"data\":1,\"event\":\"a\\nb\"}", HR_EINVAL, ev_msg);
    expect_fail("[{\"channel\":\"a\",\"data\":1,\"event\":\"ok\"},{\"channel\":\"a\",\"data\":1,"
                "\"event\":null}]",
                HR_EINVAL,
                "item 1: \"event\" must be a string of 1 to 200 bytes without control characters");
}

/* The optional event name (for Pusher clients) is kept as given; absent is
 * NULL, so records without one stay as they were. */
static void test_publish_exclude(void **state)
{
    (void)state;
    assert_true(hr_publish_exclude_is_valid("1.2", 3));
    assert_true(hr_publish_exclude_is_valid("123456789012.4567", 17));
    static const char *const bad[] = {"", "1", "1.", ".1", "1.2.3", "a.1", "1.-1", "1 .2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(hr_publish_exclude_is_valid(bad[i], strlen(bad[i])));
    char longer[HR_PUBLISH_EXCLUDE_MAX + 2];
    memset(longer, '1', sizeof longer);
    longer[1] = '.';
    assert_true(hr_publish_exclude_is_valid(longer, HR_PUBLISH_EXCLUDE_MAX));
    assert_false(hr_publish_exclude_is_valid(longer, HR_PUBLISH_EXCLUDE_MAX + 1));
    /* /publish bodies never set it */
    hr_pub_batch b;
    const char *body = "{\"channel\":\"a\",\"data\":1,\"socket_id\":\"1.2\"}";
    assert_int_equal(hr_publish_parse((const uint8_t *)body, strlen(body), 10, &b, NULL, 0), 0);
    assert_null(b.items[0].exclude);
    hr_publish_batch_deinit(&b);
}

static void test_publish_event_name(void **state)
{
    (void)state;
    hr_pub_batch b;
    assert_int_equal(parse("[{\"channel\":\"a\",\"data\":1,\"event\":\"App\\\\Events\\\\Shipped\"},"
                           "{\"channel\":\"a\",\"data\":2}]",
                           16, &b),
                     0);
    assert_string_equal(b.items[0].event, "App\\Events\\Shipped");
    assert_int_equal(b.items[0].event_len, 18);
    assert_null(b.items[1].event);
    assert_int_equal(b.items[1].event_len, 0);
    hr_publish_batch_deinit(&b);
    char name[HR_PUBLISH_EVENT_MAX + 2];
    memset(name, 'e', sizeof name);
    assert_true(hr_event_name_is_valid(name, HR_PUBLISH_EVENT_MAX));
    assert_false(hr_event_name_is_valid(name, HR_PUBLISH_EVENT_MAX + 1));
    assert_false(hr_event_name_is_valid("\xff", 1));
    assert_false(hr_event_name_is_valid("a\x7f", 2));
    assert_true(hr_event_name_is_valid("caf\xc3\xa9", 5));
}

/* jansson accepts a raw NUL right after a number; we do not. */
static void test_publish_nul_byte(void **state)
{
    (void)state;
    static const char body[] = "{\"channel\":\"a\",\"data\":1\0}";
    hr_pub_batch b;
    assert_int_equal(
        hr_publish_parse((const uint8_t *)body, sizeof body - 1, 4, &b, errbuf, sizeof errbuf),
        HR_EINVAL);
    assert_string_equal(errbuf, "invalid JSON: NUL byte");
}

/* An escaped NUL is valid JSON (RFC 8259): accepted and passed on verbatim,
 * while a channel name holding one is still refused. */
static void test_publish_escaped_nul(void **state)
{
    (void)state;
    hr_pub_batch b;
    assert_int_equal(parse("{\"channel\":\"a\",\"data\":{\"s\":\"x\\u0000y\"}}", 4, &b), 0);
    assert_string_equal(b.items[0].data, "{\"s\":\"x\\u0000y\"}");
    hr_publish_batch_deinit(&b);
    assert_int_equal(parse("{\"channel\":\"a\\u0000b\",\"data\":1}", 4, &b), HR_EINVAL);
    char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(hr_publish_normalize_data("\"\\u0000\"", 8, &out, &out_len), 0);
    assert_string_equal(out, "\"\\u0000\"");
    free(out);
}

static void test_publish_all_or_nothing(void **state)
{
    (void)state;
    expect_fail("[{\"channel\":\"a\",\"data\":1},{\"channel\":\"b\",\"data\":2},"
                "{\"channel\":\"c\"}]",
                HR_EINVAL, "item 2: missing \"data\"");
    expect_fail("[{\"channel\":\"a\",\"data\":1},{\"channel\":\"b c\",\"data\":2}]", HR_EINVAL,
                "item 1: \"channel\" is not a valid channel name: \"b c\" (names match "
                "[A-Za-z0-9_.:@-]{1,128})");
}

static void test_publish_limits(void **state)
{
    (void)state;
    hr_pub_batch b;
    assert_int_equal(
        parse("[{\"channel\":\"a\",\"data\":1},{\"channel\":\"b\",\"data\":2}]", 1, &b),
        HR_ETOOBIG);
    assert_string_equal(errbuf, "too many items: at most 1 per request");
    assert_null(b.items);
    /* A single object counts as one item. */
    assert_int_equal(parse("{\"channel\":\"a\",\"data\":1}", 1, &b), 0);
    hr_publish_batch_deinit(&b);
    /* Channel count per item. */
    const size_t n = HR_PUBLISH_MAX_CHANNELS + 1;
    char *text = malloc(64 + n * 4);
    assert_non_null(text);
    size_t pos = (size_t)sprintf(text, "{\"data\":1,\"channels\":[");
    for (size_t i = 0; i < n; i++)
        pos += (size_t)sprintf(text + pos, "%s\"a\"", i > 0 ? "," : "");
    strcpy(text + pos, "]}");
    assert_int_equal(parse(text, 1, &b), HR_EINVAL);
    assert_string_equal(errbuf, "more than 1024 channels");
    free(text);
}

static void test_publish_errbuf_truncation(void **state)
{
    (void)state;
    char small[8];
    hr_pub_batch b;
    const char *t = "[{\"data\":1}]";
    assert_int_equal(hr_publish_parse((const uint8_t *)t, strlen(t), 4, &b, small, sizeof small),
                     HR_EINVAL);
    assert_string_equal(small, "item 0:");
    assert_int_equal(hr_publish_parse((const uint8_t *)t, strlen(t), 4, &b, NULL, 0), HR_EINVAL);
}

static void test_publish_replies(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(hr_publish_write_id("1700-0", &out, &len), 0);
    assert_string_equal(out, "{\"id\":\"1700-0\"}");
    assert_int_equal(len, strlen(out));
    free(out);
    const char *ids[] = {"1", "2"};
    assert_int_equal(hr_publish_write_ids(ids, 2, &out, &len), 0);
    assert_string_equal(out, "{\"ids\":[\"1\",\"2\"]}");
    free(out);
    assert_int_equal(hr_publish_write_ids(NULL, 0, &out, &len), 0);
    assert_string_equal(out, "{\"ids\":[]}");
    free(out);
    assert_int_equal(hr_publish_write_error("bad_request", "item 2: missing \"data\"", &out, &len),
                     0);
    assert_string_equal(out,
                        "{\"error\":\"bad_request\",\"message\":\"item 2: missing \\\"data\\\"\"}");
    free(out);
    assert_int_equal(hr_publish_write_id("a b", &out, &len), HR_EINVAL);
    assert_null(out);
    const char *bad[] = {"1", "\""};
    assert_int_equal(hr_publish_write_ids(bad, 2, &out, &len), HR_EINVAL);
    assert_int_equal(hr_publish_write_error("bad_request", "\xff", &out, &len), HR_EINVAL);
}

static void test_publish_normalize_data(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    const char *in = " {\"a\" : [ 1 , 0.1 , \"x  y\" ] }\n";
    assert_int_equal(hr_publish_normalize_data(in, strlen(in), &out, &len), 0);
    assert_string_equal(out, "{\"a\":[1,0.1,\"x  y\"]}");
    assert_int_equal(len, strlen(out));
    free(out);
    assert_int_equal(hr_publish_normalize_data("42", 2, &out, &len), 0);
    assert_string_equal(out, "42");
    free(out);
    assert_int_equal(hr_publish_normalize_data("\"s\"", 3, &out, &len), 0);
    assert_string_equal(out, "\"s\"");
    free(out);
    const char *bad[] = {"", "  ", "{", "1 2", "nul", "[1,]", "\"\\x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(hr_publish_normalize_data(bad[i], strlen(bad[i]), &out, &len), HR_EINVAL);
        assert_null(out);
    }
    assert_int_equal(hr_publish_normalize_data("1\0", 2, &out, &len), HR_EINVAL);
}

/* Every prefix of a valid body fails cleanly. */
static void test_publish_truncations(void **state)
{
    (void)state;
    static const char text[] = "[{\"channel\":\"a\",\"data\":{\"k\":[1,\"v\"]}}]";
    for (size_t n = 0; n < sizeof text - 1; n++) {
        uint8_t *p = malloc(n > 0 ? n : 1);
        assert_non_null(p);
        memcpy(p, text, n);
        hr_pub_batch b;
        assert_int_equal(hr_publish_parse(p, n, 4, &b, errbuf, sizeof errbuf), HR_EINVAL);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_single),
        cmocka_unit_test(test_publish_channels),
        cmocka_unit_test(test_publish_channels_dedup_long),
        cmocka_unit_test(test_publish_batch),
        cmocka_unit_test(test_publish_data_verbatim),
        cmocka_unit_test(test_publish_errors),
        cmocka_unit_test(test_publish_event_name),
        cmocka_unit_test(test_publish_nul_byte),
        cmocka_unit_test(test_publish_escaped_nul),
        cmocka_unit_test(test_publish_all_or_nothing),
        cmocka_unit_test(test_publish_limits),
        cmocka_unit_test(test_publish_errbuf_truncation),
        cmocka_unit_test(test_publish_replies),
        cmocka_unit_test(test_publish_normalize_data),
        cmocka_unit_test(test_publish_truncations),
        cmocka_unit_test(test_publish_exclude),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

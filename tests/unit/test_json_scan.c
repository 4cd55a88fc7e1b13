/* Unit tests for lib/proto/json_scan: the allocation-free JSON validator
 * agrees with jansson (the parser everything else in Herald uses) on valid
 * and invalid documents, on every prefix of them, and at the depth limit;
 * string equality decodes escapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json_scan.h"

/* Scans text[0..n) from an exactly sized heap copy; true when it is one
 * valid value followed only by whitespace. */
static bool scan_whole(const char *text, size_t n)
{
    uint8_t *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    memcpy(p, text, n);
    const size_t end = hr_json_scan_value(p, n, 0);
    const bool ok = end != 0 && hr_json_scan_ws(p, n, end) == n;
    free(p);
    return ok;
}

static bool jansson_accepts(const char *text, size_t n)
{
    json_t *j = json_loadb(text, n, JSON_DECODE_ANY, NULL);
    json_decref(j);
    return j != NULL;
}

static const char *const VALID[] = {
    "0",
    "-0",
    "1.5e+10",
    "-12.25E-3",
    "true",
    "false",
    "null",
    "\"\"",
    "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
    "\"\\u00e9\\ud83d\\ude00\"",
    "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
    "[]",
    "{}",
    " [ 1 , [ ] , { } , \"x\" ] ",
    "{\"a\":{\"b\":[1,{\"c\":null}]},\"d\":\"}\"}",
    "{\"type\":\"event\",\"channel\":\"a\",\"id\":\"1-0\",\"data\":{\"x\":[1,2]}}",
    "\t\n\r 7 \t\n\r",
};

static const char *const INVALID[] = {
    "",
    " ",
    "01",
    "-",
    "1.",
    ".5",
    "1e",
    "1e+",
    "+1",
    "tru",
    "nul",
    "True",
    "\"",
    "\"abc",
    "\"\\x\"",
    "\"\\u12\"",
    "\"\\u0000\"",
    "\"\\ud83d\"",
    "\"\\ude00\"",
    "\"\\ud83d\\u0041\"",
    "\"a\nb\"",
    "\"\xc3\"",
    "\"\xed\xa0\x80\"",
    "[",
    "]",
    "[1,]",
    "[1 2]",
    "{\"a\"}",
    "{\"a\":}",
    "{\"a\":1,}",
    "{1:2}",
    "{\"a\":1]",
    "[1}",
    "1 2",
    "{} {}",
    "[\"a\",\x01]",
    "nullx",
};

static void test_json_scan_agrees_with_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof VALID / sizeof VALID[0]; i++) {
        const size_t n = strlen(VALID[i]);
        assert_true(jansson_accepts(VALID[i], n));
        assert_true(scan_whole(VALID[i], n));
    }
    for (size_t i = 0; i < sizeof INVALID / sizeof INVALID[0]; i++) {
        const size_t n = strlen(INVALID[i]);
        assert_false(jansson_accepts(INVALID[i], n));
        assert_false(scan_whole(INVALID[i], n));
    }
}

/* Every prefix of every valid document: the scanner and jansson agree. */
static void test_json_scan_prefixes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof VALID / sizeof VALID[0]; i++) {
        const size_t n = strlen(VALID[i]);
        for (size_t k = 0; k <= n; k++)
            assert_int_equal(scan_whole(VALID[i], k), jansson_accepts(VALID[i], k));
    }
}

static void test_json_scan_end_index(void **state)
{
    (void)state;
    const uint8_t p[] = "  [1,{\"a\":\"]\"}] , 5";
    const size_t n = sizeof p - 1;
    const size_t end = hr_json_scan_value(p, n, 0);
    assert_int_equal(end, 15);
    assert_int_equal(hr_json_scan_ws(p, n, end), 16);
    assert_int_equal(hr_json_scan_value(p, n, 17), n);
}

static void test_json_scan_string_escaped(void **state)
{
    (void)state;
    const uint8_t a[] = "\"plain\"", b[] = "\"es\\ncaped\"";
    bool esc = true;
    assert_int_equal(hr_json_scan_string(a, sizeof a - 1, 0, &esc), sizeof a - 1);
    assert_false(esc);
    assert_int_equal(hr_json_scan_string(b, sizeof b - 1, 0, &esc), sizeof b - 1);
    assert_true(esc);
    assert_int_equal(hr_json_scan_string(a, sizeof a - 1, 1, NULL), 0); /* not a quote */
}

static void test_json_scan_string_equals(void **state)
{
    (void)state;
    const char *tok = "\"t\\u0079pe\"";
    assert_true(hr_json_scan_string_equals((const uint8_t *)tok, strlen(tok), "type"));
    assert_false(hr_json_scan_string_equals((const uint8_t *)tok, strlen(tok), "typ"));
    assert_false(hr_json_scan_string_equals((const uint8_t *)tok, strlen(tok), "types"));
    tok = "\"\\u00e9\"";
    assert_false(hr_json_scan_string_equals((const uint8_t *)tok, strlen(tok), "\xc3\xa9"));
    tok = "\"\"";
    assert_true(hr_json_scan_string_equals((const uint8_t *)tok, 2, ""));
    assert_false(hr_json_scan_string_equals((const uint8_t *)"x", 1, "x"));
}

/* Builds depth levels of "[" ... "]" around 1 (or [] innermost). */
static char *nested(size_t depth, bool empty_inside)
{
    char *s = malloc(2 * depth + 2);
    assert_non_null(s);
    size_t w = 0;
    for (size_t i = 0; i < depth; i++)
        s[w++] = '[';
    if (!empty_inside)
        s[w++] = '1';
    for (size_t i = 0; i < depth; i++)
        s[w++] = ']';
    s[w] = '\0';
    return s;
}

static void test_json_scan_depth(void **state)
{
    (void)state;
    for (size_t d = HR_JSON_SCAN_DEPTH_MAX - 1; d <= HR_JSON_SCAN_DEPTH_MAX + 1; d++) {
        for (int e = 0; e < 2; e++) {
            char *s = nested(d, e == 1);
            const bool ok = scan_whole(s, strlen(s));
            const bool want = e == 1 ? d <= HR_JSON_SCAN_DEPTH_MAX : d < HR_JSON_SCAN_DEPTH_MAX;
            const bool jansson = jansson_accepts(s, strlen(s));
            free(s);
            assert_int_equal(ok, jansson);
            assert_int_equal(ok, want);
        }
    }
    /* objects count too, and the bit stack keeps kinds apart */
    const char *mixed = "{\"a\":[{\"b\":[[{}]]}]}";
    assert_true(scan_whole(mixed, strlen(mixed)));
    const char *crossed = "{\"a\":[{\"b\":[[{}]}]}]";
    assert_false(scan_whole(crossed, strlen(crossed)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_scan_agrees_with_jansson),
        cmocka_unit_test(test_json_scan_prefixes),
        cmocka_unit_test(test_json_scan_end_index),
        cmocka_unit_test(test_json_scan_string_escaped),
        cmocka_unit_test(test_json_scan_string_equals),
        cmocka_unit_test(test_json_scan_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

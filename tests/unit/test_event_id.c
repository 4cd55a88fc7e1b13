/* Unit tests for lib/broker/event: id parse, format, compare. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "broker/event.h"
#include "core/err.h"

static void test_event_id_parse_forms(void **state)
{
    (void)state;
    hr_event_id id;
    assert_int_equal(hr_event_id_parse("1700000000000-5", 15, &id), 0);
    assert_true(id.ms == UINT64_C(1700000000000) && id.seq == 5);
    assert_int_equal(hr_event_id_parse("42", 2, &id), 0);
    assert_true(id.ms == 0 && id.seq == 42);
    assert_int_equal(hr_event_id_parse("18446744073709551615-18446744073709551615", 41, &id), 0);
    assert_true(id.ms == UINT64_MAX && id.seq == UINT64_MAX);
    /* Only the given length is read. */
    assert_int_equal(hr_event_id_parse("7-8xyz", 3, &id), 0);
    assert_true(id.ms == 7 && id.seq == 8);
}

static void test_event_id_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {"",
                                      "-",
                                      "1-",
                                      "-1",
                                      "1-2-3",
                                      "a",
                                      " 1",
                                      "1 ",
                                      "+1",
                                      "1.5",
                                      "0x10",
                                      "18446744073709551616",
                                      "1-18446744073709551616"};
    hr_event_id id = {9, 9};
    for (size_t i = 0; i < HR_ARRAY_LEN(bad); i++) {
        assert_int_equal(hr_event_id_parse(bad[i], strlen(bad[i]), &id), HR_EINVAL);
        assert_true(id.ms == 9 && id.seq == 9);
    }
}

static void test_event_id_format_roundtrip(void **state)
{
    (void)state;
    const hr_event_id ids[] = {
        {0, 0}, {0, 1}, {1, 0}, {1700000000000, 12}, {UINT64_MAX, UINT64_MAX}};
    for (size_t i = 0; i < HR_ARRAY_LEN(ids); i++) {
        char text[HR_EVENT_ID_CAP];
        const size_t n = hr_event_id_format(ids[i], text, sizeof text);
        assert_true(n > 0 && n == strlen(text));
        hr_event_id back;
        assert_int_equal(hr_event_id_parse(text, n, &back), 0);
        assert_int_equal(hr_event_id_cmp(back, ids[i]), 0);
    }
    char small[4];
    assert_int_equal(hr_event_id_format((hr_event_id){1, 2}, small, sizeof small), 3);
    assert_string_equal(small, "1-2");
    assert_int_equal(hr_event_id_format((hr_event_id){10, 2}, small, sizeof small), 0);
    assert_string_equal(small, "");
}

static void test_event_id_compare_numeric(void **state)
{
    (void)state;
    hr_event_id a, b;
    assert_int_equal(hr_event_id_parse("9-1", 3, &a), 0);
    assert_int_equal(hr_event_id_parse("10-0", 4, &b), 0);
    assert_true(hr_event_id_cmp(a, b) < 0);
    assert_true(hr_event_id_cmp(b, a) > 0);
    assert_true(hr_event_id_cmp((hr_event_id){5, 2}, (hr_event_id){5, 10}) < 0);
    assert_true(hr_event_id_cmp((hr_event_id){0, 99}, (hr_event_id){1, 0}) < 0);
    assert_true(hr_event_id_is_zero((hr_event_id){0, 0}));
    assert_false(hr_event_id_is_zero((hr_event_id){0, 1}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_id_parse_forms),
        cmocka_unit_test(test_event_id_parse_rejects),
        cmocka_unit_test(test_event_id_format_roundtrip),
        cmocka_unit_test(test_event_id_compare_numeric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* hr_hex_digit and hr_percent_decode (proto/percent.h): every digit class,
 * '+' only as a space when asked, malformed and NUL escapes refused, the
 * capacity bound exact (the NUL included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "proto/percent.h"

static void test_hex_digit(void **state)
{
    (void)state;
    assert_int_equal(hr_hex_digit('0'), 0);
    assert_int_equal(hr_hex_digit('9'), 9);
    assert_int_equal(hr_hex_digit('a'), 10);
    assert_int_equal(hr_hex_digit('F'), 15);
    assert_int_equal(hr_hex_digit('g'), -1);
    assert_int_equal(hr_hex_digit('/'), -1);
    assert_int_equal(hr_hex_digit(0xff), -1);
}

static void test_decode(void **state)
{
    (void)state;
    char out[16];
    size_t n = 0;
    assert_int_equal(hr_percent_decode("a%2Cb+c", 7, true, out, sizeof out, &n), 0);
    assert_string_equal(out, "a,b c");
    assert_int_equal(n, 5);
    assert_int_equal(hr_percent_decode("a%2cb+c", 7, false, out, sizeof out, NULL), 0);
    assert_string_equal(out, "a,b+c");
    assert_int_equal(hr_percent_decode("", 0, false, out, sizeof out, &n), 0);
    assert_string_equal(out, "");
    assert_int_equal(n, 0);
}

static void test_refusals(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(hr_percent_decode("%00", 3, false, out, sizeof out, NULL), HR_EINVAL);
    assert_int_equal(hr_percent_decode("a%2", 3, false, out, sizeof out, NULL), HR_EINVAL);
    assert_int_equal(hr_percent_decode("%zz", 3, false, out, sizeof out, NULL), HR_EINVAL);
    assert_int_equal(hr_percent_decode("abc", 3, false, out, sizeof out, NULL), 0);
    assert_int_equal(hr_percent_decode("abcd", 4, false, out, sizeof out, NULL), HR_ETOOBIG);
    assert_int_equal(hr_percent_decode("", 0, false, out, 0, NULL), HR_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_digit),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

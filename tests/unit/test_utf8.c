/* Unit tests for lib/proto/utf8: valid and invalid vectors (overlongs,
 * surrogates, code points above U+10FFFF, stray and truncated sequences),
 * incremental feeding at every split point, and the ASCII fast path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/utf8.h"

typedef struct vec {
    const char *bytes;
    size_t len;
    bool valid;
} vec;

#define V(s, ok)                                                                                   \
    {                                                                                              \
        s, sizeof(s) - 1, ok                                                                       \
    }

static const vec vectors[] = {
    V("", true),
    V("Hello", true),
    V("\x00", true),
    V("\x7f", true),
    V("\xc2\x80", true),                                     /* U+0080 */
    V("\xdf\xbf", true),                                     /* U+07FF */
    V("\xe0\xa0\x80", true),                                 /* U+0800 */
    V("\xed\x9f\xbf", true),                                 /* U+D7FF */
    V("\xee\x80\x80", true),                                 /* U+E000 */
    V("\xef\xbf\xbf", true),                                 /* U+FFFF */
    V("\xf0\x90\x80\x80", true),                             /* U+10000 */
    V("\xf4\x8f\xbf\xbf", true),                             /* U+10FFFF */
    V("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true), /* kosme */
    V("\xc0\x80", false),                                    /* overlong NUL */
    V("\xc1\xbf", false),                                    /* overlong */
    V("\xe0\x80\x80", false),                                /* overlong 3-byte */
    V("\xe0\x9f\xbf", false),                                /* overlong U+07FF */
    V("\xf0\x80\x80\x80", false),                            /* overlong 4-byte */
    V("\xf0\x8f\xbf\xbf", false),                            /* overlong U+FFFF */
    V("\xed\xa0\x80", false),                                /* U+D800 surrogate */
    V("\xed\xbf\xbf", false),                                /* U+DFFF surrogate */
    V("\xed\xa0\x80\xed\xb0\x80", false),                    /* surrogate pair */
    V("\xf4\x90\x80\x80", false),                            /* U+110000 */
    V("\xf5\x80\x80\x80", false),
    V("\xf8\x88\x80\x80\x80", false), /* 5-byte form */
    V("\xff", false),
    V("\xfe", false),
    V("\x80", false), /* stray continuation */
    V("a\xbf", false),
    V("\xc2", false), /* truncated */
    V("\xe1\x80", false),
    V("\xf0\x90\x80", false),
    V("\xc2\x41", false), /* lead then ASCII */
    V("\xe1\x80\x41", false),
    V("Hello-\xc2\x80-\xf4\x8f\xbf\xbf-world, all ASCII after this point!", true),
    V("0123456789abcdef0123456789abcdef\x80", false),
    V("0123456789abcdef0123456789abcde\xe2\x82\xac", true), /* euro sign at the end */
};

static void test_utf8_vectors(void **state)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const vec *v = &vectors[i];
        uint8_t *copy = malloc(v->len ? v->len : 1);
        assert_non_null(copy);
        memcpy(copy, v->bytes, v->len);
        if (hr_utf8_valid(copy, v->len) != v->valid)
            fail_msg("vector %zu: expected %s", i, v->valid ? "valid" : "invalid");
        free(copy);
    }
}

/* Feeding in two pieces at every split point gives the whole-buffer verdict. */
static void test_utf8_split_everywhere(void **state)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const vec *v = &vectors[i];
        for (size_t k = 0; k <= v->len; k++) {
            hr_utf8 u;
            hr_utf8_init(&u);
            const bool ok = hr_utf8_feed(&u, (const uint8_t *)v->bytes, k) &&
                            hr_utf8_feed(&u, (const uint8_t *)v->bytes + k, v->len - k) &&
                            hr_utf8_is_complete(&u);
            if (ok != v->valid)
                fail_msg("vector %zu split at %zu", i, k);
        }
    }
}

/* Byte by byte: invalid bytes are reported at the first byte that makes the
 * input impossible, not only at the end. */
static void test_utf8_fails_fast(void **state)
{
    static const struct {
        const char *s;
        size_t bad_at;
    } cases[] = {
        {"ab\xc0\x80", 2}, {"\xe0\x80", 1}, {"\xed\xa0", 1}, {"\xf4\x90", 1},
        {"\xf5", 0},       {"x\x80", 1},    {"\xc2\x41", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hr_utf8 u;
        hr_utf8_init(&u);
        const size_t n = strlen(cases[i].s);
        for (size_t k = 0; k < n; k++) {
            const bool ok = hr_utf8_feed(&u, (const uint8_t *)cases[i].s + k, 1);
            assert_int_equal(ok, k < cases[i].bad_at);
        }
        /* Sticky. */
        assert_false(hr_utf8_feed(&u, (const uint8_t *)"a", 1));
        assert_false(hr_utf8_is_complete(&u));
    }
}

static void test_utf8_mid_sequence_is_not_complete(void **state)
{
    hr_utf8 u;
    hr_utf8_init(&u);
    assert_true(hr_utf8_is_complete(&u));
    assert_true(hr_utf8_feed(&u, (const uint8_t *)"\xf0\x9f", 2));
    assert_false(hr_utf8_is_complete(&u));
    assert_true(hr_utf8_feed(&u, (const uint8_t *)"\x98", 1));
    assert_false(hr_utf8_is_complete(&u));
    assert_true(hr_utf8_feed(&u, (const uint8_t *)"\x80", 1));
    assert_true(hr_utf8_is_complete(&u));
    assert_true(hr_utf8_feed(&u, NULL, 0));
}

/* Every code point encodes to valid UTF-8; every surrogate is rejected. */
static size_t encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static void test_utf8_all_code_points(void **state)
{
    for (uint32_t cp = 0; cp <= 0x10FFFF + 0x100; cp++) {
        uint8_t buf[4];
        const size_t n = encode(cp, buf);
        const bool expect = cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (hr_utf8_valid(buf, n) != expect)
            fail_msg("code point U+%X", (unsigned)cp);
    }
}

/* All 2-byte sequences agree with a straightforward reference check. */
static void test_utf8_all_two_byte_inputs(void **state)
{
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            const uint8_t in[2] = {(uint8_t)a, (uint8_t)b};
            bool expect;
            if (a < 0x80)
                expect = b < 0x80;
            else
                expect = a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF;
            assert_int_equal(hr_utf8_valid(in, 2), expect);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_vectors),
        cmocka_unit_test(test_utf8_split_everywhere),
        cmocka_unit_test(test_utf8_fails_fast),
        cmocka_unit_test(test_utf8_mid_sequence_is_not_complete),
        cmocka_unit_test(test_utf8_all_code_points),
        cmocka_unit_test(test_utf8_all_two_byte_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

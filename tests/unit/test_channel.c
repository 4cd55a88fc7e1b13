/* Unit tests for lib/proto/channel: names, patterns, access rules, identity
 * construction from gateway headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/channel.h"
#include "proto/utf8.h"

#define S(lit) lit, sizeof(lit) - 1

static bool can(const hr_identity *id, const char *name)
{
    return hr_channel_can_subscribe(id, name, strlen(name));
}

static void test_channel_valid_names(void **state)
{
    (void)state;
    assert_true(hr_channel_is_valid(S("orders")));
    assert_true(hr_channel_is_valid(S("A-z_0.9:@-")));
    assert_true(hr_channel_is_valid(S("x")));
    char name[HR_CHANNEL_MAX + 1];
    memset(name, 'a', sizeof name);
    assert_true(hr_channel_is_valid(name, HR_CHANNEL_MAX));
    assert_false(hr_channel_is_valid(name, HR_CHANNEL_MAX + 1));
    assert_false(hr_channel_is_valid(S("")));
    assert_false(hr_channel_is_valid(NULL, 0));
    assert_false(hr_channel_is_valid(S("a b")));
    assert_false(hr_channel_is_valid(S("a,b")));
    assert_false(hr_channel_is_valid(S("a*")));
    assert_false(hr_channel_is_valid(S("a/b")));
    assert_false(hr_channel_is_valid(S("caf\xc3\xa9")));
    assert_false(hr_channel_is_valid("a\0b", 3));
    assert_false(hr_channel_is_valid(S("\"")));
}

static void test_channel_protected(void **state)
{
    (void)state;
    assert_false(hr_channel_is_protected(S("orders")));
    assert_true(hr_channel_is_protected(S("user:alice")));
    assert_true(hr_channel_is_protected(S("team:42:x")));
    assert_true(hr_channel_is_protected(S(":")));
    assert_true(hr_channel_is_protected(S("private-orders")));
    assert_true(hr_channel_is_protected(S("presence-room")));
    assert_false(hr_channel_is_protected(S("private")));
    assert_false(hr_channel_is_protected(S("presence")));
    assert_false(hr_channel_is_protected(S("my-private-x")));
}

static void test_channel_patterns(void **state)
{
    (void)state;
    assert_true(hr_channel_is_valid_pattern(S("team:42:*")));
    assert_true(hr_channel_is_valid_pattern(S("team:42:x")));
    assert_true(hr_channel_is_valid_pattern(S("*")));
    assert_false(hr_channel_is_valid_pattern(S("**")));
    assert_false(hr_channel_is_valid_pattern(S("a*b")));
    assert_false(hr_channel_is_valid_pattern(S("")));
    assert_false(hr_channel_is_valid_pattern(S("a b*")));
}

static void test_channel_anonymous(void **state)
{
    (void)state;
    hr_identity anon;
    hr_identity_init(&anon);
    assert_true(can(&anon, "orders"));
    assert_true(can(NULL, "orders"));
    assert_false(can(&anon, "user:alice"));
    assert_false(can(NULL, "team:1"));
    assert_false(can(&anon, "bad name"));
    assert_false(can(&anon, ""));
}

static void test_channel_user_channel(void **state)
{
    (void)state;
    hr_identity id;
    assert_int_equal(hr_identity_from_headers(S("alice"), S("user:*,*,user:bob"), &id), 0);
    assert_true(can(&id, "user:alice"));
    /* Claims never grant another user's channel, not even exact or "*". */
    assert_false(can(&id, "user:bob"));
    assert_false(can(&id, "user:alicex"));
    assert_false(can(&id, "user:alic"));
    assert_false(can(&id, "user:"));
    /* The lone "*" grants any other protected name. */
    assert_true(can(&id, "team:1"));
    hr_identity_deinit(&id);

    hr_identity anon_claims;
    assert_int_equal(hr_identity_from_headers(NULL, 0, S("user:alice"), &anon_claims), 0);
    assert_null(anon_claims.user);
    assert_false(can(&anon_claims, "user:alice"));
    hr_identity_deinit(&anon_claims);
}

static void test_channel_claims(void **state)
{
    (void)state;
    hr_identity id;
    assert_int_equal(hr_identity_from_headers(S("u1"), S(" team:42:* , news:vip,, "), &id), 0);
    assert_int_equal(id.n_channels, 2);
    assert_string_equal(id.channels[0], "team:42:*");
    assert_string_equal(id.channels[1], "news:vip");
    assert_true(can(&id, "team:42:x"));
    assert_true(can(&id, "team:42:"));
    assert_false(can(&id, "team:4"));
    assert_false(can(&id, "team:420"));
    assert_true(can(&id, "news:vip"));
    assert_false(can(&id, "news:vipx"));
    assert_false(can(&id, "news:vi"));
    assert_true(can(&id, "public"));
    hr_identity_deinit(&id);
    hr_identity_deinit(&id); /* twice is fine */

    /* Pusher's private-/presence- names need a claim like any protected name. */
    assert_false(can(NULL, "private-orders"));
    assert_false(can(NULL, "presence-room"));
    assert_int_equal(hr_identity_from_headers(S("u1"), S("private-*"), &id), 0);
    assert_true(can(&id, "private-orders"));
    assert_false(can(&id, "presence-room"));
    hr_identity_deinit(&id);
}

static void test_channel_from_headers_errors(void **state)
{
    (void)state;
    hr_identity id;
    assert_int_equal(hr_identity_from_headers(S("al\nice"), NULL, 0, &id), HR_EINVAL);
    assert_int_equal(hr_identity_from_headers(S("al\xffice"), NULL, 0, &id), HR_EINVAL);
    assert_int_equal(hr_identity_from_headers(S("\xc3\xa9l\xc3\xa8ve"), NULL, 0, &id), 0);
    hr_identity_deinit(&id);
    assert_null(id.user);
    assert_int_equal(hr_identity_from_headers(S("alice"), S("ok,bad name"), &id), HR_EINVAL);
    assert_null(id.user);
    assert_int_equal(id.n_channels, 0);
    assert_int_equal(hr_identity_from_headers(S("alice"), S("a**"), &id), HR_EINVAL);
    char big[HR_IDENTITY_USER_MAX + 1];
    memset(big, 'u', sizeof big);
    assert_int_equal(hr_identity_from_headers(big, sizeof big, NULL, 0, &id), HR_EINVAL);
    assert_int_equal(hr_identity_from_headers(big, sizeof big - 1, NULL, 0, &id), 0);
    hr_identity_deinit(&id);
    /* Too many entries. */
    char list[(HR_IDENTITY_CHANNELS_MAX + 1) * 2];
    for (size_t i = 0; i < HR_IDENTITY_CHANNELS_MAX + 1; i++) {
        list[2 * i] = 'a';
        list[2 * i + 1] = ',';
    }
    assert_int_equal(hr_identity_from_headers(NULL, 0, list, sizeof list, &id), HR_EINVAL);
    assert_int_equal(hr_identity_from_headers(NULL, 0, list, sizeof list - 2, &id), 0);
    assert_int_equal(id.n_channels, HR_IDENTITY_CHANNELS_MAX);
    hr_identity_deinit(&id);
}

static void test_channel_copy_and_format(void **state)
{
    (void)state;
    hr_identity id, copy;
    assert_int_equal(hr_identity_from_headers(S("bob"), S("a:*,b:c"), &id), 0);
    assert_int_equal(hr_identity_copy(&id, &copy), 0);
    hr_identity_deinit(&id);
    assert_string_equal(copy.user, "bob");
    char *s = NULL;
    size_t n = 0;
    assert_int_equal(hr_identity_format_channels(&copy, &s, &n), 0);
    assert_string_equal(s, "a:*,b:c");
    assert_int_equal(n, 7);
    /* Round trip through the header form. */
    hr_identity again;
    assert_int_equal(hr_identity_from_headers(copy.user, strlen(copy.user), s, n, &again), 0);
    assert_int_equal(again.n_channels, 2);
    assert_string_equal(again.channels[1], "b:c");
    free(s);
    hr_identity_deinit(&again);
    hr_identity_deinit(&copy);
    hr_identity empty;
    hr_identity_init(&empty);
    assert_int_equal(hr_identity_format_channels(&empty, &s, &n), 0);
    assert_string_equal(s, "");
    assert_int_equal(n, 0);
    free(s);
}

static void test_channel_explain(void **state)
{
    (void)state;
    char out[HR_CHANNEL_EXPLAIN_CAP];
    const char *rule = " (names match [A-Za-z0-9_.:@-]{1,128})";
    char want[256];
    snprintf(want, sizeof want, "\"a b\"%s", rule);
    assert_string_equal(hr_channel_explain("a b", 3, out, sizeof out), want);
    snprintf(want, sizeof want, "\"\"%s", rule);
    assert_string_equal(hr_channel_explain("", 0, out, sizeof out), want);
    /* Control characters and invalid UTF-8 become '?'; valid UTF-8 stays. */
    snprintf(want, sizeof want, "\"a?b?\xc3\xa9??\"%s", rule);
    assert_string_equal(hr_channel_explain("a\nb\xff\xc3\xa9\xe2\x82", 8, out, sizeof out), want);
    /* Longer than shown: cut at 40 bytes with an ellipsis; too long: the size. */
    char name[300];
    memset(name, 'x', sizeof name);
    snprintf(want, sizeof want, "\"%.40s\xe2\x80\xa6\" (300 bytes; names match %s)", name,
             HR_CHANNEL_RULE);
    assert_string_equal(hr_channel_explain(name, sizeof name, out, sizeof out), want);
    name[0] = ' ';
    snprintf(want, sizeof want, "\" %.39s\xe2\x80\xa6\"%s", name + 1, rule);
    assert_string_equal(hr_channel_explain(name, 60, out, sizeof out), want);
    /* A multi-byte character is never cut: 39 'x' then "é" (2 bytes) stops at 39. */
    char mixed[50];
    memset(mixed, 'x', 39);
    memcpy(mixed + 39, "\xc3\xa9zz", 4);
    hr_channel_explain(mixed, 43, out, sizeof out);
    assert_int_equal(strncmp(out + 1 + 39, "\xe2\x80\xa6", 3), 0);
    /* The longest explanation fits, and small buffers are cut safely. */
    char worst[200];
    memset(worst, '\x01', sizeof worst);
    hr_channel_explain(worst, sizeof worst, out, sizeof out);
    assert_true(strlen(out) < sizeof out);
    assert_true(hr_utf8_valid((const uint8_t *)out, strlen(out)));
    char tiny[4];
    assert_string_equal(hr_channel_explain("a b", 3, tiny, sizeof tiny), "\"a ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_valid_names),
        cmocka_unit_test(test_channel_protected),
        cmocka_unit_test(test_channel_patterns),
        cmocka_unit_test(test_channel_anonymous),
        cmocka_unit_test(test_channel_user_channel),
        cmocka_unit_test(test_channel_claims),
        cmocka_unit_test(test_channel_from_headers_errors),
        cmocka_unit_test(test_channel_copy_and_format),
        cmocka_unit_test(test_channel_explain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

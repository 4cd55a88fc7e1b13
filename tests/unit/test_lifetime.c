/* Unit tests for token lifetime and client publish rules: the expiring
 * notice time, refresh refusals, subscriptions a narrower claim ends
 * (lib/proto/lifetime.c), the publish claim and expiry in identities
 * (identity.c, token.c), and the refresh / publish commands and replies
 * (cproto.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/cproto.h"
#include "proto/identity.h"
#include "proto/lifetime.h"
#include "jwt_mint.h"
#include "proto/token.h"

#define S(x) (x), strlen(x)
#define NOW 1700000000L
static const char *secret = "lifetime-secret";

static void test_notice_at(void **state)
{
    (void)state;
    /* Long life: a minute before the end. */
    assert_int_equal(hr_lifetime_notice_at(NOW, NOW + 3600), NOW + 3540);
    /* Short life: half-way, the later of the two. */
    assert_int_equal(hr_lifetime_notice_at(NOW, NOW + 4), NOW + 2);
    assert_int_equal(hr_lifetime_notice_at(NOW, NOW + 100), NOW + 50);
    assert_int_equal(hr_lifetime_notice_at(NOW, NOW + 120), NOW + 60);
    assert_int_equal(hr_lifetime_notice_at(NOW, NOW + 121), NOW + 61);
    /* At or past the end: not after now (the caller closes). */
    assert_true(hr_lifetime_notice_at(NOW, NOW) <= NOW);
    assert_true(hr_lifetime_notice_at(NOW, NOW - 5) <= NOW);
}

static void test_refresh_refusal(void **state)
{
    (void)state;
    hr_identity anon, alice, alice2, bob, nouser;
    hr_identity_init(&anon);
    assert_int_equal(hr_identity_from_headers(S("alice"), NULL, 0, &alice), 0);
    assert_int_equal(hr_identity_from_headers(S("alice"), S("team:*"), &alice2), 0);
    assert_int_equal(hr_identity_from_headers(S("bob"), NULL, 0, &bob), 0);
    assert_int_equal(hr_identity_from_headers(NULL, 0, S("team:*"), &nouser), 0);
    assert_null(hr_lifetime_refresh_refusal(&alice, &alice2));
    assert_string_equal(hr_lifetime_refresh_refusal(&alice, &bob),
                        "the new token names another user");
    assert_string_equal(hr_lifetime_refresh_refusal(&alice, &nouser),
                        "the new token names no user");
    assert_string_equal(hr_lifetime_refresh_refusal(&anon, &alice),
                        "anonymous connections cannot refresh");
    hr_identity_deinit(&alice);
    hr_identity_deinit(&alice2);
    hr_identity_deinit(&bob);
    hr_identity_deinit(&nouser);
}

static void test_lost_channels(void **state)
{
    (void)state;
    hr_identity next;
    assert_int_equal(hr_identity_from_headers(S("alice"), S("team:a:*"), &next), 0);
    const char *subs[] = {"news", "user:alice", "team:a:1", "team:b:x", "user:bob", "plain"};
    const char *lost[6];
    const size_t k = hr_lifetime_lost(&next, subs, 6, lost);
    assert_int_equal(k, 2);
    assert_string_equal(lost[0], "team:b:x");
    assert_string_equal(lost[1], "user:bob");
    hr_identity_deinit(&next);
}

static void test_identity_publish(void **state)
{
    (void)state;
    hr_identity id, anon, copy;
    assert_int_equal(hr_identity_from_headers(S("alice"), NULL, 0, &id), 0);
    assert_int_equal(hr_identity_set_publish(&id, S(" chat:*, news ,,")), 0);
    assert_int_equal(id.n_publish, 2);
    assert_true(hr_identity_may_publish(&id, S("chat:room1")));
    assert_false(hr_identity_may_publish(&id, S("chat")));
    assert_false(hr_identity_may_publish(&id, S("bad name")));
    assert_true(hr_identity_may_publish(&id, S("news")));
    assert_false(hr_identity_may_publish(&id, S("news2")));
    assert_false(hr_identity_may_publish(&id, S("user:bob")));
    /* A bad entry leaves the list unchanged. */
    assert_int_equal(hr_identity_set_publish(&id, S("ok,bad name")), HR_EINVAL);
    assert_int_equal(id.n_publish, 2);
    /* Anonymous never, even with a claim. */
    assert_int_equal(hr_identity_from_headers(NULL, 0, NULL, 0, &anon), 0);
    assert_int_equal(hr_identity_set_publish(&anon, S("*")), 0);
    assert_false(hr_identity_may_publish(&anon, S("news")));
    /* Copy keeps publish and expires; format gives the header back. */
    id.expires = NOW;
    assert_int_equal(hr_identity_copy(&id, &copy), 0);
    assert_int_equal(copy.expires, NOW);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hr_identity_format_publish(&copy, &text, &len), 0);
    assert_string_equal(text, "chat:*,news");
    free(text);
    hr_identity_deinit(&copy);
    hr_identity_deinit(&anon);
    hr_identity_deinit(&id);
}

static void test_identity_expires_header(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(hr_identity_parse_expires(S("1700000000"), &v), 0);
    assert_int_equal(v, NOW);
    assert_int_equal(hr_identity_parse_expires(S(""), &v), HR_EINVAL);
    assert_int_equal(hr_identity_parse_expires(S("0"), &v), HR_EINVAL);
    assert_int_equal(hr_identity_parse_expires(S("-1"), &v), HR_EINVAL);
    assert_int_equal(hr_identity_parse_expires(S("17 "), &v), HR_EINVAL);
    assert_int_equal(hr_identity_parse_expires(S("1234567890123456"), &v), HR_EINVAL);
}

static char *token(const char *claims)
{
    return mint_hs256(secret, claims);
}

static void test_token_claims(void **state)
{
    (void)state;
    hr_token_cfg cfg = {.allow_hs256 = true,
                        .secret = (const uint8_t *)secret,
                        .secret_len = strlen(secret),
                        .leeway_s = 30};
    hr_identity id;
    const char *why = NULL;
    char *t = token("{\"sub\":\"alice\",\"exp\":1700000010,\"publish\":[\"chat:*\",\"x\"]}");
    assert_int_equal(hr_token_verify(&cfg, t, strlen(t), NOW, &id, &why), 0);
    assert_int_equal(id.expires, NOW + 10 + 30); /* exp + leeway */
    assert_int_equal(id.n_publish, 2);
    assert_string_equal(id.publish[0], "chat:*");
    hr_identity_deinit(&id);
    free(t);
    t = token("{\"sub\":\"alice\"}");
    assert_int_equal(hr_token_verify(&cfg, t, strlen(t), NOW, &id, &why), 0);
    assert_int_equal(id.expires, 0);
    hr_identity_deinit(&id);
    free(t);
    t = token("{\"sub\":\"alice\",\"publish\":\"chat:*\"}");
    assert_int_equal(hr_token_verify(&cfg, t, strlen(t), NOW, &id, &why), HR_EDENIED);
    assert_string_equal(why, "bad publish claim");
    free(t);
    t = token("{\"sub\":\"alice\",\"publish\":[\"bad name\"]}");
    assert_int_equal(hr_token_verify(&cfg, t, strlen(t), NOW, &id, &why), HR_EDENIED);
    assert_string_equal(why, "bad publish claim");
    free(t);
}

static int parse(const char *text, hr_cmd *cmd, hr_cproto_error *err)
{
    return hr_cproto_parse((const uint8_t *)text, strlen(text), 8, cmd, err);
}

static void test_cproto_refresh_publish(void **state)
{
    (void)state;
    hr_cmd cmd;
    hr_cproto_error err;
    assert_int_equal(parse("{\"type\":\"refresh\",\"token\":\"a.b.c\",\"ref\":\"4\"}", &cmd, &err),
                     0);
    assert_int_equal(cmd.type, HR_CMD_REFRESH);
    assert_string_equal(cmd.token, "a.b.c");
    assert_false(cmd.has_identity);
    assert_string_equal(cmd.ref, "4");
    hr_cmd_deinit(&cmd);
    assert_int_equal(parse("{\"type\":\"refresh\",\"ref\":\"4\"}", &cmd, &err), HR_EINVAL);
    assert_string_equal(err.code, "bad_request");
    assert_int_equal(parse("{\"type\":\"refresh\",\"token\":\"\"}", &cmd, &err), HR_EINVAL);
    assert_int_equal(
        parse("{\"type\":\"refresh\",\"identity\":{\"user\":\"al\",\"channels\":\"a,b:*"
              "\",\"publish\":\"c\",\"expires\":1700000000}}",
              &cmd, &err),
        0);
    assert_true(cmd.has_identity);
    assert_string_equal(cmd.id_user, "al");
    assert_string_equal(cmd.id_channels, "a,b:*");
    assert_string_equal(cmd.id_publish, "c");
    assert_int_equal(cmd.id_expires, NOW);
    hr_cmd_deinit(&cmd);
    assert_int_equal(
        parse("{\"type\":\"refresh\",\"identity\":{\"user\":\"al\",\"expires\":null}}", &cmd, &err),
        0);
    assert_int_equal(cmd.id_expires, 0);
    assert_null(cmd.id_channels);
    hr_cmd_deinit(&cmd);
    assert_int_equal(parse("{\"type\":\"refresh\",\"identity\":{\"expires\":1}}", &cmd, &err),
                     HR_EINVAL);
    assert_int_equal(
        parse("{\"type\":\"refresh\",\"identity\":{\"user\":\"a\",\"expires\":-1}}", &cmd, &err),
        HR_EINVAL);

    assert_int_equal(parse("{\"type\":\"publish\",\"channel\":\"chat:1\",\"data\":{ \"a\" : [1, 2] "
                           "},\"ref\":\"5\"}",
                           &cmd, &err),
                     0);
    assert_int_equal(cmd.type, HR_CMD_PUBLISH);
    assert_int_equal(cmd.n_channels, 1);
    assert_string_equal(cmd.channels[0], "chat:1");
    assert_string_equal(cmd.data, "{\"a\":[1,2]}");
    assert_int_equal(cmd.data_len, strlen(cmd.data));
    hr_cmd_deinit(&cmd);
    assert_int_equal(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":null}", &cmd, &err),
                     0);
    assert_string_equal(cmd.data, "null");
    hr_cmd_deinit(&cmd);
    assert_int_equal(parse("{\"type\":\"publish\",\"channel\":\"c\"}", &cmd, &err), HR_EINVAL);
    assert_int_equal(
        parse("{\"type\":\"publish\",\"channel\":\"bad name\",\"data\":1}", &cmd, &err), HR_EINVAL);
}

static void test_cproto_lifetime_writers(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(hr_cproto_write_expiring(59, &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"expiring\",\"in\":59}");
    free(out);
    assert_int_equal(hr_cproto_write_refreshed(NOW, "4", &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"refreshed\",\"expires\":1700000000,\"ref\":\"4\"}");
    free(out);
    assert_int_equal(hr_cproto_write_refreshed(0, NULL, &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"refreshed\",\"expires\":null}");
    free(out);
    assert_int_equal(hr_cproto_write_published("1-0", "5", &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"published\",\"id\":\"1-0\",\"ref\":\"5\"}");
    free(out);
    const char *lost[] = {"team:b:x"};
    assert_int_equal(hr_cproto_write_unsubscribed_reason(lost, 1, "forbidden", &out, &len), 0);
    assert_string_equal(
        out, "{\"type\":\"unsubscribed\",\"channels\":[\"team:b:x\"],\"reason\":\"forbidden\"}");
    free(out);
    assert_int_equal(hr_cproto_write_refresh_identity("al", "a:*", NULL, NOW, "r", &out, &len), 0);
    assert_string_equal(out, "{\"type\":\"refresh\",\"identity\":{\"user\":\"al\",\"channels\":"
                             "\"a:*\",\"expires\":1700000000},\"ref\":\"r\"}");
    /* The notifier reads back what the gateway wrote. */
    hr_cmd cmd;
    assert_int_equal(hr_cproto_parse((const uint8_t *)out, len, 8, &cmd, NULL), 0);
    assert_true(cmd.has_identity);
    assert_int_equal(cmd.id_expires, NOW);
    hr_cmd_deinit(&cmd);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notice_at),
        cmocka_unit_test(test_refresh_refusal),
        cmocka_unit_test(test_lost_channels),
        cmocka_unit_test(test_identity_publish),
        cmocka_unit_test(test_identity_expires_header),
        cmocka_unit_test(test_token_claims),
        cmocka_unit_test(test_cproto_refresh_publish),
        cmocka_unit_test(test_cproto_lifetime_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

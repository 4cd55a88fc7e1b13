/* Unit tests for the gateway's refresh interception (src/gateway/
 * refresh.c): other messages pass untouched, a valid token for the same
 * user goes up as the proxy identity form, everything else is answered down
 * (wrong user, anonymous, bad token, a client's own identity form, also
 * spelt with escapes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "gateway/refresh.h"
#include "jwt_mint.h"

#define NOW 1700000000L
static const char *secret = "gw-refresh-secret";

static char *token(const char *claims)
{
    return mint_hs256(secret, claims);
}

static hr_token_cfg cfg(void)
{
    return (hr_token_cfg){.allow_hs256 = true,
                          .secret = (const uint8_t *)secret,
                          .secret_len = strlen(secret),
                          .leeway_s = 5};
}

static int run(const char *user, const char *msg, char **out)
{
    const hr_token_cfg c = cfg();
    size_t len = 0;
    const int v = gw_refresh_rewrite(&c, user, (const uint8_t *)msg, strlen(msg), NOW, out, &len);
    if (*out != NULL)
        assert_int_equal(len, strlen(*out));
    return v;
}

static char *refresh_msg(const char *claims)
{
    char *t = token(claims);
    char *m = malloc(strlen(t) + 64);
    assert_non_null(m);
    sprintf(m, "{\"type\":\"refresh\",\"token\":\"%s\",\"ref\":\"4\"}", t);
    free(t);
    return m;
}

static void test_gw_refresh_pass(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(run("alice", "{\"type\":\"subscribe\",\"channels\":[\"a\"]}", &out),
                     GW_REFRESH_PASS);
    assert_null(out);
    /* Mentions refresh, but is not one: the notifier answers it. */
    assert_int_equal(run("alice", "{\"type\":\"subscribe\",\"channels\":[\"refresh\"]}", &out),
                     GW_REFRESH_PASS);
    assert_int_equal(run("alice", "not json refresh", &out), GW_REFRESH_PASS);
    assert_null(out);
}

static void test_gw_refresh_up(void **state)
{
    (void)state;
    char *m = refresh_msg("{\"sub\":\"alice\",\"exp\":1700000100,\"channels\":[\"t:*\"],"
                          "\"publish\":[\"chat:*\"]}");
    char *out = NULL;
    assert_int_equal(run("alice", m, &out), GW_REFRESH_UP);
    assert_string_equal(out,
                        "{\"type\":\"refresh\",\"identity\":{\"user\":\"alice\",\"channels\":"
                        "\"t:*\",\"publish\":\"chat:*\",\"expires\":1700000105},\"ref\":\"4\"}");
    free(out);
    free(m);
}

static void test_gw_refresh_down(void **state)
{
    (void)state;
    char *out = NULL;
    char *m = refresh_msg("{\"sub\":\"bob\",\"exp\":1700000100}");
    assert_int_equal(run("alice", m, &out), GW_REFRESH_DOWN);
    assert_string_equal(out,
                        "{\"type\":\"error\",\"code\":\"forbidden\",\"message\":\"the new token "
                        "names another user\",\"ref\":\"4\"}");
    free(out);
    assert_int_equal(run("", m, &out), GW_REFRESH_DOWN); /* anonymous */
    assert_non_null(strstr(out, "anonymous connections cannot refresh"));
    free(out);
    free(m);
    m = refresh_msg("{\"sub\":\"alice\",\"exp\":1600000000}");
    assert_int_equal(run("alice", m, &out), GW_REFRESH_DOWN);
    assert_non_null(strstr(out, "token refused: expired"));
    free(out);
    free(m);
    /* A client's own identity form never goes up, however it is spelt. */
    assert_int_equal(
        run("alice", "{\"type\":\"refresh\",\"identity\":{\"user\":\"alice\",\"channels\":\"*\"}}",
            &out),
        GW_REFRESH_DOWN);
    assert_non_null(strstr(out, "forbidden"));
    free(out);
    assert_int_equal(run("alice",
                         "{\"type\":\"\\u0072efresh\",\"identity\":{\"user\":\"alice\","
                         "\"channels\":\"*\"}}",
                         &out),
                     GW_REFRESH_DOWN);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_refresh_pass),
        cmocka_unit_test(test_gw_refresh_up),
        cmocka_unit_test(test_gw_refresh_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

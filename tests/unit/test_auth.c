/* Unit tests for src/notifier/auth: CIDRs and the identity decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "jwt_mint.h"
#include "notifier/auth.h"

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
    }
    return ss;
}

static bool match(const char *cidr, const char *ip)
{
    nf_cidr c;
    assert_int_equal(nf_cidr_parse(cidr, &c), 0);
    const struct sockaddr_storage ss = addr(ip);
    return nf_cidr_match(&c, (const struct sockaddr *)&ss);
}

static void test_auth_cidr_parse(void **state)
{
    (void)state;
    static const char *const bad[] = {"",           "/8",           "10.0.0.0/",   "10.0.0.0/33",
                                      "::1/129",    "10.0.0/8",     "10.0.0.0/8x", "host/8",
                                      "1.2.3.4/-1", "10.0.0.0/0008"};
    nf_cidr c;
    for (size_t i = 0; i < HR_ARRAY_LEN(bad); i++)
        assert_int_equal(nf_cidr_parse(bad[i], &c), HR_EINVAL);
    assert_int_equal(nf_cidr_parse("10.1.2.3/8", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_int_equal(c.addr[1], 0); /* host bits cleared */
    assert_int_equal(nf_cidr_parse("::1", &c), 0);
    assert_int_equal(c.prefix, 128);
}

static void test_auth_cidr_match(void **state)
{
    (void)state;
    assert_true(match("127.0.0.1/32", "127.0.0.1"));
    assert_false(match("127.0.0.1/32", "127.0.0.2"));
    assert_true(match("10.0.0.0/8", "10.255.1.2"));
    assert_false(match("10.0.0.0/8", "11.0.0.1"));
    assert_true(match("192.168.4.0/22", "192.168.7.255"));
    assert_false(match("192.168.4.0/22", "192.168.8.0"));
    assert_true(match("0.0.0.0/0", "8.8.8.8"));
    assert_true(match("::1/128", "::1"));
    assert_false(match("::1/128", "::2"));
    assert_true(match("fd00::/8", "fd12:3456::1"));
    assert_false(match("fd00::/8", "fe80::1"));
    /* IPv4 peers on a dual-stack socket. */
    assert_true(match("10.0.0.0/8", "::ffff:10.9.8.7"));
    assert_false(match("10.0.0.0/8", "::ffff:11.9.8.7"));
    assert_false(match("::1/128", "127.0.0.1"));
}

/* A request head with target and up to two headers. */
static hr_http_head head_with(const char *target, const char *n1, const char *v1, const char *n2,
                              const char *v2)
{
    hr_http_head h;
    memset(&h, 0, sizeof h);
    h.target = target;
    h.target_len = strlen(target);
    const char *names[] = {n1, n2}, *values[] = {v1, v2};
    for (size_t i = 0; i < 2; i++) {
        if (names[i] == NULL)
            continue;
        h.headers[h.n_headers++] =
            (hr_http_header){names[i], strlen(names[i]), values[i], strlen(values[i])};
    }
    return h;
}

static void test_auth_trusted_proxy_headers(void **state)
{
    (void)state;
    nf_cidr proxy;
    assert_int_equal(nf_cidr_parse("10.0.0.0/8", &proxy), 0);
    nf_auth a;
    nf_auth_init(&a, NULL, NULL, 0, &proxy, 1);
    const struct sockaddr_storage trusted = addr("10.1.1.1"), other = addr("192.0.2.1");
    hr_http_head h = head_with("/ws?token=whatever", "X-Herald-User", "alice", "X-Herald-Channels",
                               "team:*, org:1");
    hr_identity id;
    const char *why;
    /* From the proxy: the headers win, the token is ignored. */
    assert_int_equal(nf_auth_identify(&a, (const struct sockaddr *)&trusted, &h, 0, &id, &why), 0);
    assert_string_equal(id.user, "alice");
    assert_int_equal(id.n_channels, 2);
    hr_identity_deinit(&id);
    /* From elsewhere: headers ignored; the token needs a key -> 401. */
    assert_int_equal(nf_auth_identify(&a, (const struct sockaddr *)&other, &h, 0, &id, &why), 401);
    assert_null(id.user);
    h = head_with("/ws", "X-Herald-User", "alice", NULL, NULL);
    assert_int_equal(nf_auth_identify(&a, (const struct sockaddr *)&other, &h, 0, &id, &why), 0);
    assert_null(id.user);
    /* Malformed headers from the proxy -> 400. */
    h = head_with("/ws", "X-Herald-User", "alice", "X-Herald-Channels", "bad name");
    assert_int_equal(nf_auth_identify(&a, (const struct sockaddr *)&trusted, &h, 0, &id, &why),
                     400);
}

static void test_auth_tokens(void **state)
{
    (void)state;
    nf_auth a;
    nf_auth_init(&a, "s3cret", NULL, 0, NULL, 0);
    const struct sockaddr_storage peer = addr("127.0.0.1");
    const struct sockaddr *sa = (const struct sockaddr *)&peer;
    char *good = mint_hs256("s3cret", "{\"sub\":\"bob\",\"exp\":2000000000}");
    char *wrong = mint_hs256("other", "{\"sub\":\"bob\",\"exp\":2000000000}");
    char target[1024], bearer[1024];
    hr_identity id;
    const char *why;

    snprintf(target, sizeof target, "/ws?channels=a&token=%s", good);
    hr_http_head h = head_with(target, NULL, NULL, NULL, NULL);
    assert_int_equal(nf_auth_identify(&a, sa, &h, 1700000000, &id, &why), 0);
    assert_string_equal(id.user, "bob");
    hr_identity_deinit(&id);
    /* Expired at this clock. */
    assert_int_equal(nf_auth_identify(&a, sa, &h, 2100000000, &id, &why), 401);

    snprintf(bearer, sizeof bearer, "Bearer %s", good);
    h = head_with("/ws", "Authorization", bearer, NULL, NULL);
    assert_int_equal(nf_auth_identify(&a, sa, &h, 1700000000, &id, &why), 0);
    hr_identity_deinit(&id);

    snprintf(target, sizeof target, "/ws?token=%s", wrong);
    h = head_with(target, NULL, NULL, NULL, NULL);
    assert_int_equal(nf_auth_identify(&a, sa, &h, 1700000000, &id, &why), 401);
    h = head_with("/ws?token=", NULL, NULL, NULL, NULL);
    assert_int_equal(nf_auth_identify(&a, sa, &h, 1700000000, &id, &why), 401);
    h = head_with("/ws", "Authorization", "Basic Zm9vOmJhcg==", NULL, NULL);
    assert_int_equal(nf_auth_identify(&a, sa, &h, 1700000000, &id, &why), 401);
    h = head_with("/ws", NULL, NULL, NULL, NULL);
    assert_int_equal(nf_auth_identify(&a, sa, &h, 1700000000, &id, &why), 0);
    assert_null(id.user);

    /* No key configured: a token is refused, not ignored. */
    nf_auth none;
    nf_auth_init(&none, NULL, NULL, 0, NULL, 0);
    snprintf(target, sizeof target, "/ws?token=%s", good);
    h = head_with(target, NULL, NULL, NULL, NULL);
    assert_int_equal(nf_auth_identify(&none, sa, &h, 1700000000, &id, &why), 401);
    free(good);
    free(wrong);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_cidr_parse),
        cmocka_unit_test(test_auth_cidr_match),
        cmocka_unit_test(test_auth_trusted_proxy_headers),
        cmocka_unit_test(test_auth_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

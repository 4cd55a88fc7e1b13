/* Unit tests for lib/proto/token: JWT verification with HS256, RS256 and
 * ES256 (keys generated here with OpenSSL), every refusal reason, alg none,
 * key confusion, tampering, exp/nbf with leeway, claim types, bearer parsing.
 * Tokens are made two ways: libjwt's encoder for the real algorithms, and by
 * hand (base64url + HMAC) to craft headers and claims libjwt would not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "jwt_mint.h"
#include "proto/token.h"

#define NOW 1700000000
#define SECRET "s3cret-s3cret-s3cret-s3cret-1234"

typedef struct keys {
    char *rsa_priv, *rsa_pub, *rsa2_pub, *ec_priv, *ec_pub;
} keys;

static keys K;

static char *bio_string(BIO *b)
{
    char *data = NULL;
    const long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

static void pem_pair(EVP_PKEY *k, char **priv, char **pub)
{
    assert_non_null(k);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    *priv = bio_string(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    *pub = bio_string(b);
    BIO_free(b);
    EVP_PKEY_free(k);
}

static int setup_keys(void **state)
{
    (void)state;
    pem_pair(EVP_RSA_gen(2048), &K.rsa_priv, &K.rsa_pub);
    char *unused = NULL;
    pem_pair(EVP_RSA_gen(2048), &unused, &K.rsa2_pub);
    free(unused);
    pem_pair(EVP_EC_gen("P-256"), &K.ec_priv, &K.ec_pub);
    return 0;
}

static int teardown_keys(void **state)
{
    (void)state;
    free(K.rsa_priv);
    free(K.rsa_pub);
    free(K.rsa2_pub);
    free(K.ec_priv);
    free(K.ec_pub);
    return 0;
}

static hr_token_cfg hs_cfg(void)
{
    return (hr_token_cfg){
        .allow_hs256 = true, .secret = (const uint8_t *)SECRET, .secret_len = strlen(SECRET)};
}

static hr_token_cfg pem_cfg(const char *pub, bool rs, bool es)
{
    return (hr_token_cfg){.allow_rs256 = rs,
                          .allow_es256 = es,
                          .public_key_pem = (const uint8_t *)pub,
                          .public_key_len = strlen(pub)};
}

static void b64url(const uint8_t *p, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                           (i + 2 < n ? p[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = tab[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = tab[v & 63];
    }
    out[o] = '\0';
}

/* Hand-made HS256-style token over any header and payload, signed with key
 * (NULL: the given literal signature part, e.g. "" for alg none). */
static char *hand_token(const char *header, const char *payload, const char *key, size_t key_len,
                        const char *sig_part)
{
    const size_t hl = strlen(header), pl = strlen(payload);
    char *t = malloc(2 * (hl + pl) + 200);
    assert_non_null(t);
    b64url((const uint8_t *)header, hl, t);
    strcat(t, ".");
    b64url((const uint8_t *)payload, pl, t + strlen(t));
    if (key == NULL) {
        strcat(t, ".");
        strcat(t, sig_part);
        return t;
    }
    uint8_t mac[32];
    unsigned int mlen = 0;
    HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)t, strlen(t), mac, &mlen);
    strcat(t, ".");
    b64url(mac, mlen, t + strlen(t));
    return t;
}

static char *hs_tok(const char *payload)
{
    return hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SECRET, strlen(SECRET), NULL);
}

/* Verifies t with cfg at NOW; returns why (NULL when accepted) and frees t. */
static const char *check(const hr_token_cfg *cfg, char *t, hr_identity *id)
{
    const char *why = "unset";
    hr_identity local;
    hr_identity *out = id != NULL ? id : &local;
    /* Exactly sized copy, no NUL: the verifier must not read past len. */
    const size_t n = strlen(t);
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, t, n);
    const int rc = hr_token_verify(cfg, copy, n, NOW, out, &why);
    free(copy);
    free(t);
    if (rc == 0) {
        assert_null(why);
        if (id == NULL)
            hr_identity_deinit(&local);
        return NULL;
    }
    assert_int_equal(rc, HR_EDENIED);
    assert_null(out->user);
    assert_int_equal(out->n_channels, 0);
    return why;
}

static void test_token_hs256_ok(void **state)
{
    (void)state;
    const hr_token_cfg cfg = hs_cfg();
    hr_identity id;
    assert_null(check(&cfg,
                      mint_token(JWT_ALG_HS256, SECRET, strlen(SECRET),
                                 "{\"sub\":\"alice\",\"exp\":1700000100,"
                                 "\"channels\":[\"team:42:*\",\"news:vip\"]}"),
                      &id));
    assert_string_equal(id.user, "alice");
    assert_int_equal(id.n_channels, 2);
    assert_string_equal(id.channels[0], "team:42:*");
    assert_true(hr_channel_can_subscribe(&id, "team:42:x", 9));
    assert_true(hr_channel_can_subscribe(&id, "user:alice", 10));
    hr_identity_deinit(&id);
    /* No sub: anonymous, claims kept. */
    assert_null(check(&cfg, hs_tok("{\"channels\":[\"a:b\"]}"), &id));
    assert_null(id.user);
    assert_int_equal(id.n_channels, 1);
    hr_identity_deinit(&id);
    /* No claims at all. */
    assert_null(check(&cfg, hs_tok("{}"), &id));
    assert_null(id.user);
    hr_identity_deinit(&id);
}

static void test_token_rs256_es256_ok(void **state)
{
    (void)state;
    hr_token_cfg cfg = pem_cfg(K.rsa_pub, true, false);
    hr_identity id;
    assert_null(check(
        &cfg, mint_token(JWT_ALG_RS256, K.rsa_priv, strlen(K.rsa_priv), "{\"sub\":\"bob\"}"), &id));
    assert_string_equal(id.user, "bob");
    hr_identity_deinit(&id);
    cfg = pem_cfg(K.ec_pub, false, true);
    assert_null(check(
        &cfg, mint_token(JWT_ALG_ES256, K.ec_priv, strlen(K.ec_priv), "{\"sub\":\"carol\"}"), &id));
    assert_string_equal(id.user, "carol");
    hr_identity_deinit(&id);
}

static void test_token_alg_none(void **state)
{
    (void)state;
    const hr_token_cfg hs = hs_cfg();
    const hr_token_cfg rs = pem_cfg(K.rsa_pub, true, true);
    const char *none = "{\"alg\":\"none\"}";
    assert_string_equal(check(&hs, hand_token(none, "{\"sub\":\"a\"}", NULL, 0, ""), NULL),
                        "algorithm not allowed");
    assert_string_equal(check(&rs, hand_token(none, "{\"sub\":\"a\"}", NULL, 0, ""), NULL),
                        "algorithm not allowed");
    assert_string_equal(check(&hs, hand_token(none, "{\"sub\":\"a\"}", NULL, 0, "AAAA"), NULL),
                        "algorithm not allowed");
    assert_string_equal(check(&hs, hand_token("{\"alg\":\"None\"}", "{}", NULL, 0, ""), NULL),
                        "algorithm not allowed");
    /* libjwt's own alg none token (it writes no signature). */
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grant(j, "sub", "admin"), 0);
    char *t = jwt_encode_str(j);
    jwt_free(j);
    assert_string_equal(check(&hs, t, NULL), "algorithm not allowed");
}

static void test_token_alg_allow_list(void **state)
{
    (void)state;
    const hr_token_cfg hs = hs_cfg();
    assert_string_equal(
        check(&hs, hand_token("{\"alg\":\"HS512\"}", "{}", SECRET, strlen(SECRET), NULL), NULL),
        "algorithm not allowed");
    assert_string_equal(
        check(&hs, hand_token("{\"alg\":\"hs256\"}", "{}", SECRET, strlen(SECRET), NULL), NULL),
        "algorithm not allowed");
    assert_string_equal(
        check(&hs, hand_token("{\"typ\":\"JWT\"}", "{}", SECRET, strlen(SECRET), NULL), NULL),
        "algorithm not allowed");
    assert_string_equal(
        check(&hs, hand_token("{\"alg\":256}", "{}", SECRET, strlen(SECRET), NULL), NULL),
        "algorithm not allowed");
    /* Allowed kind but flag off. */
    hr_token_cfg off = hs;
    off.allow_hs256 = false;
    assert_string_equal(check(&off, hs_tok("{}"), NULL), "algorithm not allowed");
    /* RS256 token where only ES256 is allowed, and vice versa. */
    hr_token_cfg es_only = pem_cfg(K.rsa_pub, false, true);
    assert_string_equal(
        check(&es_only, mint_token(JWT_ALG_RS256, K.rsa_priv, strlen(K.rsa_priv), "{}"), NULL),
        "algorithm not allowed");
    /* RS256 allowed but no key configured at all. */
    hr_token_cfg no_key = {.allow_rs256 = true};
    assert_string_equal(
        check(&no_key, mint_token(JWT_ALG_RS256, K.rsa_priv, strlen(K.rsa_priv), "{}"), NULL),
        "algorithm not allowed");
}

static void test_token_key_confusion(void **state)
{
    (void)state;
    /* The classic attack: HS256 "signed" with the server's public key. */
    char *forged = hand_token("{\"alg\":\"HS256\"}", "{\"sub\":\"admin\"}", K.rsa_pub,
                              strlen(K.rsa_pub), NULL);
    char *forged2 = strdup(forged);
    assert_non_null(forged2);
    /* Public key configured, even with the HS256 flag on: no secret, refused. */
    hr_token_cfg cfg = pem_cfg(K.rsa_pub, true, true);
    cfg.allow_hs256 = true;
    assert_string_equal(check(&cfg, forged, NULL), "algorithm not allowed");
    /* With a real secret too, HS256 is checked against the secret only. */
    cfg.secret = (const uint8_t *)SECRET;
    cfg.secret_len = strlen(SECRET);
    assert_string_equal(check(&cfg, forged2, NULL), "bad signature");
    /* ES256 token checked against an RSA key: refused. */
    hr_token_cfg mismatched = pem_cfg(K.rsa_pub, true, true);
    assert_string_equal(
        check(&mismatched, mint_token(JWT_ALG_ES256, K.ec_priv, strlen(K.ec_priv), "{}"), NULL),
        "bad signature");
}

static void test_token_bad_signature(void **state)
{
    (void)state;
    const hr_token_cfg hs = hs_cfg();
    assert_string_equal(
        check(&hs, hand_token("{\"alg\":\"HS256\"}", "{\"sub\":\"a\"}", "other", 5, NULL), NULL),
        "bad signature");
    /* Tampered payload: re-encode another payload under the old signature. */
    char *good = hs_tok("{\"sub\":\"alice\"}");
    char *evil = hs_tok("{\"sub\":\"admin\"}");
    char *gsig = strrchr(good, '.');
    char *esig = strrchr(evil, '.');
    assert_int_equal(strlen(gsig), strlen(esig));
    memcpy(esig, gsig, strlen(gsig));
    free(good);
    assert_string_equal(check(&hs, evil, NULL), "bad signature");
    /* Flipped signature byte; empty signature. */
    char *t = hs_tok("{}");
    char *last = t + strlen(t) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    assert_string_equal(check(&hs, t, NULL), "bad signature");
    t = hs_tok("{}");
    *(strrchr(t, '.') + 1) = '\0';
    assert_string_equal(check(&hs, t, NULL), "bad signature");
    /* RS256 against another RSA key. */
    const hr_token_cfg rs2 = pem_cfg(K.rsa2_pub, true, false);
    assert_string_equal(
        check(&rs2, mint_token(JWT_ALG_RS256, K.rsa_priv, strlen(K.rsa_priv), "{}"), NULL),
        "bad signature");
}

static void test_token_exp_nbf(void **state)
{
    (void)state;
    hr_token_cfg cfg = hs_cfg();
    assert_string_equal(check(&cfg, hs_tok("{\"exp\":1699999990}"), NULL), "expired");
    assert_string_equal(check(&cfg, hs_tok("{\"exp\":1700000000}"), NULL), "expired");
    assert_null(check(&cfg, hs_tok("{\"exp\":1700000001}"), NULL));
    assert_null(check(&cfg, hs_tok("{\"exp\":1700000000.5}"), NULL));
    assert_string_equal(check(&cfg, hs_tok("{\"nbf\":1700000001}"), NULL), "not yet valid");
    assert_null(check(&cfg, hs_tok("{\"nbf\":1700000000}"), NULL));
    cfg.leeway_s = 30;
    assert_null(check(&cfg, hs_tok("{\"exp\":1699999990}"), NULL));
    assert_string_equal(check(&cfg, hs_tok("{\"exp\":1699999970}"), NULL), "expired");
    assert_null(check(&cfg, hs_tok("{\"nbf\":1700000030}"), NULL));
    assert_string_equal(check(&cfg, hs_tok("{\"nbf\":1700000031}"), NULL), "not yet valid");
    /* Wrong types are malformed, not ignored. */
    assert_string_equal(check(&cfg, hs_tok("{\"exp\":\"1800000000\"}"), NULL), "malformed");
    assert_string_equal(check(&cfg, hs_tok("{\"nbf\":null}"), NULL), "malformed");
    /* Extreme values do not overflow. */
    assert_null(check(&cfg, hs_tok("{\"exp\":9223372036854775807}"), NULL));
    assert_string_equal(check(&cfg, hs_tok("{\"exp\":-9223372036854775807}"), NULL), "expired");
    cfg.leeway_s = -5; /* treated as 0 */
    assert_string_equal(check(&cfg, hs_tok("{\"exp\":1700000000}"), NULL), "expired");
}

static void test_token_iss_aud(void **state)
{
    (void)state;
    hr_token_cfg cfg = hs_cfg();
    cfg.issuer = "https://auth.example";
    cfg.audience = "herald";
    assert_null(check(&cfg, hs_tok("{\"iss\":\"https://auth.example\",\"aud\":\"herald\"}"), NULL));
    assert_null(
        check(&cfg, hs_tok("{\"iss\":\"https://auth.example\",\"aud\":[\"x\",\"herald\"]}"), NULL));
    assert_string_equal(check(&cfg, hs_tok("{\"iss\":\"https://evil\",\"aud\":\"herald\"}"), NULL),
                        "wrong issuer");
    assert_string_equal(check(&cfg, hs_tok("{\"aud\":\"herald\"}"), NULL), "wrong issuer");
    assert_string_equal(
        check(&cfg, hs_tok("{\"iss\":\"https://auth.example\",\"aud\":\"other\"}"), NULL),
        "wrong audience");
    assert_string_equal(
        check(&cfg, hs_tok("{\"iss\":\"https://auth.example\",\"aud\":[\"x\",1]}"), NULL),
        "wrong audience");
    assert_string_equal(check(&cfg, hs_tok("{\"iss\":\"https://auth.example\"}"), NULL),
                        "wrong audience");
    /* Unchecked when not configured. */
    const hr_token_cfg plain = hs_cfg();
    assert_null(check(&plain, hs_tok("{\"iss\":1,\"aud\":{}}"), NULL));
}

static void test_token_claim_types(void **state)
{
    (void)state;
    const hr_token_cfg cfg = hs_cfg();
    assert_string_equal(check(&cfg, hs_tok("{\"channels\":\"a:b\"}"), NULL), "bad channels claim");
    assert_string_equal(check(&cfg, hs_tok("{\"channels\":[\"a\",1]}"), NULL),
                        "bad channels claim");
    assert_string_equal(check(&cfg, hs_tok("{\"channels\":[\"a b\"]}"), NULL),
                        "bad channels claim");
    assert_string_equal(check(&cfg, hs_tok("{\"channels\":[\"a,b\"]}"), NULL),
                        "bad channels claim");
    assert_null(check(&cfg, hs_tok("{\"channels\":[]}"), NULL));
    assert_string_equal(check(&cfg, hs_tok("{\"sub\":1}"), NULL), "malformed");
    assert_string_equal(check(&cfg, hs_tok("{\"sub\":\"\"}"), NULL), "malformed");
    assert_string_equal(check(&cfg, hs_tok("{\"sub\":\"a\\r\\nX-Evil: 1\"}"), NULL), "malformed");
    assert_string_equal(check(&cfg, hs_tok("[1]"), NULL), "malformed");
    assert_string_equal(check(&cfg, hs_tok("{\"a\":1,\"a\":2}"), NULL), "malformed");
    hr_identity id;
    assert_null(check(&cfg, hs_tok("{\"sub\":\"\\u00e9l\\u00e8ve\"}"), &id));
    assert_string_equal(id.user, "\xc3\xa9l\xc3\xa8ve");
    hr_identity_deinit(&id);
}

static void test_token_malformed(void **state)
{
    (void)state;
    const hr_token_cfg cfg = hs_cfg();
    const char *bad[] = {"",
                         "a",
                         "a.b",
                         "a.b.c.d",
                         ".b.c",
                         "a..c",
                         "a.b.c d",
                         "a+b.c.d",
                         "e30=.e30.AAAA",
                         "e30.e30x.AAAA",
                         "bm90IGpzb24.e30.AAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t = strdup(bad[i]);
        assert_non_null(t);
        assert_string_equal(check(&cfg, t, NULL), "malformed");
    }
    /* Over the size cap, even if otherwise fine. */
    char *payload = malloc(HR_TOKEN_MAX);
    assert_non_null(payload);
    memset(payload, 0, HR_TOKEN_MAX);
    strcpy(payload, "{\"pad\":\"");
    memset(payload + 8, 'x', HR_TOKEN_MAX - 20);
    strcat(payload, "\"}");
    assert_string_equal(check(&cfg, hs_tok(payload), NULL), "malformed");
    free(payload);
    const char *why = NULL;
    hr_identity id;
    assert_int_equal(hr_token_verify(NULL, "a.b.c", 5, NOW, &id, &why), HR_EDENIED);
    assert_int_equal(hr_token_verify(&cfg, NULL, 0, NOW, &id, NULL), HR_EDENIED);
}

static void test_token_bearer(void **state)
{
    (void)state;
    const char *tok = NULL;
    size_t n = 0;
    const char *v = "Bearer abc.def.ghi";
    assert_true(hr_token_from_bearer(v, strlen(v), &tok, &n));
    assert_int_equal(n, 11);
    assert_memory_equal(tok, "abc.def.ghi", 11);
    v = "  bearer \t xyz  ";
    assert_true(hr_token_from_bearer(v, strlen(v), &tok, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(tok, "xyz", 3);
    const char *no[] = {"", "Bearer", "Bearer ", "Bearerx abc", "Basic abc", "Bearer a b"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(hr_token_from_bearer(no[i], strlen(no[i]), &tok, &n));
}

static void test_token_refusal_text(void **state)
{
    (void)state;
    char body[HR_TOKEN_REFUSAL_CAP];
    assert_string_equal(hr_token_refusal("expired", body, sizeof body), "token refused: expired\n");
    assert_string_equal(hr_token_refusal(NULL, body, sizeof body), "token refused: invalid\n");
    /* Every reason of hr_token_verify fits. */
    const char *const reasons[] = {"malformed",      "algorithm not allowed", "bad signature",
                                   "expired",        "not yet valid",         "wrong issuer",
                                   "wrong audience", "bad channels claim"};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        hr_token_refusal(reasons[i], body, sizeof body);
        assert_non_null(strstr(body, reasons[i]));
        assert_int_equal(body[strlen(body) - 1], '\n');
    }
    char tiny[8];
    assert_string_equal(hr_token_refusal("expired", tiny, sizeof tiny), "token r");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_hs256_ok),      cmocka_unit_test(test_token_rs256_es256_ok),
        cmocka_unit_test(test_token_alg_none),      cmocka_unit_test(test_token_alg_allow_list),
        cmocka_unit_test(test_token_key_confusion), cmocka_unit_test(test_token_bad_signature),
        cmocka_unit_test(test_token_exp_nbf),       cmocka_unit_test(test_token_iss_aud),
        cmocka_unit_test(test_token_claim_types),   cmocka_unit_test(test_token_malformed),
        cmocka_unit_test(test_token_bearer),        cmocka_unit_test(test_token_refusal_text),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}

/* Token minting for the unit tests: JWTs made by libjwt, a second
 * implementation to check ours against. Shared by the tests that need a
 * signed token (test_token.c, test_lifetime.c, test_gw_refresh.c,
 * test_auth.c, test_gw_edge.c, test_alloc.c). Include after <cmocka.h>. */
#ifndef JWT_MINT_H
#define JWT_MINT_H

#include <jwt.h>
#include <stdlib.h>
#include <string.h>

/* A token carrying claims_json (a JSON object, merged into the grants),
 * signed with alg and key[0..key_len). The caller frees it with free().
 * Any libjwt error fails the test. */
static inline char *mint_token(jwt_alg_t alg, const char *key, size_t key_len,
                               const char *claims_json)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, claims_json), 0);
    assert_int_equal(jwt_set_alg(j, alg, (const unsigned char *)key, (int)key_len), 0);
    char *t = jwt_encode_str(j);
    jwt_free(j);
    assert_non_null(t);
    return t;
}

/* mint_token() signed HS256 with a NUL-terminated secret. */
static inline char *mint_hs256(const char *secret, const char *claims_json)
{
    return mint_token(JWT_ALG_HS256, secret, strlen(secret), claims_json);
}

#endif

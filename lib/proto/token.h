/* JWT verification (libjwt 1.10 for the signature, our own checks for
 * everything else), shared by the notifier (?token=) and the gateway (edge
 * auth). The header's "alg" is checked against an allow-list and against the
 * kind of key configured BEFORE libjwt sees the token, because libjwt 1.10
 * accepts alg "none" when given no key, and because an HS256 token must never
 * be checked with a public key used as an HMAC secret (key confusion).
 * Claims: exp and nbf enforced with leeway against a caller-supplied clock,
 * optional iss and aud, sub -> user, channels -> channel claims. Pure: no
 * clock, no I/O. */
#ifndef HR_TOKEN_H
#define HR_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"

/* Longest token accepted, in bytes. */
#define HR_TOKEN_MAX 8192

/* Verification settings; borrowed (the caller keeps them alive during
 * calls). HS256 needs allow_hs256 and a secret; RS256 / ES256 need their flag
 * and public_key_pem (PEM "PUBLIC KEY", RSA for RS256, EC P-256 for ES256).
 * An algorithm whose key is not configured is refused, whatever the flags. */
typedef struct hr_token_cfg {
    bool allow_hs256, allow_rs256, allow_es256;
    const uint8_t *secret;
    size_t secret_len;
    const uint8_t *public_key_pem;
    size_t public_key_len;
    const char *issuer;   /* NULL = not checked; else "iss" must equal it */
    const char *audience; /* NULL = not checked; else "aud" (string or array) must hold it */
    long leeway_s;        /* clock skew allowed on exp and nbf, >= 0 */
} hr_token_cfg;

/* Verifies jwt[0..len) (compact JWS, need not be NUL-terminated) at time
 * now_unix (seconds). Returns 0 with *out set to the identity (caller owns
 * it; hr_identity_deinit): user = "sub" (NULL when absent: anonymous with
 * claims), channels = the "channels" claim (absent: none), publish = the
 * "publish" claim (absent: none), expires = exp + leeway rounded up to a
 * whole second (0 without exp: the connection never expires).
 * Returns HR_EDENIED with *why (may be NULL) a short static reason:
 *   "malformed"           not three base64url parts (the third may be empty),
 *                         bad JSON, a claim of the wrong type, longer than
 *                         HR_TOKEN_MAX, sub empty, longer than
 *                         HR_IDENTITY_USER_MAX or holding control characters
 *   "algorithm not allowed" none, unknown, not in the allow-list, or its key
 *                         is not configured
 *   "bad signature"
 *   "expired"             exp <= now - leeway (RFC 7519: valid only before exp)
 *   "not yet valid"       nbf > now + leeway
 *   "wrong issuer", "wrong audience"
 *   "bad channels claim"  channels not an array of valid patterns
 *                         (hr_channel_is_valid_pattern), or too many
 *   "bad publish claim"   the same for the "publish" claim
 * Returns HR_ENOMEM when out of memory (*why "out of memory"). On any error
 * *out is anonymous and holds nothing. */
int hr_token_verify(const hr_token_cfg *cfg, const char *jwt, size_t len, int64_t now_unix,
                    hr_identity *out, const char **why);

/* Longest text hr_token_refusal writes, NUL included. */
#define HR_TOKEN_REFUSAL_CAP 96

/* Writes the body of an HTTP 401 that refuses a token for reason why (one of
 * hr_token_verify's reasons, or the caller's own short text such as
 * "missing"): "token refused: <why>\n", truncated to cap (at most
 * HR_TOKEN_REFUSAL_CAP is ever needed for the reasons above). The token
 * itself is never part of it. Returns out. */
char *hr_token_refusal(const char *why, char *out, size_t cap);

/* Finds the token in an Authorization header value: "Bearer <token>"
 * (scheme case-insensitive, blanks trimmed). Returns true with a view
 * (*tok, *tok_len) into value, or false. */
bool hr_token_from_bearer(const char *value, size_t len, const char **tok, size_t *tok_len);

#endif

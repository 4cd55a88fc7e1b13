/* JWT verification. A compact JWS is three base64url segments: header,
 * payload, signature. We do the format and algorithm checks ourselves before
 * libjwt sees the token:
 *   1. shape: at most HR_TOKEN_MAX bytes, base64url alphabet, two dots;
 *   2. header: a JSON object whose "alg" is allowed AND whose key kind is
 *      configured (HS256 -> secret, RS256/ES256 -> public key). libjwt 1.10
 *      skips verification for alg "none" when given no key, and would happily
 *      use a PEM public key as an HMAC secret if asked, so the key we hand it
 *      is chosen by us from the alg, never the other way round;
 *   3. payload: a JSON object (decoded by us, so a format error is reported
 *      as "malformed" rather than as a bad signature);
 *   4. signature: jwt_decode() with the chosen key;
 *   5. claims: exp/nbf with leeway against the caller's clock, iss, aud,
 *      sub -> user, channels -> channel claims. */
#include "token.h"

#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"

#define MAX_LEEWAY_S 86400L

typedef enum alg { ALG_HS256, ALG_RS256, ALG_ES256 } alg;

static bool is_b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : 63;
}

/* Decodes unpadded base64url s[0..len) (alphabet already checked) into out,
 * which holds at least len bytes. Returns the decoded size or -1. */
static long b64url_decode(const char *s, size_t len, uint8_t *out)
{
    if (len % 4 == 1)
        return -1;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 6) | (uint32_t)b64url_value((unsigned char)s[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1; /* non-canonical trailing bits */
    return (long)n;
}

/* Decodes one segment as a JSON object (new reference) or NULL. */
static json_t *decode_segment(const char *s, size_t len)
{
    uint8_t *raw = hr_malloc(len + 1);
    if (raw == NULL)
        return NULL;
    const long n = b64url_decode(s, len, raw);
    json_t *obj = NULL;
    if (n > 0)
        obj = json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    hr_free(raw);
    if (obj != NULL && !json_is_object(obj)) {
        json_decref(obj);
        obj = NULL;
    }
    return obj;
}

/* Splits the token at its two dots; false when the shape is wrong. */
static bool split(const char *t, size_t len, size_t *dot1, size_t *dot2)
{
    size_t dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '.') {
            if (dots == 2)
                return false;
            *(dots++ == 0 ? dot1 : dot2) = i;
        } else if (!is_b64url((unsigned char)t[i])) {
            return false;
        }
    }
    return dots == 2 && *dot1 > 0 && *dot2 > *dot1 + 1; /* empty signature: alg check decides */
}

/* Picks the algorithm from the header and checks it is allowed with a key. */
static bool choose_alg(const hr_token_cfg *cfg, json_t *header, alg *out)
{
    const char *name = json_string_value(json_object_get(header, "alg"));
    if (name == NULL)
        return false;
    const bool have_secret = cfg->secret != NULL && cfg->secret_len > 0;
    const bool have_pem = cfg->public_key_pem != NULL && cfg->public_key_len > 0;
    if (strcmp(name, "HS256") == 0 && cfg->allow_hs256 && have_secret)
        *out = ALG_HS256;
    else if (strcmp(name, "RS256") == 0 && cfg->allow_rs256 && have_pem)
        *out = ALG_RS256;
    else if (strcmp(name, "ES256") == 0 && cfg->allow_es256 && have_pem)
        *out = ALG_ES256;
    else
        return false;
    return true;
}

static const char *check_signature(const hr_token_cfg *cfg, alg a, const char *jwt, size_t len)
{
    const uint8_t *key = a == ALG_HS256 ? cfg->secret : cfg->public_key_pem;
    const size_t key_len = a == ALG_HS256 ? cfg->secret_len : cfg->public_key_len;
    if (key_len > INT_MAX)
        return "algorithm not allowed";
    char *copy = hr_malloc(len + 1);
    if (copy == NULL)
        return "out of memory";
    memcpy(copy, jwt, len);
    copy[len] = '\0';
    jwt_t *j = NULL;
    const int rc = jwt_decode(&j, copy, key, (int)key_len);
    static const jwt_alg_t want[] = {JWT_ALG_HS256, JWT_ALG_RS256, JWT_ALG_ES256};
    const bool ok = rc == 0 && j != NULL && jwt_get_alg(j) == want[a];
    jwt_free(j);
    hr_free(copy);
    return ok ? NULL : "bad signature";
}

/* Reads a NumericDate claim: absent -> *present false; not a number -> false. */
static bool numeric_date(json_t *claims, const char *name, bool *present, double *v)
{
    json_t *n = json_object_get(claims, name);
    *present = n != NULL;
    if (n == NULL)
        return true;
    if (!json_is_number(n))
        return false;
    *v = json_number_value(n);
    return isfinite(*v);
}

static const char *check_times(json_t *claims, int64_t now, long leeway, hr_identity *out)
{
    if (leeway < 0)
        leeway = 0;
    if (leeway > MAX_LEEWAY_S)
        leeway = MAX_LEEWAY_S;
    bool has_exp = false, has_nbf = false;
    double exp = 0, nbf = 0;
    if (!numeric_date(claims, "exp", &has_exp, &exp) ||
        !numeric_date(claims, "nbf", &has_nbf, &nbf))
        return "malformed";
    if (has_exp && exp <= (double)now - (double)leeway) /* RFC 7519: valid before exp */
        return "expired";
    if (has_nbf && nbf > (double)now + (double)leeway)
        return "not yet valid";
    /* The connection ends at exp + leeway (whole seconds, rounded up). */
    if (has_exp)
        out->expires = (exp >= 1e15 ? (int64_t)1e15 : (int64_t)ceil(exp)) + leeway;
    return NULL;
}

static bool audience_matches(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

static const char *check_iss_aud(const hr_token_cfg *cfg, json_t *claims)
{
    if (cfg->issuer != NULL) {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        if (iss == NULL || strcmp(iss, cfg->issuer) != 0)
            return "wrong issuer";
    }
    if (cfg->audience != NULL && !audience_matches(json_object_get(claims, "aud"), cfg->audience))
        return "wrong audience";
    return NULL;
}

static const char *read_user(json_t *claims, hr_identity *out)
{
    json_t *sub = json_object_get(claims, "sub");
    if (sub == NULL)
        return NULL;
    if (!json_is_string(sub) || json_string_length(sub) == 0)
        return "malformed";
    hr_identity tmp;
    const int rc =
        hr_identity_from_headers(json_string_value(sub), json_string_length(sub), NULL, 0, &tmp);
    if (rc == HR_ENOMEM)
        return "out of memory";
    if (rc < 0)
        return "malformed";
    out->user = tmp.user;
    return NULL;
}

/* Reads the array claim `name` (channel patterns) into (*arr, *n). */
static const char *read_patterns(json_t *claims, const char *name, const char *bad, char ***arr_out,
                                 size_t *n_out)
{
    json_t *arr = json_object_get(claims, name);
    if (arr == NULL)
        return NULL;
    if (!json_is_array(arr) || json_array_size(arr) > HR_IDENTITY_CHANNELS_MAX)
        return bad;
    const size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) ||
            !hr_channel_is_valid_pattern(json_string_value(v), json_string_length(v)))
            return bad;
    }
    if (n == 0)
        return NULL;
    *arr_out = hr_calloc(n, sizeof **arr_out);
    if (*arr_out == NULL)
        return "out of memory";
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        (*arr_out)[i] = hr_strndup(json_string_value(v), json_string_length(v));
        if ((*arr_out)[i] == NULL)
            return "out of memory";
        (*n_out)++;
    }
    return NULL;
}

static const char *read_channels(json_t *claims, hr_identity *out)
{
    const char *why =
        read_patterns(claims, "channels", "bad channels claim", &out->channels, &out->n_channels);
    if (why == NULL)
        why = read_patterns(claims, "publish", "bad publish claim", &out->publish, &out->n_publish);
    return why;
}

static const char *check_claims(const hr_token_cfg *cfg, json_t *claims, int64_t now,
                                hr_identity *out)
{
    const char *why = check_times(claims, now, cfg->leeway_s, out);
    if (why == NULL)
        why = check_iss_aud(cfg, claims);
    if (why == NULL)
        why = read_user(claims, out);
    if (why == NULL)
        why = read_channels(claims, out);
    return why;
}

static const char *verify(const hr_token_cfg *cfg, const char *jwt, size_t len, int64_t now,
                          hr_identity *out)
{
    size_t d1 = 0, d2 = 0;
    if (cfg == NULL || jwt == NULL || len > HR_TOKEN_MAX || !split(jwt, len, &d1, &d2))
        return "malformed";
    json_t *header = decode_segment(jwt, d1);
    json_t *claims = decode_segment(jwt + d1 + 1, d2 - d1 - 1);
    const char *why = NULL;
    alg a = ALG_HS256;
    if (header == NULL || claims == NULL)
        why = "malformed";
    else if (!choose_alg(cfg, header, &a))
        why = "algorithm not allowed";
    if (why == NULL)
        why = check_signature(cfg, a, jwt, len);
    if (why == NULL)
        why = check_claims(cfg, claims, now, out);
    json_decref(header);
    json_decref(claims);
    return why;
}

int hr_token_verify(const hr_token_cfg *cfg, const char *jwt, size_t len, int64_t now_unix,
                    hr_identity *out, const char **why)
{
    hr_identity_init(out);
    const unsigned long failures = hr_alloc_failures();
    const char *reason = verify(cfg, jwt, len, now_unix, out);
    /* A failed allocation may surface as anything ("malformed" from jansson,
     * "bad signature" from libjwt): it is not the token's fault. */
    if (reason != NULL && hr_alloc_failures() != failures)
        reason = "out of memory";
    if (why != NULL)
        *why = reason;
    if (reason == NULL)
        return 0;
    hr_identity_deinit(out);
    return strcmp(reason, "out of memory") == 0 ? HR_ENOMEM : HR_EDENIED;
}

char *hr_token_refusal(const char *why, char *out, size_t cap)
{
    if (cap > 0)
        snprintf(out, cap, "token refused: %s\n", why != NULL ? why : "invalid");
    return out;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

bool hr_token_from_bearer(const char *value, size_t len, const char **tok, size_t *tok_len)
{
    static const char scheme[] = "Bearer";
    const size_t slen = sizeof scheme - 1;
    size_t i = 0;
    while (i < len && is_blank(value[i]))
        i++;
    if (len - i <= slen || strncasecmp(value + i, scheme, slen) != 0 || !is_blank(value[i + slen]))
        return false;
    i += slen;
    while (i < len && is_blank(value[i]))
        i++;
    size_t end = len;
    while (end > i && is_blank(value[end - 1]))
        end--;
    if (end == i || memchr(value + i, ' ', end - i) != NULL ||
        memchr(value + i, '\t', end - i) != NULL)
        return false;
    *tok = value + i;
    *tok_len = end - i;
    return true;
}

/* Pusher signatures: channel auth strings and signed HTTP API queries.
 * Every secret-dependent comparison goes through CRYPTO_memcmp so that a
 * forger learns nothing from timing. The API check rebuilds the string the
 * client signed: "METHOD\nPATH\n" then the query parameters other than
 * auth_signature, decoded, sorted by name and joined as name=value with '&'
 * (what the Pusher server libraries sign). */
#include "pusher_sign.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "percent.h"

bool hr_pusher_socket_id_is_valid(const char *s, size_t len)
{
    if (s == NULL)
        return false;
    size_t digits = 0, dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (++digits > 20)
                return false;
        } else if (s[i] == '.' && digits > 0 && dots == 0) {
            dots = 1;
            digits = 0;
        } else {
            return false;
        }
    }
    return dots == 1 && digits > 0;
}

static void to_hex(const unsigned char *md, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
}

int hr_pusher_hmac_hex(const char *secret, const char *msg, size_t len,
                       char out[HR_PUSHER_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    out[0] = '\0';
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, len, md,
             &md_len) == NULL ||
        md_len != 32)
        return HR_EINTERNAL;
    to_hex(md, 32, out);
    return 0;
}

/* Constant-time equality of two NUL-terminated strings of public length. */
static bool same(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && CRYPTO_memcmp(a, b, blen) == 0;
}

bool hr_pusher_auth_check(const char *key, const char *secret, const char *socket_id,
                          const char *channel, const char *channel_data, const char *auth)
{
    if (key == NULL || secret == NULL || socket_id == NULL || channel == NULL || auth == NULL)
        return false;
    const char *colon = strchr(auth, ':');
    if (colon == NULL || !same(key, auth, (size_t)(colon - auth)))
        return false;
    const size_t slen = strlen(socket_id), clen = strlen(channel);
    const size_t dlen = channel_data != NULL ? strlen(channel_data) : 0;
    const size_t n = slen + 1 + clen + (channel_data != NULL ? 1 + dlen : 0);
    char *msg = hr_malloc(n + 1);
    if (msg == NULL)
        return false;
    size_t at = 0;
    memcpy(msg + at, socket_id, slen);
    at += slen;
    msg[at++] = ':';
    memcpy(msg + at, channel, clen);
    at += clen;
    if (channel_data != NULL) {
        msg[at++] = ':';
        memcpy(msg + at, channel_data, dlen);
        at += dlen;
    }
    char want[HR_PUSHER_HEX_LEN + 1];
    const int rc = hr_pusher_hmac_hex(secret, msg, at, want);
    hr_free(msg);
    return rc == 0 && same(want, colon + 1, strlen(colon + 1));
}

/* ---- signed HTTP API queries ---- */

typedef struct param {
    char *name;
    char *value;
} param;

typedef struct params {
    param *v;
    size_t n;
} params;

static void params_free(params *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        hr_free(ps->v[i].name);
        hr_free(ps->v[i].value);
    }
    hr_free(ps->v);
    ps->v = NULL;
    ps->n = 0;
}

static char *decode(const char *s, size_t n, int *rc)
{
    char *out = hr_malloc(HR_PUSHER_API_PARAM_MAX + 1);
    if (out == NULL) {
        *rc = HR_ENOMEM;
        return NULL;
    }
    *rc = hr_percent_decode(s, n, false, out, HR_PUSHER_API_PARAM_MAX + 1, NULL);
    if (*rc == HR_ETOOBIG)
        *rc = HR_EINVAL;
    if (*rc != 0) {
        hr_free(out);
        return NULL;
    }
    return out;
}

static const param *find(const params *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].name, name) == 0)
            return &ps->v[i];
    return NULL;
}

/* Appends one "name=value" segment q[0..n) to ps (name lowercased). */
static int add_param(params *ps, const char *q, size_t n)
{
    if (ps->n == HR_PUSHER_API_MAX_PARAMS)
        return HR_EINVAL;
    const char *eq = memchr(q, '=', n);
    const size_t nlen = eq != NULL ? (size_t)(eq - q) : n;
    int rc;
    char *name = decode(q, nlen, &rc);
    if (name == NULL)
        return rc;
    for (char *c = name; *c != '\0'; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    char *value = eq != NULL ? decode(eq + 1, n - nlen - 1, &rc) : decode("", 0, &rc);
    if (value == NULL || name[0] == '\0' || find(ps, name) != NULL) {
        hr_free(name);
        hr_free(value);
        return value == NULL ? rc : HR_EINVAL;
    }
    ps->v[ps->n].name = name;
    ps->v[ps->n].value = value;
    ps->n++;
    return 0;
}

static int parse_query(const char *q, size_t len, params *ps)
{
    ps->n = 0;
    ps->v = hr_calloc(HR_PUSHER_API_MAX_PARAMS, sizeof *ps->v);
    if (ps->v == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)q[i] < 0x21 || q[i] == 0x7f) { /* never raw in a query */
            params_free(ps);
            return HR_EINVAL;
        }
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && q[i] != '&')
            continue;
        const int rc = i > start ? add_param(ps, q + start, i - start) : 0;
        if (rc != 0) {
            params_free(ps);
            return rc;
        }
        start = i + 1;
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const param *)a)->name, ((const param *)b)->name);
}

/* "METHOD\nPATH\nn1=v1&n2=v2..." over every parameter but auth_signature,
 * sorted by name (sorts ps). Malloc'd, or NULL when out of memory. */
static char *string_to_sign(const hr_pusher_api_req *req, params *ps, size_t *out_len)
{
    qsort(ps->v, ps->n, sizeof *ps->v, by_name);
    size_t n = req->method_len + req->path_len + 2;
    for (size_t i = 0; i < ps->n; i++)
        n += strlen(ps->v[i].name) + strlen(ps->v[i].value) + 2; /* bounded by the caps */
    char *s = hr_malloc(n + 1);
    if (s == NULL)
        return NULL;
    size_t at = 0;
    memcpy(s, req->method, req->method_len);
    at += req->method_len;
    s[at++] = '\n';
    memcpy(s + at, req->path, req->path_len);
    at += req->path_len;
    s[at++] = '\n';
    bool first = true;
    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->v[i].name, "auth_signature") == 0)
            continue;
        at += (size_t)snprintf(s + at, n + 1 - at, "%s%s=%s", first ? "" : "&", ps->v[i].name,
                               ps->v[i].value);
        first = false;
    }
    *out_len = at;
    return s;
}

static int body_md5(const uint8_t *body, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    static const uint8_t empty[1];
    if (EVP_Digest(body != NULL ? body : empty, len, md, &md_len, EVP_md5(), NULL) != 1 ||
        md_len != 16)
        return HR_EINTERNAL;
    to_hex(md, 16, out);
    return 0;
}

/* Reads a decimal unix time, optionally negative; false when malformed. */
static bool parse_time(const char *s, int64_t *out)
{
    const bool neg = s[0] == '-';
    const char *p = neg ? s + 1 : s;
    if (*p == '\0' || strlen(p) > 18)
        return false;
    int64_t v = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return true;
}

static int deny(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return HR_EDENIED;
}

/* The checks that need no HMAC, in the order a client can act on. */
static int check_fields(const hr_pusher_api_req *req, const params *ps, const char *key,
                        int64_t now, const char **why)
{
    const param *k = find(ps, "auth_key"), *t = find(ps, "auth_timestamp");
    const param *v = find(ps, "auth_version"), *s = find(ps, "auth_signature");
    const param *md = find(ps, "body_md5");
    if (k == NULL || t == NULL || v == NULL || s == NULL)
        return deny(why, "missing auth_key, auth_timestamp, auth_version or auth_signature");
    if (!same(key, k->value, strlen(k->value)))
        return deny(why, "unknown auth_key");
    if (strcmp(v->value, "1.0") != 0)
        return deny(why, "auth_version must be 1.0");
    int64_t ts;
    if (!parse_time(t->value, &ts) || ts < now - HR_PUSHER_API_SKEW ||
        ts > now + HR_PUSHER_API_SKEW)
        return deny(why, "auth_timestamp expired: the clocks differ by more than 600 s");
    if (md == NULL && req->body_len > 0)
        return deny(why, "missing body_md5");
    char want[33];
    if (md != NULL && (body_md5(req->body, req->body_len, want) != 0 ||
                       !same(want, md->value, strlen(md->value))))
        return deny(why, "body_md5 does not match the body");
    return 0;
}

int hr_pusher_api_verify(const hr_pusher_api_req *req, const char *key, const char *secret,
                         int64_t now, const char **why)
{
    if (why != NULL)
        *why = "invalid query";
    params ps;
    int rc = parse_query(req->query != NULL ? req->query : "", req->query_len, &ps);
    if (rc != 0)
        return rc;
    rc = check_fields(req, &ps, key, now, why);
    size_t len = 0;
    char *msg = rc == 0 ? string_to_sign(req, &ps, &len) : NULL;
    if (rc == 0 && msg == NULL)
        rc = HR_ENOMEM;
    char want[HR_PUSHER_HEX_LEN + 1];
    if (rc == 0 && hr_pusher_hmac_hex(secret, msg, len, want) != 0)
        rc = HR_EINTERNAL;
    if (rc == 0) {
        const char *got = find(&ps, "auth_signature")->value;
        if (!same(want, got, strlen(got)))
            rc = deny(why, "invalid auth_signature");
    }
    hr_free(msg);
    params_free(&ps);
    return rc;
}

/* Adds name=value (both plain) to ps; the name must be new. */
static int add_plain(params *ps, const char *name, const char *value)
{
    char seg[HR_PUSHER_API_PARAM_MAX];
    const int n = snprintf(seg, sizeof seg, "%s=%s", name, value);
    if (n < 0 || (size_t)n >= sizeof seg)
        return HR_EINVAL;
    return add_param(ps, seg, (size_t)n);
}

int hr_pusher_api_sign(const hr_pusher_api_req *req, const char *key, const char *secret,
                       int64_t now, char **out)
{
    *out = NULL;
    params ps;
    int rc = parse_query(req->query != NULL ? req->query : "", req->query_len, &ps);
    if (rc != 0)
        return rc;
    char ts[24], md[33];
    (void)snprintf(ts, sizeof ts, "%lld", (long long)now);
    rc = add_plain(&ps, "auth_key", key);
    if (rc == 0)
        rc = add_plain(&ps, "auth_timestamp", ts);
    if (rc == 0)
        rc = add_plain(&ps, "auth_version", "1.0");
    if (rc == 0 && req->body_len > 0)
        rc = body_md5(req->body, req->body_len, md) != 0 ? HR_EINTERNAL
                                                         : add_plain(&ps, "body_md5", md);
    size_t len = 0;
    char *msg = rc == 0 ? string_to_sign(req, &ps, &len) : NULL;
    if (rc == 0 && msg == NULL)
        rc = HR_ENOMEM;
    char sig[HR_PUSHER_HEX_LEN + 1];
    if (rc == 0 && hr_pusher_hmac_hex(secret, msg, len, sig) != 0)
        rc = HR_EINTERNAL;
    if (rc == 0) {
        const char *query = msg + req->method_len + req->path_len + 2;
        const size_t n = strlen(query) + sizeof "&auth_signature=" + HR_PUSHER_HEX_LEN;
        *out = hr_malloc(n);
        if (*out == NULL)
            rc = HR_ENOMEM;
        else
            (void)snprintf(*out, n, "%s&auth_signature=%s", query, sig);
    }
    hr_free(msg);
    params_free(&ps);
    return rc;
}

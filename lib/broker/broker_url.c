/* Parsing of --broker URLs into bounded fields (see broker_url.h). The URL
 * is split once, left to right: scheme, userinfo (up to the last '@' before
 * the path), host and port, path, query. Each piece is percent-decoded into
 * its own fixed buffer; anything that does not fit is an error, never a
 * silent truncation, because a truncated password or stream name would
 * connect somewhere unexpected. */
#include "broker/broker_url.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "proto/percent.h"

/* Percent-decodes s[0..len) into out (capacity cap, NUL-terminated).
 * False when it does not fit, an escape is malformed, or it decodes a NUL. */
static bool decode(const char *s, size_t len, char *out, size_t cap)
{
    return hr_percent_decode(s, len, false, out, cap, NULL) == 0;
}

static int fail(char *err, size_t errcap, const char *what)
{
    snprintf(err, errcap, "--broker: %s", what);
    return HR_EINVAL;
}

static int parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0 || len > 5)
        return HR_EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return HR_EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return HR_EINVAL;
    *out = (uint16_t)v;
    return 0;
}

static int parse_userinfo(const char *s, size_t len, hr_broker_url *u, char *err, size_t errcap)
{
    const char *colon = memchr(s, ':', len);
    const size_t ulen = colon != NULL ? (size_t)(colon - s) : len;
    u->has_user = true;
    if (!decode(s, ulen, u->user, sizeof u->user))
        return fail(err, errcap, "bad or too long user name in the URL");
    if (colon != NULL) {
        u->has_password = true;
        if (!decode(colon + 1, len - ulen - 1, u->password, sizeof u->password))
            return fail(err, errcap, "bad or too long password in the URL");
    }
    return 0;
}

static int parse_hostport(const char *s, size_t len, hr_broker_url *u, char *err, size_t errcap)
{
    const char *port = NULL;
    size_t hlen = len;
    const char *host = s;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return fail(err, errcap, "unterminated '[' in the URL host");
        host = s + 1;
        hlen = (size_t)(close - s) - 1;
        const size_t rest = len - (size_t)(close - s) - 1;
        if (rest > 0 && close[1] != ':')
            return fail(err, errcap, "junk after ']' in the URL host");
        if (rest > 0)
            port = close + 2;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (hlen == 0)
        return fail(err, errcap, "the URL names no host");
    if (!decode(host, hlen, u->host, sizeof u->host))
        return fail(err, errcap, "bad or too long host in the URL");
    if (port != NULL && parse_port(port, (size_t)(s + len - port), &u->port) != 0)
        return fail(err, errcap, "the URL port must be 1..65535");
    return 0;
}

static int parse_query(const char *s, size_t len, hr_broker_url *u, char *err, size_t errcap)
{
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        const size_t end = amp != NULL ? (size_t)(amp - s) : len;
        if (end > i) {
            const char *eq = memchr(s + i, '=', end - i);
            if (eq == NULL)
                return fail(err, errcap, "a URL parameter has no '=' (expected key=value)");
            if (u->n_params == HR_BROKER_URL_PARAMS)
                return fail(err, errcap, "too many URL parameters");
            hr_broker_url_param *p = &u->params[u->n_params++];
            const size_t klen = (size_t)(eq - (s + i));
            if (!decode(s + i, klen, p->key, sizeof p->key) ||
                !decode(eq + 1, end - i - klen - 1, p->value, sizeof p->value))
                return fail(err, errcap, "bad or too long URL parameter");
        }
        i = end + 1;
    }
    return 0;
}

int hr_broker_url_parse(const char *url, hr_broker_url *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (errcap > 0)
        err[0] = '\0';
    const char *sep = strstr(url, "://");
    if (sep == NULL || sep == url || (size_t)(sep - url) >= sizeof out->scheme)
        return fail(err, errcap, "expected scheme://host[:port]");
    memcpy(out->scheme, url, (size_t)(sep - url));
    const char *p = sep + 3;
    const size_t rest = strlen(p);
    const size_t auth_len = strcspn(p, "/?");
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++)
        if (p[i] == '@')
            at = p + i;
    int rc = 0;
    if (at != NULL && (rc = parse_userinfo(p, (size_t)(at - p), out, err, errcap)) != 0)
        return rc;
    const char *hp = at != NULL ? at + 1 : p;
    if ((rc = parse_hostport(hp, (size_t)(p + auth_len - hp), out, err, errcap)) != 0)
        return rc;
    const char *tail = p + auth_len;
    const size_t path_len = strcspn(tail, "?");
    if (path_len > 0 && !decode(tail + 1, path_len - 1, out->path, sizeof out->path))
        return fail(err, errcap, "bad or too long URL path");
    if (tail[path_len] == '?')
        return parse_query(tail + path_len + 1, rest - auth_len - path_len - 1, out, err, errcap);
    return 0;
}

const char *hr_broker_url_param_get(const hr_broker_url *u, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < u->n_params; i++)
        if (strcmp(u->params[i].key, key) == 0)
            v = u->params[i].value;
    return v;
}

int hr_broker_url_param_u64(const hr_broker_url *u, const char *key, uint64_t def, uint64_t min,
                            uint64_t max, uint64_t *out, char *err, size_t errcap)
{
    const char *v = hr_broker_url_param_get(u, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    uint64_t n = 0;
    bool ok = v[0] != '\0' && strlen(v) <= 20;
    for (const char *c = v; ok && *c != '\0'; c++) {
        const uint64_t d = (uint64_t)(*c - '0');
        ok = *c >= '0' && *c <= '9' && n <= (UINT64_MAX - d) / 10;
        n = ok ? n * 10 + d : n;
    }
    if (!ok || n < min || n > max) {
        snprintf(err, errcap, "--broker: URL parameter %s must be an integer in %llu..%llu", key,
                 (unsigned long long)min, (unsigned long long)max);
        return HR_EINVAL;
    }
    *out = n;
    return 0;
}

int hr_broker_url_check_params(const hr_broker_url *u, const char *const *allowed, size_t n,
                               char *err, size_t errcap)
{
    for (size_t i = 0; i < u->n_params; i++) {
        bool known = false;
        for (size_t j = 0; j < n && !known; j++)
            known = strcmp(u->params[i].key, allowed[j]) == 0;
        if (!known) {
            snprintf(err, errcap, "--broker: unknown URL parameter '%.64s'", u->params[i].key);
            return HR_EINVAL;
        }
    }
    return 0;
}

int hr_broker_url_copy_field(char *dst, size_t cap, const char *src, const char *what, char *err,
                             size_t errcap)
{
    if ((size_t)snprintf(dst, cap, "%s", src) >= cap) {
        snprintf(err, errcap, "--broker: %s too long", what);
        return HR_EINVAL;
    }
    return 0;
}

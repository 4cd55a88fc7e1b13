/* Request targets: the path and query split and percent-decoded parameter
 * lookup. The query is walked in place ("k=v&k2=v2"); nothing is allocated
 * and the decoded value goes to the caller's bounded buffer. */
#include "http_query.h"

#include <string.h>

#include "core/err.h"

void hr_http_query_split(const char *target, size_t len, size_t *path_len, const char **query,
                         size_t *query_len)
{
    const char *hash = memchr(target, '#', len);
    if (hash != NULL)
        len = (size_t)(hash - target);
    const char *q = memchr(target, '?', len);
    if (q == NULL) {
        *path_len = len;
        *query = NULL;
        *query_len = 0;
        return;
    }
    *path_len = (size_t)(q - target);
    *query = q + 1;
    *query_len = len - *path_len - 1;
}

static int hex_val(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes v[0..n) into out[0..cap) with a NUL. */
static int decode(const char *v, size_t n, char *out, size_t cap, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (n - i < 3)
                return HR_EINVAL;
            const int hi = hex_val(v[i + 1]);
            const int lo = hex_val(v[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return HR_EINVAL;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (cap == 0 || o >= cap - 1)
            return HR_ETOOBIG;
        out[o++] = ch;
    }
    if (cap == 0)
        return HR_ETOOBIG;
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return 1;
}

/* Finds key's raw value in the query of target; returns false when absent. */
static bool find_raw(const char *target, size_t len, const char *key, const char **val,
                     size_t *val_len)
{
    size_t path_len, qlen;
    const char *q;
    hr_http_query_split(target, len, &path_len, &q, &qlen);
    if (q == NULL) {
        if (len > 0 && (target[0] == '/' || target[0] == '*'))
            return false;
        q = target; /* a bare query was passed */
        qlen = len;
    }
    const size_t klen = strlen(key);
    const char *end = q + qlen;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pend = amp != NULL ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        const char *kend = eq != NULL ? eq : pend;
        if ((size_t)(kend - q) == klen && memcmp(q, key, klen) == 0) {
            *val = eq != NULL ? eq + 1 : pend;
            *val_len = (size_t)(pend - *val);
            return true;
        }
        q = amp != NULL ? amp + 1 : end;
    }
    return false;
}

int hr_http_query_get(const char *target, size_t len, const char *key, char *out, size_t cap,
                      size_t *out_len)
{
    const char *v;
    size_t vlen;
    if (!find_raw(target, len, key, &v, &vlen))
        return 0;
    return decode(v, vlen, out, cap, out_len);
}

bool hr_http_query_has(const char *target, size_t len, const char *key)
{
    const char *v;
    size_t vlen;
    return find_raw(target, len, key, &v, &vlen);
}

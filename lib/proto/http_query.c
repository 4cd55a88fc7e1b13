/* Request targets: the path and query split and percent-decoded parameter
 * lookup. The query is walked in place ("k=v&k2=v2"); nothing is allocated
 * and the decoded value goes to the caller's bounded buffer. */
#include "http_query.h"

#include <string.h>

#include "core/err.h"
#include "percent.h"

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
    const int rc = hr_percent_decode(v, vlen, true, out, cap, out_len);
    return rc == 0 ? 1 : rc;
}

bool hr_http_query_has(const char *target, size_t len, const char *key)
{
    const char *v;
    size_t vlen;
    return find_raw(target, len, key, &v, &vlen);
}

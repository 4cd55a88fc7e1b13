/* Request targets: splitting "/path?query" and reading one query parameter
 * with percent-decoding (application/x-www-form-urlencoded rules: '+' is a
 * space). Pure functions over the target bytes of an hr_http_head. */
#ifndef HR_HTTP_QUERY_H
#define HR_HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>

/* Splits target[0..len) at the first '?': *path_len gets the length of the
 * path part (target itself is the path's start); *query and *query_len the part
 * after '?' (NULL/0 when there is none). A '#' fragment, if present, is cut. */
void hr_http_query_split(const char *target, size_t len, size_t *path_len, const char **query,
                         size_t *query_len);

/* Finds the first parameter named key (exact, undecoded match) in the query
 * of target[0..len): a whole target ("/ws?a=1", up to '?' is skipped; a
 * target starting with '/' and without '?' has no query) or just a query
 * ("a=1&b=2") and writes its percent-decoded value into
 * out[0..cap) with a terminating NUL; *out_len (may be NULL) gets its length.
 * A key without '=' has the empty value.
 * Returns 1 found, 0 absent, HR_ETOOBIG when the value plus NUL does not fit
 * in cap, HR_EINVAL on a bad %-escape or an encoded NUL byte. */
int hr_http_query_get(const char *target, size_t len, const char *key, char *out, size_t cap,
                      size_t *out_len);

/* True when the query of target has a parameter named key. */
bool hr_http_query_has(const char *target, size_t len, const char *key);

#endif

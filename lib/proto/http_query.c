/* Request-target helpers (stub). */
#include "http_query.h"

#include "core/err.h"

void hr_http_query_split(const char *target, size_t len, size_t *path_len, const char **query,
                         size_t *query_len)
{
    *path_len = len;
    *query = NULL;
    *query_len = 0;
}

int hr_http_query_get(const char *target, size_t len, const char *key, char *out, size_t cap,
                      size_t *out_len)
{
    return 0;
}

bool hr_http_query_has(const char *target, size_t len, const char *key)
{
    return false;
}

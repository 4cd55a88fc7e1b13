/* HTTP message writers (stub). */
#include "http_write.h"

const char *hr_http_write_reason(int status)
{
    return "Unknown";
}

size_t hr_http_write_status(int status, const char *content_type, const char *body,
                            size_t body_len, const char *extra_headers, char *out, size_t cap)
{
    return 0;
}

size_t hr_http_write_request(const char *method, const char *host, const char *target,
                             const char *extra_headers, char *out, size_t cap)
{
    return 0;
}

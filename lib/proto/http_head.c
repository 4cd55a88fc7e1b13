/* HTTP head parsing on llhttp (stub; implementation follows). */
#include "http_head.h"

#include "core/err.h"

int hr_http_head_parse(const uint8_t *p, size_t len, bool response, const hr_http_limits *lim,
                       hr_http_head *out)
{
    return HR_EPROTO;
}

const hr_http_header *hr_http_head_find(const hr_http_head *h, const char *name)
{
    return NULL;
}

size_t hr_http_head_count(const hr_http_head *h, const char *name)
{
    return 0;
}

bool hr_http_header_has_token(const hr_http_header *h, const char *token)
{
    return false;
}

bool hr_http_head_has_token(const hr_http_head *h, const char *name, const char *token)
{
    return false;
}

bool hr_http_header_equals(const hr_http_header *h, const char *s)
{
    return false;
}

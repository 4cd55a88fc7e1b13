/* Chunked decoder (stub). */
#include "http_chunked.h"

#include "core/err.h"

void hr_http_chunked_init(hr_http_chunked *c)
{
    *c = (hr_http_chunked){0};
}

int hr_http_chunked_decode(hr_http_chunked *c, const uint8_t *in, size_t len, size_t *consumed,
                           const uint8_t **data, size_t *data_len)
{
    *consumed = 0;
    *data = NULL;
    *data_len = 0;
    return HR_EPROTO;
}

size_t hr_http_chunked_write_header(size_t n, char *out, size_t cap)
{
    return 0;
}

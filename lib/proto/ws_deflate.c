/* permessage-deflate (stub). */
#include "ws_deflate.h"

#include "core/err.h"

void hr_ws_deflate_params_default(hr_ws_deflate_params *p)
{
    *p = (hr_ws_deflate_params){.server_max_window_bits = 15, .client_max_window_bits = 15};
}

int hr_ws_deflate_negotiate(const char *ext_header, size_t len, hr_ws_deflate_params *out,
                            char *response, size_t cap)
{
    return 0;
}

int hr_ws_deflate_parse_response(const char *ext_header, size_t len, hr_ws_deflate_params *out)
{
    return HR_EPROTO;
}

int hr_ws_deflater_init(hr_ws_deflater *d, const hr_ws_deflate_params *p, bool is_server,
                        int level)
{
    *d = (hr_ws_deflater){0};
    return 0;
}

void hr_ws_deflater_deinit(hr_ws_deflater *d)
{
}

int hr_ws_deflate_message(hr_ws_deflater *d, const uint8_t *in, size_t n, hr_buf *out)
{
    return HR_EINTERNAL;
}

hr_msg *hr_ws_deflate_frame_new(hr_ws_deflater *d, uint8_t opcode, const void *payload,
                                size_t len)
{
    return NULL;
}

int hr_ws_inflater_init(hr_ws_inflater *f, const hr_ws_deflate_params *p, bool is_server)
{
    *f = (hr_ws_inflater){0};
    return 0;
}

void hr_ws_inflater_deinit(hr_ws_inflater *f)
{
}

int hr_ws_inflate(hr_ws_inflater *f, const uint8_t *in, size_t n, hr_buf *out, size_t max_out)
{
    return HR_EPROTO;
}

int hr_ws_inflate_part(hr_ws_inflater *f, const uint8_t *in, size_t n, bool fin, hr_buf *out,
                       size_t max_out)
{
    return HR_EPROTO;
}

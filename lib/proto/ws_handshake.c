/* WebSocket opening handshake (stub). */
#include "ws_handshake.h"

#include "core/err.h"

int hr_ws_handshake_check(const hr_http_head *req, bool deflate_enabled, hr_ws_handshake *out)
{
    *out = (hr_ws_handshake){.status = 400, .error = "not implemented"};
    return HR_EINVAL;
}

void hr_ws_handshake_accept_key(const char *key, size_t key_len, char out[29])
{
    out[0] = '\0';
}

size_t hr_ws_handshake_write_101(const hr_ws_handshake *hs, const char *extra_headers, char *out,
                                 size_t cap)
{
    return 0;
}

int hr_ws_handshake_new_key(char key_b64[25])
{
    key_b64[0] = '\0';
    return HR_EINTERNAL;
}

size_t hr_ws_handshake_write_request(const char *host, const char *target, const char *key_b64,
                                     bool offer_deflate, const char *extra_headers, char *out,
                                     size_t cap)
{
    return 0;
}

int hr_ws_handshake_check_response(const hr_http_head *resp, const char *key_b64,
                                   hr_ws_handshake *out)
{
    *out = (hr_ws_handshake){.status = 0, .error = "not implemented"};
    return HR_EPROTO;
}

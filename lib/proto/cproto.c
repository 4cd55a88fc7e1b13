/* Client JSON protocol (SPEC §2). Stub: implementation follows. */
#include "cproto.h"

#include <string.h>

#include "core/err.h"

int hr_cproto_parse(const uint8_t *p, size_t len, size_t max_channels, hr_cmd *out,
                    hr_cproto_error *err)
{
    memset(out, 0, sizeof *out);
    return HR_EINTERNAL;
}

void hr_cmd_deinit(hr_cmd *cmd)
{
}

int hr_cproto_write_welcome(const char *conn_id, const char *user, char **out, size_t *out_len)
{
    return HR_EINTERNAL;
}

int hr_cproto_write_subscribed(const char *const *channels, size_t n, bool recovered,
                               const char *ref, char **out, size_t *out_len)
{
    return HR_EINTERNAL;
}

int hr_cproto_write_unsubscribed(const char *const *channels, size_t n, const char *ref, char **out,
                                 size_t *out_len)
{
    return HR_EINTERNAL;
}

int hr_cproto_write_error(const char *code, const char *message, const char *ref, char **out,
                          size_t *out_len)
{
    return HR_EINTERNAL;
}

int hr_cproto_write_parse_error(const hr_cproto_error *err, char **out, size_t *out_len)
{
    return HR_EINTERNAL;
}

int hr_cproto_write_event(char *out, size_t cap, const char *channel, size_t clen, const char *id,
                          size_t idlen, const char *data_json, size_t dlen)
{
    return HR_EINTERNAL;
}

bool hr_cproto_id_is_valid(const char *id, size_t len)
{
    return false;
}

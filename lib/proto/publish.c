/* POST /publish bodies (SPEC §3). Stub: implementation follows. */
#include "publish.h"

#include <string.h>

#include "core/err.h"

int hr_publish_parse(const uint8_t *body, size_t len, size_t max_items, hr_pub_batch *out,
                     char *errbuf, size_t errcap)
{
    memset(out, 0, sizeof *out);
    return HR_EINTERNAL;
}

void hr_publish_batch_deinit(hr_pub_batch *b)
{
}

int hr_publish_write_id(const char *id, char **out, size_t *out_len)
{
    return HR_EINTERNAL;
}

int hr_publish_write_ids(const char *const *ids, size_t n, char **out, size_t *out_len)
{
    return HR_EINTERNAL;
}

int hr_publish_write_error(const char *code, const char *message, char **out, size_t *out_len)
{
    return HR_EINTERNAL;
}

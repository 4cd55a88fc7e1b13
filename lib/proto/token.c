/* JWT verification (libjwt 1.10). Stub: implementation follows. */
#include "token.h"

#include "core/err.h"

int hr_token_verify(const hr_token_cfg *cfg, const char *jwt, size_t len, int64_t now_unix,
                    hr_identity *out, const char **why)
{
    hr_identity_init(out);
    if (why != NULL)
        *why = "malformed";
    return HR_EDENIED;
}

bool hr_token_from_bearer(const char *value, size_t len, const char **tok, size_t *tok_len)
{
    return false;
}

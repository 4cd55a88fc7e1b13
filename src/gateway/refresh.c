/* The gateway's answer to a client refresh (refresh.h). */
#include "refresh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/cproto.h"
#include "proto/identity.h"
#include "proto/lifetime.h"

static int error_down(const char *code, const char *msg, const char *ref, char **out,
                      size_t *out_len)
{
    const int rc = hr_cproto_write_error(code, msg, ref, out, out_len);
    return rc == 0 ? GW_REFRESH_DOWN : HR_ENOMEM;
}

/* Builds the proxy form for a verified identity. */
static int identity_up(const hr_identity *id, const char *ref, char **out, size_t *out_len)
{
    char *ch = NULL, *pub = NULL;
    size_t chl = 0, publ = 0;
    int rc = HR_ENOMEM;
    if (hr_identity_format_channels(id, &ch, &chl) == 0 &&
        hr_identity_format_publish(id, &pub, &publ) == 0)
        rc = hr_cproto_write_refresh_identity(id->user, ch, pub, id->expires, ref, out, out_len);
    free(ch);
    free(pub);
    return rc == 0 ? GW_REFRESH_UP : HR_ENOMEM;
}

int gw_refresh_rewrite(const hr_token_cfg *tok, const char *user, const uint8_t *p, size_t len,
                       int64_t now, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    /* Most messages are not refreshes: skip the parse for them. A JSON
     * string can only say "refresh" with those letters or \u escapes, so
     * a message holding neither cannot be one (no escape slips through). */
    if (memmem(p, len, "refresh", 7) == NULL && memmem(p, len, "\\u", 2) == NULL)
        return GW_REFRESH_PASS;
    hr_cmd cmd;
    hr_cproto_error err;
    const int prc = hr_cproto_parse(p, len, 1, &cmd, &err);
    if (prc == HR_ENOMEM)
        return HR_ENOMEM;
    if (prc != 0 || cmd.type != HR_CMD_REFRESH) {
        if (prc == 0)
            hr_cmd_deinit(&cmd);
        return GW_REFRESH_PASS; /* the notifier answers it as usual */
    }
    int rc;
    if (cmd.has_identity) {
        rc = error_down("forbidden", "refresh with a token", cmd.ref, out, out_len);
        hr_cmd_deinit(&cmd);
        return rc;
    }
    hr_identity next, cur;
    hr_identity_init(&cur);
    cur.user = user != NULL && user[0] != '\0' ? (char *)user : NULL;
    const char *why = NULL;
    const int vrc = hr_token_verify(tok, cmd.token, strlen(cmd.token), now, &next, &why);
    if (vrc == HR_ENOMEM) {
        rc = HR_ENOMEM;
    } else if (vrc != 0) {
        char msg[HR_CPROTO_MESSAGE_CAP];
        snprintf(msg, sizeof msg, "token refused: %s", why);
        rc = error_down("forbidden", msg, cmd.ref, out, out_len);
    } else if ((why = hr_lifetime_refresh_refusal(&cur, &next)) != NULL) {
        rc = error_down("forbidden", why, cmd.ref, out, out_len);
    } else {
        rc = identity_up(&next, cmd.ref, out, out_len);
    }
    hr_identity_deinit(&next);
    hr_cmd_deinit(&cmd);
    return rc;
}

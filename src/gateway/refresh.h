/* gw_refresh: the in-band token refresh (docs/protocol.md "Token
 * lifetime") on a route whose tokens the gateway verifies. The gateway
 * answers every client `refresh` itself, so a notifier without the JWT key
 * still gets the new identity, and a client can never hand the notifier an
 * identity of its own making: a valid token naming the connection's user
 * goes up as the proxy form
 *   {"type":"refresh","identity":{"user","channels","publish","expires"},"ref"}
 * (taken by the notifier only from a trusted proxy's sessions); anything
 * else is answered down with error `forbidden` / `bad_request`. Pure: the
 * clock is the caller's; no I/O. */
#ifndef GW_REFRESH_H
#define GW_REFRESH_H

#include <stddef.h>
#include <stdint.h>

#include "proto/token.h"

typedef enum gw_refresh_verdict {
    GW_REFRESH_PASS = 0, /* not a refresh: relay the message as it is */
    GW_REFRESH_UP = 1,   /* send *out up instead of the message */
    GW_REFRESH_DOWN = 2, /* send *out (an error) to the client; nothing goes up */
} gw_refresh_verdict;

/* Looks at one client text message p[0..len) of a connection whose verified
 * user is user ("" or NULL: anonymous) at now (unix seconds). For UP and
 * DOWN, *out is a malloc'd JSON text (caller frees) of *out_len bytes.
 * Returns a verdict, or HR_ENOMEM. */
int gw_refresh_rewrite(const hr_token_cfg *tok, const char *user, const uint8_t *p, size_t len,
                       int64_t now, char **out, size_t *out_len);

#endif

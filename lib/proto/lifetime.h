/* Token lifetime rules of docs/protocol.md "Token lifetime", as pure
 * functions: when the `expiring` notice goes out, whether a refresh may
 * replace a connection's identity, and which subscriptions a narrower
 * `channels` claim ends. The clock and the timers are the caller's. */
#ifndef HR_LIFETIME_H
#define HR_LIFETIME_H

#include <stddef.h>
#include <stdint.h>

#include "identity.h"

/* Seconds before the end at which the notice goes out at the latest. */
#define HR_LIFETIME_NOTICE_S 60

/* When to send {"type":"expiring"} to a connection that learnt at now that
 * its identity ends at expires (unix seconds, > 0): a minute before the
 * end, or half-way through what is left, whichever is later. A result <=
 * now means at once; expires <= now means no notice (close at once). */
int64_t hr_lifetime_notice_at(int64_t now, int64_t expires);

/* Whether next (a verified token's identity, or the proxy's) may replace
 * cur: NULL when it may, else a short static reason for the `forbidden`
 * error: "anonymous connections cannot refresh" (cur has no user),
 * "the new token names no user", "the new token names another user". */
const char *hr_lifetime_refresh_refusal(const hr_identity *cur, const hr_identity *next);

/* Of the subscribed names subs[0..n), copies into lost[] (capacity n) those
 * next may no longer subscribe to (hr_channel_can_subscribe), in order.
 * Returns their count. */
size_t hr_lifetime_lost(const hr_identity *next, const char *const *subs, size_t n,
                        const char **lost);

#endif

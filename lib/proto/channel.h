/* Channel names and the rules that decide who may subscribe to what
 * (SPEC §2 "Channels"). Names match [A-Za-z0-9_.:@-]{1,128}. A name without
 * ':' is public, except Pusher's "private-" and "presence-" names. A name
 * with ':' (or such a prefix) is protected: "user:<id>" belongs only to the
 * connection whose authenticated user id is <id>; any other protected name is
 * granted only by the identity's `channels` claim (exact names, or prefixes
 * ending in '*'). Pure functions over bytes, no allocation. Who a
 * connection is (hr_identity) is its own noun: identity.h. */
#ifndef HR_CHANNEL_H
#define HR_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "identity.h"

/* Longest channel name in bytes. */
#define HR_CHANNEL_MAX 128
/* True when name[0..len) matches [A-Za-z0-9_.:@-]{1,128}. name may be NULL
 * when len == 0 (false). Does not need a NUL terminator. */
bool hr_channel_is_valid(const char *name, size_t len);

/* The naming rule, as error messages quote it. */
#define HR_CHANNEL_RULE "[A-Za-z0-9_.:@-]{1,128}"
/* Bytes of an invalid name that error messages show before cutting it. */
#define HR_CHANNEL_SHOWN 40
/* Capacity that always holds hr_channel_explain's text, NUL included. */
#define HR_CHANNEL_EXPLAIN_CAP 112

/* Explains why name[0..len) is refused, for an error message: the name in
 * double quotes, cut after HR_CHANNEL_SHOWN bytes (at a character boundary)
 * with "…" when longer, then the rule, e.g.
 *   "a b" (names match [A-Za-z0-9_.:@-]{1,128})
 *   "xxxxxxxx…" (300 bytes; names match [A-Za-z0-9_.:@-]{1,128})
 * Control characters and bytes that are not valid UTF-8 are shown as '?', so
 * the text is valid UTF-8 (JSON encoders escape the rest: quotes, '\').
 * Writes at most cap bytes (truncated, NUL-terminated when cap > 0);
 * HR_CHANNEL_EXPLAIN_CAP always suffices. Returns out. */
char *hr_channel_explain(const char *name, size_t len, char *out, size_t cap);

/* True when the (valid) name contains ':' or starts with Pusher's
 * "private-" or "presence-" (SPEC §2). Does not validate. */
bool hr_channel_is_protected(const char *name, size_t len);

/* True when p[0..len) is a valid claim entry: a channel name, or a (possibly
 * empty) run of channel-name characters followed by a single trailing '*',
 * at most HR_CHANNEL_MAX + 1 bytes. */
bool hr_channel_is_valid_pattern(const char *p, size_t len);

/* Decides whether identity id (NULL = anonymous, no claims) may subscribe to
 * name[0..len). Invalid names: false. Public names: true. "user:<x>": true
 * only when id->user equals <x> exactly (the claims never grant another
 * user's channel). Other protected names: true when an entry of
 * id->channels equals name or is a prefix pattern ("p*") that name starts
 * with. */
bool hr_channel_can_subscribe(const hr_identity *id, const char *name, size_t len);

#endif

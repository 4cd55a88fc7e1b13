/* Channel names and the rules that decide who may subscribe to what
 * (SPEC §2 "Channels"). Names match [A-Za-z0-9_.:@-]{1,128}. A name without
 * ':' is public, except Pusher's "private-" and "presence-" names. A name
 * with ':' (or such a prefix) is protected: "user:<id>" belongs only to the
 * connection whose authenticated user id is <id>; any other protected name is
 * granted only by the identity's `channels` claim (exact names, or prefixes
 * ending in '*'). Pure functions over bytes; no allocation except in the
 * hr_identity constructors, which say so. */
#ifndef HR_CHANNEL_H
#define HR_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest channel name in bytes. */
#define HR_CHANNEL_MAX 128
/* Longest user id accepted in an identity (sub claim, X-Herald-User). */
#define HR_IDENTITY_USER_MAX 256
/* Most entries in an identity's channels claim. */
#define HR_IDENTITY_CHANNELS_MAX 256

/* Who a connection is. user == NULL means anonymous. channels holds the
 * token's `channels` claim: each entry is a valid channel name, or a valid
 * channel-name prefix followed by one '*' ("team:42:*"; a lone "*" matches
 * every protected name except other users' "user:" channels).
 * Ownership: every string and the array belong to the identity; release them
 * with hr_identity_deinit. All strings are NUL-terminated. */
typedef struct hr_identity {
    char *user;
    char **channels;
    size_t n_channels;
} hr_identity;

/* True when name[0..len) matches [A-Za-z0-9_.:@-]{1,128}. name may be NULL
 * when len == 0 (false). Does not need a NUL terminator. */
bool hr_channel_is_valid(const char *name, size_t len);

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

/* Sets *id to the anonymous identity (no allocation). */
void hr_identity_init(hr_identity *id);

/* Frees everything the identity owns and leaves it anonymous (reusable).
 * Safe on an initialised identity, twice, or with id == NULL. */
void hr_identity_deinit(hr_identity *id);

/* Builds an identity from the gateway's X-Herald-User and X-Herald-Channels
 * header values (views, need no NUL). user == NULL or user_len == 0 means
 * anonymous. channels is a comma-separated list; blanks around entries and
 * empty entries are skipped; NULL or empty means no claims.
 * Returns 0 with *out filled (owned by the caller, release with
 * hr_identity_deinit); HR_EINVAL when the user is longer than
 * HR_IDENTITY_USER_MAX, is not valid UTF-8 or holds a control character or
 * NUL, or an entry is not a valid pattern, or there are more than
 * HR_IDENTITY_CHANNELS_MAX entries; HR_ENOMEM. On error *out is anonymous and holds nothing. */
int hr_identity_from_headers(const char *user, size_t user_len, const char *channels,
                             size_t channels_len, hr_identity *out);

/* Deep copy of src into *dst (owned by the caller). Returns 0 or HR_ENOMEM
 * (then *dst is anonymous). */
int hr_identity_copy(const hr_identity *src, hr_identity *dst);

/* Formats id->channels as the X-Herald-Channels header value ("a,b:*"), a
 * malloc'd NUL-terminated string in *out (caller frees) and its length in
 * *out_len; "" when there are no claims. Returns 0 or HR_ENOMEM. */
int hr_identity_format_channels(const hr_identity *id, char **out, size_t *out_len);

#endif

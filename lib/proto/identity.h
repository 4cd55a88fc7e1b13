/* hr_identity: who a connection is (SPEC §2 "Channels"): the authenticated
 * user id, if any, and the token's `channels` claim, as the notifier builds
 * it from a verified token or the gateway's X-Herald-User and
 * X-Herald-Channels headers. What an identity may subscribe to is
 * channel.h's (hr_channel_can_subscribe). */
#ifndef HR_IDENTITY_H
#define HR_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    char **publish; /* the token's `publish` claim: names or prefixes ending in '*' */
    size_t n_publish;
    int64_t expires; /* unix seconds when the identity ends (token exp + leeway); 0: never */
} hr_identity;

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

/* Deep copy of src (all fields) into *dst (owned by the caller). Returns 0 or HR_ENOMEM
 * (then *dst is anonymous). */
int hr_identity_copy(const hr_identity *src, hr_identity *dst);

/* Replaces id->publish with the comma-separated list[0..len) (the
 * X-Herald-Publish header; blanks and empty entries skipped, NULL = none).
 * Returns 0, HR_EINVAL (an entry is not a valid pattern, or more than
 * HR_IDENTITY_CHANNELS_MAX) or HR_ENOMEM; on error id is unchanged. */
int hr_identity_set_publish(hr_identity *id, const char *list, size_t len);

/* Reads the X-Herald-Expires value: unix seconds, 1..15 decimal digits
 * without sign, blanks or leading zero. Returns 0 or HR_EINVAL. */
int hr_identity_parse_expires(const char *v, size_t len, int64_t *out);

/* True when id may publish to the valid channel name[0..len) (SPEC §2
 * "Client publish"): id has a user and a publish entry equals the name or
 * is a prefix ending in '*' that the name starts with. Anonymous: never. */
bool hr_identity_may_publish(const hr_identity *id, const char *name, size_t len);

/* Formats id->publish like hr_identity_format_channels (X-Herald-Publish). */
int hr_identity_format_publish(const hr_identity *id, char **out, size_t *out_len);

/* Formats id->channels as the X-Herald-Channels header value ("a,b:*"), a
 * malloc'd NUL-terminated string in *out (caller frees) and its length in
 * *out_len; "" when there are no claims. Returns 0 or HR_ENOMEM. */
int hr_identity_format_channels(const hr_identity *id, char **out, size_t *out_len);

#endif

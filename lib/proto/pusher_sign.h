/* Pusher signatures (SPEC §8): the channel auth string that an app's auth
 * endpoint returns for private and presence channels, and the signed query
 * of the Pusher HTTP API. Both are HMAC-SHA256 with the app secret, written
 * as lowercase hex; checks compare in constant time. Pure: the caller passes
 * the clock (now, unix seconds). OpenSSL does the hashing. */
#ifndef HR_PUSHER_SIGN_H
#define HR_PUSHER_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hex digest length of HMAC-SHA256 (without NUL). */
#define HR_PUSHER_HEX_LEN 64
/* Largest allowed |now - auth_timestamp| of an API request, in seconds. */
#define HR_PUSHER_API_SKEW 600
/* Most query parameters an API request may carry. */
#define HR_PUSHER_API_MAX_PARAMS 32
/* Longest decoded query parameter name or value. */
#define HR_PUSHER_API_PARAM_MAX 1024

/* True when s[0..len) matches ^\d+\.\d+$ with at most 20 digits each side
 * (the pusher server package refuses any other socket id). */
bool hr_pusher_socket_id_is_valid(const char *s, size_t len);

/* Writes lowercase hex HMAC-SHA256(secret, msg[0..len)) and a NUL into
 * out[0..HR_PUSHER_HEX_LEN]. Returns 0, or HR_EINTERNAL if OpenSSL fails. */
int hr_pusher_hmac_hex(const char *secret, const char *msg, size_t len,
                       char out[HR_PUSHER_HEX_LEN + 1]);

/* Checks a subscription's auth string "<key>:<hex signature>" against
 * HMAC-SHA256(secret, "<socket_id>:<channel>[:<channel_data>]")
 * (channel_data only for presence channels; NULL otherwise). All strings
 * NUL-terminated. True only for the configured key and the exact lowercase
 * signature; the comparison does not leak where they differ. */
bool hr_pusher_auth_check(const char *key, const char *secret, const char *socket_id,
                          const char *channel, const char *channel_data, const char *auth);

/* One HTTP API request as it arrived: method ("POST"), path ("/apps/1/events"),
 * raw query (after '?', without it; may be NULL/0), body (may be NULL/0). */
typedef struct hr_pusher_api_req {
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
    const char *query;
    size_t query_len;
    const uint8_t *body;
    size_t body_len;
} hr_pusher_api_req;

/* Verifies the signed query of an HTTP API request: auth_key equals key,
 * auth_version is "1.0", auth_timestamp is within HR_PUSHER_API_SKEW
 * seconds of now, body_md5 (required when the body is not empty) is the
 * body's MD5 in hex, and auth_signature is HMAC-SHA256(secret,
 * "METHOD\nPATH\n" + the other parameters, percent-decoded, names
 * lowercased, sorted by name, joined as name=value with '&').
 * Returns 0 when it holds; HR_EDENIED when a check fails (*why, if not
 * NULL, gets a static reason for the 401 body); HR_EINVAL for a malformed
 * query (a bad escape, a repeated name, more than HR_PUSHER_API_MAX_PARAMS
 * parameters or one longer than HR_PUSHER_API_PARAM_MAX); HR_ENOMEM. */
int hr_pusher_api_verify(const hr_pusher_api_req *req, const char *key, const char *secret,
                         int64_t now, const char **why);

/* Builds the signed query for req (whose query holds the caller's other
 * parameters, already in name=value form, or nothing) as a Pusher server
 * library does: a malloc'd NUL-terminated string in *out (caller frees).
 * For tests and tools. Returns 0, HR_EINVAL (as hr_pusher_api_verify) or
 * HR_ENOMEM. */
int hr_pusher_api_sign(const hr_pusher_api_req *req, const char *key, const char *secret,
                       int64_t now, char **out);

#endif

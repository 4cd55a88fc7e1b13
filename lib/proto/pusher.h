/* Pusher Channels protocol 7 (SPEC §8): the client messages a pusher-js
 * client sends, the server messages it expects, and how Pusher channel names
 * map onto Herald's. Pure: no I/O, no clock; parsing allocates the message's
 * strings through the allocator hook (core/alloc.h: free() releases them).
 * Signatures (channel auth, HTTP API requests) live in pusher_sign.h.
 *
 * Wire shape: every message is {"event":..., "channel":..., "data":...}.
 * Clients send "data" as an object (a JSON string holding one is accepted
 * too); the server sends the "data" of pusher:* and pusher_internal:*
 * messages as a JSON *string* holding the object, as Pusher does, and
 * pusher-js decodes either.
 *
 * Channel names. Pusher spells [-A-Za-z0-9_=@,.;]{1,164}; Herald
 * [A-Za-z0-9_.:@-]{1,128}, where ':' makes a name protected. Mapping,
 * Pusher -> Herald:
 *   private-user-<id>      -> user:<id>          (';' in <id> becomes ':')
 *   private-<a;b...>       -> <a:b...>           (any name holding ';')
 *   private-<n>, presence-<n>, <n> -> the same name (protected in Herald
 *                             by the private-/presence- prefix, SPEC §2)
 *   private-encrypted-<n>  -> refused (end-to-end encryption unsupported)
 * and back, Herald -> Pusher: user:<id> -> private-user-<id with ':' as ';'>,
 * any other name holding ':' -> private-<name with ':' as ';'>, others
 * unchanged. Pusher names holding '=' or ',' have no Herald spelling, and the
 * Herald names private-user-<id> (without ':') are shadowed by user:<id>. */
#ifndef HR_PUSHER_H
#define HR_PUSHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"

/* The protocol version served (pusher-js sends ?protocol=7). */
#define HR_PUSHER_PROTOCOL 7
/* Longest Pusher channel name (bytes), as Pusher allows. */
#define HR_PUSHER_CHANNEL_MAX 164
/* Longest event name (bytes), as the pusher server library allows. */
#define HR_PUSHER_EVENT_MAX 200
/* Longest presence user id (bytes). */
#define HR_PUSHER_USER_ID_MAX 128
/* Longest socket id: two 20-digit numbers and a dot. */
#define HR_PUSHER_SOCKET_ID_MAX 41
/* Capacity of hr_pusher_error.message, NUL included. */
#define HR_PUSHER_MESSAGE_CAP 160

/* Pusher's close and error codes (4000-4099 do not reconnect, 4100-4199
 * reconnect after a pause, 4200-4299 reconnect at once). */
enum {
    HR_PUSHER_E_APP_UNKNOWN = 4001,
    HR_PUSHER_E_PATH = 4005,
    HR_PUSHER_E_PROTOCOL = 4007,
    HR_PUSHER_E_NO_PROTOCOL = 4008,
    HR_PUSHER_E_UNAUTHORIZED = 4009,
    HR_PUSHER_E_OVER_CAPACITY = 4100, /* slow reader, overload */
    HR_PUSHER_E_RECONNECT = 4200,     /* shutdown, upstream lost */
    HR_PUSHER_E_PONG_TIMEOUT = 4201,
    HR_PUSHER_E_INACTIVE = 4202,
    HR_PUSHER_E_CLIENT_EVENT_RATE = 4301,
};

typedef enum hr_pusher_msg_type {
    HR_PUSHER_MSG_SUBSCRIBE,
    HR_PUSHER_MSG_UNSUBSCRIBE,
    HR_PUSHER_MSG_PING,
    HR_PUSHER_MSG_PONG,
    HR_PUSHER_MSG_CLIENT_EVENT, /* "client-*" */
    HR_PUSHER_MSG_OTHER,        /* another pusher:* event (pusher:signin): ignore */
} hr_pusher_msg_type;

/* One parsed client message. Fields that a type does not use are NULL.
 *   SUBSCRIBE:    channel (a valid Pusher name), auth and channel_data (the
 *                 raw strings, NULL when absent).
 *   UNSUBSCRIBE:  channel.
 *   CLIENT_EVENT: event ("client-..."), channel, data (compact JSON text of
 *                 "data", "null" when absent), data_len.
 *   OTHER:        event.
 * All strings NUL-terminated and owned by the message; hr_pusher_msg_deinit. */
typedef struct hr_pusher_msg {
    hr_pusher_msg_type type;
    char *event;
    char *channel;
    char *auth;
    char *channel_data;
    char *data;
    size_t data_len;
} hr_pusher_msg;

/* Why a message was refused: code 0 (sent as null) and a short message. */
typedef struct hr_pusher_error {
    int code;
    char message[HR_PUSHER_MESSAGE_CAP];
} hr_pusher_error;

/* Parses one client text message p[0..len) (size limits are the caller's).
 * Returns 0 with *out filled (caller owns it); HR_EINVAL with *err filled
 * (invalid JSON, missing or malformed fields, an event neither pusher:* nor
 * client-*, an invalid channel or event name); HR_ENOMEM. On error *out holds
 * nothing. err may be NULL. */
int hr_pusher_parse(const uint8_t *p, size_t len, hr_pusher_msg *out, hr_pusher_error *err);

/* Frees the message's strings; safe twice and on a zeroed message. */
void hr_pusher_msg_deinit(hr_pusher_msg *m);

/* Presence data a subscriber sends (channel_data, as signed by the app's
 * auth endpoint): {"user_id":"<id>"|<integer>,"user_info":<any>}. Returns 0
 * with *user_id (1..HR_PUSHER_USER_ID_MAX bytes, UTF-8, no control
 * characters) and *user_info (compact JSON, NULL when absent) malloc'd
 * (caller frees both); HR_EINVAL; HR_ENOMEM. On error both are NULL. */
int hr_pusher_parse_channel_data(const char *s, size_t len, char **user_id, char **user_info);

/* ---- channel names ---- */

typedef enum hr_pusher_kind {
    HR_PUSHER_PUBLIC,
    HR_PUSHER_PRIVATE,
    HR_PUSHER_PRESENCE,
} hr_pusher_kind;

/* True when p[0..len) matches [-A-Za-z0-9_=@,.;]{1,164}. */
bool hr_pusher_channel_is_valid(const char *p, size_t len);

/* The kind of a Pusher name, by its prefix (no validation). */
hr_pusher_kind hr_pusher_channel_kind(const char *p, size_t len);

/* Maps Pusher name p[0..len) to its Herald name (rules above) in
 * out[0..HR_CHANNEL_MAX] with a NUL. Returns the Herald name's length, or
 * HR_EINVAL when p is not a valid Pusher name or has no Herald spelling. */
int hr_pusher_channel_to_herald(const char *p, size_t len, char out[HR_CHANNEL_MAX + 1]);

/* Maps Herald name h[0..len) to its Pusher name in
 * out[0..HR_PUSHER_CHANNEL_MAX] with a NUL. Returns the length, or HR_EINVAL
 * when h is not a valid Herald name. */
int hr_pusher_channel_from_herald(const char *h, size_t len, char out[HR_PUSHER_CHANNEL_MAX + 1]);

/* True when e[0..len) is usable as an event name: 1..HR_PUSHER_EVENT_MAX
 * bytes of UTF-8 without control characters. */
bool hr_pusher_event_is_valid(const char *e, size_t len);

/* ---- server messages ----
 * Control messages return 0 with a malloc'd NUL-terminated string in *out
 * (caller frees) and its length in *out_len; HR_EINVAL for an input the
 * function names as invalid (checked before anything is built); HR_ENOMEM. */

/* pusher:connection_established, data "{\"socket_id\":..,\"activity_timeout\":..}".
 * socket_id must match ^\d+\.\d+$; activity_timeout is in seconds. */
int hr_pusher_write_established(const char *socket_id, unsigned activity_timeout, char **out,
                                size_t *out_len);

/* One presence member: user_id and user_info (compact JSON or NULL). */
typedef struct hr_pusher_member {
    const char *user_id;
    const char *user_info;
} hr_pusher_member;

/* pusher_internal:subscription_succeeded on channel (a valid Pusher name).
 * For presence channels pass the n members (n >= 1, distinct ids, the
 * subscriber included): data then holds {"presence":{"count":n,"ids":[..],
 * "hash":{id:info}}}; otherwise pass members == NULL, n == 0 (data "{}"). */
int hr_pusher_write_subscribed(const char *channel, const hr_pusher_member *members, size_t n,
                               char **out, size_t *out_len);

/* pusher_internal:member_added ({"user_id":..,"user_info":..}) or, with
 * added false, pusher_internal:member_removed ({"user_id":..}). */
int hr_pusher_write_member(const char *channel, bool added, const hr_pusher_member *m, char **out,
                           size_t *out_len);

/* pusher:pong (data "{}") and pusher:ping (data "{}"). */
int hr_pusher_write_pong(char **out, size_t *out_len);
int hr_pusher_write_ping(char **out, size_t *out_len);

/* pusher:error with data "{\"code\":<code>|null,\"message\":..}" (code 0
 * writes null). */
int hr_pusher_write_error(int code, const char *message, char **out, size_t *out_len);

/* pusher:subscription_error on channel: data {"type":"AuthError",
 * "error":<message>,"status":<status>}, which pusher-js hands to the
 * channel's pusher:subscription_error handlers. */
int hr_pusher_write_subscription_error(const char *channel, int status, const char *message,
                                       char **out, size_t *out_len);

/* An event: {"event":<event>,"channel":<channel>,"data":<string>[,"user_id":..]}
 * Hot path: writes into out[0..cap) without allocating and without a NUL,
 * with hr_cproto_write_event's snprintf-like contract (returns the full
 * length; nothing useful written when it exceeds cap; out may be NULL when
 * cap == 0). data_json is Herald's compact JSON data: a JSON string is sent
 * as it is, any other value as a string holding its JSON text, so what a
 * Pusher server library published (a string) arrives unchanged. event must
 * pass hr_pusher_event_is_valid, channel hr_pusher_channel_is_valid;
 * user_id (presence client events) may be NULL. Returns HR_EINVAL for bad
 * input, HR_ETOOBIG past INT_MAX. */
int hr_pusher_write_event(char *out, size_t cap, const char *event, size_t elen,
                          const char *channel, size_t clen, const char *data_json, size_t dlen,
                          const char *user_id);

#endif

/* The Pusher HTTP API (SPEC §8) as far as it is pure: which endpoint a
 * request path names, the bodies of POST /apps/<id>/events and
 * /batch_events turned into Herald publish items, and the JSON replies of
 * the channel queries. Signatures are checked with pusher_sign.h first.
 * Pure: no I/O; allocates through the allocator hook (free() releases it).
 *
 * Event data: Pusher publishes data as a string S. Herald keeps the JSON
 * value S holds when S is JSON ({"a":1} stays an object for native
 * clients), else the JSON string S; hr_pusher_write_event gives Pusher
 * clients S back either way. The event's "name" becomes the item's event
 * name; channel names map with hr_pusher_channel_to_herald. */
#ifndef HR_PUSHER_API_H
#define HR_PUSHER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publish.h"
#include "pusher.h"

/* Most channels one event may name, and most events in one batch (Pusher's). */
#define HR_PUSHER_API_MAX_CHANNELS 100
#define HR_PUSHER_API_MAX_BATCH 10

typedef enum hr_pusher_api_route {
    HR_PUSHER_API_EVENTS,       /* POST /apps/<id>/events */
    HR_PUSHER_API_BATCH,        /* POST /apps/<id>/batch_events */
    HR_PUSHER_API_CHANNELS,     /* GET /apps/<id>/channels */
    HR_PUSHER_API_CHANNEL,      /* GET /apps/<id>/channels/<name> */
    HR_PUSHER_API_CHANNEL_USERS /* GET /apps/<id>/channels/<name>/users */
} hr_pusher_api_route;

/* True when path[0..len) starts with "/apps/" (a Pusher API request). */
bool hr_pusher_api_is_api_path(const char *path, size_t len);

/* Finds the endpoint of path[0..len) (no query) for app app_id. Returns 0
 * with *route set, and for the channel routes the Pusher channel name in
 * channel[0..HR_PUSHER_CHANNEL_MAX] (NUL-terminated); HR_EINVAL for another
 * app, an unknown endpoint or an invalid channel name (answer 404). */
int hr_pusher_api_match(const char *path, size_t len, const char *app_id,
                        hr_pusher_api_route *route, char channel[HR_PUSHER_CHANNEL_MAX + 1]);

/* Parses the body of /events (batch false: one event, possibly to many
 * channels) or /batch_events (batch true: {"batch":[...]}) into *out, one
 * item per event, in order. An event needs "name" (a valid event name),
 * "data" (a string) and "channels" (1..HR_PUSHER_API_MAX_CHANNELS names)
 * or "channel"; "socket_id", when present, must be a valid socket id and is
 * copied into the matching entry of *exclude (caller frees the array and
 * its strings with hr_pusher_api_exclude_free; NULL entries mean none),
 * so that connection does not get its own event. Returns 0; HR_EINVAL with
 * a message in errbuf (errcap bytes); HR_ENOMEM. On error nothing is left
 * to free. */
int hr_pusher_api_parse_events(const uint8_t *body, size_t len, bool batch, hr_pub_batch *out,
                               char ***exclude, char *errbuf, size_t errcap);

/* Frees an exclude array of n entries from hr_pusher_api_parse_events. */
void hr_pusher_api_exclude_free(char **exclude, size_t n);

/* Turns Pusher data S[0..len) into Herald's compact JSON data (see above):
 * a malloc'd NUL-terminated string in *out, length in *out_len. Returns 0,
 * HR_EINVAL (S is not UTF-8 or holds a NUL) or HR_ENOMEM. */
int hr_pusher_api_data(const char *s, size_t len, char **out, size_t *out_len);

/* One channel in a query reply: its Pusher name and counts. */
typedef struct hr_pusher_channel_info {
    const char *name;
    size_t subscription_count;
    size_t user_count; /* presence channels only */
} hr_pusher_channel_info;

/* {"channels":{"<name>":{[ "user_count":n ]},...}} for GET /channels
 * (user_count for presence channels when with_user_count).
 * {"occupied":bool[,"subscription_count":n][,"user_count":n]} for GET
 * /channels/<name> (one entry; counts when asked; occupied when either count
 * is above 0: a presence channel may have members only on other instances).
 * {"users":[{"id":"<id>"},...]} for GET /channels/<name>/users.
 * Each returns 0 with a malloc'd NUL-terminated string (caller frees),
 * HR_EINVAL for an invalid name or id, or HR_ENOMEM. */
int hr_pusher_api_write_channels(const hr_pusher_channel_info *chs, size_t n, bool with_user_count,
                                 char **out, size_t *out_len);
int hr_pusher_api_write_channel(const hr_pusher_channel_info *ch, bool with_subscriptions,
                                bool with_users, char **out, size_t *out_len);
int hr_pusher_api_write_users(const char *const *ids, size_t n, char **out, size_t *out_len);

#endif

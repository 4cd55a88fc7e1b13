/* POST /publish request bodies and replies (SPEC §3). A body is one item
 * {"channel":"orders","data":<JSON>} or {"channels":["a","b"],"data":<JSON>},
 * or a JSON array of such items (a batch). Parsing is all-or-nothing: one bad
 * item rejects the whole body, so nothing is published. The "data" value is
 * re-serialised once here as compact JSON, so the fan-out path copies it
 * verbatim (see hr_cproto_write_event). Pure: no I/O; allocates through the allocator
 * hook (core/alloc.h), so free() releases what it returns. */
#ifndef HR_PUBLISH_H
#define HR_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_name.h"

/* Most channels named by one item ("channels" array); more is HR_EINVAL. */
#define HR_PUBLISH_MAX_CHANNELS 1024
/* Event names: event_name.h (kept under these names for the publish API). */
#define HR_PUBLISH_EVENT_MAX HR_EVENT_NAME_MAX
#define HR_PUBLISH_EVENT_DEFAULT HR_EVENT_NAME_DEFAULT

/* One event to publish: to n_channels (>= 1) distinct valid channel names
 * (duplicates dropped, order kept), with data the compact JSON text of the
 * item's "data" value (any JSON value, null included), NUL-terminated,
 * data_len bytes without the NUL, and the optional event name of the item's
 * "event" (hr_event_name_is_valid; NULL when absent), which Pusher
 * clients see as the event's name (SPEC §8). Everything owned by the
 * enclosing batch. */
typedef struct hr_pub_item {
    char **channels;
    size_t n_channels;
    char *data;
    size_t data_len;
    char *event;
    size_t event_len;
    /* A Pusher socket id (hr_publish_exclude_is_valid) the event must not
     * reach (the Pusher HTTP API's socket_id), or NULL. Carried by every
     * broker like event; hr_publish_parse never sets it. */
    char *exclude;
    size_t exclude_len;
} hr_pub_item;

/* A parsed body: n_items >= 1 items in body order. is_batch is true when the
 * body was an array (reply with {"ids":[...]}, one id per item in order),
 * false for a single object (reply {"id":"..."}). Owned by the caller;
 * release with hr_publish_batch_deinit. */
typedef struct hr_pub_batch {
    hr_pub_item *items;
    size_t n_items;
    bool is_batch;
} hr_pub_batch;

/* Parses body[0..len) (need not be NUL-terminated; the body size cap is the
 * caller's). An item must be an object with "data" present (null allowed)
 * and exactly one of "channel" (a valid name) or "channels" (a non-empty
 * array of valid names, at most HR_PUBLISH_MAX_CHANNELS), and may have
 * "event" (a valid event name); other fields are ignored. A batch must be a non-empty array of at most max_items items.
 * Returns 0 with *out filled; HR_EINVAL (invalid JSON or any invalid item;
 * the message names the item index for batches) or HR_ETOOBIG (more than
 * max_items items) with a NUL-terminated human message in errbuf (truncated
 * to errcap; errbuf may be NULL when errcap == 0); HR_ENOMEM. On error *out
 * holds nothing. */
int hr_publish_parse(const uint8_t *body, size_t len, size_t max_items, hr_pub_batch *out,
                     char *errbuf, size_t errcap);

/* Longest excluded socket id (Pusher's ^\d+\.\d+$ ids, as Herald makes them). */
#define HR_PUBLISH_EXCLUDE_MAX 41

/* True when s[0..len) is a socket id: digits '.' digits, at most
 * HR_PUBLISH_EXCLUDE_MAX bytes. */
bool hr_publish_exclude_is_valid(const char *s, size_t len);

/* Frees everything the batch owns; safe twice and on a zeroed batch. */
void hr_publish_batch_deinit(hr_pub_batch *b);

/* Validates text[0..len) as exactly one JSON value of any type (the "data"
 * of an event that arrived from a broker: a Redis XADD data field, a NATS
 * payload) and returns it in the same compact form hr_publish_parse gives:
 * the publisher's bytes without insignificant whitespace, NUL-terminated,
 * malloc'd in *out (caller frees), length in *out_len. Returns 0,
 * HR_EINVAL (not one valid JSON value, or a raw NUL byte) or HR_ENOMEM. */
int hr_publish_normalize_data(const char *text, size_t len, char **out, size_t *out_len);

/* Reply bodies. Each returns 0 with a malloc'd NUL-terminated string in *out
 * (caller frees) and its length in *out_len, HR_EINVAL for an invalid id or
 * a string that is not UTF-8, or HR_ENOMEM.
 *   hr_publish_write_id:    {"id":"<id>"}
 *   hr_publish_write_ids:   {"ids":["<id>",...]}  (n may be 0: {"ids":[]})
 *   hr_publish_write_error: {"error":"<code>","message":"<message>"}
 *     code e.g. "bad_request", "unauthorized", "payload_too_large";
 *     message is JSON-escaped. */
int hr_publish_write_id(const char *id, char **out, size_t *out_len);
int hr_publish_write_ids(const char *const *ids, size_t n, char **out, size_t *out_len);
int hr_publish_write_error(const char *code, const char *message, char **out, size_t *out_len);

#endif

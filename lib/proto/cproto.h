/* The client JSON protocol of SPEC §2: client commands (subscribe,
 * unsubscribe) parsed into hr_cmd, and the server messages (welcome,
 * subscribed, unsubscribed, error, event) serialised with their exact shapes
 * and key order. Pure: no I/O, no clock; parsing allocates the command's
 * strings through the allocator hook (core/alloc.h: free() releases them).
 *
 * Encoders: control replies (welcome, subscribed, unsubscribed, error) are
 * rare and return a malloc'd NUL-terminated string plus its length; the event
 * encoder is on the fan-out hot path and writes into caller memory with an
 * snprintf-like contract. Strings that came from clients or tokens (ref,
 * message, user, connection id) are JSON-escaped; channel names and event ids
 * come from restricted alphabets and are checked, not escaped. */
#ifndef HR_CPROTO_H
#define HR_CPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest "ref" (bytes of the decoded UTF-8 string). Longer: bad_request. */
#define HR_CPROTO_REF_MAX 128
/* Longest "since" and event id (bytes). */
#define HR_CPROTO_ID_MAX 128
/* Capacity of hr_cproto_error.message, NUL included. */
#define HR_CPROTO_MESSAGE_CAP 160

/* Longest token in a refresh command (bytes): HR_TOKEN_MAX. */
#define HR_CPROTO_TOKEN_MAX 8192

typedef enum hr_cmd_type {
    HR_CMD_SUBSCRIBE,
    HR_CMD_UNSUBSCRIBE,
    HR_CMD_REFRESH,
    HR_CMD_PUBLISH
} hr_cmd_type;

/* One parsed client command. channels: 1..max_channels valid, distinct
 * names (duplicates are dropped silently, first occurrence kept, order
 * preserved). since: NULL when absent (always NULL for unsubscribe, where
 * it is ignored). ref: NULL when absent. All strings NUL-terminated and owned
 * by the command; release with hr_cmd_deinit. */
typedef struct hr_cmd {
    hr_cmd_type type;
    char **channels; /* PUBLISH: the one channel */
    size_t n_channels;
    char *since;
    char *ref;
    char *token;        /* REFRESH: the new JWT, or NULL with has_identity */
    bool has_identity;  /* REFRESH from a trusted proxy (docs/protocol.md) */
    char *id_user;      /* identity.user */
    char *id_channels;  /* identity.channels (X-Herald-Channels form) or NULL */
    char *id_publish;   /* identity.publish (X-Herald-Publish form) or NULL */
    int64_t id_expires; /* identity.expires, 0 for null or absent */
    char *data;         /* PUBLISH: "data" as compact JSON */
    size_t data_len;
} hr_cmd;

/* Why a command was refused. code is a static string: "bad_request" or
 * "too_many_channels". message is short human text (NUL-terminated). has_ref
 * says the command's "ref" could be read (a string of at most
 * HR_CPROTO_REF_MAX bytes); ref then holds it NUL-terminated, so the error
 * reply can echo it. */
typedef struct hr_cproto_error {
    const char *code;
    char message[HR_CPROTO_MESSAGE_CAP];
    bool has_ref;
    char ref[HR_CPROTO_REF_MAX + 1];
} hr_cproto_error;

/* Parses one client text message p[0..len) (need not be NUL-terminated;
 * input size limits are the caller's). Accepts a JSON object with "type"
 * "subscribe" or "unsubscribe", "channels" a non-empty array of valid channel
 * names (hr_channel_is_valid), optional "since" (string, 1..HR_CPROTO_ID_MAX
 * bytes) and "ref" (string, at most HR_CPROTO_REF_MAX bytes); unknown fields
 * are ignored. "refresh": "token" a string of 1..HR_CPROTO_TOKEN_MAX bytes,
 * or (from a trusted proxy only; the session checks) "identity":
 * {"user":string, "channels":string, "publish":string, "expires":int|null}.
 * "publish": "channel" a valid name and "data" any JSON value (kept compact
 * in cmd->data). Authorisation is not checked here (see
 * hr_channel_can_subscribe).
 * Returns 0 with *out filled (caller owns it; hr_cmd_deinit); HR_EINVAL with
 * *err filled (code "bad_request", or "too_many_channels" when more than
 * max_channels distinct channels are named); HR_ENOMEM (err holds nothing
 * useful: the caller closes with 1011). On error *out holds nothing. err may
 * be NULL. Raw NUL bytes anywhere are refused (invalid JSON). */
int hr_cproto_parse(const uint8_t *p, size_t len, size_t max_channels, hr_cmd *out,
                    hr_cproto_error *err);

/* Frees the command's strings; safe twice and on a zeroed command. */
void hr_cmd_deinit(hr_cmd *cmd);

/* {"type":"welcome","connection":"<conn_id>","user":"<user>"|null}
 * user NULL writes null. Returns 0 with a malloc'd NUL-terminated string in
 * *out (caller frees) and its length in *out_len; HR_EINVAL (conn_id NULL,
 * or a string not valid UTF-8), checked before anything is built; HR_ENOMEM. */
int hr_cproto_write_welcome(const char *conn_id, const char *user, char **out, size_t *out_len);

/* {"type":"subscribed","channels":[...],"recovered":true|false,"ref":"<ref>"}
 * "recovered" is always present (true when no since was given); "ref" only
 * when ref != NULL. Channels must be valid names. Same return contract as
 * hr_cproto_write_welcome. */
int hr_cproto_write_subscribed(const char *const *channels, size_t n, bool recovered,
                               const char *ref, char **out, size_t *out_len);

/* {"type":"unsubscribed","channels":[...],"ref":"<ref>"} ("ref" only when
 * ref != NULL). Same contract as hr_cproto_write_subscribed. */
int hr_cproto_write_unsubscribed(const char *const *channels, size_t n, const char *ref, char **out,
                                 size_t *out_len);

/* {"type":"unsubscribed","channels":[...],"reason":"<reason>"}: the server
 * ended these subscriptions (a refresh narrowed the channels claim). Same
 * contract as hr_cproto_write_subscribed. */
int hr_cproto_write_unsubscribed_reason(const char *const *channels, size_t n, const char *reason,
                                        char **out, size_t *out_len);

/* {"type":"expiring","in":<in_s>} (negative written as 0). */
int hr_cproto_write_expiring(int64_t in_s, char **out, size_t *out_len);

/* {"type":"refreshed","expires":<expires>|null,"ref":"<ref>"} (null when
 * expires <= 0; "ref" only when ref != NULL). */
int hr_cproto_write_refreshed(int64_t expires, const char *ref, char **out, size_t *out_len);

/* {"type":"published","id":"<id>","ref":"<ref>"} (id a valid event id). */
int hr_cproto_write_published(const char *id, const char *ref, char **out, size_t *out_len);

/* The refresh a gateway forwards after verifying the client's token itself:
 * {"type":"refresh","identity":{"user":..,"channels":..,"publish":..,
 * "expires":<n>|null},"ref":..} (channels/publish in header form, omitted
 * when NULL). Same return contract as hr_cproto_write_welcome. */
int hr_cproto_write_refresh_identity(const char *user, const char *channels, const char *publish,
                                     int64_t expires, const char *ref, char **out, size_t *out_len);

/* {"type":"error","code":"<code>","message":"<message>","ref":"<ref>"}
 * ("ref" only when ref != NULL). code is one of SPEC's codes (bad_request,
 * forbidden, rate_limited, too_many_channels); message and ref are escaped.
 * Same return contract as hr_cproto_write_welcome. */
int hr_cproto_write_error(const char *code, const char *message, const char *ref, char **out,
                          size_t *out_len);

/* The error reply for a parse failure: hr_cproto_write_error(err->code,
 * err->message, err->has_ref ? err->ref : NULL, ...). */
int hr_cproto_write_parse_error(const hr_cproto_error *err, char **out, size_t *out_len);

/* {"type":"event","channel":"<channel>","id":"<id>","data":<data_json>}
 * Hot path: writes into out[0..cap) without allocating and without a NUL.
 * channel must be a valid channel name and id 1..HR_CPROTO_ID_MAX printable
 * ASCII bytes other than '"' and '\\' (so neither needs escaping); data_json
 * must be already validated compact JSON, copied verbatim (dlen >= 1).
 * Returns the full length of the message: when it is <= cap the message was
 * written; when it is > cap nothing useful was written and the caller retries
 * with that capacity (snprintf-like; out may be NULL when cap == 0).
 * Returns HR_EINVAL for a bad channel, id or empty data, HR_ETOOBIG when the
 * length would exceed INT_MAX. */
int hr_cproto_write_event(char *out, size_t cap, const char *channel, size_t clen, const char *id,
                          size_t idlen, const char *data_json, size_t dlen);

/* Like hr_cproto_write_event with the publisher's event name (an extension
 * of SPEC §2 for events published with one, docs/compat.md):
 * {"type":"event","channel":"<channel>","id":"<id>","event":"<event>","data":<data_json>}
 * event must pass hr_event_name_is_valid (it is JSON-escaped here);
 * same returns, HR_EINVAL for a bad name too. */
int hr_cproto_write_named_event(char *out, size_t cap, const char *channel, size_t clen,
                                const char *id, size_t idlen, const char *event, size_t elen,
                                const char *data_json, size_t dlen);

/* True when id[0..len) is usable as an event id (see hr_cproto_write_event). */
bool hr_cproto_id_is_valid(const char *id, size_t len);

/* Views of one server `event` message (SPEC §2): channel and id are the
 * string contents without quotes, data the raw JSON text of the "data"
 * value. They point into the parsed input and are valid while it is. */
typedef struct hr_cproto_event {
    const char *channel;
    size_t channel_len;
    const char *id;
    size_t id_len;
    const char *data;
    size_t data_len;
} hr_cproto_event;

/* Reads one complete server message p[0..len) (the payload of a text frame,
 * need not be NUL-terminated) without allocating. Key order, whitespace and
 * unknown keys do not matter; the whole input must be one valid JSON value
 * (json_scan.h) with nothing after it but whitespace.
 * Returns 1 with *ev filled when it is an object whose "type" is "event",
 * "channel" a valid channel name and "id" a valid event id (both strings
 * written without escapes, as the notifier writes them) and "data" present;
 * 0 when it is not an event (not JSON, not an object, no "type" or another
 * type: a welcome, an error, a reply); HR_EINVAL when it says "type":"event"
 * but channel, id or data is missing or invalid, or one of those four keys
 * appears twice. *ev is zeroed unless 1 is returned. */
int hr_cproto_parse_event(const uint8_t *p, size_t len, hr_cproto_event *ev);

#endif

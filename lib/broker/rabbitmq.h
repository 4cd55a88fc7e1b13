/* The RabbitMQ streams broker (--broker amqp://...), SPEC §3.
 *
 *   amqp[s]://[user:password@]host[:port][/vhost][?stream=herald.events
 *             &max_age=S&max_bytes=N&warm=N&tls_ca=FILE]
 *
 * The stream queue (default herald.events) is declared when missing with
 * x-queue-type=stream, x-max-age (seconds; 0 = no limit) and
 * x-max-length-bytes (0 = no limit). Services publish to it through the
 * default exchange (routing key = the stream's name) a message whose body is
 * the event's JSON data and whose header "channel" names the channel ("a,b"
 * for several); an optional header "event" names the event for Pusher
 * clients, as the Redis field "event" does. Every notifier consumes the whole stream with
 * x-stream-offset from its last offset (manual acks, a prefetch window).
 *
 * Event id: the stream offset plus one, in decimal. RabbitMQ offsets start at
 * 0, and the Herald id 0 means "before every event" (hr_event_id_is_zero),
 * so offset N is id N+1: the same on every instance, ordered like offsets.
 *
 * Warm history: AMQP cannot ask a stream for its last offset, so on its first
 * start an instance publishes one marker message (header x-herald-marker, no
 * channel; every notifier skips it silently), reads the stream from "last"
 * until it sees its marker at offset M, then consumes from M - warm. That
 * gives the same history an XREVRANGE gives Redis, deterministically, also
 * on an empty stream; the cost is one small message per notifier start.
 *
 * POST /publish: each item is one message (publisher confirms). Its id is
 * learnt when the adapter's own consumer reads it back (matched by
 * message_id), so the reply carries the real offset. A batch is sent as
 * consecutive messages and answered when all are confirmed and read back;
 * RabbitMQ has no atomic multi-message publish into a stream, so if the
 * connection breaks mid-batch a prefix may be stored while /publish answers
 * 503 (the one gap in all-or-nothing).
 *
 * amqps:// verifies the server certificate (system store, or ?tls_ca=FILE)
 * and its host name. */
#ifndef HR_RABBITMQ_H
#define HR_RABBITMQ_H

#include <amqp.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/broker.h"
#include "broker/broker_url.h"
#include "broker/entry.h"

typedef struct hr_rabbitmq_config {
    char host[HR_BROKER_URL_FIELD];
    uint16_t port;                      /* default 5672, amqps 5671 */
    char vhost[HR_BROKER_URL_FIELD];    /* default "/" */
    char user[HR_BROKER_URL_FIELD];     /* default "guest" */
    char password[HR_BROKER_URL_FIELD]; /* default "guest" */
    char stream[HR_BROKER_URL_FIELD];   /* default "herald.events" */
    uint64_t max_age_s;                 /* default 86400; 0 = no limit */
    uint64_t max_bytes;                 /* default 0 (no limit) */
    uint64_t warm;                      /* default 10000 */
    bool tls;                           /* amqps:// */
    char tls_ca[HR_BROKER_URL_FIELD];   /* ?tls_ca=FILE: PEM CA bundle; "" = system store */
} hr_rabbitmq_config;

/* Parses an amqp:// or amqps:// URL into *out with the defaults above.
 * Returns 0 or HR_EINVAL with one line in err (never the password). Pure
 * apart from checking that tls_ca is readable. */
int hr_rabbitmq_config_parse(const char *url, hr_rabbitmq_config *out, char *err, size_t errcap);

/* Creates the adapter (cfg and cb copied). Nothing connects until
 * hr_broker_start. Returns NULL when out of memory. */
hr_broker *hr_rabbitmq_new(uv_loop_t *loop, const hr_rabbitmq_config *cfg,
                           const hr_broker_callbacks *cb, void *app);

/* What the adapter reads from a delivered message's headers. */
typedef struct hr_rabbitmq_meta {
    bool has_offset; /* x-stream-offset present and a non-negative integer */
    uint64_t offset;
    const char *channel; /* the "channel" header's text, NULL when absent or not text */
    size_t channel_len;
    const char
        *event; /* the optional "event" header's text (Pusher event name), NULL when absent */
    size_t event_len;
    const char
        *exclude; /* the optional "socket_id" header (a Pusher socket id left out), or NULL */
    size_t exclude_len;
    bool marker; /* x-herald-marker present: a notifier's start marker, not an event */
} hr_rabbitmq_meta;

/* Reads headers (NULL = none) into *out; pointers borrow from headers. Pure. */
void hr_rabbitmq_read_headers(const amqp_table_t *headers, hr_rabbitmq_meta *out);

/* The event id of stream offset off (off + 1; see above). */
hr_event_id hr_rabbitmq_id(uint64_t off);

/* Maps a message (meta from its headers, body[0..blen)) to an event in *e.
 * Returns 0 (then hr_entry_deinit e), HR_EINVAL for a malformed message (no
 * or invalid channel, body not one JSON value, an invalid event name: skip
 * it), HR_EPROTO without
 * an offset, or HR_ENOMEM. Pure. */
int hr_rabbitmq_map_msg(const hr_rabbitmq_meta *m, const char *body, size_t blen, hr_entry *e);

/* Where warm history starts given the marker's offset: the offset warm
 * messages before it (0 at least). Pure. */
uint64_t hr_rabbitmq_warm_start(uint64_t marker, uint64_t warm);

/* The x-max-age argument for max_age_s seconds ("86400s") into out; 0 or
 * HR_ETOOBIG. Pure. */
int hr_rabbitmq_max_age_arg(uint64_t max_age_s, char *out, size_t cap);

#endif

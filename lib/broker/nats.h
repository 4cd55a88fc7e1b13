/* The NATS JetStream broker (--broker nats://...), SPEC §3.
 *
 *   nats://[user:password@|token@]host[:port][?stream=HERALD&prefix=herald.events
 *          &max_age=S&max_msgs=N&max_bytes=N&warm=N]
 *
 * The stream (default HERALD, subjects "<prefix>.>") is created when missing
 * with limits retention (max_age seconds, max_msgs, max_bytes; 0 = no
 * limit). Services publish JSON to "<prefix>.<channel>"; an event for several
 * channels carries them in a "Herald-Channels: a,b" header (what POST
 * /publish sends when an item names more than one channel, or a channel
 * that is not a valid subject token). Each notifier consumes with an ordered
 * ephemeral consumer from its last stream sequence; the event id is the
 * stream sequence, the same on every instance. On start it reads the newest
 * `warm` messages into history.
 *
 * nats.c runs its own threads, and its JetStream calls are synchronous, so
 * the adapter keeps one worker thread that connects, creates the stream,
 * subscribes and publishes; received messages and results are handed to the
 * loop thread through a bounded queue and a uv_async (STYLE.md §10), where
 * they are decoded, checked and delivered in sequence order. If the
 * connection is lost the adapter reports down, fails queued publishes, and
 * reconnects with capped exponential backoff and jitter from its last
 * sequence; messages the stream dropped meanwhile raise the origin so a
 * resume from before the gap reports recovered:false. */
#ifndef HR_NATS_H
#define HR_NATS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/broker.h"
#include "broker/broker_url.h"
#include "broker/entry.h"

typedef struct hr_nats_config {
    char url[HR_BROKER_URL_FIELD + 32]; /* nats://host:port for nats.c (no credentials) */
    char user[HR_BROKER_URL_FIELD];
    char password[HR_BROKER_URL_FIELD];
    char token[HR_BROKER_URL_FIELD];
    bool has_user, has_token;
    char stream[HR_BROKER_URL_FIELD]; /* default "HERALD" */
    char prefix[HR_BROKER_URL_FIELD]; /* default "herald.events" */
    uint64_t max_age_s;               /* default 86400 */
    uint64_t max_msgs;                /* default 1000000 */
    uint64_t max_bytes;               /* default 0 (no limit) */
    uint64_t warm;                    /* default 10000 */
} hr_nats_config;

/* Parses a nats:// URL into *out with the defaults above. Returns 0 or
 * HR_EINVAL with one line in err. Pure. */
int hr_nats_config_parse(const char *url, hr_nats_config *out, char *err, size_t errcap);

/* Creates the adapter (cfg and cb copied). Nothing connects until
 * hr_broker_start. Returns NULL when out of memory. */
hr_broker *hr_nats_new(uv_loop_t *loop, const hr_nats_config *cfg, const hr_broker_callbacks *cb,
                       void *app);

/* Maps one stream message to an event in *e: channels from the
 * Herald-Channels header value when hdr != NULL, else the subject after
 * "<prefix>."; data[0..dlen) must be one JSON value. Returns 0 (then
 * hr_entry_deinit e), HR_EINVAL (malformed: skip it) or HR_ENOMEM. Pure. */
int hr_nats_map_msg(const char *prefix, const char *subject, const char *hdr, const char *data,
                    size_t dlen, uint64_t seq, hr_entry *e);

/* Where to start reading a stream holding sequences first..last (first >
 * last when empty) so the newest warm messages are read: the start
 * sequence, and in *origin the sequence before it (a resume from before
 * origin cannot be complete). Pure. */
uint64_t hr_nats_start_seq(uint64_t first, uint64_t last, uint64_t warm, uint64_t *origin);

/* Writes the subject for an item published to channels[0..n) into out
 * (capacity cap): "<prefix>.<first channel>", or "<prefix>._" when that
 * name is not a valid subject token. Sets *needs_header when the channels
 * must travel in the Herald-Channels header (n > 1 or "_" used). Returns 0
 * or HR_ETOOBIG. Pure. */
int hr_nats_subject_for(const char *prefix, const char *const *channels, size_t n, char *out,
                        size_t cap, bool *needs_header);

#endif

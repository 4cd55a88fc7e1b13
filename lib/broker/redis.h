/* The Redis Streams broker (--broker redis://...), SPEC §3.
 *
 *   redis[s]://[user:password@]host[:port][/db][?stream=herald:events&maxlen=N&warm=N]
 *
 * Services add events with XADD <stream> * channel <name> data <JSON>
 * ("channel" may list several names separated by commas). Every notifier
 * reads the whole stream with XREAD BLOCK (no consumer group) from the last
 * id it saw; the event id is the stream entry id, so every instance gives an
 * event the same id. POST /publish writes with XADD too (MAXLEN ~ maxlen;
 * a batch inside MULTI/EXEC, so it is all or nothing). On start the adapter
 * reads the newest `warm` entries (XREVRANGE) into history, so clients resume
 * across a notifier restart or on another instance.
 *
 * Two connections, both attached to the notifier's libuv loop with hiredis's
 * libuv adapter: one blocks in XREAD, the other carries XADD and XINFO. If
 * either fails the adapter reports down, fails pending publishes, and
 * reconnects with capped exponential backoff and jitter, resuming from the
 * last id. Entries trimmed while it was away are detected with XINFO STREAM's
 * max-deleted-entry-id (Redis >= 7) and raise the origin, so a resume from
 * before the gap reports recovered:false. Entries without a valid channel or
 * JSON data are counted, logged once, and skipped.
 *
 * rediss://host:port[?tls_ca=FILE] speaks TLS through an hr_tls_tunnel
 * (tls_tunnel.h), because Debian 12's hiredis 0.14 has no TLS support:
 * hiredis connects to the tunnel's private Unix socket. */
#ifndef HR_REDIS_H
#define HR_REDIS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/broker.h"
#include "broker/broker_url.h"
#include "broker/entry.h"

struct redisReply;

typedef struct hr_redis_config {
    char host[HR_BROKER_URL_FIELD];
    uint16_t port; /* default 6379 */
    uint32_t db;   /* SELECT db when > 0 */
    char user[HR_BROKER_URL_FIELD];
    char password[HR_BROKER_URL_FIELD];
    bool has_password;                /* AUTH [user] password */
    char stream[HR_BROKER_URL_FIELD]; /* default "herald:events" */
    uint64_t maxlen;                  /* XADD MAXLEN ~ maxlen; 0 = no trimming; default 1000000 */
    uint64_t warm;                    /* entries read into history at start; default 10000 */
    uint64_t block_ms;                /* XREAD BLOCK; default 5000 */
    bool tls;                         /* rediss://: through an hr_tls_tunnel */
    char tls_ca[HR_BROKER_URL_FIELD]; /* ?tls_ca=FILE: PEM CA bundle; "" = system store */
    bool tls_insecure;                /* ?tls_insecure=1: no certificate check (testing) */
} hr_redis_config;

/* Parses a redis:// or rediss:// URL into *out with the defaults above.
 * Returns 0 or HR_EINVAL with one line in err. Pure. */
int hr_redis_config_parse(const char *url, hr_redis_config *out, char *err, size_t errcap);

/* Creates the adapter on loop (cfg copied, cb copied, app passed back).
 * Nothing connects until hr_broker_start. Returns NULL when out of memory. */
hr_broker *hr_redis_new(uv_loop_t *loop, const hr_redis_config *cfg, const hr_broker_callbacks *cb,
                        void *app);

/* Maps one stream entry reply, [id, [field, value, ...]], to an event in *e
 * (caller storage, see entry.h). Fields "channel" and "data" are used,
 * others ignored. Returns 0 (hr_entry_deinit e afterwards); HR_EINVAL for a
 * malformed entry (no or invalid channel, no or invalid JSON data) with
 * *id still set, so the reader can skip it and go on; HR_EPROTO when the
 * reply does not have the entry shape or its id does not parse (*id not
 * set); HR_ENOMEM. Pure. */
int hr_redis_map_entry(const struct redisReply *r, hr_entry *e, hr_event_id *id);

/* What XINFO STREAM said, as far as the adapter needs it. */
typedef struct hr_redis_info {
    hr_event_id last_generated;
    hr_event_id max_deleted; /* valid when has_max_deleted (Redis >= 7) */
    hr_event_id first;       /* oldest entry held; valid when has_first */
    uint64_t length;         /* entries held */
    uint64_t entries_added;  /* entries ever added; valid when has_added (Redis >= 7) */
    bool has_max_deleted, has_first, has_added;
} hr_redis_info;

/* Reads an XINFO STREAM reply (a flat array of field, value pairs). Returns
 * 0 or HR_EPROTO when it is not such an array or last-generated-id is
 * missing. Pure. */
int hr_redis_parse_info(const struct redisReply *r, hr_redis_info *out);

/* The newest id that may have been removed from the stream (trimmed or
 * deleted): max-deleted-entry-id, and, when the stream ever lost entries
 * (entries-added > length; always assumed without entries-added), the id
 * just before its first entry. (0, 0) when nothing was ever removed. A
 * resume from before this id cannot be complete. Pure. */
hr_event_id hr_redis_info_gap(const hr_redis_info *info);

/* The id just before id in stream order ((0, 0) stays (0, 0)). */
hr_event_id hr_redis_id_before(hr_event_id id);

#endif

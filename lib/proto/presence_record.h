/* Presence and client-event records: what notifier instances tell each
 * other through the broker they all consume (src/notifier/cluster.c), as
 * the JSON data of an event on the reserved channel HR_PRESENCE_CHANNEL.
 * One object per record, every field a string so 64-bit ids survive:
 *
 *   {"hp":"add","i":"<inst>","c":"presence-x","s":"<socket>","u":"<user>"[,"f":"<info JSON>"]}
 *   {"hp":"rm","i":..,"c":..,"s":..,"u":..}
 *   {"hp":"hello","i":..}                   a new instance: everyone re-announces
 *   {"hp":"hb","i":..,"n":"<entries>"}      heartbeat with the sender's entry count
 *   {"hp":"want","i":..,"to":"<inst>"}      asks instance `to` to re-announce
 *   {"hp":"bye","i":..}                     the instance stops (SIGTERM): drop all
 *                                           its members now, not after the timeout
 *   {"hp":"sync","i":..,"p":"<part>","last":"1"|"0","m":[[c,s,u,f|null],..]}
 *   {"hp":"ce","i":..,"c":..,"s":..,"e":"client-x","d":"<data JSON>"[,"u":..]}
 *   {"hp":"skip","i":..,"s":..,"ms":..,"seq":..}   loop 0 to its other loops only:
 *                                   the event with id (ms, seq) skips socket s
 *
 * Records come from the network (any publisher of the broker could write
 * one), so the parser checks every field: channel names (Pusher's rule,
 * presence- for members), socket ids ^\d+\.\d+$, user ids, event names and
 * that info and data are one JSON value each. Pure: no I/O; allocates
 * through the allocator hook. */
#ifndef HR_PRESENCE_RECORD_H
#define HR_PRESENCE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Herald channel the records travel on. Protected (':'), and never
 * handed to the hub: clients neither see it nor find it in history. */
#define HR_PRESENCE_CHANNEL "herald:presence"
/* Most entries one sync record carries (larger tables take several). */
#define HR_PRESENCE_SYNC_MAX 200

typedef enum hr_presence_kind {
    HR_PRESENCE_ADD = 1,
    HR_PRESENCE_REMOVE,
    HR_PRESENCE_HELLO,
    HR_PRESENCE_HEARTBEAT,
    HR_PRESENCE_WANT,
    HR_PRESENCE_SYNC,
    HR_PRESENCE_CLIENT_EVENT,
    HR_PRESENCE_SKIP,
    HR_PRESENCE_BYE,
} hr_presence_kind;

/* One presence member connection: the Pusher channel, the connection's
 * socket id, the user id and its info (compact JSON, or NULL). */
typedef struct hr_presence_entry {
    const char *channel;
    const char *socket_id;
    const char *user_id;
    const char *user_info;
} hr_presence_entry;

/* A parsed record. Strings are borrowed from the record (valid until
 * hr_presence_record_deinit). */
typedef struct hr_presence_record {
    hr_presence_kind kind;
    uint64_t instance;          /* the sender */
    uint64_t to;                /* WANT: who should re-announce; SKIP: the event id's seq */
    uint64_t count;             /* HEARTBEAT: sender's entries; SYNC: part number; SKIP: ms */
    bool last;                  /* SYNC: the final part */
    hr_presence_entry *entries; /* ADD, REMOVE: 1; SYNC: n_entries (may be 0) */
    size_t n_entries;
    /* CLIENT_EVENT: channel, sender socket_id, event name, data (compact
     * JSON text, data_len bytes) and the sender's user id (or NULL).
     * SKIP: socket_id. */
    const char *channel, *socket_id, *event, *data, *user_id;
    size_t data_len;
    void *root; /* the parsed JSON, owned */
} hr_presence_record;

/* Parses data[0..len). Returns 0 with *out filled (release with
 * hr_presence_record_deinit), HR_EINVAL for anything malformed, or
 * HR_ENOMEM. On error *out holds nothing. */
int hr_presence_record_parse(const char *data, size_t len, hr_presence_record *out);

/* Frees what a parse made; safe twice and on a zeroed record. */
void hr_presence_record_deinit(hr_presence_record *r);

/* True when s is a socket id: digits '.' digits, at most 41 bytes. */
bool hr_presence_socket_id_is_valid(const char *s);

/* Writers: each returns 0 with a malloc'd NUL-terminated JSON object in
 * *out (caller frees) and its length in *out_len, HR_EINVAL for inputs the
 * parser would refuse, or HR_ENOMEM. */
int hr_presence_write_entry(bool add, uint64_t instance, const hr_presence_entry *e, char **out,
                            size_t *out_len);
/* HELLO or BYE (n ignored), HEARTBEAT (n: entries) or WANT (n: the instance
 * asked). */
int hr_presence_write_signal(hr_presence_kind kind, uint64_t instance, uint64_t n, char **out,
                             size_t *out_len);
int hr_presence_write_sync(uint64_t instance, uint64_t part, bool last,
                           const hr_presence_entry *entries, size_t n, char **out, size_t *out_len);
/* SKIP: the event (ms, seq) must not reach socket_id. */
int hr_presence_write_skip(uint64_t instance, const char *socket_id, uint64_t ms, uint64_t seq,
                           char **out, size_t *out_len);
int hr_presence_write_client_event(uint64_t instance, const char *channel, const char *socket_id,
                                   const char *event, const char *data, size_t data_len,
                                   const char *user_id, char **out, size_t *out_len);

#endif

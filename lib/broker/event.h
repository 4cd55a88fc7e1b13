/* Events as they come out of a broker, and their ids.
 *
 * An event id is a pair (ms, seq) ordered lexicographically. Two text forms
 * exist on the wire: "ms-seq" (Redis stream entry ids; the memory broker uses
 * "<process start ms>-<counter>") and a bare "seq" (NATS JetStream stream
 * sequence), which parses as (0, seq). Formatting writes "seq" when ms == 0
 * and "ms-seq" otherwise, so parse(format(x)) == x for every id and the text
 * a client sees is what the broker gave (Redis ids "0-N" excepted, which
 * come back as "N"; Redis never generates them). Pure; no allocation. */
#ifndef HR_EVENT_H
#define HR_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hr_event_id {
    uint64_t ms;
    uint64_t seq;
} hr_event_id;

/* Capacity that always holds a formatted id plus its NUL ("ms-seq" with two
 * 20-digit numbers). */
#define HR_EVENT_ID_CAP 42

/* One event, borrowed by the receiver for the duration of a callback: its id,
 * the channels it was published to (1 or more valid names, NUL-terminated),
 * its data as compact JSON text (data[0..data_len), NUL-terminated), and its
 * optional event name (hr_event_name_is_valid, NUL-terminated; NULL and
 * 0 when the publisher gave none: Pusher clients then see
 * HR_PUBLISH_EVENT_DEFAULT). */
typedef struct hr_event {
    hr_event_id id;
    const char *const *channels;
    size_t n_channels;
    const char *data;
    size_t data_len;
    const char *event;
    size_t event_len;
    /* The socket id of a Pusher connection the event must not reach
     * (hr_publish_exclude_is_valid, NUL-terminated), or NULL and 0. */
    const char *exclude;
    size_t exclude_len;
} hr_event;

/* Parses s[0..len) ("ms-seq" or "seq", decimal digits only, no sign, no
 * blanks, each part fitting in 64 bits). Returns 0 with *out set, or
 * HR_EINVAL. */
int hr_event_id_parse(const char *s, size_t len, hr_event_id *out);

/* Formats id into out (capacity cap, NUL-terminated). Returns the length
 * without the NUL, or 0 when cap is too small (out is then ""). */
size_t hr_event_id_format(hr_event_id id, char *out, size_t cap);

/* <0, 0, >0 as a is older than, equal to, or newer than b. */
int hr_event_id_cmp(hr_event_id a, hr_event_id b);

/* The zero id (0, 0), older than every real id. */
static inline bool hr_event_id_is_zero(hr_event_id id)
{
    return id.ms == 0 && id.seq == 0;
}

#endif

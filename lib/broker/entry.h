/* hr_entry: one record read from a network broker (a Redis stream entry, a
 * NATS JetStream message) decoded into an hr_event with storage of its own.
 *
 * Brokers carry the channel list as text: one name, or several separated by
 * commas (names never contain a comma), and the data as JSON text written by
 * some service. hr_entry_set validates both, so an entry that would break a
 * client (bad name, invalid JSON) is refused here and never delivered. Pure;
 * allocates only the normalised data (malloc). */
#ifndef HR_ENTRY_H
#define HR_ENTRY_H

#include <stddef.h>

#include "broker/event.h"
#include "proto/channel.h"
#include "proto/publish.h"

/* Most channels one broker record may name: as many as one /publish item,
 * so whatever the notifier publishes it can read back. The struct is about
 * 140 KiB: keep one per adapter on the heap, not on the stack. */
#define HR_ENTRY_MAX_CHANNELS HR_PUBLISH_MAX_CHANNELS

typedef struct hr_entry {
    hr_event ev; /* views into the fields below; valid until deinit */
    const char *names[HR_ENTRY_MAX_CHANNELS];
    char names_buf[HR_ENTRY_MAX_CHANNELS * (HR_CHANNEL_MAX + 1)];
    char *data; /* compact JSON, malloc'd, NUL-terminated */
    char event[HR_PUBLISH_EVENT_MAX + 1];
    char exclude[HR_PUBLISH_EXCLUDE_MAX + 1];
} hr_entry;

/* Fills e (caller storage, contents ignored) from a record with the given
 * id, channel list channels[0..clen) ("a" or "a,b,c"; duplicates dropped)
 * and JSON data[0..dlen). Returns 0 (then hr_entry_deinit it), HR_EINVAL
 * when a name is invalid, the list is empty or longer than
 * HR_ENTRY_MAX_CHANNELS, or data is not exactly one JSON value; HR_ENOMEM.
 * On error e holds nothing to free. */
int hr_entry_set(hr_entry *e, hr_event_id id, const char *channels, size_t clen, const char *data,
                 size_t dlen);

/* Sets the event name of an entry that hr_entry_set filled, from a record's
 * optional name field ev[0..len) (copied). Returns 0 or HR_EINVAL when the
 * name is not valid (hr_event_name_is_valid); the entry is unchanged. */
int hr_entry_set_event(hr_entry *e, const char *ev, size_t len);

/* Sets the socket id the event must not reach, from a record's optional
 * field s[0..len) (copied). Returns 0 or HR_EINVAL when it is not a socket
 * id (hr_publish_exclude_is_valid); the entry is unchanged. */
int hr_entry_set_exclude(hr_entry *e, const char *s, size_t len);

/* Frees the data; safe on an entry whose set failed. */
void hr_entry_deinit(hr_entry *e);

#endif

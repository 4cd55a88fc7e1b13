/* Event names: the optional name a publisher gives an event ("event" in a
 * publish record, a broker field or header), which Pusher clients see as the
 * event's name. One rule for every edge that accepts one (publish bodies,
 * broker entries, the Pusher HTTP API) and for the writer that embeds it.
 * Its own room so the client-protocol writer and the publish parser, which
 * both need the rule, do not call each other. Pure. */
#ifndef HR_EVENT_NAME_H
#define HR_EVENT_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* Longest event name (bytes), as the Pusher server library allows. */
#define HR_EVENT_NAME_MAX 200
/* The event name Pusher clients see for an event published without one. */
#define HR_EVENT_NAME_DEFAULT "message"

/* True when e[0..len) is a usable event name: 1..HR_EVENT_NAME_MAX bytes of
 * valid UTF-8 without control characters. */
bool hr_event_name_is_valid(const char *e, size_t len);

#endif

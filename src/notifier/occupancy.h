/* nf_occupancy: how many subscriptions each channel has in this notifier
 * process, summed over every loop's hub, for the Pusher HTTP API's channel
 * queries (GET /apps/<id>/channels[/<name>]). Each hub reports its changes
 * (nf_hub_set_on_count); the table is shared by the loops' threads behind
 * one mutex, taken on subscribe and unsubscribe only (never on fan-out).
 * Channels leave the table when their count drops to zero. */
#ifndef NF_OCCUPANCY_H
#define NF_OCCUPANCY_H

#include <stddef.h>

/* Adds delta (+1 or -1) to name's count. Thread-safe. Out of memory: the
 * channel is not counted (a query then misses it). */
void nf_occupancy_add(const char *name, int delta);

/* name's count (0 when none). Thread-safe. */
size_t nf_occupancy_get(const char *name);

/* Calls each(arg, name, count) for every channel with subscribers, under
 * the table's lock: each must be quick and must not call back in here. */
void nf_occupancy_each(void (*each)(void *arg, const char *name, size_t count), void *arg);

#endif

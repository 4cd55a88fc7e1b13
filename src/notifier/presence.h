/* nf_presence: who is in which presence channel across every notifier
 * instance on the broker, as the instances' records (cluster.c) told it.
 * Pure data, no I/O, no clock of its own (callers pass now_ms).
 *
 *   channel "presence-room" ── user "ann" ── conn 8812.4 (instance 8812)
 *                            │             └─ conn 9901.7 (instance 9901)
 *                            └─ user "bob" ── conn 9901.9
 *
 * A user is a member of a channel while at least one connection of theirs
 * (anywhere) is: on_change(added) fires for the first connection, and
 * on_change(removed) for the last, so member_added / member_removed go out
 * once per user, never per connection. Instances are remembered with the
 * time they were last heard from; nf_presence_expire forgets the members
 * of one that fell silent (crashed, killed, cut off). A sync (an
 * instance's full list) replaces what the table held for it: begin marks
 * its entries stale, the sync's adds refresh them, end drops the rest.
 * Bounded: at most max_entries connections in all (HR_ELIMIT beyond). */
#ifndef NF_PRESENCE_H
#define NF_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/presence_record.h"
#include "proto/pusher.h"

typedef struct nf_presence nf_presence;

/* A user joined channel (added: their first connection) or left it (their
 * last). Strings are borrowed for the call. The callee must not change
 * the table during the call. */
typedef void (*nf_presence_change_cb)(void *arg, const char *channel, const char *user_id,
                                      const char *user_info, bool added, const char *socket_id);

/* Creates an empty table. Returns NULL when out of memory. */
nf_presence *nf_presence_new(size_t max_entries, nf_presence_change_cb on_change, void *arg);

/* Frees everything (no callbacks). NULL is a no-op. */
void nf_presence_free(nf_presence *t);

/* Records connection e (a valid entry) of instance inst. Returns 1 when
 * its user is new in the channel (on_change(added) was called), 0 when the
 * user was there already or e was known (its stale mark is cleared),
 * HR_ELIMIT when full, HR_ENOMEM. A user's info is the one its first
 * connection gave. */
int nf_presence_add(nf_presence *t, uint64_t inst, const hr_presence_entry *e, uint64_t now_ms);

/* Forgets connection socket_id in channel. Returns 1 when that was its
 * user's last connection there (on_change(removed) was called), 0 when
 * not, HR_ENOENT... (-1 never: unknown entries return 0). */
int nf_presence_remove(nf_presence *t, const char *channel, const char *socket_id);

/* Notes that inst spoke at now_ms (creates its record). */
void nf_presence_seen(nf_presence *t, uint64_t inst, uint64_t now_ms);

/* Connections the table holds for inst. */
size_t nf_presence_entries_of(const nf_presence *t, uint64_t inst);

/* A sync from inst starts: its entries become stale until an add
 * refreshes them. */
void nf_presence_sync_begin(nf_presence *t, uint64_t inst);

/* The sync from inst ended: its entries still stale are removed. */
void nf_presence_sync_end(nf_presence *t, uint64_t inst);

/* Removes every connection of inst and forgets it (expiry, or its "bye"
 * on a graceful stop): on_change(removed) for each user left with no
 * connection on any other instance. Returns how many such removals. */
size_t nf_presence_drop(nf_presence *t, uint64_t inst);

/* Drops every instance but keep not heard from since now_ms - timeout_ms
 * (with their connections). Returns how many were dropped. */
size_t nf_presence_expire(nf_presence *t, uint64_t now_ms, uint64_t timeout_ms, uint64_t keep);

/* Up to max distinct members of channel, first first_user's (when
 * present), borrowed until the next change. Returns the count written. */
size_t nf_presence_members(const nf_presence *t, const char *channel, const char *first_user,
                           hr_pusher_member *out, size_t max);

/* Distinct users in channel (0 when unknown). */
size_t nf_presence_user_count(const nf_presence *t, const char *channel);

/* True when user_id has a connection in channel. */
bool nf_presence_has_user(const nf_presence *t, const char *channel, const char *user_id);

/* Calls each(arg, channel, users) for every channel with members. */
void nf_presence_each_channel(const nf_presence *t,
                              void (*each)(void *arg, const char *channel, size_t users),
                              void *arg);

#endif

/* nf_cluster: Pusher presence members and client events shared by every
 * notifier instance on one broker, through records on the reserved channel
 * HR_PRESENCE_CHANNEL (proto/presence_record.h) that every instance
 * consumes with its events:
 *
 *   pusher.c ─joined/left/client event─▶ record ─▶ broker ─▶ every instance
 *   broker record ─▶ nf_cluster_on_event ─▶ table (presence.h) ─▶ member_added/removed
 *                                       └─▶ client event ─▶ local subscribers but the sender
 *
 * Everything goes through the broker, this instance's own changes too, so
 * every instance applies the same records in the same order. Records are
 * never handed to the hub: no client sees them and no history keeps them.
 *
 * Start: the broker may replay old records (warm history); they are
 * ignored until this instance's own "hello" comes back, after which every
 * record is live. Others answer a hello with a sync (their full member
 * list). Liveness: an instance with members sends a heartbeat with its
 * entry count every timeout/3; one not heard from for --pusher-presence-
 * timeout is dropped (member_removed for its users); a count that does not
 * match what we hold asks it for a sync (lost records heal).
 *
 * Loops: each loop is an "instance" of its own (its own number, table,
 * hello, heartbeats), so Pusher clients may live on any loop. Loop 0 reads
 * the broker and passes every record on to the others through their inbox
 * (nf_hub_forward, in broker order); the others publish through loop 0
 * (cpub.h). An HTTP API socket_id reaches the other loops as a SKIP note
 * just ahead of the event's frames. The state hangs off nf_loop. */
#ifndef NF_CLUSTER_H
#define NF_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "broker/event.h"
#include "core/msg.h"
#include "proto/presence_record.h"
#include "proto/pusher.h"

/* This loop's instance number (random, non-zero, < 10^12): the prefix of
 * its socket ids and the sender of its records. */
uint64_t nf_cluster_instance(nf_loop *l);

/* Another loop at its start (loops.c, before its thread runs): its state
 * and hello, so it knows the members before its first Pusher client. */
void nf_cluster_start(nf_loop *l);

/* The broker went up: announce this instance (hello) and its members. */
void nf_cluster_broker_up(nf_loop *l);

/* Once a second: heartbeat and the expiry of silent instances. */
void nf_cluster_tick(nf_loop *l);

/* A broker event: true when it was a record on the reserved channel
 * (handled here, not for the hub), false otherwise. */
bool nf_cluster_on_event(nf_loop *l, const hr_event *ev);

/* Another loop: a frame loop 0 posted (loops.c). True when it was on the
 * reserved channel (a record, handled here, not for the hub). */
bool nf_cluster_on_frame(nf_loop *l, const char *channel, const hr_msg *plain);

/* Loop 0, before fanning ev out: when ev skips a socket id (the Pusher
 * API's socket_id), tells the other loops, ahead of ev's frames. */
void nf_cluster_forward_skip(nf_loop *l, const hr_event *ev);

/* Another loop, around delivering event id: sets the Pusher carrier's
 * exclusion (nf_pusher_exclude) to the socket loop 0 said id skips, or
 * clears it. */
void nf_cluster_exclude_for(nf_loop *l, hr_event_id id);

/* A local connection joined (add) or left a presence channel. */
void nf_cluster_member(nf_loop *l, const hr_presence_entry *e, bool add);

/* A client event from local connection socket_id: published for every
 * instance. Returns 0 or an HR_E* code (not sent). */
int nf_cluster_client_event(nf_loop *l, const char *channel, const char *socket_id,
                            const char *event, const char *data, size_t data_len,
                            const char *user_id);

/* The members of channel known cluster-wide, first_user first (see
 * nf_presence_members), and the count of distinct users. */
size_t nf_cluster_members(nf_loop *l, const char *channel, const char *first_user,
                          hr_pusher_member *out, size_t max);
size_t nf_cluster_user_count(nf_loop *l, const char *channel);
void nf_cluster_each_channel(nf_loop *l, void (*each)(void *arg, const char *channel, size_t users),
                             void *arg);

/* Frees this loop's state (nf_loop_deinit). */
void nf_cluster_free(nf_loop *l);

#endif

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
 * match what we hold asks it for a sync (lost records heal). A graceful
 * stop says "bye" for every loop (nf_cluster_bye): dropped at once.
 *
 * Loops: each loop is an "instance" of its own (its own number, table,
 * hello, heartbeats), so Pusher clients may live on any loop. Loop 0 reads
 * the broker and passes every record on to the others through their inbox
 * (nf_hub_forward, in broker order); the others publish through loop 0
 * (cpub.h). An HTTP API socket_id reaches the other loops as a SKIP note
 * just ahead of the event's frames. The state hangs off nf_loop.
 *
 * Joining: a presence subscription is answered (subscription_succeeded)
 * when its own "add" record comes back through the broker, so the list
 * holds every member whose join the broker ordered before it (their
 * subscription_succeeded went out before this subscribe began, on any
 * loop or instance); a later join is a member_added. If the record does
 * not come back within JOIN_WAIT_MS (pusher.c: broker down or slow), the
 * subscription is answered with what this loop knows. Start: /readyz waits
 * until every loop's hello came back (nf_cluster_ready). Members that were
 * there before this instance started arrive in the others' sync answers to
 * that hello, about one broker round trip later; a subscriber in that
 * round trip may get them as member_added instead of in the list.
 *
 * Calls: pusher.c calls in here; cluster.c reaches the loop's Pusher
 * connections only through the nf_cluster_carrier its owner installs
 * (nf_cluster_start), so the two files never call each other round. */
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

/* What cluster.c needs of this loop's Pusher connections (pusher.c's
 * nf_pusher_carrier, installed by the loop's owner: app.c, loops.c). */
typedef struct nf_cluster_carrier {
    /* member_added (added) or member_removed about who to this loop's
     * members of channel, except the socket except_socket (NULL: none). */
    void (*member)(const char *channel, const hr_pusher_member *who, bool added,
                   const char *except_socket);
    /* This loop's "add" record of socket_id's membership of channel came
     * back through the broker: its subscription is answered now. */
    void (*joined)(const char *channel, const char *socket_id);
    /* Client event r to this loop's subscribers of its channel but its sender. */
    void (*client_event)(nf_loop *l, const hr_presence_record *r);
    /* each() with every presence membership of this loop's connections. */
    void (*each_member)(void (*each)(void *arg, const hr_presence_entry *e), void *arg);
    /* How many memberships that is. */
    size_t (*count_members)(void);
} nf_cluster_carrier;

/* This loop's instance number (random, non-zero, < 10^12): the prefix of
 * its socket ids and the sender of its records. */
uint64_t nf_cluster_instance(nf_loop *l);

/* Sets up loop l's state (Pusher on: cfg->pusher_app_id) with its
 * carrier (borrowed, static). Loop 0 at its start (app.c); another loop
 * before its thread runs (loops.c), whose hello goes out now, so it knows
 * the members before its first Pusher client. */
void nf_cluster_start(nf_loop *l, const nf_cluster_carrier *carrier);

/* True when every started loop of this process had its own hello back
 * (its records are current): /readyz waits for it. Thread-safe. */
bool nf_cluster_ready(void);

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

/* Another loop, before delivering event id: the socket id loop 0 said id
 * skips (for nf_pusher_exclude), or NULL. Valid until the next record. */
const char *nf_cluster_skip_for(nf_loop *l, hr_event_id id);

/* A local connection joined (add) or left a presence channel. Returns 0
 * when the record went out (an add is then answered through the carrier's
 * joined), or an HR_E* code (not sent: answer the join now). */
int nf_cluster_member(nf_loop *l, const hr_presence_entry *e, bool add);

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

/* Loop 0, stopping (SIGTERM), after the other loops were told to stop
 * (no record of theirs follows): publishes a "bye" for every loop's
 * instance of this process, so the others drop its members at once
 * (member_removed for users with no connection left anywhere) instead of
 * after --pusher-presence-timeout. Returns true when done(l) follows, once
 * the broker took them all or after at most 2 s; false (done never
 * called) when there is nothing to wait for: Pusher off, another loop,
 * the broker down, or it took them within the call. */
bool nf_cluster_bye(nf_loop *l, void (*done)(nf_loop *l));

/* Frees this loop's state (nf_loop_deinit). */
void nf_cluster_free(nf_loop *l);

#endif

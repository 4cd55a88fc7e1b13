/* nf_pusher: Pusher Channels protocol 7 at /app/<key> (SPEC §8), for
 * unchanged pusher-js clients. A Pusher connection is one more carrier of
 * a client session (transport.h): Pusher messages become the session's own
 * commands (pusher:subscribe -> subscribe, after the channel auth
 * signature is checked), and what the session sends becomes Pusher
 * messages (welcome -> pusher:connection_established, subscribed ->
 * pusher_internal:subscription_succeeded, forbidden ->
 * pusher:subscription_error, events -> {"event","channel","data"} with the
 * publisher's event name). So rate limits, channel limits, history and the
 * slow-reader bound are the session's. Close codes follow Pusher's ranges:
 * slow reader 4100, shutdown 4200. The connection reaches its client
 * through a wire (pusher_wire.h): its own WebSocket or a herald-link
 * session. */
#ifndef NF_PUSHER_H
#define NF_PUSHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "cluster.h"
#include "net/conn.h"
#include "proto/http_head.h"
#include "proto/presence_record.h"
#include "proto/pusher.h"
#include "pusher_wire.h"

typedef struct nf_pusher nf_pusher;

/* True when target path[0..len) is a Pusher endpoint ("/app/..."). */
bool nf_pusher_is_path(const char *path, size_t len);

/* A Pusher connection for a client at head's target (/app/<key>?protocol=7)
 * from peer, reached through wire (copied; pusher_wire.h): the WebSocket of
 * the upgrade (nf_pusher_upgrade) or a herald-link session (link.c, whose
 * head is synthesized from the OPEN frame). number is unique in the process
 * among live connections (the socket_id's second part). Returns the
 * connection (call nf_pusher_open once the client may be written to; its
 * carrier calls nf_pusher_message, _drain and _close), or NULL with *status
 * an HTTP status (Pusher off: 404; shutting down: 503; identity refused:
 * 401) and *why a short text. */
nf_pusher *nf_pusher_new(nf_loop *l, nf_pusher_wire wire, uint64_t number,
                         const struct sockaddr *peer, const hr_http_head *head, int *status,
                         const char **why);

/* on_upgrade for /app/<key>: 0 (accept; the app data is set), or an HTTP
 * status with reply filled (Pusher off: 404; identity refused: 401). A
 * wrong key or protocol version is accepted and then closed with Pusher's
 * 4001 / 4007 after a pusher:error, as Pusher does. */
int nf_pusher_upgrade(nf_loop *l, hr_conn *c, const hr_http_head *head, hr_upgrade_reply *reply);

/* on_open, on_message, on_drain and on_close of a Pusher connection (its
 * WebSocket's callbacks, or its link session's frames). */
void nf_pusher_open(nf_pusher *p);
void nf_pusher_message(nf_pusher *p, const uint8_t *data, size_t len);
void nf_pusher_drain(nf_pusher *p);
void nf_pusher_close(nf_pusher *p);

/* Once a second: a connection silent for the activity timeout gets a
 * pusher:ping, and is closed with 4201 when it has not answered within the
 * timeout again (at most 30 s), as Pusher does. */
void nf_pusher_tick(nf_loop *l);

/* The event about to be fanned out on this loop must skip the Pusher
 * connection with this socket id (an HTTP API socket_id), until called
 * again with NULL. socket_id is borrowed for that time. */
void nf_pusher_exclude(const char *socket_id);

/* What cluster.c reaches of this loop's Pusher connections (cluster.h),
 * installed with nf_cluster_start by the loop's owner. */
extern const nf_cluster_carrier nf_pusher_carrier;

#endif

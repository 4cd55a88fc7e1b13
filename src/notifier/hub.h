/* nf_hub: channels, subscriptions and fan-out for one event loop.
 *
 * A channel exists while it has subscribers or retained history: it is
 * created by the first subscribe or publish that names it and freed when both
 * are gone (on unsubscribe, or by the periodic nf_hub_expire sweep).
 *
 * Fan-out: each event is encoded once per channel into one hr_msg holding
 * the complete WebSocket text frame; that same block goes to the channel's
 * history and to every subscriber's send queue (by reference). When at least
 * one subscriber of the channel negotiated permessage-deflate, one compressed
 * twin is made (no context takeover, so valid for all of them) and kept with
 * the history entry for later replays.
 *
 * Memory per subscription: one nf_sub (5 pointers) linked into both the
 * channel's list and the client's list; nf_client itself is embedded in the
 * caller's per-connection struct.
 *
 * Resume: subscribing with since is steps the caller runs in one loop turn
 * (so no live event can slip in between): nf_hub_subscribe each channel,
 * nf_hub_covers to learn "recovered", send the "subscribed" reply, then
 * nf_hub_replay_start and nf_hub_replay_pump, which send the retained events
 * after since on the newly added channels merged in id order.
 *
 * A replay is paced so that it never floods the send queue: each pump sends
 * up to a byte budget and the caller pumps again when the queue drains.
 * While a channel is being replayed to a client, live events of that channel
 * are not sent to it directly: they land in the history and the replay
 * reaches them in order, then the client turns live. No duplicates, no gaps;
 * if the history evicts an event the replay has not sent yet, the pump says
 * so (HR_ELIMIT) and the caller closes the connection (1013: resume again). */
#ifndef NF_HUB_H
#define NF_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/event.h"
#include "core/msg.h"

typedef struct nf_hub nf_hub;
typedef struct nf_sub nf_sub;
typedef struct nf_replay nf_replay;

/* One subscriber (a connection), embedded in the caller's storage. sink is
 * handed back to the send callback. deflate: the connection negotiated
 * permessage-deflate (so compressed twins are worth making). */
typedef struct nf_client {
    void *sink;
    nf_sub *subs;      /* this client's subscriptions, newest first */
    nf_replay *replay; /* replay in progress, or NULL (live) */
    uint32_t n_subs;
    bool deflate;
} nf_client;

/* Queues one event frame for a client: plain is the text frame, deflated its
 * compressed twin or NULL. Both are borrowed (take references to keep them).
 * Returns 0 when queued, or a negative code when the client could not take it
 * (closing, over its send-queue limit: the callee deals with that). Must not
 * subscribe or unsubscribe anything during the call. */
typedef int (*nf_hub_send_cb)(void *sink, hr_msg *plain, hr_msg *deflated);

typedef struct nf_hub_config {
    uint32_t history;        /* events kept per channel (--history) */
    uint64_t history_ttl_ms; /* age bound (--history-ttl, in ms); 0 = no age bound */
    int deflate_level;       /* zlib level for broadcast twins; 0 = default */
} nf_hub_config;

/* Counters and gauges for /metrics (read-only for the caller). */
typedef struct nf_hub_stats {
    uint64_t channels;         /* gauge */
    uint64_t subscriptions;    /* gauge */
    uint64_t history_events;   /* gauge: entries held over all channels */
    uint64_t events_published; /* counter: events received from the broker (per channel) */
    uint64_t events_delivered; /* counter: frames queued to subscribers (live and replay) */
    uint64_t events_replayed;  /* counter: frames queued by replays */
    uint64_t events_dropped;   /* counter: events refused (out of order, encode failure) */
    uint64_t deflated_frames;  /* counter: compressed twins made */
} nf_hub_stats;

/* Creates a hub. cfg is copied. seed perturbs the channel hash (pass a
 * random value so clients cannot aim collisions). Returns NULL when out of
 * memory. */
nf_hub *nf_hub_new(const nf_hub_config *cfg, nf_hub_send_cb send, uint64_t seed);

/* Frees every channel, history and subscription node. Clients still
 * registered are left with n_subs == 0 and no list. NULL is a no-op. */
void nf_hub_free(nf_hub *h);

/* Initialises a client in caller storage (no allocation). */
void nf_client_init(nf_client *cl, void *sink, bool deflate);

/* The event frame of ev for channel name: one WebSocket text frame holding
 * {"type":"event","channel":name,"id":..,"data":..}, with one reference for
 * the caller. NULL when name is not a valid channel name or out of memory.
 * Pure (no hub): the primary loop encodes once and hands the same frame to
 * every loop's hub (loops.h). */
hr_msg *nf_hub_encode(const char *name, const hr_event *ev);

/* Delivers an encoded event frame (from nf_hub_encode) of channel name with
 * id: appends it to the channel's history (a reference, stamped now_ms for
 * the age bound) and queues it to every subscriber, no re-encoding. plain is
 * borrowed. Returns 0, HR_EINVAL when id is not newer than the channel's
 * last (nothing done, counted as dropped) or HR_ENOMEM (counted as dropped). */
int nf_hub_deliver(nf_hub *h, const char *name, hr_event_id id, hr_msg *plain, uint64_t now_ms);

/* Called by nf_hub_publish with each frame it delivered (not with one the
 * channel refused as out of order): name, id, the frame (borrowed: take a
 * reference to keep it) and now_ms. The primary loop passes them on to the
 * other loops (loops.h). */
typedef void (*nf_hub_tap_cb)(void *arg, const char *name, hr_event_id id, hr_msg *plain,
                              uint64_t now_ms);

/* Installs the tap (NULL removes it). */
void nf_hub_set_tap(nf_hub *h, nf_hub_tap_cb tap, void *arg);

/* Hands ev to the tap only (encoded per channel as nf_hub_publish does):
 * no subscriber of this hub and no history sees it. The primary passes the
 * cluster's records on to the other loops this way (cluster.h). */
void nf_hub_forward(nf_hub *h, const hr_event *ev, uint64_t now_ms);

/* Called with +1 when a subscription to name is added and -1 when one is
 * removed (occupancy.h counts them over every loop for the Pusher API). */
typedef void (*nf_hub_count_cb)(const char *name, int delta);

/* Installs the count hook (NULL removes it). */
void nf_hub_set_on_count(nf_hub *h, nf_hub_count_cb cb);

/* Fans ev out to every subscriber of each of its channels and appends it to
 * each channel's history; now_ms stamps it for the age bound. Channels with
 * names that are not valid are skipped. Returns 0, or HR_EINVAL when the id
 * is not newer than a channel's last (that channel skipped, counted as
 * dropped), or HR_ENOMEM (that channel skipped). */
int nf_hub_publish(nf_hub *h, const hr_event *ev, uint64_t now_ms);

/* Subscribes cl to name (a valid channel name, checked by the caller along
 * with permissions and the per-connection limit). Sets *added to false when
 * cl was already subscribed (nothing changes). Returns 0 or HR_ENOMEM. */
int nf_hub_subscribe(nf_hub *h, nf_client *cl, const char *name, bool *added);

/* Removes cl's subscription to name if any; returns true when one was
 * removed. Frees the channel if it is left empty. */
bool nf_hub_unsubscribe(nf_hub *h, nf_client *cl, const char *name);

/* Names of cl's subscriptions, newest first: up to cap pointers into the
 * hub (valid until the next unsubscribe of that name). Returns the count
 * written (cl->n_subs when cap is enough). */
size_t nf_hub_client_channels(const nf_client *cl, const char **out, size_t cap);

/* True when cl is subscribed to name. */
bool nf_hub_is_subscribed(const nf_hub *h, const nf_client *cl, const char *name);

/* Removes every subscription of cl (connection closed). */
void nf_hub_client_leave(nf_hub *h, nf_client *cl);

/* True when a resume from since on names[0..n) is complete: since is not
 * older than the hub's floor and no channel has evicted an event after
 * since. Channels that do not exist count as complete. */
bool nf_hub_covers(const nf_hub *h, const char *const *names, size_t n, hr_event_id since);

/* Starts (or extends) cl's replay of every retained event after since on
 * names[0..n) (channels cl is subscribed to; others are skipped). From now
 * on, live events of those channels reach cl only through the replay. Sends
 * nothing: call nf_hub_replay_pump next. Returns 0 or HR_ENOMEM (nothing
 * changed). */
int nf_hub_replay_start(nf_hub *h, nf_client *cl, const char *const *names, size_t n,
                        hr_event_id since);

/* Sends cl the next replayed events, merged in id order, until at least
 * budget bytes were queued or the replay caught up (cl is then live).
 * Returns 0 when cl is live (no replay, or it just finished), 1 when more
 * remains (pump again once the send queue drained), HR_ELIMIT when the
 * history evicted events the replay had not sent yet, or the send callback's
 * error; on errors the replay is dropped (the caller closes the connection). */
int nf_hub_replay_pump(nf_hub *h, nf_client *cl, size_t budget);

/* start + pump without a budget, for tests. Returns the number of frames
 * queued or a negative code. */
long nf_hub_replay(nf_hub *h, nf_client *cl, const char *const *names, size_t n, hr_event_id since);

/* Raises the floor: a since older than floor can never be recovered (events
 * before it are unknown to this process, e.g. published before it started). */
void nf_hub_raise_floor(nf_hub *h, hr_event_id floor);

/* Evicts history older than the age bound at now_ms and frees channels left
 * with neither subscribers nor history. Call about once a second. */
void nf_hub_expire(nf_hub *h, uint64_t now_ms);

/* The hub's counters; valid for the hub's life. */
const nf_hub_stats *nf_hub_stats_view(const nf_hub *h);

#endif

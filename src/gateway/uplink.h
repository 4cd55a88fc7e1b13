/* gw_uplink: the gateway side of herald-link (docs/link.md). For upstreams
 * with `protocol: herald-link`, a worker keeps GW_UPLINK_PER_SERVER long-lived
 * TCP links to each server and carries every proxied client session over
 * them as frames tagged by session id. Frames queued during a loop turn go
 * out as one write per link (one syscall per batch).
 *
 *   gw_ws (client) ──gw_usess──▶ gw_uplink (TCP) ══ frames ══▶ notifier
 *
 * Links are opened on demand (the first session for a server), and a lost
 * link ends every session on it with on_close(1006): the proxy maps that to
 * 1012 for opened sessions, or retries another server for sessions that were
 * still waiting for their first message. Ownership: the app owns the
 * gw_uplinks table; a gw_usess belongs to the table until on_close has been
 * called for it or the proxy called gw_usess_close(), whichever is first;
 * after either the pointer is dead. */
#ifndef GW_UPLINK_H
#define GW_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "app.h"
#include "config.h"
#include "core/msg.h"
#include "proto/link.h"
#include "upstream.h"

#define GW_UPLINK_PER_SERVER 2

typedef struct gw_uplinks gw_uplinks;
typedef struct gw_usess gw_usess;

/* A table of links for one event loop; max_payload bounds a frame read from
 * a notifier, out_limit the bytes queued toward one link. Keepalive: a link
 * silent for ping_ms gets a PING; one silent for idle_ms is lost (its
 * sessions get on_close(1006)); 0 disables either. NULL: no memory. */
gw_uplinks *gw_uplinks_new(uv_loop_t *loop, size_t max_payload, size_t out_limit, uint32_t ping_ms,
                           uint32_t idle_ms);

/* Counters (links_open, link_io, link_frames_out, link_bcasts_in) go to m
 * from now on (borrowed; NULL: none). */
void gw_uplinks_set_metrics(gw_uplinks *t, gw_metrics *m);

/* Closes every link (sessions get on_close(1001)) and frees the table once
 * the handles are closed (the loop must run). NULL is a no-op. */
void gw_uplinks_free(gw_uplinks *t);

/* A gw_usess as a gw_upstream (upstream.h): send, close, credit and queued
 * below; pause is a no-op (the notifier's window stops it), protocol NULL. */
extern const gw_upstream_ops gw_usess_ops;

/* Opens a session toward server addr (numeric) with the OPEN fields o
 * (copied). Its events go to ev/arg (upstream.h: on_open at the first
 * message; on_message with one gw_upmsg per DATA and ONE PER BCAST, shared
 * by every session the BCAST lists; on_pause on PAUSE/RESUME; on_close on
 * CLOSE (its code and its reason as it came; before the first message,
 * status is the refusal's HTTP status) or a lost link (1006, no reason,
 * status 0: try another server); never on_drain). ev must outlive the
 * session. Returns 0 with *out set, HR_ENOMEM, HR_EINVAL (o cannot be
 * encoded) or a libuv error (connect failed at once).
 * o->stream (an SSE stream, OPEN_STREAM) needs a notifier that said version
 * >= 4: on a link whose HELLO has not come yet the OPEN waits for it, then
 * leaves, or the session gets on_close(.., opened false, status 502) when the
 * peer is older; on a link known to be older this returns HR_EPROTO. Both
 * log the versions. */
int gw_usess_open(gw_uplinks *t, const gw_addr *addr, const hr_link_open *o,
                  const gw_upstream_events *ev, void *arg, gw_usess **out);

/* Queues one client message. Returns 0, or HR_ETOOBIG when the link's queue
 * is over out_limit (the caller closes the client with 1013). */
int gw_usess_send(gw_usess *u, int opcode, const uint8_t *data, size_t len);

/* Sends PAUSE (true) or RESUME (false) for this session: the gateway's
 * queue toward the client passed / fell below its bound. */
void gw_usess_flow(gw_usess *u, bool pause);

/* Returns n bytes of window to the notifier (CREDIT): the gateway handed
 * that much of the session's DATA payload to the client. n == 0: no-op. */
void gw_usess_credit(gw_usess *u, size_t n);

/* The client is gone: sends CLOSE code (unless the notifier closed first)
 * and frees the session; no callback follows. */
void gw_usess_close(gw_usess *u, int code);

/* Bytes waiting toward the session's link (its backpressure measure). */
size_t gw_usess_queued(const gw_usess *u);

#endif

/* nf_links: the notifier side of herald-link (docs/link.md). A listener
 * (--link-listen) accepts gateway links; every OPEN on a link becomes an
 * nf_session run by the same session and hub code as a direct WebSocket
 * client (identity through the same --trusted-proxy rule, applied to the
 * link's peer). Per session, an nf_lsess is the session's transport
 * (transport.h), as an hr_conn is for a direct client:
 *
 *   hub ─▶ nf_session ─▶ tx ops ─▶ nf_lsess ─▶ frames in the link's batch ─▶ one write
 *
 * Flow control: a session may have HR_LINK_WINDOW bytes of DATA in flight
 * toward the gateway until CREDIT or CREDITS returns them (the gateway
 * credits what it handed to the client); beyond that, and while the gateway
 * has PAUSEd the session, its messages wait in the session's own queue
 * (references to the shared frames: lib/proto/link_flow.h), bounded by
 * --send-queue-limit; past it the session (only) is closed with 1013.
 * Closing is deferred: closing a session queues CLOSE and the session is
 * freed at the end of the loop turn, so the session code never sees itself
 * freed under its feet. */
#ifndef NF_LINK_H
#define NF_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/msg.h"

typedef struct nf_loop nf_loop;
typedef struct nf_links nf_links;
typedef struct nf_lsess nf_lsess;

/* Listens for links on addr ("host:port"). Returns the table, or NULL with
 * one line in err (the loop must run to release the listener handle). */
nf_links *nf_links_start(nf_loop *l, const char *addr, char *err, size_t errcap);

/* A table without a listener, for a loop that only runs links accepted by
 * another loop (nf_links_adopt). Returns NULL when out of memory. */
nf_links *nf_links_new(nf_loop *l);

/* Asked on every accepted connection before this table takes it: return
 * true when the callee accepted it from server (and runs it elsewhere),
 * false to keep it on this loop (nothing accepted yet). */
typedef bool (*nf_links_handoff_cb)(void *arg, uv_stream_t *server);

/* Installs (or with NULL removes) the hand-off hook of a listening table. */
void nf_links_set_handoff(nf_links *t, nf_links_handoff_cb cb, void *arg);

/* Runs a link on t's loop over fd, a connected socket accepted by another
 * loop (ownership moves in: fd is closed on failure). Returns 0,
 * HR_ECLOSED when t is stopping, HR_ENOMEM or a libuv error. */
int nf_links_adopt(nf_links *t, uv_os_sock_t fd);

/* Closes every session of every link with code (1013: the loop lost events,
 * the clients resume), keeping the links. */
void nf_links_close_sessions(nf_links *t, int code, const char *reason);

/* SIGTERM: stops accepting, closes every session with 1001, then each link
 * once its last batch is written. Idempotent. */
void nf_links_stop(nf_links *t);

/* Counters of the link side, for /metrics. */
typedef struct nf_link_stats {
    uint64_t links;    /* gateway links open (gauge) */
    uint64_t sessions; /* sessions open over links (gauge) */
    uint64_t writes;   /* batches written */
    uint64_t bytes_out, bytes_in;
    uint64_t slow_closes; /* sessions closed with 1013 */
} nf_link_stats;

/* The counters of t, or all zero for NULL (no --link-listen). */
nf_link_stats nf_links_stats(const nf_links *t);

/* Frees the table after uv_run returned (links free themselves). */
void nf_links_free(nf_links *t);

#endif

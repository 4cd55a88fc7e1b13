/* Privates of herald-link's notifier side shared by link.c (the listener
 * and each link's lifecycle) and link_session.c (each session over a link:
 * its sends, broadcasts, flow control and the OPEN that makes it). Calls go
 * one way: link.c calls link_session.c; link_session.c reaches the link only
 * through the fields below and the inline helpers here. */
#ifndef NF_LINK_INTERNAL_H
#define NF_LINK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "bcasts.h"
#include "idmap.h"
#include "link.h"
#include "net/link_conn.h"
#include "proto/link.h"
#include "proto/link_flow.h"
#include "pusher.h"
#include "session.h"
#include "sse.h"

typedef struct nf_link nf_link;

struct nf_lsess {
    nf_link *link;
    uint32_t id;
    nf_session *s;
    nf_pusher *p;      /* instead of s: a Pusher client (an OPEN for /app/, pusher.h) */
    nf_sse *sse;       /* instead of s: an SSE stream (OPEN_STREAM for /sse, sse.h) */
    hr_link_flow flow; /* window, PAUSE, held messages (max = --send-queue-limit) */
    bool closing, wrote;
    nf_lsess *next_dead;
    nf_bcast_mark bc_mark; /* where it waits in the link's pending broadcasts */
};

struct nf_link {
    nf_links *t;
    hr_link_conn *conn; /* the transport; ours until on_free */
    uint32_t serial;    /* process-wide link number: makes session ids unique */
    nf_bcasts bc;       /* events on their way to several sessions (link_session.c, top) */
    uint8_t *head;      /* HR_LINK_MAX_HEAD bytes: the leading bytes of a BCAST or DATA */
    nf_link *next;
    bool dead, stopping;
    nf_idmap map; /* session id -> nf_lsess */
    nf_lsess *dead_list;
    uint32_t *wrote_ids; /* sessions that wrote since the last batch went out */
    size_t n_wrote, cap_wrote;
};

struct nf_links {
    nf_loop *l;
    nf_link_stats st;
    hr_link_conn_stats io; /* writes and bytes of every link of this table */
    uv_tcp_t listener;
    nf_link *links;
    nf_links_handoff_cb handoff;
    void *handoff_arg;
    bool stopping, listener_open;
};
static inline void link_fail(nf_link *k, const char *why)
{
    hr_link_conn_close(k->conn, why);
}

static inline void start_flush(nf_link *k)
{
    hr_link_conn_kick(k->conn);
}

static inline nf_lsess *map_get(const nf_link *k, uint32_t id)
{
    return nf_idmap_get(&k->map, id);
}

/* ---- link_session.c, called by link.c ---- */

/* Frees ls (its client already ended), counting it out of the sessions. */
void nf_link_session_free(nf_lsess *ls);

/* The client is gone: its session, Pusher connection or SSE stream ends. */
void nf_link_session_end(nf_lsess *ls);

/* Its buffer emptied: a replay in progress goes on. */
void nf_link_session_drain(nf_lsess *ls);

/* Queues CLOSE (code, reason) toward the gateway; ls goes on k's dead list,
 * freed at the end of the turn. Idempotent. */
void nf_link_session_close(nf_lsess *ls, int code, const char *reason);

/* Writes k's pending broadcasts into its batch (BCAST or DATA frames). */
void nf_link_session_bc_emit(nf_link *k);

/* OPEN: a new session on k, or a refusal (CLOSE) or link failure. */
void nf_link_session_open(nf_link *k, const hr_link_frame *f);

/* DATA, CLOSE, PAUSE, RESUME or CREDIT for one session of k. */
void nf_link_session_frame(nf_link *k, const hr_link_frame *f);

/* CREDITS (version 3): CREDIT for every listed session. */
void nf_link_session_credits(nf_link *k, const hr_link_frame *f);

#endif

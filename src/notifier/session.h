/* nf_session: the client protocol of SPEC §2 on one client: identity and
 * ?channels= / ?since= checked when it connects, the welcome, subscribe /
 * unsubscribe commands with their replies and errors, resume through the
 * hub, the 1008 close for clients that keep sending bad commands, token
 * lifetime (expiring notice, 4001, refresh: lifetime.h) and client
 * publish (cpub.h). The
 * session is the hub's sink for this client; it reaches the client only
 * through its transport (transport.h: a direct WebSocket, direct.c, or a
 * herald-link session, link.c), which calls the nf_session_* entries
 * below. */
#ifndef NF_SESSION_H
#define NF_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "core/msg.h"
#include "expiry.h"
#include "proto/channel.h"
#include "proto/http_head.h"
#include "transport.h"

typedef struct nf_session {
    nf_conn_kind kind; /* NF_KIND_SESSION; first member */
    uint32_t pubs;     /* client publishes waiting for the broker (cpub.h) */
    nf_client client;  /* hub registration; sink = this session */
    nf_loop *loop;
    nf_transport tx; /* how the client is reached */
    hr_identity id;
    char conn_id[64];     /* the welcome's connection id */
    char *initial;        /* ?channels= until on_open, then NULL */
    char *initial_since;  /* ?since= until on_open, then NULL */
    uint64_t errors_from; /* start of the current one-minute error window */
    uint64_t cmds_from;   /* start of the current one-second command window */
    uint32_t errors;      /* bad commands in that window */
    uint32_t cmds;        /* commands in that window */
    nf_expiry_item exp;   /* in loop->expiry while id.expires is set: notice, then 4001 */
    bool noticed;         /* the expiring notice went out for id.expires */
    bool via_proxy;       /* identity from a trusted proxy: its identity refresh is taken */
} nf_session;

/* Fills reply as a plain-text refusal of a WebSocket upgrade with why
 * (static or outliving the reply; nf_session_new's *why is) and returns
 * status, for an on_upgrade callback to return: the refusal of /ws
 * (direct.c) and /app/<key> (pusher.c). */
int nf_session_refuse(hr_upgrade_reply *reply, int status, const char *why);

/* A session for a client connecting from peer with the upgrade head (for
 * a herald-link session, head is synthesized from the OPEN frame and peer
 * is the link's, so identity headers are trusted exactly as from a
 * --trusted-proxy connection): identity and query checked. tx is copied;
 * conn_id is the welcome's connection id (copied, cut at 63 bytes).
 * Returns the session (call nf_session_open once the client may be
 * written to) or NULL with *status an HTTP status (401, 400, 503) and *why
 * a short text for the refusal's body. */
nf_session *nf_session_new(nf_loop *l, nf_transport tx, const char *conn_id,
                           const struct sockaddr *peer, const hr_http_head *head, int *status,
                           const char **why);

/* The client may be written to: sends the welcome, then handles ?channels=
 * like a subscribe. deflate: the client negotiated permessage-deflate (so
 * events go compressed when the hub made a twin). */
void nf_session_open(nf_session *s, bool deflate);

/* on_message: one client command. */
void nf_session_message(nf_session *s, int opcode, const uint8_t *data, size_t len);

/* on_drain (the send queue emptied), and right after a resume starts:
 * sends the next part of a replay in progress, if any. */
void nf_session_drain(nf_session *s);

/* The client is gone (its transport says so): leaves the hub and frees the
 * session. */
void nf_session_close(nf_session *s);

/* The loop's sweep: sessions whose token deadline came by now (unix
 * seconds) get the expiring notice, or are closed with 4001. */
void nf_session_expire_due(nf_loop *l, int64_t now);

/* The hub's send callback (sink = nf_session). */
int nf_session_send(void *sink, hr_msg *plain, hr_msg *deflated);

#endif

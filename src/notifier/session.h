/* nf_session: the client protocol of SPEC §2 on one WebSocket connection:
 * identity and ?channels= / ?since= checked on the upgrade, the welcome,
 * subscribe / unsubscribe commands with their replies and errors, resume
 * through the hub, and the 1008 close for clients that keep sending bad
 * commands. The session is the hub's sink for this connection. */
#ifndef NF_SESSION_H
#define NF_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "core/msg.h"
#include "net/conn.h"
#include "proto/channel.h"
#include "proto/http_head.h"

typedef struct nf_session {
    nf_conn_kind kind; /* NF_KIND_SESSION; first member */
    nf_client client;  /* hub registration; sink = this session */
    nf_loop *loop;
    hr_conn *conn;         /* NULL for a herald-link session */
    struct nf_lsess *link; /* the herald-link transport, or NULL (link.h) */
    hr_identity id;
    char *initial;        /* ?channels= until on_open, then NULL */
    char *initial_since;  /* ?since= until on_open, then NULL */
    uint64_t errors_from; /* start of the current one-minute error window */
    uint32_t errors;      /* bad commands in that window */
    uint64_t cmds_from;   /* start of the current one-second command window */
    uint32_t cmds;        /* commands in that window */
} nf_session;

/* on_upgrade for GET /ws: authenticates, creates the session and attaches it
 * to c. Returns 0 (accept) or an HTTP status (reply filled). */
int nf_session_upgrade(nf_loop *l, hr_conn *c, const hr_http_head *head, hr_upgrade_reply *reply);

/* A session arriving over herald-link (link.c): head is synthesized from
 * the OPEN frame, peer is the link's (gateway's) address, so identity
 * headers are trusted exactly as from a --trusted-proxy connection. Returns
 * the session (call nf_session_open next) or NULL with *status an HTTP
 * status (401, 400, 503). */
nf_session *nf_session_new_link(nf_loop *l, struct nf_lsess *ls, const struct sockaddr *peer,
                                const hr_http_head *head, int *status);

/* on_open: sends the welcome, then handles ?channels= like a subscribe. */
void nf_session_open(nf_session *s);

/* on_message: one client command. */
void nf_session_message(nf_session *s, int opcode, const uint8_t *data, size_t len);

/* on_drain (the send queue emptied), and right after a resume starts:
 * sends the next part of a replay in progress, if any. */
void nf_session_drain(nf_session *s);

/* on_close: leaves the hub and frees the session. */
void nf_session_close(nf_session *s);

/* The hub's send callback (sink = nf_session). */
int nf_session_send(void *sink, hr_msg *plain, hr_msg *deflated);

#endif

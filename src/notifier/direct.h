/* nf_direct: the transport of a session whose client is connected to this
 * notifier itself (a WebSocket on hr_conn), as opposed to one carried by a
 * herald-link (link.h). app.c's connection callbacks call in here for the
 * upgrade and the open; messages, drain and close go to the session. */
#ifndef NF_DIRECT_H
#define NF_DIRECT_H

#include "app.h"
#include "net/conn.h"
#include "proto/http_head.h"
#include "session.h"

/* on_upgrade for GET /ws: authenticates, creates the session and attaches it
 * to c (app data). Returns 0 (accept) or an HTTP status (reply filled). */
int nf_direct_upgrade(nf_loop *l, hr_conn *c, const hr_http_head *head, hr_upgrade_reply *reply);

/* on_open: the 101 went out; the session sends its welcome. */
void nf_direct_open(hr_conn *c, nf_session *s);

#endif

/* A session's transport over its own WebSocket connection (direct.h): the
 * nf_transport ops over lib/net's hr_conn, and the upgrade that creates the
 * session. The connection owns itself (conn.h); the session learns of its
 * end through app.c's on_close -> nf_session_close. */
#include "direct.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

static int send_text(void *self, const void *p, size_t len)
{
    return hr_conn_send_text(self, p, len);
}

static int send_event(void *self, const nf_frames *ev)
{
    return hr_conn_send_event(self, ev->plain, ev->deflated);
}

static void tx_close(void *self, int code, const char *reason)
{
    hr_conn_close(self, code, reason);
}

static size_t queued(const void *self)
{
    return hr_conn_queued_bytes(self);
}

static const nf_transport_ops direct_ops = {
    .send_text = send_text,
    .send_event = send_event,
    .close = tx_close,
    .queued = queued,
};

int nf_direct_upgrade(nf_loop *l, hr_conn *c, const hr_http_head *head, hr_upgrade_reply *reply)
{
    if (l->stopping)
        return nf_session_refuse(reply, 503, "shutting down\n");
    char conn_id[64];
    snprintf(conn_id, sizeof conn_id, "%" PRIx64 "-%" PRIu64, l->start_ms, hr_conn_id(c));
    int status = 0;
    const char *why = NULL;
    nf_session *s = nf_session_new(l, (nf_transport){&direct_ops, c}, conn_id, hr_conn_peer_addr(c),
                                   head, &status, &why);
    if (s == NULL)
        return nf_session_refuse(reply, status, why);
    hr_conn_set_app_data(c, s);
    return 0;
}

void nf_direct_open(hr_conn *c, nf_session *s)
{
    const bool deflate = hr_conn_has_deflate(c); /* known after 101 */
    if (hr_log_threshold <= HR_LOG_DEBUG) {
        char peer[64], user[96];
        const char *u = s->id.user;
        hr_log(HR_LOG_DEBUG, "notifier",
               "client open conn=%" PRIu64 " peer=%s user=\"%s\" deflate=%d", hr_conn_id(c),
               hr_conn_peer(c, peer, sizeof peer),
               u != NULL ? hr_log_escape(user, sizeof user, u, strlen(u)) : "", deflate);
    }
    nf_session_open(s, deflate);
}

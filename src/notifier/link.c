/* herald-link, notifier side (link.h). One nf_link per accepted gateway
 * connection: the transport (lib/net/link_conn.h: the socket, HELLO, PING,
 * the read loop and the batch written once per loop turn) and a map from
 * session id (chosen by the gateway) to nf_lsess.
 *
 * Each session over a link (its sends, the link's pending broadcasts, flow
 * control, OPEN) is link_session.c's; this file runs the listener and the
 * links: accept, frames in, end of turn, close. */
#include "link.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "app.h"
#include "bcasts.h"
#include "core/err.h"
#include "core/log.h"
#include "idmap.h"
#include "link_internal.h"
#include "net/link_conn.h"
#include "net/server.h"
#include "proto/link.h"
#include "proto/ws_frame.h"

#define LINK_OUT_LIMIT ((size_t)256 << 20) /* bytes queued toward one gateway link */

/* Links are numbered across every loop of the process: the gateway picks
 * session ids per link (each of its links starts at the same ids), so a
 * session's own id is unique only together with its link's number. */
static atomic_uint_fast32_t link_serials;

/* Frees sessions closed during this turn (their session code has returned). */
static void reap_dead(nf_link *k)
{
    while (k->dead_list != NULL) {
        nf_lsess *ls = k->dead_list;
        k->dead_list = ls->next_dead;
        nf_idmap_del(&k->map, ls->id, ls);
        nf_link_session_end(ls);
        nf_link_session_free(ls);
    }
}

/* The transport's on_frame: HELLO, PING and PONG never get here. */
static void on_frame(hr_link_conn *c, const hr_link_frame *f)
{
    nf_link *k = hr_link_conn_data(c);
    if (f->type == HR_LINK_OPEN)
        nf_link_session_open(k, f);
    else if (f->type == HR_LINK_CREDITS)
        nf_link_session_credits(k, f);
    else if (f->type != HR_LINK_BCAST)
        nf_link_session_frame(k, f);
}

/* ---- link I/O ---------------------------------------------------------------------- */

static void on_free(void *data)
{
    nf_link *k = data;
    nf_bcasts_deinit(&k->bc);
    nf_idmap_deinit(&k->map);
    free(k->wrote_ids);
    free(k->head);
    free(k);
}

static void unlink_from(nf_link *k)
{
    for (nf_link **p = &k->t->links; *p != NULL; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            return;
        }
}

/* The transport's on_close: every session of the link ends (they leave the
 * hub); the nf_link itself goes in on_free. */
static void on_close(hr_link_conn *c, const char *why)
{
    nf_link *k = hr_link_conn_data(c);
    if (!k->stopping)
        hr_log(HR_LOG_INFO, "notifier", "herald-link closed sessions=%zu why=\"%s\"", k->map.live,
               why);
    k->dead = true;
    nf_bcasts_reset(&k->bc);
    k->t->st.links--;
    unlink_from(k);
    /* Closing first: a Pusher connection leaving tells the others of this
     * loop (member_removed), those of this link included. */
    for (size_t i = 0; i < k->map.cap; i++) {
        nf_lsess *ls = nf_idmap_slot(&k->map, i);
        if (ls != NULL)
            ls->closing = true;
    }
    reap_dead(k);
    for (size_t i = 0; i < k->map.cap; i++) {
        nf_lsess *ls = nf_idmap_slot(&k->map, i);
        if (ls == NULL)
            continue;
        nf_idmap_clear_slot(&k->map, i);
        nf_link_session_end(ls);
        nf_link_session_free(ls);
    }
}

/* The transport's on_written: sessions that wrote may pump their replay. */
static void on_written(hr_link_conn *c)
{
    nf_link *k = hr_link_conn_data(c);
    /* Take the list: sessions writing from inside nf_session_drain start a
     * new one for the next batch. */
    uint32_t *ids = k->wrote_ids;
    const size_t n = k->n_wrote;
    k->wrote_ids = NULL;
    k->n_wrote = k->cap_wrote = 0;
    for (size_t i = 0; i < n && !k->dead; i++) {
        nf_lsess *ls = map_get(k, ids[i]);
        if (ls == NULL || !ls->wrote)
            continue;
        ls->wrote = false;
        if (!ls->closing && !hr_link_flow_has_held(&ls->flow)) /* like on_drain */
            nf_link_session_drain(ls);
    }
    free(ids);
}

/* The transport's on_flush (end of turn, before a batch leaves): the
 * pending broadcast joins the batch, sessions closed this turn go. */
static void on_flush(hr_link_conn *c)
{
    nf_link *k = hr_link_conn_data(c);
    nf_link_session_bc_emit(k);
    reap_dead(k);
}

/* A frame over the reader's bound (header complete). A client message is
 * the gateway's to cap and may exceed ours: that DATA frame's session is
 * closed with 1009, as a direct client would be, and the transport drops
 * its payload as it streams in, so the link and its other sessions live
 * on. Any other frame ends the link. */
static bool on_too_big(hr_link_conn *c, const uint8_t p[HR_LINK_HEADER])
{
    nf_link *k = hr_link_conn_data(c);
    const uint32_t id = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
    if (p[0] != HR_LINK_DATA || id == 0)
        return false;
    nf_lsess *ls = map_get(k, id);
    if (ls != NULL)
        nf_link_session_close(ls, HR_WS_CLOSE_TOO_BIG, "message too big");
    return true;
}

static const hr_link_conn_callbacks link_callbacks = {
    .on_frame = on_frame,
    .on_too_big = on_too_big,
    .on_flush = on_flush,
    .on_written = on_written,
    .on_close = on_close,
    .on_free = on_free,
};

/* A new link on t's loop, its transport not yet started. */
static nf_link *link_new(nf_links *t)
{
    nf_link *k = calloc(1, sizeof *k);
    uint8_t *head = malloc(HR_LINK_MAX_HEAD);
    const hr_link_conn_config cfg = {
        .max_payload = t->l->cfg->max_message + 65536,
        .out_limit = LINK_OUT_LIMIT,
        .stats = &t->io,
    };
    hr_link_conn *c =
        k != NULL && head != NULL ? hr_link_conn_new(t->l->uv, &cfg, &link_callbacks, k) : NULL;
    if (c == NULL) {
        free(head);
        free(k);
        return NULL;
    }
    k->t = t;
    k->conn = c;
    k->head = head;
    nf_bcasts_init(&k->bc, HR_LINK_MAX_BCAST);
    k->serial = (uint32_t)(atomic_fetch_add_explicit(&link_serials, 1, memory_order_relaxed) + 1);
    k->next = t->links;
    t->links = k;
    t->st.links++;
    return k;
}

static void on_connection(uv_stream_t *server, int status)
{
    nf_links *t = server->data;
    if (status != 0 || t->stopping)
        return;
    if (t->handoff != NULL && t->handoff(t->handoff_arg, server))
        return; /* accepted by another loop */
    nf_link *k = link_new(t);
    if (k == NULL)
        return;
    const int rc = hr_link_conn_accept(k->conn, server);
    if (rc != 0)
        link_fail(k, hr_err_str(rc));
}

int nf_links_adopt(nf_links *t, uv_os_sock_t fd)
{
    nf_link *k = t->stopping ? NULL : link_new(t);
    if (k == NULL) {
        close(fd);
        return t->stopping ? HR_ECLOSED : HR_ENOMEM;
    }
    const int rc = hr_link_conn_open(k->conn, fd);
    if (rc != 0)
        link_fail(k, hr_err_str(rc));
    return rc;
}

/* ---- table ------------------------------------------------------------------------------ */

static void free_on_close(uv_handle_t *h)
{
    free(h->data);
}

nf_links *nf_links_new(nf_loop *l)
{
    nf_links *t = calloc(1, sizeof *t);
    if (t != NULL)
        t->l = l;
    return t;
}

void nf_links_set_handoff(nf_links *t, nf_links_handoff_cb cb, void *arg)
{
    t->handoff = cb;
    t->handoff_arg = arg;
}

nf_links *nf_links_start(nf_loop *l, const char *addr, char *err, size_t errcap)
{
    struct sockaddr_storage ss;
    if (hr_server_parse_addr(addr, &ss) != 0) { /* the same forms as --listen */
        snprintf(err, errcap, "herald-notifier: --link-listen %s: %s", addr, HR_SERVER_ADDR_HINT);
        return NULL;
    }
    nf_links *t = nf_links_new(l);
    if (t == NULL) {
        snprintf(err, errcap, "herald-notifier: out of memory");
        return NULL;
    }
    uv_tcp_init(l->uv, &t->listener);
    t->listener.data = t;
    t->listener_open = true;
    int rc = uv_tcp_bind(&t->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&t->listener, 511, on_connection);
    if (rc != 0) {
        snprintf(err, errcap, "herald-notifier: --link-listen %s: %s", addr, uv_strerror(rc));
        t->stopping = true;
        t->listener_open = false;
        uv_close((uv_handle_t *)&t->listener, free_on_close);
        return NULL;
    }
    hr_log(HR_LOG_INFO, "notifier", "herald-link listening addr=%s", addr);
    return t;
}

static void close_link_sessions(nf_link *k, int code, const char *reason)
{
    for (size_t i = 0; i < k->map.cap; i++) {
        nf_lsess *ls = nf_idmap_slot(&k->map, i);
        if (ls != NULL)
            nf_link_session_close(ls, code, reason);
    }
}

void nf_links_close_sessions(nf_links *t, int code, const char *reason)
{
    for (nf_link *k = t != NULL ? t->links : NULL; k != NULL; k = k->next)
        close_link_sessions(k, code, reason);
}

void nf_links_stop(nf_links *t)
{
    if (t == NULL || t->stopping)
        return;
    t->stopping = true;
    if (t->listener_open) {
        t->listener_open = false;
        uv_close((uv_handle_t *)&t->listener, NULL);
    }
    for (nf_link *k = t->links; k != NULL; k = k->next) {
        k->stopping = true;
        close_link_sessions(k, HR_WS_CLOSE_GOING_AWAY, "shutting down");
        hr_link_conn_end(k->conn, "shutting down");
    }
}

nf_link_stats nf_links_stats(const nf_links *t)
{
    if (t == NULL)
        return (nf_link_stats){0};
    nf_link_stats st = t->st;
    st.writes = t->io.writes;
    st.bytes_out = t->io.bytes_out;
    st.bytes_in = t->io.bytes_in;
    return st;
}

void nf_links_free(nf_links *t)
{
    free(t);
}

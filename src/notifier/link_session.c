/* herald-link, notifier side: one session over a link (link.h,
 * link_internal.h). An nf_lsess carries a session, a Pusher connection or
 * an SSE stream: its transport ops, its flow control, and the OPEN that
 * makes it.
 *
 * Broadcast cost: the event's JSON is encoded once by the hub (an hr_msg
 * holding the whole WebSocket frame). The hub hands that same hr_msg to each
 * subscriber in turn (a Pusher session the event's Pusher frame, pusher.c);
 * the sends of one message to sessions of one link collect in the link's
 * pending broadcasts (bcasts.h: a reference to each message and a reusable
 * array of session ids), each of which becomes ONE BCAST frame (its
 * header and ids copied into the batch, the payload queued by reference: no
 * copy; up to HR_LINK_MAX_BCAST ids per frame) as soon as anything else is
 * written to the link or the batch leaves. Every write to the batch goes
 * through out_of(), which emits the pending broadcasts first, so each
 * session's frames keep their order. A gateway that said version 1 in its
 * HELLO gets one DATA frame per session (header + the same reference). */
#include "link_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "bcasts.h"
#include "core/buf.h"
#include "core/err.h"
#include "idmap.h"
#include "net/link_conn.h"
#include "proto/http_head.h"
#include "proto/link.h"
#include "proto/link_flow.h"
#include "proto/ws_frame.h"
#include "pusher.h"
#include "session.h"
#include "sse.h"

static hr_buf *out_of(nf_link *k);

/* ---- sessions --------------------------------------------------------------------- */

void nf_link_session_free(nf_lsess *ls)
{
    if (ls->s != NULL || ls->p != NULL || ls->sse != NULL)
        ls->link->t->st.sessions--;
    hr_link_flow_deinit(&ls->flow);
    free(ls);
}

/* The client is gone: its session, Pusher connection or SSE stream ends. */
void nf_link_session_end(nf_lsess *ls)
{
    if (ls->p != NULL)
        nf_pusher_close(ls->p);
    else if (ls->sse != NULL)
        nf_sse_close(ls->sse);
    else if (ls->s != NULL)
        nf_session_close(ls->s);
}

/* Its buffer emptied: a replay in progress goes on. */
void nf_link_session_drain(nf_lsess *ls)
{
    if (ls->p != NULL)
        nf_pusher_drain(ls->p);
    else if (ls->sse != NULL)
        nf_sse_drain(ls->sse);
    else
        nf_session_drain(ls->s);
}

/* Remembers that ls wrote, so the end of the link's next write resumes its
 * replay (drain_sessions) without walking every session. */
static void note_wrote(nf_lsess *ls)
{
    nf_link *k = ls->link;
    if (ls->wrote)
        return;
    if (k->n_wrote == k->cap_wrote) {
        const size_t cap = k->cap_wrote == 0 ? 64 : k->cap_wrote * 2;
        uint32_t *ids = realloc(k->wrote_ids, cap * sizeof *ids);
        if (ids == NULL)
            return; /* its replay then resumes on the next CREDIT */
        k->wrote_ids = ids;
        k->cap_wrote = cap;
    }
    k->wrote_ids[k->n_wrote++] = ls->id;
    ls->wrote = true;
}

/* DATA for session id: its header into the batch (after any pending
 * broadcast, which keeps each session's order), msg [off, off + len) by
 * reference. */
static int put_data(nf_link *k, uint32_t id, hr_msg *msg, size_t off, size_t len, uint8_t opcode)
{
    out_of(k);
    const int hl = hr_link_head_data(k->head, HR_LINK_MAX_HEAD, id, opcode, len);
    return hl < 0 ? hl : hr_link_conn_send_msg(k->conn, k->head, (size_t)hl, msg, off, len);
}

/* After a write or hold of rc: a failure closes the session with 1013 (over
 * the link's or the session's bound), as for a direct client. */
static int sent(nf_lsess *ls, int rc)
{
    if (rc != 0) {
        ls->link->t->st.slow_closes++;
        nf_link_session_close(ls, HR_WS_CLOSE_TRY_AGAIN, "too slow");
        return rc == HR_ENOMEM ? rc : HR_ELIMIT;
    }
    note_wrote(ls);
    start_flush(ls->link);
    return 0;
}

/* Moves held messages into the batch while the window (and PAUSE) allow. */
static int release_held(nf_lsess *ls)
{
    for (const hr_link_held *e; (e = hr_link_flow_next(&ls->flow)) != NULL;) {
        const int rc = put_data(ls->link, ls->id, e->msg, e->off, e->len, e->opcode);
        if (rc != 0)
            return rc;
        hr_link_flow_pop(&ls->flow);
        start_flush(ls->link);
    }
    return 0;
}

static int lsess_send_text(nf_lsess *ls, const void *p, size_t len)
{
    if (ls->closing)
        return HR_ECLOSED;
    int rc = 0;
    if (hr_link_flow_can_send(&ls->flow, len)) {
        rc = hr_link_write_data(out_of(ls->link), ls->id, HR_WS_OP_TEXT, p, len);
        if (rc == 0)
            hr_link_flow_spend(&ls->flow, len);
    } else { /* the session's own reply: held as a message of its own */
        hr_msg *m = hr_msg_new_copy(p, len);
        rc = m != NULL ? hr_link_flow_hold(&ls->flow, m, 0, len, HR_WS_OP_TEXT) : HR_ENOMEM;
        hr_msg_unref(m);
    }
    return sent(ls, rc);
}

/* ---- broadcast --------------------------------------------------------------------- */

/* Writes the pending broadcasts into out, in slot order: DATA for one
 * session, BCAST for more. Past the link's out bound every listed session
 * is closed with 1013, as a failed per-session write would be. */
void nf_link_session_bc_emit(nf_link *k)
{
    nf_bcasts *b = &k->bc;
    const size_t used = b->used;
    size_t failed[NF_BCASTS_SLOTS]; /* how many ids of slot i to close */
    for (size_t i = 0; i < used; i++) {
        const nf_bcast_slot *bs = &b->slot[i];
        const int hl = bs->n == 1 ? hr_link_head_data(k->head, HR_LINK_MAX_HEAD, bs->ids[0],
                                                      bs->opcode, bs->len)
                                  : hr_link_head_bcast(k->head, HR_LINK_MAX_HEAD, bs->opcode,
                                                       bs->ids, bs->n, bs->len);
        const int rc =
            hl < 0 ? hl
                   : hr_link_conn_send_msg(k->conn, k->head, (size_t)hl, bs->msg, bs->off, bs->len);
        failed[i] = rc != 0 ? bs->n : 0;
    }
    nf_bcasts_reset(b); /* before closing: nf_link_session_close writes through out_of() */
    for (size_t i = 0; i < used; i++)
        for (size_t j = 0; j < failed[i]; j++) {
            nf_lsess *ls = map_get(k, b->slot[i].ids[j]);
            if (ls != NULL && !ls->closing) {
                k->t->st.slow_closes++;
                nf_link_session_close(ls, HR_WS_CLOSE_TRY_AGAIN, "too slow");
            }
        }
}

/* The link's output batch, after any pending broadcast (keeps order). */
static hr_buf *out_of(nf_link *k)
{
    nf_link_session_bc_emit(k);
    return hr_link_conn_out(k->conn);
}

/* Adds ls to the pending broadcast of plain (payload at off, len). Returns
 * false when it cannot (no memory for the id list): the caller writes DATA. */
static bool bc_add(nf_lsess *ls, hr_msg *plain, uint8_t opcode, size_t off, size_t len)
{
    nf_link *k = ls->link;
    int rc = nf_bcasts_add(&k->bc, &ls->bc_mark, ls->id, plain, opcode, off, len);
    if (rc == NF_BCASTS_FLUSH) {
        nf_link_session_bc_emit(k);
        rc = nf_bcasts_add(&k->bc, &ls->bc_mark, ls->id, plain, opcode, off, len);
    }
    return rc == 0;
}

/* plain[off, off + len) as one message, by reference: in a pending BCAST
 * with the other sessions getting the same message, or held. */
static int lsess_send_msg(nf_lsess *ls, hr_msg *plain, size_t off, size_t len, uint8_t opcode)
{
    if (ls->closing)
        return HR_ECLOSED;
    if (len > HR_LINK_MAX_DOWN) { /* past what a gateway reads: it would end the link */
        nf_link_session_close(ls, HR_WS_CLOSE_TOO_BIG, "message too big");
        return HR_ETOOBIG;
    }
    nf_link *k = ls->link;
    if (!hr_link_flow_can_send(&ls->flow, len)) /* held: a reference, no copy */
        return sent(ls, hr_link_flow_hold(&ls->flow, plain, off, len, opcode));
    int rc = 0;
    if (hr_link_conn_peer_version(k->conn) < HR_LINK_VERSION_BCAST ||
        !bc_add(ls, plain, opcode, off, len))
        rc = put_data(k, ls->id, plain, off, len, opcode);
    if (rc == 0)
        hr_link_flow_spend(&ls->flow, len);
    return sent(ls, rc);
}

/* One WebSocket frame we built: its payload, by reference. */
static int lsess_send_event(nf_lsess *ls, hr_msg *plain)
{
    if (plain->head_len == 0) /* not a frame from a builder (msg.h) */
        return HR_EINTERNAL;
    const uint8_t opcode = plain->data[0] & 0x0f; /* an unmasked FIN frame we built */
    return lsess_send_msg(ls, plain, plain->head_len, plain->len - plain->head_len, opcode);
}

void nf_link_session_close(nf_lsess *ls, int code, const char *reason)
{
    if (ls->closing)
        return;
    ls->closing = true;
    if (ls->p != NULL) /* Pusher's slow-reader and shutdown codes, as a direct one has */
        code = code == HR_WS_CLOSE_TRY_AGAIN    ? HR_PUSHER_E_OVER_CAPACITY
               : code == HR_WS_CLOSE_GOING_AWAY ? HR_PUSHER_E_RECONNECT
                                                : code;
    nf_link *k = ls->link;
    if (!k->dead) {
        const size_t rl = reason != NULL ? strlen(reason) : 0;
        hr_link_write_close(out_of(k), ls->id, (uint16_t)code, reason,
                            rl > HR_LINK_MAX_CLOSE_REASON ? HR_LINK_MAX_CLOSE_REASON : rl);
    }
    ls->next_dead = k->dead_list;
    k->dead_list = ls;
    start_flush(k);
}

static size_t lsess_queued(const nf_lsess *ls)
{
    return hr_link_flow_queued(&ls->flow);
}

/* The session transport (transport.h) of a link session. */
static int tx_send_text(void *self, const void *p, size_t len)
{
    return lsess_send_text(self, p, len);
}

static int tx_send_event(void *self, const nf_frames *ev)
{
    return lsess_send_event(self, ev->plain);
}

static void tx_close(void *self, int code, const char *reason)
{
    nf_link_session_close(self, code, reason);
}

static size_t tx_queued(const void *self)
{
    return lsess_queued(self);
}

static const nf_transport_ops lsess_ops = {
    .send_text = tx_send_text,
    .send_event = tx_send_event,
    .close = tx_close,
    .queued = tx_queued,
};

/* The Pusher wire (pusher_wire.h) of a link session: replies as DATA, an
 * event's Pusher frame by reference into a pending BCAST of its own. */
static int pw_send_frame(void *self, hr_msg *frame)
{
    return lsess_send_event(self, frame);
}

static bool pw_is_open(const void *self)
{
    return !((const nf_lsess *)self)->closing;
}

static const nf_pusher_wire_ops lsess_pusher_ops = {
    .send_text = tx_send_text,
    .send_frame = pw_send_frame,
    .close = tx_close,
    .queued = tx_queued,
    .is_open = pw_is_open,
};

/* The SSE wire (sse.h) of an OPEN_STREAM session: the response's bytes as
 * binary DATA, an event's SSE block by reference into a pending BCAST. */
static int sw_send(void *self, hr_msg *m)
{
    return lsess_send_msg(self, m, 0, m->len, HR_WS_OP_BINARY);
}

static const nf_sse_wire_ops lsess_sse_ops = {
    .send = sw_send,
    .close = tx_close,
    .queued = tx_queued,
};

/* ---- frames from the gateway ---------------------------------------------------- */

static void refuse_open(nf_link *k, uint32_t id, int status)
{
    hr_link_write_close(out_of(k), id, (uint16_t)(4000 + status), NULL, 0);
    start_flush(k);
}

static void head_of(const hr_link_open *o, hr_http_head *h)
{
    memset(h, 0, sizeof *h);
    h->method = 1; /* GET */
    h->method_str = "GET";
    h->method_len = 3;
    h->target = (const char *)o->target.p;
    h->target_len = o->target.len;
    h->http_major = h->http_minor = 1;
    h->upgrade = true;
    h->content_length = -1;
    for (size_t i = 0; i < o->n_headers && i < HR_HTTP_MAX_HEADERS; i++) {
        h->headers[i] =
            (hr_http_header){(const char *)o->headers[i].name.p, o->headers[i].name.len,
                             (const char *)o->headers[i].value.p, o->headers[i].value.len};
        h->n_headers++;
    }
}

static bool is_ws_path(const hr_link_str *t)
{
    return t->len >= 3 && memcmp(t->p, "/ws", 3) == 0 && (t->len == 3 || t->p[3] == '?');
}

static bool is_sse_path(const hr_link_str *t)
{
    return t->len >= 4 && memcmp(t->p, "/sse", 4) == 0 && (t->len == 4 || t->p[4] == '?');
}

void nf_link_session_open(nf_link *k, const hr_link_frame *f)
{
    nf_lsess *old = map_get(k, f->session);
    if (old != NULL && !old->closing) {
        link_fail(k, "OPEN for a live session id");
        return;
    }
    if (old != NULL)
        nf_idmap_del(&k->map, old->id,
                     old); /* closed this turn, freed at its end: the id is free again */
    if (k->stopping || k->t->stopping) {
        refuse_open(k, f->session, 503);
        return;
    }
    const bool pusher = nf_pusher_is_path((const char *)f->open.target.p, f->open.target.len);
    if (f->open.stream ? !is_sse_path(&f->open.target) : !pusher && !is_ws_path(&f->open.target)) {
        refuse_open(k, f->session, 404);
        return;
    }
    nf_lsess *ls = calloc(1, sizeof *ls);
    if (ls != NULL) {
        ls->id = f->session;
        ls->link = k;
    }
    if (ls == NULL || nf_idmap_put(&k->map, ls->id, ls) != 0) {
        free(ls);
        refuse_open(k, f->session, 503);
        return;
    }
    hr_link_flow_init(&ls->flow, k->t->l->cfg->send_queue_limit);
    hr_http_head head;
    head_of(&f->open, &head);
    /* Link session ids are the gateway's, unique per link only: number them
     * per loop instead, with the loop's index (unique per process). */
    nf_loop *l = k->t->l;
    char conn_id[64];
    snprintf(conn_id, sizeof conn_id, "%" PRIx64 "-l%u-%" PRIu64, l->start_ms, l->index,
             ++l->next_serial);
    if (f->open.stream) { /* an HTTP answer: sse.c writes its head (or a refusal) and CLOSE */
        head.upgrade = false;
        ls->sse = nf_sse_open(l, (nf_sse_wire){&lsess_sse_ops, ls}, conn_id,
                              hr_link_conn_peer(k->conn), &head);
        if (ls->sse != NULL)
            k->t->st.sessions++;
        return;
    }
    int status = 0;
    const char *why = NULL;
    if (pusher) /* socket_id: above every hr_conn number, unique per live session */
        ls->p = nf_pusher_new(l, (nf_pusher_wire){&lsess_pusher_ops, ls},
                              (uint64_t)k->serial << 32 | ls->id, hr_link_conn_peer(k->conn), &head,
                              &status, &why);
    else
        ls->s = nf_session_new(l, (nf_transport){&lsess_ops, ls}, conn_id,
                               hr_link_conn_peer(k->conn), &head, &status, &why);
    if (ls->s == NULL && ls->p == NULL) {
        nf_idmap_del(&k->map, ls->id, ls);
        nf_link_session_free(ls);
        refuse_open(k, f->session, status);
        return;
    }
    k->t->st.sessions++;
    if (ls->p != NULL)
        nf_pusher_open(ls->p);
    else
        nf_session_open(ls->s, false); /* compression toward the client is the gateway's */
}

/* The window grew or PAUSE ended: held frames go, and a replay waiting
 * for an empty buffer goes on. */
static void window_opened(nf_lsess *ls)
{
    if (release_held(ls) != 0) {
        nf_link_session_close(ls, HR_WS_CLOSE_TRY_AGAIN, "too slow");
        return;
    }
    if (!hr_link_flow_has_held(&ls->flow))
        nf_link_session_drain(ls);
}

static void credit(nf_lsess *ls, uint32_t n)
{
    hr_link_flow_credit(&ls->flow, n);
    window_opened(ls);
}

void nf_link_session_frame(nf_link *k, const hr_link_frame *f)
{
    nf_lsess *ls = map_get(k, f->session);
    if (ls == NULL || ls->closing)
        return; /* closed here already; our CLOSE is on its way */
    if (f->type == HR_LINK_DATA) {
        if (ls->sse != NULL) /* nothing goes up on a stream */
            return;
        if (f->payload.len > k->t->l->cfg->max_message) /* as for a direct client */
            nf_link_session_close(ls, HR_WS_CLOSE_TOO_BIG, "message too big");
        else if (ls->p != NULL)
            nf_pusher_message(ls->p, f->payload.p, f->payload.len);
        else
            nf_session_message(ls->s, f->opcode, f->payload.p, f->payload.len);
    } else if (f->type == HR_LINK_CLOSE) {
        ls->closing = true; /* the gateway forgot it: no CLOSE back */
        ls->next_dead = k->dead_list;
        k->dead_list = ls;
        start_flush(k);
    } else if (f->type == HR_LINK_PAUSE) {
        hr_link_flow_pause(&ls->flow, true);
    } else if (f->type == HR_LINK_RESUME) {
        hr_link_flow_pause(&ls->flow, false);
        window_opened(ls);
    } else if (f->type == HR_LINK_CREDIT) {
        credit(ls, f->credit);
    }
}

/* CREDITS (version 3): CREDIT for every listed session, in list order. */
void nf_link_session_credits(nf_link *k, const hr_link_frame *f)
{
    for (size_t i = 0; i < f->n_credits && !k->dead; i++) {
        const hr_link_credit c = hr_link_credits_at(f, i);
        nf_lsess *ls = map_get(k, c.session);
        if (ls != NULL && !ls->closing) /* else closed here already */
            credit(ls, c.bytes);
    }
}

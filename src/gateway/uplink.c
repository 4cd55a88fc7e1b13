/* herald-link, gateway side: a few links per notifier, each carrying many
 * client sessions as frames tagged by session id. The transport (socket,
 * HELLO, read loop, PING/keepalive, one batched write per loop turn) is
 * lib/net's hr_link_conn, shared with the notifier; this file is what the
 * frames mean here: the session table, OPEN/DATA/CLOSE up, DATA/BCAST/
 * CLOSE/PAUSE down, and the window returned as CREDIT.
 *
 * Credit: what the proxy hands back (gw_usess_credit) collects per link in
 * a gw_credits table (credits.h) and leaves once per loop turn from the
 * transport's on_flush: one CREDITS frame for every (session, bytes) pair
 * owed when the notifier speaks link v3, else one CREDIT per session. A
 * write the batch refuses keeps the window owed for the next turn. Toward
 * a v5 notifier a session first keeps its credit back until it reaches
 * HR_LINK_CREDIT_LAG (hr_link_credit_due), so a session that keeps up
 * returns its window every 64 KiB, not after every event.
 *
 * Session ids: (generation << 20) | (slot + 1). A slot is reused with a new
 * generation, so a late frame for a closed session never reaches the new
 * session in its slot.
 *
 * Link life: hr_link_conn_connect -> HELLO both ways -> frames -> EOF,
 * error, protocol error or idle (the transport's on_close) -> every session
 * gets on_close(1006) -> on_free frees the link. A link is never
 * reconnected: the next session for that server opens a fresh one. */
#include "uplink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "credits.h"
#include "net/link_conn.h"
#include "proto/link_flow.h"

#define SLOT_BITS 20
#define SLOT_MASK ((1u << SLOT_BITS) - 1)

typedef struct gw_uplink gw_uplink;

struct gw_usess {
    gw_uplink *l;
    uint32_t id;
    const gw_upstream_events *ev;
    void *arg;
    uint64_t last_bcast; /* sequence of the last BCAST delivered here (duplicate ids) */
    gw_credit_ref owed;  /* its pair in l->credits this turn */
    uint32_t kept;       /* credit kept back, below HR_LINK_CREDIT_LAG (link v5) */
    hr_buf *pending;     /* a STREAM OPEN waiting for the peer's HELLO (its version) */
    bool opened;
};

struct gw_uplink {
    gw_uplinks *t;
    gw_uplink *next;
    gw_addr addr;
    hr_link_conn *conn; /* ours until on_free */
    bool dead;
    bool counted; /* in links_open (from its first written batch) */
    gw_usess **slots;
    size_t n_slots;
    uint32_t *free_slots;
    size_t n_free;
    size_t n_sessions;
    size_t n_pending; /* sessions whose OPEN waits for the peer's HELLO */
    uint32_t gen;
    gw_credits credits; /* window owed to the notifier, sent at the end of the turn */
};

struct gw_uplinks {
    uv_loop_t *loop;
    size_t max_payload, out_limit;
    uint32_t ping_ms, idle_ms;
    gw_metrics *m;
    gw_metrics none; /* counts land here without set_metrics */
    gw_uplink *links;
    uint64_t bcast_seq; /* BCAST frames delivered so far (gw_usess.last_bcast) */
};

/* Before on_open, a CLOSE is a refusal: 4000 + the HTTP status by
 * convention; 1006 (or anything else) means the notifier could not take it. */
static int refusal_status(int code)
{
    if (code == 1006)
        return 0;
    return code >= 4400 && code <= 4599 ? code - 4000 : 502;
}

/* ---- sessions table --------------------------------------------------------- */

static gw_usess *find(gw_uplink *l, uint32_t id)
{
    const uint32_t slot = (id & SLOT_MASK);
    if (slot == 0 || slot > l->n_slots)
        return NULL;
    gw_usess *u = l->slots[slot - 1];
    return u != NULL && u->id == id ? u : NULL;
}

static int grow_slots(gw_uplink *l)
{
    const size_t n = l->n_slots == 0 ? 64 : l->n_slots * 2;
    if (n > SLOT_MASK)
        return HR_ELIMIT;
    gw_usess **s = realloc(l->slots, n * sizeof *s);
    if (s == NULL)
        return HR_ENOMEM;
    l->slots = s;
    uint32_t *f = realloc(l->free_slots, n * sizeof *f);
    if (f == NULL)
        return HR_ENOMEM;
    l->free_slots = f;
    for (size_t i = n; i > l->n_slots; i--) {
        l->slots[i - 1] = NULL;
        l->free_slots[l->n_free++] = (uint32_t)(i - 1);
    }
    l->n_slots = n;
    return 0;
}

static int attach(gw_uplink *l, gw_usess *u)
{
    if (l->n_free == 0) {
        const int rc = grow_slots(l);
        if (rc != 0)
            return rc;
    }
    const uint32_t slot = l->free_slots[--l->n_free];
    l->gen = (l->gen + 1) & (0xffffffffu >> SLOT_BITS);
    u->id = (l->gen << SLOT_BITS) | (slot + 1);
    u->l = l;
    l->slots[slot] = u;
    l->n_sessions++;
    return 0;
}

static void detach(gw_usess *u)
{
    gw_uplink *l = u->l;
    const uint32_t slot = (u->id & SLOT_MASK) - 1;
    gw_credits_forget(&l->credits, &u->owed);
    if (u->pending != NULL) {
        l->n_pending--;
        hr_buf_deinit(u->pending);
        free(u->pending);
    }
    l->slots[slot] = NULL;
    l->free_slots[l->n_free++] = slot;
    l->n_sessions--;
    free(u);
}

/* ---- writing ------------------------------------------------------------------ */

/* The link's batch, for the lib/proto/link.h writers. */
static hr_buf *out_of(gw_uplink *l)
{
    return hr_link_conn_out(l->conn);
}

/* After one frame was appended: count it, send it this turn. */
static void queued_one(gw_uplink *l)
{
    l->t->m->link_frames_out++;
    hr_link_conn_kick(l->conn);
}

static bool peer_takes_credits(const gw_uplink *l)
{
    return hr_link_conn_peer_version(l->conn) >= HR_LINK_VERSION_CREDITS;
}

/* An older notifier lets a message larger than the room left go only when
 * nothing is in flight: credit kept back would hold it forever. */
static bool peer_takes_lag(const gw_uplink *l)
{
    return hr_link_conn_peer_version(l->conn) >= HR_LINK_VERSION_CREDIT_LAG;
}

/* Appends the owed window; what does not fit stays owed (on_written kicks
 * another turn for it). */
static void write_credits(gw_uplink *l)
{
    if (gw_credits_pending(&l->credits) == 0)
        return;
    const size_t max_pairs = HR_LINK_MAX_CREDITS;
    size_t frames = 0;
    gw_credits_write(&l->credits, out_of(l), peer_takes_credits(l), max_pairs, &frames);
    l->t->m->link_frames_out += frames;
}

/* ---- link life ------------------------------------------------------------------ */

static void unlink_from_table(gw_uplink *l)
{
    for (gw_uplink **p = &l->t->links; *p != NULL; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            return;
        }
    }
}

/* Ends every session (on_close(code)) and the transport. */
static void link_end(gw_uplink *l, int code, const char *why)
{
    if (l->dead)
        return;
    l->dead = true;
    if (l->counted)
        l->t->m->links_open--;
    unlink_from_table(l);
    for (size_t i = 0; i < l->n_slots; i++) {
        gw_usess *u = l->slots[i];
        if (u == NULL)
            continue;
        const gw_upstream_events *ev = u->ev;
        void *arg = u->arg;
        const bool opened = u->opened;
        detach(u);
        const gw_upstream_end end = {
            .code = code, .opened = opened, .status = opened ? 0 : refusal_status(code)};
        ev->on_close(arg, &end);
    }
    hr_link_conn_close(l->conn, why);
}

/* ---- reading ---------------------------------------------------------------------- */

/* One message m for session id; the first one opens the session. */
static void deliver_message(gw_uplink *l, uint32_t id, gw_upmsg *m)
{
    gw_usess *u = find(l, id);
    if (u == NULL)
        return; /* closed on our side already: its CLOSE is on the way */
    if (!u->opened) {
        u->opened = true;
        u->ev->on_open(u->arg);
        if ((u = find(l, id)) == NULL)
            return; /* the proxy closed it from on_open */
    }
    u->ev->on_message(u->arg, m);
}

/* BCAST: the same message for every listed session, in list order, as ONE
 * gw_upmsg (its frames are built at most once, by whoever sends first). The
 * callbacks may close sessions (never the link), so each id is looked up
 * afresh; ids of sessions gone here are skipped, ids listed twice get it
 * once. */
static void deliver_bcast(gw_uplink *l, const hr_link_frame *f)
{
    l->t->m->link_bcasts_in++;
    const uint64_t seq = ++l->t->bcast_seq;
    gw_upmsg m;
    gw_upmsg_init(&m, f->opcode, f->message.p, f->message.len, true);
    for (size_t i = 0; i < f->n_ids && !l->dead; i++) {
        const uint32_t id = hr_link_bcast_id(f, i);
        gw_usess *u = find(l, id);
        if (u == NULL || u->last_bcast == seq)
            continue;
        u->last_bcast = seq;
        deliver_message(l, id, &m);
    }
    gw_upmsg_deinit(&m);
}

static void deliver(gw_uplink *l, const hr_link_frame *f)
{
    if (f->type == HR_LINK_DATA) {
        gw_upmsg m;
        gw_upmsg_init(&m, f->opcode, f->payload.p, f->payload.len, false);
        deliver_message(l, f->session, &m);
        gw_upmsg_deinit(&m);
        return;
    }
    gw_usess *u = find(l, f->session);
    if (u == NULL)
        return; /* closed on our side already: its CLOSE is on the way */
    if (f->type == HR_LINK_CLOSE) {
        const gw_upstream_events *ev = u->ev;
        void *arg = u->arg;
        const bool opened = u->opened;
        detach(u);
        const gw_upstream_end end = {
            .code = f->close_code,
            .opened = opened,
            .status = opened ? 0 : refusal_status(f->close_code),
            .reason = f->reason.len > 0 ? f->reason.p : NULL,
            .reason_len = f->reason.len,
        };
        ev->on_close(arg, &end);
    } else if (f->type == HR_LINK_PAUSE || f->type == HR_LINK_RESUME) {
        u->ev->on_pause(u->arg, f->type == HR_LINK_PAUSE);
    }
}

/* ---- transport callbacks ----------------------------------------------------------- */

static void on_frame(hr_link_conn *k, const hr_link_frame *f)
{
    gw_uplink *l = hr_link_conn_data(k);
    if (l->dead)
        return;
    if (f->type == HR_LINK_BCAST)
        deliver_bcast(l, f);
    else if (f->type != HR_LINK_OPEN && f->type != HR_LINK_CREDIT)
        deliver(l, f);
}

/* A STREAM session (OPEN_STREAM) needs a notifier of version 4 or later;
 * an older one would end the whole link on the unknown flag. */
static bool peer_takes_streams(const gw_uplink *l)
{
    return hr_link_conn_peer_version(l->conn) >= HR_LINK_VERSION_STREAM;
}

static void log_no_streams(const gw_uplink *l)
{
    hr_log(HR_LOG_WARN, "gateway",
           "herald-link server=%s speaks version %u: no SSE over it (STREAM sessions need "
           "version %d; upgrade the notifier)",
           l->addr.text, (unsigned)hr_link_conn_peer_version(l->conn), HR_LINK_VERSION_STREAM);
}

/* The peer's version is known: STREAM OPENs that waited for it go, or
 * their sessions end with 502. */
static void on_hello(hr_link_conn *k)
{
    gw_uplink *l = hr_link_conn_data(k);
    for (size_t i = 0; i < l->n_slots && l->n_pending > 0 && !l->dead; i++) {
        gw_usess *u = l->slots[i];
        if (u == NULL || u->pending == NULL)
            continue;
        if (peer_takes_streams(l) &&
            hr_buf_append(out_of(l), hr_buf_data(u->pending), u->pending->len) == 0) {
            l->n_pending--;
            hr_buf_deinit(u->pending);
            free(u->pending);
            u->pending = NULL;
            queued_one(l);
            continue;
        }
        if (!peer_takes_streams(l))
            log_no_streams(l);
        const gw_upstream_events *ev = u->ev;
        void *arg = u->arg;
        detach(u);
        const gw_upstream_end end = {.code = 1011, .opened = false, .status = 502};
        ev->on_close(arg, &end);
    }
}

static void on_flush(hr_link_conn *k)
{
    gw_uplink *l = hr_link_conn_data(k);
    if (!l->dead)
        write_credits(l);
}

static void on_written(hr_link_conn *k)
{
    gw_uplink *l = hr_link_conn_data(k);
    if (l->dead)
        return;
    if (!l->counted) {
        l->counted = true; /* connected and took our first batch */
        l->t->m->links_open++;
    }
    if (gw_credits_pending(&l->credits) > 0)
        hr_link_conn_kick(k); /* what the last batch had no room for */
}

/* The transport ended the link (EOF, error, protocol error, idle). */
static void on_close(hr_link_conn *k, const char *why)
{
    gw_uplink *l = hr_link_conn_data(k);
    if (l->dead)
        return; /* we ended it */
    hr_log(HR_LOG_WARN, "gateway", "herald-link lost server=%s sessions=%zu why=\"%s\"",
           l->addr.text, l->n_sessions, why);
    link_end(l, 1006, why);
}

static void on_free(void *data)
{
    gw_uplink *l = data;
    gw_credits_deinit(&l->credits);
    free(l->slots);
    free(l->free_slots);
    free(l);
}

static const hr_link_conn_callbacks link_callbacks = {
    .on_frame = on_frame,
    .on_hello = on_hello,
    .on_flush = on_flush,
    .on_written = on_written,
    .on_close = on_close,
    .on_free = on_free,
};

static int sockaddr_of(const gw_addr *a, struct sockaddr_storage *ss)
{
    if (a->v6)
        return uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss);
    const char *host = strcmp(a->host, "localhost") == 0 ? "127.0.0.1" : a->host;
    return uv_ip4_addr(host, a->port, (struct sockaddr_in *)ss);
}

static gw_uplink *link_new(gw_uplinks *t, const gw_addr *addr, int *rc)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if ((*rc = sockaddr_of(addr, &ss)) != 0)
        return NULL;
    gw_uplink *l = calloc(1, sizeof *l);
    const hr_link_conn_config cfg = {
        .max_payload = t->max_payload,
        .out_limit = t->out_limit,
        .ping_ms = t->ping_ms,
        .idle_ms = t->idle_ms,
        .stats = &t->m->link_io,
    };
    hr_link_conn *k = l != NULL ? hr_link_conn_new(t->loop, &cfg, &link_callbacks, l) : NULL;
    if (k == NULL) {
        free(l);
        *rc = HR_ENOMEM;
        return NULL;
    }
    l->t = t;
    l->addr = *addr;
    l->conn = k;
    gw_credits_init(&l->credits);
    l->next = t->links;
    t->links = l;
    t->m->link_frames_out++; /* the transport's HELLO */
    *rc = hr_link_conn_connect(k, (const struct sockaddr *)&ss);
    if (*rc != 0) {
        link_end(l, 1006, "connect failed");
        return NULL;
    }
    return l;
}

/* The least loaded live link to addr, opening one while fewer than
 * GW_UPLINK_PER_SERVER exist. */
static gw_uplink *link_for(gw_uplinks *t, const gw_addr *addr, int *rc)
{
    gw_uplink *best = NULL;
    unsigned count = 0;
    for (gw_uplink *l = t->links; l != NULL; l = l->next) {
        if (l->dead || strcmp(l->addr.text, addr->text) != 0)
            continue;
        count++;
        if (best == NULL || l->n_sessions < best->n_sessions)
            best = l;
    }
    if (count < GW_UPLINK_PER_SERVER && (best == NULL || best->n_sessions > 0))
        return link_new(t, addr, rc);
    *rc = 0;
    return best;
}

/* ---- public API ---------------------------------------------------------------------- */

gw_uplinks *gw_uplinks_new(uv_loop_t *loop, size_t max_payload, size_t out_limit, uint32_t ping_ms,
                           uint32_t idle_ms)
{
    gw_uplinks *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->loop = loop;
    t->max_payload = max_payload;
    t->out_limit = out_limit;
    t->ping_ms = ping_ms;
    t->idle_ms = idle_ms;
    t->m = &t->none;
    return t;
}

void gw_uplinks_set_metrics(gw_uplinks *t, gw_metrics *m)
{
    t->m = m != NULL ? m : &t->none;
}

void gw_uplinks_free(gw_uplinks *t)
{
    if (t == NULL)
        return;
    while (t->links != NULL) {
        gw_uplink *l = t->links;
        hr_link_conn_try_flush(l->conn); /* last CLOSE frames (drain), best effort */
        link_end(l, 1001, "shutting down");
    }
    free(t);
}

/* Keeps a STREAM OPEN until the peer's HELLO says its version (on_hello). */
static int hold_open(gw_uplink *l, gw_usess *u, const hr_link_open *o)
{
    u->pending = malloc(sizeof *u->pending);
    if (u->pending == NULL)
        return HR_ENOMEM;
    hr_buf_init(u->pending, SIZE_MAX);
    l->n_pending++; /* detach counts it down, even on failure */
    return hr_link_write_open(u->pending, u->id, o);
}

int gw_usess_open(gw_uplinks *t, const gw_addr *addr, const hr_link_open *o,
                  const gw_upstream_events *ev, void *arg, gw_usess **out)
{
    int rc = 0;
    gw_uplink *l = link_for(t, addr, &rc);
    if (l == NULL)
        return rc;
    gw_usess *u = calloc(1, sizeof *u);
    if (u == NULL)
        return HR_ENOMEM;
    u->ev = ev;
    u->arg = arg;
    if ((rc = attach(l, u)) != 0) {
        free(u);
        return rc;
    }
    if (o->stream && hr_link_conn_peer_version(l->conn) == 0)
        rc = hold_open(l, u, o);
    else if (o->stream && !peer_takes_streams(l))
        rc = HR_EPROTO;
    else if ((rc = hr_link_write_open(out_of(l), u->id, o)) == 0)
        queued_one(l);
    if (rc != 0) {
        if (rc == HR_EPROTO)
            log_no_streams(l);
        detach(u);
        return rc;
    }
    *out = u;
    return 0;
}

int gw_usess_send(gw_usess *u, int opcode, const uint8_t *data, size_t len)
{
    const int rc = hr_link_write_data(out_of(u->l), u->id, (uint8_t)opcode, data, len);
    if (rc == 0)
        queued_one(u->l);
    return rc;
}

void gw_usess_flow(gw_usess *u, bool pause)
{
    if (hr_link_write_flow(out_of(u->l), pause ? HR_LINK_PAUSE : HR_LINK_RESUME, u->id) == 0)
        queued_one(u->l);
}

void gw_usess_credit(gw_usess *u, size_t n)
{
    gw_uplink *l = u->l;
    if (peer_takes_lag(l) && (n = hr_link_credit_due(&u->kept, n)) == 0)
        return; /* kept back for now */
    while (n > 0) {
        const uint32_t part = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        if (gw_credits_add(&l->credits, &u->owed, u->id, part) != 0 &&
            hr_link_write_credit(out_of(l), u->id, part) != 0)
            return; /* no memory for the table nor room in the batch */
        n -= part;
    }
    hr_link_conn_kick(l->conn); /* on_flush writes it at the end of the turn */
}

void gw_usess_close(gw_usess *u, int code)
{
    gw_uplink *l = u->l;
    if (code < 1000 || code > 4999)
        code = 1000;
    if (u->pending == NULL && hr_link_write_close(out_of(l), u->id, (uint16_t)code, NULL, 0) == 0)
        queued_one(l); /* a held OPEN never left: nothing to close there */
    detach(u);
}

size_t gw_usess_queued(const gw_usess *u)
{
    return hr_link_conn_queued(u->l->conn);
}

/* ---- as a gw_upstream ------------------------------------------------------------ */

/* Any failure to queue is "cannot take more" (the client gets 1013):
 * nothing else would tell the proxy. */
static int op_send(void *h, int opcode, const uint8_t *data, size_t len)
{
    return gw_usess_send(h, opcode, data, len) != 0 ? HR_ETOOBIG : 0;
}

static void op_close(void *h, int code)
{
    gw_usess_close(h, code);
}

static void op_credit(void *h, size_t n)
{
    gw_usess_credit(h, n);
}

static void op_pause(void *h, bool pause)
{
    (void)h;
    (void)pause; /* the notifier stops at the end of the window (CREDIT) */
}

static size_t op_queued(const void *h)
{
    return gw_usess_queued(h);
}

static const char *op_protocol(const void *h)
{
    (void)h;
    return NULL; /* herald-link upstreams select no subprotocol */
}

const gw_upstream_ops gw_usess_ops = {
    .send = op_send,
    .close = op_close,
    .credit = op_credit,
    .pause = op_pause,
    .queued = op_queued,
    .protocol = op_protocol,
};

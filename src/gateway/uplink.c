/* herald-link, gateway side: a few TCP links per notifier, each carrying
 * many client sessions. Writing: frames are appended to the link's `out`
 * buffer during the loop turn; a uv_prepare handle hands the whole buffer to
 * one uv_write just before the loop polls, so a burst of messages becomes one
 * syscall. While a write is in flight new frames collect in `out` and go out
 * together when it completes. Reading: bytes land in `in`, hr_link_parse()
 * takes whole frames, each is routed by session id.
 *
 * Session ids: (generation << 20) | (slot + 1). A slot is reused with a new
 * generation, so a late frame for a closed session never reaches the new
 * session in its slot.
 *
 * Link life: connect -> HELLO both ways -> frames (PING after ping_ms of
 * silence) -> EOF/error/protocol error/idle_ms of silence
 * -> every session gets on_close(1006) -> handles closed -> freed. A link is
 * never reconnected: the next session for that server opens a fresh one. */
#include "uplink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

#define SLOT_BITS 20
#define SLOT_MASK ((1u << SLOT_BITS) - 1)

typedef struct gw_uplink gw_uplink;

struct gw_usess {
    gw_uplink *l;
    uint32_t id;
    const gw_upstream_events *ev;
    void *arg;
    uint64_t last_bcast; /* sequence of the last BCAST delivered here (duplicate ids) */
    bool opened;
};

struct gw_uplink {
    gw_uplinks *t;
    gw_uplink *next;
    gw_addr addr;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_prepare_t flush;
    uv_timer_t keepalive;
    uint64_t last_rx_ms; /* loop time of the last bytes from the notifier */
    hr_buf in, out;
    size_t inflight;
    bool connected, writing, got_hello, dead;
    int open_handles;
    gw_usess **slots;
    size_t n_slots;
    uint32_t *free_slots;
    size_t n_free;
    size_t n_sessions;
    size_t frames_pending; /* frames in out, for link_frames_out */
    uint32_t gen;
    bool counted; /* in links_open */
};

struct gw_uplinks {
    uv_loop_t *loop;
    size_t max_payload, out_limit;
    uint32_t ping_ms, idle_ms;
    gw_metrics *m;
    gw_metrics none; /* counts land here without set_metrics */
    gw_uplink *links;
    bool freeing;
    uint64_t bcast_seq;      /* BCAST frames delivered so far (gw_usess.last_bcast) */
};

typedef struct wreq {
    uv_write_t req;
    gw_uplink *l;
    hr_buf buf;
} wreq;

static void link_fail(gw_uplink *l, const char *why);
static void flush_now(gw_uplink *l);

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
    l->slots[slot] = NULL;
    l->free_slots[l->n_free++] = slot;
    l->n_sessions--;
    free(u);
}

/* ---- writing ------------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    gw_uplink *l = w->l;
    l->inflight -= w->buf.len;
    l->writing = false;
    hr_buf_deinit(&w->buf);
    free(w);
    if (status != 0) {
        link_fail(l, uv_strerror(status));
        return;
    }
    if (l->out.len > 0 && !l->dead)
        flush_now(l); /* what collected while the write was in flight: one more batch */
}

static void flush_now(gw_uplink *l)
{
    if (l->writing || !l->connected || l->dead || l->out.len == 0)
        return;
    wreq *w = malloc(sizeof *w);
    if (w == NULL) {
        link_fail(l, "out of memory");
        return;
    }
    w->l = l;
    w->buf = l->out; /* the batch moves into the request */
    l->t->m->link_writes++;
    l->t->m->link_frames_out += l->frames_pending;
    l->t->m->link_bytes_out += l->out.len;
    l->frames_pending = 0;
    hr_buf_init(&l->out, l->t->out_limit);
    const uv_buf_t b = uv_buf_init((char *)(w->buf.base + w->buf.off), (unsigned)w->buf.len);
    l->inflight += w->buf.len;
    l->writing = true;
    const int rc = uv_write(&w->req, (uv_stream_t *)&l->tcp, &b, 1, on_written);
    if (rc != 0) {
        l->inflight -= w->buf.len;
        l->writing = false;
        hr_buf_deinit(&w->buf);
        free(w);
        link_fail(l, uv_strerror(rc));
    }
}

static void on_flush(uv_prepare_t *p)
{
    gw_uplink *l = p->data;
    uv_prepare_stop(p);
    flush_now(l);
}

static void start_flush(gw_uplink *l)
{
    l->frames_pending++; /* every caller has just queued one frame */
    if (!l->dead)
        uv_prepare_start(&l->flush, on_flush);
}

/* ---- link life ------------------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h)
{
    gw_uplink *l = h->data;
    if (--l->open_handles > 0)
        return;
    hr_buf_deinit(&l->in);
    hr_buf_deinit(&l->out);
    free(l->slots);
    free(l->free_slots);
    free(l);
}

static void unlink_from_table(gw_uplink *l)
{
    for (gw_uplink **p = &l->t->links; *p != NULL; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            return;
        }
    }
}

/* Ends every session (on_close(code)), then closes the handles. */
static void link_end(gw_uplink *l, int code)
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
        ev->on_close(arg, code, opened, opened ? 0 : refusal_status(code));
    }
    uv_close((uv_handle_t *)&l->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&l->flush, on_handle_closed);
    uv_close((uv_handle_t *)&l->keepalive, on_handle_closed);
}

static void link_fail(gw_uplink *l, const char *why)
{
    if (!l->dead)
        hr_log(HR_LOG_WARN, "gateway", "herald-link lost server=%s sessions=%zu why=\"%s\"",
               l->addr.text, l->n_sessions, why);
    link_end(l, 1006);
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
        ev->on_close(arg, f->close_code, opened, opened ? 0 : refusal_status(f->close_code));
    } else if (f->type == HR_LINK_PAUSE || f->type == HR_LINK_RESUME) {
        u->ev->on_pause(u->arg, f->type == HR_LINK_PAUSE);
    }
}

static void handle_frame(gw_uplink *l, const hr_link_frame *f)
{
    if (!l->got_hello) {
        if (f->type != HR_LINK_HELLO) {
            link_fail(l, "first frame is not HELLO");
            return;
        }
        l->got_hello = true;
        return;
    }
    if (f->type == HR_LINK_PING) {
        if (hr_link_write_ping(&l->out, HR_LINK_PONG, f->ping) == 0)
            start_flush(l);
    } else if (f->type == HR_LINK_BCAST) {
        deliver_bcast(l, f);
    } else if (f->type != HR_LINK_PONG && f->type != HR_LINK_HELLO && f->type != HR_LINK_OPEN) {
        deliver(l, f);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    gw_uplink *l = h->data;
    size_t avail = 0;
    uint8_t *p = hr_buf_reserve(&l->in, 65536, &avail);
    *buf = uv_buf_init((char *)p, (unsigned)(avail > 65536 ? 65536 : avail));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    gw_uplink *l = st->data;
    if (n < 0) {
        link_fail(l, n == UV_EOF ? "closed by the server" : uv_strerror((int)n));
        return;
    }
    if (n == 0 && buf->base == NULL) {
        link_fail(l, "frame over the size limit or out of memory");
        return;
    }
    hr_buf_commit(&l->in, (size_t)n);
    l->t->m->link_bytes_in += (uint64_t)n;
    l->last_rx_ms = uv_now(l->t->loop);
    while (!l->dead) {
        hr_link_frame f;
        const int rc = hr_link_parse(hr_buf_data(&l->in), l->in.len, l->t->max_payload, &f);
        if (rc == 0)
            break;
        if (rc < 0) {
            link_fail(l, rc == HR_ETOOBIG ? "frame too big" : "protocol error");
            return;
        }
        handle_frame(l, &f);
        if (l->dead)
            return;
        hr_buf_consume(&l->in, (size_t)rc);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    gw_uplink *l = req->data;
    if (l->dead)
        return;
    if (status != 0) {
        link_fail(l, uv_strerror(status));
        return;
    }
    l->connected = true;
    l->counted = true;
    l->t->m->links_open++;
    uv_tcp_nodelay(&l->tcp, 1);
    const int rc = uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
    if (rc != 0) {
        link_fail(l, uv_strerror(rc));
        return;
    }
    start_flush(l);
}

static void on_keepalive(uv_timer_t *timer)
{
    gw_uplink *l = timer->data;
    const uint64_t quiet = uv_now(l->t->loop) - l->last_rx_ms;
    if (l->t->idle_ms > 0 && quiet >= l->t->idle_ms) {
        link_fail(l, "no answer within the idle timeout");
        return;
    }
    static const uint8_t token[HR_LINK_PING_LEN] = {'k', 'e', 'e', 'p', 'a', 'l', 'i', 'v'};
    if (l->connected && l->t->ping_ms > 0 && quiet >= l->t->ping_ms &&
        hr_link_write_ping(&l->out, HR_LINK_PING, token) == 0)
        start_flush(l);
}

static void start_keepalive(gw_uplink *l)
{
    const uint32_t ping = l->t->ping_ms, idle = l->t->idle_ms;
    const uint32_t every = ping > 0 && (idle == 0 || ping < idle / 2) ? ping : idle / 2;
    if (every > 0)
        uv_timer_start(&l->keepalive, on_keepalive, every, every);
}

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
    if (l == NULL) {
        *rc = HR_ENOMEM;
        return NULL;
    }
    l->t = t;
    l->addr = *addr;
    hr_buf_init(&l->in, t->max_payload + HR_LINK_HEADER);
    hr_buf_init(&l->out, t->out_limit);
    uv_tcp_init(t->loop, &l->tcp);
    uv_prepare_init(t->loop, &l->flush);
    uv_timer_init(t->loop, &l->keepalive);
    l->tcp.data = l->flush.data = l->connect_req.data = l->keepalive.data = l;
    l->open_handles = 3;
    l->last_rx_ms = uv_now(t->loop);
    start_keepalive(l);
    *rc = hr_link_write_hello(&l->out);
    if (*rc == 0)
        *rc = uv_tcp_connect(&l->connect_req, &l->tcp, (const struct sockaddr *)&ss, on_connect);
    l->next = t->links;
    t->links = l;
    if (*rc != 0) {
        link_end(l, 1006);
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
        if (l->connected && !l->writing && l->out.len > 0) {
            /* last CLOSE frames (drain): one best-effort write before closing */
            const uv_buf_t b = uv_buf_init((char *)hr_buf_data(&l->out), (unsigned)l->out.len);
            uv_try_write((uv_stream_t *)&l->tcp, &b, 1);
        }
        link_end(l, 1001);
    }
    free(t);
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
    if ((rc = hr_link_write_open(&l->out, u->id, o)) != 0) {
        detach(u);
        return rc;
    }
    start_flush(l);
    *out = u;
    return 0;
}

int gw_usess_send(gw_usess *u, int opcode, const uint8_t *data, size_t len)
{
    const int rc = hr_link_write_data(&u->l->out, u->id, (uint8_t)opcode, data, len);
    if (rc == 0)
        start_flush(u->l);
    return rc;
}

void gw_usess_flow(gw_usess *u, bool pause)
{
    if (hr_link_write_flow(&u->l->out, pause ? HR_LINK_PAUSE : HR_LINK_RESUME, u->id) == 0)
        start_flush(u->l);
}

void gw_usess_credit(gw_usess *u, size_t n)
{
    while (n > 0) {
        const uint32_t part = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        if (hr_link_write_credit(&u->l->out, u->id, part) != 0)
            return;
        n -= part;
    }
    start_flush(u->l);
}

void gw_usess_close(gw_usess *u, int code)
{
    gw_uplink *l = u->l;
    if (code < 1000 || code > 4999)
        code = 1000;
    if (hr_link_write_close(&l->out, u->id, (uint16_t)code, NULL, 0) == 0)
        start_flush(l);
    detach(u);
}

size_t gw_usess_queued(const gw_usess *u)
{
    return u->l->out.len + u->l->inflight;
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

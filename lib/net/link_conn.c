/* The herald-link transport (link_conn.h): one TCP connection carrying
 * frames, with a write batch that holds copied bytes and message
 * references, flushed once per loop turn, and a read loop that parses
 * whole frames. The HELLO exchange and PING/PONG live here because both
 * ends need them the same way; everything per session is the caller's.
 *
 * Handles: tcp, prep (the end-of-turn flush) and keepalive are initialised
 * by hr_link_conn_new and closed together when the link ends; the struct
 * is freed once the last close callback ran (a write still in flight is
 * cancelled by libuv first and frees its own batch). */
#include "link_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

#define READ_CHUNK 65536
#define SMALL_IOV 16

struct hr_link_conn {
    uv_loop_t *loop;
    hr_link_conn_config cfg;
    const hr_link_conn_callbacks *cb;
    void *data;
    hr_link_conn_stats *st;
    hr_link_conn_stats none;
    uv_tcp_t tcp;
    uv_prepare_t prep;
    uv_timer_t keepalive;
    uv_connect_t connect_req;
    hr_buf in;
    hr_link_batch out;
    size_t inflight;     /* bytes of the write in flight */
    uint64_t last_rx_ms; /* loop time of the last bytes from the peer */
    uint32_t skip;       /* payload bytes of a refused frame still to drop */
    uint16_t peer_version;
    bool connected, writing, got_hello, dead, ending;
    int open_handles;
    const char *end_why;
    struct sockaddr_storage peer;
    char why[96];
};

typedef struct wreq {
    uv_write_t req;
    hr_link_conn *k;
    hr_link_batch batch;
} wreq;

/* ---- batch ------------------------------------------------------------------- */

void hr_link_batch_init(hr_link_batch *b, size_t max)
{
    *b = (hr_link_batch){.max = max};
    hr_buf_init(&b->bytes, max);
}

void hr_link_batch_deinit(hr_link_batch *b)
{
    for (size_t i = 0; i < b->n_segs; i++)
        hr_msg_unref(b->segs[i].msg);
    free(b->segs);
    hr_buf_deinit(&b->bytes);
    hr_link_batch_init(b, b->max);
}

void hr_link_batch_take(hr_link_batch *to, hr_link_batch *from)
{
    HR_ASSERT(hr_link_batch_len(to) == 0 && to->segs == NULL);
    hr_buf_deinit(&to->bytes);
    *to = *from;
    hr_link_batch_init(from, to->max);
}

size_t hr_link_batch_len(const hr_link_batch *b)
{
    return b->bytes.len + b->shared;
}

size_t hr_link_batch_n_iov(const hr_link_batch *b)
{
    return 2 * b->n_segs + 1;
}

size_t hr_link_batch_iov(const hr_link_batch *b, uv_buf_t *iov)
{
    const uint8_t *base = hr_buf_data(&b->bytes);
    size_t n = 0, pos = 0;
    for (size_t i = 0; i < b->n_segs; i++) {
        const hr_link_seg *s = &b->segs[i];
        if (s->at > pos)
            iov[n++] = uv_buf_init((char *)base + pos, (unsigned)(s->at - pos));
        pos = s->at;
        if (s->len > 0)
            iov[n++] = uv_buf_init((char *)s->msg->data + s->off, s->len);
    }
    if (b->bytes.len > pos)
        iov[n++] = uv_buf_init((char *)base + pos, (unsigned)(b->bytes.len - pos));
    return n;
}

int hr_link_batch_add_msg(hr_link_batch *b, const uint8_t *head, size_t head_len, hr_msg *msg,
                          size_t off, size_t len)
{
    HR_ASSERT(off <= msg->len && len <= msg->len - off);
    if (hr_link_batch_len(b) > b->max || head_len + len > b->max - hr_link_batch_len(b))
        return HR_ETOOBIG;
    if (b->n_segs == b->cap_segs) {
        const size_t cap = b->cap_segs == 0 ? 16 : b->cap_segs * 2;
        hr_link_seg *segs = realloc(b->segs, cap * sizeof *segs);
        if (segs == NULL)
            return HR_ENOMEM;
        b->segs = segs;
        b->cap_segs = cap;
    }
    const int rc = hr_buf_append(&b->bytes, head, head_len);
    if (rc != 0)
        return rc;
    b->segs[b->n_segs++] =
        (hr_link_seg){b->bytes.len, hr_msg_ref(msg), (uint32_t)off, (uint32_t)len};
    b->shared += len;
    b->bytes.max = b->max - b->shared; /* the writers' bound counts the references too */
    return 0;
}

/* ---- life ----------------------------------------------------------------------- */

static void flush(hr_link_conn *k);
static void on_prepare(uv_prepare_t *p);

static void on_handle_closed(uv_handle_t *h)
{
    hr_link_conn *k = h->data;
    if (--k->open_handles > 0)
        return;
    hr_buf_deinit(&k->in);
    hr_link_batch_deinit(&k->out);
    if (k->cb->on_free != NULL)
        k->cb->on_free(k->data);
    free(k);
}

hr_link_conn *hr_link_conn_new(uv_loop_t *loop, const hr_link_conn_config *cfg,
                               const hr_link_conn_callbacks *cb, void *data)
{
    hr_link_conn *k = calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    k->loop = loop;
    k->cfg = *cfg;
    k->cb = cb;
    k->data = data;
    k->st = cfg->stats != NULL ? cfg->stats : &k->none;
    hr_buf_init(&k->in, cfg->max_payload + HR_LINK_HEADER);
    hr_link_batch_init(&k->out, cfg->out_limit);
    if (hr_link_write_hello(&k->out.bytes) != 0) { /* our first frame, whatever follows */
        hr_link_batch_deinit(&k->out);
        free(k);
        return NULL;
    }
    uv_tcp_init(loop, &k->tcp);
    uv_prepare_init(loop, &k->prep);
    uv_timer_init(loop, &k->keepalive);
    k->tcp.data = k->prep.data = k->keepalive.data = k->connect_req.data = k;
    k->open_handles = 3;
    k->last_rx_ms = uv_now(loop);
    return k;
}

void hr_link_conn_close(hr_link_conn *k, const char *why)
{
    if (k->dead)
        return;
    k->dead = true;
    hr_link_batch_deinit(&k->out);
    uv_close((uv_handle_t *)&k->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&k->prep, on_handle_closed);
    uv_close((uv_handle_t *)&k->keepalive, on_handle_closed);
    k->cb->on_close(k, why);
}

void hr_link_conn_end(hr_link_conn *k, const char *why)
{
    if (k->dead || k->ending)
        return;
    k->ending = true;
    k->end_why = why;
    hr_link_conn_kick(k);
}

void *hr_link_conn_data(const hr_link_conn *k)
{
    return k->data;
}

const struct sockaddr *hr_link_conn_peer(const hr_link_conn *k)
{
    return (const struct sockaddr *)&k->peer;
}

uint16_t hr_link_conn_peer_version(const hr_link_conn *k)
{
    return k->peer_version;
}

bool hr_link_conn_is_open(const hr_link_conn *k)
{
    return !k->dead;
}

/* ---- writing --------------------------------------------------------------------- */

hr_buf *hr_link_conn_out(hr_link_conn *k)
{
    return &k->out.bytes;
}

void hr_link_conn_kick(hr_link_conn *k)
{
    if (!k->dead)
        uv_prepare_start(&k->prep, on_prepare);
}

int hr_link_conn_send_msg(hr_link_conn *k, const uint8_t *head, size_t head_len, hr_msg *msg,
                          size_t off, size_t len)
{
    if (k->dead)
        return HR_ECLOSED;
    const int rc = hr_link_batch_add_msg(&k->out, head, head_len, msg, off, len);
    if (rc == 0)
        hr_link_conn_kick(k);
    return rc;
}

size_t hr_link_conn_queued(const hr_link_conn *k)
{
    return hr_link_batch_len(&k->out) + k->inflight;
}

static void on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    hr_link_conn *k = w->k;
    hr_link_batch_deinit(&w->batch);
    free(w);
    k->writing = false;
    k->inflight = 0;
    if (k->dead)
        return; /* cancelled by the close; the close callbacks free k */
    if (status != 0) {
        hr_link_conn_close(k, uv_strerror(status));
        return;
    }
    if (k->cb->on_written != NULL)
        k->cb->on_written(k);
    flush(k);
}

/* Hands the batch to one uv_write (its iov points into the batch's bytes
 * and messages, which the request owns until on_written). */
static void write_batch(hr_link_conn *k)
{
    wreq *w = malloc(sizeof *w);
    uv_buf_t small[SMALL_IOV];
    const size_t want = hr_link_batch_n_iov(&k->out);
    uv_buf_t *iov = want <= SMALL_IOV ? small : malloc(want * sizeof *iov);
    if (w == NULL || iov == NULL) {
        free(w);
        hr_link_conn_close(k, "out of memory");
        return;
    }
    w->k = k;
    hr_link_batch_init(&w->batch, k->out.max);
    hr_link_batch_take(&w->batch, &k->out);
    const size_t n = hr_link_batch_iov(&w->batch, iov);
    k->inflight = hr_link_batch_len(&w->batch);
    k->st->writes++;
    k->st->bytes_out += k->inflight;
    k->writing = true;
    const int rc = uv_write(&w->req, (uv_stream_t *)&k->tcp, iov, (unsigned)n, on_written);
    if (iov != small)
        free(iov); /* uv_write copied the array */
    if (rc != 0) {
        k->writing = false;
        k->inflight = 0;
        hr_link_batch_deinit(&w->batch);
        free(w);
        hr_link_conn_close(k, uv_strerror(rc));
    }
}

/* The end of a turn (or of a write): the caller adds what it collected,
 * then the batch leaves unless a write is still in flight. */
static void flush(hr_link_conn *k)
{
    if (k->cb->on_flush != NULL && !k->dead)
        k->cb->on_flush(k);
    if (k->dead || k->writing || !k->connected)
        return;
    if (hr_link_batch_len(&k->out) > 0)
        write_batch(k);
    else if (k->ending)
        hr_link_conn_close(k, k->end_why);
}

static void on_prepare(uv_prepare_t *p)
{
    uv_prepare_stop(p);
    flush(p->data);
}

void hr_link_conn_try_flush(hr_link_conn *k)
{
    if (k->dead || k->writing || !k->connected || hr_link_batch_len(&k->out) == 0)
        return;
    uv_buf_t small[SMALL_IOV];
    const size_t want = hr_link_batch_n_iov(&k->out);
    uv_buf_t *iov = want <= SMALL_IOV ? small : malloc(want * sizeof *iov);
    if (iov != NULL)
        uv_try_write((uv_stream_t *)&k->tcp, iov, (unsigned)hr_link_batch_iov(&k->out, iov));
    if (iov != small)
        free(iov);
    hr_link_batch_deinit(&k->out); /* a partial write cannot be resumed: the link ends next */
}

/* ---- reading ----------------------------------------------------------------------- */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    hr_link_conn *k = h->data;
    size_t avail = 0;
    uint8_t *p = hr_buf_reserve(&k->in, READ_CHUNK, &avail);
    *buf = uv_buf_init((char *)p, (unsigned)(avail > READ_CHUNK ? READ_CHUNK : avail));
}

/* Drops what is buffered of a refused frame's payload. */
static void drop_skipped(hr_link_conn *k)
{
    const size_t n = k->skip < k->in.len ? k->skip : k->in.len;
    hr_buf_consume(&k->in, n);
    k->skip -= (uint32_t)n;
}

/* Why a parse error ends the link; names the peer's version when its HELLO
 * is one this build does not speak. */
static const char *parse_failure(hr_link_conn *k, int rc)
{
    const uint8_t *p = hr_buf_data(&k->in);
    if (rc == HR_EPROTO && !k->got_hello && k->in.len >= HR_LINK_HEADER + 6 &&
        p[0] == HR_LINK_HELLO && rd32(p + 6) == 6 && memcmp(p + HR_LINK_HEADER, "HRLK", 4) == 0) {
        const unsigned v = (unsigned)p[HR_LINK_HEADER + 4] << 8 | p[HR_LINK_HEADER + 5];
        snprintf(k->why, sizeof k->why,
                 "peer speaks herald-link version %u, this build %u..%u (upgrade both ends)", v,
                 HR_LINK_VERSION_MIN, HR_LINK_VERSION);
        return k->why;
    }
    return rc == HR_ETOOBIG ? "frame too big" : "protocol error";
}

static void handle_frame(hr_link_conn *k, const hr_link_frame *f)
{
    if (!k->got_hello) {
        if (f->type != HR_LINK_HELLO) {
            hr_link_conn_close(k, "first frame is not HELLO");
            return;
        }
        k->got_hello = true;
        k->peer_version = f->version;
        if (k->cb->on_hello != NULL)
            k->cb->on_hello(k);
        return;
    }
    if (f->type == HR_LINK_PING) {
        if (hr_link_write_ping(&k->out.bytes, HR_LINK_PONG, f->ping) == 0)
            hr_link_conn_kick(k);
    } else if (f->type != HR_LINK_PONG && f->type != HR_LINK_HELLO) {
        k->cb->on_frame(k, f);
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    hr_link_conn *k = st->data;
    if (n < 0) {
        hr_link_conn_close(k, n == UV_EOF       ? "closed by the peer"
                              : n == UV_ENOBUFS ? "frame over the size limit or out of memory"
                                                : uv_strerror((int)n));
        return;
    }
    if (n == 0 && buf->base == NULL) {
        hr_link_conn_close(k, "frame over the size limit or out of memory");
        return;
    }
    hr_buf_commit(&k->in, (size_t)n);
    k->st->bytes_in += (uint64_t)n;
    k->last_rx_ms = uv_now(k->loop);
    drop_skipped(k);
    while (!k->dead && k->skip == 0) {
        hr_link_frame f;
        const int rc = hr_link_parse(hr_buf_data(&k->in), k->in.len, k->cfg.max_payload, &f);
        if (rc == 0)
            break;
        if (rc == HR_ETOOBIG && k->got_hello && k->cb->on_too_big != NULL &&
            k->cb->on_too_big(k, hr_buf_data(&k->in))) {
            if (k->dead)
                return;
            k->skip = rd32(hr_buf_data(&k->in) + 6);
            hr_buf_consume(&k->in, HR_LINK_HEADER);
            drop_skipped(k);
            continue;
        }
        if (rc < 0) {
            hr_link_conn_close(k, parse_failure(k, rc));
            return;
        }
        handle_frame(k, &f);
        if (k->dead)
            return;
        hr_buf_consume(&k->in, (size_t)rc);
    }
}

/* ---- keepalive ---------------------------------------------------------------------- */

static void on_keepalive(uv_timer_t *t)
{
    hr_link_conn *k = t->data;
    const uint64_t quiet = uv_now(k->loop) - k->last_rx_ms;
    if (k->cfg.idle_ms > 0 && quiet >= k->cfg.idle_ms) {
        hr_link_conn_close(k, "no answer within the idle timeout");
        return;
    }
    static const uint8_t token[HR_LINK_PING_LEN] = {'k', 'e', 'e', 'p', 'a', 'l', 'i', 'v'};
    if (k->connected && k->cfg.ping_ms > 0 && quiet >= k->cfg.ping_ms &&
        hr_link_write_ping(&k->out.bytes, HR_LINK_PING, token) == 0)
        hr_link_conn_kick(k);
}

static void start_keepalive(hr_link_conn *k)
{
    const uint32_t ping = k->cfg.ping_ms, idle = k->cfg.idle_ms;
    const uint32_t every = ping > 0 && (idle == 0 || ping < idle / 2) ? ping : idle / 2;
    if (every > 0)
        uv_timer_start(&k->keepalive, on_keepalive, every, every);
}

/* ---- starting ----------------------------------------------------------------------- */

/* The socket is connected: read, and let the batch (HELLO first) go. */
static int begin_io(hr_link_conn *k)
{
    const int rc = uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    if (rc != 0)
        return rc;
    uv_tcp_nodelay(&k->tcp, 1);
    k->connected = true;
    k->last_rx_ms = uv_now(k->loop);
    hr_link_conn_kick(k);
    return 0;
}

static int begin_accepted(hr_link_conn *k)
{
    int len = sizeof k->peer;
    int rc = uv_tcp_getpeername(&k->tcp, (struct sockaddr *)&k->peer, &len);
    if (rc == 0)
        rc = begin_io(k);
    if (rc == 0)
        start_keepalive(k);
    return rc;
}

int hr_link_conn_accept(hr_link_conn *k, uv_stream_t *server)
{
    if (k->dead)
        return HR_ECLOSED;
    const int rc = uv_accept(server, (uv_stream_t *)&k->tcp);
    return rc != 0 ? rc : begin_accepted(k);
}

int hr_link_conn_open(hr_link_conn *k, uv_os_sock_t fd)
{
    const int rc = k->dead ? HR_ECLOSED : uv_tcp_open(&k->tcp, fd);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return begin_accepted(k);
}

static void on_connect(uv_connect_t *req, int status)
{
    hr_link_conn *k = req->data;
    if (k->dead)
        return;
    const int rc = status != 0 ? status : begin_io(k);
    if (rc != 0)
        hr_link_conn_close(k, uv_strerror(rc));
}

int hr_link_conn_connect(hr_link_conn *k, const struct sockaddr *addr)
{
    if (k->dead)
        return HR_ECLOSED;
    const int rc = uv_tcp_connect(&k->connect_req, &k->tcp, addr, on_connect);
    if (rc == 0)
        start_keepalive(k);
    return rc;
}

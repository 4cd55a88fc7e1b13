/* Server-Sent Events: the nf_transport of a session over a streamed HTTP
 * answer, close-delimited so the shared event blocks go out as they are,
 * carried by a wire (sse.h): our own hr_conn (hr_conn_stream_*) or a
 * herald-link STREAM session, one more byte pipe. The stream counts against the send-queue limit
 * like a WebSocket: a slow reader is closed (and resumes with Last-Event-ID). */
#include "sse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "proto/channel.h"
#include "proto/cproto.h"
#include "proto/http_query.h"
#include "proto/http_write.h"
#include "proto/sse.h"
#include "session.h"

struct nf_sse {
    nf_conn_kind kind; /* NF_KIND_SSE; first member */
    nf_loop *loop;
    nf_sse_wire wire;
    bool direct; /* the wire is our own hr_conn (counted in sse_streams) */
    nf_session *session;
    uv_timer_t keepalive;
};

/* ---- one SSE block per event (per loop thread) ----
 * The hub hands every subscriber of an event the same plain frame, one
 * subscriber after the other, so remembering the last frame and its block
 * builds each block once. The cache holds a reference to both and lives
 * while this thread has streams. */
static _Thread_local struct {
    hr_msg *plain, *block;
    size_t streams;
} cache;

static void cache_drop(void)
{
    hr_msg_unref(cache.plain);
    hr_msg_unref(cache.block);
    cache.plain = cache.block = NULL;
}

/* The SSE block of the event in plain (a Herald event frame), or NULL. */
static hr_msg *block_for(hr_msg *plain)
{
    if (plain == cache.plain)
        return cache.block;
    cache_drop();
    hr_cproto_event ev;
    const uint8_t *p = plain->data + plain->head_len;
    if (hr_cproto_parse_event(p, plain->len - plain->head_len, &ev) != 1)
        return NULL;
    const int n = hr_sse_write_event(NULL, 0, ev.id, ev.id_len, ev.channel, ev.channel_len, ev.data,
                                     ev.data_len);
    hr_msg *m = n > 0 ? hr_msg_new((size_t)n) : NULL;
    if (m == NULL)
        return NULL;
    hr_sse_write_event((char *)m->data, (size_t)n, ev.id, ev.id_len, ev.channel, ev.channel_len,
                       ev.data, ev.data_len);
    m->len = (uint32_t)n;
    cache.plain = hr_msg_ref(plain);
    cache.block = m;
    return m;
}

/* ---- the transport ---- */

static int send_text(void *self, const void *p, size_t len)
{
    nf_sse *s = self;
    const int n = hr_sse_write_comment(NULL, 0, p, len);
    if (n < 0)
        return 0; /* a reply with a line break: nothing a client needs */
    hr_msg *m = hr_msg_new((size_t)n);
    if (m == NULL)
        return HR_ENOMEM;
    hr_sse_write_comment((char *)m->data, (size_t)n, p, len);
    m->len = (uint32_t)n;
    const int rc = s->wire.ops->send(s->wire.self, m);
    hr_msg_unref(m);
    return rc;
}

static int send_event(void *self, const nf_frames *ev)
{
    nf_sse *s = self;
    hr_msg *block = block_for(ev->plain);
    return block != NULL ? s->wire.ops->send(s->wire.self, block) : HR_ENOMEM;
}

static void tx_close(void *self, int code, const char *reason)
{
    nf_sse *s = self;
    s->wire.ops->close(s->wire.self, code, reason); /* the answer ends after what is queued */
}

static size_t queued(const void *self)
{
    const nf_sse *s = self;
    return s->wire.ops->queued(s->wire.self);
}

static const nf_transport_ops sse_ops = {
    .send_text = send_text,
    .send_event = send_event,
    .close = tx_close,
    .queued = queued,
};

/* ---- the direct wire: our own HTTP connection ---- */

static int conn_send(void *w, hr_msg *m)
{
    return hr_conn_stream_send_msg(w, m);
}

static void conn_close(void *w, int code, const char *reason)
{
    hr_conn_close(w, code, reason);
}

static size_t conn_queued(const void *w)
{
    return hr_conn_queued_bytes(w);
}

static const nf_sse_wire_ops conn_wire = {
    .send = conn_send,
    .close = conn_close,
    .queued = conn_queued,
};

static void on_keepalive(uv_timer_t *t)
{
    static const char text[] = "keepalive";
    nf_sse *s = t->data;
    (void)send_text(s, text, sizeof text - 1);
}

/* ---- the request ---- */

static const char *refusal_text(int status)
{
    return status == 400   ? "give ?channels=a,b (valid channel names)"
           : status == 401 ? "a token is needed for these channels"
           : status == 403 ? "these channels are not yours to read"
           : status == 414 ? "request target too long"
                           : "cannot start the stream";
}

/* Sends m (a new message, ours) down w; the wire keeps its own reference. */
static int send_new(nf_sse_wire w, hr_msg *m)
{
    const int rc = m != NULL ? w.ops->send(w.self, m) : HR_ENOMEM;
    hr_msg_unref(m);
    return rc;
}

static void refuse(hr_conn *c, int status, const char *why)
{
    char body[200];
    const int n = snprintf(body, sizeof body, "%s\n", why);
    hr_conn_respond(c, status, "text/plain; charset=utf-8", body, (size_t)n, NULL);
}

/* A byte-pipe wire's refusal: a whole answer, then the end. */
static void refuse_raw(nf_sse_wire w, int status, const char *why)
{
    char body[200], out[512];
    const int n = snprintf(body, sizeof body, "%s\n", why);
    const size_t len = hr_http_write_status(status, "text/plain; charset=utf-8", body, (size_t)n,
                                            "Connection: close\r\n", out, sizeof out);
    if (len > 0)
        (void)send_new(w, hr_msg_new_copy(out, len));
    w.ops->close(w.self, 1000, NULL);
}

/* Copies head's target into buf with ?since= replaced by the Last-Event-ID
 * header, when there is one (a reconnecting EventSource repeats its first
 * URL). Returns the target to use (head's own or buf), NULL when too long. */
static const char *resume_target(const hr_http_head *head, char *buf, size_t cap, size_t *len)
{
    const hr_http_header *lei = hr_http_head_find(head, "Last-Event-ID");
    *len = head->target_len;
    if (lei == NULL || lei->value_len == 0 || !hr_cproto_id_is_valid(lei->value, lei->value_len))
        return head->target;
    size_t plen, qlen;
    const char *q;
    hr_http_query_split(head->target, head->target_len, &plen, &q, &qlen);
    size_t w = 0;
    if (plen + 1 > cap)
        return NULL;
    memcpy(buf, head->target, plen);
    w = plen;
    char sep = '?';
    for (size_t i = 0; q != NULL && i < qlen;) {
        const char *amp = memchr(q + i, '&', qlen - i);
        const size_t end = amp != NULL ? (size_t)(amp - q) : qlen;
        const bool is_since = end - i >= 6 && memcmp(q + i, "since=", 6) == 0;
        if (!is_since && end > i) {
            if (w + 1 + (end - i) >= cap)
                return NULL;
            buf[w++] = sep;
            memcpy(buf + w, q + i, end - i);
            w += end - i;
            sep = '&';
        }
        i = end + 1;
    }
    const int n = snprintf(buf + w, cap - w, "%csince=%.*s", sep, (int)lei->value_len, lei->value);
    if (n < 0 || (size_t)n >= cap - w)
        return NULL;
    *len = w + (size_t)n;
    return buf;
}

/* 0 when every ?channels= name may be read by id; else 401 or 403. */
static int check_channels(const hr_http_head *head, const hr_identity *id, char *list, size_t cap)
{
    size_t n = 0;
    if (hr_http_query_get(head->target, head->target_len, "channels", list, cap, &n) != 1 || n == 0)
        return 400;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name != NULL;
         name = strtok_r(NULL, ",", &save)) {
        if (!hr_channel_is_valid(name, strlen(name)))
            return 400;
        if (!hr_channel_can_subscribe(id, name, strlen(name)))
            return id->user == NULL && id->n_channels == 0 ? 401 : 403;
    }
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The answer's own header lines: no caching, no proxy buffering, CORS. */
static void stream_headers(const hr_http_head *head, char *extra, size_t cap)
{
    const hr_http_header *origin = hr_http_head_find(head, "Origin");
    int n = snprintf(extra, cap, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
    if (origin != NULL && origin->value_len < 256)
        snprintf(extra + n, cap - (size_t)n,
                 "Access-Control-Allow-Origin: %.*s\r\nVary: Origin\r\n", (int)origin->value_len,
                 origin->value);
}

/* The head (through hr_conn on a direct wire, as bytes otherwise), then
 * the reconnection delay: within a second after a restart (browsers wait
 * ~3 s by default). */
static int start_stream(nf_sse *s, const hr_http_head *head)
{
    char extra[512];
    stream_headers(head, extra, sizeof extra);
    int rc = 0;
    if (s->direct) {
        rc = hr_conn_stream_start(s->wire.self, 200, "text/event-stream; charset=utf-8", extra,
                                  HR_CONN_STREAM_CLOSE);
    } else {
        char h[768];
        const int n = snprintf(h, sizeof h,
                               "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; "
                               "charset=utf-8\r\n%sConnection: close\r\n\r\n",
                               extra);
        rc = n > 0 && (size_t)n < sizeof h ? send_new(s->wire, hr_msg_new_copy(h, (size_t)n))
                                           : HR_ETOOBIG;
    }
    char retry[32];
    const int rl = hr_sse_write_retry(retry, sizeof retry, NF_SSE_RETRY_MS);
    if (rc == 0)
        rc = send_new(s->wire, hr_msg_new_copy(retry, (size_t)rl));
    return rc;
}

/* Checks the request and starts the stream on w. Returns the stream, or
 * NULL with *status the HTTP status to refuse with. */
static nf_sse *open_stream(nf_loop *l, nf_sse_wire w, bool direct, const char *conn_id,
                           const struct sockaddr *peer, const hr_http_head *head, int *status)
{
    if (l->stopping) {
        *status = 503;
        return NULL;
    }
    char target[2048];
    size_t tlen;
    hr_http_head h = *head;
    h.target = resume_target(head, target, sizeof target, &tlen);
    h.target_len = tlen;
    if (h.target == NULL) {
        *status = 414;
        return NULL;
    }
    nf_sse *s = calloc(1, sizeof *s);
    if (s == NULL) {
        *status = 503;
        return NULL;
    }
    *s = (nf_sse){.kind = NF_KIND_SSE, .loop = l, .wire = w, .direct = direct};
    const char *why = NULL;
    s->session = nf_session_new(l, (nf_transport){&sse_ops, s}, conn_id, peer, &h, status, &why);
    if (s->session == NULL) {
        free(s);
        return NULL;
    }
    char list[4096];
    *status = check_channels(&h, &s->session->id, list, sizeof list);
    if (*status == 0 && start_stream(s, &h) != 0)
        *status = 503;
    if (*status != 0) {
        nf_session_close(s->session);
        free(s);
        return NULL;
    }
    cache.streams++;
    if (direct)
        l->stats.sse_streams++;
    uv_timer_init(l->uv, &s->keepalive);
    s->keepalive.data = s;
    uv_timer_start(&s->keepalive, on_keepalive, NF_SSE_KEEPALIVE_S * 1000,
                   NF_SSE_KEEPALIVE_S * 1000);
    return s;
}

void nf_sse_request(nf_loop *l, hr_conn *c, const hr_http_head *head)
{
    char conn_id[64];
    snprintf(conn_id, sizeof conn_id, "%" PRIx64 "-%" PRIu64, l->start_ms, hr_conn_id(c));
    int status = 0;
    nf_sse *s = open_stream(l, (nf_sse_wire){&conn_wire, c}, true, conn_id, hr_conn_peer_addr(c),
                            head, &status);
    if (s == NULL) {
        refuse(c, status, refusal_text(status));
        return;
    }
    hr_conn_set_app_data(c, s);
    nf_session_open(s->session, false);
}

nf_sse *nf_sse_open(nf_loop *l, nf_sse_wire w, const char *conn_id, const struct sockaddr *peer,
                    const hr_http_head *head)
{
    int status = 0;
    nf_sse *s = open_stream(l, w, false, conn_id, peer, head, &status);
    if (s == NULL) {
        refuse_raw(w, status, refusal_text(status));
        return NULL;
    }
    nf_session_open(s->session, false);
    return s;
}

void nf_sse_drain(nf_sse *s)
{
    nf_session_drain(s->session);
}

void nf_sse_close(nf_sse *s)
{
    nf_session_close(s->session);
    s->session = NULL;
    if (s->direct)
        s->loop->stats.sse_streams--;
    if (--cache.streams == 0)
        cache_drop();
    uv_timer_stop(&s->keepalive);
    uv_close((uv_handle_t *)&s->keepalive, on_timer_closed); /* frees s */
}

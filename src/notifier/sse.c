/* Server-Sent Events: the nf_transport of a session over a streamed HTTP
 * answer (hr_conn_stream_*, close-delimited, so the shared event blocks go
 * out as they are). The stream counts against the send-queue limit like a
 * WebSocket: a slow reader is closed (and resumes with Last-Event-ID). */
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
#include "proto/sse.h"
#include "session.h"

struct nf_sse {
    nf_conn_kind kind; /* NF_KIND_SSE; first member */
    nf_loop *loop;
    hr_conn *conn;
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
    const int rc = hr_conn_stream_send_msg(s->conn, m);
    hr_msg_unref(m);
    return rc;
}

static int send_event(void *self, const nf_frames *ev)
{
    nf_sse *s = self;
    hr_msg *block = block_for(ev->plain);
    return block != NULL ? hr_conn_stream_send_msg(s->conn, block) : HR_ENOMEM;
}

static void tx_close(void *self, int code, const char *reason)
{
    nf_sse *s = self;
    hr_conn_close(s->conn, code, reason); /* the answer ends after what is queued */
}

static size_t queued(const void *self)
{
    const nf_sse *s = self;
    return hr_conn_queued_bytes(s->conn);
}

static const nf_transport_ops sse_ops = {
    .send_text = send_text,
    .send_event = send_event,
    .close = tx_close,
    .queued = queued,
};

static void on_keepalive(uv_timer_t *t)
{
    static const char text[] = "keepalive";
    nf_sse *s = t->data;
    (void)send_text(s, text, sizeof text - 1);
}

/* ---- the request ---- */

static void refuse(hr_conn *c, int status, const char *why)
{
    char body[200];
    const int n = snprintf(body, sizeof body, "%s\n", why);
    hr_conn_respond(c, status, "text/plain; charset=utf-8", body, (size_t)n, NULL);
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

static int start_stream(nf_sse *s, const hr_http_head *head)
{
    char extra[512];
    const hr_http_header *origin = hr_http_head_find(head, "Origin");
    int n = snprintf(extra, sizeof extra, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
    if (origin != NULL && origin->value_len < 256)
        n += snprintf(extra + n, sizeof extra - (size_t)n,
                      "Access-Control-Allow-Origin: %.*s\r\nVary: Origin\r\n",
                      (int)origin->value_len, origin->value);
    int rc = hr_conn_stream_start(s->conn, 200, "text/event-stream; charset=utf-8", extra,
                                  HR_CONN_STREAM_CLOSE);
    /* Reconnect within a second after a restart (browsers wait ~3 s). */
    char retry[32];
    const int rl = hr_sse_write_retry(retry, sizeof retry, NF_SSE_RETRY_MS);
    if (rc == 0)
        rc = hr_conn_stream_write(s->conn, retry, (size_t)rl);
    return rc;
}

void nf_sse_request(nf_loop *l, hr_conn *c, const hr_http_head *head)
{
    if (l->stopping) {
        refuse(c, 503, "shutting down");
        return;
    }
    char target[2048];
    size_t tlen;
    hr_http_head h = *head;
    h.target = resume_target(head, target, sizeof target, &tlen);
    h.target_len = tlen;
    if (h.target == NULL) {
        refuse(c, 414, "request target too long");
        return;
    }
    nf_sse *s = calloc(1, sizeof *s);
    if (s == NULL) {
        refuse(c, 503, "out of memory");
        return;
    }
    *s = (nf_sse){.kind = NF_KIND_SSE, .loop = l, .conn = c};
    char conn_id[64];
    snprintf(conn_id, sizeof conn_id, "%" PRIx64 "-%" PRIu64, l->start_ms, hr_conn_id(c));
    int status = 0;
    const char *why = NULL;
    s->session = nf_session_new(l, (nf_transport){&sse_ops, s}, conn_id, hr_conn_peer_addr(c), &h,
                                &status, &why);
    if (s->session == NULL) {
        free(s);
        refuse(c, status, why);
        return;
    }
    char list[4096];
    status = check_channels(&h, &s->session->id, list, sizeof list);
    if (status == 0 && start_stream(s, &h) != 0)
        status = 503;
    if (status != 0) {
        nf_session_close(s->session);
        free(s);
        refuse(c, status,
               status == 400   ? "give ?channels=a,b (valid channel names)"
               : status == 401 ? "a token is needed for these channels"
               : status == 403 ? "these channels are not yours to read"
                               : "cannot start the stream");
        return;
    }
    hr_conn_set_app_data(c, s);
    cache.streams++;
    l->stats.sse_streams++;
    uv_timer_init(l->uv, &s->keepalive);
    s->keepalive.data = s;
    uv_timer_start(&s->keepalive, on_keepalive, NF_SSE_KEEPALIVE_S * 1000,
                   NF_SSE_KEEPALIVE_S * 1000);
    nf_session_open(s->session, false);
}

void nf_sse_drain(nf_sse *s)
{
    nf_session_drain(s->session);
}

void nf_sse_close(nf_sse *s)
{
    nf_session_close(s->session);
    s->session = NULL;
    s->loop->stats.sse_streams--;
    if (--cache.streams == 0)
        cache_drop();
    uv_timer_stop(&s->keepalive);
    uv_close((uv_handle_t *)&s->keepalive, on_timer_closed); /* frees s */
}

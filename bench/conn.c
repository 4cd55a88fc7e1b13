/* One benchmark client: connect from a 127.0.0.x source address, upgrade,
 * then count and time the events it receives. The state machine is
 * IDLE -> CONNECTING -> HANDSHAKE -> OPEN (-> CLOSING in churn mode) ->
 * CLOSED; every failure is counted in the worker's result and ends in
 * CLOSED, so a run never hangs on one client. Event payloads are not parsed
 * as JSON: the publisher writes {"t":<ns>,"s":<round>,...} and we scan for
 * the two keys, which also works for a peer that relays the data verbatim. */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_head.h"
#include "proto/ws_frame.h"
#include "proto/ws_handshake.h"
#include "pusher_client.h"
#include "sse_client.h"

#define HANDSHAKE_MAX 8192
#define SUBSCRIBED_MARK "\"type\":\"subscribed\""

typedef struct copy_write {
    uv_write_t req;
    uint8_t buf[]; /* what is written */
} copy_write;

static void on_closed(uv_handle_t *h);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void close_conn(bench_conn *c)
{
    if (c->state == BENCH_CONN_CLOSED || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (c->ready)
        c->w->res.rec.ready--;
    c->ready = false;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void fail_conn(bench_conn *c)
{
    if (c->was_ready)
        c->w->res.rec.closed++;
    else
        c->w->res.rec.failed++;
    close_conn(c);
}

void bench_conn_fail(bench_conn *c)
{
    fail_conn(c);
}

void bench_conn_channel(const bench_conn *c, char *out, size_t cap)
{
    const bench_opts *o = c->w->o;
    if (o->channels > 1)
        snprintf(out, cap, "%s-%u", o->channel, c->gidx % o->channels);
    else
        snprintf(out, cap, "%s", o->channel);
}

static void build_target(const bench_conn *c, char *out, size_t cap)
{
    const bench_opts *o = c->w->o;
    char ch[96];
    bench_conn_channel(c, ch, sizeof ch);
    const char *mark = strstr(o->target, "{ch}");
    if (mark == NULL) {
        snprintf(out, cap, "%s", o->target);
        return;
    }
    snprintf(out, cap, "%.*s%s%s", (int)(mark - o->target), o->target, ch, mark + 4);
}

static void on_write_free(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

int bench_conn_write(bench_conn *c, const char *p, size_t len)
{
    copy_write *wr = malloc(sizeof *wr + (len ? len : 1));
    if (wr == NULL) {
        fail_conn(c);
        return -1;
    }
    memcpy(wr->buf, p, len);
    uv_buf_t b = uv_buf_init((char *)wr->buf, (unsigned)len);
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_free) != 0) {
        free(wr);
        fail_conn(c);
        return -1;
    }
    return 0;
}

static void send_request(bench_conn *c)
{
    const bench_opts *o = c->w->o;
    char target[640], host[96];
    build_target(c, target, sizeof target);
    snprintf(host, sizeof host, "%s:%d", o->host, o->port);
    if (bench_proto_is_sse(o->proto)) {
        bench_sse_send_request(c, host, target);
        return;
    }
    struct {
        uv_write_t req;
        char text[1024];
    } *wr = malloc(sizeof *wr);
    if (wr == NULL || hr_ws_handshake_new_key(c->key) != 0) {
        free(wr);
        fail_conn(c);
        return;
    }
    const size_t len =
        hr_ws_handshake_write_request(host, target, c->key, false, NULL, wr->text, sizeof wr->text);
    uv_buf_t b = uv_buf_init(wr->text, (unsigned)len);
    if (len == 0 || uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_free) != 0) {
        free(wr);
        fail_conn(c);
    }
}

static void send_frame(bench_conn *c, uint8_t opcode, const uint8_t *p, size_t len)
{
    const size_t cap = HR_WS_MAX_HEADER + len;
    copy_write *wr = malloc(sizeof *wr + cap);
    if (wr == NULL)
        return;
    const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    const size_t n = hr_ws_frame_client_write(wr->buf, cap, opcode, true, false, p, len, mask);
    uv_buf_t b = uv_buf_init((char *)wr->buf, (unsigned)n);
    if (n == 0 || uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_free) != 0)
        free(wr);
}

void bench_conn_send_text(bench_conn *c, const char *text, size_t len)
{
    send_frame(c, HR_WS_OP_TEXT, (const uint8_t *)text, len);
}

static void alloc_shared(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    bench_conn *c = h->data;
    *buf = uv_buf_init((char *)c->w->rbuf, sizeof c->w->rbuf);
}

static void on_connect(uv_connect_t *req, int status)
{
    bench_conn *c = req->data;
    if (status != 0 || c->w->stopping) {
        fail_conn(c);
        return;
    }
    c->w->res.rec.connected++;
    c->state = BENCH_CONN_HANDSHAKE;
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_shared, on_read) != 0) {
        fail_conn(c);
        return;
    }
    send_request(c);
}

void bench_conn_start(bench_worker *w, bench_conn *c, uint32_t gidx)
{
    const bench_opts *o = w->o;
    memset(c, 0, sizeof *c);
    c->w = w;
    c->gidx = gidx;
    c->last_seq = -1;
    c->state = BENCH_CONN_CONNECTING;
    c->t_start = bench_now_ns();
    if (w->res.connect_first_ns == 0)
        w->res.connect_first_ns = c->t_start;
    const hr_ws_reader_cfg cfg = {.max_message = 1u << 20, .require_masked = false};
    hr_ws_reader_init(&c->rd, &cfg);
    hr_sse_reader_init(&c->sse, 1u << 20);
    struct sockaddr_in src, dst;
    char src_ip[32];
    snprintf(src_ip, sizeof src_ip, "127.0.0.%u", 10 + gidx % o->sources);
    uv_ip4_addr(src_ip, 0, &src);
    uv_ip4_addr(o->host, o->port, &dst);
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    if (uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0) != 0 ||
        uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&dst, on_connect) != 0)
        fail_conn(c);
}

void bench_conn_ready(bench_conn *c)
{
    bench_worker *w = c->w;
    c->ready = true;
    c->was_ready = true;
    w->res.rec.ready++;
    w->res.connect_last_ns = bench_now_ns();
    if (w->o->churn_s > 0) {
        w->res.rec.cycles++;
        c->state = BENCH_CONN_CLOSING;
        c->ready = false;
        w->res.rec.ready--;
        if (bench_proto_is_sse(w->o->proto))
            close_conn(c); /* an event stream ends with its connection */
        else
            send_frame(c, HR_WS_OP_CLOSE, (const uint8_t *)"\x03\xe8", 2);
    }
}

static bool scan_u64(const uint8_t *p, size_t len, const char *key, uint64_t *out)
{
    const uint8_t *k = memmem(p, len, key, strlen(key));
    if (k == NULL)
        return false;
    const uint8_t *q = k + strlen(key), *end = p + len;
    uint64_t v = 0;
    bool any = false;
    while (q < end && *q >= '0' && *q <= '9' && v < UINT64_MAX / 10) {
        v = v * 10 + (uint64_t)(*q++ - '0');
        any = true;
    }
    *out = v;
    return any;
}

void bench_conn_event(bench_conn *c, const uint8_t *p, size_t len)
{
    bench_worker *w = c->w;
    uint64_t t, s;
    if ((!scan_u64(p, len, "\"t\":", &t) || !scan_u64(p, len, "\"s\":", &s)) &&
        (!scan_u64(p, len, "\\\"t\\\":", &t) || !scan_u64(p, len, "\\\"s\\\":", &s)))
        return;
    const uint64_t now = bench_now_ns();
    c->delivered++;
    w->res.rec.delivered++;
    if ((int64_t)s <= c->last_seq)
        w->res.duplicates++;
    else
        c->last_seq = (int64_t)s;
    const uint64_t us = now > t ? (now - t) / 1000 : 0;
    bench_hist_add(&w->res.latency, us);
    bench_hist_add(&w->res.phase_latency[bench_phase_of(w->o, s)], us);
    if (s < w->o->events) {
        if (w->first_ns[s] == 0 || now < w->first_ns[s])
            w->first_ns[s] = now;
        if (now > w->last_ns[s])
            w->last_ns[s] = now;
    }
}

static void on_message(bench_conn *c, const uint8_t *p, size_t len)
{
    if (c->w->o->proto == BENCH_PROTO_PUSHER) {
        bench_pusher_on_message(c, p, len);
        return;
    }
    if (!c->ready && c->state == BENCH_CONN_OPEN) {
        if (memmem(p, len, SUBSCRIBED_MARK, sizeof SUBSCRIBED_MARK - 1) != NULL)
            bench_conn_ready(c);
        return;
    }
    bench_conn_event(c, p, len);
}

bool bench_conn_is_subscribed_reply(const uint8_t *p, size_t len)
{
    return memmem(p, len, SUBSCRIBED_MARK, sizeof SUBSCRIBED_MARK - 1) != NULL;
}

static void feed_frames(bench_conn *c, uint8_t *p, size_t len)
{
    size_t off = 0;
    while (off < len && c->state >= BENCH_CONN_OPEN && c->state < BENCH_CONN_CLOSED) {
        hr_ws_event ev;
        const ssize_t n = hr_ws_reader_feed(&c->rd, p + off, len - off, &ev);
        if (n < 0) {
            fail_conn(c);
            return;
        }
        off += (size_t)n;
        if (ev.type == HR_WS_EV_MESSAGE)
            on_message(c, ev.data, ev.len);
        else if (ev.type == HR_WS_EV_PING)
            send_frame(c, HR_WS_OP_PONG, ev.data, ev.len);
        else if (ev.type == HR_WS_EV_CLOSE) {
            if (c->state != BENCH_CONN_CLOSING)
                c->w->res.rec.closed++;
            close_conn(c);
            return;
        }
    }
    hr_ws_reader_release(&c->rd);
}

static int finish_handshake(bench_conn *c, size_t *head_len)
{
    hr_http_head head;
    const int rc = hr_http_head_parse(c->hbuf, c->hlen, true, NULL, &head);
    if (rc <= 0)
        return rc == 0 && c->hlen < HANDSHAKE_MAX ? 0 : -1;
    if (bench_proto_is_sse(c->w->o->proto)) {
        if (bench_sse_check_head(c, &head) != 0)
            return -1;
        *head_len = (size_t)rc;
        return 1;
    }
    hr_ws_handshake hs;
    if (hr_ws_handshake_check_response(&head, c->key, &hs) != 0 || hs.deflate)
        return -1;
    *head_len = (size_t)rc;
    return 1;
}

static void on_handshake_bytes(bench_conn *c, const uint8_t *p, size_t n)
{
    if (c->hbuf == NULL && (c->hbuf = malloc(HANDSHAKE_MAX)) == NULL) {
        fail_conn(c);
        return;
    }
    const size_t take = n < HANDSHAKE_MAX - c->hlen ? n : HANDSHAKE_MAX - c->hlen;
    memcpy(c->hbuf + c->hlen, p, take);
    c->hlen += take;
    size_t head_len = 0;
    const int rc = finish_handshake(c, &head_len);
    if (rc < 0) {
        fail_conn(c);
        return;
    }
    if (rc == 0)
        return;
    bench_hist_add(&c->w->res.handshake, (bench_now_ns() - c->t_start) / 1000);
    c->state = BENCH_CONN_OPEN;
    uint8_t *rest = c->hbuf;
    const size_t rest_len = c->hlen - head_len;
    memmove(rest, c->hbuf + head_len, rest_len);
    const bench_proto proto = c->w->o->proto;
    if (proto == BENCH_PROTO_NONE || proto == BENCH_PROTO_SSE_NONE)
        bench_conn_ready(c);
    if (bench_proto_is_sse(proto))
        bench_sse_feed(c, rest, rest_len);
    else
        feed_frames(c, rest, rest_len);
    free(c->hbuf);
    c->hbuf = NULL;
    c->hlen = 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    bench_conn *c = s->data;
    if (n < 0) {
        if (c->state == BENCH_CONN_CLOSING)
            close_conn(c);
        else
            fail_conn(c);
        return;
    }
    if (c->state == BENCH_CONN_HANDSHAKE)
        on_handshake_bytes(c, (const uint8_t *)buf->base, (size_t)n);
    else if (bench_proto_is_sse(c->w->o->proto))
        bench_sse_feed(c, (const uint8_t *)buf->base, (size_t)n);
    else
        feed_frames(c, (uint8_t *)buf->base, (size_t)n);
}

static void on_closed(uv_handle_t *h)
{
    bench_conn *c = h->data;
    bench_worker *w = c->w;
    const bool churn = c->state == BENCH_CONN_CLOSING;
    c->state = BENCH_CONN_CLOSED;
    bench_conn_deinit(c);
    if (churn && !w->stopping && w->o->churn_s > 0 &&
        bench_now_ns() - w->start_ns < (uint64_t)(w->o->churn_s * 1e9))
        bench_conn_start(w, c, c->gidx);
}

void bench_conn_abort(bench_conn *c)
{
    if (c->state == BENCH_CONN_IDLE || c->state == BENCH_CONN_CLOSED)
        return;
    close_conn(c);
}

void bench_conn_deinit(bench_conn *c)
{
    free(c->hbuf);
    c->hbuf = NULL;
    hr_ws_reader_deinit(&c->rd);
    hr_sse_reader_deinit(&c->sse);
}

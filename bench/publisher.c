/* The publisher: one connection, three wire formats, paced per phase.
 * Stop-and-wait (ACKED) keeps a max-rate measurement honest (an
 * acknowledged publish is one the server has taken) and equal for every
 * target; the fan-out throughput shows in the delivered events/s measured
 * at the clients, not here. A sustained rate (OPEN) and a burst do not wait
 * for acknowledgements, so a slow server's queue shows in the latency
 * instead of slowing the publisher down. */
#include "publisher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_head.h"

typedef struct pub_write {
    uv_write_t req;
    size_t len;
    char buf[];
} pub_write;

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void send_next(bench_pub *p);
static void begin_phase(bench_pub *p);

static int parse_hostport(const char *s, bench_pub *p, const char **rest)
{
    const char *colon = strchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof p->host)
        return -1;
    memcpy(p->host, s, (size_t)(colon - s));
    p->host[colon - s] = '\0';
    char *end;
    const long port = strtol(colon + 1, &end, 10);
    if (port <= 0 || port > 65535)
        return -1;
    p->port = (int)port;
    *rest = end;
    return 0;
}

int bench_pub_init(bench_pub *p, uv_loop_t *loop, const bench_opts *o, char *err, size_t cap)
{
    memset(p, 0, sizeof *p);
    p->o = o;
    p->loop = loop;
    p->total = (uint64_t)o->events * o->channels;
    snprintf(p->stream, sizeof p->stream, "herald:events");
    const char *rest = NULL;
    int rc = -1;
    if (strncmp(o->publish, "http://", 7) == 0) {
        p->kind = BENCH_PUB_HTTP;
        rc = parse_hostport(o->publish + 7, p, &rest);
        if (rc == 0)
            snprintf(p->path, sizeof p->path, "%s", *rest ? rest : "/");
    } else if (strncmp(o->publish, "redis://", 8) == 0) {
        p->kind = BENCH_PUB_REDIS;
        rc = parse_hostport(o->publish + 8, p, &rest);
        const char *q = rc == 0 ? strstr(rest, "stream=") : NULL;
        if (q != NULL)
            snprintf(p->stream, sizeof p->stream, "%s", q + 7);
    } else if (strncmp(o->publish, "nats://", 7) == 0) {
        p->kind = BENCH_PUB_NATS;
        rc = parse_hostport(o->publish + 7, p, &rest);
    }
    if (rc != 0)
        snprintf(err, cap, "--publish: expected http://H:P/path, redis://H:P or nats://H:P");
    return rc;
}

static void channel_name(const bench_opts *o, uint64_t i, char *out, size_t cap)
{
    if (o->channels > 1)
        snprintf(out, cap, "%s-%u", o->channel, (unsigned)(i % o->channels));
    else
        snprintf(out, cap, "%s", o->channel);
}

/* {"t":..,"s":..,"p":"xxx"} padded to o->size bytes when it can be. */
static size_t write_data(const bench_opts *o, uint64_t round, char *out, size_t cap)
{
    const int head = snprintf(out, cap, "{\"t\":%llu,\"s\":%llu,\"p\":\"",
                              (unsigned long long)bench_now_ns(), (unsigned long long)round);
    size_t len = (size_t)head;
    size_t pad = o->size > len + 2 ? o->size - len - 2 : 0;
    if (len + pad + 3 > cap)
        pad = cap - len - 3;
    memset(out + len, 'x', pad);
    len += pad;
    memcpy(out + len, "\"}", 3);
    return len + 2;
}

static size_t format_http(bench_pub *p, const char *ch, const char *data, size_t dlen, char *out,
                          size_t cap)
{
    const bench_opts *o = p->o;
    char path[320], auth[160] = "";
    const char *mark = strstr(p->path, "{ch}");
    if (mark != NULL)
        snprintf(path, sizeof path, "%.*s%s%s", (int)(mark - p->path), p->path, ch, mark + 4);
    else
        snprintf(path, sizeof path, "%s", p->path);
    if (o->api_key[0] != '\0')
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", o->api_key);
    const size_t blen = o->publish_raw ? dlen : dlen + strlen(ch) + 22; /* {"channel":"","data":} */
    int n = snprintf(out, cap,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "%sContent-Length: %zu\r\n\r\n",
                     path, p->host, p->port, auth, blen);
    if (n < 0 || (size_t)n + blen + 1 > cap)
        return 0;
    if (o->publish_raw)
        memcpy(out + n, data, dlen);
    else
        snprintf(out + n, cap - (size_t)n, "{\"channel\":\"%s\",\"data\":%s}", ch, data);
    return (size_t)n + blen;
}

static size_t format_redis(bench_pub *p, const char *ch, const char *data, size_t dlen, char *out,
                           size_t cap)
{
    const int n = snprintf(out, cap,
                           "*7\r\n$4\r\nXADD\r\n$%zu\r\n%s\r\n$1\r\n*\r\n$7\r\nchannel\r\n"
                           "$%zu\r\n%s\r\n$4\r\ndata\r\n$%zu\r\n%.*s\r\n",
                           strlen(p->stream), p->stream, strlen(ch), ch, dlen, (int)dlen, data);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static size_t format_nats(const char *ch, const char *data, size_t dlen, char *out, size_t cap)
{
    const int n = snprintf(out, cap, "PUB herald.events.%s %zu\r\n%.*s\r\nPING\r\n", ch, dlen,
                           (int)dlen, data);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static int write_raw(bench_pub *p, const char *s, size_t len)
{
    pub_write *w = malloc(sizeof *w + len);
    if (w == NULL)
        return -1;
    memcpy(w->buf, s, len);
    uv_buf_t b = uv_buf_init(w->buf, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&p->tcp, &b, 1, on_written) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

static void finish(bench_pub *p)
{
    if (p->finished)
        return;
    p->finished = true;
    uv_timer_stop(&p->timer);
    p->errors = p->total - p->acked;
    if (p->on_done)
        p->on_done(p);
}

/* Sends what the phase allows now; false when nothing more can go yet. */
static bool send_one(bench_pub *p)
{
    const bench_opts *o = p->o;
    const bench_phase *ph = &o->phases[p->phase];
    if (p->finished || p->sent >= p->seg_end || (ph->pace == BENCH_PACE_ACKED && p->inflight > 0))
        return false;
    const uint64_t round = p->sent / o->channels;
    const uint64_t nth = round - bench_phase_first(o, p->phase);
    if (ph->rate > 0 && bench_now_ns() < p->start_ns + nth * 1000000000ull / ph->rate)
        return false;
    char ch[96], data[70000], req[72000];
    channel_name(o, p->sent, ch, sizeof ch);
    const size_t dlen = write_data(o, round, data, sizeof data);
    size_t len = 0;
    if (p->kind == BENCH_PUB_HTTP)
        len = format_http(p, ch, data, dlen, req, sizeof req);
    else if (p->kind == BENCH_PUB_REDIS)
        len = format_redis(p, ch, data, dlen, req, sizeof req);
    else
        len = format_nats(ch, data, dlen, req, sizeof req);
    if (len == 0 || write_raw(p, req, len) != 0) {
        finish(p);
        return false;
    }
    const uint64_t now = bench_now_ns();
    if (p->first_send_ns == 0)
        p->first_send_ns = now;
    if (p->phase_first_send_ns[p->phase] == 0)
        p->phase_first_send_ns[p->phase] = now;
    p->sent++;
    p->inflight++;
    return true;
}

static void send_next(bench_pub *p)
{
    while (send_one(p))
        ;
}

static void on_ack(bench_pub *p, bool ok)
{
    if (!ok)
        p->errors++;
    else
        p->acked++;
    if (p->inflight > 0)
        p->inflight--;
    p->last_ack_ns = bench_now_ns();
    p->phase_last_ack_ns[p->phase] = p->last_ack_ns;
    if (p->acked + p->errors >= p->seg_end) {
        uv_timer_stop(&p->timer);
        if (p->on_done)
            p->on_done(p);
        return;
    }
    send_next(p);
}

/* Returns bytes of one complete HTTP response at the start of in, 0 if
 * incomplete, -1 if malformed; *ok is a 2xx status. */
static ssize_t http_response(const uint8_t *in, size_t len, bool *ok)
{
    hr_http_head h;
    const int rc = hr_http_head_parse(in, len, true, NULL, &h);
    if (rc <= 0)
        return rc == 0 ? 0 : -1;
    *ok = h.status >= 200 && h.status < 300;
    if (h.chunked) {
        const uint8_t *end = memmem(in + rc, len - (size_t)rc, "0\r\n\r\n", 5);
        return end == NULL ? 0 : (ssize_t)(end + 5 - in);
    }
    const size_t body = h.content_length > 0 ? (size_t)h.content_length : 0;
    return (size_t)rc + body <= len ? (ssize_t)((size_t)rc + body) : 0;
}

static ssize_t redis_reply(const uint8_t *in, size_t len, bool *ok)
{
    const uint8_t *eol = memmem(in, len, "\r\n", 2);
    if (eol == NULL)
        return 0;
    *ok = in[0] != '-';
    if (in[0] != '$')
        return eol + 2 - in;
    const long n = strtol((const char *)in + 1, NULL, 10);
    const size_t need = (size_t)(eol + 2 - in) + (n > 0 ? (size_t)n + 2 : 0);
    return need <= len ? (ssize_t)need : 0;
}

static ssize_t nats_line(bench_pub *p, const uint8_t *in, size_t len)
{
    const uint8_t *eol = memmem(in, len, "\r\n", 2);
    if (eol == NULL)
        return 0;
    if (len >= 4 && memcmp(in, "PONG", 4) == 0)
        on_ack(p, true);
    else if (len >= 4 && memcmp(in, "PING", 4) == 0)
        (void)write_raw(p, "PONG\r\n", 6);
    else if (in[0] == '-')
        p->errors++;
    return eol + 2 - in;
}

static void consume_input(bench_pub *p)
{
    size_t off = 0;
    while (off < p->in_len && !p->finished) {
        bool ok = false;
        ssize_t n;
        if (p->kind == BENCH_PUB_NATS)
            n = nats_line(p, p->in + off, p->in_len - off);
        else if (p->kind == BENCH_PUB_REDIS)
            n = redis_reply(p->in + off, p->in_len - off, &ok);
        else
            n = http_response(p->in + off, p->in_len - off, &ok);
        if (n < 0) {
            finish(p);
            return;
        }
        if (n == 0)
            break;
        off += (size_t)n;
        if (p->kind != BENCH_PUB_NATS)
            on_ack(p, ok);
    }
    memmove(p->in, p->in + off, p->in_len - off);
    p->in_len -= off;
}

static void alloc_in(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    bench_pub *p = h->data;
    (void)hint;
    *buf = uv_buf_init((char *)p->in + p->in_len, (unsigned)(sizeof p->in - p->in_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    bench_pub *p = s->data;
    (void)buf;
    if (n < 0 || (n == 0 && p->in_len == sizeof p->in)) {
        finish(p);
        return;
    }
    p->in_len += (size_t)n;
    consume_input(p);
}

static void on_timer(uv_timer_t *t)
{
    send_next(t->data);
}

static void on_connect(uv_connect_t *req, int status)
{
    bench_pub *p = req->data;
    if (status != 0 || uv_read_start((uv_stream_t *)&p->tcp, alloc_in, on_read) != 0) {
        finish(p);
        return;
    }
    uv_tcp_nodelay(&p->tcp, 1);
    if (p->kind == BENCH_PUB_NATS) {
        const char *c = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
        (void)write_raw(p, c, strlen(c));
    }
    p->connected = true;
    begin_phase(p);
}

static void begin_phase(bench_pub *p)
{
    p->start_ns = bench_now_ns();
    uv_timer_start(&p->timer, on_timer, 1, 1);
    send_next(p);
}

void bench_pub_start(bench_pub *p, uint32_t phase, bench_pub_done_cb on_done)
{
    p->on_done = on_done;
    p->phase = phase;
    p->seg_end = bench_phase_first(p->o, phase + 1) * p->o->channels;
    if (p->connected) {
        begin_phase(p);
        return;
    }
    uv_tcp_init(p->loop, &p->tcp);
    uv_timer_init(p->loop, &p->timer);
    p->tcp.data = p;
    p->timer.data = p;
    p->creq.data = p;
    struct sockaddr_in dst;
    if (p->total == 0 || uv_ip4_addr(p->host, p->port, &dst) != 0 ||
        uv_tcp_connect(&p->creq, &p->tcp, (const struct sockaddr *)&dst, on_connect) != 0)
        finish(p);
}

void bench_pub_close(bench_pub *p)
{
    if (!uv_is_closing((uv_handle_t *)&p->tcp))
        uv_close((uv_handle_t *)&p->tcp, NULL);
    if (!uv_is_closing((uv_handle_t *)&p->timer))
        uv_close((uv_handle_t *)&p->timer, NULL);
}

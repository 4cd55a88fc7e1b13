/* hr_server: the listeners of one loop and what their connections share.
 * Connections live on a doubly linked list (for shutdown and the sweep);
 * those with bytes to send sit on the flush queue (flushq.h) that one
 * uv_prepare handle drains before the loop polls, so all frames queued for a
 * connection leave in one system call. A pass writes at most flush_batch
 * connections; past that an idle handle keeps the next poll from blocking,
 * the loop reads what arrived (a publish, the next events from an inbox)
 * and the pass goes on from where it stopped. One sweep timer
 * walks the list and applies each connection's deadlines (handshake, idle,
 * ping, close), instead of a timer per connection. */
#include "server.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include "conn_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "reuseport.h"

void hr_server_config_default(hr_server_config *cfg)
{
    *cfg = (hr_server_config){
        .max_head = 8192,
        .max_body = 1024 * 1024,
        .max_message = 1024 * 1024,
        .handshake_timeout_ms = 10000,
        .idle_timeout_ms = 60000,
        .ping_interval_ms = 25000,
        .send_queue_limit = 1024 * 1024,
        .deflate = true,
        .close_timeout_ms = 5000,
        .shutdown_timeout_ms = 10000,
        .backlog = 1024,
        .reuse_port = false,
        .flush_batch = HR_NET_FLUSH_BATCH,
    };
}

static void fill_defaults(hr_server_config *c)
{
    hr_server_config d;
    hr_server_config_default(&d);
    if (c->max_head == 0)
        c->max_head = d.max_head;
    if (c->max_body == 0)
        c->max_body = d.max_body;
    if (c->max_message == 0)
        c->max_message = d.max_message;
    if (c->handshake_timeout_ms == 0)
        c->handshake_timeout_ms = d.handshake_timeout_ms;
    if (c->send_queue_limit == 0)
        c->send_queue_limit = d.send_queue_limit;
    if (c->close_timeout_ms == 0)
        c->close_timeout_ms = d.close_timeout_ms;
    if (c->shutdown_timeout_ms == 0)
        c->shutdown_timeout_ms = d.shutdown_timeout_ms;
    if (c->backlog <= 0)
        c->backlog = d.backlog;
    if (c->flush_batch == 0)
        c->flush_batch = d.flush_batch;
}

/* The sweep runs often enough to honour the shortest configured timeout
 * within a quarter of it, and at least once a second. */
static uint64_t sweep_interval(const hr_server_config *c)
{
    uint64_t t = 1000;
    const uint32_t ts[] = {c->handshake_timeout_ms, c->idle_timeout_ms, c->ping_interval_ms,
                           c->close_timeout_ms, c->shutdown_timeout_ms};
    for (size_t i = 0; i < HR_ARRAY_LEN(ts); i++)
        if (ts[i] != 0 && ts[i] / 4 < t)
            t = ts[i] / 4;
    return t < 5 ? 5 : t;
}

static void on_more(uv_idle_t *h)
{
    (void)h; /* only there to make the next poll return at once */
}

static void on_flush(uv_prepare_t *h)
{
    hr_server *s = h->data;
    if (s->cfg.io_uring && !s->uring_tried) {
        /* Made by the thread that submits to it: io_uring signals the
         * creating task, and a shard's server is created on another one. */
        s->uring_tried = true;
        s->uring = hr_uring_new(HR_NET_FLUSH_BATCH); /* NULL: libuv writes */
    }
    for (unsigned k = 0; k < s->cfg.flush_batch; k++) {
        hr_flushq_node *n = hr_flushq_pop(&s->flushq);
        if (n == NULL)
            break;
        hr_conn *c = (hr_conn *)((char *)n - offsetof(hr_conn, flush));
        c->flags &= ~HR_CF_FLUSH;
        if (s->uring != NULL)
            hr_conn_flush_batched(s->uring, c);
        else
            hr_conn_flush(c);
    }
    if (s->uring != NULL)
        hr_conn_flush_submit(s->uring); /* the chunk's sends in one system call */
    if (hr_flushq_empty(&s->flushq))
        uv_idle_stop(&s->more);
    else if (!uv_is_active((uv_handle_t *)&s->more))
        uv_idle_start(&s->more, on_more);
}

static void finish_shutdown(hr_server *s);

static void on_sweep(uv_timer_t *h)
{
    hr_server *s = h->data;
    const uint64_t now = uv_now(s->loop);
    const bool expired = s->shutting_down && now >= s->shutdown_deadline;
    for (hr_conn *c = s->conns; c != NULL; c = c->next) {
        if (expired)
            hr_conn_terminate(c);
        else
            hr_conn_sweep(c, now);
    }
}

static uint64_t seed(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = uv_hrtime();
    return v | 1;
}

hr_server *hr_server_new(uv_loop_t *loop, const hr_server_config *cfg, const hr_conn_callbacks *cb,
                         void *app)
{
    hr_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->cfg = *cfg;
    fill_defaults(&s->cfg);
    s->cb = cb;
    s->app = app;
    s->rng = seed();
    s->rbuf = malloc(HR_NET_READ_BUF);
    if (s->rbuf == NULL)
        goto fail;
    if (uv_prepare_init(loop, &s->flush) != 0)
        goto fail;
    s->flush.data = s;
    uv_prepare_start(&s->flush, on_flush);
    uv_unref((uv_handle_t *)&s->flush);
    hr_flushq_init(&s->flushq);
    uv_idle_init(loop, &s->more);
    s->more.data = s;
    uv_unref((uv_handle_t *)&s->more);
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    const uint64_t iv = sweep_interval(&s->cfg);
    uv_timer_start(&s->sweep, on_sweep, iv, iv);
    uv_unref((uv_handle_t *)&s->sweep);
    return s;
fail:
    free(s->rbuf);
    free(s);
    return NULL;
}

int hr_server_parse_addr(const char *addr, struct sockaddr_storage *out)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0')
        return HR_EINVAL;
    char *end = NULL;
    const long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return HR_EINVAL;
    char host[64];
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return HR_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "localhost") == 0) /* the one name taken, as the gateway's config does */
        memcpy(host, "127.0.0.1", sizeof "127.0.0.1");
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return HR_EINVAL;
}

/* Counted, and logged only now and then: under fd exhaustion this repeats
 * for every pending connection. */
static void accept_failed(hr_server *s, const char *why)
{
    if (s->stats.accept_errors++ % 1000 == 0)
        hr_log(HR_LOG_WARN, "net", "accept failed err=\"%s\" total=%llu", why,
               (unsigned long long)s->stats.accept_errors);
}

static void on_connection(uv_stream_t *l, int status)
{
    hr_server *s = l->data;
    if (status < 0) {
        accept_failed(s, uv_strerror(status));
        return;
    }
    hr_conn *c = hr_conn_new(s, s->cb);
    if (c == NULL) {
        accept_failed(s, "out of memory");
        return;
    }
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        hr_conn_abort(c);
        return;
    }
    int len = (int)sizeof c->peer;
    uv_tcp_getpeername(&c->tcp, &c->peer.sa, &len);
    uv_tcp_nodelay(&c->tcp, 1);
    c->deadline = uv_now(s->loop) + s->cfg.handshake_timeout_ms;
    s->stats.conns_accepted++;
    hr_conn_start_reading(c);
}

int hr_server_adopt(hr_server *s, int fd, const uint8_t *bytes, size_t len)
{
    hr_conn *c = s->shutting_down ? NULL : hr_conn_new(s, s->cb);
    if (c == NULL) {
        close(fd);
        return s->shutting_down ? HR_ECLOSED : HR_ENOMEM;
    }
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        hr_conn_abort(c);
        return HR_EINVAL;
    }
    if (len > 0 && hr_buf_append(&c->in, bytes, len) != 0) {
        hr_conn_abort(c);
        return HR_ENOMEM;
    }
    int plen = (int)sizeof c->peer;
    uv_tcp_getpeername(&c->tcp, &c->peer.sa, &plen);
    uv_tcp_nodelay(&c->tcp, 1);
    c->deadline = uv_now(s->loop) + s->cfg.handshake_timeout_ms;
    s->stats.conns_accepted++;
    hr_conn_refeed(c); /* the bytes first, at this turn's flush; then reading */
    return 0;
}

void hr_server_close_websockets(hr_server *s, int code, const char *reason)
{
    for (hr_conn *c = s->conns; c != NULL; c = c->next)
        if (c->phase == HR_PH_WS)
            hr_conn_close(c, code, reason);
}

static void on_listener_closed(uv_handle_t *h)
{
    hr_server *s = h->data;
    free(h);
    s->pending_closes--;
    finish_shutdown(s);
}

static int bind_listener(hr_server *s, uv_tcp_t *t, const struct sockaddr_storage *ss)
{
    int rc = uv_tcp_init_ex(s->loop, t, ss->ss_family);
    if (rc != 0)
        return rc;
    uv_os_fd_t fd = -1;
    if (s->cfg.reuse_port && uv_fileno((uv_handle_t *)t, &fd) == 0)
        (void)hr_reuseport_enable(fd);
    rc = uv_tcp_bind(t, (const struct sockaddr *)ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)t, s->cfg.backlog, on_connection);
    if (rc == 0 && fd >= 0 && s->cfg.steer_by_ip > 1) {
        const int src = hr_reuseport_steer_by_ip(fd, s->cfg.steer_by_ip);
        if (src != 0)
            hr_log(HR_LOG_WARN, "net",
                   "cannot steer connections by client address (per-IP limits become per "
                   "worker) err=%s",
                   uv_strerror(src));
    }
    return rc;
}

int hr_server_listen(hr_server *s, const char *addr)
{
    if (s->shutting_down)
        return HR_ECLOSED;
    if (s->n_listeners == HR_SERVER_MAX_LISTENERS)
        return HR_ELIMIT;
    struct sockaddr_storage ss;
    if (hr_server_parse_addr(addr, &ss) != 0)
        return HR_EINVAL;
    uv_tcp_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return HR_ENOMEM;
    t->data = s;
    const int rc = bind_listener(s, t, &ss);
    if (rc != 0) {
        if (uv_is_closing((uv_handle_t *)t) == 0 && t->loop != NULL) {
            s->pending_closes++;
            uv_close((uv_handle_t *)t, on_listener_closed);
        } else {
            free(t);
        }
        return rc;
    }
    struct sockaddr_storage bound;
    int blen = (int)sizeof bound;
    uv_tcp_getsockname(t, (struct sockaddr *)&bound, &blen);
    const int port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                                 : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    s->listeners[s->n_listeners] = t;
    s->ports[s->n_listeners++] = port;
    return 0;
}

int hr_server_port(const hr_server *s, int i)
{
    return i >= 0 && i < s->n_listeners ? s->ports[i] : 0;
}

const hr_net_stats *hr_server_stats(const hr_server *s)
{
    return &s->stats;
}

const hr_server_config *hr_server_config_view(const hr_server *s)
{
    return &s->cfg;
}

uv_loop_t *hr_server_loop(const hr_server *s)
{
    return s->loop;
}

void hr_server_attach(hr_server *s, hr_conn *c)
{
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->stats.conns_open++;
}

void hr_server_detach(hr_server *s, hr_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->stats.conns_open--;
    finish_shutdown(s);
}

void hr_server_want_flush(hr_server *s, hr_conn *c)
{
    if (c->flags & HR_CF_FLUSH)
        return;
    c->flags |= HR_CF_FLUSH;
    const bool stream =
        c->phase == HR_PH_WS || c->phase == HR_PH_WS_CLOSING || c->phase == HR_PH_STREAM;
    if (stream)
        hr_flushq_push_back(&s->flushq, &c->flush);
    else
        hr_flushq_push_front(&s->flushq, &c->flush);
}

hr_ws_deflater *hr_server_deflater(hr_server *s, const hr_ws_deflate_params *p)
{
    const unsigned bits = p->server_max_window_bits & 15u;
    if (s->deflaters[bits] == NULL) {
        hr_ws_deflater *d = calloc(1, sizeof *d);
        if (d == NULL)
            return NULL;
        hr_ws_deflater_init(d, p, true, 6);
        s->deflaters[bits] = d;
    }
    return s->deflaters[bits];
}

uint32_t hr_server_random(hr_server *s)
{
    /* xorshift64*: mask keys need to be unpredictable to a browser script,
     * not cryptographic; seeded from getrandom. */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (uint32_t)((s->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static void on_handle_closed(uv_handle_t *h)
{
    hr_server *s = h->data;
    if (--s->closing_handles == 0 && s->on_done != NULL) {
        hr_server_done_cb done = s->on_done;
        s->on_done = NULL;
        done(s, s->done_arg);
    }
}

/* Once the last connection is gone, the server's own handles close; on_done
 * runs when the last of them has. */
static void finish_shutdown(hr_server *s)
{
    if (!s->shutting_down || s->conns != NULL || s->pending_closes > 0)
        return;
    if (uv_is_closing((uv_handle_t *)&s->flush))
        return;
    s->closing_handles = 3;
    uv_close((uv_handle_t *)&s->flush, on_handle_closed);
    uv_close((uv_handle_t *)&s->more, on_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
}

int hr_server_shutdown(hr_server *s, int code, hr_server_done_cb on_done, void *arg)
{
    if (s->shutting_down)
        return HR_ECLOSED;
    s->shutting_down = true;
    s->shutdown_code = code;
    s->on_done = on_done;
    s->done_arg = arg;
    s->shutdown_deadline = uv_now(s->loop) + s->cfg.shutdown_timeout_ms;
    uv_ref((uv_handle_t *)&s->sweep);
    for (int i = 0; i < s->n_listeners; i++) {
        s->pending_closes++;
        uv_close((uv_handle_t *)s->listeners[i], on_listener_closed);
        s->listeners[i] = NULL;
    }
    for (hr_conn *c = s->conns; c != NULL; c = c->next)
        hr_conn_server_shutdown(c, code);
    finish_shutdown(s);
    return 0;
}

void hr_server_free(hr_server *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < HR_ARRAY_LEN(s->deflaters); i++) {
        if (s->deflaters[i] != NULL) {
            hr_ws_deflater_deinit(s->deflaters[i]);
            free(s->deflaters[i]);
        }
    }
    hr_uring_free(s->uring);
    free(s->rbuf);
    free(s);
}

/* TLS bridges. Each bridge owns two TCP handles (the client's TLS socket and
 * the loopback socket to the internal listener), a handshake timer and an SSL
 * object with memory BIOs:
 *
 *   client bytes ─▶ rbio ─▶ SSL_read ─▶ plaintext ─▶ inner socket
 *   inner bytes ──▶ SSL_write ─▶ wbio ─▶ client socket
 *
 * The loopback connection is opened only after the TLS handshake succeeded
 * (within limits.handshake_timeout_s), so garbage never reaches the gateway.
 * Backpressure: a side whose libuv write queue passes BRIDGE_QUEUE_MAX stops
 * the other side's reading until its writes complete. Either side ending ends
 * both: queued writes are flushed (uv_shutdown), then the handles close; the
 * bridge is freed when its last handle has closed. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "net/reuseport.h"

#define BRIDGE_QUEUE_MAX ((size_t)1 << 20)
#define BRIDGE_EARLY_MAX ((size_t)1 << 20)
#define BRIDGE_CHUNK 16384

typedef struct bridge bridge;

struct gw_tls {
    gw_app *app;
    uv_tcp_t listener;
    SSL_CTX *ctx;
    uint16_t inner_port;
    uint32_t handshake_ms;
    unsigned open; /* listener + bridges not yet freed */
    bool stopping;
    char addr[64];
};

struct bridge {
    gw_tls *t;
    uv_tcp_t client;
    uv_tcp_t inner;
    uv_connect_t connect;
    uv_timer_t timer;
    uv_shutdown_t sd_client, sd_inner;
    SSL *ssl;
    BIO *rbio, *wbio;
    struct sockaddr_storage peer;
    hr_buf early;  /* plaintext decrypted before the inner socket is up */
    uint16_t port; /* registered loopback source port, 0 when none */
    int handles;
    bool inner_open, inner_up, done_hs, ending;
};

typedef struct wreq {
    uv_write_t req;
    bridge *b;
    uv_buf_t buf;
    char data[];
} wreq;

static void bridge_end(bridge *b);

/* ---- peer map ------------------------------------------------------------ */

static bridge **peer_map(gw_app *app)
{
    if (app->tls_map == NULL)
        app->tls_map = calloc(65536, sizeof(void *));
    return (bridge **)app->tls_map;
}

const struct sockaddr *gw_tls_peer(const gw_app *app, uint16_t port)
{
    bridge **map = app->tls_map;
    if (map == NULL || map[port] == NULL)
        return NULL;
    return (const struct sockaddr *)&map[port]->peer;
}

/* ---- memory --------------------------------------------------------------- */

static void maybe_free_tls(gw_tls *t)
{
    if (t->open > 0)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

static void on_bridge_handle_closed(uv_handle_t *h)
{
    bridge *b = h->data;
    if (--b->handles > 0)
        return;
    gw_tls *t = b->t;
    if (b->port != 0) {
        bridge **map = t->app->tls_map;
        if (map != NULL && map[b->port] == b)
            map[b->port] = NULL;
    }
    SSL_free(b->ssl); /* frees the BIOs too */
    hr_buf_deinit(&b->early);
    free(b);
    t->open--;
    maybe_free_tls(t);
}

static void close_if_open(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_bridge_handle_closed);
}

/* ---- writing -------------------------------------------------------------- */

static void on_written(uv_write_t *req, int status);

static int write_copy(bridge *b, uv_stream_t *s, const void *p, size_t len)
{
    wreq *w = malloc(sizeof *w + len);
    if (w == NULL)
        return HR_ENOMEM;
    memcpy(w->data, p, len);
    w->b = b;
    w->buf = uv_buf_init(w->data, (unsigned)len);
    const int rc = uv_write(&w->req, s, &w->buf, 1, on_written);
    if (rc != 0)
        free(w);
    return rc;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_inner_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    bridge *b = w->b;
    uv_stream_t *s = req->handle;
    free(w);
    if (status != 0) {
        bridge_end(b);
        return;
    }
    if (b->ending || uv_stream_get_write_queue_size(s) > BRIDGE_QUEUE_MAX / 2)
        return;
    /* Resume the side that feeds s. */
    if (s == (uv_stream_t *)&b->inner)
        uv_read_start((uv_stream_t *)&b->client, on_alloc, on_client_read);
    else if (b->inner_up)
        uv_read_start((uv_stream_t *)&b->inner, on_alloc, on_inner_read);
}

/* Sends whatever OpenSSL produced to the client. */
static int flush_tls(bridge *b)
{
    char buf[BRIDGE_CHUNK];
    int n;
    while ((n = BIO_read(b->wbio, buf, sizeof buf)) > 0) {
        if (write_copy(b, (uv_stream_t *)&b->client, buf, (size_t)n) != 0)
            return HR_EPROTO;
    }
    return 0;
}

static void throttle(bridge *b, uv_stream_t *target, uv_stream_t *source)
{
    if (uv_stream_get_write_queue_size(target) > BRIDGE_QUEUE_MAX)
        uv_read_stop(source);
}

/* ---- ending --------------------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    close_if_open((uv_handle_t *)req->handle);
}

static void end_stream(bridge *b, uv_stream_t *s, uv_shutdown_t *req)
{
    if (uv_is_closing((uv_handle_t *)s))
        return;
    uv_read_stop(s);
    if (uv_shutdown(req, s, on_shutdown) != 0)
        close_if_open((uv_handle_t *)s);
}

static void bridge_end(bridge *b)
{
    if (b->ending)
        return;
    b->ending = true;
    close_if_open((uv_handle_t *)&b->timer);
    if (b->done_hs) {
        SSL_shutdown(b->ssl);
        flush_tls(b);
    }
    end_stream(b, (uv_stream_t *)&b->client, &b->sd_client);
    if (b->inner_up)
        end_stream(b, (uv_stream_t *)&b->inner, &b->sd_inner);
    else if (b->inner_open && !b->inner_up)
        close_if_open((uv_handle_t *)&b->inner); /* cancels a pending connect */
}

/* ---- inner (plain) side ------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    buf->base = malloc(BRIDGE_CHUNK);
    buf->len = buf->base != NULL ? BRIDGE_CHUNK : 0;
}

static void on_inner_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    bridge *b = s->data;
    if (n > 0 && !b->ending) {
        if (SSL_write(b->ssl, buf->base, (int)n) <= 0 || flush_tls(b) != 0)
            bridge_end(b);
        else
            throttle(b, (uv_stream_t *)&b->client, s);
    } else if (n < 0) {
        bridge_end(b);
    }
    free(buf->base);
}

static void register_port(bridge *b)
{
    struct sockaddr_storage local;
    int len = sizeof local;
    if (uv_tcp_getsockname(&b->inner, (struct sockaddr *)&local, &len) != 0)
        return;
    const uint16_t port = ntohs(((struct sockaddr_in *)&local)->sin_port);
    bridge **map = peer_map(b->t->app);
    if (map == NULL)
        return;
    map[port] = b;
    b->port = port;
}

static void on_inner_connect(uv_connect_t *req, int status)
{
    bridge *b = req->data;
    if (status != 0 || b->ending) {
        if (status != 0)
            bridge_end(b);
        return;
    }
    b->inner_up = true;
    register_port(b);
    if (b->early.len > 0 &&
        write_copy(b, (uv_stream_t *)&b->inner, hr_buf_data(&b->early), b->early.len) != 0) {
        bridge_end(b);
        return;
    }
    hr_buf_deinit(&b->early);
    uv_read_start((uv_stream_t *)&b->inner, on_alloc, on_inner_read);
}

static void open_inner(bridge *b)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", b->t->inner_port, &a);
    uv_tcp_init(b->t->app->loop, &b->inner);
    b->inner.data = b;
    b->handles++;
    b->inner_open = true;
    uv_tcp_nodelay(&b->inner, 1);
    b->connect.data = b;
    if (uv_tcp_connect(&b->connect, &b->inner, (const struct sockaddr *)&a, on_inner_connect) != 0)
        bridge_end(b);
}

/* ---- client (TLS) side ------------------------------------------------------- */

static void pass_plaintext(bridge *b, const char *p, size_t n)
{
    if (b->inner_up) {
        if (write_copy(b, (uv_stream_t *)&b->inner, p, n) != 0)
            bridge_end(b);
        else
            throttle(b, (uv_stream_t *)&b->inner, (uv_stream_t *)&b->client);
        return;
    }
    if (b->early.len + n > BRIDGE_EARLY_MAX || hr_buf_append(&b->early, p, n) != 0)
        bridge_end(b);
}

static void drive_ssl(bridge *b)
{
    if (!b->done_hs) {
        const int r = SSL_do_handshake(b->ssl);
        if (flush_tls(b) != 0) {
            bridge_end(b);
            return;
        }
        if (r != 1) {
            const int e = SSL_get_error(b->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                bridge_end(b);
            return;
        }
        b->done_hs = true;
        uv_timer_stop(&b->timer);
        open_inner(b);
    }
    char buf[BRIDGE_CHUNK];
    for (;;) {
        const int r = SSL_read(b->ssl, buf, sizeof buf);
        if (r > 0) {
            pass_plaintext(b, buf, (size_t)r);
            if (b->ending)
                return;
            continue;
        }
        const int e = SSL_get_error(b->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            bridge_end(b); /* close_notify or a TLS error */
        else if (flush_tls(b) != 0)
            bridge_end(b);
        return;
    }
}

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    bridge *b = s->data;
    if (n > 0 && !b->ending) {
        if (BIO_write(b->rbio, buf->base, (int)n) != (int)n)
            bridge_end(b);
        else
            drive_ssl(b);
    } else if (n < 0) {
        bridge_end(b);
    }
    free(buf->base);
}

static void on_handshake_timeout(uv_timer_t *t)
{
    bridge_end(t->data);
}

static int bridge_init(gw_tls *t, bridge *b)
{
    b->t = t;
    hr_buf_init(&b->early, BRIDGE_EARLY_MAX);
    uv_tcp_init(t->app->loop, &b->client);
    b->client.data = b;
    uv_timer_init(t->app->loop, &b->timer);
    b->timer.data = b;
    b->handles = 2;
    t->open++;
    b->ssl = SSL_new(t->ctx);
    b->rbio = BIO_new(BIO_s_mem());
    b->wbio = BIO_new(BIO_s_mem());
    if (b->ssl == NULL || b->rbio == NULL || b->wbio == NULL) {
        BIO_free(b->rbio);
        BIO_free(b->wbio);
        b->rbio = b->wbio = NULL;
        return HR_ENOMEM;
    }
    SSL_set_bio(b->ssl, b->rbio, b->wbio);
    SSL_set_accept_state(b->ssl);
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    gw_tls *t = server->data;
    if (status != 0 || t->stopping)
        return;
    bridge *b = calloc(1, sizeof *b);
    if (b == NULL)
        return;
    const int rc = bridge_init(t, b);
    if (uv_accept(server, (uv_stream_t *)&b->client) != 0 || rc != 0) {
        b->ending = true;
        close_if_open((uv_handle_t *)&b->client);
        close_if_open((uv_handle_t *)&b->timer);
        return;
    }
    int len = sizeof b->peer;
    uv_tcp_getpeername(&b->client, (struct sockaddr *)&b->peer, &len);
    uv_tcp_nodelay(&b->client, 1);
    uv_timer_start(&b->timer, on_handshake_timeout, t->handshake_ms, 0);
    uv_read_start((uv_stream_t *)&b->client, on_alloc, on_client_read);
}

/* ---- listener ------------------------------------------------------------------ */

static SSL_CTX *load_ctx(const gw_listener_cfg *l, char *err, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, cap, "out of memory (TLS)");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, l->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, l->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char why[160];
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        snprintf(err, cap, "listen.tls: cannot use cert '%s' / key '%s': %s", l->tls_cert,
                 l->tls_key, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int gw_tls_check(const gw_listener_cfg *l, const char *file, char *err, size_t cap)
{
    char why[400];
    SSL_CTX *ctx = load_ctx(l, why, sizeof why);
    if (ctx == NULL) {
        const int col = l->cert_at.col;
        const int n = snprintf(err, cap, "%s:%d: %s", file,
                               l->cert_at.line > 0 ? l->cert_at.line : l->line, why);
        if (col > 0 && n > 0 && (size_t)n < cap)
            snprintf(err + n, cap - (size_t)n, " (column %d)", col);
        return HR_EINVAL;
    }
    SSL_CTX_free(ctx);
    return 0;
}

static int bind_listener(gw_tls *t, const gw_listener_cfg *l, bool reuse_port)
{
    struct sockaddr_storage ss;
    int rc = l->addr.v6 ? uv_ip6_addr(l->addr.host, l->addr.port, (struct sockaddr_in6 *)&ss)
                        : uv_ip4_addr(l->addr.host, l->addr.port, (struct sockaddr_in *)&ss);
    if (rc != 0)
        return rc;
    uv_tcp_init_ex(t->app->loop, &t->listener, l->addr.v6 ? AF_INET6 : AF_INET);
    t->listener.data = t;
    t->open++;
    uv_os_fd_t fd = -1;
    if (reuse_port && uv_fileno((uv_handle_t *)&t->listener, &fd) == 0)
        (void)hr_reuseport_enable(fd);
    rc = uv_tcp_bind(&t->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&t->listener, 1024, on_connection);
    /* Same steering as the plain listeners (main.c): one client address, one worker. */
    if (rc == 0 && fd >= 0 && t->app->n_workers > 1 &&
        hr_reuseport_steer_by_ip(fd, t->app->n_workers) != 0)
        hr_log(HR_LOG_WARN, "gateway", "tls listener: cannot steer connections by address");
    return rc;
}

static void on_listener_closed(uv_handle_t *h)
{
    gw_tls *t = h->data;
    t->open--;
    maybe_free_tls(t);
}

gw_tls *gw_tls_start(gw_app *app, const gw_listener_cfg *l, uint16_t inner_port, char *err,
                     size_t cap)
{
    if (peer_map(app) == NULL) {
        snprintf(err, cap, "out of memory (TLS)");
        return NULL;
    }
    gw_tls *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, cap, "out of memory (TLS)");
        return NULL;
    }
    t->app = app;
    t->inner_port = inner_port;
    t->handshake_ms = (uint32_t)(app->rt->cfg->limits.handshake_timeout_s * 1000);
    snprintf(t->addr, sizeof t->addr, "%s", l->addr.text);
    t->ctx = load_ctx(l, err, cap);
    if (t->ctx == NULL) {
        free(t);
        return NULL;
    }
    const int rc = bind_listener(t, l, app->reuse_port);
    if (rc != 0) {
        snprintf(err, cap, "cannot listen (tls) addr=%s err=%s", l->addr.text, uv_strerror(rc));
        if (t->open > 0) {
            t->stopping = true;
            uv_close((uv_handle_t *)&t->listener, on_listener_closed);
        } else {
            SSL_CTX_free(t->ctx);
            free(t);
        }
        return NULL;
    }
    hr_log(HR_LOG_INFO, "gateway", "listening (tls) addr=%s worker=%u", l->addr.text, app->worker);
    return t;
}

void gw_tls_stop(gw_tls *t)
{
    if (t == NULL || t->stopping)
        return;
    t->stopping = true;
    uv_close((uv_handle_t *)&t->listener, on_listener_closed);
}

void gw_tls_set_inner_port(gw_tls *t, uint16_t inner_port)
{
    t->inner_port = inner_port;
}

/* The TLS client tunnel (see tls_tunnel.h). Each accepted Unix connection
 * becomes a pair: the local pipe (plaintext) and a TCP connection to the
 * server (ciphertext) joined by an SSL object whose input and output are
 * memory BIOs, so OpenSSL never touches a socket and the loop never blocks:
 *
 *   local read --SSL_write--> wbio --flush--> remote write
 *   remote read --> rbio --SSL_read--> local write
 *
 * A pair is freed once all three of its handles (local, remote, and the
 * getaddrinfo request's lifetime flag) are closed; the tunnel is freed when
 * its listener and every pair are gone. */
#include "broker/tls_tunnel.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define READ_CHUNK 16384

typedef struct pair pair;

struct hr_tls_tunnel {
    uv_loop_t *loop;
    uv_pipe_t listener;
    SSL_CTX *ctx;
    char *host;
    char port[8];
    bool host_is_ip;
    char dir[64];
    char path[96];
    pair *pairs;
    bool closing;
    bool listener_open;
};

struct pair {
    hr_tls_tunnel *t;
    pair *next, *prev;
    uv_pipe_t local;
    uv_tcp_t remote;
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    int handles; /* open handles: local, remote */
    bool resolving;
    bool closing;
    bool connected;
    bool handshake_done;
    SSL *ssl;
    BIO *rbio, *wbio;
    char *pending; /* plaintext from the client before the handshake */
    size_t pending_len;
};

typedef struct wreq {
    uv_write_t req;
    char data[];
} wreq;

static void maybe_free_tunnel(hr_tls_tunnel *t)
{
    if (!t->closing || t->listener_open || t->pairs != NULL)
        return;
    unlink(t->path);
    rmdir(t->dir);
    SSL_CTX_free(t->ctx);
    free(t->host);
    free(t);
}

/* ---- pairs ------------------------------------------------------------- */

static void maybe_free_pair(pair *p)
{
    if (p->handles > 0 || p->resolving)
        return;
    hr_tls_tunnel *t = p->t;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        t->pairs = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    SSL_free(p->ssl); /* frees both BIOs */
    free(p->pending);
    free(p);
    maybe_free_tunnel(t);
}

static void on_pair_closed(uv_handle_t *h)
{
    pair *p = h->data;
    p->handles--;
    maybe_free_pair(p);
}

static void close_pair(pair *p)
{
    if (p->closing)
        return;
    p->closing = true;
    uv_close((uv_handle_t *)&p->local, on_pair_closed);
    uv_close((uv_handle_t *)&p->remote, on_pair_closed);
}

static void on_written(uv_write_t *req, int status)
{
    pair *p = req->data;
    free(req);
    if (status != 0)
        close_pair(p);
}

static int write_copy(pair *p, uv_stream_t *to, const char *data, size_t len)
{
    wreq *w = malloc(sizeof *w + len);
    if (w == NULL)
        return -1;
    memcpy(w->data, data, len);
    w->req.data = p;
    const uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, to, &buf, 1, on_written) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Sends whatever OpenSSL produced to the server. */
static int flush_wbio(pair *p)
{
    char buf[READ_CHUNK];
    int n;
    while ((n = BIO_read(p->wbio, buf, sizeof buf)) > 0)
        if (write_copy(p, (uv_stream_t *)&p->remote, buf, (size_t)n) != 0)
            return -1;
    return 0;
}

static int tls_write(pair *p, const char *data, size_t len)
{
    while (len > 0) {
        const int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
        const int n = SSL_write(p->ssl, data, chunk);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return flush_wbio(p);
}

static int drain_plaintext(pair *p)
{
    char buf[READ_CHUNK];
    for (;;) {
        const int n = SSL_read(p->ssl, buf, sizeof buf);
        if (n > 0) {
            if (write_copy(p, (uv_stream_t *)&p->local, buf, (size_t)n) != 0)
                return -1;
            continue;
        }
        const int e = SSL_get_error(p->ssl, n);
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
    }
}

static void log_tls_failure(pair *p, const char *what)
{
    char msg[256];
    ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
    const long v = SSL_get_verify_result(p->ssl);
    hr_log(HR_LOG_WARN, "tls", "%s host=%s port=%s error=\"%s\" verify=\"%s\"", what, p->t->host,
           p->t->port, msg, X509_verify_cert_error_string(v));
}

static int advance_handshake(pair *p)
{
    const int rc = SSL_do_handshake(p->ssl);
    if (rc == 1) {
        p->handshake_done = true;
        if (p->pending_len > 0 && tls_write(p, p->pending, p->pending_len) != 0)
            return -1;
        free(p->pending);
        p->pending = NULL;
        p->pending_len = 0;
    } else {
        const int e = SSL_get_error(p->ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            log_tls_failure(p, "TLS handshake failed");
            return -1;
        }
    }
    return flush_wbio(p);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    char *b = malloc(READ_CHUNK);
    *buf = uv_buf_init(b, b != NULL ? READ_CHUNK : 0);
}

static void on_remote_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    pair *p = s->data;
    int rc = n < 0 ? -1 : 0;
    if (n > 0 && BIO_write(p->rbio, buf->base, (int)n) != (int)n)
        rc = -1;
    free(buf->base);
    if (rc == 0 && n > 0 && !p->handshake_done)
        rc = advance_handshake(p);
    if (rc == 0 && n > 0 && p->handshake_done)
        rc = drain_plaintext(p) == 0 ? flush_wbio(p) : -1;
    if (rc != 0)
        close_pair(p);
}

static void on_local_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    pair *p = s->data;
    int rc = n < 0 ? -1 : 0;
    if (n > 0 && p->handshake_done) {
        rc = tls_write(p, buf->base, (size_t)n);
    } else if (n > 0) {
        char *grown = realloc(p->pending, p->pending_len + (size_t)n);
        rc = grown != NULL ? 0 : -1;
        if (grown != NULL) {
            memcpy(grown + p->pending_len, buf->base, (size_t)n);
            p->pending = grown;
            p->pending_len += (size_t)n;
        }
    }
    free(buf->base);
    if (rc != 0)
        close_pair(p);
}

static void on_connected(uv_connect_t *req, int status)
{
    pair *p = req->data;
    if (p->closing)
        return;
    if (status != 0) {
        hr_log(HR_LOG_DEBUG, "tls", "connect failed host=%s port=%s error=\"%s\"", p->t->host,
               p->t->port, uv_strerror(status));
        close_pair(p);
        return;
    }
    p->connected = true;
    if (uv_read_start((uv_stream_t *)&p->remote, alloc_cb, on_remote_read) != 0 ||
        advance_handshake(p) != 0)
        close_pair(p);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    pair *p = req->data;
    p->resolving = false;
    if (p->closing || status != 0 || ai == NULL ||
        uv_tcp_connect(&p->creq, &p->remote, ai->ai_addr, on_connected) != 0) {
        if (status != 0)
            hr_log(HR_LOG_DEBUG, "tls", "cannot resolve host=%s error=\"%s\"", p->t->host,
                   uv_strerror(status));
        close_pair(p);
    }
    uv_freeaddrinfo(ai);
    maybe_free_pair(p);
}

static int setup_ssl(pair *p)
{
    hr_tls_tunnel *t = p->t;
    p->ssl = SSL_new(t->ctx);
    p->rbio = BIO_new(BIO_s_mem());
    p->wbio = BIO_new(BIO_s_mem());
    if (p->ssl == NULL || p->rbio == NULL || p->wbio == NULL) {
        BIO_free(p->rbio);
        BIO_free(p->wbio);
        p->rbio = p->wbio = NULL;
        return -1;
    }
    SSL_set_bio(p->ssl, p->rbio, p->wbio);
    SSL_set_connect_state(p->ssl);
    X509_VERIFY_PARAM *vp = SSL_get0_param(p->ssl);
    if (t->host_is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(vp, t->host) == 1 ? 0 : -1;
    if (SSL_set_tlsext_host_name(p->ssl, t->host) != 1)
        return -1;
    return X509_VERIFY_PARAM_set1_host(vp, t->host, 0) == 1 ? 0 : -1;
}

static void on_accept(uv_stream_t *server, int status)
{
    hr_tls_tunnel *t = server->data;
    if (status != 0 || t->closing)
        return;
    pair *p = calloc(1, sizeof *p);
    if (p == NULL)
        return;
    p->t = t;
    p->next = t->pairs;
    if (t->pairs != NULL)
        t->pairs->prev = p;
    t->pairs = p;
    uv_pipe_init(t->loop, &p->local, 0);
    uv_tcp_init(t->loop, &p->remote);
    p->local.data = p->remote.data = p->gai.data = p->creq.data = p;
    p->handles = 2;
    if (uv_accept(server, (uv_stream_t *)&p->local) != 0 || setup_ssl(p) != 0 ||
        uv_read_start((uv_stream_t *)&p->local, alloc_cb, on_local_read) != 0) {
        close_pair(p);
        return;
    }
    const struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    p->resolving = uv_getaddrinfo(t->loop, &p->gai, on_resolved, t->host, t->port, &hints) == 0;
    if (!p->resolving)
        close_pair(p);
}

/* ---- the tunnel -------------------------------------------------------- */

static SSL_CTX *make_ctx(const hr_tls_tunnel_config *cfg, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errcap, "--broker: cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    const int ok = cfg->ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL)
                                        : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        snprintf(err, errcap, "--broker: cannot load the CA file '%s'",
                 cfg->ca_file != NULL ? cfg->ca_file : "(system)");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, cfg->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    return ctx;
}

static int listen_private(hr_tls_tunnel *t, char *err, size_t errcap)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/herald-tls-XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        snprintf(err, errcap, "--broker: cannot create a private directory for the TLS tunnel");
        t->dir[0] = '\0';
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/tunnel.sock", t->dir);
    uv_pipe_init(t->loop, &t->listener, 0);
    t->listener.data = t;
    t->listener_open = true;
    if (uv_pipe_bind(&t->listener, t->path) != 0 ||
        uv_listen((uv_stream_t *)&t->listener, 16, on_accept) != 0) {
        snprintf(err, errcap, "--broker: cannot listen on %s for the TLS tunnel", t->path);
        return -1;
    }
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    hr_tls_tunnel *t = h->data;
    t->listener_open = false;
    maybe_free_tunnel(t);
}

hr_tls_tunnel *hr_tls_tunnel_new(uv_loop_t *loop, const hr_tls_tunnel_config *cfg, char *err,
                                 size_t errcap)
{
    hr_tls_tunnel *t = calloc(1, sizeof *t);
    if (t == NULL || (t->host = strdup(cfg->host)) == NULL) {
        free(t);
        snprintf(err, errcap, "--broker: out of memory");
        return NULL;
    }
    t->loop = loop;
    snprintf(t->port, sizeof t->port, "%u", cfg->port);
    unsigned char tmp[16];
    t->host_is_ip =
        uv_inet_pton(AF_INET, t->host, tmp) == 0 || uv_inet_pton(AF_INET6, t->host, tmp) == 0;
    t->ctx = make_ctx(cfg, err, errcap);
    if (t->ctx == NULL) {
        free(t->host);
        free(t);
        return NULL;
    }
    if (listen_private(t, err, errcap) != 0) {
        hr_tls_tunnel_free(t);
        return NULL;
    }
    return t;
}

const char *hr_tls_tunnel_path(const hr_tls_tunnel *t)
{
    return t->path;
}

void hr_tls_tunnel_free(hr_tls_tunnel *t)
{
    if (t == NULL || t->closing)
        return;
    t->closing = true;
    for (pair *p = t->pairs; p != NULL; p = p->next)
        close_pair(p);
    if (t->listener_open)
        uv_close((uv_handle_t *)&t->listener, on_listener_closed);
    else
        maybe_free_tunnel(t);
}

/* hr_server: TCP listeners on one libuv loop plus the bookkeeping shared by
 * their connections: the list of live connections, the per-turn write flush
 * (a uv_prepare handle), one sweep timer for every connection's handshake,
 * idle, ping and close deadlines, and counters for metrics.
 *
 * Typical use:
 *
 *   hr_server_config cfg;
 *   hr_server_config_default(&cfg);
 *   cfg.max_message = 65536;
 *   hr_server *s = hr_server_new(loop, &cfg, &callbacks, app);
 *   if (s == NULL) ...;
 *   int rc = hr_server_listen(s, "127.0.0.1:7070");
 *   ... uv_run ...
 *   hr_server_shutdown(s, 1001, on_done, arg);   on_done: hr_server_free(s)
 *
 * An hr_server without listeners is fine: it is also the context for
 * outgoing connections (lib/net/client.h). */
#ifndef HR_NET_SERVER_H
#define HR_NET_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/conn.h"

typedef struct hr_server_config {
    size_t max_head;               /* request/response head cap; 8192. Over: 431 */
    size_t max_body;               /* plain HTTP request body cap; 1 MiB. Over: 413 */
    size_t max_message;            /* WebSocket message cap (after inflate); 1 MiB.
                                      Over: close 1009 */
    uint32_t handshake_timeout_ms; /* first request head must arrive within; 10000 */
    uint32_t idle_timeout_ms;      /* close a WebSocket silent this long (1001), and
                                      idle keep-alive HTTP connections; 60000; 0 = off */
    uint32_t ping_interval_ms;     /* ping a WebSocket after this much silence; 25000;
                                      0 = off */
    size_t send_queue_limit;       /* queued bytes per connection; 1 MiB. Over: 1013 */
    bool deflate;                  /* offer/accept permessage-deflate; true */
    uint32_t close_timeout_ms;     /* wait for the peer's close frame; 5000 */
    uint32_t shutdown_timeout_ms;  /* hr_server_shutdown gives up after; 10000 */
    int backlog;                   /* listen backlog; 1024 */
    bool reuse_port;               /* SO_REUSEPORT (several worker processes); false */
    unsigned steer_by_ip;          /* with reuse_port: listeners in the group, to send each
                                      client address to one of them (reuseport.h); 0 = off */
    bool http_close;               /* answer plain HTTP with Connection: close (a server
                                      that serves only clients handed to it); false */
    unsigned flush_batch;          /* connections written per loop turn before the loop
                                      polls again (flushq.h); 64; 0 = the default */
    bool io_uring;                 /* each flush pass's writes as io_uring submissions
                                      (uring.h); false. Needs a HERALD_IO_URING build and a
                                      kernel that allows it, else libuv writes */
} hr_server_config;

/* Counters, kept per server (one loop) and read by the app for metrics. */
typedef struct hr_net_stats {
    uint64_t conns_accepted;  /* total accepted (or connected, for clients) */
    uint64_t conns_open;      /* currently alive (gauge) */
    uint64_t ws_open;         /* currently open WebSockets (gauge) */
    uint64_t ws_upgrades;     /* total accepted upgrades */
    uint64_t http_requests;   /* total plain HTTP requests dispatched */
    uint64_t http_errors;     /* 4xx written by us (400/413/426/431) */
    uint64_t bytes_in;        /* socket bytes read */
    uint64_t bytes_out;       /* socket bytes written */
    uint64_t frames_out;      /* frames/responses queued */
    uint64_t writes;          /* writes to sockets: uv_try_write, uv_write, io_uring sends */
    uint64_t messages_in;     /* complete WebSocket data messages delivered */
    uint64_t slow_closes;     /* closed with 1013: send queue over its limit */
    uint64_t protocol_closes; /* closed for peer protocol errors (1002/1007/1009) */
    uint64_t timeout_closes;  /* handshake/idle/close timeouts */
    uint64_t accept_errors;   /* failed accepts (EMFILE, out of memory) */
    uint64_t uring_sends;     /* writes handed to io_uring (cfg.io_uring) */
} hr_net_stats;

/* Called once when a shutdown has finished (every connection is gone). */
typedef void (*hr_server_done_cb)(hr_server *s, void *arg);

/* Fills cfg with the defaults named above. */
void hr_server_config_default(hr_server_config *cfg);

/* Creates a server on loop. cfg is copied; cb is borrowed and must outlive
 * the server; app is handed back by hr_conn_app(). Zero-valued size fields
 * of cfg are replaced by their defaults. Returns NULL when out of memory or
 * when libuv refuses to create the handles. */
hr_server *hr_server_new(uv_loop_t *loop, const hr_server_config *cfg, const hr_conn_callbacks *cb,
                         void *app);

/* Parses a listen or connect address into out: a numeric IPv4 or IPv6
 * address, optionally in brackets ("1.2.3.4:80", "[::1]:80", "::1:80"), or
 * "localhost" (127.0.0.1; no other name is looked up), then ":" and a port
 * 0..65535. Returns 0 or HR_EINVAL. The notifier's --listen and
 * --link-listen both go through it, so they take the same forms. */
int hr_server_parse_addr(const char *addr, struct sockaddr_storage *out);

/* What to tell a user whose address hr_server_parse_addr refused. */
#define HR_SERVER_ADDR_HINT                                                                        \
    "expected ADDR:PORT with a numeric address or localhost, like 127.0.0.1:7070, [::1]:7070 or "  \
    "localhost:7070"

/* Binds and listens on addr "host:port" (any form hr_server_parse_addr
 * takes; port 0 picks a free port, see hr_server_port). May be called
 * several times (up to 8 listeners). Returns 0, HR_EINVAL (bad address),
 * HR_ELIMIT (too many listeners) or a libuv error (UV_EADDRINUSE, ...). */
int hr_server_listen(hr_server *s, const char *addr);

/* Takes over a connected socket detached from another loop's server
 * (hr_conn_detach) together with the bytes already read from it, which are
 * handled first, as if just read. Takes fd (closed on failure); copies
 * bytes. The connection counts as accepted here. Returns 0 or an HR_E*
 * code. */
int hr_server_adopt(hr_server *s, int fd, const uint8_t *bytes, size_t len);

/* Starts the close handshake with code and reason on every open WebSocket
 * connection of s (hr_conn_close); other connections are left alone. */
void hr_server_close_websockets(hr_server *s, int code, const char *reason);

/* The bound port of listener i (0-based, in hr_server_listen order), or 0. */
int hr_server_port(const hr_server *s, int i);

/* Counters; the pointer stays valid for the server's life. */
const hr_net_stats *hr_server_stats(const hr_server *s);

/* The effective configuration (after defaults). */
const hr_server_config *hr_server_config_view(const hr_server *s);

/* The loop the server runs on. */
uv_loop_t *hr_server_loop(const hr_server *s);

/* Graceful stop: closes the listeners, closes every WebSocket with code
 * (normally 1001) and every plain HTTP connection after its pending
 * response, and aborts whatever is left after shutdown_timeout_ms. Calls
 * on_done(s, arg) once everything is closed (from the loop, never from
 * inside this call). A second call returns HR_ECLOSED and does not call its
 * on_done. Returns 0 or HR_ECLOSED. */
int hr_server_shutdown(hr_server *s, int code, hr_server_done_cb on_done, void *arg);

/* Frees the server's memory. Only after hr_server_shutdown's on_done ran
 * (shutdown also closes the server's own libuv handles); NULL is a no-op.
 * On a start-up error (e.g. listen failed): shutdown, run the loop until
 * on_done, then free. */
void hr_server_free(hr_server *s);

#endif

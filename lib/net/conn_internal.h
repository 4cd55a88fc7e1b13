/* Private layout of hr_server and hr_conn, shared by the files of lib/net
 * (server.c, conn.c, conn_http.c, conn_ws.c, client.c). Not for apps.
 *
 * Connection phases:
 *
 *   HTTP ──request──▶ APP ──hr_conn_respond──▶ HTTP (keep-alive) or LINGER
 *                      └──stream_start──▶ STREAM ──stream_end──▶ (the same)
 *    │                                                     │
 *    ├──upgrade──▶ (DEFER ──accept──▶) WS ──close──▶ WS_CLOSING ──▶ CLOSED
 *    │                                                     │
 *    └──error status (400/413/426/431)──▶ LINGER ──EOF/timeout──▶ CLOSED
 *
 *   client: CONNECTING ──connected──▶ CLIENT_HS ──101──▶ WS ...
 *
 * CLOSED means uv_close was called; memory is freed in its callback, which
 * libuv never runs nested inside another callback, so a connection pointer
 * stays valid for the whole callback stack in which it was closed. */
#ifndef HR_NET_CONN_INTERNAL_H
#define HR_NET_CONN_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "net/conn.h"
#include "net/flushq.h"
#include "net/sendq.h"
#include "net/server.h"
#include "net/uring.h"
#include "proto/ws_deflate.h"
#include "proto/ws_handshake.h"
#include "proto/ws_reader.h"

#define HR_SERVER_MAX_LISTENERS 8
#define HR_NET_READ_BUF (64 * 1024)
#define HR_NET_MAX_IOV 64
/* Connections written per flush pass before the loop polls again (the
 * default of hr_server_config.flush_batch; flushq.h says why). With
 * io_uring it is also the most sends one submission carries. */
#define HR_NET_FLUSH_BATCH 64

enum hr_conn_phase {
    HR_PH_HTTP,       /* reading a request head/body */
    HR_PH_APP,        /* request handed to the app, waiting for hr_conn_respond */
    HR_PH_STREAM,     /* a streamed answer is under way (hr_conn_stream_*) */
    HR_PH_DEFER,      /* upgrade deferred by the app */
    HR_PH_CONNECTING, /* client: TCP connect in progress */
    HR_PH_CLIENT_HS,  /* client: request sent, waiting for the 101 */
    HR_PH_WS,         /* WebSocket open */
    HR_PH_WS_CLOSING, /* close frame sent and/or received */
    HR_PH_LINGER,     /* HTTP: last response queued; shut down after the flush */
    HR_PH_CLOSED,     /* uv_close called */
};

enum hr_conn_flag {
    HR_CF_SEEN = 1u << 0,       /* the app saw this conn: on_close is due */
    HR_CF_CLIENT = 1u << 1,     /* outgoing connection: we mask */
    HR_CF_DEFLATE = 1u << 2,    /* permessage-deflate negotiated */
    HR_CF_KEEPALIVE = 1u << 3,  /* the pending request allows keep-alive */
    HR_CF_HEAD_REQ = 1u << 4,   /* the pending request is HEAD */
    HR_CF_FLUSH = 1u << 5,      /* on the server's flush list */
    HR_CF_WRITING = 1u << 6,    /* a uv_write is in flight */
    HR_CF_PAUSED = 1u << 7,     /* the app paused reading */
    HR_CF_CLOSE_SENT = 1u << 8, /* our close frame is queued */
    HR_CF_CLOSE_RCVD = 1u << 9, /* the peer's close frame arrived */
    HR_CF_PING_OUT = 1u << 10,  /* a keep-alive ping awaits an answer */
    HR_CF_READING = 1u << 11,   /* uv_read_start is active */
    HR_CF_SHUTDOWN = 1u << 12,  /* uv_shutdown issued */
    HR_CF_WAS_WS = 1u << 13,    /* the WebSocket opened at some point */
    HR_CF_CONTINUE = 1u << 14,  /* "100 Continue" sent for the current request */
    HR_CF_IN_FEED = 1u << 15,   /* inside hr_conn_http_feed (no nested feeding) */
    HR_CF_REFEED = 1u << 16,    /* buffered input waits for the next flush pass */
    HR_CF_HTTP10 = 1u << 17,    /* the pending request is HTTP/1.0 */
    HR_CF_CHUNKED = 1u << 18,   /* STREAM: the body is chunk-framed */
    HR_CF_NO_BODY = 1u << 19,   /* STREAM: body writes are dropped (HEAD, 204, 304) */
    HR_CF_CLOSE_END = 1u << 20, /* STREAM: the body ends with the connection */
};

/* Per-connection deflate state, allocated only when negotiated. */
typedef struct hr_conn_deflate {
    hr_ws_deflate_params params;
    hr_ws_inflater inf;
    hr_ws_deflater *def; /* client side only (context takeover is per conn) */
} hr_conn_deflate;

struct hr_conn {
    uv_tcp_t tcp;
    hr_server *srv;
    const hr_conn_callbacks *cb;
    void *app_data;
    hr_conn *prev, *next; /* the server's list of live connections */
    hr_flushq_node flush; /* on the server's flush queue (HR_CF_FLUSH) */
    uint64_t id;
    uint64_t last_rx;  /* uv_now of the last read */
    uint64_t deadline; /* phase timeout (uv_now ms), 0 = none */
    hr_buf in;         /* HTTP bytes not yet consumed */
    hr_sendq q;
    hr_ws_reader *reader; /* WS: allocated while a frame/message is partial */
    hr_conn_deflate *dfl; /* WS with permessage-deflate */
    void *aux;            /* DEFER: hr_ws_handshake*; CLIENT_HS: client key, NUL, offer */
    char *protocol;       /* client: the subprotocol the server selected, or NULL */
    char *close_reason;   /* the peer's close reason (hr_conn_close_reason), or NULL */
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } peer;
    uint32_t flags;
    uint16_t inflight; /* entries handed to the in-flight uv_write */
    uint16_t close_code;
    uint16_t slow_code, shutdown_code; /* hr_conn_set_close_codes; 0: defaults */
    uint16_t status;                   /* client: the handshake's HTTP status */
    uint8_t phase;
    uint8_t close_reason_len;
};

struct hr_server {
    uv_loop_t *loop;
    hr_server_config cfg;
    const hr_conn_callbacks *cb;
    void *app;
    uv_tcp_t *listeners[HR_SERVER_MAX_LISTENERS];
    int ports[HR_SERVER_MAX_LISTENERS];
    int n_listeners;
    uv_prepare_t flush;
    uv_idle_t more; /* active while the flush queue holds connections: poll, then go on */
    uv_timer_t sweep;
    hr_conn *conns;   /* all live connections */
    hr_flushq flushq; /* connections with bytes to write (flushq.h) */
    hr_uring *uring;  /* cfg.io_uring and available: the flush pass's ring */
    bool uring_tried; /* hr_uring_new was called (on the first flush pass) */
    hr_net_stats stats;
    hr_ws_deflater *deflaters[16]; /* per window bits, server side, lazy */
    uint8_t *rbuf;                 /* shared read buffer (one loop thread) */
    bool rbuf_busy;
    uint64_t rng; /* client mask keys */
    bool shutting_down;
    int shutdown_code;
    int pending_closes;  /* listeners closing */
    int closing_handles; /* flush and sweep closing (shutdown's last step) */
    uint64_t shutdown_deadline;
    hr_server_done_cb on_done;
    void *done_arg;
};

/* server.c */
/* Links c into / out of the server's connection list (conns_open gauge);
 * detach may finish a pending shutdown. */
void hr_server_attach(hr_server *s, hr_conn *c);
void hr_server_detach(hr_server *s, hr_conn *c);
/* Puts c on the flush queue (once): an answer to a request at the front, a
 * WebSocket or stream at the back. */
void hr_server_want_flush(hr_server *s, hr_conn *c);
/* The shared server-side compressor for p's window bits (lazy); NULL when
 * out of memory. */
hr_ws_deflater *hr_server_deflater(hr_server *s, const hr_ws_deflate_params *p);
/* 32 random bits for client mask keys. */
uint32_t hr_server_random(hr_server *s);

/* conn.c */
/* New connection with an initialised (not yet connected) TCP handle,
 * attached to s; NULL when out of memory. */
hr_conn *hr_conn_new(hr_server *s, const hr_conn_callbacks *cb);
/* Starts / stops uv_read (start is a no-op when the phase or a pause says
 * not to read). */
void hr_conn_start_reading(hr_conn *c);
void hr_conn_stop_reading(hr_conn *c);
/* Queues m (takes a reference) and schedules the flush. limited: apply the
 * send-queue limit (past it: close 1013, HR_ELIMIT). Returns 0, HR_ECLOSED,
 * HR_ELIMIT or HR_ENOMEM. */
int hr_conn_queue(hr_conn *c, hr_msg *m, bool limited);
/* Applies c's deadlines at time now (the server's sweep). */
void hr_conn_sweep(hr_conn *c, uint64_t now);
/* hr_server_shutdown's step for one connection. */
void hr_conn_server_shutdown(hr_conn *c, int code);
/* Flush what is queued, shut down the write side, drain until EOF or the
 * close timeout, then close (so the peer reads our last response). */
void hr_conn_linger(hr_conn *c);
/* uv_close now (idempotent); on_close follows from the close callback. */
void hr_conn_terminate(hr_conn *c);
/* Writes what is queued: uv_try_write first, uv_write for the rest. */
void hr_conn_flush(hr_conn *c);
/* The flush pass with io_uring: c's first write joins the ring's batch
 * (or, when c cannot take it, the batch is submitted and c flushed the
 * usual way); hr_conn_flush_submit sends the batch and finishes each. */
void hr_conn_flush_batched(hr_uring *u, hr_conn *c);
void hr_conn_flush_submit(hr_uring *u);
/* Buffered input waits for the next flush pass (never nested in the app). */
void hr_conn_refeed(hr_conn *c);

/* conn_http.c */
/* Parses and dispatches requests buffered in c->in. */
void hr_conn_http_feed(hr_conn *c);
/* Answers status (0: just close) with a short text body, then lingers. */
void hr_conn_http_error(hr_conn *c, int status, const char *why);
/* hr_conn_respond / hr_conn_upgrade_accept (see conn.h). */
int hr_conn_http_respond(hr_conn *c, int status, const char *content_type, const void *body,
                         size_t len, const char *extra_headers);
int hr_conn_http_accept(hr_conn *c, const hr_upgrade_reply *reply);
/* After an answer (hr_conn_respond or a finished stream): back to reading
 * the next request (keep-alive) or linger and close. */
void hr_conn_http_done(hr_conn *c);
/* Connection header choice for hr_conn_http_response. */
enum { HR_HTTP_DEFAULT = 0, HR_HTTP_CLOSE = 1, HR_HTTP_KEEP_ALIVE = 2 };
/* A complete response in a new hr_msg (one reference, the caller's); the
 * body is left out when head_only; conn is an HR_HTTP_* value. NULL when out
 * of memory. */
hr_msg *hr_conn_http_response(int status, const char *content_type, const void *body, size_t len,
                              bool head_only, int conn, const char *extra_headers);

/* conn_ws.c */
/* Switches c to the WebSocket phase with the negotiated extension. */
void hr_conn_ws_open(hr_conn *c, const hr_ws_deflate_params *dp, bool deflate);
/* Feeds socket bytes p[0..n) (unmasked in place) to the frame reader. */
void hr_conn_ws_feed(hr_conn *c, uint8_t *p, size_t n);
/* One complete frame for c: compressed when negotiated (data opcodes of 32
 * bytes or more), masked on client connections. NULL when out of memory. */
hr_msg *hr_conn_ws_frame(hr_conn *c, uint8_t opcode, const void *p, size_t len);
/* Queues a keep-alive ping. */
void hr_conn_ws_ping(hr_conn *c);
/* Frees the reader and deflate state. */
void hr_conn_ws_release(hr_conn *c);

/* client.c */
/* Parses the server's handshake answer buffered in c->in. */
void hr_client_feed(hr_conn *c);

#endif

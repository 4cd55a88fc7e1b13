/* hr_conn: one TCP connection driven by the libuv loop, speaking HTTP/1.1
 * and, after an upgrade, WebSocket (RFC 6455, optionally permessage-deflate
 * RFC 7692). Connections are created by an hr_server (accepted) or by
 * hr_client_connect (outgoing); both kinds share this API.
 *
 * Life cycle (server side):
 *
 *   accepted -> HTTP (head, body) --on_request--> app calls hr_conn_respond
 *                   |                               (keep-alive: back to HTTP)
 *                   +--valid upgrade--> on_upgrade --accept--> 101 --> on_open
 *                                          |                   WS: on_message*
 *                                          +--refuse--> status, close
 *   any state --hr_conn_close / error / peer close--> CLOSING --> on_close once
 *
 * Ownership: the connection owns itself; the app never frees it. The app may
 * keep an hr_conn pointer from the first callback it receives for it
 * (on_request, on_upgrade or on_open) until on_close(conn, code), which is
 * called exactly once for every connection the app has seen; after on_close
 * returns the pointer is dead. Every hr_conn_* function is safe to call from
 * inside any callback of any connection (a reference is held across
 * callbacks, and memory is freed only in uv_close's callback).
 *
 * Sending never blocks and never copies shared frames: a queued frame is a
 * (hr_msg reference, offset) pair; writes are coalesced and flushed once per
 * loop turn. Queued bytes count against the send-queue limit; past it the
 * connection is closed with 1013 without affecting anyone else.
 *
 * Threading: a connection belongs to the loop of its server; call these only
 * on that loop's thread. */
#ifndef HR_NET_CONN_H
#define HR_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/msg.h"

typedef struct hr_conn hr_conn;
typedef struct hr_server hr_server;
/* The parsed request head, from lib/proto/http_head.h (engineer h2). */
typedef struct hr_http_head hr_http_head;

/* What the app says in reply to a WebSocket upgrade (on_upgrade). All strings
 * are borrowed for the duration of the call that receives the struct. */
typedef struct hr_upgrade_reply {
    const char *protocol;      /* Sec-WebSocket-Protocol to answer, or NULL */
    const char *extra_headers; /* "Name: value\r\n" lines added to the 101, or NULL */
    /* For refusals (on_upgrade returned an HTTP status): */
    const char *content_type; /* NULL: text/plain */
    const void *body;         /* NULL or body bytes */
    size_t body_len;
} hr_upgrade_reply;

/* on_upgrade return values besides 0 (accept) and an HTTP status 400..599. */
#define HR_CONN_UPGRADE_DEFER 1

/* Application callbacks. Unset (NULL) callbacks are skipped; the defaults are
 * noted. The struct must outlive every connection that uses it. */
typedef struct hr_conn_callbacks {
    /* A complete plain HTTP request: head views and body are valid only during
     * the call (copy what you keep). The app must answer, now or later, with
     * exactly one hr_conn_respond(); until then further pipelined requests on
     * this connection wait. Bodies (Content-Length or chunked) are fully
     * buffered up to max_body (else 413 without a callback). NULL: 404. */
    void (*on_request)(hr_conn *c, const hr_http_head *head, const uint8_t *body, size_t len);
    /* A valid WebSocket upgrade request (invalid ones got 400/426 already).
     * Return 0 to accept (the 101 is written, with the negotiated deflate and
     * reply->protocol / reply->extra_headers), or an HTTP status 400..599 to
     * refuse (reply->body etc. are sent, then the connection closes), or
     * HR_CONN_UPGRADE_DEFER to decide later with hr_conn_upgrade_accept() or
     * hr_conn_respond() (refusal). reply is zeroed before the call.
     * head is valid only during the call. NULL: accept. */
    int (*on_upgrade)(hr_conn *c, const hr_http_head *head, hr_upgrade_reply *reply);
    /* The WebSocket is open (101 written on servers, received on clients). */
    void (*on_open)(hr_conn *c);
    /* One complete data message: opcode HR_WS_OP_TEXT (1, UTF-8 validated) or
     * HR_WS_OP_BINARY (2); inflated when it was compressed. data is valid only
     * during the call. Not called once the connection is closing. */
    void (*on_message)(hr_conn *c, int opcode, const uint8_t *data, size_t len);
    /* The send queue just became empty after a flush (for proxies that paused
     * the other side). Optional. */
    void (*on_drain)(hr_conn *c);
    /* The connection is gone (or going: do not send). Called exactly once for
     * every connection passed to any callback above. code: the WebSocket close
     * code: the one received when the peer closed first (1005 for an empty
     * close frame), the one we sent when we closed first (1013 for a slow
     * reader, 1002/1007/1009 for protocol errors, 1001 for idle timeouts and
     * shutdown) even if the peer never answered, 1006 when a WebSocket ended
     * without any close frame; on outgoing connections that never opened
     * 1006; 0 for a server connection that never became a WebSocket.
     * Drop all references to c here. */
    void (*on_close)(hr_conn *c, int code);
} hr_conn_callbacks;

/* Unique per process (monotonic from 1); never reused. */
uint64_t hr_conn_id(const hr_conn *c);

/* The peer's address (IPv4 or IPv6). Valid while the connection lives. */
const struct sockaddr *hr_conn_peer_addr(const hr_conn *c);

/* Formats the peer as "1.2.3.4:5678" or "[::1]:5678" into out (capacity cap,
 * 64 is always enough). Returns out; "?" when unknown. */
char *hr_conn_peer(const hr_conn *c, char *out, size_t cap);

/* Per-connection application pointer (NULL initially); never touched by us. */
void hr_conn_set_app_data(hr_conn *c, void *data);
void *hr_conn_app_data(const hr_conn *c);

/* The app pointer given to hr_server_new (or hr_client_connect). */
void *hr_conn_app(const hr_conn *c);

/* The server (or client context) this connection belongs to. */
hr_server *hr_conn_server(const hr_conn *c);

/* True once the WebSocket is open and not closing: sends are accepted. */
bool hr_conn_is_open(const hr_conn *c);

/* True when permessage-deflate was negotiated on this connection. */
bool hr_conn_has_deflate(const hr_conn *c);

/* Bytes queued and not yet written to the socket. */
size_t hr_conn_queued_bytes(const hr_conn *c);

/* Queues a complete, prebuilt, unmasked server frame (e.g. from
 * hr_ws_frame / a shared broadcast message). Takes its own reference; the
 * caller keeps theirs. Only for server-side connections (clients must mask).
 * Returns 0; HR_ECLOSED when the connection is not open (nothing queued);
 * HR_ELIMIT when the queue limit was exceeded: the connection is then being
 * closed with 1013 (counted as a slow-reader close); HR_ENOMEM; HR_EINVAL on
 * a client connection. A single frame larger than the limit is accepted
 * when the queue is empty. */
int hr_conn_send_msg(hr_conn *c, hr_msg *frame);

/* Like hr_conn_send_msg with a choice: queues deflated when this connection
 * negotiated permessage-deflate and deflated != NULL, else plain. The
 * deflated frame must be an RSV1 frame compressed without context takeover
 * (we always negotiate server_no_context_takeover, so it is valid for
 * everyone). Same returns as hr_conn_send_msg. */
int hr_conn_send_event(hr_conn *c, hr_msg *plain, hr_msg *deflated);

/* Builds and queues a per-connection data frame (opcode HR_WS_OP_TEXT or
 * HR_WS_OP_BINARY) from p[0..len) (copied), compressed when deflate was
 * negotiated and len is worth it, masked on client connections. Returns 0,
 * HR_ECLOSED, HR_ELIMIT (as above), HR_ENOMEM or HR_EINVAL (bad opcode). */
int hr_conn_send(hr_conn *c, int opcode, const void *p, size_t len);

/* hr_conn_send(c, HR_WS_OP_TEXT, p, len). The caller guarantees UTF-8. */
int hr_conn_send_text(hr_conn *c, const void *p, size_t len);

/* Starts the close handshake: stops delivering messages, queues a close
 * frame with code (1000..4999; 1005/1006/1015 are not sent: an empty close
 * frame is) and reason (NULL or UTF-8, truncated to 123 bytes), waits up to
 * close_timeout for the peer's close, then closes the socket. On a plain HTTP
 * connection it closes after pending responses are written (while a request
 * is with the app: after its hr_conn_respond). Safe to repeat: once the close
 * frame is out, later calls return HR_ECLOSED. Returns 0 or HR_ECLOSED. */
int hr_conn_close(hr_conn *c, int code, const char *reason);

/* The reason text of the peer's close frame when the peer closed first
 * (valid UTF-8, at most 123 bytes, may hold NUL bytes: use *len), so a proxy
 * can relay it. NULL (and *len 0) when the peer sent none, we closed first,
 * or it could not be kept (out of memory). Valid until on_close returns. */
const char *hr_conn_close_reason(const hr_conn *c, size_t *len);

/* Receives a connection's socket from hr_conn_detach: fd, a duplicate of
 * its descriptor (close-on-exec), and bytes[0..len), a heap copy of the
 * input read but not consumed yet (the request head included). Returns 0
 * when it took both (fd and bytes are its own, to close and free), or an
 * HR_E* code when it took neither. */
typedef int (*hr_conn_give_fn)(void *arg, int fd, uint8_t *bytes, size_t len);

/* Hands the connection's socket over to another loop's server
 * (hr_server_adopt) while its upgrade is with on_upgrade, or its request
 * with on_request before any answer was queued: duplicates the descriptor,
 * copies the unread input and calls give(arg, ...). When give took them,
 * closes this side without a byte to the peer (on_close runs with 0) and
 * returns 0; the peer's socket lives on with the duplicate. Otherwise
 * returns HR_EINVAL (not at one of those points), HR_ENOMEM or give's
 * code, and the connection is untouched: answer it here. Giving before
 * closing means a receiver that cannot take the client (its queue full)
 * leaves it with a connection that can still be answered. */
int hr_conn_detach(hr_conn *c, hr_conn_give_fn give, void *arg);

/* Drops the connection at once (no close frame, queued bytes discarded).
 * on_close still runs (code 1006, or 0 for HTTP). */
void hr_conn_abort(hr_conn *c);

/* Answers the pending HTTP request (after on_request, or a deferred upgrade
 * as a refusal). Writes the status line, Content-Type (NULL: none;
 * text/plain is not assumed), Content-Length, Connection, extra_headers
 * ("Name: value\r\n" lines, or NULL) and body[0..len) (copied; omitted for
 * HEAD requests and 1xx/204/304). The connection stays open for the next
 * request when keep-alive applies, else closes after the write.
 * Returns 0, HR_EINVAL (no request pending or status outside 100..599),
 * HR_ECLOSED or HR_ENOMEM. */
int hr_conn_respond(hr_conn *c, int status, const char *content_type, const void *body, size_t len,
                    const char *extra_headers);

/* Length argument of hr_conn_stream_start for a body of unknown length:
 * chunked for HTTP/1.1 clients, close-delimited for HTTP/1.0 ones. */
#define HR_CONN_STREAM_CHUNKED (-1)
/* Length argument for a close-delimited body (Connection: close; the body
 * ends when the connection does). For endless streams such as SSE, whose
 * body messages then go out as they are, shared by every client. */
#define HR_CONN_STREAM_CLOSE (-2)

/* Starts a streamed answer to the pending HTTP request, instead of
 * hr_conn_respond: writes the status line, Content-Type (NULL: none),
 * extra_headers ("Name: value\r\n" lines or NULL) and the framing that
 * length says: Content-Length (length >= 0; the caller then writes exactly
 * that many bytes), HR_CONN_STREAM_CHUNKED or HR_CONN_STREAM_CLOSE. Body
 * bytes follow with hr_conn_stream_write / hr_conn_stream_send_msg and the
 * answer ends with hr_conn_stream_end. For HEAD requests and 1xx/204/304
 * the body is left out (writes are dropped). While streaming, the
 * connection reads only to notice the peer leaving (pipelined requests
 * wait), calls on_drain when its queue empties, and hr_conn_close ends it
 * after a flush. Returns 0, HR_EINVAL (no request pending, status outside
 * 100..599, bad length), HR_ECLOSED or HR_ENOMEM. */
int hr_conn_stream_start(hr_conn *c, int status, const char *content_type,
                         const char *extra_headers, int64_t length);

/* Queues p[0..len) (copied) as body bytes, chunk-framed when chunked.
 * Counted against the send-queue limit like WebSocket frames: past it the
 * connection is closed as a slow reader (HR_ELIMIT). len == 0 does nothing.
 * Returns 0, HR_ELIMIT, HR_ECLOSED (not streaming) or HR_ENOMEM. */
int hr_conn_stream_write(hr_conn *c, const void *p, size_t len);

/* Like hr_conn_stream_write with a prebuilt, shared body message (a
 * reference is taken; nothing is copied unless the body is chunked, which
 * adds a per-connection chunk header and CRLF around it). */
int hr_conn_stream_send_msg(hr_conn *c, hr_msg *m);

/* Ends the streamed answer: the last chunk for chunked bodies, then the next
 * request (keep-alive) or a close after the flush (close-delimited bodies,
 * Connection: close). Returns 0, HR_EINVAL (not streaming) or HR_ECLOSED. */
int hr_conn_stream_end(hr_conn *c);

/* True while a streamed answer is under way on c. */
bool hr_conn_is_streaming(const hr_conn *c);

/* Accepts a deferred upgrade (on_upgrade returned HR_CONN_UPGRADE_DEFER):
 * writes the 101 with the negotiated extensions and reply's protocol /
 * extra_headers (reply may be NULL), then calls on_open. Returns 0,
 * HR_EINVAL (no deferred upgrade pending), HR_ECLOSED or HR_ENOMEM. */
int hr_conn_upgrade_accept(hr_conn *c, const hr_upgrade_reply *reply);

/* The close codes lib/net itself uses on c: slow_code for a reader past the
 * send-queue limit (default 1013), shutdown_code when the server shuts down
 * (default: the server's code, 1001). 0 keeps the default. For protocols
 * with their own ranges (Pusher: 4100 and 4200). */
void hr_conn_set_close_codes(hr_conn *c, int slow_code, int shutdown_code);

/* Stops (true) or resumes (false) reading from the socket: backpressure for
 * proxies. Timers keep running; a paused peer can still be closed. */
void hr_conn_pause(hr_conn *c, bool pause);

#endif

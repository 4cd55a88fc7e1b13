/* hr_client: outgoing WebSocket connections (gateway upstreams, herald-bench,
 * tests). hr_client_connect resolves nothing (numeric addresses only), opens
 * a TCP connection, sends the client handshake (random key, optional
 * permessage-deflate offer), checks the 101 and Sec-WebSocket-Accept, and then
 * behaves as any hr_conn, except that every frame it sends is masked (so
 * hr_conn_send_msg/_event, which take prebuilt unmasked frames, are refused
 * with HR_EINVAL: use hr_conn_send / hr_conn_send_text).
 *
 * The connection belongs to an hr_server (which may have no listeners): it
 * shares its flush, timers, counters and shutdown. Callbacks used: on_open,
 * on_message, on_drain, on_close (on_request/on_upgrade are ignored). A
 * connection that fails before the WebSocket opens gets on_close(c, 1006)
 * without on_open; hr_client_status() then tells why. */
#ifndef HR_NET_CLIENT_H
#define HR_NET_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"
#include "net/server.h"

typedef struct hr_client_config {
    const char *path;            /* request target, e.g. "/ws?channels=a"; NULL: "/" */
    const char *host;            /* Host header; NULL: the address given */
    const char *extra_headers;   /* "Name: value\r\n" lines, or NULL (copied); its
                                    Sec-WebSocket-Protocol lines are the subprotocol
                                    offer that hr_client_protocol() is checked against */
    bool deflate;                /* offer permessage-deflate */
    uint32_t connect_timeout_ms; /* TCP connect + handshake; 0: server's
                                    handshake_timeout_ms */
} hr_client_config;

/* Starts connecting to addr ("1.2.3.4:80" or "[::1]:80") on s's loop, with
 * callbacks cb (borrowed, must outlive the connection) and per-connection
 * app data app_data (hr_conn_app_data). Limits (max_message,
 * send_queue_limit, close_timeout_ms, ping/idle) come from s's config.
 * On success stores the connection in *out (may be NULL) and returns 0; the
 * outcome arrives later as on_open or on_close(c, 1006). On failure returns
 * HR_EINVAL (bad address or config), HR_ECLOSED (server shutting down),
 * HR_ENOMEM or a libuv error, and calls nothing. */
int hr_client_connect(hr_server *s, const char *addr, const hr_client_config *cfg,
                      const hr_conn_callbacks *cb, void *app_data, hr_conn **out);

/* Why a client connection ended before opening: the HTTP status of the
 * server's non-101 answer (e.g. 401, 503), 0 when no response arrived
 * (connect refused, timeout, reset) or the 101 was invalid (accept key,
 * extensions, subprotocol), or 101 once it opened. */
int hr_client_status(const hr_conn *c);

/* The subprotocol the server selected in its 101 (Sec-WebSocket-Protocol),
 * NUL-terminated, or NULL when it selected none (always NULL before the
 * WebSocket opens). Owned by the connection: valid from on_open until
 * on_close returns. A 101 that selects a protocol absent from the offer in
 * cfg->extra_headers, or several, or any when nothing was offered, fails
 * the connection (RFC 6455 §4.1): on_close(c, 1006) without on_open, and
 * hr_client_status() is 0. */
const char *hr_client_protocol(const hr_conn *c);

#endif

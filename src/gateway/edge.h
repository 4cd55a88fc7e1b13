/* gw_edge: the gateway's edge decisions on one request head, as pure
 * functions: is the Origin allowed, where is the token and is it valid, and
 * which headers go upstream (client X-Herald-* and hop-by-hop headers
 * removed; identity, X-Forwarded-For/Proto and X-Request-Id added). The I/O
 * layer maps the results to 401/403 and builds the upstream request. */
#ifndef GW_EDGE_H
#define GW_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core/buf.h"
#include "proto/channel.h"
#include "proto/http_head.h"
#include "proto/token.h"

/* True when cfg allows the request's Origin: the list is empty, or the
 * request has no Origin header (not a browser), or Origin equals an entry
 * exactly (case-insensitive, as scheme and host are). */
bool gw_edge_origin_allowed(const gw_config *cfg, const hr_http_head *h);

/* Finds the client's token: "Authorization: Bearer", then the "token" query
 * parameter, then the cookie named cookie_name. Writes it NUL-terminated into
 * out[0..cap). Returns 1 found, 0 none, HR_EDENIED when a token is present but
 * malformed or longer than cap - 1 (the caller answers 401). */
int gw_edge_find_token(const hr_http_head *h, const char *cookie_name, char *out, size_t cap);

/* Authenticates a request on a route with mode auth. tok may be NULL when no
 * jwt is configured (then only GW_AUTH_NONE routes exist). On 0, *id holds
 * the verified identity (anonymous when no token was given and the route
 * allows it); the caller owns it (hr_identity_deinit). Returns HR_EDENIED
 * with *why a static reason ("missing", "malformed", or hr_token_verify's) when the
 * token is missing on a required route or invalid on any route with auth;
 * HR_ENOMEM. On GW_AUTH_NONE routes tokens are ignored (anonymous). */
int gw_edge_authenticate(const hr_token_cfg *tok, gw_auth_mode auth, const char *cookie_name,
                         const hr_http_head *h, int64_t now_unix, hr_identity *id,
                         const char **why);

/* What to add when rewriting headers for the upstream. */
typedef struct gw_edge_fwd {
    const hr_identity *id;  /* verified identity (user/channels), or NULL */
    const char *client_ip;  /* appended to X-Forwarded-For */
    bool tls;               /* X-Forwarded-Proto: https */
    const char *request_id; /* used when the client sent no valid X-Request-Id */
    bool websocket;         /* drop the client's Sec-WebSocket-* handshake headers */
} gw_edge_fwd;

/* Appends the upstream header lines ("Name: value\r\n") for request h to
 * out: every end-to-end header of h except Host, Content-Length,
 * hop-by-hop headers (Connection and those it names, Keep-Alive, TE,
 * Trailer, Transfer-Encoding, Upgrade, Proxy-*), X-Herald-*,
 * X-Forwarded-For/-Proto and, for websockets, Sec-WebSocket-Key/-Version/
 * -Extensions; then X-Herald-User / -Expires / -Channels / -Publish from fwd->id,
 * X-Forwarded-For (the client's chain plus client_ip), X-Forwarded-Proto and
 * X-Request-Id (the client's when it is 1..128 safe characters, else
 * fwd->request_id). Returns 0, HR_ETOOBIG (out's max) or HR_ENOMEM. */
int gw_edge_upstream_headers(const hr_http_head *h, const gw_edge_fwd *fwd, hr_buf *out);

/* Copies the client's X-Request-Id into out[0..cap) (NUL-terminated) when it
 * is 1..128 characters of [A-Za-z0-9._-] and fits; returns whether it did. */
bool gw_edge_client_request_id(const hr_http_head *h, char *out, size_t cap);

/* True for hop-by-hop header names (RFC 9110 §7.6.1 plus Proxy-*, Keep-Alive),
 * which a proxy never forwards. */
bool gw_edge_is_hop_header(const char *name, size_t len);

/* Appends one header line "name: value\r\n" to out. Returns 0 or the
 * hr_buf_append error (HR_ENOMEM, HR_ETOOBIG). */
int gw_edge_write_header(hr_buf *out, const char *name, size_t name_len, const char *value,
                         size_t value_len);

#endif

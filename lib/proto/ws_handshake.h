/* The WebSocket opening handshake (RFC 6455 §4): checking a client's upgrade
 * request and writing the 101 answer (server side), and writing the request
 * and checking the answer (client side: gateway to upstream, bench, tests).
 * Pure functions from heads to accept keys and HTTP statuses; the
 * permessage-deflate part is in ws_deflate.h. */
#ifndef HR_WS_HANDSHAKE_H
#define HR_WS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/http_head.h"
#include "proto/ws_deflate.h"

#define HR_WS_ACCEPT_LEN 28                    /* base64 of a SHA-1, without NUL */
#define HR_WS_KEY_LEN 24                       /* base64 of 16 bytes, without NUL */
#define HR_WS_EXT_MAX HR_WS_DEFLATE_ANSWER_MAX /* room for an extension answer */

typedef struct hr_ws_handshake {
    int status;                          /* 101 ok, or the refusal: 400, 426 (500: no SHA-1) */
    char accept[HR_WS_ACCEPT_LEN + 1];   /* Sec-WebSocket-Accept, NUL-terminated */
    bool deflate;                        /* permessage-deflate negotiated */
    hr_ws_deflate_params deflate_params; /* valid when deflate */
    char extensions[HR_WS_EXT_MAX];      /* Sec-WebSocket-Extensions answer or "" */
    const char *error;                   /* short static reason for logs and bodies; NULL when ok */
} hr_ws_handshake;

/* Server side: checks that req is a valid upgrade: GET, HTTP/1.1 or later,
 * a Host header, Upgrade containing token "websocket", Connection containing
 * "upgrade", exactly one Sec-WebSocket-Key that is base64 of 16 bytes, and
 * Sec-WebSocket-Version 13. Negotiates permessage-deflate when
 * deflate_enabled (several Sec-WebSocket-Extensions lines are tried in
 * order). Refusals: 426 for a missing, repeated or other version (the answer
 * must carry Sec-WebSocket-Version: 13, which hr_http_write_status adds);
 * 400 for anything else (not GET, HTTP/1.0, no Host, no Upgrade or
 * Connection token, missing, repeated or malformed key); 500 if OpenSSL's
 * SHA-1 fails. Origin, auth and paths are the caller's business.
 * Returns 0 with out->status 101 and out->accept set, or HR_EINVAL with
 * out->status and out->error set. */
int hr_ws_handshake_check(const hr_http_head *req, bool deflate_enabled, hr_ws_handshake *out);

/* Computes Sec-WebSocket-Accept for key[0..key_len): base64(SHA-1(key +
 * GUID)), 28 characters plus NUL in out. */
void hr_ws_handshake_accept_key(const char *key, size_t key_len, char out[29]);

/* Writes the 101 Switching Protocols response for hs (Upgrade, Connection,
 * Sec-WebSocket-Accept, Sec-WebSocket-Extensions when negotiated) plus
 * extra_headers (NULL or "Name: v\r\n..." lines) and the final CRLF into
 * out[0..cap). Returns the length, or 0 when cap is too small. */
size_t hr_ws_handshake_write_101(const hr_ws_handshake *hs, const char *extra_headers, char *out,
                                 size_t cap);

/* Client side: writes a fresh random key (base64 of 16 random bytes from
 * OpenSSL, 24 characters plus NUL) into key_b64. Returns 0 or HR_EINTERNAL. */
int hr_ws_handshake_new_key(char key_b64[25]);

/* Client side: writes the upgrade request
 *   GET <target> HTTP/1.1, Host, Upgrade: websocket, Connection: Upgrade,
 *   Sec-WebSocket-Key, Sec-WebSocket-Version: 13,
 *   Sec-WebSocket-Extensions: HR_WS_DEFLATE_OFFER (when offer_deflate),
 *   extra_headers, CRLF
 * into out[0..cap). Returns the length, or 0 when cap is too small. */
size_t hr_ws_handshake_write_request(const char *host, const char *target, const char *key_b64,
                                     bool offer_deflate, const char *extra_headers, char *out,
                                     size_t cap);

/* Client side: checks the server's answer: status 101, Upgrade: websocket,
 * Connection: upgrade, Sec-WebSocket-Accept matching key_b64, and an
 * acceptable Sec-WebSocket-Extensions (permessage-deflate answering
 * HR_WS_DEFLATE_OFFER; a caller that did not offer it must refuse
 * out->deflate == true). Returns 0 (out->status 101, out->deflate
 * and out->deflate_params set), or HR_EPROTO with out->status set to the
 * response status and out->error to the reason. */
int hr_ws_handshake_check_response(const hr_http_head *resp, const char *key_b64,
                                   hr_ws_handshake *out);

#endif

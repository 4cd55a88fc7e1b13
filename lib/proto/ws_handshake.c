/* The WebSocket opening handshake (RFC 6455 §4). Server side: a pure check of
 * a parsed request head that yields either 101 with the accept key and the
 * negotiated extension, or the HTTP status of the refusal with a short
 * reason. Client side: the request writer and the check of the 101 answer.
 * SHA-1 and base64 come from OpenSSL; permessage-deflate from ws_deflate. */
#include "ws_handshake.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void hr_ws_handshake_accept_key(const char *key, size_t key_len, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    out[0] = '\0';
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return;
    const bool ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
                    EVP_DigestUpdate(ctx, key, key_len) == 1 &&
                    EVP_DigestUpdate(ctx, ws_guid, sizeof ws_guid - 1) == 1 &&
                    EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == 20;
    EVP_MD_CTX_free(ctx);
    if (ok)
        EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars + NUL */
}

static bool is_b64(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

/* base64 of exactly 16 bytes: 22 alphabet characters and "==". */
static bool is_valid_key(const hr_http_header *h)
{
    if (h->value_len != HR_WS_KEY_LEN || h->value[22] != '=' || h->value[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(h->value[i]))
            return false;
    return true;
}

static int refuse(hr_ws_handshake *out, int status, const char *why)
{
    out->status = status;
    out->error = why;
    return HR_EINVAL;
}

/* The request-shape checks, before key and version. */
static const char *check_request_line(const hr_http_head *req)
{
    if (req->is_response || req->method_len != 3 || memcmp(req->method_str, "GET", 3) != 0)
        return "method is not GET";
    if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1))
        return "HTTP/1.1 or later required";
    if (hr_http_head_count(req, "host") != 1)
        return "missing or repeated Host";
    if (!hr_http_head_has_token(req, "upgrade", "websocket"))
        return "missing Upgrade: websocket";
    if (!hr_http_head_has_token(req, "connection", "upgrade"))
        return "missing Connection: upgrade";
    return NULL;
}

static void negotiate(const hr_http_head *req, hr_ws_handshake *out)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        const hr_http_header *h = &req->headers[i];
        if (h->name_len != 24 || strncasecmp(h->name, "sec-websocket-extensions", 24) != 0)
            continue;
        if (hr_ws_deflate_negotiate(h->value, h->value_len, &out->deflate_params, out->extensions,
                                    sizeof out->extensions) == 1) {
            out->deflate = true;
            return;
        }
    }
    out->extensions[0] = '\0';
}

int hr_ws_handshake_check(const hr_http_head *req, bool deflate_enabled, hr_ws_handshake *out)
{
    *out = (hr_ws_handshake){.status = 0};
    const char *why = check_request_line(req);
    if (why != NULL)
        return refuse(out, 400, why);
    const hr_http_header *key = hr_http_head_find(req, "sec-websocket-key");
    if (key == NULL || hr_http_head_count(req, "sec-websocket-key") != 1)
        return refuse(out, 400, "missing or repeated Sec-WebSocket-Key");
    if (!is_valid_key(key))
        return refuse(out, 400, "Sec-WebSocket-Key is not 16 bytes of base64");
    const hr_http_header *ver = hr_http_head_find(req, "sec-websocket-version");
    if (hr_http_head_count(req, "sec-websocket-version") != 1 || !hr_http_header_equals(ver, "13"))
        return refuse(out, 426, "Sec-WebSocket-Version must be 13");
    hr_ws_handshake_accept_key(key->value, key->value_len, out->accept);
    if (out->accept[0] == '\0')
        return refuse(out, 500, "SHA-1 unavailable");
    if (deflate_enabled)
        negotiate(req, out);
    out->status = 101;
    return 0;
}

size_t hr_ws_handshake_write_101(const hr_ws_handshake *hs, const char *extra_headers, char *out,
                                 size_t cap)
{
    const bool ext = hs->deflate && hs->extensions[0] != '\0';
    const int n =
        snprintf(out, cap,
                 "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n"
                 "%s%s%s"
                 "%s\r\n",
                 hs->accept, ext ? "Sec-WebSocket-Extensions: " : "", ext ? hs->extensions : "",
                 ext ? "\r\n" : "", extra_headers != NULL ? extra_headers : "");
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int hr_ws_handshake_new_key(char key_b64[25])
{
    unsigned char raw[16];
    key_b64[0] = '\0';
    if (RAND_bytes(raw, sizeof raw) != 1)
        return HR_EINTERNAL;
    EVP_EncodeBlock((unsigned char *)key_b64, raw, sizeof raw); /* 24 chars + NUL */
    return 0;
}

size_t hr_ws_handshake_write_request(const char *host, const char *target, const char *key_b64,
                                     bool offer_deflate, const char *extra_headers, char *out,
                                     size_t cap)
{
    const int n =
        snprintf(out, cap,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "%s"
                 "%s\r\n",
                 target, host, key_b64,
                 offer_deflate ? "Sec-WebSocket-Extensions: " HR_WS_DEFLATE_OFFER "\r\n" : "",
                 extra_headers != NULL ? extra_headers : "");
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static const char *check_answer(const hr_http_head *resp, const char *key_b64)
{
    if (!resp->is_response || resp->status != 101)
        return "status is not 101";
    if (!hr_http_head_has_token(resp, "upgrade", "websocket"))
        return "missing Upgrade: websocket";
    if (!hr_http_head_has_token(resp, "connection", "upgrade"))
        return "missing Connection: upgrade";
    char want[HR_WS_ACCEPT_LEN + 1];
    hr_ws_handshake_accept_key(key_b64, strlen(key_b64), want);
    const hr_http_header *acc = hr_http_head_find(resp, "sec-websocket-accept");
    if (acc == NULL || hr_http_head_count(resp, "sec-websocket-accept") != 1 ||
        acc->value_len != HR_WS_ACCEPT_LEN || memcmp(acc->value, want, HR_WS_ACCEPT_LEN) != 0)
        return "wrong Sec-WebSocket-Accept";
    return NULL;
}

int hr_ws_handshake_check_response(const hr_http_head *resp, const char *key_b64,
                                   hr_ws_handshake *out)
{
    *out = (hr_ws_handshake){.status = resp->status};
    const char *why = check_answer(resp, key_b64);
    if (why != NULL) {
        out->error = why;
        return HR_EPROTO;
    }
    const hr_http_header *ext = hr_http_head_find(resp, "sec-websocket-extensions");
    if (ext != NULL) {
        const int rc =
            hr_http_head_count(resp, "sec-websocket-extensions") == 1
                ? hr_ws_deflate_parse_response(ext->value, ext->value_len, &out->deflate_params)
                : HR_EPROTO;
        if (rc < 0) {
            out->error = "unacceptable Sec-WebSocket-Extensions";
            return HR_EPROTO;
        }
        out->deflate = rc == 1;
        if (out->deflate && ext->value_len < sizeof out->extensions)
            memcpy(out->extensions, ext->value, ext->value_len);
    }
    memcpy(out->accept, hr_http_head_find(resp, "sec-websocket-accept")->value, HR_WS_ACCEPT_LEN);
    return 0;
}

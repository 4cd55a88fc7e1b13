/* Fuzz target for the gateway's proxied path, without sockets: the input is a
 * client's upgrade request followed by client frames.
 *
 *  1. The head is parsed as lib/net does; a complete head goes through the
 *     gateway's edge: route match and target rewrite on a fixed config,
 *     Origin check, token lookup, and the upstream header rewrite. The
 *     rewritten block must be well formed ("Name: value\r\n" lines, no bare
 *     CR/LF, no client X-Herald-* header) so a client cannot inject headers
 *     upstream.
 *  2. The bytes after the head are read as masked client frames (server-side
 *     reader); each complete message is re-framed masked toward the upstream
 *     (as the gateway's client connection does) and read back by a client-side
 *     reader expecting unmasked frames after unmasking: the opcode and payload
 *     must survive unchanged, so message boundaries and opcodes are kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "config.h"
#include "edge.h"
#include "route.h"
#include "proto/http_head.h"
#include "proto/ws_frame.h"
#include "proto/ws_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static const char cfg_text[] =
    "allowed_origins: [\"https://app.example\"]\n"
    "auth: {jwt: {secret: s}}\n"
    "upstreams: {n: {servers: [127.0.0.1:1]}}\n"
    "routes:\n"
    "  - {path: /ws, upstream: n, websocket: true, auth: optional, strip_token: true}\n"
    "  - {path: /api/, upstream: n, strip_prefix: true, host: a.example}\n"
    "  - {path: /, static: web}\n";

static void check_block(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const uint8_t *nl = memchr(p + i, '\n', len - i);
        check(nl != NULL);
        const size_t end = (size_t)(nl - p);
        check(end > i && p[end - 1] == '\r');
        check(memchr(p + i, '\r', end - 1 - i) == NULL);
        check(memchr(p + i, ':', end - i) != NULL);
        i = end + 1;
    }
}

/* True when the query q has a parameter named exactly "token". */
static bool has_token_param(const char *q)
{
    while (*q != '\0') {
        const size_t len = strcspn(q, "&");
        const size_t name = strcspn(q, "=&");
        if (name == 5 && strncmp(q, "token", 5) == 0)
            return true;
        q += len;
        if (*q == '&')
            q++;
    }
    return false;
}

static void edge(const gw_config *cfg, const hr_http_head *h)
{
    const hr_http_header *host = hr_http_head_find(h, "Host");
    const size_t pl = gw_route_path_len(h->target, h->target_len);
    const gw_route_cfg *r =
        gw_route_match(cfg, host ? host->value : "", host ? host->value_len : 0, h->target, pl);
    if (r != NULL) {
        char out[1024];
        const size_t n = gw_route_rewrite(r, h->target, h->target_len, out, sizeof out);
        check(n == 0 || (out[0] == '/' && strlen(out) == n));
        const char *q = n > 0 ? strchr(out, '?') : NULL;
        if (r->strip_token && q != NULL) /* only the query is rewritten */
            check(!has_token_param(q + 1));
    }
    (void)gw_edge_origin_allowed(cfg, h);
    char tok[256];
    (void)gw_edge_find_token(h, "herald_token", tok, sizeof tok);
    hr_buf out;
    hr_buf_init(&out, 65536);
    const gw_edge_fwd fwd = {.client_ip = "10.0.0.1", .request_id = "rid", .websocket = true};
    if (gw_edge_upstream_headers(h, &fwd, &out) == 0) {
        check_block(hr_buf_data(&out), out.len);
        if (hr_buf_append(&out, "", 1) == 0)
            check(strstr((const char *)hr_buf_data(&out), "\nX-Herald-") == NULL &&
                  strncmp((const char *)hr_buf_data(&out), "X-Herald-", 9) != 0);
    }
    hr_buf_deinit(&out);
}

/* Re-frames one message masked and reads it back as the upstream would. */
static void relay(uint8_t opcode, const uint8_t *p, size_t len)
{
    const size_t cap = len + HR_WS_MAX_HEADER;
    uint8_t *wire = malloc(cap);
    if (wire == NULL)
        return;
    const uint8_t mask[4] = {1, 2, 3, 4};
    const size_t n = hr_ws_frame_client_write(wire, cap, opcode, true, false, p, len, mask);
    check(n > 0);
    hr_ws_reader up;
    const hr_ws_reader_cfg ucfg = {.max_message = len + 1, .require_masked = true};
    hr_ws_reader_init(&up, &ucfg);
    hr_ws_event ev;
    const ssize_t used = hr_ws_reader_feed(&up, wire, n, &ev);
    check(used == (ssize_t)n || (used < 0 && used == HR_EUTF8 && opcode == HR_WS_OP_TEXT));
    if (used > 0) {
        check(ev.type == HR_WS_EV_MESSAGE && ev.opcode == opcode && ev.len == len);
        check(len == 0 || memcmp(ev.data, p, len) == 0);
    }
    hr_ws_reader_deinit(&up);
    free(wire);
}

static void frames(uint8_t *p, size_t len)
{
    hr_ws_reader r;
    const hr_ws_reader_cfg rcfg = {.max_message = 65536, .require_masked = true};
    hr_ws_reader_init(&r, &rcfg);
    size_t off = 0;
    while (off < len) {
        hr_ws_event ev;
        const ssize_t used = hr_ws_reader_feed(&r, p + off, len - off, &ev);
        if (used <= 0)
            break;
        off += (size_t)used;
        if (ev.type == HR_WS_EV_MESSAGE && !ev.compressed)
            relay(ev.opcode, ev.data, ev.len);
        if (ev.type == HR_WS_EV_CLOSE)
            break;
    }
    hr_ws_reader_deinit(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gw_config *cfg;
    if (cfg == NULL) {
        gw_diag d;
        if (gw_config_parse(cfg_text, sizeof cfg_text - 1, "fuzz.yaml", &cfg, &d) != 0)
            abort();
    }
    if (size > 1 << 20)
        return 0;
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    hr_http_head h;
    const int n = hr_http_head_parse(copy, size, false, NULL, &h);
    if (n > 0) {
        edge(cfg, &h);
        frames(copy + n, size - (size_t)n);
    }
    free(copy);
    return 0;
}

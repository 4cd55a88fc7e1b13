/* Fuzz target for HTTP heads and the WebSocket handshake
 * (lib/proto/http_head, ws_handshake, ws_deflate negotiation, http_query,
 * http_chunked).
 *
 * The input is parsed as a request head and as a response head from its own
 * exactly sized heap copy. A complete request goes through the server-side
 * handshake check (with permessage-deflate negotiation on every
 * Sec-WebSocket-Extensions line), the 101 writer, and the query helpers on
 * its target; a chunked body after the head goes through the chunked
 * decoder fed in two pieces. A complete response goes through the client-side
 * handshake check. Invariants (views inside the input, head_len within it,
 * the same verdict on a prefix, a 101 that parses back) abort on violation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/http_chunked.h"
#include "proto/http_head.h"
#include "proto/http_query.h"
#include "proto/ws_deflate.h"
#include "proto/ws_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool inside(const uint8_t *p, size_t len, const char *v, size_t vlen)
{
    const char *b = (const char *)p;
    return vlen == 0 || (v >= b && vlen <= len && v - b <= (ptrdiff_t)(len - vlen));
}

static void check_views(const uint8_t *p, size_t len, const hr_http_head *h)
{
    check(h->n_headers <= HR_HTTP_MAX_HEADERS);
    check(h->head_len <= len);
    check(inside(p, len, h->target, h->target_len));
    check(inside(p, len, h->method_str, h->method_len));
    for (size_t i = 0; i < h->n_headers; i++) {
        check(inside(p, len, h->headers[i].name, h->headers[i].name_len));
        check(inside(p, len, h->headers[i].value, h->headers[i].value_len));
    }
}

static void fuzz_query(const hr_http_head *h)
{
    static const char *const keys[] = {"token", "channels", "since", ""};
    char out[256];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t n = 0;
        const int rc = hr_http_query_get(h->target, h->target_len, keys[i], out, sizeof out, &n);
        check(rc == 0 || rc == HR_ETOOBIG || rc == HR_EINVAL || (rc == 1 && n < sizeof out));
        check(rc != 1 || out[n] == '\0');
    }
    size_t path_len, qlen;
    const char *q;
    hr_http_query_split(h->target, h->target_len, &path_len, &q, &qlen);
    check(path_len <= h->target_len && qlen <= h->target_len);
}

static void fuzz_chunked(const uint8_t *body, size_t len)
{
    hr_http_chunked c;
    hr_http_chunked_init(&c);
    size_t total = 0, pos = 0;
    const size_t split = len / 2;
    for (int round = 0; round < 2; round++) {
        const size_t end = round == 0 ? split : len;
        for (;;) {
            size_t used;
            const uint8_t *d;
            size_t dlen;
            const int rc = hr_http_chunked_decode(&c, body + pos, end - pos, &used, &d, &dlen);
            check(used <= end - pos);
            check(dlen == 0 || (d >= body + pos && d + dlen <= body + pos + used));
            pos += used;
            total += dlen;
            if (rc != 0 || used == 0)
                break;
        }
    }
    check(total <= len);
}

static void fuzz_request(const uint8_t *p, size_t size)
{
    hr_http_head h;
    const int rc = hr_http_head_parse(p, size, false, NULL, &h);
    check(rc == 0 || rc == HR_ETOOBIG || rc == HR_EPROTO || (rc > 0 && (size_t)rc <= size));
    if (rc <= 0)
        return;
    check_views(p, size, &h);
    /* A complete head stays complete, with the same length, on the prefix. */
    hr_http_head again;
    check(hr_http_head_parse(p, (size_t)rc, false, NULL, &again) == rc);
    fuzz_query(&h);
    hr_ws_handshake hs;
    const int hrc = hr_ws_handshake_check(&h, true, &hs);
    check((hrc == 0 && hs.status == 101) || (hrc == HR_EINVAL && hs.status >= 400));
    if (hrc == 0) {
        char out[1024];
        const size_t n = hr_ws_handshake_write_101(&hs, NULL, out, sizeof out);
        check(n > 0);
        hr_http_head r;
        check(hr_http_head_parse((const uint8_t *)out, n, true, NULL, &r) == (int)n);
        check(r.status == 101 && r.upgrade);
    }
    for (size_t i = 0; i < h.n_headers; i++) {
        hr_ws_deflate_params prm;
        char resp[HR_WS_DEFLATE_ANSWER_MAX];
        const int nrc = hr_ws_deflate_negotiate(h.headers[i].value, h.headers[i].value_len, &prm,
                                                resp, sizeof resp);
        check(nrc == 0 || nrc == 1);
        if (nrc == 1) {
            hr_ws_deflate_params back;
            check(hr_ws_deflate_parse_response(resp, strlen(resp), &back) == 1);
            check(memcmp(&back, &prm, sizeof prm) == 0);
        }
        hr_ws_deflate_parse_response(h.headers[i].value, h.headers[i].value_len, &prm);
    }
    if (h.chunked)
        fuzz_chunked(p + rc, size - (size_t)rc);
}

static void fuzz_response(const uint8_t *p, size_t size)
{
    hr_http_head h;
    const int rc = hr_http_head_parse(p, size, true, NULL, &h);
    check(rc == 0 || rc == HR_ETOOBIG || rc == HR_EPROTO || (rc > 0 && (size_t)rc <= size));
    if (rc <= 0)
        return;
    check_views(p, size, &h);
    hr_ws_handshake hs;
    const int hrc = hr_ws_handshake_check_response(&h, "dGhlIHNhbXBsZSBub25jZQ==", &hs);
    check(hrc == 0 || hrc == HR_EPROTO);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    if (p == NULL)
        return 0;
    memcpy(p, data, size);
    fuzz_request(p, size);
    fuzz_response(p, size);
    free(p);
    return 0;
}

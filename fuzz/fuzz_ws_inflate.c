/* Fuzz target for permessage-deflate decompression (lib/proto/ws_deflate).
 *
 * Input: byte 0 picks the parameters, the rest is compressed payload.
 *   bit 0     client_no_context_takeover (state freed between messages)
 *   bits 1-3  client_max_window_bits = 8 + value
 *   bits 4-5  number of messages the payload is cut into (1..4)
 *   bit 6     feed each message as two fragments (hr_ws_inflate_part)
 *   bit 7     small output cap (256 bytes) instead of 1 MiB
 * Every message is inflated from its own exactly sized heap copy, with the
 * cap; the result must respect it. A message that inflates is compressed
 * again with a server deflater and must inflate back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/ws_deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static int inflate_copy(hr_ws_inflater *f, const uint8_t *in, size_t n, bool split, hr_buf *out,
                        size_t cap)
{
    uint8_t *p = malloc(n ? n : 1);
    if (p == NULL)
        return HR_ENOMEM;
    memcpy(p, in, n);
    int rc;
    if (split) {
        rc = hr_ws_inflate_part(f, p, n / 2, false, out, cap);
        if (rc == 0)
            rc = hr_ws_inflate_part(f, p + n / 2, n - n / 2, true, out, cap);
    } else {
        rc = hr_ws_inflate(f, p, n, out, cap);
    }
    free(p);
    return rc;
}

/* Compresses plain with a server deflater and inflates it back. */
static void round_trip(const uint8_t *plain, size_t n, size_t cap)
{
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    p.server_no_context_takeover = true;
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, true, 6);
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &p, false);
    hr_buf z, out;
    hr_buf_init(&z, 4u << 20);
    hr_buf_init(&out, 4u << 20);
    check(hr_ws_deflate_message(&d, plain, n, &z) == 0);
    check(inflate_copy(&f, z.len ? hr_buf_data(&z) : plain, z.len, false, &out, cap) == 0);
    check(out.len == n && (n == 0 || memcmp(hr_buf_data(&out), plain, n) == 0));
    hr_buf_deinit(&z);
    hr_buf_deinit(&out);
    hr_ws_inflater_deinit(&f);
    hr_ws_deflater_deinit(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t cfg = data[0];
    data++;
    size--;
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    p.client_no_context_takeover = cfg & 1;
    p.client_max_window_bits = (uint8_t)(8 + ((cfg >> 1) & 7));
    const size_t parts = 1 + ((cfg >> 4) & 3);
    const bool split = cfg & 0x40;
    const size_t cap = cfg & 0x80 ? 256 : 1u << 20;
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &p, true);
    size_t pos = 0;
    for (size_t i = 0; i < parts; i++) {
        const size_t n = i + 1 == parts ? size - pos : (size - pos) / (parts - i);
        hr_buf out;
        hr_buf_init(&out, 2u << 20);
        const int rc = inflate_copy(&f, data + pos, n, split, &out, cap);
        check(rc == 0 || rc == HR_EPROTO || rc == HR_ETOOBIG || rc == HR_ENOMEM);
        check(out.len <= cap);
        check(rc == 0 || split || out.len == 0); /* parts keep earlier output */
        if (rc == 0 && out.len > 0)
            round_trip(hr_buf_data(&out), out.len, cap);
        check(!p.client_no_context_takeover || !f.ready);
        hr_buf_deinit(&out);
        pos += n;
    }
    hr_ws_inflater_deinit(&f);
    return 0;
}

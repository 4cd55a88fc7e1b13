/* Fuzz target for the WebSocket message reader (lib/proto/ws_reader).
 *
 * Input: byte 0 chooses the configuration, the rest is the byte stream.
 *   bit 0   require_masked (server side) or not (client side)
 *   bit 1   allow_rsv1 (permessage-deflate negotiated)
 *   bit 2   small message cap (64 bytes) instead of 1 MiB
 *   bits 3+ chunk size for the second run (0 = one byte at a time)
 * The stream is fed twice, whole and in chunks, each time from its own heap
 * copy (the reader unmasks in place). Each run folds its events into a hash;
 * the two must agree, and every event must satisfy the reader's promises
 * (views readable, sizes within the cap, UTF-8 of plain text valid, close
 * codes valid). Any mismatch aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/utf8.h"
#include "proto/ws_reader.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct outcome {
    uint64_t hash;
    size_t events;
    int err;
} outcome;

static uint64_t mix_u64(uint64_t h, uint64_t v)
{
    uint8_t b[8];
    memcpy(b, &v, sizeof b);
    return fuzz_mix(h, b, sizeof b);
}

static void check_event(const hr_ws_reader_cfg *cfg, const hr_ws_event *ev)
{
    if (ev->data == NULL)
        abort();
    if (ev->type == HR_WS_EV_MESSAGE) {
        if (ev->len > cfg->max_message)
            abort();
        if (ev->opcode != HR_WS_OP_TEXT && ev->opcode != HR_WS_OP_BINARY)
            abort();
        if (ev->compressed && !cfg->allow_rsv1)
            abort();
        if (ev->opcode == HR_WS_OP_TEXT && !ev->compressed && !hr_utf8_valid(ev->data, ev->len))
            abort();
    } else if (ev->len > HR_WS_MAX_CONTROL) {
        abort();
    }
    if (ev->type == HR_WS_EV_CLOSE && ev->close_code != 0 &&
        !hr_ws_close_code_is_valid(ev->close_code))
        abort();
}

static uint64_t fold_event(uint64_t h, const hr_ws_event *ev)
{
    h = mix_u64(h, (uint64_t)ev->type << 16 | (uint64_t)ev->opcode << 8 | ev->compressed);
    h = mix_u64(h, ev->len);
    h = fuzz_mix(h, ev->data, ev->len);
    h = mix_u64(h, ev->close_code);
    h = mix_u64(h, ev->reason_len);
    if (ev->reason != NULL)
        h = fuzz_mix(h, ev->reason, ev->reason_len);
    return h;
}

/* Feeds p[0..n) in pieces of at most chunk bytes (0: all at once). */
static outcome run(const hr_ws_reader_cfg *cfg, const uint8_t *in, size_t n, size_t chunk)
{
    outcome o = {.hash = UINT64_C(0xcbf29ce484222325)};
    uint8_t *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    if (n > 0)
        memcpy(p, in, n);
    hr_ws_reader r;
    hr_ws_reader_init(&r, cfg);
    size_t off = 0;
    while (off < n && o.err == 0) {
        const size_t piece = chunk == 0 || chunk > n - off ? n - off : chunk;
        size_t done = 0;
        while (done < piece) {
            hr_ws_event ev;
            const ssize_t k = hr_ws_reader_feed(&r, p + off + done, piece - done, &ev);
            if (k < 0) {
                o.err = (int)k;
                break;
            }
            if (ev.type == HR_WS_EV_NONE && (size_t)k != piece - done)
                abort();
            if (ev.type != HR_WS_EV_NONE) {
                check_event(cfg, &ev);
                o.hash = fold_event(o.hash, &ev);
                o.events++;
            }
            done += (size_t)k;
        }
        off += piece;
    }
    hr_ws_reader_deinit(&r);
    free(p);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t sel = data[0];
    const hr_ws_reader_cfg cfg = {
        .require_masked = (sel & 1) != 0,
        .allow_rsv1 = (sel & 2) != 0,
        .max_message = (sel & 4) ? 64 : 1 << 20,
    };
    const size_t chunk = (size_t)(sel >> 3);
    const outcome whole = run(&cfg, data + 1, size - 1, 0);
    const outcome pieces = run(&cfg, data + 1, size - 1, chunk == 0 ? 1 : chunk);
    if (whole.hash != pieces.hash || whole.events != pieces.events || whole.err != pieces.err)
        abort();
    return 0;
}

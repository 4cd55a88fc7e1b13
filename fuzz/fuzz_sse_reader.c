/* Fuzz target for the Server-Sent Events reader (lib/proto/sse_reader).
 *
 * Input: byte 0 chooses the configuration, the rest is the event stream.
 *   bit 0   small line cap (64 bytes) instead of the default
 *   bits 1+ chunk size for the second run (0 = one byte at a time)
 * The stream is fed twice, whole and in chunks, each run folding its events
 * into a hash; the two must agree, and every event must keep the reader's
 * promises (views readable, sizes within the bounds). Any mismatch aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sse_reader.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct outcome {
    uint64_t hash;
    size_t events;
    int err;
} outcome;

static uint64_t fold(uint64_t h, const hr_sse_event *ev, size_t max_line)
{
    if (ev->data == NULL ||
        (ev->type == HR_SSE_EV_EVENT &&
         (ev->data_len >= max_line || ev->name == NULL || ev->id == NULL ||
          ev->name_len > HR_SSE_READER_MAX_NAME || ev->id_len > HR_SSE_READER_MAX_ID)))
        abort();
    const uint8_t t = (uint8_t)ev->type;
    h = fuzz_mix(h, &t, 1);
    h = fuzz_mix(h, (const uint8_t *)ev->data, ev->data_len);
    if (ev->type == HR_SSE_EV_EVENT) {
        h = fuzz_mix(h, (const uint8_t *)"|", 1);
        h = fuzz_mix(h, (const uint8_t *)ev->name, ev->name_len);
        h = fuzz_mix(h, (const uint8_t *)"|", 1);
        h = fuzz_mix(h, (const uint8_t *)ev->id, ev->id_len);
    }
    return h;
}

/* Feeds in[0..n) in pieces of at most chunk bytes (0: all at once), each
 * piece from its own heap copy so a view past the piece is caught. */
static outcome run(const uint8_t *in, size_t n, size_t chunk, size_t max_line)
{
    outcome o = {.hash = UINT64_C(0xcbf29ce484222325)};
    hr_sse_reader r;
    hr_sse_reader_init(&r, max_line);
    size_t off = 0;
    while (off < n && o.err == 0) {
        const size_t piece = chunk == 0 || chunk > n - off ? n - off : chunk;
        uint8_t *p = malloc(piece);
        if (p == NULL)
            abort();
        memcpy(p, in + off, piece);
        size_t done = 0;
        while (done < piece) {
            hr_sse_event ev;
            const ssize_t k = hr_sse_reader_feed(&r, p + done, piece - done, &ev);
            if (k < 0) {
                o.err = (int)k;
                break;
            }
            if (ev.type == HR_SSE_EV_NONE && (size_t)k != piece - done)
                abort();
            if (ev.type != HR_SSE_EV_NONE) {
                o.hash = fold(o.hash, &ev, max_line);
                o.events++;
            }
            done += (size_t)k;
        }
        hr_sse_reader_release(&r);
        free(p);
        off += piece;
    }
    hr_sse_reader_deinit(&r);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t sel = data[0];
    const size_t max_line = (sel & 1) ? 64 : 1 << 20;
    const size_t chunk = (size_t)(sel >> 1);
    const outcome whole = run(data + 1, size - 1, 0, max_line);
    const outcome pieces = run(data + 1, size - 1, chunk == 0 ? 1 : chunk, max_line);
    /* A line cut by a piece's end is buffered and so capped where the whole
     * run reads it in place: only error-free runs must agree. */
    if (whole.err == 0 && pieces.err == 0 &&
        (whole.hash != pieces.hash || whole.events != pieces.events))
        abort();
    return 0;
}

/* Fuzz target for the herald-link codec (lib/proto/link).
 *
 * Input: byte 0 picks the payload cap (bit 0: 64 bytes, else 1 MiB) and the
 * chunk size of the second run (bits 1+, 0 = one byte at a time); the rest is
 * a stream of frames. Run 1 parses the stream whole; run 2 feeds it in chunks
 * into a growing copy and parses after each chunk. Both fold their frames
 * into a hash and must agree. Every frame parsed is re-encoded with the
 * writers and must parse back to the same bytes (round trip). Any mismatch
 * aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "proto/link.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct outcome {
    uint64_t hash;
    size_t frames;
    int err;
} outcome;

static int rewrite_bcast(const hr_link_frame *f, hr_buf *b)
{
    uint32_t *ids = malloc(f->n_ids * sizeof *ids);
    if (ids == NULL)
        abort();
    for (size_t i = 0; i < f->n_ids; i++)
        ids[i] = hr_link_bcast_id(f, i);
    const int rc = hr_link_write_bcast(b, f->opcode, ids, f->n_ids, f->message.p, f->message.len);
    free(ids);
    return rc;
}

static int rewrite_credits(const hr_link_frame *f, hr_buf *b)
{
    hr_link_credit *pairs = malloc(f->n_credits * sizeof *pairs);
    if (pairs == NULL)
        abort();
    for (size_t i = 0; i < f->n_credits; i++)
        pairs[i] = hr_link_credits_at(f, i);
    const int rc = hr_link_write_credits(b, pairs, f->n_credits);
    free(pairs);
    return rc;
}

static int rewrite(const hr_link_frame *f, hr_buf *b)
{
    switch (f->type) {
    case HR_LINK_HELLO:
        return hr_link_write_hello(b);
    case HR_LINK_OPEN:
        return hr_link_write_open(b, f->session, &f->open);
    case HR_LINK_DATA:
        return hr_link_write_data(b, f->session, f->opcode, f->payload.p, f->payload.len);
    case HR_LINK_CLOSE:
        return hr_link_write_close(b, f->session, f->close_code, (const char *)f->reason.p,
                                   f->reason.len);
    case HR_LINK_PAUSE:
    case HR_LINK_RESUME:
        return hr_link_write_flow(b, f->type, f->session);
    case HR_LINK_CREDIT:
        return hr_link_write_credit(b, f->session, f->credit);
    case HR_LINK_BCAST:
        return rewrite_bcast(f, b);
    case HR_LINK_CREDITS:
        return rewrite_credits(f, b);
    default:
        return hr_link_write_ping(b, f->type, f->ping);
    }
}

/* The frame p[0..n) re-encoded must be the same bytes. */
static void round_trip(const uint8_t *p, size_t n, const hr_link_frame *f)
{
    if (f->type == HR_LINK_HELLO && f->version != HR_LINK_VERSION)
        return; /* an older peer's HELLO: we only write our own version */
    hr_buf b;
    hr_buf_init(&b, n + 16);
    if (rewrite(f, &b) != 0 || b.len != n || memcmp(hr_buf_data(&b), p, n) != 0)
        abort();
    hr_buf_deinit(&b);
}

static void check(const hr_link_frame *f, int rc, size_t max)
{
    if (f->payload.len > max || (size_t)rc != HR_LINK_HEADER + f->payload.len)
        abort();
    if (f->type == HR_LINK_OPEN && (f->open.n_headers > HR_LINK_MAX_HEADERS ||
                                    f->open.stream != ((f->flags & HR_LINK_OPEN_STREAM) != 0)))
        abort();
    if (f->type == HR_LINK_CLOSE && (f->close_code < 1000 || f->close_code > 4999))
        abort();
    if (f->type == HR_LINK_BCAST &&
        (f->n_ids == 0 || f->n_ids > HR_LINK_MAX_BCAST ||
         f->message.p + f->message.len != f->payload.p + f->payload.len))
        abort();
    if (f->type == HR_LINK_CREDITS && (f->n_credits == 0 || f->n_credits > HR_LINK_MAX_CREDITS ||
                                       f->n_credits * 8 != f->payload.len))
        abort();
}

/* Parses frames from p[0..len) until an error or the end; returns bytes used. */
static size_t parse_all(const uint8_t *p, size_t len, size_t max, outcome *o, bool verify)
{
    size_t off = 0;
    while (o->err == 0) {
        hr_link_frame f;
        const int rc = hr_link_parse(p + off, len - off, max, &f);
        if (rc < 0)
            o->err = rc;
        if (rc <= 0)
            break;
        check(&f, rc, max);
        if (verify)
            round_trip(p + off, (size_t)rc, &f);
        o->hash = fuzz_mix(o->hash, p + off, (size_t)rc);
        o->frames++;
        off += (size_t)rc;
    }
    return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const size_t max = (data[0] & 1) ? 64 : (size_t)1 << 20;
    const size_t chunk = data[0] >> 1;
    const uint8_t *s = data + 1;
    const size_t n = size - 1;

    outcome whole = {UINT64_C(0xcbf29ce484222325), 0, 0};
    parse_all(s, n, max, &whole, true);

    outcome parts = {UINT64_C(0xcbf29ce484222325), 0, 0};
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL)
        return 0;
    size_t have = 0, used = 0;
    while (have < n && parts.err == 0) {
        const size_t step = chunk == 0 ? 1 : chunk;
        const size_t take = n - have < step ? n - have : step;
        memcpy(buf + have, s + have, take);
        have += take;
        used += parse_all(buf + used, have - used, max, &parts, false);
    }
    free(buf);
    if (whole.hash != parts.hash || whole.frames != parts.frames || whole.err != parts.err)
        abort();
    return 0;
}

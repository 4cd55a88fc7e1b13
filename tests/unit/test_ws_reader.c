/* Unit tests for lib/proto/ws_reader: RFC 6455 §5.7 examples, fragmentation
 * with interleaved control frames, every error, and the parser habits of
 * STYLE.md §12: each stream is fed whole, split at every offset and one byte
 * at a time, each piece in an exactly sized heap block, and the recorded
 * events (payloads copied out) must be identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/ws_reader.h"

/* ---- stream building ---- */

typedef struct stream {
    uint8_t *p;
    size_t len, cap;
    unsigned nframes;
} stream;

static void stream_init(stream *s, size_t cap)
{
    s->p = malloc(cap);
    assert_non_null(s->p);
    s->len = 0;
    s->cap = cap;
    s->nframes = 0;
}

static void stream_raw(stream *s, const void *p, size_t n)
{
    assert_true(s->len + n <= s->cap);
    memcpy(s->p + s->len, p, n);
    s->len += n;
}

/* Appends a frame, masked with a per-frame key when masked is true. */
static void stream_frame(stream *s, uint8_t op, bool fin, bool rsv1, const void *payload, size_t n,
                         bool masked)
{
    const uint8_t k = (uint8_t)(s->nframes++ * 37 + 11);
    const uint8_t mask[4] = {k, (uint8_t)(k ^ 0x5A), (uint8_t)(k + 1), 0xC3};
    if (masked) {
        const size_t w = hr_ws_frame_client_write(s->p + s->len, s->cap - s->len, op, fin, rsv1,
                                                  payload, n, mask);
        assert_true(w > 0);
        s->len += w;
        return;
    }
    uint8_t head[HR_WS_MAX_HEADER];
    const size_t h = hr_ws_frame_write_header(head, op, fin, rsv1, n, NULL);
    stream_raw(s, head, h);
    if (n > 0)
        stream_raw(s, payload, n);
}

static void stream_str(stream *s, uint8_t op, bool fin, const char *str, bool masked)
{
    stream_frame(s, op, fin, false, str, strlen(str), masked);
}

/* ---- recording ---- */

typedef struct rec_ev {
    hr_ws_ev_type type;
    uint8_t opcode;
    bool compressed;
    uint8_t *data;
    size_t len;
    uint16_t code;
    uint8_t *reason;
    size_t reason_len;
} rec_ev;

typedef struct rec {
    rec_ev ev[64];
    size_t n;
    int err;
} rec;

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    assert_non_null(d);
    if (n > 0)
        memcpy(d, p, n);
    return d;
}

static void rec_free(rec *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ev[i].data);
        free(r->ev[i].reason);
    }
    r->n = 0;
}

static void rec_add(rec *r, const hr_ws_event *ev)
{
    assert_true(r->n < HR_ARRAY_LEN(r->ev));
    assert_non_null(ev->data);
    rec_ev *e = &r->ev[r->n++];
    *e = (rec_ev){.type = ev->type,
                  .opcode = ev->opcode,
                  .compressed = ev->compressed,
                  .data = dup_bytes(ev->data, ev->len),
                  .len = ev->len,
                  .code = ev->close_code,
                  .reason_len = ev->reason_len};
    if (ev->reason != NULL)
        e->reason = dup_bytes(ev->reason, ev->reason_len);
}

/* Feeds one piece from an exactly sized heap copy, looping like a caller. */
static void feed_piece(hr_ws_reader *r, rec *out, const uint8_t *p, size_t n)
{
    if (out->err != 0)
        return;
    uint8_t *copy = dup_bytes(p, n);
    size_t off = 0;
    do {
        hr_ws_event ev;
        const ssize_t k = hr_ws_reader_feed(r, copy + off, n - off, &ev);
        if (k < 0) {
            out->err = (int)k;
            break;
        }
        assert_true((size_t)k <= n - off);
        if (ev.type == HR_WS_EV_NONE)
            assert_int_equal((size_t)k, n - off);
        else
            rec_add(out, &ev);
        off += (size_t)k;
    } while (off < n);
    free(copy);
}

/* Feeds in[0..n) in pieces of at most chunk bytes (0: whole), first cut at
 * split when split > 0. */
static void run(const hr_ws_reader_cfg *cfg, const uint8_t *in, size_t n, size_t split,
                size_t chunk, rec *out)
{
    memset(out, 0, sizeof *out);
    hr_ws_reader r;
    hr_ws_reader_init(&r, cfg);
    size_t off = 0;
    if (split > 0 && split < n) {
        feed_piece(&r, out, in, split);
        off = split;
    }
    while (off < n) {
        const size_t k = chunk == 0 || chunk > n - off ? n - off : chunk;
        feed_piece(&r, out, in + off, k);
        off += k;
    }
    hr_ws_reader_deinit(&r);
}

static void assert_rec_equal(const rec *a, const rec *b)
{
    assert_int_equal(a->err, b->err);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const rec_ev *x = &a->ev[i], *y = &b->ev[i];
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->opcode, y->opcode);
        assert_int_equal(x->compressed, y->compressed);
        assert_int_equal(x->len, y->len);
        assert_memory_equal(x->data, y->data, x->len);
        assert_int_equal(x->code, y->code);
        assert_int_equal(x->reason_len, y->reason_len);
        assert_int_equal(x->reason == NULL, y->reason == NULL);
        if (x->reason_len > 0)
            assert_memory_equal(x->reason, y->reason, x->reason_len);
    }
}

/* Whole, every split, byte by byte, and a few chunk sizes all agree.
 * Leaves the whole-input result in *out. */
static void run_all_ways(const hr_ws_reader_cfg *cfg, const uint8_t *in, size_t n, rec *out)
{
    run(cfg, in, n, 0, 0, out);
    rec other;
    for (size_t k = 1; k < n; k++) {
        run(cfg, in, n, k, 0, &other);
        assert_rec_equal(out, &other);
        rec_free(&other);
    }
    static const size_t chunks[] = {1, 2, 3, 7, 13, 64};
    for (size_t i = 0; i < HR_ARRAY_LEN(chunks); i++) {
        run(cfg, in, n, 0, chunks[i], &other);
        assert_rec_equal(out, &other);
        rec_free(&other);
    }
}

static const hr_ws_reader_cfg server_cfg = {.max_message = 1 << 20, .require_masked = true};
static const hr_ws_reader_cfg client_cfg = {.max_message = 1 << 20, .require_masked = false};
static const hr_ws_reader_cfg deflate_cfg = {
    .max_message = 1 << 20, .require_masked = true, .allow_rsv1 = true};

static void assert_message(const rec_ev *e, uint8_t op, const void *data, size_t len)
{
    assert_int_equal(e->type, HR_WS_EV_MESSAGE);
    assert_int_equal(e->opcode, op);
    assert_int_equal(e->len, len);
    if (len > 0)
        assert_memory_equal(e->data, data, len);
}

/* ---- RFC 6455 §5.7 ---- */

static void test_ws_reader_rfc_unmasked_hello(void **state)
{
    const uint8_t in[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    rec out;
    run_all_ways(&client_cfg, in, sizeof in, &out);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.n, 1);
    assert_message(&out.ev[0], HR_WS_OP_TEXT, "Hello", 5);
    assert_false(out.ev[0].compressed);
    rec_free(&out);
}

static void test_ws_reader_rfc_masked_hello(void **state)
{
    const uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    rec out;
    run_all_ways(&server_cfg, in, sizeof in, &out);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.n, 1);
    assert_message(&out.ev[0], HR_WS_OP_TEXT, "Hello", 5);
    rec_free(&out);
}

static void test_ws_reader_rfc_fragmented_hello(void **state)
{
    const uint8_t in[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    rec out;
    run_all_ways(&client_cfg, in, sizeof in, &out);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.n, 1);
    assert_message(&out.ev[0], HR_WS_OP_TEXT, "Hello", 5);
    rec_free(&out);
}

static void test_ws_reader_rfc_ping_pong(void **state)
{
    const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    rec out;
    run_all_ways(&client_cfg, ping, sizeof ping, &out);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.ev[0].type, HR_WS_EV_PING);
    assert_int_equal(out.ev[0].opcode, HR_WS_OP_PING);
    assert_memory_equal(out.ev[0].data, "Hello", 5);
    rec_free(&out);
    run_all_ways(&server_cfg, pong, sizeof pong, &out);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.ev[0].type, HR_WS_EV_PONG);
    assert_int_equal(out.ev[0].len, 5);
    assert_memory_equal(out.ev[0].data, "Hello", 5);
    rec_free(&out);
}

static void test_ws_reader_rfc_256_bytes(void **state)
{
    uint8_t payload[256];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)i;
    stream s;
    stream_init(&s, 512);
    const uint8_t head[] = {0x82, 0x7E, 0x01, 0x00};
    stream_raw(&s, head, sizeof head);
    stream_raw(&s, payload, sizeof payload);
    rec out;
    run_all_ways(&client_cfg, s.p, s.len, &out);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.n, 1);
    assert_message(&out.ev[0], HR_WS_OP_BINARY, payload, sizeof payload);
    rec_free(&out);
    free(s.p);
}

static void test_ws_reader_rfc_64k(void **state)
{
    const size_t n = 65536;
    uint8_t *payload = malloc(n);
    assert_non_null(payload);
    for (size_t i = 0; i < n; i++)
        payload[i] = (uint8_t)(i * 31 + (i >> 8));
    stream s;
    stream_init(&s, n + 64);
    stream_frame(&s, HR_WS_OP_BINARY, true, false, payload, n, true);
    assert_int_equal(s.p[1], 0xFF); /* masked, 64-bit length */
    rec whole, other;
    run(&server_cfg, s.p, s.len, 0, 0, &whole);
    assert_int_equal(whole.err, 0);
    assert_int_equal(whole.n, 1);
    assert_message(&whole.ev[0], HR_WS_OP_BINARY, payload, n);
    static const size_t chunks[] = {1, 5, 4096, 65535};
    for (size_t i = 0; i < HR_ARRAY_LEN(chunks); i++) {
        run(&server_cfg, s.p, s.len, 0, chunks[i], &other);
        assert_rec_equal(&whole, &other);
        rec_free(&other);
    }
    for (size_t k = 1; k < 20; k++) {
        run(&server_cfg, s.p, s.len, k, 0, &other);
        assert_rec_equal(&whole, &other);
        rec_free(&other);
    }
    rec_free(&whole);
    free(s.p);
    free(payload);
}

/* ---- a mixed conversation, both sides ---- */

static void build_conversation(stream *s, bool masked)
{
    stream_init(s, 4096);
    /* "café €!" in three fragments, characters split across them, with a
     * ping and an empty pong between the fragments. */
    stream_str(s, HR_WS_OP_TEXT, false, "caf\xc3", masked);
    stream_str(s, HR_WS_OP_PING, true, "p", masked);
    stream_str(s, HR_WS_OP_CONT, false, "\xa9 \xe2\x82", masked);
    stream_str(s, HR_WS_OP_PONG, true, "", masked);
    stream_str(s, HR_WS_OP_CONT, false, "", masked);
    stream_str(s, HR_WS_OP_CONT, true, "\xac!", masked);
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(255 - i);
    stream_frame(s, HR_WS_OP_BINARY, true, false, bin, sizeof bin, masked);
    stream_str(s, HR_WS_OP_TEXT, true, "", masked);
    stream_str(s, HR_WS_OP_BINARY, false, "", masked);
    stream_str(s, HR_WS_OP_CONT, true, "", masked);
    stream_str(s, HR_WS_OP_TEXT, true, "Hello", masked);
    stream_str(s, HR_WS_OP_CLOSE, true,
               "\x03\xe8"
               "done",
               masked);
    stream_raw(s, "\xff\xff garbage after close", 22);
}

static void check_conversation(const rec *out)
{
    assert_int_equal(out->err, 0);
    assert_int_equal(out->n, 8);
    assert_int_equal(out->ev[0].type, HR_WS_EV_PING);
    assert_memory_equal(out->ev[0].data, "p", 1);
    assert_int_equal(out->ev[1].type, HR_WS_EV_PONG);
    assert_int_equal(out->ev[1].len, 0);
    assert_message(&out->ev[2], HR_WS_OP_TEXT, "caf\xc3\xa9 \xe2\x82\xac!", 10);
    assert_int_equal(out->ev[3].len, 300);
    assert_int_equal(out->ev[3].data[0], 255);
    assert_message(&out->ev[4], HR_WS_OP_TEXT, "", 0);
    assert_message(&out->ev[5], HR_WS_OP_BINARY, "", 0);
    assert_message(&out->ev[6], HR_WS_OP_TEXT, "Hello", 5);
    assert_int_equal(out->ev[7].type, HR_WS_EV_CLOSE);
    assert_int_equal(out->ev[7].code, 1000);
    assert_int_equal(out->ev[7].reason_len, 4);
    assert_memory_equal(out->ev[7].reason, "done", 4);
    assert_int_equal(out->ev[7].len, 6);
}

static void test_ws_reader_conversation_server(void **state)
{
    stream s;
    build_conversation(&s, true);
    rec out;
    run_all_ways(&server_cfg, s.p, s.len, &out);
    check_conversation(&out);
    rec_free(&out);
    free(s.p);
}

static void test_ws_reader_conversation_client(void **state)
{
    stream s;
    build_conversation(&s, false);
    rec out;
    run_all_ways(&client_cfg, s.p, s.len, &out);
    check_conversation(&out);
    rec_free(&out);
    free(s.p);
}

/* With permessage-deflate, RSV1 on the first frame marks the message
 * compressed and its (deflated, so arbitrary) bytes are not UTF-8 checked. */
static void test_ws_reader_compressed_message(void **state)
{
    stream s;
    stream_init(&s, 256);
    stream_frame(&s, HR_WS_OP_TEXT, false, true, "\xff\xfe", 2, true);
    stream_str(&s, HR_WS_OP_PING, true, "", true);
    stream_frame(&s, HR_WS_OP_CONT, true, false, "\xc0", 1, true);
    stream_frame(&s, HR_WS_OP_BINARY, true, true, "\x00\x01", 2, true);
    stream_str(&s, HR_WS_OP_TEXT, true, "plain", true);
    rec out;
    run_all_ways(&deflate_cfg, s.p, s.len, &out);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.n, 4);
    assert_message(&out.ev[1], HR_WS_OP_TEXT, "\xff\xfe\xc0", 3);
    assert_true(out.ev[1].compressed);
    assert_message(&out.ev[2], HR_WS_OP_BINARY, "\x00\x01", 2);
    assert_true(out.ev[2].compressed);
    assert_message(&out.ev[3], HR_WS_OP_TEXT, "plain", 5);
    assert_false(out.ev[3].compressed);
    rec_free(&out);
    free(s.p);
}

/* ---- errors ---- */

static void expect_error(const hr_ws_reader_cfg *cfg, const stream *s, int err)
{
    rec out;
    run_all_ways(cfg, s->p, s->len, &out);
    assert_int_equal(out.err, err);
    rec_free(&out);
}

static void test_ws_reader_reserved_bits(void **state)
{
    static const uint8_t heads[][2] = {
        {0xA1, 0x80}, /* RSV2 */
        {0x91, 0x80}, /* RSV3 */
        {0xC1, 0x80}, /* RSV1 without deflate */
    };
    for (size_t i = 0; i < HR_ARRAY_LEN(heads); i++) {
        stream s;
        stream_init(&s, 16);
        stream_raw(&s, heads[i], 2);
        stream_raw(&s, "\1\2\3\4", 4);
        expect_error(&server_cfg, &s, HR_EPROTO);
        if (i < 2)
            expect_error(&deflate_cfg, &s, HR_EPROTO);
        free(s.p);
    }
}

static void test_ws_reader_rsv1_only_on_first_data_frame(void **state)
{
    stream s;
    stream_init(&s, 64);
    stream_frame(&s, HR_WS_OP_TEXT, false, true, "a", 1, true);
    stream_frame(&s, HR_WS_OP_CONT, true, true, "b", 1, true);
    expect_error(&deflate_cfg, &s, HR_EPROTO);
    free(s.p);
    stream_init(&s, 64);
    stream_frame(&s, HR_WS_OP_PING, true, true, "a", 1, true);
    expect_error(&deflate_cfg, &s, HR_EPROTO);
    free(s.p);
}

static void test_ws_reader_reserved_opcodes(void **state)
{
    for (uint8_t op = 3; op < 16; op++) {
        if (op >= 8 && op <= 10)
            continue;
        stream s;
        stream_init(&s, 16);
        stream_frame(&s, op, true, false, "", 0, true);
        expect_error(&server_cfg, &s, HR_EPROTO);
        free(s.p);
    }
}

static void test_ws_reader_masking_rules(void **state)
{
    stream s;
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_TEXT, true, "hi", false);
    expect_error(&server_cfg, &s, HR_EPROTO);
    free(s.p);
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_TEXT, true, "hi", true);
    expect_error(&client_cfg, &s, HR_EPROTO);
    free(s.p);
}

static void test_ws_reader_fragmentation_order(void **state)
{
    stream s;
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_CONT, true, "x", true); /* CONT without a message */
    expect_error(&server_cfg, &s, HR_EPROTO);
    free(s.p);
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_TEXT, false, "x", true);
    stream_str(&s, HR_WS_OP_BINARY, true, "y", true); /* new message while open */
    expect_error(&server_cfg, &s, HR_EPROTO);
    free(s.p);
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_TEXT, true, "x", true);
    stream_str(&s, HR_WS_OP_CONT, true, "y", true); /* CONT after a finished message */
    rec out;
    run_all_ways(&server_cfg, s.p, s.len, &out);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.err, HR_EPROTO);
    rec_free(&out);
    free(s.p);
}

static void test_ws_reader_control_frame_rules(void **state)
{
    const uint8_t fragmented_ping[] = {0x09, 0x80, 1, 2, 3, 4};
    const uint8_t long_ping[] = {0x89, 0xFE, 0x00, 0x7E};
    stream s;
    stream_init(&s, 256);
    stream_raw(&s, fragmented_ping, sizeof fragmented_ping);
    expect_error(&server_cfg, &s, HR_EPROTO);
    free(s.p);
    stream_init(&s, 256);
    stream_raw(&s, long_ping, sizeof long_ping);
    expect_error(&server_cfg, &s, HR_EPROTO);
    free(s.p);
    /* 125 bytes is the largest control payload. */
    char big[126];
    memset(big, 'z', 125);
    big[125] = '\0';
    stream_init(&s, 256);
    stream_str(&s, HR_WS_OP_PING, true, big, true);
    rec out;
    run_all_ways(&server_cfg, s.p, s.len, &out);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.ev[0].len, 125);
    rec_free(&out);
    free(s.p);
}

static void test_ws_reader_non_minimal_length(void **state)
{
    const uint8_t in[] = {0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
    stream s;
    stream_init(&s, 64);
    stream_raw(&s, in, sizeof in);
    expect_error(&server_cfg, &s, HR_EPROTO);
    free(s.p);
    const uint8_t msb[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    stream_init(&s, 64);
    stream_raw(&s, msb, sizeof msb);
    expect_error(&server_cfg, &s, HR_EPROTO);
    free(s.p);
}

/* The size cap is enforced from the headers alone: the payload need not
 * arrive. */
static void test_ws_reader_too_big_from_header(void **state)
{
    const hr_ws_reader_cfg cfg = {.max_message = 10, .require_masked = true};
    stream s;
    stream_init(&s, 64);
    const uint8_t head[] = {0x82, 0x8B, 1, 2, 3, 4}; /* 11 bytes announced */
    stream_raw(&s, head, sizeof head);
    expect_error(&cfg, &s, HR_ETOOBIG);
    free(s.p);

    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_TEXT, false, "123456", true);
    stream_str(&s, HR_WS_OP_PING, true, "0123456789abc", true); /* control: not counted */
    const uint8_t cont[] = {0x80, 0x85, 1, 2, 3, 4};            /* 6 + 5 > 10 */
    stream_raw(&s, cont, sizeof cont);
    rec out;
    run_all_ways(&cfg, s.p, s.len, &out);
    assert_int_equal(out.err, HR_ETOOBIG);
    assert_int_equal(out.n, 1);
    rec_free(&out);
    free(s.p);

    /* Exactly the cap is fine, over fragments too. */
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_TEXT, false, "12345", true);
    stream_str(&s, HR_WS_OP_CONT, true, "67890", true);
    run_all_ways(&cfg, s.p, s.len, &out);
    assert_int_equal(out.err, 0);
    assert_message(&out.ev[0], HR_WS_OP_TEXT, "1234567890", 10);
    rec_free(&out);
    free(s.p);
}

static void test_ws_reader_default_cap(void **state)
{
    const hr_ws_reader_cfg cfg = {.require_masked = false};
    uint8_t head[HR_WS_MAX_HEADER];
    const size_t h = hr_ws_frame_write_header(head, HR_WS_OP_BINARY, true, false,
                                              HR_WS_READER_DEFAULT_MAX_MESSAGE + 1, NULL);
    stream s;
    stream_init(&s, 64);
    stream_raw(&s, head, h);
    expect_error(&cfg, &s, HR_ETOOBIG);
    free(s.p);
}

/* Invalid UTF-8 is reported as soon as its bytes arrive. */
static void test_ws_reader_utf8_fails_fast(void **state)
{
    hr_ws_reader r;
    hr_ws_reader_init(&r, &client_cfg);
    uint8_t in[] = {0x01, 0x0A, 'o', 'k', 0xC0};
    hr_ws_event ev;
    assert_int_equal(hr_ws_reader_feed(&r, in, 4, &ev), 4);
    assert_int_equal(ev.type, HR_WS_EV_NONE);
    assert_int_equal(hr_ws_reader_feed(&r, in + 4, 1, &ev), HR_EUTF8);
    /* Sticky. */
    assert_int_equal(hr_ws_reader_feed(&r, in, 1, &ev), HR_EUTF8);
    hr_ws_reader_deinit(&r);

    stream s;
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_TEXT, false, "a\xed", true);
    stream_str(&s, HR_WS_OP_CONT, false, "\xa0\x80", true); /* surrogate across fragments */
    expect_error(&server_cfg, &s, HR_EUTF8);
    free(s.p);
}

static void test_ws_reader_utf8_truncated_at_end(void **state)
{
    stream s;
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_TEXT, false, "\xe2", true);
    stream_str(&s, HR_WS_OP_CONT, true, "\x82", true);
    expect_error(&server_cfg, &s, HR_EUTF8);
    free(s.p);
    /* Binary messages are not checked. */
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_BINARY, false, "\xe2", true);
    stream_str(&s, HR_WS_OP_CONT, true, "\x82", true);
    rec out;
    run_all_ways(&server_cfg, s.p, s.len, &out);
    assert_int_equal(out.err, 0);
    assert_message(&out.ev[0], HR_WS_OP_BINARY, "\xe2\x82", 2);
    rec_free(&out);
    free(s.p);
}

static void test_ws_reader_utf8_overlong_and_too_high(void **state)
{
    static const char *bad[] = {"\xc0\xaf", "\xe0\x80\xaf", "\xf4\x90\x80\x80", "\xed\xbf\xbf"};
    for (size_t i = 0; i < HR_ARRAY_LEN(bad); i++) {
        stream s;
        stream_init(&s, 64);
        stream_str(&s, HR_WS_OP_TEXT, true, bad[i], true);
        expect_error(&server_cfg, &s, HR_EUTF8);
        free(s.p);
    }
}

static void test_ws_reader_close_payloads(void **state)
{
    static const struct {
        const char *payload;
        size_t len;
        int err;
        uint16_t code;
    } cases[] = {
        {"", 0, 0, 0},
        {"\x03", 1, HR_EPROTO, 0},
        {"\x03\xe8", 2, 0, 1000},
        {"\x03\xed", 2, HR_EPROTO, 0}, /* 1005 */
        {"\x03\xee", 2, HR_EPROTO, 0}, /* 1006 */
        {"\x03\xf7", 2, HR_EPROTO, 0}, /* 1015 */
        {"\x03\xe7", 2, HR_EPROTO, 0}, /* 999 */
        {"\x0b\xb8", 2, 0, 3000},
        {"\x13\x87", 2, 0, 4999},
        {"\x13\x88", 2, HR_EPROTO, 0}, /* 5000 */
        {"\x03\xe8\xce\xba", 4, 0, 1000},
        {"\x03\xe8\xce", 3, HR_EUTF8, 0},
        {"\x03\xe8\xff", 3, HR_EUTF8, 0},
    };
    for (size_t i = 0; i < HR_ARRAY_LEN(cases); i++) {
        stream s;
        stream_init(&s, 64);
        stream_frame(&s, HR_WS_OP_CLOSE, true, false, cases[i].payload, cases[i].len, true);
        rec out;
        run_all_ways(&server_cfg, s.p, s.len, &out);
        assert_int_equal(out.err, cases[i].err);
        if (cases[i].err == 0) {
            assert_int_equal(out.n, 1);
            assert_int_equal(out.ev[0].type, HR_WS_EV_CLOSE);
            assert_int_equal(out.ev[0].code, cases[i].code);
            assert_int_equal(out.ev[0].reason_len, cases[i].len > 2 ? cases[i].len - 2 : 0);
        }
        rec_free(&out);
        free(s.p);
    }
}

/* A close in the middle of a fragmented message ends the reading. */
static void test_ws_reader_close_mid_message(void **state)
{
    stream s;
    stream_init(&s, 64);
    stream_str(&s, HR_WS_OP_TEXT, false, "part", true);
    stream_str(&s, HR_WS_OP_CLOSE, true, "\x03\xe9", true);
    stream_str(&s, HR_WS_OP_CONT, true, "rest", true);
    rec out;
    run_all_ways(&server_cfg, s.p, s.len, &out);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.ev[0].type, HR_WS_EV_CLOSE);
    assert_int_equal(out.ev[0].code, 1001);
    rec_free(&out);
    free(s.p);
}

/* ---- memory and views ---- */

static void test_ws_reader_whole_frame_is_a_view(void **state)
{
    hr_ws_reader r;
    hr_ws_reader_init(&r, &server_cfg);
    uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    hr_ws_event ev;
    assert_int_equal(hr_ws_reader_feed(&r, in, sizeof in, &ev), sizeof in);
    assert_int_equal(ev.type, HR_WS_EV_MESSAGE);
    assert_ptr_equal(ev.data, in + 6);
    assert_memory_equal(in + 6, "Hello", 5); /* unmasked in place */
    assert_null(r.msg.base);
    assert_true(hr_ws_reader_is_idle(&r));
    hr_ws_reader_deinit(&r);
}

/* Only consumed bytes are unmasked: the rest of the input is left as it was,
 * so a caller may keep it and feed it again. */
static void test_ws_reader_leaves_unconsumed_bytes(void **state)
{
    stream s;
    stream_init(&s, 128);
    stream_str(&s, HR_WS_OP_TEXT, true, "first", true);
    const size_t first_len = s.len;
    stream_str(&s, HR_WS_OP_BINARY, true, "second", true);
    uint8_t *orig = dup_bytes(s.p, s.len);
    hr_ws_reader r;
    hr_ws_reader_init(&r, &server_cfg);
    hr_ws_event ev;
    assert_int_equal(hr_ws_reader_feed(&r, s.p, s.len, &ev), first_len);
    assert_int_equal(ev.type, HR_WS_EV_MESSAGE);
    assert_memory_equal(ev.data, "first", 5);
    assert_memory_equal(s.p + first_len, orig + first_len, s.len - first_len);
    assert_int_equal(hr_ws_reader_feed(&r, s.p + first_len, s.len - first_len, &ev),
                     s.len - first_len);
    assert_int_equal(ev.opcode, HR_WS_OP_BINARY);
    assert_memory_equal(ev.data, "second", 6);
    hr_ws_reader_release(&r);
    hr_ws_reader_release(&r);
    hr_ws_reader_deinit(&r);
    hr_ws_reader_deinit(&r);
    free(orig);
    free(s.p);
}

static void test_ws_reader_idle_holds_no_memory(void **state)
{
    hr_ws_reader r;
    hr_ws_reader_init(&r, &client_cfg);
    assert_true(hr_ws_reader_is_idle(&r));
    uint8_t in[] = {0x02, 0x02, 'a', 'b', 0x80, 0x01, 'c', 0x82};
    hr_ws_event ev;
    assert_int_equal(hr_ws_reader_feed(&r, in, 4, &ev), 4);
    assert_int_equal(ev.type, HR_WS_EV_NONE);
    assert_false(hr_ws_reader_is_idle(&r));
    assert_non_null(r.msg.base);
    assert_int_equal(hr_ws_reader_feed(&r, in + 4, 4, &ev), 3);
    assert_int_equal(ev.type, HR_WS_EV_MESSAGE);
    assert_int_equal(ev.len, 3);
    assert_memory_equal(ev.data, "abc", 3);
    assert_true(hr_ws_reader_is_idle(&r));
    hr_ws_reader_release(&r);
    assert_null(r.msg.base);
    /* A partial header: not idle, still no heap memory. */
    assert_int_equal(hr_ws_reader_feed(&r, in + 7, 1, &ev), 1);
    assert_false(hr_ws_reader_is_idle(&r));
    assert_null(r.msg.base);
    hr_ws_reader_deinit(&r);
}

static void test_ws_reader_empty_feed_and_after_close(void **state)
{
    hr_ws_reader r;
    hr_ws_reader_init(&r, &client_cfg);
    hr_ws_event ev;
    assert_int_equal(hr_ws_reader_feed(&r, NULL, 0, &ev), 0);
    assert_int_equal(ev.type, HR_WS_EV_NONE);
    uint8_t in[] = {0x88, 0x00, 0x81, 0x01, 'x', 0xFF};
    assert_int_equal(hr_ws_reader_feed(&r, in, sizeof in, &ev), 2);
    assert_int_equal(ev.type, HR_WS_EV_CLOSE);
    assert_int_equal(ev.close_code, 0);
    assert_null(ev.reason);
    assert_int_equal(hr_ws_reader_feed(&r, in + 2, 4, &ev), 4);
    assert_int_equal(ev.type, HR_WS_EV_NONE);
    hr_ws_reader_deinit(&r);
}

static void test_ws_reader_error_releases_memory(void **state)
{
    hr_ws_reader r;
    hr_ws_reader_init(&r, &client_cfg);
    uint8_t in[] = {0x01, 0x02, 'a', 'b', 0x81, 0x00};
    hr_ws_event ev;
    assert_int_equal(hr_ws_reader_feed(&r, in, sizeof in, &ev), HR_EPROTO);
    assert_null(r.msg.base);
    assert_int_equal(hr_ws_close_code_for(HR_EPROTO), 1002);
    hr_ws_reader_deinit(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_reader_rfc_unmasked_hello),
        cmocka_unit_test(test_ws_reader_rfc_masked_hello),
        cmocka_unit_test(test_ws_reader_rfc_fragmented_hello),
        cmocka_unit_test(test_ws_reader_rfc_ping_pong),
        cmocka_unit_test(test_ws_reader_rfc_256_bytes),
        cmocka_unit_test(test_ws_reader_rfc_64k),
        cmocka_unit_test(test_ws_reader_conversation_server),
        cmocka_unit_test(test_ws_reader_conversation_client),
        cmocka_unit_test(test_ws_reader_compressed_message),
        cmocka_unit_test(test_ws_reader_reserved_bits),
        cmocka_unit_test(test_ws_reader_rsv1_only_on_first_data_frame),
        cmocka_unit_test(test_ws_reader_reserved_opcodes),
        cmocka_unit_test(test_ws_reader_masking_rules),
        cmocka_unit_test(test_ws_reader_fragmentation_order),
        cmocka_unit_test(test_ws_reader_control_frame_rules),
        cmocka_unit_test(test_ws_reader_non_minimal_length),
        cmocka_unit_test(test_ws_reader_too_big_from_header),
        cmocka_unit_test(test_ws_reader_default_cap),
        cmocka_unit_test(test_ws_reader_utf8_fails_fast),
        cmocka_unit_test(test_ws_reader_utf8_truncated_at_end),
        cmocka_unit_test(test_ws_reader_utf8_overlong_and_too_high),
        cmocka_unit_test(test_ws_reader_close_payloads),
        cmocka_unit_test(test_ws_reader_close_mid_message),
        cmocka_unit_test(test_ws_reader_whole_frame_is_a_view),
        cmocka_unit_test(test_ws_reader_leaves_unconsumed_bytes),
        cmocka_unit_test(test_ws_reader_idle_holds_no_memory),
        cmocka_unit_test(test_ws_reader_empty_feed_and_after_close),
        cmocka_unit_test(test_ws_reader_error_releases_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

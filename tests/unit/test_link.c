/* Unit tests for the herald-link codec (lib/proto/link): round trips of
 * every frame type, a batch split at every offset and fed byte by byte,
 * every parse error, writer refusals and allocation failure. Inputs are
 * copied into exactly sized heap blocks so ASan catches over-reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/err.h"
#include "proto/link.h"

#define MAXP (1u << 20)

static int parse_exact(const uint8_t *p, size_t len, size_t max, hr_link_frame *f)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, p, len);
    memset(f, 0, sizeof *f);
    const int rc = hr_link_parse(copy, len, max, f);
    /* views point into copy: re-point them into p for the caller */
    const ptrdiff_t d = p - copy;
    if (rc > 0) {
        hr_link_str *s[] = {&f->payload,   &f->reason,        &f->open.peer, &f->open.target,
                            &f->open.user, &f->open.channels, &f->message};
        if (f->ids != NULL)
            f->ids += d;
        if (f->credits != NULL)
            f->credits += d;
        for (size_t i = 0; i < 7; i++)
            if (s[i]->p != NULL)
                s[i]->p += d;
        for (size_t i = 0; i < f->open.n_headers; i++) {
            f->open.headers[i].name.p += d;
            f->open.headers[i].value.p += d;
        }
    }
    free(copy);
    return rc;
}

static bool str_is(hr_link_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static hr_link_open sample_open(void)
{
    hr_link_open o;
    memset(&o, 0, sizeof o);
    o.has_user = true;
    o.peer = hr_link_str_of("10.0.0.1:5555");
    o.target = hr_link_str_of("/ws?channels=a,b&since=7");
    o.user = hr_link_str_of("alice");
    o.channels = hr_link_str_of("[\"team:*\"]");
    o.n_headers = 2;
    o.headers[0] = (hr_link_header){hr_link_str_of("X-Request-Id"), hr_link_str_of("r1")};
    o.headers[1] = (hr_link_header){hr_link_str_of("Origin"), hr_link_str_of("")};
    return o;
}

/* A batch holding one frame of every type; returns the frame count. */
static size_t build_batch(hr_buf *b)
{
    hr_buf_init(b, MAXP);
    const uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const hr_link_open o = sample_open();
    assert_int_equal(hr_link_write_hello(b), 0);
    assert_int_equal(hr_link_write_open(b, 7, &o), 0);
    assert_int_equal(hr_link_write_data(b, 7, 1, (const uint8_t *)"{\"type\":\"x\"}", 12), 0);
    assert_int_equal(hr_link_write_data(b, 7, 2, NULL, 0), 0);
    assert_int_equal(hr_link_write_flow(b, HR_LINK_PAUSE, 7), 0);
    assert_int_equal(hr_link_write_flow(b, HR_LINK_RESUME, 7), 0);
    assert_int_equal(hr_link_write_ping(b, HR_LINK_PING, ping), 0);
    assert_int_equal(hr_link_write_ping(b, HR_LINK_PONG, ping), 0);
    assert_int_equal(hr_link_write_close(b, 7, 1013, "slow", 4), 0);
    assert_int_equal(hr_link_write_credit(b, 7, 70000), 0);
    const uint32_t ids[3] = {7, 9, 0x100001};
    assert_int_equal(hr_link_write_bcast(b, 1, ids, 3, (const uint8_t *)"{\"e\":1}", 7), 0);
    return 11;
}

static void check_batch_frame(size_t i, const hr_link_frame *f)
{
    static const uint8_t types[] = {HR_LINK_HELLO, HR_LINK_OPEN,   HR_LINK_DATA, HR_LINK_DATA,
                                    HR_LINK_PAUSE, HR_LINK_RESUME, HR_LINK_PING, HR_LINK_PONG,
                                    HR_LINK_CLOSE, HR_LINK_CREDIT, HR_LINK_BCAST};
    assert_int_equal(f->type, types[i]);
    if (f->type == HR_LINK_HELLO) {
        assert_int_equal(f->version, HR_LINK_VERSION);
        assert_int_equal(f->session, 0);
    } else if (f->type == HR_LINK_OPEN) {
        assert_int_equal(f->session, 7);
        assert_true(f->open.has_user);
        assert_true(str_is(f->open.peer, "10.0.0.1:5555"));
        assert_true(str_is(f->open.target, "/ws?channels=a,b&since=7"));
        assert_true(str_is(f->open.user, "alice"));
        assert_true(str_is(f->open.channels, "[\"team:*\"]"));
        assert_int_equal(f->open.n_headers, 2);
        assert_true(str_is(f->open.headers[0].name, "X-Request-Id"));
        assert_true(str_is(f->open.headers[0].value, "r1"));
        assert_true(str_is(f->open.headers[1].name, "Origin"));
        assert_true(str_is(f->open.headers[1].value, ""));
    } else if (i == 2) {
        assert_int_equal(f->opcode, 1);
        assert_true(str_is(f->payload, "{\"type\":\"x\"}"));
    } else if (i == 3) {
        assert_int_equal(f->opcode, 2);
        assert_int_equal(f->payload.len, 0);
    } else if (f->type == HR_LINK_PING || f->type == HR_LINK_PONG) {
        assert_int_equal(f->ping[7], 8);
    } else if (f->type == HR_LINK_CLOSE) {
        assert_int_equal(f->close_code, 1013);
        assert_true(str_is(f->reason, "slow"));
    } else if (f->type == HR_LINK_CREDIT) {
        assert_int_equal(f->session, 7);
        assert_int_equal(f->credit, 70000);
    } else if (f->type == HR_LINK_BCAST) {
        assert_int_equal(f->session, 0);
        assert_int_equal(f->opcode, 1);
        assert_int_equal(f->n_ids, 3);
        assert_int_equal(hr_link_bcast_id(f, 0), 7);
        assert_int_equal(hr_link_bcast_id(f, 1), 9);
        assert_int_equal(hr_link_bcast_id(f, 2), 0x100001);
        assert_true(str_is(f->message, "{\"e\":1}"));
        assert_int_equal(f->payload.len, 2 + 12 + 7);
    }
}

static void test_link_round_trip_batch(void **state)
{
    hr_buf b;
    const size_t n = build_batch(&b);
    const uint8_t *p = hr_buf_data(&b);
    size_t off = 0, i = 0;
    while (off < b.len) {
        hr_link_frame f;
        const int rc = parse_exact(p + off, b.len - off, MAXP, &f);
        assert_true(rc > 0);
        check_batch_frame(i++, &f);
        off += (size_t)rc;
    }
    assert_int_equal(i, n);
    hr_buf_deinit(&b);
}

/* Feeds the batch in two pieces split at every offset, the way a socket may
 * deliver it: each piece is appended to an input buffer and parsed. */
static size_t feed(const uint8_t *p, size_t len, const size_t *cuts, size_t n_cuts)
{
    hr_buf in;
    hr_buf_init(&in, MAXP);
    size_t frames = 0, prev = 0;
    for (size_t c = 0; c <= n_cuts; c++) {
        const size_t end = c < n_cuts ? cuts[c] : len;
        assert_int_equal(hr_buf_append(&in, p + prev, end - prev), 0);
        prev = end;
        for (;;) {
            hr_link_frame f;
            const int rc = parse_exact(hr_buf_data(&in), in.len, MAXP, &f);
            assert_true(rc >= 0);
            if (rc == 0)
                break;
            check_batch_frame(frames++, &f);
            hr_buf_consume(&in, (size_t)rc);
        }
    }
    assert_int_equal(in.len, 0);
    hr_buf_deinit(&in);
    return frames;
}

static void test_link_split_at_every_offset(void **state)
{
    hr_buf b;
    const size_t n = build_batch(&b);
    for (size_t cut = 0; cut <= b.len; cut++)
        assert_int_equal(feed(hr_buf_data(&b), b.len, &cut, 1), n);
    hr_buf_deinit(&b);
}

static void test_link_byte_by_byte(void **state)
{
    hr_buf b;
    const size_t n = build_batch(&b);
    size_t *cuts = calloc(b.len, sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < b.len; i++)
        cuts[i] = i;
    assert_int_equal(feed(hr_buf_data(&b), b.len, cuts, b.len), n);
    free(cuts);
    hr_buf_deinit(&b);
}

static void test_link_incomplete_needs_more(void **state)
{
    hr_buf b;
    build_batch(&b);
    hr_link_frame f;
    const uint8_t *p = hr_buf_data(&b);
    const int first = parse_exact(p, b.len, MAXP, &f);
    for (int k = 0; k < first; k++)
        assert_int_equal(parse_exact(p, (size_t)k, MAXP, &f), 0);
    hr_buf_deinit(&b);
}

static int parse_hdr(uint8_t type, uint8_t flags, uint32_t session, const uint8_t *payload,
                     uint32_t len, size_t max)
{
    uint8_t frame[256];
    assert_true(len <= sizeof frame - HR_LINK_HEADER);
    hr_link_write_header(frame, type, flags, session, len);
    if (len > 0)
        memcpy(frame + HR_LINK_HEADER, payload, len);
    hr_link_frame f;
    return parse_exact(frame, HR_LINK_HEADER + len, max, &f);
}

static void test_link_header_errors(void **state)
{
    const uint8_t z[8] = {0};
    assert_int_equal(parse_hdr(0, 0, 1, NULL, 0, MAXP), HR_EPROTO);            /* unknown type */
    assert_int_equal(parse_hdr(9, 0, 1, NULL, 0, MAXP), HR_EPROTO);            /* unknown type */
    assert_int_equal(parse_hdr(HR_LINK_DATA, 1, 0, NULL, 0, MAXP), HR_EPROTO); /* session 0 */
    assert_int_equal(parse_hdr(HR_LINK_PING, 0, 3, z, 8, MAXP), HR_EPROTO);    /* session != 0 */
    assert_int_equal(parse_hdr(HR_LINK_DATA, 0, 1, NULL, 0, MAXP), HR_EPROTO); /* opcode 0 */
    assert_int_equal(parse_hdr(HR_LINK_DATA, 8, 1, NULL, 0, MAXP), HR_EPROTO); /* opcode close */
    assert_int_equal(parse_hdr(HR_LINK_OPEN, 4, 1, NULL, 0, MAXP), HR_EPROTO); /* bad flag */
    assert_int_equal(parse_hdr(HR_LINK_OPEN, 0x83, 1, NULL, 0, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_PAUSE, 1, 1, NULL, 0, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_DATA, 1, 1, z, 8, 7), HR_ETOOBIG);
    assert_int_equal(parse_hdr(HR_LINK_DATA, 1, 1, z, 8, 8), HR_LINK_HEADER + 8);
    /* an oversized length is refused from the header alone, before the payload */
    uint8_t h[HR_LINK_HEADER];
    hr_link_write_header(h, HR_LINK_DATA, 1, 1, UINT32_MAX);
    hr_link_frame f;
    assert_int_equal(parse_exact(h, sizeof h, SIZE_MAX, &f), HR_ETOOBIG);
    /* errors are reported even when the payload has not arrived */
    hr_link_write_header(h, 42, 0, 1, 100);
    assert_int_equal(parse_exact(h, sizeof h, MAXP, &f), HR_EPROTO);
}

static void test_link_payload_errors(void **state)
{
    const uint8_t z[8] = {0};
    const uint8_t hello_bad_magic[6] = {'H', 'R', 'L', 'X', 0, 1};
    /* one above HR_LINK_VERSION (3 since CREDITS; this said 3 while 2 was the top) */
    const uint8_t hello_bad_version[6] = {'H', 'R', 'L', 'K', 0, HR_LINK_VERSION + 1};
    const uint8_t hello_version_0[6] = {'H', 'R', 'L', 'K', 0, 0};
    const uint8_t close_999[2] = {0x03, 0xe7};
    const uint8_t close_5000[2] = {0x13, 0x88};
    uint8_t close_long[2 + 124];
    memset(close_long, 'r', sizeof close_long);
    close_long[0] = 0x03;
    close_long[1] = 0xe8;
    assert_int_equal(parse_hdr(HR_LINK_HELLO, 0, 0, hello_bad_magic, 6, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_HELLO, 0, 0, hello_bad_version, 6, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_HELLO, 0, 0, hello_version_0, 6, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_HELLO, 0, 0, z, 5, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_CLOSE, 0, 1, z, 1, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_CLOSE, 0, 1, close_999, 2, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_CLOSE, 0, 1, close_5000, 2, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_CLOSE, 0, 1, close_long, sizeof close_long, MAXP),
                     HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_CLOSE, 0, 1, close_long, sizeof close_long - 1, MAXP),
                     HR_LINK_HEADER + 125);
    assert_int_equal(parse_hdr(HR_LINK_PAUSE, 0, 1, z, 1, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_RESUME, 0, 1, z, 1, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_CREDIT, 0, 1, z, 4, MAXP), HR_EPROTO); /* zero credit */
    assert_int_equal(parse_hdr(HR_LINK_CREDIT, 0, 1, z, 3, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_CREDIT, 0, 0, z, 4, MAXP), HR_EPROTO); /* session 0 */
    assert_int_equal(parse_hdr(HR_LINK_CREDIT, 1, 1, z, 4, MAXP), HR_EPROTO); /* flags */
    assert_int_equal(parse_hdr(HR_LINK_PING, 0, 0, z, 7, MAXP), HR_EPROTO);
    assert_int_equal(parse_hdr(HR_LINK_PONG, 0, 0, z, 0, MAXP), HR_EPROTO);
}

static void test_link_open_errors(void **state)
{
    hr_buf b;
    hr_buf_init(&b, MAXP);
    hr_link_open o = sample_open();
    assert_int_equal(hr_link_write_open(&b, 1, &o), 0);
    uint8_t *p = b.base + b.off;
    const uint32_t plen = (uint32_t)(b.len - HR_LINK_HEADER);
    /* every truncation of the payload (length field adjusted) is malformed */
    for (uint32_t n = 0; n < plen; n++)
        assert_int_equal(parse_hdr(HR_LINK_OPEN, 1, 1, p + HR_LINK_HEADER, n, MAXP), HR_EPROTO);
    /* trailing bytes */
    uint8_t longer[256];
    memcpy(longer, p + HR_LINK_HEADER, plen);
    longer[plen] = 0;
    assert_int_equal(parse_hdr(HR_LINK_OPEN, 1, 1, longer, plen + 1, MAXP), HR_EPROTO);
    /* a user without HAS_USER */
    assert_int_equal(parse_hdr(HR_LINK_OPEN, 0, 1, p + HR_LINK_HEADER, plen, MAXP), HR_EPROTO);
    hr_buf_deinit(&b);
    /* too many headers: count field over HR_LINK_MAX_HEADERS */
    uint8_t many[2 * 4 + 2] = {0};
    many[8] = 0;
    many[9] = HR_LINK_MAX_HEADERS + 1;
    assert_int_equal(parse_hdr(HR_LINK_OPEN, 0, 1, many, sizeof many, MAXP), HR_EPROTO);
    /* the smallest OPEN: four empty strings, no headers, anonymous */
    many[9] = 0;
    assert_int_equal(parse_hdr(HR_LINK_OPEN, 0, 1, many, sizeof many, MAXP), HR_LINK_HEADER + 10);
}

static void test_link_max_headers_round_trip(void **state)
{
    hr_link_open o;
    memset(&o, 0, sizeof o);
    o.n_headers = HR_LINK_MAX_HEADERS;
    for (size_t i = 0; i < o.n_headers; i++)
        o.headers[i] = (hr_link_header){hr_link_str_of("H"), hr_link_str_of("v")};
    hr_buf b;
    hr_buf_init(&b, MAXP);
    assert_int_equal(hr_link_write_open(&b, 9, &o), 0);
    hr_link_frame f;
    assert_int_equal(parse_exact(hr_buf_data(&b), b.len, MAXP, &f), (int)b.len);
    assert_false(f.open.has_user);
    assert_int_equal(f.open.n_headers, HR_LINK_MAX_HEADERS);
    o.n_headers = HR_LINK_MAX_HEADERS + 1;
    assert_int_equal(hr_link_write_open(&b, 9, &o), HR_EINVAL);
    hr_buf_deinit(&b);
}

static void test_link_writer_refusals(void **state)
{
    hr_buf b;
    hr_buf_init(&b, MAXP);
    const uint8_t ping[8] = {0};
    hr_link_open o = sample_open();
    assert_int_equal(hr_link_write_open(&b, 0, &o), HR_EINVAL);
    o.has_user = false;
    assert_int_equal(hr_link_write_open(&b, 1, &o), HR_EINVAL); /* user without has_user */
    o = sample_open();
    o.peer.len = 70000;
    assert_int_equal(hr_link_write_open(&b, 1, &o), HR_EINVAL);
    assert_int_equal(hr_link_write_data(&b, 0, 1, NULL, 0), HR_EINVAL);
    assert_int_equal(hr_link_write_data(&b, 1, 9, NULL, 0), HR_EINVAL);
    assert_int_equal(hr_link_write_close(&b, 1, 999, NULL, 0), HR_EINVAL);
    assert_int_equal(hr_link_write_close(&b, 1, 5000, NULL, 0), HR_EINVAL);
    assert_int_equal(hr_link_write_close(&b, 0, 1000, NULL, 0), HR_EINVAL);
    assert_int_equal(hr_link_write_close(&b, 1, 1000, "x", 124), HR_EINVAL);
    assert_int_equal(hr_link_write_flow(&b, HR_LINK_DATA, 1), HR_EINVAL);
    assert_int_equal(hr_link_write_flow(&b, HR_LINK_PAUSE, 0), HR_EINVAL);
    assert_int_equal(hr_link_write_ping(&b, HR_LINK_DATA, ping), HR_EINVAL);
    assert_int_equal(hr_link_write_credit(&b, 0, 1), HR_EINVAL);
    assert_int_equal(hr_link_write_credit(&b, 1, 0), HR_EINVAL);
    assert_int_equal(b.len, 0);
    hr_buf_deinit(&b);
}

static void test_link_writer_limits_leave_buffer_unchanged(void **state)
{
    hr_buf b;
    hr_buf_init(&b, 32);
    assert_int_equal(hr_link_write_data(&b, 1, 1, (const uint8_t *)"0123456789", 10), 0);
    assert_int_equal(b.len, 20);
    assert_int_equal(hr_link_write_data(&b, 1, 1, (const uint8_t *)"0123456789", 10), HR_ETOOBIG);
    assert_int_equal(b.len, 20);
    hr_buf_deinit(&b);

    hr_buf_init(&b, MAXP);
    hr_alloc_fail_nth(1);
    assert_int_equal(hr_link_write_hello(&b), HR_ENOMEM);
    assert_true(hr_alloc_failed());
    hr_alloc_fail_nth(0);
    assert_int_equal(b.len, 0);
    assert_int_equal(hr_link_write_hello(&b), 0);
    hr_buf_deinit(&b);
}

static void test_link_shared_payload_header(void **state)
{
    /* one payload, many sessions: the header alone differs */
    const char *ev = "{\"type\":\"event\"}";
    uint8_t frame[64];
    for (uint32_t s = 1; s < 300; s += 37) {
        hr_link_write_header(frame, HR_LINK_DATA, 1, s, (uint32_t)strlen(ev));
        memcpy(frame + HR_LINK_HEADER, ev, strlen(ev));
        hr_link_frame f;
        assert_int_equal(parse_exact(frame, HR_LINK_HEADER + strlen(ev), MAXP, &f),
                         (int)(HR_LINK_HEADER + strlen(ev)));
        assert_int_equal(f.session, s);
        assert_true(str_is(f.payload, ev));
    }
}

/* Version 1 peers (no BCAST) are still accepted; the version is reported. */
static void test_link_hello_version_1_accepted(void **state)
{
    const uint8_t v1[6] = {'H', 'R', 'L', 'K', 0, 1};
    uint8_t frame[HR_LINK_HEADER + 6];
    hr_link_write_header(frame, HR_LINK_HELLO, 0, 0, 6);
    memcpy(frame + HR_LINK_HEADER, v1, 6);
    hr_link_frame f;
    assert_int_equal(parse_exact(frame, sizeof frame, MAXP, &f), (int)sizeof frame);
    assert_int_equal(f.version, 1);
}

/* OPEN_STREAM (version 4): written, parsed back, and only with the flag. */
static void test_link_open_stream(void **state)
{
    (void)state;
    hr_buf b;
    hr_buf_init(&b, MAXP);
    hr_link_open o = sample_open();
    o.stream = true;
    assert_int_equal(hr_link_write_open(&b, 5, &o), 0);
    assert_int_equal(((const uint8_t *)hr_buf_data(&b))[1],
                     HR_LINK_OPEN_HAS_USER | HR_LINK_OPEN_STREAM);
    hr_link_frame f;
    assert_int_equal(parse_exact(hr_buf_data(&b), b.len, MAXP, &f), (int)b.len);
    assert_true(f.open.stream);
    assert_true(f.open.has_user);
    assert_true(str_is(f.open.target, "/ws?channels=a,b&since=7"));
    /* anonymous stream: the flag alone */
    hr_buf_consume(&b, b.len);
    o = (hr_link_open){.stream = true, .target = hr_link_str_of("/sse?channels=a")};
    assert_int_equal(hr_link_write_open(&b, 6, &o), 0);
    assert_int_equal(((const uint8_t *)hr_buf_data(&b))[1], HR_LINK_OPEN_STREAM);
    assert_int_equal(parse_exact(hr_buf_data(&b), b.len, MAXP, &f), (int)b.len);
    assert_true(f.open.stream);
    assert_false(f.open.has_user);
    /* a plain OPEN is not a stream */
    hr_buf_consume(&b, b.len);
    o.stream = false;
    assert_int_equal(hr_link_write_open(&b, 7, &o), 0);
    assert_int_equal(parse_exact(hr_buf_data(&b), b.len, MAXP, &f), (int)b.len);
    assert_false(f.open.stream);
    hr_buf_deinit(&b);
    /* HELLO 5 (the credit lag) is this build's; 1 to 4 are accepted, 6 is refused */
    for (uint8_t v = 1; v <= 6; v++) {
        const uint8_t hello[6] = {'H', 'R', 'L', 'K', 0, v};
        uint8_t frame[HR_LINK_HEADER + 6];
        hr_link_write_header(frame, HR_LINK_HELLO, 0, 0, 6);
        memcpy(frame + HR_LINK_HEADER, hello, 6);
        assert_int_equal(hr_link_parse(frame, sizeof frame, MAXP, &f),
                         v <= 5 ? (int)sizeof frame : HR_EPROTO);
    }
    assert_int_equal(HR_LINK_VERSION, HR_LINK_VERSION_CREDIT_LAG);
}

static size_t bcast_payload(uint8_t *p, uint16_t n, size_t n_written, const char *msg)
{
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    for (size_t i = 0; i < n_written; i++) {
        const uint32_t id = (uint32_t)i + 1;
        p[2 + 4 * i] = (uint8_t)(id >> 24);
        p[3 + 4 * i] = (uint8_t)(id >> 16);
        p[4 + 4 * i] = (uint8_t)(id >> 8);
        p[5 + 4 * i] = (uint8_t)id;
    }
    const size_t ml = strlen(msg);
    memcpy(p + 2 + 4 * n_written, msg, ml);
    return 2 + 4 * n_written + ml;
}

static void test_link_bcast_errors(void **state)
{
    uint8_t p[128];
    const uint8_t z[8] = {0};
    size_t n = bcast_payload(p, 2, 2, "hi");
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 1, 0, p, (uint32_t)n, MAXP), (int)(10 + n));
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 1, 5, p, (uint32_t)n, MAXP), HR_EPROTO); /* id */
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 0, 0, p, (uint32_t)n, MAXP), HR_EPROTO); /* op 0 */
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 9, 0, p, (uint32_t)n, MAXP), HR_EPROTO); /* op 9 */
    n = bcast_payload(p, 0, 0, "hi"); /* zero sessions */
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 1, 0, p, (uint32_t)n, MAXP), HR_EPROTO);
    n = bcast_payload(p, HR_LINK_MAX_BCAST + 1, 2, "hi"); /* too many */
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 1, 0, p, (uint32_t)n, MAXP), HR_EPROTO);
    n = bcast_payload(p, 3, 2, "hi"); /* truncated list: 3 announced, 2.5 present */
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 1, 0, p, (uint32_t)n, MAXP), HR_EPROTO);
    n = bcast_payload(p, 3, 2, "");
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 1, 0, p, (uint32_t)n, MAXP), HR_EPROTO);
    n = bcast_payload(p, 3, 2, "abcd"); /* exactly 3 ids, empty message */
    const int ok = parse_hdr(HR_LINK_BCAST, 2, 0, p, (uint32_t)n, MAXP);
    assert_int_equal(ok, (int)(10 + n));
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 1, 0, z, 1, MAXP), HR_EPROTO); /* no count */
    n = bcast_payload(p, 2, 2, "x");
    memset(p + 6, 0, 4); /* second id 0 */
    assert_int_equal(parse_hdr(HR_LINK_BCAST, 1, 0, p, (uint32_t)n, MAXP), HR_EPROTO);
}

static void test_link_bcast_writer(void **state)
{
    hr_buf b;
    hr_buf_init(&b, MAXP);
    const uint32_t ids[2] = {1, 0};
    uint32_t *many = calloc(HR_LINK_MAX_BCAST + 1, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i <= HR_LINK_MAX_BCAST; i++)
        many[i] = (uint32_t)i + 1;
    assert_int_equal(hr_link_write_bcast(&b, 1, ids, 0, NULL, 0), HR_EINVAL);
    assert_int_equal(hr_link_write_bcast(&b, 1, ids, 2, NULL, 0), HR_EINVAL); /* id 0 */
    assert_int_equal(hr_link_write_bcast(&b, 3, ids, 1, NULL, 0), HR_EINVAL); /* opcode */
    assert_int_equal(hr_link_write_bcast(&b, 1, many, HR_LINK_MAX_BCAST + 1, NULL, 0), HR_EINVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(hr_link_write_bcast(&b, 2, many, HR_LINK_MAX_BCAST, (const uint8_t *)"m", 1),
                     0);
    hr_link_frame f;
    const int rc = parse_exact(hr_buf_data(&b), b.len, MAXP, &f);
    assert_int_equal(rc, (int)b.len);
    assert_int_equal(f.n_ids, HR_LINK_MAX_BCAST);
    assert_int_equal(hr_link_bcast_id(&f, HR_LINK_MAX_BCAST - 1), HR_LINK_MAX_BCAST);
    assert_int_equal(f.opcode, 2);
    assert_int_equal(f.message.len, 1);
    hr_buf_deinit(&b);
    /* a buffer too small for the frame stays unchanged */
    hr_buf_init(&b, 30);
    assert_int_equal(hr_link_write_bcast(&b, 1, many, 5, (const uint8_t *)"m", 1), HR_ETOOBIG);
    assert_int_equal(b.len, 0);
    hr_buf_deinit(&b);
    free(many);
}

/* CREDITS: many (session, bytes) pairs in one frame, split at every offset. */
static void test_link_credits_round_trip(void **state)
{
    (void)state;
    hr_buf b;
    hr_buf_init(&b, MAXP);
    hr_link_credit pairs[HR_LINK_MAX_CREDITS + 1];
    for (size_t i = 0; i <= HR_LINK_MAX_CREDITS; i++)
        pairs[i] = (hr_link_credit){(uint32_t)i + 1, (uint32_t)(i * 1000 + 1)};
    assert_int_equal(hr_link_write_credits(&b, pairs, 3), 0);
    assert_int_equal(b.len, HR_LINK_HEADER + 24);
    for (size_t cut = 0; cut < b.len; cut++) {
        hr_link_frame f;
        assert_int_equal(parse_exact(hr_buf_data(&b), cut, MAXP, &f), 0);
    }
    hr_link_frame f;
    assert_int_equal(parse_exact(hr_buf_data(&b), b.len, MAXP, &f), (int)b.len);
    assert_int_equal(f.type, HR_LINK_CREDITS);
    assert_int_equal(f.session, 0);
    assert_int_equal(f.n_credits, 3);
    for (size_t i = 0; i < 3; i++) {
        const hr_link_credit c = hr_link_credits_at(&f, i);
        assert_int_equal(c.session, pairs[i].session);
        assert_int_equal(c.bytes, pairs[i].bytes);
    }
    hr_buf_consume(&b, b.len);
    /* the maximum, and every refusal leaves out unchanged */
    assert_int_equal(hr_link_write_credits(&b, pairs, HR_LINK_MAX_CREDITS), 0);
    assert_int_equal(parse_exact(hr_buf_data(&b), b.len, MAXP, &f), (int)b.len);
    assert_int_equal(f.n_credits, HR_LINK_MAX_CREDITS);
    const size_t len = b.len;
    assert_int_equal(hr_link_write_credits(&b, pairs, 0), HR_EINVAL);
    assert_int_equal(hr_link_write_credits(&b, pairs, HR_LINK_MAX_CREDITS + 1), HR_EINVAL);
    const hr_link_credit zero_s[1] = {{0, 5}}, zero_b[1] = {{5, 0}};
    assert_int_equal(hr_link_write_credits(&b, zero_s, 1), HR_EINVAL);
    assert_int_equal(hr_link_write_credits(&b, zero_b, 1), HR_EINVAL);
    assert_int_equal(b.len, len);
    hr_buf_deinit(&b);
    hr_buf_init(&b, 20);
    assert_int_equal(hr_link_write_credits(&b, pairs, 2), HR_ETOOBIG);
    assert_int_equal(b.len, 0);
    hr_buf_deinit(&b);
}

static void test_link_credits_errors(void **state)
{
    (void)state;
    uint8_t p[24] = {0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1};
    assert_int_equal(parse_hdr(HR_LINK_CREDITS, 0, 0, p, 16, MAXP), HR_LINK_HEADER + 16);
    assert_int_equal(parse_hdr(HR_LINK_CREDITS, 0, 0, p, 0, MAXP), HR_EPROTO);  /* no pair */
    assert_int_equal(parse_hdr(HR_LINK_CREDITS, 0, 0, p, 12, MAXP), HR_EPROTO); /* half */
    assert_int_equal(parse_hdr(HR_LINK_CREDITS, 0, 7, p, 16, MAXP), HR_EPROTO); /* session */
    assert_int_equal(parse_hdr(HR_LINK_CREDITS, 1, 0, p, 16, MAXP), HR_EPROTO); /* flags */
    p[3] = 0; /* session 0 in a pair */
    assert_int_equal(parse_hdr(HR_LINK_CREDITS, 0, 0, p, 16, MAXP), HR_EPROTO);
    p[3] = 7;
    p[15] = 0; /* bytes 0 in a pair */
    assert_int_equal(parse_hdr(HR_LINK_CREDITS, 0, 0, p, 16, MAXP), HR_EPROTO);
    const size_t plen = 8 * (HR_LINK_MAX_CREDITS + 1); /* one pair too many */
    uint8_t *big = calloc(1, HR_LINK_HEADER + plen);
    assert_non_null(big);
    hr_link_write_header(big, HR_LINK_CREDITS, 0, 0, (uint32_t)plen);
    for (size_t i = 0; i <= HR_LINK_MAX_CREDITS; i++)
        big[HR_LINK_HEADER + 8 * i + 3] = big[HR_LINK_HEADER + 8 * i + 7] = 1;
    hr_link_frame f;
    assert_int_equal(parse_exact(big, HR_LINK_HEADER + plen, MAXP, &f), HR_EPROTO);
    hr_link_write_header(big, HR_LINK_CREDITS, 0, 0, (uint32_t)(plen - 8)); /* the maximum */
    assert_int_equal(parse_exact(big, HR_LINK_HEADER + plen - 8, MAXP, &f),
                     (int)(HR_LINK_HEADER + plen - 8));
    free(big);
}

/* Leading bytes + the message give exactly what the copying writers give. */
static void test_link_heads_match_writers(void **state)
{
    (void)state;
    static const uint8_t msg[] = "the shared payload";
    const size_t len = sizeof msg - 1;
    const uint32_t ids[3] = {4, 5, 0x01020304};
    uint8_t head[HR_LINK_MAX_HEAD + 64];
    hr_buf b;
    hr_buf_init(&b, MAXP);

    int hl = hr_link_head_bcast(head, sizeof head, 1, ids, 3, len);
    assert_int_equal(hl, HR_LINK_HEADER + 2 + 12);
    memcpy(head + hl, msg, len);
    assert_int_equal(hr_link_write_bcast(&b, 1, ids, 3, msg, len), 0);
    assert_int_equal(b.len, (size_t)hl + len);
    assert_memory_equal(hr_buf_data(&b), head, b.len);
    hr_buf_consume(&b, b.len);

    hl = hr_link_head_data(head, sizeof head, 9, 2, len);
    assert_int_equal(hl, HR_LINK_HEADER);
    memcpy(head + hl, msg, len);
    assert_int_equal(hr_link_write_data(&b, 9, 2, msg, len), 0);
    assert_memory_equal(hr_buf_data(&b), head, b.len);
    hr_buf_deinit(&b);

    /* the writers' refusals, and a too small out */
    assert_int_equal(hr_link_head_data(head, sizeof head, 0, 1, 1), HR_EINVAL);
    assert_int_equal(hr_link_head_data(head, sizeof head, 1, 3, 1), HR_EINVAL);
    assert_int_equal(hr_link_head_data(head, 9, 1, 1, 1), HR_EINVAL);
    assert_int_equal(hr_link_head_bcast(head, sizeof head, 1, ids, 0, 1), HR_EINVAL);
    assert_int_equal(hr_link_head_bcast(head, sizeof head, 1, ids, HR_LINK_MAX_BCAST + 1, 1),
                     HR_EINVAL);
    const uint32_t zero[2] = {1, 0};
    assert_int_equal(hr_link_head_bcast(head, sizeof head, 1, zero, 2, 1), HR_EINVAL);
    assert_int_equal(hr_link_head_bcast(head, HR_LINK_HEADER + 2 + 11, 1, ids, 3, 1), HR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_round_trip_batch),
        cmocka_unit_test(test_link_split_at_every_offset),
        cmocka_unit_test(test_link_byte_by_byte),
        cmocka_unit_test(test_link_incomplete_needs_more),
        cmocka_unit_test(test_link_header_errors),
        cmocka_unit_test(test_link_payload_errors),
        cmocka_unit_test(test_link_open_errors),
        cmocka_unit_test(test_link_max_headers_round_trip),
        cmocka_unit_test(test_link_writer_refusals),
        cmocka_unit_test(test_link_writer_limits_leave_buffer_unchanged),
        cmocka_unit_test(test_link_shared_payload_header),
        cmocka_unit_test(test_link_hello_version_1_accepted),
        cmocka_unit_test(test_link_open_stream),
        cmocka_unit_test(test_link_bcast_errors),
        cmocka_unit_test(test_link_bcast_writer),
        cmocka_unit_test(test_link_heads_match_writers),
        cmocka_unit_test(test_link_credits_round_trip),
        cmocka_unit_test(test_link_credits_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

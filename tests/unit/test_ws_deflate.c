/* Unit tests for lib/proto/ws_deflate: RFC 7692 §7.2.3 examples, the
 * negotiation matrix, round trips, fragmented input, caps and corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"

static const uint8_t hello_z[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};

static hr_ws_deflate_params server_params(void)
{
    hr_ws_deflate_params p;
    char resp[128];
    assert_int_equal(hr_ws_deflate_negotiate("permessage-deflate", 18, &p, resp, sizeof resp), 1);
    return p;
}

static void expect_inflate(hr_ws_inflater *f, const uint8_t *in, size_t n, const char *want)
{
    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    uint8_t *copy = malloc(n ? n : 1); /* exact size for ASan */
    assert_non_null(copy);
    memcpy(copy, in, n);
    assert_int_equal(hr_ws_inflate(f, copy, n, &out, 1 << 20), 0);
    assert_int_equal(out.len, strlen(want));
    if (out.len > 0)
        assert_memory_equal(hr_buf_data(&out), want, out.len);
    free(copy);
    hr_buf_deinit(&out);
}

static void test_ws_deflate_rfc7692_hello(void **state)
{
    (void)state;
    hr_ws_deflate_params p = server_params();
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, true, 0);
    hr_buf out;
    hr_buf_init(&out, 1024);
    for (int i = 0; i < 2; i++) { /* no context takeover: same bytes twice */
        assert_int_equal(hr_ws_deflate_message(&d, (const uint8_t *)"Hello", 5, &out), 0);
        assert_int_equal(out.len, sizeof hello_z);
        assert_memory_equal(hr_buf_data(&out), hello_z, sizeof hello_z);
        hr_buf_consume(&out, out.len);
    }
    hr_ws_deflater_deinit(&d);
    hr_buf_deinit(&out);

    /* §7.2.3.2: with context takeover the second "Hello" refers back. */
    hr_ws_deflate_params ctx;
    hr_ws_deflate_params_default(&ctx);
    hr_ws_deflater_init(&d, &ctx, false, 0);
    hr_buf_init(&out, 1024);
    assert_int_equal(hr_ws_deflate_message(&d, (const uint8_t *)"Hello", 5, &out), 0);
    hr_buf_consume(&out, out.len);
    assert_int_equal(hr_ws_deflate_message(&d, (const uint8_t *)"Hello", 5, &out), 0);
    const uint8_t second[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    assert_int_equal(out.len, sizeof second);
    assert_memory_equal(hr_buf_data(&out), second, sizeof second);
    hr_ws_deflater_deinit(&d);
    hr_buf_deinit(&out);

    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &ctx, true);
    expect_inflate(&f, hello_z, sizeof hello_z, "Hello");
    expect_inflate(&f, second, sizeof second, "Hello");
    hr_ws_inflater_deinit(&f);
}

static void test_ws_deflate_rfc7692_receiver_forms(void **state)
{
    (void)state;
    hr_ws_deflate_params p = server_params();
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &p, true);
    /* §7.2.3.3 stored block, §7.2.3.4 BFINAL set, §7.2.3.5 two blocks. */
    const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00};
    const uint8_t bfinal[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
    const uint8_t two[] = {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
                           0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00};
    const uint8_t empty[] = {0x00};
    expect_inflate(&f, stored, sizeof stored, "Hello");
    assert_false(f.ready); /* client_no_context_takeover: state freed */
    expect_inflate(&f, bfinal, sizeof bfinal, "Hello");
    expect_inflate(&f, two, sizeof two, "Hello");
    expect_inflate(&f, empty, sizeof empty, "");
    expect_inflate(&f, hello_z, sizeof hello_z, "Hello");

    /* Fragmented message: frames "f2 48 cd" and "c9 c9 07 00". */
    hr_buf out;
    hr_buf_init(&out, 1024);
    assert_int_equal(hr_ws_inflate_part(&f, hello_z, 3, false, &out, 100), 0);
    assert_true(f.ready);
    assert_int_equal(hr_ws_inflate_part(&f, hello_z + 3, 4, true, &out, 100), 0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(hr_buf_data(&out), "Hello", 5);
    assert_false(f.ready);
    hr_buf_deinit(&out);
    hr_ws_inflater_deinit(&f);
}

static void test_ws_deflate_empty_message(void **state)
{
    (void)state;
    hr_ws_deflate_params p = server_params();
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, true, 9);
    hr_buf out;
    hr_buf_init(&out, 64);
    assert_int_equal(hr_ws_deflate_message(&d, NULL, 0, &out), 0);
    assert_int_equal(out.len, 1);
    assert_int_equal(hr_buf_data(&out)[0], 0x00);
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &p, false);
    expect_inflate(&f, hr_buf_data(&out), out.len, "");
    hr_ws_inflater_deinit(&f);
    hr_ws_deflater_deinit(&d);
    hr_buf_deinit(&out);
}

typedef struct nego_case {
    const char *offer;
    int rc;
    const char *answer;
    uint8_t smwb, cmwb;
} nego_case;

static void test_ws_deflate_negotiation_matrix(void **state)
{
    (void)state;
    const char *base = "permessage-deflate; server_no_context_takeover; "
                       "client_no_context_takeover";
    char with_bits[160];
    static const nego_case cases[] = {
        {"permessage-deflate", 1, "", 15, 15},
        {"Permessage-Deflate", 1, "", 15, 15},
        {"permessage-deflate; client_max_window_bits", 1, "", 15, 15},
        {"permessage-deflate;client_max_window_bits=10", 1, "; client_max_window_bits=10", 15, 10},
        {"permessage-deflate; client_max_window_bits=\"9\"", 1, "; client_max_window_bits=9", 15,
         9},
        {"permessage-deflate; server_max_window_bits=10", 1, "; server_max_window_bits=10", 10, 15},
        {"permessage-deflate; server_no_context_takeover; client_no_context_takeover", 1, "", 15,
         15},
        {" , permessage-deflate ; client_max_window_bits = 12 ", 1, "; client_max_window_bits=12",
         15, 12},
        {"x-webkit-deflate-frame, permessage-deflate", 1, "", 15, 15},
        {"foo; a=\"x, permessage-deflate; bogus\", permessage-deflate", 1, "", 15, 15},
        {"permessage-deflate; server_max_window_bits=8, permessage-deflate", 1, "", 15, 15},
        {"permessage-deflate; bogus, permessage-deflate; client_max_window_bits=8", 1,
         "; client_max_window_bits=8", 15, 8},
        {"permessage-deflate; server_max_window_bits=8", 0, NULL, 0, 0},
        {"permessage-deflate; server_max_window_bits=16", 0, NULL, 0, 0},
        {"permessage-deflate; server_max_window_bits=7", 0, NULL, 0, 0},
        {"permessage-deflate; server_max_window_bits=010", 0, NULL, 0, 0},
        {"permessage-deflate; server_max_window_bits", 0, NULL, 0, 0},
        {"permessage-deflate; client_max_window_bits=0", 0, NULL, 0, 0},
        {"permessage-deflate; client_max_window_bits=abc", 0, NULL, 0, 0},
        {"permessage-deflate; client_no_context_takeover; client_no_context_takeover", 0, NULL, 0,
         0},
        {"permessage-deflate; client_max_window_bits=9; client_max_window_bits=9", 0, NULL, 0, 0},
        {"permessage-deflate; server_no_context_takeover=1", 0, NULL, 0, 0},
        {"permessage-deflate; unknown", 0, NULL, 0, 0},
        {"permessage-deflate; =", 0, NULL, 0, 0},
        {"permessage-deflate; a=\"unterminated", 0, NULL, 0, 0},
        {"x-webkit-deflate-frame", 0, NULL, 0, 0},
        {"", 0, NULL, 0, 0},
        {"permessage-deflate-x", 0, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const nego_case *c = &cases[i];
        hr_ws_deflate_params p = {0};
        char resp[128];
        const int rc = hr_ws_deflate_negotiate(c->offer, strlen(c->offer), &p, resp, sizeof resp);
        if (rc != c->rc)
            fprintf(stderr, "case %zu: %s\n", i, c->offer);
        assert_int_equal(rc, c->rc);
        if (rc != 1)
            continue;
        snprintf(with_bits, sizeof with_bits, "%s%s", base, c->answer);
        assert_string_equal(resp, with_bits);
        assert_true(p.server_no_context_takeover);
        assert_true(p.client_no_context_takeover);
        assert_int_equal(p.server_max_window_bits, c->smwb);
        assert_int_equal(p.client_max_window_bits, c->cmwb);
        /* The client accepts what the server answered. */
        hr_ws_deflate_params q;
        assert_int_equal(hr_ws_deflate_parse_response(resp, strlen(resp), &q), 1);
        assert_memory_equal(&p, &q, sizeof p);
    }
}

static void test_ws_deflate_negotiate_options(void **state)
{
    (void)state;
    hr_ws_deflate_params p;
    char resp[160];
    const char *o = "permessage-deflate; client_max_window_bits";
    assert_int_equal(hr_ws_deflate_negotiate_ex(o, strlen(o), false, &p, resp, sizeof resp), 1);
    assert_string_equal(resp, "permessage-deflate; server_no_context_takeover");
    assert_false(p.client_no_context_takeover);
    const char *all = "permessage-deflate; server_no_context_takeover; "
                      "client_no_context_takeover; server_max_window_bits=15; "
                      "client_max_window_bits=15";
    assert_int_equal(hr_ws_deflate_negotiate(all, strlen(all), &p, resp, sizeof resp), 1);
    assert_string_equal(resp, all);
    assert_int_equal(hr_ws_deflate_negotiate(all, strlen(all), &p, resp, 40), HR_ETOOBIG);

    /* Client side checks. */
    hr_ws_deflate_params q;
    assert_int_equal(hr_ws_deflate_parse_response("", 0, &q), 0);
    static const char *const bad[] = {
        "x-foo",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; bogus",
        "permessage-deflate; server_max_window_bits=16",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hr_ws_deflate_parse_response(bad[i], strlen(bad[i]), &q), HR_EPROTO);
    assert_int_equal(hr_ws_deflate_parse_response("permessage-deflate", 18, &q), 1);
    assert_false(q.server_no_context_takeover);
    assert_int_equal(q.server_max_window_bits, 15);
}

static void fill_random(uint8_t *p, size_t n, unsigned seed, int alphabet)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = alphabet ? (uint8_t)('a' + x % (uint32_t)alphabet) : (uint8_t)x;
    }
}

/* Round trips a series of messages: sender params as negotiated, both roles. */
static void round_trip(const hr_ws_deflate_params *p, bool sender_is_server)
{
    static const size_t sizes[] = {0, 1, 5, 125, 126, 1000, 65535, 65536, 300000};
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, p, sender_is_server, 6);
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, p, !sender_is_server);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const size_t n = sizes[i];
        uint8_t *msg = malloc(n + 1);
        assert_non_null(msg);
        fill_random(msg, n, (unsigned)i, i % 2 ? 4 : 0);
        hr_buf z, out;
        hr_buf_init(&z, 1 << 22);
        hr_buf_init(&out, 1 << 22);
        assert_int_equal(hr_ws_deflate_message(&d, msg, n, &z), 0);
        assert_int_equal(
            hr_ws_inflate(&f, z.len ? hr_buf_data(&z) : (const uint8_t *)"", z.len, &out, n), 0);
        assert_int_equal(out.len, n);
        if (n > 0)
            assert_memory_equal(hr_buf_data(&out), msg, n);
        hr_buf_deinit(&z);
        hr_buf_deinit(&out);
        free(msg);
    }
    hr_ws_deflater_deinit(&d);
    hr_ws_inflater_deinit(&f);
}

/* Raw DEFLATE of text with BFINAL set (Z_FINISH), back-referencing dict. */
static size_t finish_stream(const char *dict, const char *text, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    if (dict != NULL)
        assert_int_equal(deflateSetDictionary(&z, (const Bytef *)dict, (uInt)strlen(dict)), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)text;
    z.avail_in = (uInt)strlen(text);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    const size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return n;
}

/* RFC 7692 §7.2.3.4 lets a sender end messages with a BFINAL block. With
 * context takeover the next message may still point back into the previous
 * one: the window must survive the end of a DEFLATE stream. */
static void test_ws_deflate_bfinal_keeps_window(void **state)
{
    (void)state;
    static const char m1[] = "Hello, permessage-deflate world";
    static const char m2[] = "Hello, permessage-deflate world, again";
    uint8_t z1[128], z2[128];
    const size_t n1 = finish_stream(NULL, m1, z1, sizeof z1);
    const size_t n2 = finish_stream(m1, m2, z2, sizeof z2);
    hr_ws_deflate_params ctx;
    hr_ws_deflate_params_default(&ctx); /* context takeover both ways */
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &ctx, true);
    expect_inflate(&f, z1, n1, m1);
    expect_inflate(&f, z2, n2, m2);
    /* Within one message: a BFINAL stream, then one that refers back to it. */
    uint8_t both[256];
    memcpy(both, z1, n1);
    memcpy(both + n1, z2, n2);
    hr_ws_inflater_deinit(&f);
    hr_ws_inflater_init(&f, &ctx, true);
    char want[sizeof m1 + sizeof m2];
    snprintf(want, sizeof want, "%s%s", m1, m2);
    expect_inflate(&f, both, n1 + n2, want);
    hr_ws_inflater_deinit(&f);
}

static void test_ws_deflate_round_trip(void **state)
{
    (void)state;
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    round_trip(&p, true);
    round_trip(&p, false);
    p.client_max_window_bits = 8; /* stored blocks on the client side */
    p.server_max_window_bits = 9;
    round_trip(&p, true);
    round_trip(&p, false);
    p = server_params();
    round_trip(&p, true);
    round_trip(&p, false);
}

static void test_ws_deflate_frame(void **state)
{
    (void)state;
    hr_ws_deflate_params p = server_params();
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, true, 0);
    hr_msg *m = hr_ws_deflate_frame_new(&d, HR_WS_OP_TEXT, "Hello", 5);
    assert_non_null(m);
    const uint8_t want[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    assert_int_equal(m->len, sizeof want);
    assert_memory_equal(m->data, want, sizeof want);
    hr_msg_unref(m);

    /* Incompressible payload: 16-bit and 64-bit lengths. */
    static const size_t sizes[] = {200, 70000};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *msg = malloc(sizes[i]);
        assert_non_null(msg);
        fill_random(msg, sizes[i], 7, 0);
        m = hr_ws_deflate_frame_new(&d, HR_WS_OP_BINARY, msg, sizes[i]);
        assert_non_null(m);
        hr_ws_header h;
        const int hl = hr_ws_frame_parse_header(m->data, m->len, &h);
        assert_true(hl > 0);
        assert_true(h.fin);
        assert_true(h.rsv1);
        assert_false(h.masked);
        assert_int_equal(h.opcode, HR_WS_OP_BINARY);
        assert_int_equal(h.len + (size_t)hl, m->len);
        hr_ws_inflater f;
        hr_ws_inflater_init(&f, &p, false);
        hr_buf out;
        hr_buf_init(&out, 1 << 20);
        assert_int_equal(hr_ws_inflate(&f, m->data + hl, (size_t)h.len, &out, sizes[i]), 0);
        assert_int_equal(out.len, sizes[i]);
        assert_memory_equal(hr_buf_data(&out), msg, sizes[i]);
        hr_buf_deinit(&out);
        hr_ws_inflater_deinit(&f);
        hr_msg_unref(m);
        free(msg);
    }
    hr_ws_deflater_deinit(&d);
}

static void test_ws_deflate_inflate_bomb_capped(void **state)
{
    (void)state;
    const size_t n = 10u << 20;
    uint8_t *zeros = calloc(1, n);
    assert_non_null(zeros);
    hr_ws_deflate_params p = server_params();
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, false, 9);
    hr_buf z;
    hr_buf_init(&z, 1 << 20);
    assert_int_equal(hr_ws_deflate_message(&d, zeros, n, &z), 0);
    assert_true(z.len < 20000);
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &p, true);
    hr_buf out;
    hr_buf_init(&out, 64u << 20);
    assert_int_equal(hr_ws_inflate(&f, hr_buf_data(&z), z.len, &out, 1 << 20), HR_ETOOBIG);
    assert_int_equal(out.len, 0);
    assert_false(f.ready);
    /* Exactly at the cap is fine; one byte less is not. */
    assert_int_equal(hr_ws_inflate(&f, hr_buf_data(&z), z.len, &out, n), 0);
    assert_int_equal(out.len, n);
    hr_buf_consume(&out, out.len);
    assert_int_equal(hr_ws_inflate(&f, hr_buf_data(&z), z.len, &out, n - 1), HR_ETOOBIG);
    /* SIZE_MAX means no cap of our own. */
    hr_buf_consume(&out, out.len);
    assert_int_equal(hr_ws_inflate(&f, hr_buf_data(&z), z.len, &out, SIZE_MAX), 0);
    assert_int_equal(out.len, n);
    /* The buffer's own max applies too. */
    hr_buf small;
    hr_buf_init(&small, 1000);
    assert_int_equal(hr_ws_inflate(&f, hr_buf_data(&z), z.len, &small, n), HR_ETOOBIG);
    hr_buf_deinit(&small);
    hr_buf_deinit(&out);
    hr_buf_deinit(&z);
    hr_ws_inflater_deinit(&f);
    hr_ws_deflater_deinit(&d);
    free(zeros);
}

static void test_ws_deflate_deflate_output_capped(void **state)
{
    (void)state;
    uint8_t msg[5000];
    fill_random(msg, sizeof msg, 3, 0);
    hr_ws_deflate_params p = server_params();
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, true, 6);
    hr_buf z;
    hr_buf_init(&z, 1000);
    assert_int_equal(hr_ws_deflate_message(&d, msg, sizeof msg, &z), HR_ETOOBIG);
    assert_int_equal(z.len, 0);
    hr_buf_deinit(&z);
    /* The deflater still works afterwards. */
    hr_buf_init(&z, 64);
    assert_int_equal(hr_ws_deflate_message(&d, (const uint8_t *)"Hello", 5, &z), 0);
    assert_memory_equal(hr_buf_data(&z), hello_z, sizeof hello_z);
    hr_buf_deinit(&z);
    hr_ws_deflater_deinit(&d);
}

static void test_ws_deflate_corrupt(void **state)
{
    (void)state;
    hr_ws_deflate_params p = server_params();
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &p, true);
    hr_buf out;
    hr_buf_init(&out, 1024);
    const uint8_t reserved[] = {0xff, 0xff, 0xff};               /* BTYPE 11 */
    const uint8_t bad_stored[] = {0x00, 0x05, 0x00, 0x00, 0x00}; /* NLEN mismatch */
    assert_int_equal(hr_ws_inflate(&f, reserved, sizeof reserved, &out, 1024), HR_EPROTO);
    assert_false(f.ready);
    assert_int_equal(hr_ws_inflate(&f, bad_stored, sizeof bad_stored, &out, 1024), HR_EPROTO);
    /* The inflater recovers for the next message (after a reset). */
    expect_inflate(&f, hello_z, sizeof hello_z, "Hello");
    hr_buf_deinit(&out);
    hr_ws_inflater_deinit(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_deflate_rfc7692_hello),
        cmocka_unit_test(test_ws_deflate_rfc7692_receiver_forms),
        cmocka_unit_test(test_ws_deflate_empty_message),
        cmocka_unit_test(test_ws_deflate_negotiation_matrix),
        cmocka_unit_test(test_ws_deflate_negotiate_options),
        cmocka_unit_test(test_ws_deflate_bfinal_keeps_window),
        cmocka_unit_test(test_ws_deflate_round_trip),
        cmocka_unit_test(test_ws_deflate_frame),
        cmocka_unit_test(test_ws_deflate_inflate_bomb_capped),
        cmocka_unit_test(test_ws_deflate_deflate_output_capped),
        cmocka_unit_test(test_ws_deflate_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

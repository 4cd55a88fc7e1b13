/* Unit tests for lib/proto/ws_frame: RFC 6455 §5.7 example headers, every
 * header error, need-more on every prefix (exactly sized heap copies), header
 * round trips, masking at every offset, server/close/client frame builders,
 * close payload validation and the error-to-close-code table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/utf8.h"
#include "proto/ws_frame.h"

static const uint8_t rfc_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Parses p[0..n) from an exactly sized heap copy so ASan sees over-reads. */
static int parse_copy(const uint8_t *p, size_t n, hr_ws_header *h)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n > 0)
        memcpy(copy, p, n);
    const int rc = hr_ws_frame_parse_header(copy, n, h);
    free(copy);
    return rc;
}

/* Every strict prefix of a complete header needs more bytes. */
static void assert_prefixes_need_more(const uint8_t *p, size_t hlen)
{
    for (size_t k = 0; k < hlen; k++) {
        hr_ws_header h;
        assert_int_equal(parse_copy(p, k, &h), 0);
    }
}

static void test_ws_frame_rfc_unmasked_hello(void **state)
{
    const uint8_t in[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    hr_ws_header h;
    assert_int_equal(parse_copy(in, sizeof in, &h), 2);
    assert_true(h.fin);
    assert_false(h.masked);
    assert_false(h.rsv1 || h.rsv2 || h.rsv3);
    assert_int_equal(h.opcode, HR_WS_OP_TEXT);
    assert_int_equal(h.len, 5);
    assert_int_equal(h.header_len, 2);
    assert_prefixes_need_more(in, 2);
}

static void test_ws_frame_rfc_masked_hello(void **state)
{
    uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    hr_ws_header h;
    assert_int_equal(parse_copy(in, sizeof in, &h), 6);
    assert_true(h.masked);
    assert_memory_equal(h.mask, rfc_mask, 4);
    assert_int_equal(h.len, 5);
    hr_ws_frame_mask(in + 6, 5, h.mask, 0);
    assert_memory_equal(in + 6, "Hello", 5);
    assert_prefixes_need_more(in, 6);
}

static void test_ws_frame_rfc_fragments_and_control(void **state)
{
    const uint8_t first[] = {0x01, 0x03, 'H', 'e', 'l'};
    const uint8_t last[] = {0x80, 0x02, 'l', 'o'};
    const uint8_t ping[] = {0x89, 0x05, 'H', 'e', 'l', 'l', 'o'};
    const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    hr_ws_header h;
    assert_int_equal(parse_copy(first, sizeof first, &h), 2);
    assert_false(h.fin);
    assert_int_equal(h.opcode, HR_WS_OP_TEXT);
    assert_int_equal(parse_copy(last, sizeof last, &h), 2);
    assert_true(h.fin);
    assert_int_equal(h.opcode, HR_WS_OP_CONT);
    assert_int_equal(parse_copy(ping, sizeof ping, &h), 2);
    assert_int_equal(h.opcode, HR_WS_OP_PING);
    assert_int_equal(parse_copy(pong, sizeof pong, &h), 6);
    assert_int_equal(h.opcode, HR_WS_OP_PONG);
}

static void test_ws_frame_rfc_256_and_64k(void **state)
{
    const uint8_t h256[] = {0x82, 0x7E, 0x01, 0x00};
    const uint8_t h64k[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
    hr_ws_header h;
    assert_int_equal(parse_copy(h256, sizeof h256, &h), 4);
    assert_int_equal(h.len, 256);
    assert_int_equal(h.opcode, HR_WS_OP_BINARY);
    assert_prefixes_need_more(h256, 4);
    assert_int_equal(parse_copy(h64k, sizeof h64k, &h), 10);
    assert_int_equal(h.len, 65536);
    assert_prefixes_need_more(h64k, 10);
    uint8_t out[HR_WS_MAX_HEADER];
    assert_int_equal(hr_ws_frame_write_header(out, HR_WS_OP_BINARY, true, false, 256, NULL), 4);
    assert_memory_equal(out, h256, 4);
    assert_int_equal(hr_ws_frame_write_header(out, HR_WS_OP_BINARY, true, false, 65536, NULL), 10);
    assert_memory_equal(out, h64k, 10);
}

static void assert_header_error(const uint8_t *p, size_t n)
{
    hr_ws_header h;
    assert_int_equal(parse_copy(p, n, &h), HR_EPROTO);
}

static void test_ws_frame_reserved_opcodes(void **state)
{
    for (uint8_t op = 0; op < 16; op++) {
        const uint8_t in[] = {(uint8_t)(0x80 | op), 0x00};
        hr_ws_header h;
        const bool known = op <= 2 || (op >= 8 && op <= 10);
        assert_int_equal(parse_copy(in, 2, &h), known ? 2 : HR_EPROTO);
        /* Detected from the first byte alone. */
        assert_int_equal(parse_copy(in, 1, &h), known ? 0 : HR_EPROTO);
    }
}

static void test_ws_frame_control_rules(void **state)
{
    const uint8_t unfinished_ping[] = {0x09};
    const uint8_t big_close[] = {0x88, 126, 0x00, 0x7E};
    const uint8_t big_ping_7bit[] = {0x89, 126};
    const uint8_t max_pong[] = {0x8A, 125};
    assert_header_error(unfinished_ping, sizeof unfinished_ping);
    assert_header_error(big_close, sizeof big_close);
    assert_header_error(big_close, 2);
    assert_header_error(big_ping_7bit, sizeof big_ping_7bit);
    hr_ws_header h;
    assert_int_equal(parse_copy(max_pong, sizeof max_pong, &h), 2);
    assert_int_equal(h.len, 125);
}

static void test_ws_frame_non_minimal_lengths(void **state)
{
    const uint8_t len16_small[] = {0x82, 126, 0x00, 125};
    const uint8_t len16_ok[] = {0x82, 126, 0x00, 126};
    const uint8_t len64_small[] = {0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    const uint8_t len64_ok[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0x00, 0x00};
    const uint8_t len64_msb[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t len64_max[] = {0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    hr_ws_header h;
    assert_header_error(len16_small, sizeof len16_small);
    assert_int_equal(parse_copy(len16_ok, sizeof len16_ok, &h), 4);
    assert_int_equal(h.len, 126);
    assert_header_error(len64_small, sizeof len64_small);
    assert_int_equal(parse_copy(len64_ok, sizeof len64_ok, &h), 10);
    assert_header_error(len64_msb, sizeof len64_msb);
    assert_int_equal(parse_copy(len64_max, sizeof len64_max, &h), 10);
    assert_int_equal(h.len, INT64_MAX);
}

static void test_ws_frame_reports_rsv_bits(void **state)
{
    const uint8_t in[] = {0xF1, 0x00};
    hr_ws_header h;
    assert_int_equal(parse_copy(in, 2, &h), 2);
    assert_true(h.rsv1 && h.rsv2 && h.rsv3);
}

/* parse(write(x)) == x over lengths at the encoding boundaries. */
static void test_ws_frame_header_round_trip(void **state)
{
    static const uint64_t lens[] = {
        0, 1, 125, 126, 127, 65535, 65536, 70000, 1u << 31, UINT64_C(1) << 32, INT64_MAX};
    static const uint8_t ops[] = {HR_WS_OP_CONT, HR_WS_OP_TEXT, HR_WS_OP_BINARY};
    const uint8_t mask[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            for (int bits = 0; bits < 8; bits++) {
                const bool fin = bits & 1, rsv1 = bits & 2, masked = bits & 4;
                uint8_t out[HR_WS_MAX_HEADER];
                const size_t n =
                    hr_ws_frame_write_header(out, ops[o], fin, rsv1, lens[i], masked ? mask : NULL);
                hr_ws_header h;
                assert_int_equal(parse_copy(out, n, &h), (int)n);
                assert_int_equal(h.header_len, n);
                assert_int_equal(h.len, lens[i]);
                assert_int_equal(h.opcode, ops[o]);
                assert_int_equal(h.fin, fin);
                assert_int_equal(h.rsv1, rsv1);
                assert_false(h.rsv2 || h.rsv3);
                assert_int_equal(h.masked, masked);
                if (masked)
                    assert_memory_equal(h.mask, mask, 4);
                assert_prefixes_need_more(out, n);
            }
        }
    }
}

static void test_ws_frame_control_round_trip(void **state)
{
    static const uint8_t ops[] = {HR_WS_OP_CLOSE, HR_WS_OP_PING, HR_WS_OP_PONG};
    for (size_t o = 0; o < 3; o++) {
        for (uint64_t len = 0; len <= 125; len += 25) {
            uint8_t out[HR_WS_MAX_HEADER];
            const size_t n = hr_ws_frame_write_header(out, ops[o], true, false, len, rfc_mask);
            hr_ws_header h;
            assert_int_equal(parse_copy(out, n, &h), 6);
            assert_int_equal(h.opcode, ops[o]);
            assert_int_equal(h.len, len);
        }
    }
}

static void test_ws_frame_mask_every_offset(void **state)
{
    const uint8_t mask[4] = {0xA1, 0x5B, 0x0C, 0xFF};
    for (size_t offset = 0; offset < 8; offset++) {
        for (size_t n = 0; n < 41; n++) {
            uint8_t *buf = malloc(n ? n : 1);
            assert_non_null(buf);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)(i * 7 + 3);
            hr_ws_frame_mask(buf, n, mask, offset);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(buf[i], (uint8_t)((i * 7 + 3) ^ mask[(offset + i) % 4]));
            hr_ws_frame_mask(buf, n, mask, offset);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(buf[i], (uint8_t)(i * 7 + 3));
            free(buf);
        }
    }
}

/* Unmasking a payload in pieces equals unmasking it at once. */
static void test_ws_frame_mask_in_pieces(void **state)
{
    uint8_t whole[100], parts[100];
    for (size_t i = 0; i < sizeof whole; i++)
        whole[i] = parts[i] = (uint8_t)i;
    hr_ws_frame_mask(whole, sizeof whole, rfc_mask, 0);
    size_t off = 0;
    for (size_t step = 1; off < sizeof parts; step = step % 11 + 1) {
        const size_t k = off + step <= sizeof parts ? step : sizeof parts - off;
        hr_ws_frame_mask(parts + off, k, rfc_mask, off);
        off += k;
    }
    assert_memory_equal(whole, parts, sizeof whole);
}

static void test_ws_frame_msg_new(void **state)
{
    hr_msg *m = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, "Hello", 5);
    assert_non_null(m);
    const uint8_t rfc[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    assert_int_equal(m->len, sizeof rfc);
    assert_memory_equal(m->data, rfc, sizeof rfc);
    hr_msg_unref(m);

    m = hr_ws_frame_msg_new(HR_WS_OP_BINARY, true, NULL, 0);
    assert_non_null(m);
    assert_int_equal(m->len, 2);
    assert_int_equal(m->data[0], 0xC2);
    assert_int_equal(m->data[1], 0x00);
    hr_msg_unref(m);

    uint8_t *big = calloc(1, 70000);
    assert_non_null(big);
    m = hr_ws_frame_msg_new(HR_WS_OP_BINARY, false, big, 70000);
    assert_non_null(m);
    hr_ws_header h;
    assert_int_equal(parse_copy(m->data, m->len, &h), 10);
    assert_int_equal(h.len, 70000);
    assert_int_equal(m->len, 70010);
    hr_msg_unref(m);
    free(big);
}

static void test_ws_frame_close_msg_new(void **state)
{
    hr_msg *m = hr_ws_frame_close_msg_new(0, "ignored");
    assert_non_null(m);
    assert_int_equal(m->len, 2);
    assert_int_equal(m->data[0], 0x88);
    assert_int_equal(m->data[1], 0x00);
    hr_msg_unref(m);

    m = hr_ws_frame_close_msg_new(1001, "bye");
    assert_non_null(m);
    const uint8_t expect[] = {0x88, 0x05, 0x03, 0xE9, 'b', 'y', 'e'};
    assert_int_equal(m->len, sizeof expect);
    assert_memory_equal(m->data, expect, sizeof expect);
    hr_msg_unref(m);

    m = hr_ws_frame_close_msg_new(1000, NULL);
    assert_non_null(m);
    assert_int_equal(m->len, 4);
    hr_msg_unref(m);
}

/* A long reason is cut to 123 bytes without splitting a character. */
static void test_ws_frame_close_reason_truncated(void **state)
{
    char reason[400] = "";
    for (int i = 0; i < 100; i++)
        memcpy(reason + 3 * i, "\xe2\x82\xac", 3); /* euro sign */
    hr_msg *m = hr_ws_frame_close_msg_new(1008, reason);
    assert_non_null(m);
    hr_ws_header h;
    assert_int_equal(parse_copy(m->data, m->len, &h), 2);
    assert_true(h.len <= 125);
    assert_int_equal(h.len, 2 + 123);
    uint16_t code;
    const uint8_t *r;
    size_t rlen;
    assert_int_equal(hr_ws_close_parse(m->data + 2, (size_t)h.len, &code, &r, &rlen), 0);
    assert_int_equal(code, 1008);
    assert_int_equal(rlen, 123);
    hr_msg_unref(m);

    memset(reason, 0, sizeof reason);
    memset(reason, 'a', 122);
    memcpy(reason + 122, "\xc3\xa9", 2); /* 2-byte char straddling byte 123 */
    m = hr_ws_frame_close_msg_new(1000, reason);
    assert_non_null(m);
    assert_int_equal(m->data[1], 2 + 122);
    assert_true(hr_utf8_valid(m->data + 4, 122));
    hr_msg_unref(m);
}

static void test_ws_frame_client_write(void **state)
{
    uint8_t out[64];
    const size_t n =
        hr_ws_frame_client_write(out, sizeof out, HR_WS_OP_TEXT, true, false, "Hello", 5, rfc_mask);
    const uint8_t rfc[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    assert_int_equal(n, sizeof rfc);
    assert_memory_equal(out, rfc, sizeof rfc);
    for (size_t cap = 0; cap < sizeof rfc; cap++)
        assert_int_equal(
            hr_ws_frame_client_write(out, cap, HR_WS_OP_TEXT, true, false, "Hello", 5, rfc_mask),
            0);
    assert_int_equal(
        hr_ws_frame_client_write(out, 6, HR_WS_OP_PING, true, false, NULL, 0, rfc_mask), 6);
    assert_int_equal(out[0], 0x89);
    assert_int_equal(out[1], 0x80);
}

static void test_ws_frame_close_parse(void **state)
{
    uint16_t code = 1;
    const uint8_t *reason = (const uint8_t *)"x";
    size_t rlen = 9;
    assert_int_equal(hr_ws_close_parse((const uint8_t *)"", 0, &code, &reason, &rlen), 0);
    assert_int_equal(code, 0);
    assert_null(reason);
    assert_int_equal(rlen, 0);

    const uint8_t one[] = {0x03};
    assert_int_equal(hr_ws_close_parse(one, 1, &code, &reason, &rlen), HR_EPROTO);

    const uint8_t ok[] = {0x03, 0xE8, 'o', 'k'};
    assert_int_equal(hr_ws_close_parse(ok, sizeof ok, &code, &reason, &rlen), 0);
    assert_int_equal(code, 1000);
    assert_ptr_equal(reason, ok + 2);
    assert_int_equal(rlen, 2);

    const uint8_t bare[] = {0x0F, 0xA0}; /* 4000 */
    assert_int_equal(hr_ws_close_parse(bare, sizeof bare, &code, &reason, &rlen), 0);
    assert_int_equal(code, 4000);
    assert_null(reason);

    const uint8_t bad_code[] = {0x03, 0xED}; /* 1005 */
    assert_int_equal(hr_ws_close_parse(bad_code, 2, &code, &reason, &rlen), HR_EPROTO);
    const uint8_t bad_utf8[] = {0x03, 0xE8, 0xC0, 0x80};
    assert_int_equal(hr_ws_close_parse(bad_utf8, 4, &code, &reason, &rlen), HR_EUTF8);
    const uint8_t cut_utf8[] = {0x03, 0xE8, 'a', 0xE2, 0x82};
    assert_int_equal(hr_ws_close_parse(cut_utf8, 5, &code, &reason, &rlen), HR_EUTF8);

    uint8_t big[126] = {0x03, 0xE8};
    memset(big + 2, 'a', sizeof big - 2);
    assert_int_equal(hr_ws_close_parse(big, 125, &code, &reason, &rlen), 0);
    assert_int_equal(hr_ws_close_parse(big, 126, &code, &reason, &rlen), HR_EPROTO);
}

static void test_ws_frame_close_code_validity(void **state)
{
    for (unsigned c = 0; c <= 65535; c++) {
        const bool expect =
            (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
        assert_int_equal(hr_ws_close_code_is_valid((uint16_t)c), expect);
    }
    assert_false(hr_ws_close_code_is_valid(1004));
    assert_false(hr_ws_close_code_is_valid(1005));
    assert_false(hr_ws_close_code_is_valid(1006));
    assert_false(hr_ws_close_code_is_valid(1015));
    assert_false(hr_ws_close_code_is_valid(5000));
}

static void test_ws_frame_close_code_for(void **state)
{
    assert_int_equal(hr_ws_close_code_for(HR_EPROTO), 1002);
    assert_int_equal(hr_ws_close_code_for(HR_EUTF8), 1007);
    assert_int_equal(hr_ws_close_code_for(HR_ETOOBIG), 1009);
    assert_int_equal(hr_ws_close_code_for(HR_EDENIED), 1008);
    assert_int_equal(hr_ws_close_code_for(HR_ENOMEM), 1011);
    assert_int_equal(hr_ws_close_code_for(HR_EINTERNAL), 1011);
    assert_int_equal(hr_ws_close_code_for(HR_EINVAL), 1002);
    assert_int_equal(hr_ws_close_code_for(-4), 1002);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_frame_rfc_unmasked_hello),
        cmocka_unit_test(test_ws_frame_rfc_masked_hello),
        cmocka_unit_test(test_ws_frame_rfc_fragments_and_control),
        cmocka_unit_test(test_ws_frame_rfc_256_and_64k),
        cmocka_unit_test(test_ws_frame_reserved_opcodes),
        cmocka_unit_test(test_ws_frame_control_rules),
        cmocka_unit_test(test_ws_frame_non_minimal_lengths),
        cmocka_unit_test(test_ws_frame_reports_rsv_bits),
        cmocka_unit_test(test_ws_frame_header_round_trip),
        cmocka_unit_test(test_ws_frame_control_round_trip),
        cmocka_unit_test(test_ws_frame_mask_every_offset),
        cmocka_unit_test(test_ws_frame_mask_in_pieces),
        cmocka_unit_test(test_ws_frame_msg_new),
        cmocka_unit_test(test_ws_frame_close_msg_new),
        cmocka_unit_test(test_ws_frame_close_reason_truncated),
        cmocka_unit_test(test_ws_frame_client_write),
        cmocka_unit_test(test_ws_frame_close_parse),
        cmocka_unit_test(test_ws_frame_close_code_validity),
        cmocka_unit_test(test_ws_frame_close_code_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

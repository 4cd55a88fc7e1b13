/* Unit tests for lib/core/alloc (the allocator hook) and, through it, the
 * out-of-memory paths of the modules that allocate: buf, msg, ws_frame,
 * ws_reader, ws_deflate (zlib through zalloc), cproto and publish (jansson
 * through json_set_alloc_funcs), channel identities.
 *
 * The failmalloc pattern of nghttp2 tests/failmalloc_test.c: for N = 1, 2,
 * ... run the whole operation with the Nth allocation failing, and require
 * either success (a tolerated failure) or a clean HR_ENOMEM, with everything
 * released (ASan's leak check runs at exit), until an N that is never
 * reached: then the operation must succeed.
 *
 * JSON inputs keep every token (string, number, key) under 16 bytes: jansson
 * 2.14 aborts when an allocation fails while its lexer saves a longer token
 * (akheron/jansson#362), which no caller can handle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/msg.h"
#include "jwt_mint.h"
#include "proto/channel.h"
#include "proto/cproto.h"
#include "proto/publish.h"
#include "proto/token.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"
#include "proto/ws_reader.h"

/* ---- the hook itself ---- */

static void test_alloc_fail_nth_only(void **state)
{
    (void)state;
    hr_alloc_fail_nth(2);
    void *a = hr_malloc(8);
    void *b = hr_malloc(8);
    void *c = hr_calloc(2, 8);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    assert_true(hr_alloc_failed());
    assert_int_equal(hr_alloc_count(), 3);
    hr_alloc_fail_nth(0);
    assert_false(hr_alloc_failed());
    assert_int_equal(hr_alloc_count(), 0);
    hr_free(a);
    hr_free(c);
}

static void test_alloc_realloc_keeps_block_on_failure(void **state)
{
    (void)state;
    char *p = hr_malloc(4);
    assert_non_null(p);
    memcpy(p, "abc", 4);
    hr_alloc_fail_nth(1);
    assert_null(hr_realloc(p, 1 << 20));
    hr_alloc_fail_nth(0);
    assert_string_equal(p, "abc");
    char *q = hr_realloc(p, 0); /* never a freed pointer */
    assert_non_null(q);
    free(q); /* interchangeable with free() */
}

static void test_alloc_strndup(void **state)
{
    (void)state;
    char *s = hr_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    hr_free(s);
    s = hr_strndup(NULL, 0);
    assert_string_equal(s, "");
    hr_free(s);
    assert_null(hr_strndup("x", SIZE_MAX));
    assert_null(hr_calloc(SIZE_MAX / 2, 4));
}

/* ---- the sweep ---- */

typedef int (*op_fn)(void);

/* Runs op with the Nth allocation failing for N = 1.. until it succeeds
 * without reaching N. Each run must clean up after itself. */
static void sweep(const char *name, op_fn op)
{
    for (unsigned long n = 1; n < 100000; n++) {
        hr_alloc_fail_nth(n);
        const int rc = op();
        const bool hit = hr_alloc_failed();
        hr_alloc_fail_nth(0);
        if (!hit) {
            if (rc != 0)
                fail_msg("%s: no failure injected at %lu, still rc %d", name, n, rc);
            return;
        }
        if (rc != 0 && rc != HR_ENOMEM)
            fail_msg("%s: allocation %lu failed, rc %d (%s), want 0 or HR_ENOMEM", name, n, rc,
                     hr_err_str(rc));
    }
    fail_msg("%s: never succeeded", name);
}

/* ---- buf and msg ---- */

static int op_buf(void)
{
    hr_buf b;
    hr_buf_init(&b, 1 << 20);
    uint8_t chunk[5000];
    memset(chunk, 'x', sizeof chunk);
    int rc = 0;
    size_t want = 0;
    for (int i = 0; i < 6 && rc == 0; i++) {
        rc = hr_buf_append(&b, chunk, sizeof chunk);
        if (rc == 0)
            want += sizeof chunk;
        if (i == 2 && rc == 0) {
            hr_buf_consume(&b, 100);
            want -= 100;
        }
    }
    /* A failed append leaves the earlier bytes alone. */
    assert_int_equal(b.len, want);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(hr_buf_data(&b)[i], 'x');
    hr_buf_deinit(&b);
    return rc;
}

static int op_msg(void)
{
    hr_msg *a = hr_msg_new_copy("hello", 5);
    hr_msg *b = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, "hi", 2);
    hr_msg *c = hr_ws_frame_close_msg_new(HR_WS_CLOSE_GOING_AWAY, "bye");
    const int rc = a != NULL && b != NULL && c != NULL ? 0 : HR_ENOMEM;
    hr_msg_unref(a);
    hr_msg_unref(b);
    hr_msg_unref(c);
    return rc;
}

static void test_alloc_fail_buf_msg(void **state)
{
    (void)state;
    sweep("buf", op_buf);
    sweep("msg", op_msg);
}

/* ---- ws_reader ---- */

/* A masked text message in three fragments (with a ping in between), so the
 * reader must buffer it, followed by a whole binary message. */
static size_t build_stream(uint8_t *out, size_t cap)
{
    static const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t big[6000];
    memset(big, 'a', sizeof big);
    size_t n = 0;
    n += hr_ws_frame_client_write(out + n, cap - n, HR_WS_OP_TEXT, false, false, big, 3000, mask);
    n += hr_ws_frame_client_write(out + n, cap - n, HR_WS_OP_PING, true, false, "p", 1, mask);
    n += hr_ws_frame_client_write(out + n, cap - n, HR_WS_OP_CONT, false, false, big, 3000, mask);
    n += hr_ws_frame_client_write(out + n, cap - n, HR_WS_OP_CONT, true, false, big, 6000, mask);
    n += hr_ws_frame_client_write(out + n, cap - n, HR_WS_OP_BINARY, true, false, big, 10, mask);
    return n;
}

static int op_ws_reader(void)
{
    uint8_t wire[16384];
    const size_t len = build_stream(wire, sizeof wire);
    hr_ws_reader r;
    hr_ws_reader_init(&r, &(hr_ws_reader_cfg){.require_masked = true});
    size_t off = 0;
    int events = 0;
    int rc = 0;
    while (off < len) {
        hr_ws_event ev;
        const size_t piece = len - off < 1000 ? len - off : 1000;
        const ssize_t n = hr_ws_reader_feed(&r, wire + off, piece, &ev);
        if (n < 0) {
            rc = (int)n;
            /* Errors are sticky. */
            assert_int_equal(hr_ws_reader_feed(&r, wire + off, piece, &ev), rc);
            break;
        }
        off += (size_t)n;
        if (ev.type == HR_WS_EV_MESSAGE) {
            assert_int_equal(ev.len, events == 1 ? 12000 : 10);
            events++;
        } else if (ev.type == HR_WS_EV_PING) {
            events++;
        }
    }
    if (rc == 0)
        assert_int_equal(events, 3);
    hr_ws_reader_deinit(&r);
    return rc;
}

static void test_alloc_fail_ws_reader(void **state)
{
    (void)state;
    sweep("ws_reader", op_ws_reader);
}

/* ---- ws_deflate ---- */

static int op_deflate_frame(void)
{
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    p.server_no_context_takeover = true;
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, true, 0);
    static const char text[] = "{\"type\":\"event\",\"channel\":\"a\",\"data\":\"hello hello\"}";
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        hr_msg *m = hr_ws_deflate_frame_new(&d, HR_WS_OP_TEXT, text, sizeof text - 1);
        rc = m != NULL ? 0 : HR_ENOMEM;
        hr_msg_unref(m);
    }
    hr_ws_deflater_deinit(&d);
    return rc;
}

/* Compressed input for op_inflate_run: two messages from one context-takeover
 * deflater, built before the sweep. */
static hr_buf g_z1, g_z2;

/* The first message whole, the second in two parts (context takeover). */
static int op_inflate_run(void)
{
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &p, true);
    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    int rc = hr_ws_inflate(&f, hr_buf_data(&g_z1), g_z1.len, &out, 1 << 20);
    if (rc == 0) {
        assert_int_equal(out.len, 20000);
        const size_t half = g_z2.len / 2;
        rc = hr_ws_inflate_part(&f, hr_buf_data(&g_z2), half, false, &out, 1 << 20);
        if (rc == 0)
            rc = hr_ws_inflate_part(&f, hr_buf_data(&g_z2) + half, g_z2.len - half, true, &out,
                                    1 << 20);
        if (rc == 0)
            assert_int_equal(out.len, 40000);
    }
    hr_ws_inflater_deinit(&f);
    hr_buf_deinit(&out);
    return rc;
}

/* A message that ends its DEFLATE stream with BFINAL, twice under context
 * takeover: the stream restarts keep the window (an allocation). */
static uint8_t g_fin[256];
static size_t g_fin_len;

static int op_inflate_bfinal(void)
{
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    hr_ws_inflater f;
    hr_ws_inflater_init(&f, &p, true);
    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = hr_ws_inflate(&f, g_fin, g_fin_len, &out, 1 << 20);
    if (rc == 0)
        assert_int_equal(out.len, 2 * 26);
    hr_ws_inflater_deinit(&f);
    hr_buf_deinit(&out);
    return rc;
}

static void test_alloc_fail_ws_deflate(void **state)
{
    (void)state;
    sweep("deflate_frame", op_deflate_frame);
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    hr_ws_deflater d;
    hr_ws_deflater_init(&d, &p, false, 0);
    hr_buf_init(&g_z1, 1 << 16);
    hr_buf_init(&g_z2, 1 << 16);
    char text[20000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + (i * 7) % 26);
    assert_int_equal(hr_ws_deflate_message(&d, (const uint8_t *)text, sizeof text, &g_z1), 0);
    assert_int_equal(hr_ws_deflate_message(&d, (const uint8_t *)text, sizeof text, &g_z2), 0);
    hr_ws_deflater_deinit(&d);
    sweep("inflate", op_inflate_run);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t) "abcdefghijklmnopqrstuvwxyz";
    z.avail_in = 26;
    z.next_out = g_fin;
    z.avail_out = sizeof g_fin;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    g_fin_len = sizeof g_fin - z.avail_out;
    deflateEnd(&z);
    sweep("inflate_bfinal", op_inflate_bfinal);
    hr_buf_deinit(&g_z1);
    hr_buf_deinit(&g_z2);
}

/* ---- cproto ---- */

static int op_cproto_parse(void)
{
    static const char cmd_text[] =
        "{\"type\":\"subscribe\",\"channels\":[\"a\",\"b\",\"a\",\"c:d\"],"
        "\"since\":\"17-0\",\"ref\":\"r1\",\"extra\":{\"x\":[1,2]}}";
    hr_cmd cmd;
    hr_cproto_error err;
    const int rc = hr_cproto_parse((const uint8_t *)cmd_text, sizeof cmd_text - 1, 16, &cmd, &err);
    if (rc == 0) {
        assert_int_equal(cmd.n_channels, 3);
        assert_string_equal(cmd.since, "17-0");
        assert_string_equal(cmd.ref, "r1");
    } else {
        assert_null(cmd.channels);
        assert_null(cmd.ref);
    }
    hr_cmd_deinit(&cmd);
    return rc;
}

static int op_cproto_write(void)
{
    const char *chans[] = {"a", "b"};
    char *out[5] = {NULL};
    size_t len;
    int rc = hr_cproto_write_welcome("c1", "u\xc3\xa9", &out[0], &len);
    if (rc == 0)
        rc = hr_cproto_write_subscribed(chans, 2, true, "r", &out[1], &len);
    if (rc == 0)
        rc = hr_cproto_write_unsubscribed(chans, 2, "r", &out[2], &len);
    if (rc == 0)
        rc = hr_cproto_write_error("bad_request", "no \"x\"", "r", &out[3], &len);
    if (rc == 0) {
        hr_cproto_error e = {.code = "bad_request", .message = "m", .has_ref = true, .ref = "q"};
        rc = hr_cproto_write_parse_error(&e, &out[4], &len);
    }
    if (rc == 0) { /* a dump that lost an allocation must not pass as good */
        assert_string_equal(out[0], "{\"type\":\"welcome\",\"connection\":\"c1\","
                                    "\"user\":\"u\xc3\xa9\"}");
        assert_string_equal(out[1], "{\"type\":\"subscribed\",\"channels\":[\"a\",\"b\"],"
                                    "\"recovered\":true,\"ref\":\"r\"}");
        assert_string_equal(out[2],
                            "{\"type\":\"unsubscribed\",\"channels\":[\"a\",\"b\"],\"ref\":\"r\"}");
        assert_string_equal(out[3], "{\"type\":\"error\",\"code\":\"bad_request\","
                                    "\"message\":\"no \\\"x\\\"\",\"ref\":\"r\"}");
        assert_string_equal(out[4], "{\"type\":\"error\",\"code\":\"bad_request\","
                                    "\"message\":\"m\",\"ref\":\"q\"}");
    }
    for (size_t i = 0; i < 5; i++)
        free(out[i]);
    return rc;
}

static void test_alloc_fail_cproto(void **state)
{
    (void)state;
    sweep("cproto_parse", op_cproto_parse);
    sweep("cproto_write", op_cproto_write);
}

/* ---- publish ---- */

static int op_publish_parse(void)
{
    static const char body[] = "[{\"channel\":\"a\",\"data\":{\"k\": [1, 2.50, \"s\"]}},"
                               " {\"channels\":[\"b\",\"c\",\"b\"],\"d\\u0061ta\":1}]";
    hr_pub_batch b;
    char errbuf[128];
    const int rc =
        hr_publish_parse((const uint8_t *)body, sizeof body - 1, 10, &b, errbuf, sizeof errbuf);
    if (rc == 0) {
        assert_int_equal(b.n_items, 2);
        assert_string_equal(b.items[0].data, "{\"k\":[1,2.50,\"s\"]}");
        assert_int_equal(b.items[1].n_channels, 2);
        assert_string_equal(b.items[1].data, "1"); /* never jansson's "1.0" */
    } else {
        assert_null(b.items);
    }
    hr_publish_batch_deinit(&b);
    return rc;
}

/* A channel list long enough for the hash-set dedup path. */
static int op_publish_long_list(void)
{
    char body[512];
    size_t w = (size_t)snprintf(body, sizeof body, "{\"data\":0,\"channels\":[");
    for (int i = 0; i < 24; i++)
        w += (size_t)snprintf(body + w, sizeof body - w, "%s\"c%d\"", i > 0 ? "," : "", i % 20);
    w += (size_t)snprintf(body + w, sizeof body - w, "]}");
    hr_pub_batch b;
    const int rc = hr_publish_parse((const uint8_t *)body, w, 10, &b, NULL, 0);
    if (rc == 0)
        assert_int_equal(b.items[0].n_channels, 20);
    hr_publish_batch_deinit(&b);
    return rc;
}

static int op_publish_misc(void)
{
    const char *ids[] = {"1-0", "2-0"};
    char *out[4] = {NULL};
    size_t len;
    int rc = hr_publish_normalize_data(" { \"a\" : 1 } ", 13, &out[0], &len);
    if (rc == 0)
        rc = hr_publish_write_id("1-0", &out[1], &len);
    if (rc == 0)
        rc = hr_publish_write_ids(ids, 2, &out[2], &len);
    if (rc == 0)
        rc = hr_publish_write_error("bad_request", "bad \"x\"", &out[3], &len);
    if (rc == 0) {
        assert_string_equal(out[0], "{\"a\":1}");
        assert_string_equal(out[1], "{\"id\":\"1-0\"}");
        assert_string_equal(out[2], "{\"ids\":[\"1-0\",\"2-0\"]}");
        assert_string_equal(out[3], "{\"error\":\"bad_request\",\"message\":\"bad \\\"x\\\"\"}");
    }
    for (size_t i = 0; i < 4; i++)
        free(out[i]);
    return rc;
}

static void test_alloc_fail_publish(void **state)
{
    (void)state;
    sweep("publish_parse", op_publish_parse);
    sweep("publish_long_list", op_publish_long_list);
    sweep("publish_misc", op_publish_misc);
}

/* ---- token ---- */

static char *g_token;

static int op_token(void)
{
    static const char secret[] = "0123456789abcdef0123456789abcdef";
    const hr_token_cfg cfg = {
        .allow_hs256 = true, .secret = (const uint8_t *)secret, .secret_len = sizeof secret - 1};
    hr_identity id;
    const char *why = NULL;
    const int rc = hr_token_verify(&cfg, g_token, strlen(g_token), 1000, &id, &why);
    if (rc == 0) {
        assert_string_equal(id.user, "u1");
        assert_int_equal(id.n_channels, 2);
    } else {
        assert_string_equal(why, "out of memory");
        assert_null(id.user);
    }
    hr_identity_deinit(&id);
    return rc;
}

static void test_alloc_fail_token(void **state)
{
    (void)state;
    static const char secret[] = "0123456789abcdef0123456789abcdef";
    g_token = mint_token(JWT_ALG_HS256, secret, sizeof secret - 1,
                         "{\"sub\":\"u1\",\"exp\":2000,\"channels\":[\"a:b\",\"t:*\"]}");
    sweep("token", op_token);
    free(g_token);
    g_token = NULL;
}

/* ---- channel identities ---- */

static int op_identity(void)
{
    hr_identity a, b;
    int rc = hr_identity_from_headers("u1", 2, "team:*, x:y ,z", 14, &a);
    if (rc != 0)
        return rc;
    rc = hr_identity_copy(&a, &b);
    if (rc == 0) {
        char *s = NULL;
        size_t len;
        rc = hr_identity_format_channels(&b, &s, &len);
        if (rc == 0)
            assert_string_equal(s, "team:*,x:y,z");
        free(s);
    }
    hr_identity_deinit(&a);
    hr_identity_deinit(&b);
    return rc;
}

static void test_alloc_fail_channel_identity(void **state)
{
    (void)state;
    sweep("identity", op_identity);
}

int main(void)
{
    json_set_alloc_funcs(hr_malloc, hr_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_fail_nth_only),
        cmocka_unit_test(test_alloc_realloc_keeps_block_on_failure),
        cmocka_unit_test(test_alloc_strndup),
        cmocka_unit_test(test_alloc_fail_buf_msg),
        cmocka_unit_test(test_alloc_fail_ws_reader),
        cmocka_unit_test(test_alloc_fail_ws_deflate),
        cmocka_unit_test(test_alloc_fail_cproto),
        cmocka_unit_test(test_alloc_fail_publish),
        cmocka_unit_test(test_alloc_fail_channel_identity),
        cmocka_unit_test(test_alloc_fail_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

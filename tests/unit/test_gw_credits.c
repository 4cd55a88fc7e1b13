/* Unit tests for the gateway's owed herald-link window (src/gateway/
 * credits.c): pairs add up per session within a turn, forgotten sessions
 * are not credited, a write that the link's batch refuses keeps the window
 * owed (review O1), and the number of frames one 4,096-session broadcast
 * returns. Frames are parsed back with hr_link_parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "gateway/credits.h"
#include "proto/link.h"

/* Parses every frame in out; adds each credited byte count to
 * owed[session] (sessions < n_owed); returns the number of frames. */
static size_t read_back(hr_buf *out, uint64_t *owed, size_t n_owed)
{
    size_t frames = 0;
    const uint8_t *p = hr_buf_data(out);
    size_t len = out->len;
    while (len > 0) {
        hr_link_frame f;
        const int rc = hr_link_parse(p, len, 1 << 20, &f);
        assert_true(rc > 0);
        frames++;
        if (f.type == HR_LINK_CREDIT) {
            assert_true(f.session < n_owed);
            owed[f.session] += f.credit;
        }
        else if (f.type == HR_LINK_CREDITS) {
            for (size_t i = 0; i < f.n_credits; i++) {
                const hr_link_credit c = hr_link_credits_at(&f, i);
                assert_true(c.session < n_owed);
                owed[c.session] += c.bytes;
            }
        }
        else {
            fail_msg("unexpected frame type %d", (int)f.type);
        }
        p += rc;
        len -= (size_t)rc;
    }
    hr_buf_consume(out, out->len);
    return frames;
}

static void test_credits_add_up_per_session(void **state)
{
    (void)state;
    gw_credits c;
    gw_credits_init(&c);
    gw_credit_ref a = {0}, b = {0};
    assert_int_equal(gw_credits_add(&c, &a, 7, 100), 0);
    assert_int_equal(gw_credits_add(&c, &b, 9, 5), 0);
    assert_int_equal(gw_credits_add(&c, &a, 7, 23), 0);
    assert_int_equal(gw_credits_pending(&c), 2);
    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    size_t frames = 0;
    assert_int_equal(gw_credits_write(&c, &out, false, 1, &frames), 0);
    assert_int_equal(frames, 2);
    uint64_t owed[16] = {0};
    assert_int_equal(read_back(&out, owed, 16), 2);
    assert_int_equal(owed[7], 123);
    assert_int_equal(owed[9], 5);
    assert_int_equal(gw_credits_pending(&c), 0);
    /* the next turn: old refs are stale, a new pair starts */
    assert_int_equal(gw_credits_add(&c, &a, 7, 1), 0);
    assert_int_equal(gw_credits_pending(&c), 1);
    assert_int_equal(gw_credits_write(&c, &out, false, 1, &frames), 0);
    memset(owed, 0, sizeof owed);
    read_back(&out, owed, 16);
    assert_int_equal(owed[7], 1);
    hr_buf_deinit(&out);
    gw_credits_deinit(&c);
}

static void test_credits_forget(void **state)
{
    (void)state;
    gw_credits c;
    gw_credits_init(&c);
    gw_credit_ref a = {0}, b = {0}, d = {0};
    assert_int_equal(gw_credits_add(&c, &a, 1, 10), 0);
    assert_int_equal(gw_credits_add(&c, &b, 2, 20), 0);
    assert_int_equal(gw_credits_add(&c, &d, 3, 30), 0);
    gw_credits_forget(&c, &b);
    gw_credits_forget(&c, &b); /* twice: harmless */
    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    assert_int_equal(gw_credits_write(&c, &out, false, 1, NULL), 0);
    uint64_t owed[4] = {0};
    assert_int_equal(read_back(&out, owed, 4), 2);
    assert_int_equal(owed[1], 10);
    assert_int_equal(owed[2], 0);
    assert_int_equal(owed[3], 30);
    hr_buf_deinit(&out);
    gw_credits_deinit(&c);
}

/* Review O1: the batch is over its bound, the CREDIT write fails; the
 * window stays owed and goes out whole on a later turn. */
static void test_credits_failed_write_keeps_them_owed(void **state)
{
    (void)state;
    gw_credits c;
    gw_credits_init(&c);
    gw_credit_ref refs[40] = {{0}};
    for (uint32_t s = 1; s < 40; s++)
        assert_int_equal(gw_credits_add(&c, &refs[s], s, 1000 + s), 0);
    hr_buf out;
    hr_buf_init(&out, 3 * (HR_LINK_HEADER + 4)); /* room for three CREDIT frames */
    size_t frames = 0;
    assert_int_equal(gw_credits_write(&c, &out, false, 1, &frames), HR_ETOOBIG);
    assert_int_equal(frames, 3);
    assert_int_equal(gw_credits_pending(&c), 36);
    uint64_t owed[40] = {0};
    read_back(&out, owed, 40); /* the batch was written */
    /* credited again this turn, before the retry: adds to what is owed */
    assert_int_equal(gw_credits_add(&c, &refs[39], 39, 1), 0);
    int rc = HR_ETOOBIG;
    for (int turn = 0; turn < 100 && rc != 0; turn++) {
        rc = gw_credits_write(&c, &out, false, 1, NULL);
        read_back(&out, owed, 40);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(gw_credits_pending(&c), 0);
    for (uint32_t s = 1; s < 40; s++)
        assert_int_equal(owed[s], 1000 + s + (s == 39 ? 1 : 0));
    hr_buf_deinit(&out);
    gw_credits_deinit(&c);
}

static void test_credits_large_amounts_split(void **state)
{
    (void)state;
    gw_credits c;
    gw_credits_init(&c);
    gw_credit_ref a = {0};
    assert_int_equal(gw_credits_add(&c, &a, 5, UINT32_MAX - 1), 0);
    assert_int_equal(gw_credits_add(&c, &a, 5, 10), 0);
    assert_int_equal(gw_credits_pending(&c), 2);
    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    assert_int_equal(gw_credits_write(&c, &out, false, 1, NULL), 0);
    uint64_t owed[8] = {0};
    read_back(&out, owed, 8);
    assert_true(owed[5] == (uint64_t)UINT32_MAX - 1 + 10);
    hr_buf_deinit(&out);
    gw_credits_deinit(&c);
}

/* One BCAST to 4,096 sessions of a link, each session handing the message
 * to its client in the same turn: how many frames carry the window back,
 * to a v3 notifier (CREDITS) and to an older one (CREDIT per session). */
static size_t bcast_credit_frames(bool multi, size_t *bytes)
{
    enum { N = HR_LINK_MAX_BCAST };
    gw_credits c;
    gw_credits_init(&c);
    gw_credit_ref *refs = calloc(N + 1, sizeof *refs);
    assert_non_null(refs);
    for (uint32_t s = 1; s <= N; s++)
        assert_int_equal(gw_credits_add(&c, &refs[s], s, 300), 0);
    hr_buf out;
    hr_buf_init(&out, 1 << 20);
    size_t frames = 0;
    assert_int_equal(gw_credits_write(&c, &out, multi, HR_LINK_MAX_CREDITS, &frames), 0);
    *bytes = out.len;
    uint64_t *owed = calloc(N + 1, sizeof *owed);
    assert_non_null(owed);
    assert_int_equal(read_back(&out, owed, N + 1), frames);
    for (uint32_t s = 1; s <= N; s++)
        assert_int_equal(owed[s], 300);
    free(owed);
    free(refs);
    hr_buf_deinit(&out);
    gw_credits_deinit(&c);
    return frames;
}

static void test_credits_one_bcast_4096_sessions(void **state)
{
    (void)state;
    size_t v3_bytes = 0, v2_bytes = 0;
    const size_t v3 = bcast_credit_frames(true, &v3_bytes);
    const size_t v2 = bcast_credit_frames(false, &v2_bytes);
    print_message("one %d-session BCAST returns %zu CREDITS frame (%zu bytes) to a v3 notifier, "
                  "%zu CREDIT frames (%zu bytes) to an older one\n",
                  HR_LINK_MAX_BCAST, v3, v3_bytes, v2, v2_bytes);
    assert_int_equal(v3, 1);
    assert_int_equal(v2, HR_LINK_MAX_BCAST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credits_add_up_per_session),
        cmocka_unit_test(test_credits_forget),
        cmocka_unit_test(test_credits_failed_write_keeps_them_owed),
        cmocka_unit_test(test_credits_large_amounts_split),
        cmocka_unit_test(test_credits_one_bcast_4096_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

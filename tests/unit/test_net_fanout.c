/* lib/net on a broadcast: one shared frame queued to many loopback clients.
 * Counts the heap allocations of the send path (none per client while a
 * client's queue holds at most HR_SENDQ_INLINE frames), keeps each client's
 * order through partial writes (small receive buffers, EAGAIN, libuv's
 * queued write), survives a client that resets while its write is
 * pending, and writes a frame queued between two chunks of a flush pass
 * together with the earlier one to the connections not yet written (counted
 * in write calls, not time). No timing asserts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include "core/alloc.h"
#include "net/conn_internal.h" /* the server socket's send buffer */
#include "net/sendq.h"
#include "net_harness.h"

#define CLIENTS 32
#define BIG 16384    /* payload of one frame in the partial-write tests */
#define BIG_N 192    /* frames per client: 3 MiB, past what the sockets buffer */
#define RCVBUF 65536 /* small, but not below the loopback MSS (a stall there is TCP's) */

typedef struct fan {
    hr_conn *conns[CLIENTS];
    size_t n;
    hr_msg *frames[BIG_N];
    size_t nframes;
    size_t skip; /* conns[skip] gets nothing (closed by the test) */
    int sndbuf;  /* > 0: the server side's SO_SNDBUF, so its writes are cut short */
    unsigned long allocs;
} fan;

static void grab_last(harness *h, void *arg)
{
    fan *f = arg;
    hr_conn *c = h->last;
    f->conns[f->n++] = c;
    if (f->sndbuf > 0) {
        int v = f->sndbuf;
        assert_int_equal(uv_send_buffer_size((uv_handle_t *)&c->tcp, &v), 0);
    }
}

static void broadcast(harness *h, void *arg)
{
    fan *f = arg;
    for (size_t i = 0; i < f->n; i++) {
        if (i == f->skip)
            continue;
        for (size_t k = 0; k < f->nframes; k++)
            assert_int_equal(hr_conn_send_msg(f->conns[i], f->frames[k]), 0);
    }
}

/* Counting starts here (a failure armed past any reachable count). */
static void broadcast_counted(harness *h, void *arg)
{
    hr_alloc_fail_nth(ULONG_MAX);
    broadcast(h, arg);
}

static void count_stop(harness *h, void *arg)
{
    fan *f = arg;
    f->allocs = hr_alloc_count();
    hr_alloc_fail_nth(0);
}

static tc *open_client(harness *h, fan *f, int rcvbuf)
{
    tc *t = tc_connect(h->port);
    if (rcvbuf > 0)
        setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    assert_int_equal(tc_upgrade(t, "/", NULL, NULL, 0), 101);
    assert_int_equal(h_wait_at_least(&h->opens, (int)f->n + 1), (int)f->n + 1);
    h_run(h, grab_last, f);
    return t;
}

static void free_frames(fan *f)
{
    for (size_t k = 0; k < f->nframes; k++)
        hr_msg_unref(f->frames[k]);
    f->nframes = 0;
}

static void test_net_fanout_allocates_nothing_per_client(void **state)
{
    harness *h = h_start(NULL);
    fan f = {.skip = SIZE_MAX};
    tc *t[CLIENTS];
    for (size_t i = 0; i < CLIENTS; i++)
        t[i] = open_client(h, &f, 0);
    static const char *ev[] = {"{\"type\":\"event\",\"id\":\"1\"}",
                               "{\"type\":\"event\",\"id\":\"2\"}"};
    /* One frame per client per turn, then two (the inline capacity). */
    for (size_t round = 1; round <= HR_SENDQ_INLINE; round++) {
        for (size_t k = 0; k < round; k++)
            f.frames[f.nframes++] = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, ev[k], strlen(ev[k]));
        h_run(h, broadcast_counted, &f);
        for (size_t i = 0; i < CLIENTS; i++) {
            for (size_t k = 0; k < round; k++) {
                uint8_t buf[64];
                size_t len = 0;
                assert_int_equal(tc_read_frame(t[i], buf, sizeof buf, &len, NULL), HR_WS_OP_TEXT);
                assert_int_equal(len, strlen(ev[k]));
                assert_memory_equal(buf, ev[k], len);
            }
        }
        h_run(h, count_stop, &f);
        assert_int_equal(f.allocs, 0);
        free_frames(&f);
    }
    for (size_t i = 0; i < CLIENTS; i++)
        tc_free(t[i]);
    h_stop(h);
}

/* Frame k of BIG bytes, its first four bytes k (big-endian). */
static void make_big_frames(fan *f)
{
    static uint8_t p[BIG];
    for (size_t k = 0; k < BIG_N; k++) {
        memset(p, (int)('a' + k % 26), sizeof p);
        p[0] = (uint8_t)(k >> 24), p[1] = (uint8_t)(k >> 16), p[2] = (uint8_t)(k >> 8),
        p[3] = (uint8_t)k;
        f->frames[f->nframes++] = hr_ws_frame_msg_new(HR_WS_OP_BINARY, false, p, sizeof p);
    }
}

static void expect_big_frames(tc *t)
{
    static uint8_t buf[BIG];
    for (size_t k = 0; k < BIG_N; k++) {
        size_t len = 0;
        assert_int_equal(tc_read_frame(t, buf, sizeof buf, &len, NULL), HR_WS_OP_BINARY);
        assert_int_equal(len, BIG);
        const size_t got =
            (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
        assert_int_equal(got, k);
        assert_int_equal(buf[BIG - 1], 'a' + k % 26);
    }
}

static hr_server_config big_queue_config(void)
{
    hr_server_config cfg;
    hr_server_config_default(&cfg);
    cfg.send_queue_limit = (size_t)8 << 20;
    return cfg;
}

static void test_net_fanout_order_through_partial_writes(void **state)
{
    const hr_server_config cfg = big_queue_config();
    harness *h = h_start(&cfg);
    fan f = {.skip = SIZE_MAX, .sndbuf = 16384};
    tc *t[4];
    for (size_t i = 0; i < 4; i++)
        t[i] = open_client(h, &f, RCVBUF);
    make_big_frames(&f);
    h_run(h, broadcast_counted, &f); /* 3 MiB each: writes are cut short */
    for (size_t i = 0; i < 4; i++)   /* one at a time: the others wait */
        expect_big_frames(t[i]);
    h_run(h, count_stop, &f);
    assert_int_equal(atomic_load(&h->closes), 0);
    /* The frames outgrew the inline entries (one ring per client) and went
     * out through libuv's queued writes (a uv_write_t each). */
    assert_true(f.allocs > 4);
    free_frames(&f);
    for (size_t i = 0; i < 4; i++)
        tc_free(t[i]);
    h_stop(h);
}

static void test_net_fanout_client_resets_mid_write(void **state)
{
    const hr_server_config cfg = big_queue_config();
    harness *h = h_start(&cfg);
    fan f = {.skip = SIZE_MAX, .sndbuf = 16384};
    tc *gone = open_client(h, &f, RCVBUF);
    tc *stays = open_client(h, &f, RCVBUF);
    make_big_frames(&f);
    h_run(h, broadcast, &f);
    /* Read a little so the server's write to it is under way, then reset. */
    size_t len = 0;
    static uint8_t buf[BIG];
    assert_int_equal(tc_read_frame(gone, buf, sizeof buf, &len, NULL), HR_WS_OP_BINARY);
    const struct linger rst = {.l_onoff = 1, .l_linger = 0};
    setsockopt(gone->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
    tc_free(gone);
    assert_int_equal(h_wait_at_least(&h->closes, 1), 1);
    assert_int_equal(atomic_load(&h->last_code), 1006);
    expect_big_frames(stays); /* the other client loses nothing */
    /* And a later broadcast still reaches it. */
    free_frames(&f);
    f.frames[f.nframes++] = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, "after", 5);
    f.skip = 0;
    h_run(h, broadcast, &f);
    assert_int_equal(tc_read_frame(stays, buf, sizeof buf, &len, NULL), HR_WS_OP_TEXT);
    assert_memory_equal(buf, "after", 5);
    free_frames(&f);
    tc_free(stays);
    h_stop(h);
}

/* The flush pass writes FLUSH_BATCH connections per loop turn. A frame
 * queued after the first chunk (from a check handle: after that turn's
 * poll, as a publish read there would be) goes out with the first frame to
 * the connections still waiting, and alone to those already written. */
#define FLUSH_BATCH 8

typedef struct between {
    fan *f;
    hr_server *srv;
    uv_check_t check;
    hr_msg *second;
    int checks;
    uint64_t writes0;
} between;

static void on_between_check(uv_check_t *h)
{
    between *b = h->data;
    if (++b->checks < 2) /* the first check runs in the turn that queued A */
        return;
    for (size_t i = 0; i < b->f->n; i++)
        assert_int_equal(hr_conn_send_msg(b->f->conns[i], b->second), 0);
    uv_check_stop(h);
    uv_close((uv_handle_t *)h, NULL);
}

static void queue_first(harness *h, void *arg)
{
    between *b = arg;
    b->writes0 = hr_server_stats(h->srv)->writes;
    broadcast(h, b->f);
    uv_check_init(&h->loop, &b->check);
    b->check.data = b;
    uv_check_start(&b->check, on_between_check);
}

static void read_writes(harness *h, void *arg)
{
    between *b = arg;
    b->writes0 = hr_server_stats(h->srv)->writes - b->writes0;
}

static void test_net_fanout_frames_join_between_chunks(void **state)
{
    hr_server_config cfg;
    hr_server_config_default(&cfg);
    cfg.flush_batch = FLUSH_BATCH;
    harness *h = h_start(&cfg);
    fan f = {.skip = SIZE_MAX};
    tc *t[CLIENTS];
    for (size_t i = 0; i < CLIENTS; i++)
        t[i] = open_client(h, &f, 0);
    f.frames[f.nframes++] = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, "A", 1);
    between b = {.f = &f, .second = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, "B", 1)};
    h_run(h, queue_first, &b);
    for (size_t i = 0; i < CLIENTS; i++) {
        static const char *want[] = {"A", "B"};
        for (size_t k = 0; k < 2; k++) {
            uint8_t buf[8];
            size_t len = 0;
            assert_int_equal(tc_read_frame(t[i], buf, sizeof buf, &len, NULL), HR_WS_OP_TEXT);
            assert_int_equal(len, 1);
            assert_memory_equal(buf, want[k], 1);
        }
    }
    h_run(h, read_writes, &b);
    /* The first chunk: A, then B alone; every other connection: A and B in
     * one write. */
    assert_int_equal(b.writes0, CLIENTS + FLUSH_BATCH);
    assert_int_equal(atomic_load(&h->closes), 0);
    hr_msg_unref(b.second);
    free_frames(&f);
    for (size_t i = 0; i < CLIENTS; i++)
        tc_free(t[i]);
    h_stop(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_fanout_allocates_nothing_per_client),
        cmocka_unit_test(test_net_fanout_order_through_partial_writes),
        cmocka_unit_test(test_net_fanout_client_resets_mid_write),
        cmocka_unit_test(test_net_fanout_frames_join_between_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the herald-link transport (lib/net/link_conn): the batch
 * (bytes and message references, iov order, take, limit), then real links
 * over loopback TCP pairs on one loop: HELLO both ways, frames in order, a
 * shared payload sent by reference (its message's count goes back once the
 * kernel took it), one write per loop turn, PING answered, a first frame
 * other than HELLO, a HELLO of another version, an oversized frame skipped,
 * EOF, a graceful end, keepalive PING and idle, and closing with a write in
 * flight. The loop runs in this thread; every wait is bounded. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "net/link_conn.h"

/* ---- batch ----------------------------------------------------------------- */

static hr_msg *msg_of(const char *s)
{
    hr_msg *m = hr_msg_new_copy(s, strlen(s));
    assert_non_null(m);
    return m;
}

static size_t flatten(const hr_link_batch *b, uint8_t *out)
{
    uv_buf_t iov[64];
    assert_true(hr_link_batch_n_iov(b) <= 64);
    const size_t n = hr_link_batch_iov(b, iov);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(iov[i].len > 0);
        memcpy(out + len, iov[i].base, iov[i].len);
        len += iov[i].len;
    }
    return len;
}

static void test_net_link_conn_batch_order(void **state)
{
    (void)state;
    hr_link_batch b;
    hr_link_batch_init(&b, 1000);
    hr_msg *m = msg_of("xxPAYLOADyy");
    assert_int_equal(hr_buf_append(&b.bytes, "ab", 2), 0);
    assert_int_equal(hr_link_batch_add_msg(&b, (const uint8_t *)"H1", 2, m, 2, 7), 0);
    assert_int_equal(hr_link_batch_add_msg(&b, (const uint8_t *)"H2", 2, m, 0, 2), 0);
    assert_int_equal(hr_buf_append(&b.bytes, "cd", 2), 0);
    assert_int_equal(hr_link_batch_add_msg(&b, (const uint8_t *)"", 0, m, 9, 2), 0);
    assert_int_equal(atomic_load(&m->refs), 4);
    uint8_t flat[64];
    const size_t n = flatten(&b, flat);
    assert_int_equal(n, hr_link_batch_len(&b));
    assert_memory_equal(flat, "abH1PAYLOADH2xxcdyy", 19);
    assert_int_equal(n, 19);

    hr_link_batch to;
    hr_link_batch_init(&to, 1000);
    hr_link_batch_take(&to, &b);
    assert_int_equal(hr_link_batch_len(&b), 0);
    assert_int_equal(b.max, 1000);
    assert_int_equal(hr_link_batch_len(&to), 19);
    assert_int_equal(atomic_load(&m->refs), 4);
    hr_link_batch_deinit(&to);
    assert_int_equal(atomic_load(&m->refs), 1);
    hr_link_batch_deinit(&b);
    hr_msg_unref(m);
}

static void test_net_link_conn_batch_limit(void **state)
{
    (void)state;
    hr_link_batch b;
    hr_link_batch_init(&b, 20);
    hr_msg *m = msg_of("0123456789");
    assert_int_equal(hr_link_batch_add_msg(&b, (const uint8_t *)"hh", 2, m, 0, 10), 0);
    /* 12 of 20 used: the writers' bound now counts the reference too */
    assert_int_equal(hr_link_batch_add_msg(&b, (const uint8_t *)"hh", 2, m, 0, 10), HR_ETOOBIG);
    assert_int_equal(hr_buf_append(&b.bytes, "123456789", 9), HR_ETOOBIG);
    assert_int_equal(hr_buf_append(&b.bytes, "12345678", 8), 0);
    assert_int_equal(hr_link_batch_len(&b), 20);
    assert_int_equal(atomic_load(&m->refs), 2);
    hr_link_batch_deinit(&b);
    assert_int_equal(atomic_load(&m->refs), 1);
    hr_msg_unref(m);
}

/* ---- links ------------------------------------------------------------------- */

#define MAX_FRAMES 64

typedef struct side {
    hr_link_conn *c;
    int frames;
    uint8_t types[MAX_FRAMES];
    uint8_t payload[MAX_FRAMES][64];
    size_t plen[MAX_FRAMES];
    int closes, frees, flushes, written;
    char why[128];
    bool skip_big;
} side;

static void on_frame(hr_link_conn *c, const hr_link_frame *f)
{
    side *s = hr_link_conn_data(c);
    if (s->frames < MAX_FRAMES) {
        s->types[s->frames] = f->type;
        const hr_link_str p = f->type == HR_LINK_BCAST ? f->message : f->payload;
        s->plen[s->frames] = p.len;
        memcpy(s->payload[s->frames], p.p, p.len < 64 ? p.len : 64);
    }
    s->frames++;
}

static bool on_too_big(hr_link_conn *c, const uint8_t h[HR_LINK_HEADER])
{
    (void)h;
    side *s = hr_link_conn_data(c);
    return s->skip_big;
}

static void on_flush(hr_link_conn *c)
{
    side *s = hr_link_conn_data(c);
    s->flushes++;
}

static void on_written(hr_link_conn *c)
{
    side *s = hr_link_conn_data(c);
    s->written++;
}

static void on_close(hr_link_conn *c, const char *why)
{
    side *s = hr_link_conn_data(c);
    s->closes++;
    snprintf(s->why, sizeof s->why, "%s", why);
}

static void on_free(void *data)
{
    side *s = data;
    s->frees++;
    s->c = NULL;
}

static const hr_link_conn_callbacks cbs = {
    .on_frame = on_frame,
    .on_too_big = on_too_big,
    .on_flush = on_flush,
    .on_written = on_written,
    .on_close = on_close,
    .on_free = on_free,
};

/* A listening socket on 127.0.0.1, a free port; *a says where. */
static int listen_loopback(struct sockaddr_in *a)
{
    const int l = socket(AF_INET, SOCK_STREAM, 0);
    *a = (struct sockaddr_in){.sin_family = AF_INET};
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof *a;
    assert_int_equal(bind(l, (struct sockaddr *)a, sizeof *a), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)a, &alen), 0);
    return l;
}

/* A connected loopback TCP pair. */
static void tcp_pair(int fds[2])
{
    struct sockaddr_in a;
    const int l = listen_loopback(&a);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fds[0], (struct sockaddr *)&a, sizeof a), 0);
    fds[1] = accept(l, NULL, NULL);
    assert_true(fds[1] >= 0);
    close(l);
}

static void set_timeout(int fd)
{
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Runs the loop until *v reaches want (bounded: about 5 s). */
static void run_until(uv_loop_t *loop, const int *v, int want)
{
    for (int i = 0; i < 5000 && *v < want; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (*v < want)
            usleep(1000);
    }
    assert_true(*v >= want);
}

static hr_link_conn *side_open(uv_loop_t *loop, side *s, int fd, const hr_link_conn_config *cfg)
{
    memset(s, 0, sizeof *s);
    const hr_link_conn_config def = {.max_payload = 1 << 16, .out_limit = 1 << 20};
    s->c = hr_link_conn_new(loop, cfg != NULL ? cfg : &def, &cbs, s);
    assert_non_null(s->c);
    assert_int_equal(hr_link_conn_open(s->c, fd), 0);
    return s->c;
}

static void finish(uv_loop_t *loop, side *a, side *b)
{
    if (a != NULL && a->c != NULL)
        hr_link_conn_close(a->c, "test over");
    if (b != NULL && b->c != NULL)
        hr_link_conn_close(b->c, "test over");
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* Reads exactly n bytes from a blocking fd (5 s timeout). */
static void read_exact(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        const ssize_t r = recv(fd, p + got, n - got, 0);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

/* Most cases: a loop and side a on one end of a TCP pair; the test plays
 * the peer over blocking t.peer (5 s receive timeout). */
typedef struct tcase {
    uv_loop_t loop;
    side a;
    int peer;
} tcase;

static void case_open(tcase *t, const hr_link_conn_config *cfg)
{
    uv_loop_init(&t->loop);
    int fds[2];
    tcp_pair(fds);
    set_timeout(fds[1]);
    t->peer = fds[1];
    side_open(&t->loop, &t->a, fds[0], cfg);
}

static void test_net_link_conn_frames_and_shared_payload(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int fds[2];
    tcp_pair(fds);
    side a, b;
    side_open(&loop, &a, fds[0], NULL);
    side_open(&loop, &b, fds[1], NULL);
    run_until(&loop, &b.written, 1); /* HELLOs crossed */
    assert_int_equal(hr_link_conn_peer_version(a.c), HR_LINK_VERSION);
    const int writes0 = a.written;

    hr_msg *m = msg_of("WSHDRhello everyone");
    const uint32_t ids[3] = {7, 9, 11};
    uint8_t head[HR_LINK_MAX_HEAD];
    assert_int_equal(hr_link_write_close(hr_link_conn_out(a.c), 3, 1000, "bye", 3), 0);
    int hl = hr_link_head_bcast(head, sizeof head, 1, ids, 3, 14);
    assert_int_equal(hl, HR_LINK_HEADER + 2 + 12);
    assert_int_equal(hr_link_conn_send_msg(a.c, head, (size_t)hl, m, 5, 14), 0);
    hl = hr_link_head_data(head, sizeof head, 5, 1, 14);
    assert_int_equal(hr_link_conn_send_msg(a.c, head, (size_t)hl, m, 5, 14), 0);
    assert_int_equal(hr_link_write_credit(hr_link_conn_out(a.c), 4, 99), 0);
    hr_link_conn_kick(a.c);
    assert_int_equal(atomic_load(&m->refs), 3); /* queued by reference */
    assert_int_equal(hr_link_conn_queued(a.c), 15 + 24 + 14 + 10 + 14 + 14);

    run_until(&loop, &b.frames, 4);
    assert_int_equal(a.written, writes0 + 1); /* one batch, one write */
    assert_int_equal(b.types[0], HR_LINK_CLOSE);
    assert_int_equal(b.types[1], HR_LINK_BCAST);
    assert_int_equal(b.plen[1], 14);
    assert_memory_equal(b.payload[1], "hello everyone", 14);
    assert_int_equal(b.types[2], HR_LINK_DATA);
    assert_memory_equal(b.payload[2], "hello everyone", 14);
    assert_int_equal(b.types[3], HR_LINK_CREDIT);
    assert_int_equal(atomic_load(&m->refs), 1); /* written: references dropped */
    assert_int_equal(hr_link_conn_queued(a.c), 0);

    /* the peer goes away: EOF ends the other side once */
    hr_link_conn_close(b.c, "test");
    assert_int_equal(b.closes, 1);
    assert_false(hr_link_conn_is_open(b.c));
    assert_int_equal(hr_link_conn_send_msg(b.c, head, 1, m, 0, 0), HR_ECLOSED);
    hr_link_conn_close(b.c, "again"); /* idempotent */
    assert_int_equal(b.closes, 1);
    hr_msg_unref(m);
    run_until(&loop, &a.closes, 1);
    assert_string_equal(a.why, "closed by the peer");
    finish(&loop, NULL, NULL);
    assert_int_equal(a.frees, 1);
    assert_int_equal(b.frees, 1);
    assert_int_equal(a.closes, 1);
}

static const uint8_t hello_v2[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 'H', 'R', 'L', 'K', 0, 2};

static void test_net_link_conn_ping_answered(void **state)
{
    (void)state;
    tcase t;
    case_open(&t, NULL);
    const uint8_t ping[] = {7, 0, 0, 0, 0, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(send(t.peer, hello_v2, sizeof hello_v2, 0), (ssize_t)sizeof hello_v2);
    assert_int_equal(send(t.peer, ping, sizeof ping, 0), (ssize_t)sizeof ping);
    run_until(&t.loop, &t.a.written, 2);
    uint8_t got[16 + 18];
    read_exact(t.peer, got, sizeof got);
    assert_int_equal(got[0], HR_LINK_HELLO);
    assert_int_equal(got[16], HR_LINK_PONG);
    assert_memory_equal(got + 26, ping + 10, 8);
    assert_int_equal(t.a.frames, 0); /* HELLO and PING stay in the transport */
    close(t.peer);
    run_until(&t.loop, &t.a.closes, 1);
    finish(&t.loop, NULL, NULL);
    assert_int_equal(t.a.frees, 1);
}

static void test_net_link_conn_hello_first(void **state)
{
    (void)state;
    tcase t;
    case_open(&t, NULL);
    const uint8_t pause[] = {5, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_int_equal(send(t.peer, pause, sizeof pause, 0), (ssize_t)sizeof pause);
    run_until(&t.loop, &t.a.closes, 1);
    assert_string_equal(t.a.why, "first frame is not HELLO");
    assert_int_equal(t.a.frames, 0);
    close(t.peer);
    finish(&t.loop, NULL, NULL);
}

static void test_net_link_conn_hello_other_version(void **state)
{
    (void)state;
    tcase t;
    case_open(&t, NULL);
    uint8_t hello[sizeof hello_v2];
    memcpy(hello, hello_v2, sizeof hello);
    hello[15] = 99;
    assert_int_equal(send(t.peer, hello, sizeof hello, 0), (ssize_t)sizeof hello);
    run_until(&t.loop, &t.a.closes, 1);
    assert_non_null(strstr(t.a.why, "version 99"));
    close(t.peer);
    finish(&t.loop, NULL, NULL);
}

static void test_net_link_conn_too_big_skipped(void **state)
{
    (void)state;
    const hr_link_conn_config cfg = {.max_payload = 100, .out_limit = 1 << 20};
    tcase t;
    case_open(&t, &cfg);
    t.a.skip_big = true;
    uint8_t buf[16 + 10 + 5000 + 10 + 3];
    memcpy(buf, hello_v2, 16);
    hr_link_write_header(buf + 16, HR_LINK_DATA, 1, 4, 5000);
    memset(buf + 26, 'z', 5000);
    hr_link_write_header(buf + 5026, HR_LINK_DATA, 1, 4, 3);
    memcpy(buf + 5036, "end", 3);
    assert_int_equal(send(t.peer, buf, sizeof buf, 0), (ssize_t)sizeof buf);
    run_until(&t.loop, &t.a.frames, 1);
    assert_int_equal(t.a.types[0], HR_LINK_DATA);
    assert_memory_equal(t.a.payload[0], "end", 3);
    assert_int_equal(t.a.closes, 0);
    /* not skipped: the link ends */
    t.a.skip_big = false;
    assert_int_equal(send(t.peer, buf + 16, 10, 0), 10);
    run_until(&t.loop, &t.a.closes, 1);
    assert_string_equal(t.a.why, "frame too big");
    close(t.peer);
    finish(&t.loop, NULL, NULL);
}

static void test_net_link_conn_end_flushes_first(void **state)
{
    (void)state;
    tcase t;
    case_open(&t, NULL);
    assert_int_equal(hr_link_write_flow(hr_link_conn_out(t.a.c), HR_LINK_PAUSE, 8), 0);
    hr_link_conn_end(t.a.c, "done");
    run_until(&t.loop, &t.a.closes, 1);
    assert_string_equal(t.a.why, "done");
    uint8_t got[16 + 10 + 1];
    read_exact(t.peer, got, 26);
    assert_int_equal(got[16], HR_LINK_PAUSE);
    finish(&t.loop, NULL, NULL);
    assert_int_equal(recv(t.peer, got, 1, 0), 0); /* then EOF */
    close(t.peer);
}

/* The last frames before a process exits: written now, without the loop. */
static void test_net_link_conn_try_flush(void **state)
{
    (void)state;
    tcase t;
    case_open(&t, NULL);
    assert_int_equal(hr_link_write_close(hr_link_conn_out(t.a.c), 5, 1001, NULL, 0), 0);
    hr_link_conn_try_flush(t.a.c);
    assert_int_equal(hr_link_conn_queued(t.a.c), 0);
    hr_link_conn_close(t.a.c, "exit");
    uint8_t got[16 + 12];
    read_exact(t.peer, got, sizeof got); /* HELLO, CLOSE 1001: no uv_run needed */
    assert_int_equal(got[16], HR_LINK_CLOSE);
    assert_int_equal(got[26] << 8 | got[27], 1001);
    finish(&t.loop, NULL, NULL);
    close(t.peer);
}

static void test_net_link_conn_keepalive(void **state)
{
    (void)state;
    const hr_link_conn_config cfg = {
        .max_payload = 100, .out_limit = 1 << 20, .ping_ms = 10, .idle_ms = 60};
    tcase t;
    case_open(&t, &cfg);
    run_until(&t.loop, &t.a.written, 2); /* HELLO, then a PING after silence */
    uint8_t got[16 + 18];
    read_exact(t.peer, got, sizeof got);
    assert_int_equal(got[16], HR_LINK_PING);
    run_until(&t.loop, &t.a.closes, 1); /* nobody answers */
    assert_string_equal(t.a.why, "no answer within the idle timeout");
    close(t.peer);
    finish(&t.loop, NULL, NULL);
}

static void test_net_link_conn_close_with_write_in_flight(void **state)
{
    (void)state;
    const hr_link_conn_config cfg = {.max_payload = 100, .out_limit = 64 << 20};
    tcase t;
    case_open(&t, &cfg);
    hr_msg *m = hr_msg_new(32 << 20);
    assert_non_null(m);
    memset(m->data, 'q', m->len);
    uint8_t head[HR_LINK_MAX_HEAD];
    const int hl = hr_link_head_data(head, sizeof head, 1, 2, m->len);
    assert_int_equal(hr_link_conn_send_msg(t.a.c, head, (size_t)hl, m, 0, m->len), 0);
    for (int i = 0; i < 5; i++) /* the peer never reads: the write stays in flight */
        uv_run(&t.loop, UV_RUN_NOWAIT);
    assert_true(atomic_load(&m->refs) == 2);
    assert_true(hr_link_conn_queued(t.a.c) > 0);
    hr_link_conn_close(t.a.c, "enough");
    finish(&t.loop, NULL, NULL);
    assert_int_equal(atomic_load(&m->refs), 1);
    assert_int_equal(t.a.frees, 1);
    hr_msg_unref(m);
    close(t.peer);
}

static void test_net_link_conn_connect(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct sockaddr_in addr;
    const int l = listen_loopback(&addr);
    side a;
    memset(&a, 0, sizeof a);
    const hr_link_conn_config cfg = {.max_payload = 100, .out_limit = 1 << 20};
    a.c = hr_link_conn_new(&loop, &cfg, &cbs, &a);
    assert_non_null(a.c);
    /* queued before the connection is up: leaves after HELLO */
    assert_int_equal(hr_link_write_credit(hr_link_conn_out(a.c), 2, 5), 0);
    assert_int_equal(hr_link_conn_connect(a.c, (struct sockaddr *)&addr), 0);
    run_until(&loop, &a.written, 1);
    const int fd = accept(l, NULL, NULL);
    set_timeout(fd);
    uint8_t got[16 + 14];
    read_exact(fd, got, sizeof got);
    assert_int_equal(got[0], HR_LINK_HELLO);
    assert_int_equal(got[16], HR_LINK_CREDIT);
    close(fd);
    close(l);
    run_until(&loop, &a.closes, 1);
    finish(&loop, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_link_conn_batch_order),
        cmocka_unit_test(test_net_link_conn_batch_limit),
        cmocka_unit_test(test_net_link_conn_frames_and_shared_payload),
        cmocka_unit_test(test_net_link_conn_ping_answered),
        cmocka_unit_test(test_net_link_conn_hello_first),
        cmocka_unit_test(test_net_link_conn_hello_other_version),
        cmocka_unit_test(test_net_link_conn_too_big_skipped),
        cmocka_unit_test(test_net_link_conn_end_flushes_first),
        cmocka_unit_test(test_net_link_conn_try_flush),
        cmocka_unit_test(test_net_link_conn_keepalive),
        cmocka_unit_test(test_net_link_conn_close_with_write_in_flight),
        cmocka_unit_test(test_net_link_conn_connect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

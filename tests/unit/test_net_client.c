/* Tests of hr_client (outgoing WebSocket connections) against the harness
 * server on the same loop: open, masked echo round trip with and without
 * permessage-deflate, client-initiated close, a refused upgrade (status
 * reported, on_close 1006), a connection refused, and frames sent together
 * with the 101 (and more right behind) delivered in order. Also hr_sendq, the
 * send queue, as a plain data structure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/sendq.h"
#include "proto/ws_handshake.h"
#include "net_harness.h"

typedef struct client_state {
    atomic_int opened;
    atomic_int closed;
    atomic_int close_code;
    atomic_int status;
    atomic_int echoes;
    atomic_int deflate;
} client_state;

static void cl_on_open(hr_conn *c)
{
    client_state *st = hr_conn_app_data(c);
    atomic_store(&st->deflate, hr_conn_has_deflate(c));
    atomic_store(&st->opened, 1);
    static char big[3000];
    memset(big, 'z', sizeof big);
    hr_conn_send_text(c, "ping-me", 7);
    hr_conn_send(c, HR_WS_OP_BINARY, big, sizeof big);
    /* Prebuilt server frames are refused on client connections. */
    hr_msg *m = hr_ws_frame_msg_new(HR_WS_OP_TEXT, false, "x", 1);
    if (hr_conn_send_msg(c, m) != HR_EINVAL)
        abort();
    hr_msg_unref(m);
}

static void cl_on_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    client_state *st = hr_conn_app_data(c);
    const int n = atomic_fetch_add(&st->echoes, 1) + 1;
    if (n == 1 && (opcode != HR_WS_OP_TEXT || len != 7 || memcmp(data, "ping-me", 7) != 0))
        abort();
    if (n == 2) {
        if (opcode != HR_WS_OP_BINARY || len != 3000 || data[2999] != 'z')
            abort();
        hr_conn_close(c, 1000, "done");
    }
}

static void cl_on_close(hr_conn *c, int code)
{
    client_state *st = hr_conn_app_data(c);
    atomic_store(&st->status, hr_client_status(c));
    atomic_store(&st->close_code, code);
    atomic_store(&st->closed, 1);
}

static const hr_conn_callbacks cl_callbacks = {
    .on_open = cl_on_open,
    .on_message = cl_on_message,
    .on_close = cl_on_close,
};

typedef struct connect_job {
    const char *path;
    bool deflate;
    int port;
    client_state *st;
    int rc;
} connect_job;

static void do_connect(harness *h, void *arg)
{
    connect_job *j = arg;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", j->port);
    const hr_client_config cfg = {.path = j->path, .deflate = j->deflate};
    j->rc = hr_client_connect(h->srv, addr, &cfg, &cl_callbacks, j->st, NULL);
}

static void round_trip(bool deflate)
{
    harness *h = h_start(NULL);
    client_state st = {0};
    connect_job j = {.path = "/echo", .deflate = deflate, .port = h->port, .st = &st};
    h_run(h, do_connect, &j);
    assert_int_equal(j.rc, 0);
    assert_int_equal(h_wait_at_least(&st.closed, 1), 1);
    assert_int_equal(atomic_load(&st.opened), 1);
    assert_int_equal(atomic_load(&st.echoes), 2);
    assert_int_equal(atomic_load(&st.close_code), 1000);
    assert_int_equal(atomic_load(&st.status), 101);
    assert_int_equal(atomic_load(&st.deflate), deflate);
    h_stop(h);
}

static void test_net_client_round_trip(void **state)
{
    round_trip(false);
}

static void test_net_client_round_trip_deflate(void **state)
{
    round_trip(true);
}

static void test_net_client_refused_upgrade(void **state)
{
    harness *h = h_start(NULL);
    client_state st = {0};
    connect_job j = {.path = "/deny", .port = h->port, .st = &st};
    h_run(h, do_connect, &j);
    assert_int_equal(j.rc, 0);
    assert_int_equal(h_wait_at_least(&st.closed, 1), 1);
    assert_int_equal(atomic_load(&st.opened), 0);
    assert_int_equal(atomic_load(&st.close_code), 1006);
    assert_int_equal(atomic_load(&st.status), 403);
    h_stop(h);
}

static void test_net_client_connection_refused(void **state)
{
    harness *h = h_start(NULL);
    /* A port that was just free: bind, read it, close. */
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    client_state st = {0};
    connect_job j = {.path = "/", .port = ntohs(a.sin_port), .st = &st};
    h_run(h, do_connect, &j);
    assert_int_equal(j.rc, 0);
    assert_int_equal(h_wait_at_least(&st.closed, 1), 1);
    assert_int_equal(atomic_load(&st.status), 0);
    assert_int_equal(atomic_load(&st.close_code), 1006);
    h_stop(h);
}

/* ---- frames that arrive together with the 101 ---------------------------------- */

enum { BURST_FRAMES = 512, BURST_PAYLOAD = 4096 };

typedef struct burst_state {
    atomic_int got;      /* messages received in order */
    atomic_int disorder; /* a message out of order or damaged */
    atomic_int closed;
    atomic_int close_code;
} burst_state;

static void burst_on_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    burst_state *st = hr_conn_app_data(c);
    const int want = atomic_load(&st->got);
    if (opcode != HR_WS_OP_BINARY || len != BURST_PAYLOAD || (data[0] << 8 | data[1]) != want ||
        data[len - 1] != (uint8_t)want)
        atomic_store(&st->disorder, 1);
    atomic_fetch_add(&st->got, 1);
}

static void burst_on_close(hr_conn *c, int code)
{
    burst_state *st = hr_conn_app_data(c);
    atomic_store(&st->close_code, code);
    atomic_store(&st->closed, 1);
}

static const hr_conn_callbacks burst_callbacks = {
    .on_message = burst_on_message,
    .on_close = burst_on_close,
};

typedef struct burst_job {
    int port;
    burst_state *st;
    int rc;
} burst_job;

static void do_burst_connect(harness *h, void *arg)
{
    burst_job *j = arg;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", j->port);
    const hr_client_config cfg = {.path = "/burst"};
    j->rc = hr_client_connect(h->srv, addr, &cfg, &burst_callbacks, j->st, NULL);
}

/* Reads the upgrade request on fd and answers 101 followed at once by
 * BURST_FRAMES binary messages (2 MiB, many reads' worth) in one stream. */
static void answer_with_burst(int fd)
{
    char req[4096];
    size_t n = 0;
    while (n < sizeof req - 1 && (n < 4 || memcmp(req + n - 4, "\r\n\r\n", 4) != 0)) {
        const ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        assert_true(r > 0);
        n += (size_t)r;
    }
    req[n] = '\0';
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    assert_non_null(k);
    k += strlen("Sec-WebSocket-Key: ");
    char accept[29];
    hr_ws_handshake_accept_key(k, strcspn(k, "\r"), accept);
    static uint8_t out[BURST_FRAMES * (BURST_PAYLOAD + 14) + 256];
    int len = snprintf((char *)out, 256,
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                       accept);
    size_t at = (size_t)len;
    for (int i = 0; i < BURST_FRAMES; i++) {
        at += hr_ws_frame_write_header(out + at, HR_WS_OP_BINARY, true, false, BURST_PAYLOAD, NULL);
        memset(out + at, i & 0xff, BURST_PAYLOAD);
        out[at] = (uint8_t)(i >> 8);
        out[at + 1] = (uint8_t)i;
        at += BURST_PAYLOAD;
    }
    for (size_t sent = 0; sent < at;) {
        const ssize_t w = send(fd, out + sent, at - sent, MSG_NOSIGNAL);
        assert_true(w > 0);
        sent += (size_t)w;
    }
}

/* The bytes read with the 101 are delivered before anything read after it,
 * even when more arrives in the same loop turn (they once went to the
 * WebSocket reader out of order: 1002, or damaged messages). */
static void test_net_client_frames_with_the_101_stay_in_order(void **state)
{
    harness *h = h_start(NULL);
    const int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 1), 0);
    getsockname(ls, (struct sockaddr *)&a, &al);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(ls, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    burst_state st = {0};
    burst_job j = {.port = ntohs(a.sin_port), .st = &st};
    h_run(h, do_burst_connect, &j);
    assert_int_equal(j.rc, 0);
    const int fd = accept(ls, NULL, NULL);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    answer_with_burst(fd);
    h_wait_at_least(&st.got, BURST_FRAMES);
    assert_int_equal(atomic_load(&st.disorder), 0);
    assert_int_equal(atomic_load(&st.got), BURST_FRAMES);
    assert_int_equal(atomic_load(&st.closed), 0);
    close(fd);
    close(ls);
    assert_int_equal(h_wait_at_least(&st.closed, 1), 1);
    h_stop(h);
}

static void test_net_sendq_basics(void **state)
{
    hr_sendq q;
    hr_sendq_init(&q);
    hr_msg *a = hr_msg_new_copy("abcde", 5);
    hr_msg *b = hr_msg_new_copy("fgh", 3);
    for (int i = 0; i < 5; i++) { /* grows past the first ring size */
        assert_int_equal(hr_sendq_push(&q, a), 0);
        assert_int_equal(hr_sendq_push(&q, b), 0);
    }
    assert_int_equal(q.count, 10);
    assert_int_equal(q.bytes, 40);
    assert_int_equal(atomic_load(&a->refs), 6);
    uv_buf_t bufs[4];
    size_t total = 0;
    assert_int_equal(hr_sendq_iov(&q, 0, bufs, 4, &total), 4);
    assert_int_equal(total, 16);
    hr_sendq_advance(&q, 7); /* all of a, 2 bytes of b */
    assert_int_equal(q.count, 9);
    assert_int_equal(q.bytes, 33);
    assert_int_equal(hr_sendq_iov(&q, 0, bufs, 1, &total), 1);
    assert_int_equal(bufs[0].len, 1);
    assert_memory_equal(bufs[0].base, "h", 1);
    hr_sendq_truncate(&q, 2);
    assert_int_equal(q.count, 2);
    assert_int_equal(q.bytes, 6);
    hr_sendq_advance(&q, 6);
    assert_int_equal(q.count, 0);
    assert_null(q.ring);
    assert_int_equal(atomic_load(&a->refs), 1);
    assert_int_equal(atomic_load(&b->refs), 1);
    hr_sendq_push(&q, a);
    hr_sendq_deinit(&q);
    assert_int_equal(atomic_load(&a->refs), 1);
    hr_msg_unref(a);
    hr_msg_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_client_round_trip),
        cmocka_unit_test(test_net_client_round_trip_deflate),
        cmocka_unit_test(test_net_client_refused_upgrade),
        cmocka_unit_test(test_net_client_connection_refused),
        cmocka_unit_test(test_net_client_frames_with_the_101_stay_in_order),
        cmocka_unit_test(test_net_sendq_basics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Loopback tests of a client handed from one server to another on another
 * loop, as the notifier's loops do (src/notifier/loops.c): the giver's app
 * calls hr_conn_detach from on_upgrade or on_request, its give function
 * runs hr_server_adopt on the taker's loop. The client must see one server:
 * the taker's 101 or answers, nothing from the giver, pipelined requests
 * answered in order, the socket closed once the taker closes it (the giver
 * kept no descriptor). A give that refuses (a full queue) leaves the
 * connection with the giver, which still answers it. Detaching an open
 * WebSocket is refused; a stopped server refuses an adoption and closes the
 * socket. See net_harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net_harness.h"

/* What the giver's give function does (it runs on the giver's loop thread). */
static struct {
    harness *taker;
    atomic_int refuse; /* give answers this code (0: hands over) */
    atomic_int gave;   /* give calls */
    atomic_int adopts; /* hr_server_adopt calls that returned 0 */
} g;

typedef struct adoption {
    int fd;
    const uint8_t *bytes;
    size_t len;
    int rc;
} adoption;

static void adopt_job(harness *h, void *arg)
{
    adoption *a = arg;
    a->rc = hr_server_adopt(h->srv, a->fd, a->bytes, a->len);
}

/* The give function: adopts on the taker's loop and waits for it, so the
 * taker may start on the socket before the giver closed its own side. */
static int give(void *arg, int fd, uint8_t *bytes, size_t len)
{
    (void)arg;
    atomic_fetch_add(&g.gave, 1);
    const int refuse = atomic_load(&g.refuse);
    if (refuse != 0)
        return refuse;
    adoption a = {fd, bytes, len, -1};
    h_run(g.taker, adopt_job, &a); /* takes fd, copies bytes */
    free(bytes);
    if (a.rc == 0)
        atomic_fetch_add(&g.adopts, 1);
    return 0;
}

/* The giver: hands every request and upgrade over; what it keeps (the give
 * refused) it serves itself, answering requests with "kept ...". */
static void giver_request(hr_conn *c, const hr_http_head *hd, const uint8_t *body, size_t len)
{
    (void)body;
    harness *h = hr_conn_app(c);
    atomic_fetch_add(&h->requests, 1);
    if (hr_conn_detach(c, give, NULL) == 0)
        return;
    char out[256];
    const int n = snprintf(out, sizeof out, "kept %.*s %zu", (int)hd->target_len, hd->target, len);
    hr_conn_respond(c, 200, "text/plain", out, (size_t)n, NULL);
}

static int giver_upgrade(hr_conn *c, const hr_http_head *hd, hr_upgrade_reply *r)
{
    (void)hd;
    (void)r;
    (void)hr_conn_detach(c, give, NULL);
    return 0; /* detached: ignored (c is closed); else accepted here */
}

/* "detach" on an open WebSocket answers hr_conn_detach's code; the rest echoes. */
static void giver_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    if (len == 6 && memcmp(data, "detach", 6) == 0) {
        char out[32];
        const int n = snprintf(out, sizeof out, "%d", hr_conn_detach(c, give, NULL));
        hr_conn_send_text(c, out, (size_t)n);
        return;
    }
    h_on_message(c, opcode, data, len);
}

static const hr_conn_callbacks giver_callbacks = {
    .on_request = giver_request,
    .on_upgrade = giver_upgrade,
    .on_open = h_on_open,
    .on_message = giver_message,
    .on_drain = h_on_drain,
    .on_close = h_on_close,
};

/* h_start with the giver's callbacks. */
static harness *giver_start(void)
{
    harness *h = calloc(1, sizeof *h);
    assert_non_null(h);
    uv_loop_init(&h->loop);
    uv_sem_init(&h->done, 0);
    uv_async_init(&h->loop, &h->async, h_on_async);
    h->async.data = h;
    hr_server_config cfg;
    hr_server_config_default(&cfg);
    h->srv = hr_server_new(&h->loop, &cfg, &giver_callbacks, h);
    assert_non_null(h->srv);
    assert_int_equal(hr_server_listen(h->srv, "127.0.0.1:0"), 0);
    h->port = hr_server_port(h->srv, 0);
    uv_thread_create(&h->thread, h_thread, h);
    return h;
}

static int setup(void **state)
{
    (void)state;
    g.taker = h_start(NULL);
    atomic_store(&g.refuse, 0);
    atomic_store(&g.gave, 0);
    atomic_store(&g.adopts, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_stop(g.taker);
    return 0;
}

typedef struct stats_req {
    hr_net_stats out;
} stats_req;

static void stats_job(harness *h, void *arg)
{
    ((stats_req *)arg)->out = *hr_server_stats(h->srv);
}

static hr_net_stats stats_of(harness *h)
{
    stats_req r;
    h_run(h, stats_job, &r);
    return r.out;
}

static void test_handoff_upgrade(void **state)
{
    (void)state;
    harness *a = giver_start();
    tc *t = tc_connect(a->port);
    char head[1024];
    /* The first bytes the client reads are the taker's 101. */
    assert_int_equal(tc_upgrade(t, "/ws", NULL, head, sizeof head), 101);
    tc_frame(t, HR_WS_OP_TEXT, true, false, "hello", 5);
    uint8_t p[64];
    size_t len;
    assert_int_equal(tc_read_frame(t, p, sizeof p, &len, NULL), HR_WS_OP_TEXT);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "hello", 5);
    /* give counts after the taker already answered: wait for it. */
    assert_int_equal(h_wait_at_least(&g.adopts, 1), 1);
    assert_int_equal(atomic_load(&g.taker->opens), 1);
    /* The giver closed its side silently: on_close with 0, never opened. */
    assert_int_equal(h_wait_at_least(&a->closes, 1), 1);
    assert_int_equal(atomic_load(&a->last_code), 0);
    assert_int_equal(atomic_load(&a->opens), 0);
    const hr_net_stats sa = stats_of(a), sb = stats_of(g.taker);
    assert_int_equal(sa.conns_accepted, 1);
    assert_int_equal(sa.conns_open, 0);
    assert_int_equal(sa.ws_upgrades, 0);
    assert_int_equal(sb.conns_accepted, 1);
    assert_int_equal(sb.conns_open, 1);
    assert_int_equal(sb.ws_upgrades, 1);
    /* The taker's close is the socket's close: the giver kept no descriptor. */
    tc_frame(t, HR_WS_OP_TEXT, true, false, "close", 5);
    assert_int_equal(tc_read_close(t), 4001);
    const uint8_t code[2] = {4001 >> 8, 4001 & 0xff};
    tc_frame(t, HR_WS_OP_CLOSE, true, false, code, sizeof code); /* the handshake's answer */
    assert_true(tc_wait_eof(t));
    tc_free(t);
    h_stop(a);
}

static void test_handoff_request_and_pipelined(void **state)
{
    (void)state;
    harness *a = giver_start();
    tc *t = tc_connect(a->port);
    const char req[] = "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       "Connection: close\r\n\r\nabc";
    tc_send(t, req, sizeof req - 1);
    char head[512], body[64];
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_string_equal(body, "GET /first 0");
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_string_equal(body, "POST /second 3");
    assert_true(tc_wait_eof(t));
    tc_free(t);
    assert_int_equal(atomic_load(&a->requests), 1);
    assert_int_equal(atomic_load(&g.taker->requests), 2);
    assert_int_equal(h_wait_at_least(&a->closes, 1), 1);
    h_stop(a);
}

static void test_handoff_refused_stays(void **state)
{
    (void)state;
    atomic_store(&g.refuse, HR_ELIMIT); /* the taker's queue is full */
    harness *a = giver_start();
    tc *t = tc_connect(a->port);
    char head[1024];
    assert_int_equal(tc_upgrade(t, "/ws", NULL, head, sizeof head), 101);
    tc_frame(t, HR_WS_OP_TEXT, true, false, "here", 4);
    uint8_t p[64];
    size_t len;
    assert_int_equal(tc_read_frame(t, p, sizeof p, &len, NULL), HR_WS_OP_TEXT);
    assert_memory_equal(p, "here", 4);
    assert_int_equal(atomic_load(&a->opens), 1);
    tc_free(t);
    /* A request too; the socket closes when the giver closes it (the
     * duplicate made for the refused give was closed). */
    t = tc_connect(a->port);
    const char req[] = "GET /mine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    tc_send(t, req, sizeof req - 1);
    char body[64];
    assert_int_equal(tc_read_response(t, head, sizeof head, body, sizeof body), 200);
    assert_string_equal(body, "kept /mine 0");
    assert_true(tc_wait_eof(t));
    tc_free(t);
    assert_int_equal(atomic_load(&g.gave), 2);
    assert_int_equal(atomic_load(&g.adopts), 0);
    assert_int_equal(stats_of(g.taker).conns_accepted, 0);
    h_stop(a);
}

static void test_detach_open_websocket_refused(void **state)
{
    (void)state;
    atomic_store(&g.refuse, HR_ELIMIT); /* keeps the upgrade on the giver */
    harness *a = giver_start();
    tc *t = tc_connect(a->port);
    char head[1024];
    assert_int_equal(tc_upgrade(t, "/ws", NULL, head, sizeof head), 101);
    atomic_store(&g.refuse, 0); /* give must not run again */
    tc_frame(t, HR_WS_OP_TEXT, true, false, "detach", 6);
    char p[64] = {0};
    size_t len;
    assert_int_equal(tc_read_frame(t, (uint8_t *)p, sizeof p - 1, &len, NULL), HR_WS_OP_TEXT);
    char want[16];
    snprintf(want, sizeof want, "%d", HR_EINVAL);
    assert_string_equal(p, want);
    assert_int_equal(atomic_load(&g.gave), 1); /* the upgrade's only */
    tc_frame(t, HR_WS_OP_TEXT, true, false, "still", 5);
    assert_int_equal(tc_read_frame(t, (uint8_t *)p, sizeof p, &len, NULL), HR_WS_OP_TEXT);
    assert_memory_equal(p, "still", 5);
    tc_free(t);
    h_stop(a);
}

static void on_done(hr_server *s, void *arg)
{
    (void)s;
    *(int *)arg = 1;
}

static void test_adopt_after_shutdown(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    hr_server_config cfg;
    hr_server_config_default(&cfg);
    hr_server *s = hr_server_new(&loop, &cfg, &h_callbacks, NULL);
    assert_non_null(s);
    int done = 0;
    assert_int_equal(hr_server_shutdown(s, 1001, on_done, &done), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(done, 1);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(hr_server_adopt(s, sv[0], (const uint8_t *)"x", 1), HR_ECLOSED);
    char c;
    assert_int_equal(read(sv[1], &c, 1), 0); /* sv[0] was closed */
    close(sv[1]);
    hr_server_free(s);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handoff_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handoff_request_and_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handoff_refused_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detach_open_websocket_refused, setup, teardown),
        cmocka_unit_test(test_adopt_after_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* WebSocket subprotocol negotiation in lib/net (RFC 6455 §4.1).
 * Client side: hr_client offers what its extra_headers carry and a raw
 * server in the test thread answers with a chosen Sec-WebSocket-Protocol;
 * an offered choice is exposed by hr_client_protocol(), anything else fails
 * the connection. Server side: a deferred upgrade accepted with
 * reply->protocol writes the header in its 101. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net_harness.h"
#include "proto/ws_handshake.h"

typedef struct sp_state {
    atomic_int opened;
    atomic_int closed;
    atomic_int status;
    char protocol[64]; /* written on the loop thread before opened is set */
    atomic_int has_protocol;
} sp_state;

static void sp_on_open(hr_conn *c)
{
    sp_state *st = hr_conn_app_data(c);
    const char *p = hr_client_protocol(c);
    if (p != NULL) {
        snprintf(st->protocol, sizeof st->protocol, "%s", p);
        atomic_store(&st->has_protocol, 1);
    }
    atomic_store(&st->opened, 1);
    hr_conn_close(c, 1000, NULL);
}

static void sp_on_close(hr_conn *c, int code)
{
    (void)code;
    sp_state *st = hr_conn_app_data(c);
    atomic_store(&st->status, hr_client_status(c));
    atomic_store(&st->closed, 1);
}

static const hr_conn_callbacks sp_callbacks = {
    .on_open = sp_on_open,
    .on_close = sp_on_close,
};

typedef struct sp_job {
    int port;
    const char *extra;
    sp_state *st;
    int rc;
} sp_job;

static void sp_connect(harness *h, void *arg)
{
    sp_job *j = arg;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", j->port);
    const hr_client_config cfg = {.path = "/", .extra_headers = j->extra};
    j->rc = hr_client_connect(h->srv, addr, &cfg, &sp_callbacks, j->st, NULL);
}

static int listen_any(int *port)
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0)
        abort();
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Accepts one connection on lfd, reads its upgrade request into t and
 * answers 101 with the right accept key plus answer_lines (may be "").
 * Returns the number of Sec-WebSocket-Protocol lines in the request. */
static size_t serve_101(int lfd, tc *t, const char *answer_lines)
{
    struct timeval tv = {.tv_sec = 5};
    setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    t->fd = accept(lfd, NULL, NULL);
    assert_true(t->fd >= 0);
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    hr_http_head h;
    int rc;
    while ((rc = hr_http_head_parse(t->buf, t->len, false, NULL, &h)) == 0)
        assert_true(tc_fill(t) > 0);
    assert_true(rc > 0);
    const hr_http_header *key = hr_http_head_find(&h, "Sec-WebSocket-Key");
    assert_non_null(key);
    char accept_key[29];
    hr_ws_handshake_accept_key(key->value, key->value_len, accept_key);
    char resp[512];
    const int n = snprintf(resp, sizeof resp,
                           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                           accept_key, answer_lines);
    const size_t offers = hr_http_head_count(&h, "Sec-WebSocket-Protocol");
    tc_send(t, resp, (size_t)n);
    return offers;
}

/* One client handshake against the raw server: extra is the client's
 * extra_headers, answer the server's extra 101 lines. */
static void run_case(const char *extra, const char *answer, size_t want_offers, bool want_open,
                     const char *want_protocol)
{
    harness *h = h_start(NULL);
    int port = 0;
    const int lfd = listen_any(&port);
    sp_state st = {0};
    sp_job j = {.port = port, .extra = extra, .st = &st};
    h_run(h, sp_connect, &j);
    assert_int_equal(j.rc, 0);
    tc *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(serve_101(lfd, t, answer), want_offers);
    if (!want_open)
        assert_int_equal(h_wait_at_least(&st.closed, 1), 1);
    else
        assert_int_equal(h_wait_at_least(&st.opened, 1), 1);
    tc_free(t); /* the raw server leaves; the client's close ends either way */
    close(lfd);
    assert_int_equal(h_wait_at_least(&st.closed, 1), 1);
    assert_int_equal(atomic_load(&st.opened), want_open);
    if (!want_open)
        assert_int_equal(atomic_load(&st.status), 0);
    if (want_protocol == NULL) {
        assert_int_equal(atomic_load(&st.has_protocol), 0);
    } else {
        assert_int_equal(atomic_load(&st.has_protocol), 1);
        assert_string_equal(st.protocol, want_protocol);
    }
    h_stop(h);
}

static const char offer[] = "Sec-WebSocket-Protocol: a.v1, b.v2\r\nsec-websocket-protocol: c\r\n";

static void test_net_subprotocol_selected(void **state)
{
    (void)state;
    run_case(offer, "Sec-WebSocket-Protocol: b.v2\r\n", 2, true, "b.v2");
}

static void test_net_subprotocol_selected_from_second_line(void **state)
{
    (void)state;
    run_case(offer, "Sec-WebSocket-Protocol: c\r\n", 2, true, "c");
}

static void test_net_subprotocol_none_selected(void **state)
{
    (void)state;
    run_case(offer, "", 2, true, NULL);
}

static void test_net_subprotocol_not_offered_fails(void **state)
{
    (void)state;
    run_case(offer, "Sec-WebSocket-Protocol: b\r\n", 2, false, NULL);
}

static void test_net_subprotocol_several_fail(void **state)
{
    (void)state;
    run_case(offer, "Sec-WebSocket-Protocol: a.v1\r\nSec-WebSocket-Protocol: c\r\n", 2, false,
             NULL);
}

static void test_net_subprotocol_without_offer_fails(void **state)
{
    (void)state;
    run_case("X-Other: 1\r\n", "Sec-WebSocket-Protocol: a.v1\r\n", 0, false, NULL);
}

/* ---- server side: a deferred upgrade accepted with a protocol ---- */

typedef struct accept_job {
    bool done;
    int rc;
} accept_job;

static void sp_accept(harness *h, void *arg)
{
    accept_job *j = arg;
    if (h->deferred == NULL)
        return;
    const hr_upgrade_reply reply = {.protocol = "b.v2"};
    j->rc = hr_conn_upgrade_accept(h->deferred, &reply);
    h->deferred = NULL;
    j->done = true;
}

static void test_net_subprotocol_deferred_accept(void **state)
{
    (void)state;
    harness *h = h_start(NULL);
    tc *t = tc_connect(h->port);
    static const char req[] =
        "GET /defer HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a.v1, b.v2\r\n\r\n";
    tc_send(t, req, sizeof req - 1);
    accept_job j = {0};
    for (int i = 0; i < 500 && !j.done; i++) {
        h_run(h, sp_accept, &j);
        if (!j.done)
            usleep(10000);
    }
    assert_true(j.done);
    assert_int_equal(j.rc, 0);
    char head[1024];
    assert_int_equal(tc_read_response(t, head, sizeof head, NULL, 0), 101);
    assert_non_null(strstr(head, "\r\nSec-WebSocket-Protocol: b.v2\r\n"));
    tc_free(t);
    h_stop(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_subprotocol_selected),
        cmocka_unit_test(test_net_subprotocol_selected_from_second_line),
        cmocka_unit_test(test_net_subprotocol_none_selected),
        cmocka_unit_test(test_net_subprotocol_not_offered_fails),
        cmocka_unit_test(test_net_subprotocol_several_fail),
        cmocka_unit_test(test_net_subprotocol_without_offer_fails),
        cmocka_unit_test(test_net_subprotocol_deferred_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* hr_uring over socketpairs: a batch's sends arrive whole and in order of
 * adding, several buffers go out as one message, a full batch refuses the
 * next add, a full socket answers -EAGAIN at once (nothing left in flight)
 * and a send to a closed peer reports its error. A descriptor registered
 * in the ring's file table and forgotten lets its socket close at once,
 * and its number, reused, reaches the new socket. In a build without
 * HERALD_IO_URING, hr_uring_new must say no. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/uring.h"

#ifdef HR_HAVE_URING

typedef struct result {
    int res[8];
    int n;
} result;

static result *current;

static void on_done(void *owner, int res)
{
    const int i = (int)(intptr_t)owner;
    assert_int_equal(i, current->n); /* order of adding */
    current->res[current->n++] = res;
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK); /* as libuv leaves its sockets */
}

static void test_net_uring_batch(void **state)
{
    hr_uring *u = hr_uring_new(4);
    assert_non_null(u);
    int sv[4][2];
    for (int i = 0; i < 4; i++)
        pair(sv[i]);
    uv_buf_t one = uv_buf_init("hello", 5);
    uv_buf_t two[2] = {uv_buf_init("ab", 2), uv_buf_init("cde", 3)};
    assert_true(hr_uring_add(u, sv[0][0], &one, 1, (void *)0));
    assert_true(hr_uring_add(u, sv[1][0], two, 2, (void *)1));
    assert_true(hr_uring_add(u, sv[2][0], &one, 1, (void *)2));
    assert_true(hr_uring_add(u, sv[3][0], two, 2, (void *)3));
    assert_false(hr_uring_add(u, sv[0][0], &one, 1, (void *)4)); /* full */
    assert_int_equal(hr_uring_pending(u), 4);
    result r = {0};
    current = &r;
    hr_uring_submit(u, on_done);
    assert_int_equal(r.n, 4);
    assert_int_equal(hr_uring_pending(u), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r.res[i], 5);
        char got[8] = {0};
        assert_int_equal(read(sv[i][1], got, sizeof got), 5);
        assert_memory_equal(got, i % 2 ? "abcde" : "hello", 5);
    }
    /* The ring is reusable after a submit. */
    assert_true(hr_uring_add(u, sv[0][0], &one, 1, (void *)0));
    r = (result){0};
    hr_uring_submit(u, on_done);
    assert_int_equal(r.res[0], 5);
    for (int i = 0; i < 4; i++)
        close(sv[i][0]), close(sv[i][1]);
    hr_uring_free(u);
}

static void test_net_uring_full_socket_and_closed_peer(void **state)
{
    hr_uring *u = hr_uring_new(8);
    assert_non_null(u);
    int full[2], gone[2];
    pair(full);
    pair(gone);
    static char block[65536];
    while (write(full[0], block, sizeof block) > 0) { /* fill it */
    }
    assert_int_equal(errno, EAGAIN);
    close(gone[1]);
    uv_buf_t b = uv_buf_init(block, 100);
    assert_true(hr_uring_add(u, full[0], &b, 1, (void *)0));
    assert_true(hr_uring_add(u, gone[0], &b, 1, (void *)1));
    result r = {0};
    current = &r;
    hr_uring_submit(u, on_done); /* returns: nothing waits for room */
    assert_int_equal(r.n, 2);
    assert_int_equal(r.res[0], -EAGAIN);
    assert_int_equal(r.res[1], -EPIPE); /* and no SIGPIPE (MSG_NOSIGNAL) */
    close(full[0]), close(full[1]), close(gone[0]);
    hr_uring_free(u);
}

/* One send of s through the ring to fd, completed. */
static void send_one(hr_uring *u, int fd, const char *s)
{
    uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));
    assert_true(hr_uring_add(u, fd, &b, 1, (void *)0));
    result r = {0};
    current = &r;
    hr_uring_submit(u, on_done);
    assert_int_equal(r.res[0], (int)strlen(s));
}

static void test_net_uring_registered_forget(void **state)
{
    hr_uring *u = hr_uring_new(4);
    assert_non_null(u);
    int a[2], b[2];
    pair(a);
    send_one(u, a[0], "x"); /* the first send names the descriptor */
    assert_int_equal(hr_uring_registered(u), 0);
    send_one(u, a[0], "y"); /* the second registers it, where the ring can */
    assert_int_equal(hr_uring_registered(u), hr_uring_has_table(u) ? 1 : 0);
    char got[8] = {0};
    assert_int_equal(read(a[1], got, sizeof got), 2);
    assert_memory_equal(got, "xy", 2);
    /* Forgotten, then closed: the peer sees the end at once, so the table
     * no longer holds the socket. */
    const int num = a[0];
    hr_uring_forget(u, a[0]);
    close(a[0]);
    assert_int_equal(hr_uring_registered(u), 0);
    struct pollfd pf = {.fd = a[1], .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 0), 1);
    assert_int_equal(read(a[1], got, sizeof got), 0);
    /* The number again, for a new socket: sends reach the new peer. */
    pair(b);
    assert_int_equal(b[0], num);
    send_one(u, b[0], "p");
    send_one(u, b[0], "q");
    send_one(u, b[0], "r");
    assert_int_equal(read(b[1], got, sizeof got), 3);
    assert_memory_equal(got, "pqr", 3);
    hr_uring_forget(u, b[0]);
    close(a[1]), close(b[0]), close(b[1]);
    hr_uring_free(u);
}

static void test_net_uring_table_off(void **state)
{
    setenv("HERALD_IO_URING_FIXED", "0", 1);
    hr_uring *u = hr_uring_new(4);
    unsetenv("HERALD_IO_URING_FIXED");
    assert_non_null(u);
    assert_false(hr_uring_has_table(u));
    int a[2];
    pair(a);
    send_one(u, a[0], "x");
    send_one(u, a[0], "y");
    assert_int_equal(hr_uring_registered(u), 0);
    hr_uring_forget(u, a[0]); /* harmless without a table */
    close(a[0]), close(a[1]);
    hr_uring_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_uring_batch),
        cmocka_unit_test(test_net_uring_full_socket_and_closed_peer),
        cmocka_unit_test(test_net_uring_registered_forget),
        cmocka_unit_test(test_net_uring_table_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else /* !HR_HAVE_URING */

static void test_net_uring_not_built(void **state)
{
    assert_null(hr_uring_new(4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_uring_not_built),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif

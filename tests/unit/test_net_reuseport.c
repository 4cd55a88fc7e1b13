/* hr_reuseport: a group of SO_REUSEPORT listeners with the by-address
 * steering program sends every connection from one client address to the
 * same listener, and consecutive IPv4 addresses alternate over a group of
 * two (source address modulo the group size). Plain blocking sockets on
 * loopback, no event loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/err.h"
#include "net/reuseport.h"

static int listener(uint16_t port)
{
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    assert_int_equal(hr_reuseport_enable(fd), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    return fd;
}

static uint16_t port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* Connects from 127.0.0.src and returns the index of the listener that got it. */
static int landing(const int *fds, int n, uint16_t port, uint8_t src)
{
    const int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c >= 0);
    struct sockaddr_in from = {.sin_family = AF_INET};
    from.sin_addr.s_addr = htonl(0x7f000000u | src);
    assert_int_equal(bind(c, (struct sockaddr *)&from, sizeof from), 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c, (struct sockaddr *)&to, sizeof to), 0);
    struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
    assert_true(poll(p, (nfds_t)n, 5000) > 0);
    int got = -1;
    for (int i = 0; i < n; i++) {
        const int a = accept4(fds[i], NULL, NULL, SOCK_NONBLOCK);
        if (a >= 0) {
            assert_int_equal(got, -1); /* exactly one listener took it */
            got = i;
            close(a);
        }
    }
    close(c);
    return got;
}

static void test_same_address_same_listener(void **state)
{
    (void)state;
    int fds[2];
    fds[0] = listener(0);
    const uint16_t port = port_of(fds[0]);
    fds[1] = listener(port);
    assert_int_equal(hr_reuseport_steer_by_ip(fds[1], 2), 0);
    int seen[2] = {0, 0};
    for (uint8_t src = 10; src < 16; src++) {
        const int first = landing(fds, 2, port, src);
        assert_true(first >= 0);
        seen[first]++;
        for (int k = 0; k < 4; k++)
            assert_int_equal(landing(fds, 2, port, src), first);
        /* the neighbouring address goes to the other listener */
        if (src > 10)
            assert_int_not_equal(first, landing(fds, 2, port, (uint8_t)(src - 1)));
    }
    assert_int_equal(seen[0], 3);
    assert_int_equal(seen[1], 3);
    close(fds[0]);
    close(fds[1]);
}

static void test_refusals(void **state)
{
    (void)state;
    const int fd = listener(0);
    assert_int_equal(hr_reuseport_steer_by_ip(fd, 1), HR_EINVAL);
    assert_int_equal(hr_reuseport_steer_by_ip(fd, 70000), HR_EINVAL);
    assert_true(hr_reuseport_steer_by_ip(-1, 2) < 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_address_same_listener),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

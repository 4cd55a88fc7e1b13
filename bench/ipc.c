/* Exact-length reads and writes on a (possibly non-blocking) socket, with a
 * bound on how long each waits, so neither side of a benchmark can hang. */
#include "ipc.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

static int wait_fd(int fd, short ev, int ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    const int rc = poll(&p, 1, ms);
    return rc > 0 ? 0 : -1;
}

int bench_ipc_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        const ssize_t k = write(fd, b, n);
        if (k > 0) {
            b += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && errno == EAGAIN) {
            if (wait_fd(fd, POLLOUT, 10000) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

int bench_ipc_read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        const ssize_t k = read(fd, b, n);
        if (k > 0) {
            b += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && errno == EAGAIN) {
            if (wait_fd(fd, POLLIN, 30000) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

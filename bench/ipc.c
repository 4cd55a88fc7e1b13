/* Exact-length reads and writes on a (possibly non-blocking) socket, with a
 * bound on how long each waits, so neither side of a benchmark can hang. */
#include "ipc.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

static int wait_fd(int fd, short ev, int ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    const int rc = poll(&p, 1, ms);
    return rc > 0 ? 0 : -1;
}

/* Moves all n bytes through fd: written from p (out) or read into it,
 * riding out EINTR and waiting (up to wait_ms) on EAGAIN. 0 or -1. */
static int transfer_all(int fd, uint8_t *b, size_t n, bool out, int wait_ms)
{
    while (n > 0) {
        const ssize_t k = out ? write(fd, b, n) : read(fd, b, n);
        if (k > 0) {
            b += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && errno == EAGAIN) {
            if (wait_fd(fd, out ? POLLOUT : POLLIN, wait_ms) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

int bench_ipc_write_all(int fd, const void *p, size_t n)
{
    return transfer_all(fd, (uint8_t *)(uintptr_t)p, n, true, 10000);
}

int bench_ipc_read_all(int fd, void *p, size_t n)
{
    return transfer_all(fd, p, n, false, 30000);
}

/* One io_uring per server: a batch of socket sends submitted with one
 * io_uring_enter, completions collected before any callback runs (so a
 * callback that closes a connection never races a queued send).
 *
 * Registered descriptors: a send names its socket by descriptor, and the
 * kernel looks the file up (fget) for each one, about 4 % of a fan-out's
 * CPU. A descriptor in the ring's file table (slot = its number) is found
 * without that. A connection is registered at its second send (a one-shot
 * HTTP exchange never is) and must be forgotten before its descriptor is
 * closed, since the table holds the socket open. Kernels before 6.4 drop a
 * forgotten file up to a second later (a delayed work), which would hold
 * every closed connection's FIN back: hr_uring_new checks that a forgotten
 * file goes at once and otherwise sends without the table. */
#include "uring.h"

#ifdef HR_HAVE_URING

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"

typedef struct slot {
    void *owner;
    int res;
    struct msghdr mh; /* several buffers: points into iov */
} slot;

struct hr_uring {
    struct io_uring ring;
    unsigned cap;       /* sends per batch (the ring's SQ size) */
    size_t n;           /* sends added */
    slot *slots;        /* [cap] */
    struct iovec *iov;  /* [iov_cap]: buffers of multi-buffer sends */
    size_t iov_cap, iov_used;
    /* The file table: slots 0..nfixed (0: not used). Per descriptor two
     * bits: sent once, and registered. */
    unsigned nfixed;
    uint64_t *sent, *fixed; /* [nfixed / 64] */
};

/* The most table slots a ring takes: a slot costs the kernel 8 bytes, and
 * descriptors above it send unregistered. */
#define HR_URING_MAX_FIXED 65536u

static bool bit(const uint64_t *set, unsigned i)
{
    return (set[i / 64] >> (i % 64)) & 1u;
}

static void put_bit(uint64_t *set, unsigned i, bool on)
{
    const uint64_t m = (uint64_t)1 << (i % 64);
    set[i / 64] = on ? set[i / 64] | m : set[i / 64] & ~m;
}

/* True when a file removed from the table is released at once: a pipe's
 * write end registered (in slot 0: standard input, never a connection),
 * closed and removed must leave its reader at EOF. */
static bool forget_is_immediate(struct io_uring *ring)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
        return false;
    bool ok = false;
    if (io_uring_register_files_update(ring, 0, &p[1], 1) == 1) {
        close(p[1]);
        int none = -1;
        if (io_uring_register_files_update(ring, 0, &none, 1) == 1) {
            struct pollfd pf = {.fd = p[0], .events = POLLIN};
            ok = poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP);
        }
    } else {
        close(p[1]);
    }
    close(p[0]);
    return ok;
}

/* Sets up the file table, or leaves nfixed 0 (sends name descriptors). */
static void setup_fixed(hr_uring *u)
{
    const char *env = getenv("HERALD_IO_URING_FIXED"); /* "0": off, for A/B runs */
    struct rlimit rl;
    if ((env != NULL && strcmp(env, "0") == 0) || getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    unsigned n = rl.rlim_cur < HR_URING_MAX_FIXED ? (unsigned)rl.rlim_cur : HR_URING_MAX_FIXED;
    n -= n % 64;
    if (n == 0)
        return;
    u->sent = hr_calloc(n / 64, sizeof *u->sent);
    u->fixed = hr_calloc(n / 64, sizeof *u->fixed);
    if (u->sent == NULL || u->fixed == NULL || io_uring_register_files_sparse(&u->ring, n) != 0)
        goto off;
    u->nfixed = n;
    if (forget_is_immediate(&u->ring))
        return;
    hr_log(HR_LOG_DEBUG, "net", "io_uring: this kernel releases unregistered files late: "
                               "sending without registered descriptors");
    (void)io_uring_unregister_files(&u->ring);
off:
    u->nfixed = 0;
    hr_free(u->sent);
    hr_free(u->fixed);
    u->sent = u->fixed = NULL;
}

/* The table slot to send to fd through, or -1: registered at its second
 * send. */
static int fixed_slot(hr_uring *u, int fd)
{
    if (fd < 0 || (unsigned)fd >= u->nfixed)
        return -1;
    const unsigned i = (unsigned)fd;
    if (bit(u->fixed, i))
        return fd;
    if (!bit(u->sent, i)) {
        put_bit(u->sent, i, true);
        return -1;
    }
    if (io_uring_register_files_update(&u->ring, i, &fd, 1) != 1)
        return -1;
    put_bit(u->fixed, i, true);
    return fd;
}

void hr_uring_forget(hr_uring *u, int fd)
{
    if (u == NULL || fd < 0 || (unsigned)fd >= u->nfixed)
        return;
    const unsigned i = (unsigned)fd;
    put_bit(u->sent, i, false);
    if (!bit(u->fixed, i))
        return;
    int none = -1;
    if (io_uring_register_files_update(&u->ring, i, &none, 1) != 1) {
        /* Never seen; the socket would stay open behind our back. */
        hr_log(HR_LOG_ERROR, "net", "io_uring: cannot unregister descriptor %d", fd);
        HR_ASSERT(0);
    }
    put_bit(u->fixed, i, false);
}

size_t hr_uring_registered(const hr_uring *u)
{
    size_t n = 0;
    for (unsigned w = 0; w < u->nfixed / 64; w++)
        n += (size_t)__builtin_popcountll(u->fixed[w]);
    return n;
}

bool hr_uring_has_table(const hr_uring *u)
{
    return u->nfixed > 0;
}

hr_uring *hr_uring_new(unsigned entries)
{
    hr_uring *u = hr_calloc(1, sizeof *u);
    if (u == NULL)
        return NULL;
    u->cap = entries;
    /* Room for 16 buffers per send on average: a connection with a backlog
     * (a burst) sends up to 64, an isolated event one. When the buffers run
     * out first, the batch is submitted early (hr_uring_add says full). */
    u->iov_cap = (size_t)entries * 16;
    u->slots = hr_calloc(entries, sizeof *u->slots);
    u->iov = hr_calloc(u->iov_cap, sizeof *u->iov);
    if (u->slots == NULL || u->iov == NULL)
        goto fail;
    /* SUBMIT_ALL (5.18): one bad descriptor does not stop the batch.
     * SINGLE_ISSUER + DEFER_TASKRUN (6.1): only this loop's thread submits,
     * and completion work runs when it asks for completions, never as an
     * interruption of its other system calls. Older kernels refuse the
     * flags (EINVAL): try fewer. */
    static const unsigned flag_sets[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL, 0};
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0] && rc == -EINVAL; i++)
        rc = io_uring_queue_init(entries, &u->ring, flag_sets[i]);
    if (rc < 0) {
        hr_log(HR_LOG_WARN, "net", "io_uring unavailable (%s): writing with libuv", strerror(-rc));
        goto fail;
    }
    setup_fixed(u);
    return u;
fail:
    hr_free(u->slots);
    hr_free(u->iov);
    hr_free(u);
    return NULL;
}

void hr_uring_free(hr_uring *u)
{
    if (u == NULL)
        return;
    io_uring_queue_exit(&u->ring);
    hr_free(u->slots);
    hr_free(u->iov);
    hr_free(u->sent);
    hr_free(u->fixed);
    hr_free(u);
}

size_t hr_uring_pending(const hr_uring *u)
{
    return u->n;
}

bool hr_uring_add(hr_uring *u, int fd, const uv_buf_t *bufs, size_t n, void *owner)
{
    HR_ASSERT(n >= 1);
    if (u->n == u->cap || (n > 1 && u->iov_cap - u->iov_used < n))
        return false;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (sqe == NULL)
        return false;
    slot *s = &u->slots[u->n];
    s->owner = owner;
    const int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
    const int fixed = fixed_slot(u, fd);
    if (fixed >= 0)
        fd = fixed;
    if (n == 1) {
        io_uring_prep_send(sqe, fd, bufs[0].base, bufs[0].len, flags);
    } else {
        struct iovec *v = &u->iov[u->iov_used];
        for (size_t i = 0; i < n; i++)
            v[i] = (struct iovec){.iov_base = bufs[i].base, .iov_len = bufs[i].len};
        u->iov_used += n;
        s->mh = (struct msghdr){.msg_iov = v, .msg_iovlen = n};
        io_uring_prep_sendmsg(sqe, fd, &s->mh, (unsigned)flags);
    }
    if (fixed >= 0)
        sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, u->n);
    u->n++;
    return true;
}

/* Waits until every added send has completed and records each result. */
static void collect(hr_uring *u, size_t n)
{
    size_t seen = 0;
    int rc = io_uring_submit_and_wait(&u->ring, (unsigned)n);
    while (seen < n) {
        struct io_uring_cqe *cqe;
        unsigned head, k = 0;
        io_uring_for_each_cqe(&u->ring, head, cqe)
        {
            const uint64_t i = io_uring_cqe_get_data64(cqe);
            HR_ASSERT(i < n);
            u->slots[i].res = cqe->res;
            k++;
        }
        io_uring_cq_advance(&u->ring, k);
        seen += k;
        if (seen < n) {
            if (rc < 0 && rc != -EINTR) { /* never happens with a live ring */
                hr_log(HR_LOG_ERROR, "net", "io_uring_submit: %s", strerror(-rc));
                HR_ASSERT(0);
            }
            rc = io_uring_submit_and_wait(&u->ring, 1);
        }
    }
}

void hr_uring_submit(hr_uring *u, hr_uring_done_cb done)
{
    const size_t n = u->n;
    if (n == 0)
        return;
    collect(u, n);
    for (size_t i = 0; i < n; i++)
        done(u->slots[i].owner, u->slots[i].res);
    u->n = 0;
    u->iov_used = 0;
}

#else /* !HR_HAVE_URING */

hr_uring *hr_uring_new(unsigned entries)
{
    (void)entries;
    return NULL;
}

void hr_uring_free(hr_uring *u)
{
    (void)u;
}

bool hr_uring_add(hr_uring *u, int fd, const uv_buf_t *bufs, size_t n, void *owner)
{
    (void)u, (void)fd, (void)bufs, (void)n, (void)owner;
    return false;
}

size_t hr_uring_pending(const hr_uring *u)
{
    (void)u;
    return 0;
}

void hr_uring_forget(hr_uring *u, int fd)
{
    (void)u, (void)fd;
}

size_t hr_uring_registered(const hr_uring *u)
{
    (void)u;
    return 0;
}

bool hr_uring_has_table(const hr_uring *u)
{
    (void)u;
    return false;
}

void hr_uring_submit(hr_uring *u, hr_uring_done_cb done)
{
    (void)u, (void)done;
}

#endif

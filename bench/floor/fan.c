/* The broadcaster of one herald-floor process. It does only what the
 * kernel's cost of a broadcast needs: accept, answer the upgrade (and the
 * Herald "subscribed" message herald-bench waits for), then write one
 * prepared frame to every open socket. No per-client buffers: a socket that
 * is full is waited for (poll) before the next one is written, which never
 * happens with the small frames and fresh sockets this is for. Client bytes
 * are read and dropped; EOF closes. */
#include "fan.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HR_HAVE_URING
#include <liburing.h>
#endif

#include "proto/http_head.h"
#include "proto/ws_frame.h"
#include "proto/ws_handshake.h"

#define HEAD_MAX 4096u
#define SUBSCRIBED "{\"type\":\"subscribed\",\"channels\":[]}"

typedef struct conn {
    uint8_t *head; /* upgrade request bytes; NULL once open or unused */
    uint16_t head_len;
    bool open;
    uint32_t slot; /* index in fan.fds while open */
} conn;

typedef struct fan {
    int listen_fd, parent, epfd, threads;
    int uring_batch; /* > 0: sends go as io_uring submissions of this many */
    conn *conns; /* indexed by descriptor */
    size_t max_fd;
    int *fds; /* open clients, written in this order */
    size_t n_fds, peak;
    uint64_t next_id;
    /* The broadcast in progress, shared with the writer threads. */
    pthread_barrier_t go, done;
    const uint8_t *frame;
    size_t frame_len;
    bool quit;
} fan;

typedef struct writer {
    fan *f;
    int index;
} writer;

/* Writes all of p to fd, waiting while the socket is full. */
static int send_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        const ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, 5000) <= 0)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

static size_t text_frame(const char *payload, size_t len, uint8_t *out, size_t cap)
{
    if (len + HR_WS_MAX_HEADER > cap)
        return 0;
    const size_t h = hr_ws_frame_write_header(out, HR_WS_OP_TEXT, true, false, len, NULL);
    memcpy(out + h, payload, len);
    return h + len;
}

#ifdef HR_HAVE_URING
/* --uring B: the same sends as io_uring submissions of B (what Herald's
 * --io-uring does per flush chunk), to measure what batched submission
 * saves against one send system call each. A ring per writer thread,
 * made on first use by that thread. A send the kernel cut short or
 * refused (MSG_DONTWAIT) is finished with send_all. */
static _Thread_local struct io_uring ring;
static _Thread_local bool ring_ready;

static void uring_slice(fan *f, size_t lo, size_t hi)
{
    if (!ring_ready) {
        struct io_uring_params p = {.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
                                             IORING_SETUP_DEFER_TASKRUN};
        if (io_uring_queue_init_params((unsigned)f->uring_batch, &ring, &p) != 0) {
            fprintf(stderr, "herald-floor: io_uring refused\n");
            exit(1);
        }
        ring_ready = true;
    }
    while (lo < hi) {
        const size_t n = hi - lo < (size_t)f->uring_batch ? hi - lo : (size_t)f->uring_batch;
        for (size_t i = 0; i < n; i++) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            io_uring_prep_send(sqe, f->fds[lo + i], f->frame, f->frame_len,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            io_uring_sqe_set_data64(sqe, lo + i);
        }
        io_uring_submit_and_wait(&ring, (unsigned)n);
        for (size_t seen = 0; seen < n;) {
            struct io_uring_cqe *cqe;
            if (io_uring_wait_cqe(&ring, &cqe) != 0)
                exit(1);
            const size_t i = (size_t)io_uring_cqe_get_data64(cqe);
            const int res = cqe->res;
            io_uring_cqe_seen(&ring, cqe);
            seen++;
            if (res >= 0 && (size_t)res < f->frame_len)
                (void)send_all(f->fds[i], f->frame + res, f->frame_len - (size_t)res);
            else if (res == -EAGAIN)
                (void)send_all(f->fds[i], f->frame, f->frame_len);
        }
        lo += n;
    }
}
#endif

static void write_slice(fan *f, int index)
{
    const size_t lo = f->n_fds * (size_t)index / (size_t)f->threads;
    const size_t hi = f->n_fds * (size_t)(index + 1) / (size_t)f->threads;
#ifdef HR_HAVE_URING
    if (f->uring_batch > 0) {
        uring_slice(f, lo, hi);
        return;
    }
#endif
    for (size_t i = lo; i < hi; i++)
        (void)send_all(f->fds[i], f->frame, f->frame_len); /* a failed socket reads EOF next */
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (;;) {
        pthread_barrier_wait(&w->f->go);
        if (w->f->quit)
            return NULL;
        write_slice(w->f, w->index);
        pthread_barrier_wait(&w->f->done);
    }
}

static void close_conn(fan *f, int fd)
{
    conn *c = &f->conns[fd];
    if (c->open) {
        const int last = f->fds[--f->n_fds];
        f->fds[c->slot] = last;
        f->conns[last].slot = c->slot;
    }
    free(c->head);
    memset(c, 0, sizeof *c);
    close(fd); /* also leaves the epoll set */
}

static void accept_all(fan *f)
{
    for (;;) {
        const int fd = accept4(f->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: the client sees the refusal */
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if ((size_t)fd >= f->max_fd || (f->conns[fd].head = malloc(HEAD_MAX)) == NULL ||
            epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            if ((size_t)fd < f->max_fd) {
                free(f->conns[fd].head);
                f->conns[fd].head = NULL;
            }
            close(fd);
        }
    }
}

/* Answers a complete upgrade request; returns -1 to close. */
static int upgrade(fan *f, int fd, conn *c)
{
    hr_http_head head;
    const int rc = hr_http_head_parse(c->head, c->head_len, false, NULL, &head);
    if (rc == 0)
        return c->head_len < HEAD_MAX ? 0 : -1;
    hr_ws_handshake hs;
    if (rc < 0 || hr_ws_handshake_check(&head, false, &hs) != 0)
        return -1;
    char out[1024];
    size_t n = hr_ws_handshake_write_101(&hs, NULL, out, sizeof out);
    if (n == 0)
        return -1;
    n += text_frame(SUBSCRIBED, sizeof SUBSCRIBED - 1, (uint8_t *)out + n, sizeof out - n);
    if (send_all(fd, (const uint8_t *)out, n) != 0)
        return -1;
    free(c->head);
    c->head = NULL;
    c->open = true;
    c->slot = (uint32_t)f->n_fds;
    f->fds[f->n_fds++] = fd;
    if (f->n_fds > f->peak)
        f->peak = f->n_fds;
    return 0;
}

static void on_client(fan *f, int fd)
{
    conn *c = &f->conns[fd];
    uint8_t sink[4096];
    uint8_t *buf = c->open ? sink : c->head + c->head_len;
    const size_t cap = c->open ? sizeof sink : HEAD_MAX - c->head_len;
    const ssize_t n = recv(fd, buf, cap, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_conn(f, fd);
        return;
    }
    if (c->open)
        return;
    c->head_len += (uint16_t)n;
    if (upgrade(f, fd, c) != 0)
        close_conn(f, fd);
}

/* One publish from the parent: "<channel>\0<body>". Returns -1 when the
 * parent is gone. */
static int on_parent(fan *f)
{
    static uint8_t msg[FLOOR_MAX_CHANNEL + 1 + FLOOR_MAX_BODY];
    static char payload[FLOOR_MAX_CHANNEL + FLOOR_MAX_BODY + 128];
    static uint8_t frame[sizeof payload + HR_WS_MAX_HEADER];
    const ssize_t n = recv(f->parent, msg, sizeof msg, 0);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0)
        return -1;
    const uint8_t *nul = memchr(msg, 0, (size_t)n);
    if (nul == NULL)
        return -1;
    const char *ch = (const char *)msg;
    const size_t blen = (size_t)n - (size_t)(nul + 1 - msg);
    const int plen = snprintf(payload, sizeof payload,
                              "{\"type\":\"event\",\"channel\":\"%s\",\"id\":\"%llu\",\"data\":%.*s}",
                              ch, (unsigned long long)++f->next_id, (int)blen,
                              (const char *)nul + 1);
    if (plen < 0 || (size_t)plen >= sizeof payload)
        return -1;
    f->frame_len = text_frame(payload, (size_t)plen, frame, sizeof frame);
    f->frame = frame;
    if (f->threads == 1) {
        write_slice(f, 0);
    } else {
        pthread_barrier_wait(&f->go);
        write_slice(f, 0);
        pthread_barrier_wait(&f->done);
    }
    const uint8_t ack = 'D';
    return send(f->parent, &ack, 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int loop(fan *f)
{
    struct epoll_event evs[256];
    for (;;) {
        const int n = epoll_wait(f->epfd, evs, 256, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return 1;
        for (int i = 0; i < n; i++) {
            const int fd = evs[i].data.fd;
            if (fd == f->listen_fd)
                accept_all(f);
            else if (fd == f->parent) {
                if (on_parent(f) != 0)
                    return 0;
            } else if (f->conns[fd].open || f->conns[fd].head != NULL)
                on_client(f, fd);
        }
    }
}

int floor_fan_run(int listen_fd, int parent, int threads, int uring_batch)
{
    fan f = {.listen_fd = listen_fd, .parent = parent, .threads = threads, .uring_batch = uring_batch};
    struct rlimit rl;
    f.max_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1000000u ? rl.rlim_cur : 1000000u;
    f.conns = calloc(f.max_fd, sizeof *f.conns);
    f.fds = calloc(f.max_fd, sizeof *f.fds);
    f.epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.fd = listen_fd};
    struct epoll_event pe = {.events = EPOLLIN, .data.fd = parent};
    if (f.conns == NULL || f.fds == NULL || f.epfd < 0 ||
        epoll_ctl(f.epfd, EPOLL_CTL_ADD, listen_fd, &le) != 0 ||
        epoll_ctl(f.epfd, EPOLL_CTL_ADD, parent, &pe) != 0) {
        fprintf(stderr, "herald-floor: out of memory or descriptors\n");
        return 1;
    }
    pthread_t tids[64];
    writer ws[64];
    const int extra = threads - 1;
    if (extra > 0) {
        pthread_barrier_init(&f.go, NULL, (unsigned)threads);
        pthread_barrier_init(&f.done, NULL, (unsigned)threads);
        for (int i = 0; i < extra; i++) {
            ws[i] = (writer){.f = &f, .index = i + 1};
            if (pthread_create(&tids[i], NULL, writer_main, &ws[i]) != 0) {
                fprintf(stderr, "herald-floor: cannot start a writer thread\n");
                return 1;
            }
        }
    }
    const int rc = loop(&f);
    /* For the operator (and the smoke test): how the kernel spread them. */
    fprintf(stderr, "herald-floor[%d]: %zu clients at most, %llu events\n", (int)getpid(), f.peak,
            (unsigned long long)f.next_id);
    if (extra > 0) {
        f.quit = true;
        pthread_barrier_wait(&f.go);
        for (int i = 0; i < extra; i++)
            pthread_join(tids[i], NULL);
        pthread_barrier_destroy(&f.go);
        pthread_barrier_destroy(&f.done);
    }
    for (size_t fd = 0; fd < f.max_fd; fd++)
        if (f.conns[fd].open || f.conns[fd].head != NULL)
            close_conn(&f, (int)fd);
    free(f.conns);
    free(f.fds);
    close(f.epfd);
    return rc;
}

/* herald-floor: the kernel's cost of a broadcast on this machine (issue 18).
 * Clients connect to --listen (WebSocket, answered with the Herald
 * "subscribed" message); a publisher POSTs a raw JSON body to
 * --publish's /pub/<channel>, and every client gets the same text frame
 * {"type":"event","channel":...,"id":...,"data":<body>} written with
 * TCP_NODELAY. The 200 answers once every client was written (as nchan's
 * publisher waits for its fan-out). --procs P forks P broadcasters, each
 * with its own SO_REUSEPORT listener on --listen (the kernel spreads the
 * clients), so a run can pass one process's open-file cap; --threads T
 * writes from T threads in each (0: one per core). This process only
 * accepts publishes and forwards each to every broadcaster. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fan.h"
#include "proto/http_head.h"

#define MAX_PROCS 64
#define REQ_MAX (8192 + FLOOR_MAX_BODY)

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int parse_addr(const char *s, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    const long port = strtol(colon + 1, NULL, 10);
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return port > 0 && port < 65536 && inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static int listener(const struct sockaddr_in *a, bool reuseport, bool nonblock)
{
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    const int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, (const struct sockaddr *)a, sizeof *a) != 0 || listen(fd, 4096) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        const ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Forwards one publish to every broadcaster and waits for each to finish. */
static int broadcast(const int *kids, int n, const uint8_t *msg, size_t len)
{
    for (int i = 0; i < n; i++)
        if (send(kids[i], msg, len, MSG_NOSIGNAL) != (ssize_t)len)
            return -1;
    for (int i = 0; i < n; i++) {
        uint8_t ack;
        ssize_t r;
        while ((r = recv(kids[i], &ack, 1, 0)) < 0 && errno == EINTR && !stopping)
            ;
        if (r != 1)
            return -1;
    }
    return 0;
}

/* Answers the requests complete in buf[0..*len); returns -1 to close. */
static int serve(int fd, const int *kids, int nkids, uint8_t *buf, size_t *len)
{
    static uint8_t msg[FLOOR_MAX_CHANNEL + 1 + FLOOR_MAX_BODY];
    for (;;) {
        hr_http_head h;
        const int rc = hr_http_head_parse(buf, *len, false, NULL, &h);
        if (rc < 0)
            return -1;
        const size_t body = h.content_length > 0 ? (size_t)h.content_length : 0;
        if (rc == 0 || (size_t)rc + body > *len)
            return rc == 0 && *len >= REQ_MAX ? -1 : 0;
        if (body > FLOOR_MAX_BODY)
            return -1;
        const char *slash = memrchr(h.target, '/', h.target_len);
        const size_t clen = slash ? h.target_len - (size_t)(slash + 1 - h.target) : 0;
        const char *answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        if (h.method_len == 4 && memcmp(h.method_str, "POST", 4) == 0 && clen > 0 &&
            clen < FLOOR_MAX_CHANNEL && h.target_len > 5 && memcmp(h.target, "/pub/", 5) == 0) {
            memcpy(msg, slash + 1, clen);
            msg[clen] = '\0';
            memcpy(msg + clen + 1, buf + rc, body);
            if (broadcast(kids, nkids, msg, clen + 1 + body) != 0)
                return -1;
            answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        }
        if (write_all(fd, answer, strlen(answer)) != 0)
            return -1;
        const size_t used = (size_t)rc + body;
        memmove(buf, buf + used, *len - used);
        *len -= used;
    }
}

/* Serves publishers one connection at a time (the bench has one). */
static int publish_loop(int lfd, const int *kids, int nkids)
{
    static uint8_t buf[REQ_MAX];
    while (!stopping) {
        const int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue; /* EINTR from SIGTERM ends the loop */
        size_t len = 0;
        for (;;) {
            const ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
            if (n < 0 && errno == EINTR && !stopping)
                continue;
            if (n <= 0)
                break;
            len += (size_t)n;
            if (serve(fd, kids, nkids, buf, &len) != 0)
                break;
        }
        close(fd);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: herald-floor --listen IP:PORT --publish IP:PORT [--procs P] "
                    "[--threads T (0: one per core)] [--uring B (io_uring, B sends per submission)]\n");
}

int main(int argc, char **argv)
{
    const char *listen_s = "127.0.0.1:17070", *publish_s = "127.0.0.1:17069";
    long procs = 1, threads = 1, uring = 0;
    static const struct option longs[] = {{"listen", required_argument, NULL, 'l'},
                                          {"publish", required_argument, NULL, 'p'},
                                          {"procs", required_argument, NULL, 'P'},
                                          {"threads", required_argument, NULL, 'T'},
                                          {"uring", required_argument, NULL, 'U'},
                                          {"help", no_argument, NULL, 'h'},
                                          {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
        if (c == 'l')
            listen_s = optarg;
        else if (c == 'p')
            publish_s = optarg;
        else if (c == 'P')
            procs = strtol(optarg, NULL, 10);
        else if (c == 'T')
            threads = strtol(optarg, NULL, 10);
        else if (c == 'U')
            uring = strtol(optarg, NULL, 10);
        else {
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (threads == 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN);
    struct sockaddr_in la, pa;
    if (optind != argc || procs < 1 || procs > MAX_PROCS || threads < 1 || threads > 64 ||
        uring < 0 || uring > 4096 ||
        parse_addr(listen_s, &la) != 0 || parse_addr(publish_s, &pa) != 0) {
        usage();
        return 2;
    }
    /* Every broadcaster's listener is bound before any client can connect
     * and before the publish port opens, so the kernel spreads all clients. */
    int lfds[MAX_PROCS], kids[MAX_PROCS];
    pid_t pids[MAX_PROCS];
    for (int i = 0; i < procs; i++)
        if ((lfds[i] = listener(&la, true, true)) < 0) {
            fprintf(stderr, "herald-floor: cannot listen on %s: %s\n", listen_s, strerror(errno));
            return 1;
        }
    for (int i = 0; i < procs; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
            return 1;
        const int big = 4 * FLOOR_MAX_BODY;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        pids[i] = fork();
        if (pids[i] < 0)
            return 1;
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            close(sv[0]);
            for (int j = 0; j < procs; j++)
                if (j != i)
                    close(lfds[j]);
            for (int j = 0; j < i; j++)
                close(kids[j]);
            _exit(floor_fan_run(lfds[i], sv[1], (int)threads, (int)uring));
        }
        close(sv[1]);
        close(lfds[i]);
        kids[i] = sv[0];
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    const int pfd = listener(&pa, false, false);
    if (pfd < 0)
        fprintf(stderr, "herald-floor: cannot listen on %s: %s\n", publish_s, strerror(errno));
    else
        publish_loop(pfd, kids, (int)procs);
    for (int i = 0; i < procs; i++)
        close(kids[i]); /* each broadcaster ends when its socket closes */
    for (int i = 0; i < procs; i++)
        waitpid(pids[i], NULL, 0);
    return pfd < 0 ? 1 : 0;
}

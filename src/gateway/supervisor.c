/* The worker supervisor: nginx's master process in miniature. Workers share
 * the listeners through SO_REUSEPORT, so the parent holds no sockets; it only
 * forks, forwards signals and reaps. Signals are blocked and taken
 * synchronously with sigtimedwait(), whose timeout is the nearest pending
 * restart, so the parent never runs code in a signal handler.
 *
 *   slot state:  RUNNING --(SIGCHLD)--> WAITING(restart_at) --(timeout)--> RUNNING
 *                   └── during a drain: DEAD, and the parent exits when all are */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

typedef struct slot {
    pid_t pid;           /* 0: not running */
    uint64_t started_ms; /* when the current pid was forked */
    uint64_t restart_at; /* when pid == 0 and not draining */
    uint32_t backoff_ms;
    bool ever_started; /* survived its first second at least once */
} slot;

typedef struct sup {
    const gw_supervisor_ops *ops;
    void *arg;
    slot s[GW_SUPERVISOR_MAX_WORKERS];
    unsigned n;
    unsigned alive;
    bool draining;
    int status;
    sigset_t set;
} sup;

uint32_t gw_supervisor_backoff(uint32_t prev_ms, uint64_t uptime_ms)
{
    if (uptime_ms >= GW_BACKOFF_STABLE_MS)
        return 0;
    if (prev_ms < GW_BACKOFF_MIN_MS)
        return GW_BACKOFF_MIN_MS;
    return prev_ms >= GW_BACKOFF_MAX_MS / 2 ? GW_BACKOFF_MAX_MS : prev_ms * 2;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void spawn(sup *p, unsigned i)
{
    const pid_t pid = fork();
    if (pid == 0) /* signals stay blocked until gw_supervisor_worker_ready() */
        exit(p->ops->run_worker(p->arg, i));
    if (pid < 0) {
        hr_log(HR_LOG_ERROR, "gateway", "cannot fork worker=%u err=%d", i, errno);
        p->s[i].backoff_ms = gw_supervisor_backoff(p->s[i].backoff_ms, 0);
        p->s[i].restart_at = now_ms() + p->s[i].backoff_ms;
        return;
    }
    p->s[i].pid = pid;
    p->s[i].started_ms = now_ms();
    p->alive++;
}

/* The signals the parent waits for (blocked in it and in new workers). */
static void supervised_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
}

void gw_supervisor_worker_ready(void)
{
    sigset_t set;
    supervised_set(&set);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void forward(sup *p, int sig)
{
    for (unsigned i = 0; i < p->n; i++)
        if (p->s[i].pid > 0)
            kill(p->s[i].pid, sig);
}

static void start_drain(sup *p, int sig)
{
    p->draining = true;
    forward(p, sig);
}

static void on_exit_of(sup *p, unsigned i, int ws)
{
    slot *s = &p->s[i];
    const uint64_t up = now_ms() - s->started_ms;
    const bool failed = !WIFEXITED(ws) || WEXITSTATUS(ws) != 0;
    s->pid = 0;
    p->alive--;
    if (p->draining) {
        if (failed)
            p->status = 1;
        return;
    }
    const bool exited_bad = WIFEXITED(ws) && WEXITSTATUS(ws) != 0;
    if (exited_bad && !s->ever_started && up < 1000) {
        hr_log(HR_LOG_ERROR, "gateway", "worker=%u failed at start-up; stopping", i);
        p->status = 1;
        start_drain(p, SIGTERM);
        return;
    }
    s->ever_started = true;
    s->backoff_ms = gw_supervisor_backoff(s->backoff_ms, up);
    s->restart_at = now_ms() + s->backoff_ms;
    hr_log(HR_LOG_WARN, "gateway", "worker=%u died (%s %d) after %llu ms; restart in %u ms", i,
           WIFSIGNALED(ws) ? "signal" : "status", WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws),
           (unsigned long long)up, s->backoff_ms);
    if (p->ops->on_death != NULL)
        p->ops->on_death(p->arg, i);
}

static void reap(sup *p)
{
    int ws = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
        for (unsigned i = 0; i < p->n; i++)
            if (p->s[i].pid == pid)
                on_exit_of(p, i, ws);
    }
}

/* Forks the workers whose restart time has come; returns ms until the next
 * pending restart, or -1 for none. */
static int64_t restart_due(sup *p)
{
    int64_t next = -1;
    for (unsigned i = 0; i < p->n && !p->draining; i++) {
        slot *s = &p->s[i];
        if (s->pid != 0)
            continue;
        if (now_ms() >= s->restart_at)
            spawn(p, i);
        if (s->pid != 0)
            continue;
        const int64_t wait = (int64_t)(s->restart_at - now_ms());
        if (next < 0 || wait < next)
            next = wait < 0 ? 0 : wait;
    }
    return next;
}

static void mark_stable(sup *p)
{
    for (unsigned i = 0; i < p->n; i++)
        if (p->s[i].pid > 0 && now_ms() - p->s[i].started_ms >= 1000)
            p->s[i].ever_started = true;
}

static int wait_signal(sup *p, int64_t timeout_ms)
{
    /* Wake at least once a second to note which workers survived start-up. */
    if (timeout_ms < 0 || timeout_ms > 1000)
        timeout_ms = 1000;
    struct timespec ts = {(time_t)(timeout_ms / 1000), (long)(timeout_ms % 1000) * 1000000L};
    return sigtimedwait(&p->set, NULL, &ts);
}

static void handle_signal(sup *p, int sig)
{
    if (sig == SIGCHLD) {
        reap(p);
    } else if (sig == SIGHUP) {
        if (p->ops->reload != NULL)
            p->ops->reload(p->arg);
        forward(p, SIGHUP);
    } else if (sig == SIGTERM || sig == SIGINT) {
        start_drain(p, sig);
    }
}

int gw_supervisor_run(unsigned workers, const gw_supervisor_ops *ops, void *arg)
{
    static sup p; /* one per process; too large for some stacks */
    p = (sup){.ops = ops, .arg = arg, .n = workers};
    if (p.n > GW_SUPERVISOR_MAX_WORKERS)
        p.n = GW_SUPERVISOR_MAX_WORKERS;
    supervised_set(&p.set);
    sigprocmask(SIG_BLOCK, &p.set, NULL);
    for (unsigned i = 0; i < p.n; i++)
        spawn(&p, i);
    while (p.alive > 0 || !p.draining) {
        const int64_t next = restart_due(&p);
        const int sig = wait_signal(&p, next);
        mark_stable(&p);
        if (sig > 0)
            handle_signal(&p, sig);
        else
            reap(&p); /* a SIGCHLD merged away never loses a child */
    }
    return p.status;
}

/* Parent process of a run. The workers are forked before the parent builds
 * its own libuv loop (a loop must not cross fork). Each worker reports
 * progress records on its socketpair; a 50 ms timer sums them and moves the
 * phases on. Results are then read with plain blocking reads. */
#include "run.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"
#include "publisher.h"
#include "worker.h"

enum { PH_CONNECT, PH_IDLE, PH_PUBLISH, PH_DRAIN, PH_GAP, PH_CHURN, PH_DONE };
static const char *const phase_names[] = {"connect", "idle",  "publish", "drain",
                                          "gap",     "churn", "done"};

typedef struct run {
    const bench_opts *o;
    bench_summary *sum;
    uv_loop_t loop;
    uv_timer_t timer;
    uint32_t n;
    int fd[BENCH_MAX_WORKERS];
    pid_t pid[BENCH_MAX_WORKERS];
    uv_poll_t poll[BENCH_MAX_WORKERS];
    uint8_t acc[BENCH_MAX_WORKERS][sizeof(bench_rec)];
    size_t acc_len[BENCH_MAX_WORKERS];
    bench_rec last[BENCH_MAX_WORKERS];
    bench_rec tot;
    int phase;
    uint64_t t0, phase_t, publish_done_ns, last_progress;
    uint64_t ready0;   /* ready when publishing started */
    uint32_t pubphase; /* the publish phase (bench_opts.phases) under way */
    bench_pub pub;
    bool pub_started;
    double proc_cpu0[BENCH_MAX_PIDS], client_cpu0; /* at the start of the publish phase */
} run;

static int fork_workers(run *r)
{
    const bench_opts *o = r->o;
    uint32_t first = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        const uint32_t share = o->clients / r->n + (i < o->clients % r->n ? 1 : 0);
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            return -1;
        fflush(NULL);
        const pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            close(sv[0]);
            for (uint32_t j = 0; j < i; j++)
                close(r->fd[j]);
            _exit(bench_worker_main(o, i, first, share, sv[1]));
        }
        close(sv[1]);
        r->fd[i] = sv[0];
        r->pid[i] = pid;
        first += share;
    }
    return 0;
}

static void take_record(run *r, uint32_t i)
{
    bench_rec rec;
    memcpy(&rec, r->acc[i], sizeof rec);
    r->acc_len[i] = 0;
    if (rec.type == BENCH_REC_PROGRESS)
        r->last[i] = rec;
}

static void on_worker(uv_poll_t *p, int status, int events)
{
    run *r = p->data;
    const uint32_t i = (uint32_t)(p - r->poll);
    (void)events;
    if (status != 0)
        return;
    for (;;) {
        const ssize_t k = read(r->fd[i], r->acc[i] + r->acc_len[i], sizeof(bench_rec) - r->acc_len[i]);
        if (k <= 0)
            return; /* EAGAIN, or the worker died: the result read will say */
        r->acc_len[i] += (size_t)k;
        if (r->acc_len[i] == sizeof(bench_rec))
            take_record(r, i);
    }
}

static void sum_progress(run *r)
{
    memset(&r->tot, 0, sizeof r->tot);
    for (uint32_t i = 0; i < r->n; i++) {
        r->tot.connected += r->last[i].connected;
        r->tot.ready += r->last[i].ready;
        r->tot.failed += r->last[i].failed;
        r->tot.closed += r->last[i].closed;
        r->tot.delivered += r->last[i].delivered;
        r->tot.cycles += r->last[i].cycles;
    }
}

static void show_progress(run *r, uint64_t now, bool final)
{
    if (!r->o->progress || (!final && now - r->last_progress < 200000000ull))
        return;
    r->last_progress = now;
    fprintf(stderr, "\r\033[K[%s %.1fs] ready %llu/%u failed %llu closed %llu published %llu delivered %llu",
            phase_names[r->phase], (double)(now - r->t0) / 1e9, (unsigned long long)r->tot.ready,
            r->o->clients, (unsigned long long)r->tot.failed, (unsigned long long)r->tot.closed,
            (unsigned long long)r->pub.acked, (unsigned long long)r->tot.delivered);
    if (final)
        fputc('\n', stderr);
}

/* CPU seconds now: each --pids server's into proc[], the client workers'
 * summed. */
static double cpu_now(const run *r, double proc[BENCH_MAX_PIDS])
{
    for (size_t i = 0; i < r->sum->before.n; i++)
        proc[i] = bench_proc_cpu_s(r->sum->before.procs[i].pid);
    double client = 0;
    for (uint32_t i = 0; i < r->n; i++)
        client += bench_proc_cpu_s(r->pid[i]);
    return client;
}

static void phase_cpu_start(run *r)
{
    r->client_cpu0 = cpu_now(r, r->proc_cpu0);
}

static void phase_cpu_end(run *r)
{
    double *proc = r->sum->phase_proc_cpu_s[r->pubphase];
    const double client = cpu_now(r, proc);
    for (size_t i = 0; i < r->sum->before.n; i++)
        proc[i] -= r->proc_cpu0[i];
    r->sum->phase_client_cpu_s[r->pubphase] = client - r->client_cpu0;
}

static void on_pub_done(bench_pub *p)
{
    run *r = p->loop->data;
    r->publish_done_ns = bench_now_ns();
    r->phase = PH_DRAIN;
}

static void enter(run *r, int phase, uint64_t now)
{
    r->phase = phase;
    r->phase_t = now;
}

static void finish(run *r)
{
    bench_procstat_take(&r->sum->end);
    enter(r, PH_DONE, bench_now_ns());
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, NULL);
    for (uint32_t i = 0; i < r->n; i++) {
        uv_poll_stop(&r->poll[i]);
        uv_close((uv_handle_t *)&r->poll[i], NULL);
    }
    if (r->pub_started)
        bench_pub_close(&r->pub);
}

static void start_publish(run *r, uint64_t now)
{
    bench_procstat_take(&r->sum->idle);
    r->ready0 = r->tot.ready;
    r->sum->expected = r->tot.ready * r->o->events;
    if (r->o->events == 0 || strcmp(r->o->publish, "none") == 0) {
        finish(r);
        return;
    }
    enter(r, PH_PUBLISH, now);
    phase_cpu_start(r);
    r->pub_started = true;
    bench_pub_start(&r->pub, 0, on_pub_done);
}

/* The drain of a publish phase is over: the next phase after the gap, or
 * the end of the run. */
static void phase_drained(run *r, uint64_t now)
{
    phase_cpu_end(r);
    if (r->pubphase + 1 < r->o->nphases && !r->pub.finished)
        enter(r, PH_GAP, now);
    else
        finish(r);
}

static void step(run *r, uint64_t now)
{
    const bench_opts *o = r->o;
    const double in_phase = (double)(now - r->phase_t) / 1e9;
    const bool all_in = r->tot.ready + r->tot.failed + r->tot.closed >= o->clients;
    if ((double)(now - r->t0) / 1e9 > o->timeout_s) {
        finish(r);
    } else if (r->phase == PH_CONNECT && o->churn_s > 0) {
        enter(r, PH_CHURN, now);
    } else if (r->phase == PH_CHURN && in_phase > o->churn_s + 1) {
        finish(r);
    } else if (r->phase == PH_CONNECT && (all_in || in_phase > o->timeout_s / 2)) {
        enter(r, PH_IDLE, now);
    } else if (r->phase == PH_IDLE && in_phase >= o->idle_s) {
        start_publish(r, now);
    } else if (r->phase == PH_DRAIN &&
               (r->tot.delivered >= r->ready0 * bench_phase_first(o, r->pubphase + 1) ||
                (double)(now - r->publish_done_ns) / 1e9 > o->drain_s)) {
        phase_drained(r, now);
    } else if (r->phase == PH_GAP && in_phase >= o->gap_s) {
        enter(r, PH_PUBLISH, now);
        phase_cpu_start(r);
        bench_pub_start(&r->pub, ++r->pubphase, on_pub_done);
    }
}

static void on_timer(uv_timer_t *t)
{
    run *r = t->data;
    const uint64_t now = bench_now_ns();
    sum_progress(r);
    step(r, now);
    show_progress(r, now, r->phase == PH_DONE);
}

static int read_result(run *r, uint32_t i, bench_summary *s, uint64_t *first, uint64_t *last)
{
    const size_t arr = (size_t)r->o->events * sizeof(uint64_t);
    bench_result *res = malloc(sizeof *res);
    uint64_t *f = malloc(arr ? arr : 1), *l = malloc(arr ? arr : 1);
    int rc = -1;
    bench_rec rec = {0};
    if (res == NULL || f == NULL || l == NULL)
        goto out;
    if (r->acc_len[i] > 0) { /* finish the record the loop left half-read */
        if (bench_ipc_read_all(r->fd[i], r->acc[i] + r->acc_len[i],
                               sizeof rec - r->acc_len[i]) != 0)
            goto out;
        memcpy(&rec, r->acc[i], sizeof rec);
    }
    while (rec.type != BENCH_REC_RESULT)
        if (bench_ipc_read_all(r->fd[i], &rec, sizeof rec) != 0)
            goto out;
    if (bench_ipc_read_all(r->fd[i], res, sizeof *res) != 0 ||
        bench_ipc_read_all(r->fd[i], f, arr) != 0 || bench_ipc_read_all(r->fd[i], l, arr) != 0)
        goto out;
    for (uint32_t k = 0; k < r->o->events; k++) {
        if (f[k] != 0 && (first[k] == 0 || f[k] < first[k]))
            first[k] = f[k];
        if (l[k] > last[k])
            last[k] = l[k];
    }
    bench_result *t = &s->total;
    t->rec.connected += res->rec.connected;
    t->rec.failed += res->rec.failed;
    t->rec.closed += res->rec.closed;
    t->rec.delivered += res->rec.delivered;
    t->rec.cycles += res->rec.cycles;
    t->conns += res->conns;
    if (res->ready_conns > 0 && (t->ready_conns == 0 || res->min_per_conn < t->min_per_conn))
        t->min_per_conn = res->min_per_conn;
    if (res->max_per_conn > t->max_per_conn)
        t->max_per_conn = res->max_per_conn;
    t->ready_conns += res->ready_conns;
    t->lossy_conns += res->lossy_conns;
    t->duplicates += res->duplicates;
    if (res->connect_first_ns && (!t->connect_first_ns || res->connect_first_ns < t->connect_first_ns))
        t->connect_first_ns = res->connect_first_ns;
    if (res->connect_last_ns > t->connect_last_ns)
        t->connect_last_ns = res->connect_last_ns;
    bench_hist_merge(&t->handshake, &res->handshake);
    bench_hist_merge(&t->latency, &res->latency);
    for (uint32_t k = 0; k < r->o->nphases; k++)
        bench_hist_merge(&t->phase_latency[k], &res->phase_latency[k]);
    rc = 0;
out:
    free(res);
    free(f);
    free(l);
    return rc;
}

static int collect(run *r, bench_summary *s)
{
    const size_t arr = (size_t)r->o->events * sizeof(uint64_t);
    uint64_t *first = calloc(1, arr ? arr : 1), *last = calloc(1, arr ? arr : 1);
    int rc = first && last ? 0 : -1;
    for (uint32_t i = 0; i < r->n; i++) {
        if (rc == 0 && read_result(r, i, s, first, last) != 0) {
            fprintf(stderr, "herald-bench: lost the result of worker %u\n", i);
            rc = -1;
        }
        close(r->fd[i]);
        waitpid(r->pid[i], NULL, 0);
    }
    uint64_t last_any = 0;
    for (uint32_t k = 0; rc == 0 && k < r->o->events; k++) {
        const uint32_t ph = bench_phase_of(r->o, k);
        if (first[k] != 0) {
            bench_hist_add(&s->fanout, (last[k] - first[k]) / 1000);
            bench_hist_add(&s->phase_fanout[ph], (last[k] - first[k]) / 1000);
        }
        if (last[k] > last_any)
            last_any = last[k];
        if (last[k] > s->phase_last_ns[ph])
            s->phase_last_ns[ph] = last[k];
    }
    if (last_any > r->pub.first_send_ns && r->pub.first_send_ns != 0)
        s->deliver_s = (double)(last_any - r->pub.first_send_ns) / 1e9;
    if (s->total.connect_last_ns > s->total.connect_first_ns)
        s->connect_s = (double)(s->total.connect_last_ns - s->total.connect_first_ns) / 1e9;
    free(first);
    free(last);
    return rc;
}

static int setup_loop(run *r)
{
    char err[160];
    if (uv_loop_init(&r->loop) != 0)
        return -1;
    r->loop.data = r;
    if (strcmp(r->o->publish, "none") != 0 &&
        bench_pub_init(&r->pub, &r->loop, r->o, err, sizeof err) != 0) {
        fprintf(stderr, "herald-bench: %s\n", err);
        return -1;
    }
    uv_timer_init(&r->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_timer, 50, 50);
    for (uint32_t i = 0; i < r->n; i++) {
        uv_poll_init(&r->loop, &r->poll[i], r->fd[i]);
        r->poll[i].data = r;
        uv_poll_start(&r->poll[i], UV_READABLE, on_worker);
    }
    return 0;
}

int bench_run(const bench_opts *o, bench_summary *out)
{
    run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -1;
    memset(out, 0, sizeof *out);
    out->o = o;
    r->o = o;
    r->sum = out;
    r->n = o->workers;
    out->workers = r->n;
    if (bench_procstat_parse(o->pids, &out->before) != 0) {
        fprintf(stderr, "herald-bench: --pids: expected name=pid,name=pid\n");
        free(r);
        return -1;
    }
    out->idle = out->before;
    out->end = out->before;
    bench_procstat_take(&out->before);
    r->t0 = bench_now_ns();
    int rc = -1;
    if (fork_workers(r) == 0 && setup_loop(r) == 0) {
        enter(r, PH_CONNECT, r->t0);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        for (uint32_t i = 0; i < r->n; i++)
            (void)bench_ipc_write_all(r->fd[i], "S", 1);
        rc = collect(r, out);
        out->published = r->pub.acked;
        out->publish_errors = r->pub.errors;
        memcpy(out->phase_first_send_ns, r->pub.phase_first_send_ns,
               sizeof out->phase_first_send_ns);
        memcpy(out->phase_last_ack_ns, r->pub.phase_last_ack_ns, sizeof out->phase_last_ack_ns);
        out->run_s = (double)(bench_now_ns() - r->t0) / 1e9;
        (void)uv_loop_close(&r->loop);
    } else {
        fprintf(stderr, "herald-bench: could not start the run\n");
        for (uint32_t i = 0; i < r->n; i++)
            if (r->pid[i] > 0)
                kill(r->pid[i], SIGTERM);
    }
    free(r);
    return rc;
}

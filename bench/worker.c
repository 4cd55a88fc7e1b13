/* A worker process: its own libuv loop, its share of the clients, and a
 * socketpair to the parent. A 5 ms tick launches connections at the
 * worker's share of the connect rate and, every 20th tick, sends a progress
 * record. The parent's stop byte (or the run's timeout) ends the run: the
 * worker sends its result, closes every handle and returns. */
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "ipc.h"

#define TICK_MS 5

static void send_progress(bench_worker *w)
{
    w->res.rec.type = BENCH_REC_PROGRESS;
    w->res.rec.worker = w->id;
    (void)bench_ipc_write_all(w->fd, &w->res.rec, sizeof w->res.rec);
}

static void finish_result(bench_worker *w)
{
    bench_result *r = &w->res;
    r->conns = w->n;
    r->min_per_conn = UINT64_MAX;
    for (uint32_t i = 0; i < w->launched; i++) {
        const bench_conn *c = &w->conns[i];
        if (!c->was_ready)
            continue;
        r->ready_conns++;
        if (c->delivered < r->min_per_conn)
            r->min_per_conn = c->delivered;
        if (c->delivered > r->max_per_conn)
            r->max_per_conn = c->delivered;
        if (c->delivered < w->o->events)
            r->lossy_conns++;
    }
    if (r->ready_conns == 0)
        r->min_per_conn = 0;
}

static void send_result(bench_worker *w)
{
    finish_result(w);
    w->res.rec.type = BENCH_REC_RESULT;
    w->res.rec.worker = w->id;
    const size_t arr = (size_t)w->o->events * sizeof(uint64_t);
    if (bench_ipc_write_all(w->fd, &w->res.rec, sizeof w->res.rec) != 0 ||
        bench_ipc_write_all(w->fd, &w->res, sizeof w->res) != 0 ||
        bench_ipc_write_all(w->fd, w->first_ns, arr) != 0)
        return;
    (void)bench_ipc_write_all(w->fd, w->last_ns, arr);
}

static void stop(bench_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    send_result(w);
    uv_timer_stop(&w->tick);
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_poll_stop(&w->ctl);
    uv_close((uv_handle_t *)&w->ctl, NULL);
    for (uint32_t i = 0; i < w->launched; i++)
        bench_conn_abort(&w->conns[i]);
}

static void launch_due(bench_worker *w, uint64_t now)
{
    const double elapsed = (double)(now - w->start_ns) / 1e9;
    const double share = (double)w->o->connect_rate / (double)w->o->workers;
    uint64_t due = (uint64_t)(share * elapsed) + 1;
    if (due > w->n)
        due = w->n;
    while (w->launched < due) {
        bench_conn_start(w, &w->conns[w->launched], w->first + w->launched);
        w->launched++;
    }
}

static void on_tick(uv_timer_t *t)
{
    bench_worker *w = t->data;
    static unsigned ticks;
    const uint64_t now = bench_now_ns();
    launch_due(w, now);
    if (++ticks % 20 == 0)
        send_progress(w);
    if ((double)(now - w->start_ns) / 1e9 > w->o->timeout_s + 5)
        stop(w);
}

static void on_ctl(uv_poll_t *p, int status, int events)
{
    bench_worker *w = p->data;
    (void)events;
    char b;
    const ssize_t n = status == 0 ? read(w->fd, &b, 1) : -1;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    stop(w); /* the stop byte, or the parent went away */
}

static int setup(bench_worker *w)
{
    w->conns = calloc(w->n ? w->n : 1, sizeof *w->conns);
    w->first_ns = calloc(w->o->events ? w->o->events : 1, sizeof(uint64_t));
    w->last_ns = calloc(w->o->events ? w->o->events : 1, sizeof(uint64_t));
    if (w->conns == NULL || w->first_ns == NULL || w->last_ns == NULL)
        return -1;
    if (uv_loop_init(&w->loop) != 0)
        return -1;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_poll_init(&w->loop, &w->ctl, w->fd);
    w->ctl.data = w;
    w->start_ns = bench_now_ns();
    uv_timer_start(&w->tick, on_tick, 0, TICK_MS);
    uv_poll_start(&w->ctl, UV_READABLE | UV_DISCONNECT, on_ctl);
    return 0;
}

int bench_worker_main(const bench_opts *o, uint32_t id, uint32_t first, uint32_t n, int fd)
{
    bench_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return 1;
    w->o = o;
    w->id = id;
    w->first = first;
    w->n = n;
    w->fd = fd;
    int rc = 1;
    if (setup(w) == 0) {
        uv_run(&w->loop, UV_RUN_DEFAULT);
        rc = uv_loop_close(&w->loop) == 0 ? 0 : 1;
    }
    free(w->conns);
    free(w->first_ns);
    free(w->last_ns);
    free(w);
    return rc;
}

/* herald-gateway: the WebSocket-aware API gateway (SPEC §4). main() parses
 * the flags, loads and fully validates the YAML configuration before any
 * socket opens (exit 2 with one "file:line: problem" line on error), then
 * runs one event loop per worker process. SIGTERM/SIGINT drain (stop
 * accepting, 1001 to clients, exit within limits.drain_timeout_s); SIGHUP
 * reloads the configuration for new connections. With --workers N > 1
 * (0, the default: one per core) the parent supervises N workers sharing
 * the listeners (SO_REUSEPORT; supervisor.c): it forwards signals and
 * restarts a dead worker. New connections are steered by client address
 * (reuseport.h), so per-IP limits hold gateway-wide; max_connections is
 * checked against every worker's count; metrics live in shared slots
 * (shmetrics.c) that worker 0, which serves the admin listener, sums. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "admin.h"
#include "app.h"
#include "config.h"
#include "labels.h"
#include "public.h"
#include "script_test.h"
#include "shmetrics.h"
#include "supervisor.h"
#include "core/err.h"
#include "core/flags.h"
#include "core/log.h"
#include "tls.h"
#include "uphttp.h"
#include "uplink.h"
#include "upmsg.h"

extern char **environ;

/* --io-uring, set before the workers fork (public_config reads it). */
static bool client_io_uring;

static const hr_flag_spec flag_spec[] = {
    {"config", HR_FLAG_STRING, NULL, "FILE", "gateway configuration (YAML), required", 0, 0},
    {"check", HR_FLAG_BOOL, "false", NULL, "validate the configuration and exit 0 or 2", 0, 0},
    {"workers", HR_FLAG_INT, "0", "N", "worker processes sharing the listeners (0: one per core)",
     0, GW_SUPERVISOR_MAX_WORKERS},
    {"log-level", HR_FLAG_STRING, "info", "LEVEL", "debug, info, warn, error or off", 0, 0},
    {"io-uring", HR_FLAG_BOOL, "true", NULL,
     "write to clients through io_uring, one submission per flush chunk (64 connections); "
     "false: one libuv write each (docs/net.md)",
     0, 0},
    {"script-test", HR_FLAG_STRING, NULL, "FILE.lua",
     "run a script's hooks over JSON lines on stdin, one result per line (docs/transform.md)", 0,
     0},
};

/* ---- shutdown and reload --------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void stop_loop_handles(gw_app *app)
{
    close_handle((uv_handle_t *)&app->tick);
    if (app->n_workers > 1)
        close_handle((uv_handle_t *)&app->labels);
    close_handle((uv_handle_t *)&app->sig_term);
    close_handle((uv_handle_t *)&app->sig_int);
    close_handle((uv_handle_t *)&app->sig_hup);
    gw_runtime *rt = app->rt;
    app->rt = NULL;
    gw_runtime_unref(rt);
    gw_uphttp_free(app->http);
    app->http = NULL;
    gw_uplinks_free(app->links);
    app->links = NULL;
    gw_transform_close(app->transform);
    app->transform = NULL;
}

static void on_server_done(hr_server *s, void *arg)
{
    gw_app *app = arg;
    if (--app->pending_shutdowns == 0)
        stop_loop_handles(app);
}

static void on_public_done(hr_server *s, void *arg)
{
    gw_app *app = arg;
    /* Clients are gone; now close what is left upstream and the admin side. */
    if (hr_server_shutdown(app->ups, 1001, on_server_done, app) == 0)
        app->pending_shutdowns++;
    if (app->admin != NULL && hr_server_shutdown(app->admin, 1001, on_server_done, app) == 0)
        app->pending_shutdowns++;
    on_server_done(s, arg);
}

static void start_drain(gw_app *app)
{
    if (app->draining)
        return;
    app->draining = true;
    app->m->listening = 0;
    hr_log(HR_LOG_INFO, "gateway", "draining worker=%u", app->worker);
    for (size_t i = 0; i < app->n_tls; i++)
        gw_tls_stop(app->tls[i]);
    app->pending_shutdowns = 1;
    if (app->tls_in != NULL && hr_server_shutdown(app->tls_in, 1001, on_server_done, app) == 0)
        app->pending_shutdowns++;
    if (hr_server_shutdown(app->pub, 1001, on_public_done, app) != 0)
        on_public_done(app->pub, app);
}

static void reload(gw_app *app)
{
    gw_config *cfg = NULL;
    gw_diag d;
    int rc = gw_config_load(app->config_path, &cfg, &d);
    if (rc == 0 && (rc = gw_config_check_files(cfg, &d)) != 0) {
        gw_config_free(cfg);
        cfg = NULL;
    }
    if (rc != 0) {
        app->m->reload_failures++;
        hr_log(HR_LOG_ERROR, "gateway", "reload refused, keeping the old configuration: %s",
               rc == HR_ENOMEM ? "out of memory" : d.msg);
        return;
    }
    char diag[512];
    gw_runtime *rt = gw_runtime_new(app, cfg, diag, sizeof diag);
    if (rt == NULL) {
        app->m->reload_failures++;
        hr_log(HR_LOG_ERROR, "gateway", "reload refused: %s", diag);
        return;
    }
    if (gw_transform_load(app->transform, rt->cfg, diag, sizeof diag) != 0) {
        gw_runtime_unref(rt); /* the old scripts stay */
        app->m->reload_failures++;
        hr_log(HR_LOG_ERROR, "gateway", "reload refused, keeping the old scripts: %s", diag);
        return;
    }
    gw_runtime *old = app->rt;
    bool same = old->cfg->n_listen == rt->cfg->n_listen;
    for (size_t i = 0; same && i < rt->cfg->n_listen; i++)
        same = strcmp(old->cfg->listen[i].addr.text, rt->cfg->listen[i].addr.text) == 0;
    if (!same)
        hr_log(HR_LOG_WARN, "gateway", "listen addresses changed: they apply after a restart");
    app->rt = rt;
    gw_runtime_unref(old);
    app->m->reloads++;
    hr_log(HR_LOG_INFO, "gateway",
           "configuration reloaded routes=%zu upstreams=%zu "
           "(listeners and server limits need a restart)",
           rt->cfg->n_routes, rt->cfg->n_upstreams);
}

static void on_signal(uv_signal_t *h, int signum)
{
    gw_app *app = h->data;
    if (signum == SIGHUP)
        reload(app);
    else
        start_drain(app);
}

static void on_tick(uv_timer_t *t)
{
    gw_app *app = t->data;
    static unsigned ticks;
    const gw_limits *lim = &app->rt->cfg->limits;
    gw_iptable_sweep(&app->ips, gw_app_now_ms(app), lim->handshakes_per_ip_per_s);
    if (++ticks % 5 != 0)
        return;
    for (size_t i = 0; i < app->rt->cfg->n_upstreams; i++)
        if (!app->rt->cfg->upstreams[i].health.enabled)
            gw_pool_revive(&app->rt->pools[i]);
}

/* ---- start-up ------------------------------------------------------------------ */

static size_t largest_message(const gw_config *cfg)
{
    size_t m = (size_t)cfg->limits.max_message_bytes;
    for (size_t i = 0; i < cfg->n_routes; i++)
        if (cfg->routes[i].max_message_bytes > m)
            m = (size_t)cfg->routes[i].max_message_bytes;
    return m;
}

static void public_config(const gw_config *cfg, unsigned workers, hr_server_config *sc)
{
    const gw_limits *l = &cfg->limits;
    hr_server_config_default(sc);
    sc->max_head = (size_t)l->max_header_bytes;
    sc->max_body = (size_t)l->max_body_bytes;
    sc->max_message = largest_message(cfg);
    sc->handshake_timeout_ms = (uint32_t)(l->handshake_timeout_s * 1000);
    sc->idle_timeout_ms = (uint32_t)(l->idle_timeout_s * 1000);
    sc->ping_interval_ms = (uint32_t)(l->ping_interval_s * 1000);
    sc->send_queue_limit = (size_t)l->send_queue_bytes + sc->max_message + 65536;
    sc->deflate = true;
    sc->shutdown_timeout_ms = (uint32_t)(l->drain_timeout_s * 1000);
    sc->reuse_port = workers > 1;
    sc->steer_by_ip = workers > 1 ? workers : 0; /* per-IP limits hold gateway-wide */
    sc->io_uring = client_io_uring;
}

static void upstream_config(const gw_config *cfg, hr_server_config *sc)
{
    const gw_limits *l = &cfg->limits;
    hr_server_config_default(sc);
    sc->max_head = (size_t)l->max_header_bytes;
    sc->max_message = (size_t)16 << 20;
    sc->handshake_timeout_ms = (uint32_t)l->upstream_connect_timeout_ms;
    sc->idle_timeout_ms = (uint32_t)(l->idle_timeout_s * 1000);
    sc->ping_interval_ms = (uint32_t)(l->ping_interval_s * 1000);
    sc->send_queue_limit = (size_t)l->send_queue_bytes + largest_message(cfg) + 65536;
    sc->deflate = false;
    sc->shutdown_timeout_ms = (uint32_t)(l->drain_timeout_s * 1000) + 1000;
}

/* The TLS bridge's internal listener takes a kernel-chosen port, so it is
 * bound last: earlier it could take a configured port (admin, say) that was
 * free a moment before. */
static int open_tls_bridge(gw_app *app)
{
    if (app->tls_in == NULL)
        return 0;
    const int rc = hr_server_listen(app->tls_in, "127.0.0.1:0");
    if (rc != 0) {
        hr_log(HR_LOG_ERROR, "gateway", "cannot listen (tls bridge) err=%s",
               rc < -4096 ? hr_err_str(rc) : uv_strerror(rc));
        return rc;
    }
    const uint16_t inner = (uint16_t)hr_server_port(app->tls_in, 0);
    for (size_t i = 0; i < app->n_tls; i++)
        gw_tls_set_inner_port(app->tls[i], inner);
    return 0;
}

static int open_listeners(gw_app *app, unsigned workers)
{
    const gw_config *cfg = app->rt->cfg;
    for (size_t i = 0; i < cfg->n_listen; i++) {
        if (cfg->listen[i].tls_cert != NULL) {
            char err[512];
            gw_tls *t = gw_tls_start(app, &cfg->listen[i], 0, err, sizeof err);
            if (t == NULL) {
                hr_log(HR_LOG_ERROR, "gateway", "%s", err);
                return HR_EINVAL;
            }
            app->tls[app->n_tls++] = t;
            continue;
        }
        const int rc = hr_server_listen(app->pub, cfg->listen[i].addr.text);
        if (rc != 0) {
            hr_log(HR_LOG_ERROR, "gateway", "cannot listen addr=%s err=%s",
                   cfg->listen[i].addr.text, rc < -4096 ? hr_err_str(rc) : uv_strerror(rc));
            return rc;
        }
        hr_log(HR_LOG_INFO, "gateway", "listening addr=%s worker=%u", cfg->listen[i].addr.text,
               app->worker);
    }
    if (app->admin != NULL) {
        const int rc = hr_server_listen(app->admin, cfg->admin_listen.text);
        if (rc != 0) {
            hr_log(HR_LOG_ERROR, "gateway", "cannot listen (admin) addr=%s err=%s",
                   cfg->admin_listen.text, rc < -4096 ? hr_err_str(rc) : uv_strerror(rc));
            return rc;
        }
        hr_log(HR_LOG_INFO, "gateway", "admin listening addr=%s", cfg->admin_listen.text);
    }
    return open_tls_bridge(app);
}

static int create_servers(gw_app *app, unsigned workers)
{
    const gw_config *cfg = app->rt->cfg;
    hr_server_config sc;
    public_config(cfg, workers, &sc);
    app->max_message = sc.max_message;
    app->pub = hr_server_new(app->loop, &sc, &gw_public_callbacks, app);
    if (app->tls != NULL) {
        sc.reuse_port = false;
        app->tls_in = hr_server_new(app->loop, &sc, &gw_public_callbacks, app);
        if (app->tls_in == NULL)
            return HR_ENOMEM;
    }
    upstream_config(cfg, &sc);
    app->ups = hr_server_new(app->loop, &sc, &gw_public_callbacks, app);
    if (cfg->has_admin && app->worker == 0) {
        hr_server_config_default(&sc);
        sc.shutdown_timeout_ms = 1000;
        app->admin = hr_server_new(app->loop, &sc, &gw_admin_callbacks, app);
        if (app->admin == NULL)
            return HR_ENOMEM;
    }
    app->http = gw_uphttp_new(app->loop, 256, 30000);
    /* The notifier's events may be larger than what clients may send. */
    const size_t link_down = app->max_message > HR_LINK_MAX_DOWN ? app->max_message : HR_LINK_MAX_DOWN;
    app->links = gw_uplinks_new(app->loop, link_down + 65536,
                                (size_t)cfg->limits.send_queue_bytes * 64 + app->max_message,
                                (uint32_t)(cfg->limits.ping_interval_s * 1000),
                                (uint32_t)(cfg->limits.idle_timeout_s * 1000));
    if (app->links != NULL)
        gw_uplinks_set_metrics(app->links, app->m);
    if (app->pub == NULL || app->ups == NULL || app->http == NULL || app->links == NULL)
        return HR_ENOMEM;
    return 0;
}

static void on_labels(uv_prepare_t *p)
{
    gw_labels_publish(p->data);
}

static void start_handles(gw_app *app)
{
    uv_timer_init(app->loop, &app->tick);
    app->tick.data = app;
    uv_timer_start(&app->tick, on_tick, 1000, 1000);
    if (app->n_workers > 1) {
        uv_prepare_init(app->loop, &app->labels);
        app->labels.data = app;
        uv_prepare_start(&app->labels, on_labels);
    }
    uv_signal_t *sigs[] = {&app->sig_term, &app->sig_int, &app->sig_hup};
    const int nums[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(app->loop, sigs[i]);
        sigs[i]->data = app;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
}

static void free_servers(gw_app *app)
{
    hr_server_free(app->pub);
    hr_server_free(app->ups);
    hr_server_free(app->admin);
    hr_server_free(app->tls_in);
    app->pub = app->ups = app->admin = app->tls_in = NULL;
}

static int run_worker(gw_config *cfg, const char *path, unsigned worker, unsigned workers,
                      gw_metrics *slots)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "herald-gateway: cannot create the event loop\n");
        return 1;
    }
    gw_app app;
    memset(&app, 0, sizeof app);
    app.loop = &loop;
    app.worker = worker;
    app.config_path = (char *)path;
    app.reuse_port = workers > 1;
    app.m = &slots[worker];
    app.m_all = slots;
    app.n_workers = workers;
    gw_upmsg_deflater_init(&app.deflater);
    size_t n_tls = 0;
    for (size_t i = 0; i < cfg->n_listen; i++)
        n_tls += cfg->listen[i].tls_cert != NULL;
    if (n_tls > 0 && (app.tls = calloc(n_tls, sizeof *app.tls)) == NULL) {
        fprintf(stderr, "herald-gateway: out of memory\n");
        exit(1);
    }
    char diag[512];
    int status = 0;
    app.rt = gw_runtime_new(&app, cfg, diag, sizeof diag); /* takes cfg */
    if (app.rt == NULL || gw_iptable_init(&app.ips, 1000000) != 0) {
        fprintf(stderr, "herald-gateway: %s\n", app.rt == NULL ? diag : "out of memory");
        exit(1);
    }
    app.transform = gw_transform_new(&loop, &app.m->script, &app.deflater);
    if (app.transform == NULL || gw_transform_load(app.transform, app.rt->cfg, diag, sizeof diag)) {
        fprintf(stderr, "herald-gateway: %s\n", app.transform == NULL ? "out of memory" : diag);
        exit(2);
    }
    start_handles(&app);
    gw_supervisor_worker_ready(); /* a SIGTERM held since the fork drains now */
    if (create_servers(&app, workers) != 0 || open_listeners(&app, workers) != 0) {
        status = 1;
        if (app.pub == NULL || app.ups == NULL || (cfg->has_admin && worker == 0 && !app.admin)) {
            fprintf(stderr, "herald-gateway: out of memory at start-up\n");
            exit(1);
        }
        start_drain(&app);
    } else {
        app.m->listening = 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    free_servers(&app);
    gw_iptable_deinit(&app.ips);
    uv_run(&loop, UV_RUN_NOWAIT);
    free(app.tls);
    free(app.tls_map);
    hr_ws_deflater_deinit(&app.deflater);
    if (uv_loop_close(&loop) != 0)
        hr_log(HR_LOG_WARN, "gateway", "event loop closed with handles left");
    hr_log(HR_LOG_INFO, "gateway", "stopped worker=%u", worker);
    return status;
}

/* ---- workers ------------------------------------------------------------------- */

/* What the supervisor's forks inherit: the latest valid configuration (it
 * is reloaded here on SIGHUP too, so a restarted worker starts with what the
 * others run) and the shared metrics slots. */
typedef struct workers_ctx {
    gw_config *cfg;
    const char *path;
    unsigned workers;
    gw_metrics *slots;
} workers_ctx;

static int load_config(const char *path, gw_config **cfg);

static int worker_main(void *arg, unsigned worker)
{
    workers_ctx *w = arg;
    gw_config *cfg = w->cfg; /* the child's copy; run_worker takes it */
    w->cfg = NULL;
    return run_worker(cfg, w->path, worker, w->workers, w->slots);
}

static void workers_reload(void *arg)
{
    workers_ctx *w = arg;
    gw_config *cfg = NULL;
    if (load_config(w->path, &cfg) != 0)
        return; /* the workers log the refusal themselves */
    gw_config_free(w->cfg);
    w->cfg = cfg;
}

static void workers_death(void *arg, unsigned worker)
{
    workers_ctx *w = arg;
    gw_shmetrics_reset_gauges(&w->slots[worker]);
}

static int supervise(gw_config *cfg, const char *path, unsigned workers, gw_metrics *slots)
{
    static const gw_supervisor_ops ops = {
        .run_worker = worker_main,
        .reload = workers_reload,
        .on_death = workers_death,
    };
    workers_ctx w = {.cfg = cfg, .path = path, .workers = workers, .slots = slots};
    const int status = gw_supervisor_run(workers, &ops, &w);
    gw_config_free(w.cfg);
    return status;
}

static unsigned default_workers(void)
{
    const unsigned n = uv_available_parallelism();
    return n < 1 ? 1 : n > GW_SUPERVISOR_MAX_WORKERS ? GW_SUPERVISOR_MAX_WORKERS : n;
}

/* ---- main ----------------------------------------------------------------------- */

static int load_config(const char *path, gw_config **cfg)
{
    gw_diag d;
    int rc = gw_config_load(path, cfg, &d);
    if (rc == 0 && (rc = gw_config_check_files(*cfg, &d)) != 0) {
        gw_config_free(*cfg);
        *cfg = NULL;
    }
    for (size_t i = 0; rc == 0 && i < (*cfg)->n_listen; i++) {
        if ((*cfg)->listen[i].tls_cert != NULL &&
            (rc = gw_tls_check(&(*cfg)->listen[i], (*cfg)->filename, d.msg, sizeof d.msg)) != 0) {
            gw_config_free(*cfg);
            *cfg = NULL;
        }
    }
    if (rc != 0)
        fprintf(stderr, "%s\n", rc == HR_ENOMEM ? "herald-gateway: out of memory" : d.msg);
    return rc;
}

static int run(const hr_flags *f)
{
    const char *path = hr_flags_str(f, "config");
    if (path == NULL) {
        fprintf(stderr, "herald-gateway: --config: required (or HERALD_CONFIG)\n");
        return 2;
    }
    hr_log_level level;
    if (hr_log_parse_level(hr_flags_str(f, "log-level"), &level) != 0) {
        fprintf(stderr, "herald-gateway: --log-level: expected debug, info, warn, error or off\n");
        return 2;
    }
    hr_log_threshold = level;
    gw_config *cfg = NULL;
    if (load_config(path, &cfg) != 0)
        return 2;
    if (hr_flags_bool(f, "check")) {
        fprintf(stderr, "%s: ok (%zu route%s, %zu upstream%s)\n", path, cfg->n_routes,
                cfg->n_routes == 1 ? "" : "s", cfg->n_upstreams, cfg->n_upstreams == 1 ? "" : "s");
        gw_config_free(cfg);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    client_io_uring = hr_flags_bool(f, "io-uring");
    unsigned workers = (unsigned)hr_flags_num(f, "workers");
    if (workers == 0)
        workers = default_workers();
    gw_metrics *slots = gw_shmetrics_new(workers);
    if (slots == NULL) {
        fprintf(stderr, "herald-gateway: cannot map the shared metrics\n");
        gw_config_free(cfg);
        return 1;
    }
    const int status =
        workers > 1 ? supervise(cfg, path, workers, slots) : run_worker(cfg, path, 0, 1, slots);
    gw_shmetrics_free(slots, workers);
    return status;
}

int main(int argc, char **argv)
{
    hr_flags f;
    memset(&f, 0, sizeof f);
    char err[512];
    const int rc = hr_flags_parse(&f, "herald-gateway", flag_spec, HR_ARRAY_LEN(flag_spec), argc,
                                  argv, environ, err, sizeof err);
    int status = 0;
    if (rc == HR_FLAGS_HELP) {
        hr_flags_write_help(stdout, "herald-gateway",
                            "WebSocket-aware API gateway: routes, edge auth, limits, upstream "
                            "pools, static files, metrics",
                            flag_spec, HR_ARRAY_LEN(flag_spec));
    } else if (rc == HR_FLAGS_VERSION) {
        printf("herald-gateway %s\n", HERALD_VERSION);
    } else if (rc != 0) {
        fprintf(stderr, "%s\n", rc == HR_ENOMEM ? "herald-gateway: out of memory" : err);
        status = 2;
    } else if (hr_flags_str(&f, "script-test") != NULL) {
        status = gw_script_test_main(hr_flags_str(&f, "script-test"), stdin, stdout, stderr);
    } else {
        status = run(&f);
    }
    hr_flags_deinit(&f);
    return status;
}

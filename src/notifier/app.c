/* The notifier's event loop: wiring between the server's connection
 * callbacks, the sessions, the HTTP API, the broker and the hub, plus the
 * once-a-second history sweep and the SIGTERM/SIGINT graceful stop
 * (see app.h).
 *
 * Stop sequence: signal -> the other loops told to stop -> Pusher presence
 * byes published (cluster.h) -> hr_server_shutdown(1001) -> every client
 * closed (sessions leave the hub in on_close) -> on_server_done, and the
 * broker took the byes (or 2 s passed) -> stop_finish closes the timer and
 * the signal handles and frees the broker -> uv_run returns ->
 * nf_loop_deinit frees the hub and the server. */
#include "app.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cluster.h"
#include "occupancy.h"
#include "cpub.h"
#include "core/err.h"
#include "direct.h"
#include "core/log.h"
#include "proto/http_query.h"
#include "link.h"
#include "proto/pusher_api.h"
#include "pusher_api.h"
#include "session.h"
#include "pusher.h"
#include "sse.h"

#define SWEEP_MS 1000

static nf_loop *loop_of(hr_conn *c)
{
    return hr_conn_app(c);
}

/* A client the primary may hand to another loop (loops.h): true when one
 * took it over (c is closed here and the request runs there). */
static bool handed_off(nf_loop *l, hr_conn *c)
{
    return l->peers != NULL && l->peers->direct != NULL && !l->stopping &&
           l->peers->direct(l->peers_arg, c);
}

static void on_request(hr_conn *c, const hr_http_head *head, const uint8_t *body, size_t len)
{
    size_t plen;
    const char *q;
    size_t qlen;
    hr_http_query_split(head->target, head->target_len, &plen, &q, &qlen);
    const bool sse = plen == 4 && memcmp(head->target, "/sse", 4) == 0 && head->method_len == 3 &&
                     memcmp(head->method_str, "GET", 3) == 0;
    if (loop_of(c)->index > 0 && !sse) { /* a shard serves only the clients handed to it */
        hr_conn_respond(c, 404, "text/plain", "not found\n", 10, NULL);
        return;
    }
    /* Pusher's HTTP API answers its own paths (pusher_api.c, which publishes
     * through api.c); everything else is Herald's API. Dispatched here so
     * api.c and pusher_api.c do not call each other. */
    if (hr_pusher_api_is_api_path(head->target, plen) &&
        nf_pusher_api_request(loop_of(c), c, head, body, len))
        return;
    if (sse) {
        if (!handed_off(loop_of(c), c))
            nf_sse_request(loop_of(c), c, head); /* sse.c starts a session, as direct.c does */
        return;
    }
    nf_api_request(loop_of(c), c, head, body, len);
}

static int on_upgrade(hr_conn *c, const hr_http_head *head, hr_upgrade_reply *reply)
{
    size_t plen;
    const char *q;
    size_t qlen;
    hr_http_query_split(head->target, head->target_len, &plen, &q, &qlen);
    if (nf_pusher_is_path(head->target, plen)) /* spread over the loops like /ws */
        return handed_off(loop_of(c), c) ? 0 : nf_pusher_upgrade(loop_of(c), c, head, reply);
    if (plen != 3 || memcmp(head->target, "/ws", 3) != 0) {
        reply->content_type = "text/plain";
        reply->body = "not found\n";
        reply->body_len = 10;
        return 404;
    }
    nf_loop *l = loop_of(c);
    if (handed_off(l, c))
        return 0; /* detached: another loop answers (c is closed here) */
    return nf_direct_upgrade(l, c, head, reply);
}

static void on_open(hr_conn *c)
{
    const nf_conn_kind *kind = hr_conn_app_data(c);
    if (kind != NULL && *kind == NF_KIND_PUSHER)
        nf_pusher_open((nf_pusher *)kind);
    else if (kind != NULL)
        nf_direct_open(c, (nf_session *)kind);
}

static void on_message(hr_conn *c, int opcode, const uint8_t *data, size_t len)
{
    const nf_conn_kind *kind = hr_conn_app_data(c);
    if (kind != NULL && *kind == NF_KIND_PUSHER)
        nf_pusher_message((nf_pusher *)kind, data, len);
    else if (kind != NULL)
        nf_session_message((nf_session *)kind, opcode, data, len);
}

static void on_drain(hr_conn *c)
{
    const nf_conn_kind *kind = hr_conn_app_data(c);
    if (kind != NULL && *kind == NF_KIND_SESSION)
        nf_session_drain((nf_session *)kind);
    else if (kind != NULL && *kind == NF_KIND_SSE)
        nf_sse_drain((nf_sse *)kind);
    else if (kind != NULL && *kind == NF_KIND_PUSHER)
        nf_pusher_drain((nf_pusher *)kind);
}

static void on_close(hr_conn *c, int code)
{
    const nf_conn_kind *kind = hr_conn_app_data(c);
    if (kind == NULL)
        return;
    if (*kind == NF_KIND_SESSION) {
        hr_log(HR_LOG_DEBUG, "notifier", "client closed conn=%" PRIu64 " code=%d", hr_conn_id(c),
               code);
        nf_session_close((nf_session *)kind);
    } else if (*kind == NF_KIND_PUBLISH) {
        nf_api_close((nf_pub_req *)kind);
    } else if (*kind == NF_KIND_SSE) {
        nf_sse_close((nf_sse *)kind);
    } else if (*kind == NF_KIND_PUSHER) {
        nf_pusher_close((nf_pusher *)kind);
    }
    hr_conn_set_app_data(c, NULL);
}

static const hr_conn_callbacks callbacks = {
    .on_request = on_request,
    .on_upgrade = on_upgrade,
    .on_open = on_open,
    .on_message = on_message,
    .on_drain = on_drain,
    .on_close = on_close,
};

/* ---- broker ----------------------------------------------------------- */

static void on_event(void *app, const hr_event *ev)
{
    nf_loop *l = app;
    if (nf_cluster_on_event(l, ev))
        return; /* a presence record: never for the hub (cluster.h) */
    nf_cluster_forward_skip(l, ev); /* ahead of ev's frames to the other loops */
    nf_pusher_exclude(ev->exclude);
    const int rc = nf_hub_publish(l->hub, ev, uv_now(l->uv));
    nf_pusher_exclude(NULL);
    if (rc != 0) {
        char id[HR_EVENT_ID_CAP];
        hr_event_id_format(ev->id, id, sizeof id);
        hr_log(HR_LOG_WARN, "notifier", "event not fanned out id=%s error=\"%s\"", id,
               hr_err_str(rc));
    }
}

static void on_state(void *app, bool up, const char *detail)
{
    nf_loop *l = app;
    hr_log(up ? HR_LOG_INFO : HR_LOG_WARN, "notifier", "broker %s broker=%s detail=\"%s\"",
           up ? "up" : "down", hr_broker_name(l->broker), detail != NULL ? detail : "");
    if (up) {
        nf_hub_raise_floor(l->hub, l->broker->origin);
        if (l->peers != NULL)
            l->peers->floor(l->peers_arg, l->broker->origin);
        nf_cluster_broker_up(l);
    }
}

/* ---- set-up ----------------------------------------------------------- */

static void server_config(const nf_config *cfg, hr_server_config *sc)
{
    hr_server_config_default(sc);
    sc->max_message = cfg->max_message;
    sc->send_queue_limit = cfg->send_queue_limit;
    sc->ping_interval_ms = cfg->ping_interval_s * 1000;
    sc->idle_timeout_ms = cfg->idle_timeout_s * 1000;
    sc->deflate = cfg->deflate;
    sc->io_uring = cfg->io_uring;
}

/* The parts every loop has: auth settings and a hub. */
static int init_common(nf_loop *l, uv_loop_t *uv, const nf_config *cfg, char *err, size_t errcap)
{
    l->cfg = cfg;
    l->uv = uv;
    nf_auth_init(&l->auth, cfg->jwt_secret, cfg->jwt_key_pem, cfg->jwt_key_len, cfg->trusted,
                 cfg->n_trusted);
    l->auth.token.issuer = cfg->jwt_issuer;
    l->auth.token.audience = cfg->jwt_audience;
    l->auth.token.leeway_s = (long)cfg->jwt_leeway_s;
    const nf_hub_config hc = {
        .history = cfg->history,
        .history_ttl_ms = cfg->history_ttl_s * 1000,
    };
    uint64_t seed = l->start_ms ^ ((uint64_t)uv_os_getpid() << 32) ^ (uintptr_t)l;
    (void)uv_random(NULL, NULL, &seed, sizeof seed, 0, NULL);
    l->hub = nf_hub_new(&hc, nf_session_send, seed);
    if (l->hub == NULL) {
        snprintf(err, errcap, "herald-notifier: out of memory");
        return HR_ENOMEM;
    }
    if (cfg->pusher_app_id != NULL)
        nf_hub_set_on_count(l->hub, nf_occupancy_add); /* the Pusher API's channel queries */
    return 0;
}

int nf_loop_init(nf_loop *l, uv_loop_t *uv, const nf_config *cfg, char *err, size_t errcap)
{
    memset(l, 0, sizeof *l);
    uv_timeval64_t tv;
    l->start_ms = uv_gettimeofday(&tv) == 0 ? (uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 : 1;
    const int rc = init_common(l, uv, cfg, err, errcap);
    if (rc != 0)
        return rc;
    const hr_broker_callbacks bc = {on_event, on_state};
    char berr[256];
    l->broker = hr_broker_new(uv, cfg->broker, &bc, l, berr, sizeof berr);
    if (l->broker == NULL) {
        snprintf(err, errcap, "herald-notifier: %s", berr);
        return HR_EINVAL;
    }
    hr_server_config sc;
    server_config(cfg, &sc);
    l->server = hr_server_new(uv, &sc, &callbacks, l);
    if (l->server == NULL) {
        snprintf(err, errcap, "herald-notifier: cannot create the server (out of memory)");
        return HR_ENOMEM;
    }
    nf_cluster_start(l, &nf_pusher_carrier); /* Pusher presence (cluster.h) */
    return 0;
}

static void on_sweep(uv_timer_t *t)
{
    nf_loop *l = t->data;
    nf_hub_expire(l->hub, uv_now(l->uv));
    nf_cluster_tick(l);
    nf_pusher_tick(l);
    uv_timeval64_t tv;
    if (l->expiry.n > 0 && uv_gettimeofday(&tv) == 0)
        nf_session_expire_due(l, tv.tv_sec);
}

int nf_loop_init_shard(nf_loop *l, uv_loop_t *uv, const nf_config *cfg, unsigned index,
                       uint64_t start_ms, char *err, size_t errcap)
{
    memset(l, 0, sizeof *l);
    l->index = index;
    l->start_ms = start_ms;
    const int rc = init_common(l, uv, cfg, err, errcap);
    if (rc != 0)
        return rc;
    if ((l->links = nf_links_new(l)) == NULL) {
        snprintf(err, errcap, "herald-notifier: out of memory");
        return HR_ENOMEM;
    }
    hr_server_config sc;
    server_config(cfg, &sc);
    /* A client handed here came with a request for this loop (a refused
     * GET /sse included): what follows on its connection goes to loop 0. */
    sc.http_close = true;
    if ((l->server = hr_server_new(uv, &sc, &callbacks, l)) == NULL) {
        snprintf(err, errcap, "herald-notifier: out of memory");
        return HR_ENOMEM;
    }
    uv_timer_init(uv, &l->sweep);
    l->sweep.data = l;
    l->handles_open = true;
    uv_timer_start(&l->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    return 0;
}

static void on_signal(uv_signal_t *sig, int signum)
{
    nf_loop *l = sig->data;
    hr_log(HR_LOG_INFO, "notifier", "shutting down signal=%d", signum);
    nf_loop_stop(l);
}

int nf_loop_start(nf_loop *l, char *err, size_t errcap)
{
    int rc = hr_server_listen(l->server, l->cfg->listen);
    if (rc != 0) {
        snprintf(err, errcap, "herald-notifier: --listen %s: %s", l->cfg->listen,
                 rc == HR_EINVAL  ? HR_SERVER_ADDR_HINT
                 : rc > HR_ENOMEM ? uv_strerror(rc)
                                  : hr_err_str(rc));
        return rc;
    }
    if (l->cfg->link_listen != NULL &&
        (l->links = nf_links_start(l, l->cfg->link_listen, err, errcap)) == NULL)
        return HR_EINVAL;
    uv_timer_init(l->uv, &l->sweep);
    uv_signal_init(l->uv, &l->sig_term);
    uv_signal_init(l->uv, &l->sig_int);
    l->sweep.data = l->sig_term.data = l->sig_int.data = l;
    l->handles_open = true;
    uv_timer_start(&l->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_signal_start(&l->sig_term, on_signal, SIGTERM);
    uv_signal_start(&l->sig_int, on_signal, SIGINT);
    rc = hr_broker_start(l->broker);
    if (rc != 0) {
        snprintf(err, errcap, "herald-notifier: --broker %s: %s", l->cfg->broker, hr_err_str(rc));
        return rc;
    }
    hr_log(HR_LOG_INFO, "notifier", "listening addr=%s port=%d broker=%s", l->cfg->listen,
           hr_server_port(l->server, 0), hr_broker_name(l->broker));
    return 0;
}

static void close_handles(nf_loop *l)
{
    if (!l->handles_open)
        return;
    l->handles_open = false;
    uv_close((uv_handle_t *)&l->sweep, NULL);
    if (l->index > 0)
        return; /* a shard has no signal handles */
    uv_close((uv_handle_t *)&l->sig_term, NULL);
    uv_close((uv_handle_t *)&l->sig_int, NULL);
}

/* Every client is gone and no bye is waiting for the broker. */
static void stop_finish(nf_loop *l)
{
    const bool was_running = l->handles_open;
    close_handles(l);
    hr_broker_free(l->broker);
    l->broker = NULL;
    if (l->index == 0) { /* a shard's table goes in nf_loop_deinit, once its links closed */
        nf_links_free(l->links);
        l->links = NULL;
    }
    nf_api_free_pending(l);
    nf_cpub_free_pending(l);
    if (was_running && l->index == 0)
        hr_log(HR_LOG_INFO, "notifier", "stopped");
}

static void on_server_done(hr_server *s, void *arg)
{
    (void)s;
    nf_loop *l = arg;
    l->server_done = true;
    if (!l->bye_waiting)
        stop_finish(l);
}

/* The broker took the presence byes (or the wait's bound passed). */
static void on_bye_done(nf_loop *l)
{
    l->bye_waiting = false;
    if (l->server_done)
        stop_finish(l);
}

void nf_loop_stop(nf_loop *l)
{
    if (l->stopping)
        return;
    l->stopping = true;
    if (l->peers != NULL)
        l->peers->stop(l->peers_arg);
    /* After the other loops' way to the broker closed: no record follows. */
    l->bye_waiting = nf_cluster_bye(l, on_bye_done);
    nf_links_stop(l->links);
    if (l->server == NULL || hr_server_shutdown(l->server, 1001, on_server_done, l) != 0)
        close_handles(l);
}

void nf_loop_deinit(nf_loop *l)
{
    if (l->index > 0) {
        nf_links_free(l->links); /* a shard's table: its links closed before uv_run returned */
        l->links = NULL;
    }
    hr_broker_free(l->broker);
    l->broker = NULL;
    nf_api_free_pending(l);
    nf_cpub_free_pending(l);
    nf_expiry_free(&l->expiry);
    hr_server_free(l->server);
    l->server = NULL;
    nf_hub_free(l->hub);
    l->hub = NULL;
    nf_cluster_free(l);
}

/* The gateway process's run-time state and the services the proxies call
 * (peer address, clock, request ids, counters). Routing and the public
 * server's callbacks are public.c. Runtimes are reference counted so that SIGHUP can swap in a new
 * configuration while connections routed under the old one finish with the
 * route and pool they started with. */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <unistd.h>

#include "alog.h"
#include "core/err.h"
#include "core/log.h"
#include "health.h"
#include "tls.h"

const double gw_lat_bounds_ms[GW_LAT_BUCKETS] = {1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000};

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return HR_EINVAL;
    const size_t cap = 64 * 1024;
    uint8_t *buf = malloc(cap);
    size_t n = buf != NULL ? fread(buf, 1, cap, f) : 0;
    const bool bad = buf == NULL || ferror(f) || !feof(f) || n == 0;
    fclose(f);
    if (bad) {
        free(buf);
        return HR_EINVAL;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int setup_token(gw_runtime *rt, char *diag, size_t cap)
{
    const gw_jwt_cfg *j = &rt->cfg->jwt;
    if (!j->enabled)
        return 0;
    hr_token_cfg *t = &rt->tok;
    for (size_t i = 0; i < j->n_algorithms; i++) {
        t->allow_hs256 |= strcmp(j->algorithms[i], "HS256") == 0;
        t->allow_rs256 |= strcmp(j->algorithms[i], "RS256") == 0;
        t->allow_es256 |= strcmp(j->algorithms[i], "ES256") == 0;
    }
    if (j->secret != NULL) {
        t->secret = (const uint8_t *)j->secret;
        t->secret_len = strlen(j->secret);
    }
    if (j->public_key_file != NULL) {
        if (read_file(j->public_key_file, &rt->public_key, &rt->public_key_len) != 0) {
            gw_diag d;
            gw_config_fail(&d, rt->cfg->filename, j->key_at, "auth.jwt.public_key_file",
                           "cannot read '%s'", j->public_key_file);
            snprintf(diag, cap, "%s", d.msg);
            return HR_EINVAL;
        }
        t->public_key_pem = rt->public_key;
        t->public_key_len = rt->public_key_len;
    }
    t->issuer = j->issuer;
    t->audience = j->audience;
    t->leeway_s = (long)j->leeway_s;
    return 0;
}

gw_runtime *gw_runtime_new(gw_app *app, gw_config *cfg, char *diag, size_t diag_cap)
{
    static uint64_t generation;
    gw_runtime *rt = calloc(1, sizeof *rt);
    if (rt == NULL) {
        gw_config_free(cfg);
        snprintf(diag, diag_cap, "out of memory");
        return NULL;
    }
    rt->refs = 1;
    rt->cfg = cfg;
    rt->generation = ++generation;
    rt->pools = calloc(cfg->n_upstreams ? cfg->n_upstreams : 1, sizeof *rt->pools);
    rt->route_stats = calloc(cfg->n_routes, sizeof *rt->route_stats);
    bool ok = rt->pools != NULL && rt->route_stats != NULL;
    for (size_t i = 0; ok && i < cfg->n_upstreams; i++)
        ok = gw_pool_init(&rt->pools[i], &cfg->upstreams[i]) == 0;
    if (!ok) {
        snprintf(diag, diag_cap, "out of memory");
        gw_runtime_unref(rt);
        return NULL;
    }
    if (setup_token(rt, diag, diag_cap) != 0) {
        gw_runtime_unref(rt);
        return NULL;
    }
    if (app != NULL && app->loop != NULL) {
        rt->health = gw_health_start(app, rt);
        if (rt->health == NULL && gw_health_wanted(cfg)) {
            snprintf(diag, diag_cap, "out of memory (health checks)");
            gw_runtime_unref(rt);
            return NULL;
        }
    }
    return rt;
}

gw_runtime *gw_runtime_ref(gw_runtime *rt)
{
    rt->refs++;
    return rt;
}

void gw_runtime_unref(gw_runtime *rt)
{
    if (rt == NULL || --rt->refs > 0)
        return;
    gw_health_stop(rt->health);
    for (size_t i = 0; rt->pools != NULL && i < rt->cfg->n_upstreams; i++)
        if (rt->pools[i].servers != NULL)
            gw_pool_deinit(&rt->pools[i]);
    free(rt->pools);
    free(rt->route_stats);
    free(rt->public_key);
    gw_config_free(rt->cfg);
    free(rt);
}

const struct sockaddr *gw_app_peer(const gw_app *app, hr_conn *c, bool *tls)
{
    const struct sockaddr *sa = hr_conn_peer_addr(c);
    if (tls != NULL)
        *tls = false;
    if (app->tls_in == NULL || hr_conn_server(c) != app->tls_in || sa->sa_family != AF_INET)
        return sa;
    const uint16_t port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    const struct sockaddr *real = gw_tls_peer(app, port);
    if (real == NULL)
        return sa;
    if (tls != NULL)
        *tls = true;
    return real;
}

char *gw_app_peer_text(const gw_app *app, hr_conn *c, char *out, size_t cap)
{
    const struct sockaddr *sa = gw_app_peer(app, c, NULL);
    char ip[64] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    }
    return out;
}

uint64_t gw_app_now_ms(const gw_app *app)
{
    return uv_now(app->loop);
}

void gw_app_request_id(gw_app *app, char *out, size_t cap)
{
    snprintf(out, cap, "%x-%x-%llx", (unsigned)getpid(), app->worker,
             (unsigned long long)++app->next_request_id);
}

void gw_app_count_status(gw_app *app, int status)
{
    if (status >= 100 && status < 600)
        app->m->status[status]++;
}

void gw_app_count_handshake(gw_app *app, int status)
{
    if (status >= 100 && status < 600) {
        app->m->status[status]++;
        app->m->hs_status[status]++;
    }
}

void gw_app_count_close(gw_app *app, int code)
{
    if (code >= 1000 && code < 1000 + GW_CLOSE_CODES)
        app->m->closes[code - 1000]++;
    else
        app->m->closes[GW_CLOSE_CODES]++;
}

void gw_app_observe_latency(gw_app *app, double ms)
{
    size_t i = 0;
    while (i < GW_LAT_BUCKETS && ms > gw_lat_bounds_ms[i])
        i++;
    app->m->lat_buckets[i]++;
    app->m->lat_sum_ms += ms;
    app->m->lat_count++;
}

uint64_t gw_app_ws_claimed(const gw_app *app)
{
    if (app->n_workers <= 1 || app->m_all == NULL)
        return app->ws_open;
    uint64_t total = 0;
    for (unsigned i = 0; i < app->n_workers; i++)
        total += ((const volatile gw_metrics *)&app->m_all[i])->ws_claimed;
    return total;
}

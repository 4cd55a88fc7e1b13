/* Admin endpoints and the metrics page. Metric names follow
 * herald_gateway_<thing>_<unit>; the unlabelled ones are an hr_metric_desc
 * table over gw_metrics, as the notifier's (core/metrics.h); labelled
 * families are written by hand with hr_metrics_write_header/_sample. The
 * page is a list of sections written in order. The unlabelled counters, closes, flow and
 * handshake latency are summed over every worker's shared gw_metrics slot
 * (shmetrics.h); the per-route and per-server gauges come from the current
 * runtime of the worker serving the admin listener. */
#include "admin.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/metrics.h"
#include "labels.h"
#include "proto/http_head.h"
#include "shmetrics.h"

#define C HR_METRIC_COUNTER
#define G HR_METRIC_GAUGE

static int statuses(hr_buf *o, const char *name, const char *help, const uint64_t *counts)
{
    int rc = hr_metrics_write_header(o, name, C, help);
    for (int s = 100; rc == 0 && s < 600; s++) {
        if (counts[s] == 0)
            continue;
        char label[32];
        snprintf(label, sizeof label, "status=\"%d\"", s);
        rc = hr_metrics_write_sample(o, name, label, counts[s]);
    }
    return rc;
}

static int closes(hr_buf *o, const gw_app *app, const gw_metrics *m)
{
    (void)app;
    const char *name = "herald_gateway_ws_closes_total";
    int rc = hr_metrics_write_header(o, name, C, "Client WebSocket closes by close code");
    for (int i = 0; rc == 0 && i <= GW_CLOSE_CODES; i++) {
        if (m->closes[i] == 0)
            continue;
        char label[32];
        if (i < GW_CLOSE_CODES)
            snprintf(label, sizeof label, "code=\"%d\"", 1000 + i);
        else
            snprintf(label, sizeof label, "code=\"other\"");
        rc = hr_metrics_write_sample(o, name, label, m->closes[i]);
    }
    return rc;
}

static int flow(hr_buf *o, const gw_app *app, const gw_metrics *m)
{
    (void)app;
    const char *f = "herald_gateway_ws_messages_total";
    const char *b = "herald_gateway_ws_bytes_total";
    int rc = hr_metrics_write_header(o, f, C, "Relayed WebSocket messages by direction");
    rc = rc ? rc : hr_metrics_write_sample(o, f, "direction=\"upstream\"", m->frames_up);
    rc = rc ? rc : hr_metrics_write_sample(o, f, "direction=\"client\"", m->frames_down);
    rc = rc ? rc : hr_metrics_write_header(o, b, C, "Relayed WebSocket payload bytes by direction");
    rc = rc ? rc : hr_metrics_write_sample(o, b, "direction=\"upstream\"", m->bytes_up);
    rc = rc ? rc : hr_metrics_write_sample(o, b, "direction=\"client\"", m->bytes_down);
    return rc;
}

static int latency(hr_buf *o, const gw_app *app, const gw_metrics *m)
{
    (void)app;
    const char *base = "herald_gateway_handshake_duration_seconds";
    char name[96], label[48], line[128];
    static const char head[] = "# HELP herald_gateway_handshake_duration_seconds Upgrade to "
                               "upstream 101 latency\n# TYPE herald_gateway_handshake_duration_"
                               "seconds histogram\n";
    int rc = hr_buf_append(o, head, sizeof head - 1);
    uint64_t cum = 0;
    snprintf(name, sizeof name, "%s_bucket", base);
    for (int i = 0; rc == 0 && i <= GW_LAT_BUCKETS; i++) {
        cum += m->lat_buckets[i];
        if (i < GW_LAT_BUCKETS)
            snprintf(label, sizeof label, "le=\"%g\"", gw_lat_bounds_ms[i] / 1000.0);
        else
            snprintf(label, sizeof label, "le=\"+Inf\"");
        rc = hr_metrics_write_sample(o, name, label, cum);
    }
    const int n = snprintf(line, sizeof line, "%s_sum %.6f\n", base, m->lat_sum_ms / 1000.0);
    rc = rc ? rc : hr_buf_append(o, line, (size_t)n);
    snprintf(name, sizeof name, "%s_count", base);
    return rc ? rc : hr_metrics_write_sample(o, name, NULL, m->lat_count);
}

/* One sample per upstream server, labelled upstream= and server=; active
 * selects the open-connection count instead of the health bit (both over
 * every worker: labels.h). */
static int server_samples(hr_buf *o, const gw_app *app, const char *name, bool active)
{
    const gw_runtime *rt = app->rt;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rt->cfg->n_upstreams; i++) {
        const gw_pool *p = &rt->pools[i];
        for (size_t k = 0; rc == 0 && k < p->n_servers; k++) {
            char label[160];
            snprintf(label, sizeof label, "upstream=\"%s\",server=\"%s\"", p->cfg->name,
                     p->servers[k].addr.text);
            const uint64_t v =
                active ? gw_labels_server_conns(app, i, k) : gw_labels_server_up(app, i, k);
            rc = hr_metrics_write_sample(o, name, label, v);
        }
    }
    return rc;
}

static int upstreams(hr_buf *o, const gw_app *app, const gw_metrics *m)
{
    (void)m;
    const char *up = "herald_gateway_upstream_up";
    const char *act = "herald_gateway_upstream_connections";
    int rc = hr_metrics_write_header(o, up, G, "1 when the upstream server is healthy");
    rc = rc ? rc : server_samples(o, app, up, false);
    rc = rc ? rc : hr_metrics_write_header(o, act, G, "Open proxied connections per server");
    return rc ? rc : server_samples(o, app, act, true);
}

static int routes(hr_buf *o, const gw_app *app, const gw_metrics *m)
{
    (void)m;
    const gw_runtime *rt = app->rt;
    const char *ws = "herald_gateway_ws_connections";
    const char *req = "herald_gateway_route_requests_total";
    int rc = hr_metrics_write_header(o, ws, G, "Open proxied WebSockets by route");
    for (size_t i = 0; rc == 0 && i < rt->cfg->n_routes; i++) {
        char label[300];
        const gw_route_cfg *r = &rt->cfg->routes[i];
        snprintf(label, sizeof label, "route=\"%.200s\",host=\"%.64s\"", r->path,
                 r->host ? r->host : "");
        rc = hr_metrics_write_sample(o, ws, label, gw_labels_route_ws(app, i));
    }
    rc = rc ? rc : hr_metrics_write_header(o, req, C, "Plain HTTP requests by route");
    for (size_t i = 0; rc == 0 && i < rt->cfg->n_routes; i++) {
        char label[300];
        const gw_route_cfg *r = &rt->cfg->routes[i];
        snprintf(label, sizeof label, "route=\"%.200s\",host=\"%.64s\"", r->path,
                 r->host ? r->host : "");
        rc = hr_metrics_write_sample(o, req, label, gw_labels_route_requests(app, i));
    }
    return rc;
}

#define M(field, type, name, help)                                                                 \
    HR_METRIC_FIELD(gw_metrics, field, type, "herald_gateway_" name, help)
static const hr_metric_desc plain[] = {
    M(ws_total, C, "ws_connections_total", "Proxied WebSockets opened"),
    M(ws_active, G, "ws_open", "Proxied WebSockets open"),
    M(sse_active, G, "sse_open", "SSE streams open (herald-link or proxied)"),
    M(http_requests, C, "http_requests_total", "Plain HTTP requests"),
    M(upstream_connect_failures, C, "upstream_connect_failures_total", "Failed upstream connects"),
    M(reloads, C, "reloads_total", "Successful config reloads"),
    M(reload_failures, C, "reload_failures_total", "Refused config reloads"),
    M(listening, G, "workers_listening", "Worker processes accepting clients"),
    M(links_open, G, "links_open", "herald-link connections"),
    M(link_io.writes, C, "link_writes_total", "herald-link batches written"),
    M(link_frames_out, C, "link_frames_out_total", "herald-link frames sent (in those batches)"),
    M(link_io.bytes_out, C, "link_bytes_out_total", "herald-link bytes sent"),
    M(link_io.bytes_in, C, "link_bytes_in_total", "herald-link bytes received"),
    M(link_bcasts_in, C, "link_bcasts_in_total",
      "herald-link BCAST frames received (one message for many sessions)"),
};
#undef M

static int handshakes(hr_buf *o, const gw_app *app, const gw_metrics *m)
{
    (void)app;
    return statuses(o, "herald_gateway_handshakes_total", "WebSocket handshakes by status",
                    m->hs_status);
}

static int responses(hr_buf *o, const gw_app *app, const gw_metrics *m)
{
    (void)app;
    return statuses(o, "herald_gateway_responses_total", "Answers by HTTP status", m->status);
}

static int unlabelled(hr_buf *o, const gw_app *app, const gw_metrics *m)
{
    const void *blocks[] = {m};
    const int rc = hr_metrics_write_table(o, plain, HR_ARRAY_LEN(plain), blocks, 1);
    return rc != 0 ? rc
                   : hr_metrics_write_one(o, "herald_gateway_workers", G,
                                          "Worker processes configured", app->n_workers);
}

static int scripts(hr_buf *o, const gw_app *app, const gw_metrics *m)
{
    return gw_transform_write_metrics(o, app->rt->cfg, &m->script);
}

/* The page, in order: each section writes its families or fails. */
typedef int (*section_fn)(hr_buf *o, const gw_app *app, const gw_metrics *m);
static const section_fn sections[] = {handshakes, responses, unlabelled, closes, flow,
                                      latency,    upstreams, routes,     scripts};

int gw_admin_write_metrics(const gw_app *app, hr_buf *out)
{
    gw_metrics sum;
    gw_shmetrics_sum(app->m_all, app->n_workers, &sum);
    for (size_t i = 0; i < HR_ARRAY_LEN(sections); i++) {
        const int rc = sections[i](out, app, &sum);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Ready: every worker accepts (before, clients meet only the workers
 * already up) and every upstream has a healthy server. */
static bool ready(const gw_app *app)
{
    for (unsigned i = 0; i < app->n_workers; i++)
        if (app->m_all[i].listening == 0)
            return false;
    for (size_t i = 0; i < app->rt->cfg->n_upstreams; i++)
        if (gw_pool_up_count(&app->rt->pools[i]) == 0)
            return false;
    return !app->draining;
}

static bool is_path(const hr_http_head *h, const char *p)
{
    const size_t n = strlen(p);
    return h->target_len >= n && memcmp(h->target, p, n) == 0 &&
           (h->target_len == n || h->target[n] == '?');
}

static void on_request(hr_conn *c, const hr_http_head *h, const uint8_t *body, size_t len)
{
    const gw_app *app = hr_conn_app(c);
    static const char *text = "text/plain; charset=utf-8";
    if (is_path(h, "/healthz")) {
        hr_conn_respond(c, 200, text, "ok\n", 3, NULL);
    } else if (is_path(h, "/readyz")) {
        const bool ok = ready(app);
        hr_conn_respond(c, ok ? 200 : 503, text, ok ? "ready\n" : "not ready\n", ok ? 6 : 10, NULL);
    } else if (is_path(h, "/metrics")) {
        hr_buf out;
        hr_buf_init(&out, (size_t)4 << 20);
        const int rc = gw_admin_write_metrics(app, &out);
        if (rc == 0)
            hr_conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", hr_buf_data(&out),
                            out.len, NULL);
        else
            hr_conn_respond(c, 500, text, "metrics unavailable\n", 20, NULL);
        hr_buf_deinit(&out);
    } else {
        hr_conn_respond(c, 404, text, "not found\n", 10, NULL);
    }
}

static int on_upgrade(hr_conn *c, const hr_http_head *h, hr_upgrade_reply *reply)
{
    return 404;
}

const hr_conn_callbacks gw_admin_callbacks = {
    .on_request = on_request,
    .on_upgrade = on_upgrade,
};

/* The transformation layer's metrics: summing the workers' slots and
 * writing the Prometheus families of the scripted routes (transform.h). */
#include "transform.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

const char *const gw_transform_hooks[GW_SCRIPT_HOOKS] = {
    "on_connect", "on_client_message", "on_server_message", "view_key", "on_event"};
const double gw_transform_lat_bounds_ms[GW_SCRIPT_LAT_BUCKETS] = {0.01, 0.05, 0.1, 0.25,
                                                                  0.5,  1,    2.5, 5};

void gw_transform_metrics_add(gw_script_metrics *o, const volatile gw_script_metrics *s)
{
    for (size_t r = 0; r < GW_SCRIPT_ROUTES; r++)
        for (size_t h = 0; h < GW_SCRIPT_HOOKS; h++) {
            o->calls[r][h] += s->calls[r][h];
            o->drops[r][h] += s->drops[r][h];
            o->lat_sum_ms[r][h] += s->lat_sum_ms[r][h];
            for (size_t k = 0; k < GW_SCRIPT_KINDS; k++)
                o->errors[r][h][k] += s->errors[r][h][k];
            for (size_t b = 0; b <= GW_SCRIPT_LAT_BUCKETS; b++)
                o->lat[r][h][b] += s->lat[r][h][b];
        }
}

static int sample(hr_buf *o, const char *name, const char *labels, const char *value)
{
    char line[512];
    const int n = snprintf(line, sizeof line, "%s{%s} %s\n", name, labels, value);
    return n > 0 && (size_t)n < sizeof line ? hr_buf_append(o, line, (size_t)n) : 0;
}

static int header(hr_buf *o, const char *name, const char *type, const char *help)
{
    char line[256];
    const int n =
        snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    return hr_buf_append(o, line, (size_t)n);
}

static int write_route(hr_buf *o, const char *family, const gw_route_cfg *r, size_t pos,
                       const gw_script_metrics *m)
{
    static const char *const kinds[GW_SCRIPT_KINDS] = {"runtime", "timeout", "memory"};
    int rc = 0;
    for (size_t h = 0; rc == 0 && h < GW_SCRIPT_HOOKS; h++) {
        char lbl[320], v[64];
        snprintf(lbl, sizeof lbl, "route=\"%.200s\",hook=\"%s\"", r->path, gw_transform_hooks[h]);
        if (strcmp(family, "calls") == 0) {
            snprintf(v, sizeof v, "%llu", (unsigned long long)m->calls[pos][h]);
            rc = sample(o, "herald_gateway_script_calls_total", lbl, v);
        } else if (strcmp(family, "drops") == 0) {
            snprintf(v, sizeof v, "%llu", (unsigned long long)m->drops[pos][h]);
            rc = sample(o, "herald_gateway_script_drops_total", lbl, v);
        } else if (strcmp(family, "errors") == 0) {
            for (size_t k = 0; rc == 0 && k < GW_SCRIPT_KINDS; k++) {
                char kl[360];
                snprintf(kl, sizeof kl, "%s,kind=\"%s\"", lbl, kinds[k]);
                snprintf(v, sizeof v, "%llu", (unsigned long long)m->errors[pos][h][k]);
                rc = sample(o, "herald_gateway_script_errors_total", kl, v);
            }
        } else {
            uint64_t cum = 0;
            for (size_t b = 0; rc == 0 && b <= GW_SCRIPT_LAT_BUCKETS; b++) {
                char bl[360];
                cum += m->lat[pos][h][b];
                if (b < GW_SCRIPT_LAT_BUCKETS)
                    snprintf(bl, sizeof bl, "%s,le=\"%g\"", lbl,
                             gw_transform_lat_bounds_ms[b] / 1000);
                else
                    snprintf(bl, sizeof bl, "%s,le=\"+Inf\"", lbl);
                snprintf(v, sizeof v, "%llu", (unsigned long long)cum);
                rc = sample(o, "herald_gateway_script_duration_seconds_bucket", bl, v);
            }
            snprintf(v, sizeof v, "%.9g", m->lat_sum_ms[pos][h] / 1000);
            rc = rc ? rc : sample(o, "herald_gateway_script_duration_seconds_sum", lbl, v);
            snprintf(v, sizeof v, "%llu", (unsigned long long)cum);
            rc = rc ? rc : sample(o, "herald_gateway_script_duration_seconds_count", lbl, v);
        }
    }
    return rc;
}

int gw_transform_write_metrics(hr_buf *o, const gw_config *cfg, const gw_script_metrics *m)
{
    static const struct {
        const char *family, *name, *type, *help;
    } fams[] = {
        {"calls", "herald_gateway_script_calls_total", "counter", "Script hook calls"},
        {"errors", "herald_gateway_script_errors_total", "counter",
         "Script hook calls that failed, by kind (runtime, timeout, memory)"},
        {"drops", "herald_gateway_script_drops_total", "counter",
         "Messages, events (per view) and upgrades a script dropped or refused"},
        {"duration", "herald_gateway_script_duration_seconds", "histogram", "Time in script hooks"},
    };
    int rc = 0;
    for (size_t f = 0; rc == 0 && f < HR_ARRAY_LEN(fams); f++) {
        rc = header(o, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; rc == 0 && i < cfg->n_routes && i < GW_SCRIPT_ROUTES; i++)
            if (cfg->routes[i].script != NULL)
                rc = write_route(o, fams[f].family, &cfg->routes[i], i, m);
    }
    return rc;
}

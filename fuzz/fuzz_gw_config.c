/* Fuzz target for the gateway's YAML configuration parser
 * (src/gateway/config.c). The input is parsed from an exactly sized heap
 * copy; on success every route must reference an existing upstream and carry
 * a path starting with '/', and the diagnostic must be empty; on failure the
 * diagnostic must name the file. Aliases (including self-references) must not
 * make the walk loop: the replay enforces it with its timeout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "config.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    gw_config *cfg = NULL;
    gw_diag d;
    const int rc = gw_config_parse(copy, size, "f.yaml", &cfg, &d);
    free(copy);
    if (rc != 0) {
        check(cfg == NULL);
        check(rc == HR_ENOMEM || strncmp(d.msg, "f.yaml", 6) == 0);
        return 0;
    }
    check(cfg != NULL && cfg->n_routes > 0 && cfg->n_listen > 0);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const gw_route_cfg *r = &cfg->routes[i];
        check(r->path[0] == '/');
        check((r->upstream_name == NULL) != (r->static_dir == NULL));
        check(r->upstream_name == NULL || r->upstream < cfg->n_upstreams);
        /* Every route's own path must route to a route at least as long. */
        const gw_route_cfg *m = gw_route_match(cfg, r->host ? r->host : "",
                                               r->host ? strlen(r->host) : 0, r->path, r->path_len);
        check(m != NULL && m->path_len >= r->path_len);
    }
    for (size_t i = 0; i < cfg->n_upstreams; i++)
        check(cfg->upstreams[i].n_servers > 0);
    gw_config_free(cfg);
    return 0;
}

/* Gateway configuration schema: YAML text -> gw_config. config_yaml.c walks
 * the node tree and types the scalars; this file says which keys exist,
 * what each means, and checks what crosses sections (a route's upstream
 * exists, auth needs a jwt section, no two routes share host and path)
 * after the walk. Each value's position is kept (gw_cfg_at) so every error,
 * cross-checks and file checks included, names the line and column of the
 * value at fault. */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_yaml.h"
#include "core/err.h"

_Static_assert(GW_CONFIG_MAX_TEXT == GW_YAML_MAX_TEXT, "one string cap");

/* The walk's state; y comes first so a visit callback's gw_yaml * is the
 * pctx it was started with. */
typedef struct pctx {
    gw_yaml y;
    gw_config *cfg;
    gw_cfg_at ping_at; /* limits.ping_interval_s, checked against idle */
} pctx;

#define PATH_CAP GW_YAML_PATH_CAP

static pctx *ctx(gw_yaml *y)
{
    return (pctx *)y;
}

static gw_cfg_at at_of(const yaml_node_t *n)
{
    const gw_yaml_mark m = gw_yaml_mark_of(n);
    return (gw_cfg_at){m.line, m.col};
}

/* The first of a, b that was written (a cross-check names the value that
 * is there when the other is missing). */
static gw_cfg_at either(gw_cfg_at a, gw_cfg_at b)
{
    return a.line > 0 ? a : b;
}

static int fail_at(pctx *p, gw_cfg_at at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(pctx *p, gw_cfg_at at, const char *path, const char *fmt, ...)
{
    char what[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return gw_yaml_fail_at(&p->y, (gw_yaml_mark){at.line, at.col}, path, "%s", what);
}

#define fail(p, n, path, ...) gw_yaml_fail(&(p)->y, n, path, __VA_ARGS__)

static int oom(pctx *p)
{
    return gw_yaml_oom(&p->y);
}

/* ---- addresses ---------------------------------------------------------- */

static int parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0 || len > 5)
        return HR_EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return HR_EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return HR_EINVAL;
    *out = (uint16_t)v;
    return 0;
}

int gw_config_parse_addr(const char *s, size_t len, gw_addr *out)
{
    memset(out, 0, sizeof *out);
    const char *colon = NULL;
    const char *host = s;
    size_t hlen = 0;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || (size_t)(close - s) + 1 >= len || close[1] != ':')
            return HR_EINVAL;
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
        out->v6 = true;
    } else {
        colon = memrchr(s, ':', len);
        if (colon == NULL)
            return HR_EINVAL;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof out->host)
        return HR_EINVAL;
    if (parse_port(colon + 1, len - (size_t)(colon + 1 - s), &out->port) != 0)
        return HR_EINVAL;
    if (hlen == 9 && memcmp(host, "localhost", 9) == 0) {
        memcpy(out->host, "127.0.0.1", 10);
    } else {
        memcpy(out->host, host, hlen);
        out->host[hlen] = '\0';
        unsigned char bin[16];
        if (inet_pton(out->v6 ? AF_INET6 : AF_INET, out->host, bin) != 1)
            return HR_EINVAL;
    }
    snprintf(out->text, sizeof out->text, out->v6 ? "[%s]:%u" : "%s:%u", out->host,
             (unsigned)out->port);
    return 0;
}

static int get_addr(pctx *p, const yaml_node_t *n, const char *path, gw_addr *out)
{
    int rc = gw_yaml_scalar(&p->y, n, path);
    if (rc != 0)
        return rc;
    if (gw_config_parse_addr((const char *)n->data.scalar.value, n->data.scalar.length, out) != 0)
        return fail(p, n, path, "bad address '%.*s' (want IP:PORT or [IPv6]:PORT)",
                    (int)(n->data.scalar.length > 80 ? 80 : n->data.scalar.length),
                    n->data.scalar.value);
    return 0;
}

/* ---- listen ------------------------------------------------------------- */

static const char *const listen_keys[] = {"addr", "tls", NULL};
static const char *const tls_keys[] = {"cert", "key", NULL};

static int visit_tls(gw_yaml *y, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_listener_cfg *l = arg;
    const bool cert = strcmp(key, "cert") == 0;
    *(cert ? &l->cert_at : &l->key_at) = at_of(v);
    return gw_yaml_str(y, v, path, cert ? &l->tls_cert : &l->tls_key);
}

static int visit_listener(gw_yaml *y, const char *key, yaml_node_t *v, const char *path,
                          void *arg)
{
    gw_listener_cfg *l = arg;
    if (strcmp(key, "addr") == 0)
        return get_addr(ctx(y), v, path, &l->addr);
    int rc = gw_yaml_map(y, v, path, tls_keys, visit_tls, l);
    if (rc == 0 && (l->tls_cert == NULL || l->tls_key == NULL))
        return gw_yaml_fail(y, v, path, "needs both cert and key");
    return rc;
}

static int parse_listener(pctx *p, yaml_node_t *n, const char *path, gw_listener_cfg *l)
{
    l->line = (int)n->start_mark.line + 1;
    if (n->type == YAML_SCALAR_NODE)
        return get_addr(p, n, path, &l->addr);
    int rc = gw_yaml_map(&p->y, n, path, listen_keys, visit_listener, l);
    if (rc == 0 && l->addr.port == 0)
        return fail(p, n, path, "missing addr");
    return rc;
}

static int parse_listen(pctx *p, yaml_node_t *n, const char *path)
{
    gw_config *c = p->cfg;
    size_t count = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        int rc = gw_yaml_seq(&p->y, n, path, GW_CONFIG_MAX_LISTEN, &count);
        if (rc != 0)
            return rc;
        if (count == 0)
            return fail(p, n, path, "needs at least one address");
    }
    free(c->listen);
    c->listen = calloc(count, sizeof *c->listen);
    if (c->listen == NULL)
        return oom(p);
    if (n->type != YAML_SEQUENCE_NODE) {
        c->n_listen = 1;
        return parse_listener(p, n, path, &c->listen[0]);
    }
    for (size_t i = 0; i < count; i++) {
        char sub[PATH_CAP];
        gw_yaml_index(sub, path, i);
        c->n_listen = i + 1;
        int rc = parse_listener(p, gw_yaml_item(&p->y, n, i), sub, &c->listen[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- auth --------------------------------------------------------------- */

static const char *const known_algs[] = {"HS256", "RS256", "ES256", NULL};
static const char *const jwt_keys[] = {"algorithms", "secret",   "public_key_file", "issuer",
                                       "audience",   "leeway_s", "cookie",          NULL};
static const char *const auth_keys[] = {"jwt", NULL};

static int check_algs(pctx *p, yaml_node_t *n, const char *path)
{
    gw_jwt_cfg *j = &p->cfg->jwt;
    if (j->n_algorithms == 0)
        return fail(p, n, path, "needs at least one algorithm");
    for (size_t i = 0; i < j->n_algorithms; i++) {
        bool ok = false;
        for (size_t k = 0; known_algs[k] != NULL && !ok; k++)
            ok = strcmp(known_algs[k], j->algorithms[i]) == 0;
        if (!ok)
            return fail(p, gw_yaml_item(&p->y, n, i), path,
                        "unsupported algorithm '%s' (HS256, RS256 or ES256)", j->algorithms[i]);
    }
    return 0;
}

static int visit_jwt(gw_yaml *y, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    (void)arg;
    pctx *p = ctx(y);
    gw_jwt_cfg *j = &p->cfg->jwt;
    if (strcmp(key, "algorithms") == 0) {
        j->algorithms_at = at_of(v);
        int rc = gw_yaml_str_list(y, v, path, 3, &j->algorithms, &j->n_algorithms);
        return rc != 0 ? rc : check_algs(p, v, path);
    }
    if (strcmp(key, "leeway_s") == 0)
        return gw_yaml_u32(y, v, path, 0, 86400, &j->leeway_s);
    if (strcmp(key, "public_key_file") == 0) {
        j->key_line = (int)v->start_mark.line + 1;
        j->key_at = at_of(v);
    }
    if (strcmp(key, "secret") == 0)
        j->secret_at = at_of(v);
    char **dst = strcmp(key, "secret") == 0            ? &j->secret
                 : strcmp(key, "public_key_file") == 0 ? &j->public_key_file
                 : strcmp(key, "issuer") == 0          ? &j->issuer
                 : strcmp(key, "audience") == 0        ? &j->audience
                                                       : &j->cookie;
    return gw_yaml_str(y, v, path, dst);
}

static bool has_alg_prefix(const gw_jwt_cfg *j, char c)
{
    for (size_t i = 0; i < j->n_algorithms; i++)
        if (j->algorithms[i][0] == c)
            return true;
    return false;
}

/* Errors about a value that is there point at it; about a missing one, at
 * the jwt mapping (n). */
static int check_jwt(pctx *p, yaml_node_t *n, const char *path)
{
    gw_jwt_cfg *j = &p->cfg->jwt;
    if (j->algorithms == NULL) {
        j->algorithms = calloc(1, sizeof *j->algorithms);
        if (j->algorithms == NULL || (j->algorithms[0] = strdup("HS256")) == NULL)
            return oom(p);
        j->n_algorithms = 1;
    }
    const bool hs = has_alg_prefix(j, 'H');
    const bool pk = has_alg_prefix(j, 'R') || has_alg_prefix(j, 'E');
    char sub[PATH_CAP];
    gw_yaml_join(sub, path, "algorithms");
    if (hs && pk)
        return fail_at(p, j->algorithms_at, sub,
                       "mixing HS* with RS*/ES* algorithms is not allowed");
    if (hs && j->secret == NULL)
        return fail(p, n, path, "HS* algorithms need 'secret'");
    if (pk && j->public_key_file == NULL)
        return fail(p, n, path, "RS*/ES* algorithms need 'public_key_file'");
    gw_yaml_join(sub, path, "public_key_file");
    if (hs && j->public_key_file != NULL)
        return fail_at(p, j->key_at, sub, "'public_key_file' given but algorithms are HS*");
    gw_yaml_join(sub, path, "secret");
    if (pk && j->secret != NULL)
        return fail_at(p, j->secret_at, sub, "'secret' given but algorithms are RS*/ES*");
    if (j->cookie == NULL && (j->cookie = strdup("herald_token")) == NULL)
        return oom(p);
    return 0;
}

static int visit_auth(gw_yaml *y, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    (void)key;
    (void)arg;
    gw_jwt_cfg *j = &ctx(y)->cfg->jwt;
    j->enabled = true;
    j->line = (int)v->start_mark.line + 1;
    int rc = gw_yaml_map(y, v, path, jwt_keys, visit_jwt, NULL);
    return rc != 0 ? rc : check_jwt(ctx(y), v, path);
}

/* ---- limits ------------------------------------------------------------- */

typedef struct limit_field {
    const char *key;
    size_t off;
    uint64_t min, max, def;
} limit_field;

#define LF(name, lo, hi, d)                                                                        \
    {                                                                                              \
#name, offsetof(gw_limits, name), lo, hi, d                                                \
    }
static const limit_field limit_fields[] = {
    LF(max_connections, 1, 10000000, 100000),
    LF(max_connections_per_ip, 1, 10000000, 1000),
    LF(handshakes_per_ip_per_s, 1, 1000000, 50),
    LF(max_message_bytes, 16, (uint64_t)1 << 30, 65536),
    LF(messages_per_s, 1, 1000000, 50),
    LF(idle_timeout_s, 1, 86400, 60),
    LF(ping_interval_s, 1, 86400, 25),
    LF(handshake_timeout_s, 1, 3600, 10),
    LF(drain_timeout_s, 0, 3600, 10),
    LF(max_header_bytes, 1024, 1048576, 16384),
    LF(send_queue_bytes, 1024, (uint64_t)1 << 32, 1048576),
    LF(upstream_connect_timeout_ms, 1, 600000, 3000),
    LF(script_timeout_ms, 1, 60000, 5),
    LF(script_memory_mb, 1, 4096, 64),
    LF(max_body_bytes, 1, (uint64_t)1 << 30, 1048576),
};
#undef LF

static const limit_field *find_limit(const char *key)
{
    for (size_t i = 0; i < HR_ARRAY_LEN(limit_fields); i++)
        if (strcmp(limit_fields[i].key, key) == 0)
            return &limit_fields[i];
    return NULL;
}

static int visit_limit(gw_yaml *y, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    const limit_field *f = find_limit(key);
    if (strcmp(key, "ping_interval_s") == 0)
        ctx(y)->ping_at = at_of(v);
    return gw_yaml_uint(y, v, path, f->min, f->max, (uint64_t *)((char *)arg + f->off));
}

static int parse_limits(pctx *p, yaml_node_t *n, const char *path)
{
    static const char *keys[HR_ARRAY_LEN(limit_fields) + 1];
    for (size_t i = 0; i < HR_ARRAY_LEN(limit_fields); i++)
        keys[i] = limit_fields[i].key;
    keys[HR_ARRAY_LEN(limit_fields)] = NULL;
    return gw_yaml_map(&p->y, n, path, keys, visit_limit, &p->cfg->limits);
}

/* ---- upstreams ---------------------------------------------------------- */

static const char *const upstream_keys[] = {"servers", "balance", "health_check", "protocol", NULL};
static const char *const health_keys[] = {"path", "interval_ms", "timeout_ms",
                                          "rise", "fall",        NULL};
static const char *const balances[] = {"round_robin", "least_conn", "hash_user"};
_Static_assert(GW_BALANCE_ROUND_ROBIN == 0 && GW_BALANCE_LEAST_CONN == 1 &&
                   GW_BALANCE_HASH_USER == 2,
               "balances[] follows gw_balance");

static int visit_health(gw_yaml *y, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_health_cfg *h = arg;
    if (strcmp(key, "path") == 0) {
        int rc = gw_yaml_str(y, v, path, &h->path);
        if (rc == 0 && h->path[0] != '/')
            return gw_yaml_fail(y, v, path, "must start with '/'");
        return rc;
    }
    if (strcmp(key, "interval_ms") == 0)
        return gw_yaml_u32(y, v, path, 10, 3600000, &h->interval_ms);
    if (strcmp(key, "timeout_ms") == 0)
        return gw_yaml_u32(y, v, path, 10, 600000, &h->timeout_ms);
    return gw_yaml_u32(y, v, path, 1, 1000, strcmp(key, "rise") == 0 ? &h->rise : &h->fall);
}

static int parse_servers(pctx *p, yaml_node_t *n, const char *path, gw_upstream_cfg *u)
{
    size_t count = 0;
    int rc = gw_yaml_seq(&p->y, n, path, GW_CONFIG_MAX_SERVERS, &count);
    if (rc != 0)
        return rc;
    if (count == 0)
        return fail(p, n, path, "needs at least one server");
    free(u->servers);
    u->servers = calloc(count, sizeof *u->servers);
    if (u->servers == NULL)
        return oom(p);
    for (size_t i = 0; i < count; i++) {
        char sub[PATH_CAP];
        gw_yaml_index(sub, path, i);
        rc = get_addr(p, gw_yaml_item(&p->y, n, i), sub, &u->servers[i]);
        if (rc != 0)
            return rc;
        u->n_servers = i + 1;
    }
    return 0;
}

static int visit_upstream(gw_yaml *y, const char *key, yaml_node_t *v, const char *path,
                          void *arg)
{
    gw_upstream_cfg *u = arg;
    if (strcmp(key, "servers") == 0)
        return parse_servers(ctx(y), v, path, u);
    if (strcmp(key, "health_check") == 0) {
        u->health.enabled = true;
        return gw_yaml_map(y, v, path, health_keys, visit_health, &u->health);
    }
    int rc = gw_yaml_scalar(y, v, path);
    if (rc != 0)
        return rc;
    if (strcmp(key, "protocol") == 0) {
        if (gw_yaml_is(v, "http") || gw_yaml_is(v, "ws"))
            return 0;
        if (gw_yaml_is(v, "herald-link")) {
            u->link = true;
            return 0;
        }
        return gw_yaml_fail(
            y, v, path, "unsupported protocol (http or herald-link; upstream TLS is not supported)");
    }
    size_t b = 0;
    rc = gw_yaml_enum(y, v, path, balances, HR_ARRAY_LEN(balances),
                      "round_robin, least_conn or hash_user", &b);
    if (rc == 0)
        u->balance = (gw_balance)b;
    return rc;
}

static int visit_upstreams(gw_yaml *y, const char *key, yaml_node_t *v, const char *path,
                           void *arg)
{
    (void)arg;
    pctx *p = ctx(y);
    gw_config *c = p->cfg;
    if (c->n_upstreams >= GW_CONFIG_MAX_UPSTREAMS)
        return fail(p, v, path, "too many upstreams");
    gw_upstream_cfg *u = &c->upstreams[c->n_upstreams++];
    u->line = (int)v->start_mark.line + 1;
    u->health.interval_ms = 2000;
    u->health.timeout_ms = 1000;
    u->health.rise = 2;
    u->health.fall = 3;
    if ((u->name = strdup(key)) == NULL)
        return oom(p);
    int rc = gw_yaml_map(y, v, path, upstream_keys, visit_upstream, u);
    if (rc != 0)
        return rc;
    if (u->servers == NULL)
        return fail(p, v, path, "missing 'servers'");
    if (u->health.path == NULL && (u->health.path = strdup("/healthz")) == NULL)
        return oom(p);
    return 0;
}

static int parse_upstreams(pctx *p, yaml_node_t *n, const char *path)
{
    if (n->type != YAML_MAPPING_NODE)
        return gw_yaml_map(&p->y, n, path, NULL, visit_upstreams, NULL); /* says what it got */
    const size_t count = gw_yaml_len(n);
    p->cfg->upstreams = calloc(count ? count : 1, sizeof *p->cfg->upstreams);
    if (p->cfg->upstreams == NULL)
        return oom(p);
    return gw_yaml_map(&p->y, n, path, NULL, visit_upstreams, NULL);
}

/* ---- routes ------------------------------------------------------------- */

static const char *const route_keys[] = {"path",      "host",   "upstream",        "static",
                                         "websocket", "auth",   "strip_prefix",    "strip_token",
                                         "limits",    "script", "script_on_error", NULL};
static const char *const on_error_modes[] = {"drop", "pass", "close"};
_Static_assert(GW_SCRIPT_ON_ERROR_DROP == 0 && GW_SCRIPT_ON_ERROR_PASS == 1 &&
                   GW_SCRIPT_ON_ERROR_CLOSE == 2,
               "on_error_modes[] follows gw_script_on_error");
static const char *const route_limit_keys[] = {"max_message_bytes", "messages_per_s", NULL};
static const char *const auth_modes[] = {"none", "optional", "required"};
_Static_assert(GW_AUTH_NONE == 0 && GW_AUTH_OPTIONAL == 1 && GW_AUTH_REQUIRED == 2,
               "auth_modes[] follows gw_auth_mode");

static int visit_route_limit(gw_yaml *y, const char *key, yaml_node_t *v, const char *path,
                             void *arg)
{
    gw_route_cfg *r = arg;
    const limit_field *f = find_limit(key);
    return gw_yaml_uint(y, v, path, f->min, f->max,
                        strcmp(key, "messages_per_s") == 0 ? &r->messages_per_s
                                                           : &r->max_message_bytes);
}

/* A string-valued route key: where it goes and where its position is kept. */
static int route_str(gw_yaml *y, const char *key, yaml_node_t *v, const char *path,
                     gw_route_cfg *r)
{
    char **dst = strcmp(key, "path") == 0       ? &r->path
                 : strcmp(key, "host") == 0     ? &r->host
                 : strcmp(key, "upstream") == 0 ? &r->upstream_name
                                                : &r->static_dir;
    gw_cfg_at *at = strcmp(key, "path") == 0       ? &r->path_at
                    : strcmp(key, "host") == 0     ? &r->host_at
                    : strcmp(key, "upstream") == 0 ? &r->upstream_at
                                                   : &r->static_at;
    *at = at_of(v);
    return gw_yaml_str(y, v, path, dst);
}

static int visit_route(gw_yaml *y, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_route_cfg *r = arg;
    if (strcmp(key, "path") == 0 || strcmp(key, "host") == 0 || strcmp(key, "upstream") == 0 ||
        strcmp(key, "static") == 0)
        return route_str(y, key, v, path, r);
    if (strcmp(key, "websocket") == 0) {
        r->websocket_at = at_of(v);
        return gw_yaml_bool(y, v, path, &r->websocket);
    }
    if (strcmp(key, "strip_prefix") == 0)
        return gw_yaml_bool(y, v, path, &r->strip_prefix);
    if (strcmp(key, "strip_token") == 0)
        return gw_yaml_bool(y, v, path, &r->strip_token);
    if (strcmp(key, "script") == 0) {
        r->script_at = at_of(v);
        return gw_yaml_str(y, v, path, &r->script);
    }
    if (strcmp(key, "script_on_error") == 0) {
        size_t m = 0;
        int rc = gw_yaml_enum(y, v, path, on_error_modes, HR_ARRAY_LEN(on_error_modes),
                              "drop, pass or close", &m);
        r->script_on_error = (gw_script_on_error)m;
        return rc;
    }
    if (strcmp(key, "auth") == 0) {
        size_t m = 0;
        r->auth_at = at_of(v);
        int rc = gw_yaml_enum(y, v, path, auth_modes, HR_ARRAY_LEN(auth_modes),
                              "none, optional or required", &m);
        r->auth = (gw_auth_mode)m;
        return rc;
    }
    return gw_yaml_map(y, v, path, route_limit_keys, visit_route_limit, r);
}

/* Checks one route on its own; n is its mapping (for what is missing). */
static int check_route(pctx *p, yaml_node_t *n, const char *path, gw_route_cfg *r)
{
    char sub[PATH_CAP];
    if (r->path == NULL)
        return fail(p, n, path, "missing 'path'");
    gw_yaml_join(sub, path, "path");
    if (r->path[0] != '/')
        return fail_at(p, r->path_at, sub, "must start with '/'");
    if (strpbrk(r->path, "?# \t\r\n") != NULL)
        return fail_at(p, r->path_at, sub, "must not contain '?', '#' or whitespace");
    r->path_len = strlen(r->path);
    if (r->host != NULL) {
        for (char *h = r->host; *h != '\0'; h++)
            *h = (char)((*h >= 'A' && *h <= 'Z') ? *h + 32 : *h);
        gw_yaml_join(sub, path, "host");
        if (strpbrk(r->host, ":/ ") != NULL)
            return fail_at(p, r->host_at, sub, "must be a bare host name (no port, no '/')");
    }
    if (r->upstream_name == NULL && r->static_dir == NULL)
        return fail(p, n, path, "needs exactly one of 'upstream' or 'static'");
    if (r->upstream_name != NULL && r->static_dir != NULL) {
        gw_yaml_join(sub, path, "static");
        return fail_at(p, r->static_at, sub, "needs exactly one of 'upstream' or 'static'");
    }
    gw_yaml_join(sub, path, "script");
    if (r->script != NULL && !r->websocket)
        return fail_at(p, r->script_at, sub, "scripts run on websocket routes only");
    gw_yaml_join(sub, path, "websocket");
    if (r->static_dir != NULL && r->websocket)
        return fail_at(p, r->websocket_at, sub, "a static route cannot be a websocket route");
    return 0;
}

static int parse_routes(pctx *p, yaml_node_t *n, const char *path)
{
    gw_config *c = p->cfg;
    size_t count = 0;
    int rc = gw_yaml_seq(&p->y, n, path, GW_CONFIG_MAX_ROUTES, &count);
    if (rc != 0)
        return rc;
    if (count == 0)
        return fail(p, n, path, "needs at least one route");
    c->routes = calloc(count, sizeof *c->routes);
    if (c->routes == NULL)
        return oom(p);
    for (size_t i = 0; i < count; i++) {
        char sub[PATH_CAP];
        gw_yaml_index(sub, path, i);
        yaml_node_t *item = gw_yaml_item(&p->y, n, i);
        gw_route_cfg *r = &c->routes[i];
        c->n_routes = i + 1;
        r->line = (int)item->start_mark.line + 1;
        rc = gw_yaml_map(&p->y, item, sub, route_keys, visit_route, r);
        if (rc == 0)
            rc = check_route(p, item, sub, r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- top level ---------------------------------------------------------- */

static const char *const top_keys[] = {"listen",          "admin_listen", "auth",
                                       "allowed_origins", "limits",       "upstreams",
                                       "routes",          "access_log",   NULL};

static int visit_top(gw_yaml *y, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    (void)arg;
    pctx *p = ctx(y);
    gw_config *c = p->cfg;
    if (strcmp(key, "listen") == 0)
        return parse_listen(p, v, path);
    if (strcmp(key, "admin_listen") == 0) {
        c->has_admin = true;
        return get_addr(p, v, path, &c->admin_listen);
    }
    if (strcmp(key, "auth") == 0)
        return gw_yaml_map(y, v, path, auth_keys, visit_auth, NULL);
    if (strcmp(key, "allowed_origins") == 0)
        return gw_yaml_str_list(y, v, path, GW_CONFIG_MAX_ORIGINS, &c->allowed_origins,
                                &c->n_allowed_origins);
    if (strcmp(key, "limits") == 0)
        return parse_limits(p, v, path);
    if (strcmp(key, "upstreams") == 0)
        return parse_upstreams(p, v, path);
    if (strcmp(key, "routes") == 0)
        return parse_routes(p, v, path);
    return gw_yaml_bool(y, v, path, &c->access_log);
}

static void set_defaults(gw_config *c)
{
    for (size_t i = 0; i < HR_ARRAY_LEN(limit_fields); i++)
        *(uint64_t *)((char *)&c->limits + limit_fields[i].off) = limit_fields[i].def;
    c->access_log = true;
}

/* Route i against the upstreams, the auth section and the routes before it. */
static int link_route(pctx *p, size_t i)
{
    gw_config *c = p->cfg;
    gw_route_cfg *r = &c->routes[i];
    char path[PATH_CAP];
    if (r->upstream_name != NULL) {
        size_t k = 0;
        while (k < c->n_upstreams && strcmp(c->upstreams[k].name, r->upstream_name) != 0)
            k++;
        snprintf(path, sizeof path, "routes[%zu].upstream", i);
        if (k == c->n_upstreams)
            return fail_at(p, r->upstream_at, path, "no upstream named '%.64s'",
                           r->upstream_name);
        r->upstream = k;
    }
    snprintf(path, sizeof path, "routes[%zu].auth", i);
    if (r->auth != GW_AUTH_NONE && !c->jwt.enabled)
        return fail_at(p, r->auth_at, path, "needs auth.jwt to be configured");
    if (r->max_message_bytes == 0)
        r->max_message_bytes = c->limits.max_message_bytes;
    if (r->messages_per_s == 0)
        r->messages_per_s = c->limits.messages_per_s;
    for (size_t j = 0; j < i; j++) {
        const gw_route_cfg *o = &c->routes[j];
        const bool same_host =
            (o->host == NULL && r->host == NULL) ||
            (o->host != NULL && r->host != NULL && strcmp(o->host, r->host) == 0);
        snprintf(path, sizeof path, "routes[%zu].path", i);
        if (same_host && strcmp(o->path, r->path) == 0)
            return fail_at(p, r->path_at, path, "same host and path as routes[%zu]", j);
    }
    return 0;
}

/* Cross-references, once every section is known. */
static int check_all(pctx *p, yaml_node_t *root)
{
    gw_config *c = p->cfg;
    if (c->listen == NULL) {
        c->listen = calloc(1, sizeof *c->listen);
        if (c->listen == NULL)
            return oom(p);
        c->n_listen = 1;
        gw_config_parse_addr("127.0.0.1:8080", 14, &c->listen[0].addr);
    }
    if (c->limits.ping_interval_s >= c->limits.idle_timeout_s)
        return fail_at(p, either(p->ping_at, at_of(root)), "limits.ping_interval_s",
                       "must be below idle_timeout_s (%llu)",
                       (unsigned long long)c->limits.idle_timeout_s);
    if (c->routes == NULL)
        return fail(p, root, "routes", "missing (at least one route is required)");
    for (size_t i = 0; i < c->n_routes; i++) {
        int rc = link_route(p, i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_root(gw_yaml *y, yaml_node_t *root)
{
    int rc = gw_yaml_map(y, root, "", top_keys, visit_top, NULL);
    return rc != 0 ? rc : check_all(ctx(y), root);
}

int gw_config_parse(const char *text, size_t len, const char *filename, gw_config **out,
                    gw_diag *diag)
{
    *out = NULL;
    diag->msg[0] = '\0';
    pctx p = {.y = {.file = filename, .msg = diag->msg, .msg_cap = sizeof diag->msg}};
    gw_config *c = calloc(1, sizeof *c);
    if (c == NULL)
        return gw_yaml_oom(&p.y);
    set_defaults(c);
    p.cfg = c;
    if ((c->filename = strdup(filename)) == NULL) {
        gw_config_free(c);
        return gw_yaml_oom(&p.y);
    }
    int rc = gw_yaml_load(&p.y, text, len, parse_root);
    if (rc != 0) {
        gw_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

void gw_config_free(gw_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; cfg->listen != NULL && i < cfg->n_listen; i++) {
        free(cfg->listen[i].tls_cert);
        free(cfg->listen[i].tls_key);
    }
    free(cfg->listen);
    gw_jwt_cfg *j = &cfg->jwt;
    free_strs(j->algorithms, j->n_algorithms);
    free(j->secret);
    free(j->public_key_file);
    free(j->issuer);
    free(j->audience);
    free(j->cookie);
    free_strs(cfg->allowed_origins, cfg->n_allowed_origins);
    for (size_t i = 0; cfg->upstreams != NULL && i < cfg->n_upstreams; i++) {
        free(cfg->upstreams[i].name);
        free(cfg->upstreams[i].servers);
        free(cfg->upstreams[i].health.path);
    }
    free(cfg->upstreams);
    for (size_t i = 0; cfg->routes != NULL && i < cfg->n_routes; i++) {
        gw_route_cfg *r = &cfg->routes[i];
        free(r->script);
        free(r->path);
        free(r->host);
        free(r->upstream_name);
        free(r->static_dir);
    }
    free(cfg->routes);
    free(cfg->filename);
    free(cfg);
}

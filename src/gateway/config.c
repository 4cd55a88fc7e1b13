/* Gateway configuration: YAML text -> gw_config. libyaml composes the text
 * into a node tree (aliases resolved); we then walk that tree along the
 * schema, so the depth of the walk is fixed by the schema and never by the
 * input. Every mapping is checked for unknown and duplicate keys, every
 * scalar for its type and range; the first error stops the parse and is
 * written to the diagnostic as "file:line: key.path: problem". Cross-checks
 * (a route's upstream exists, auth needs a jwt section) run after the walk. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/err.h"

typedef struct pctx {
    yaml_document_t *doc;
    const char *file;
    gw_diag *diag;
    gw_config *cfg;
    bool nomem;
} pctx;

#define PATH_CAP 160

static int fail(pctx *p, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(pctx *p, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    char what[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const int line = n != NULL ? (int)n->start_mark.line + 1 : 1;
    if (path != NULL && path[0] != '\0')
        snprintf(p->diag->msg, sizeof p->diag->msg, "%s:%d: %s: %s", p->file, line, path, what);
    else
        snprintf(p->diag->msg, sizeof p->diag->msg, "%s:%d: %s", p->file, line, what);
    return HR_EINVAL;
}

static int oom(pctx *p)
{
    p->nomem = true;
    snprintf(p->diag->msg, sizeof p->diag->msg, "%s: out of memory", p->file);
    return HR_ENOMEM;
}

static yaml_node_t *node_at(pctx *p, int idx)
{
    return yaml_document_get_node(p->doc, idx);
}

static const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "empty";
    }
}

/* out = parent + "." + key (or key alone), truncated to PATH_CAP - 1. */
static void join(char *out, const char *parent, const char *key)
{
    size_t o = strnlen(parent, PATH_CAP - 1);
    memmove(out, parent, o);
    if (o > 0 && o < PATH_CAP - 1)
        out[o++] = '.';
    const size_t kl = strnlen(key, PATH_CAP - 1 - o);
    memcpy(out + o, key, kl);
    out[o + kl] = '\0';
}

/* ---- scalars ------------------------------------------------------------ */

static bool scalar_is(const yaml_node_t *n, const char *s)
{
    return n->data.scalar.length == strlen(s) &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

static bool scalar_is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (n->data.scalar.length == 0 || scalar_is(n, "null") || scalar_is(n, "~"));
}

static int want_scalar(pctx *p, const yaml_node_t *n, const char *path)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail(p, n, path, "expected a scalar, got %s", type_name(n));
    return 0;
}

static int get_str(pctx *p, const yaml_node_t *n, const char *path, char **out)
{
    int rc = want_scalar(p, n, path);
    if (rc != 0)
        return rc;
    const size_t len = n->data.scalar.length;
    if (len == 0 || scalar_is_null(n))
        return fail(p, n, path, "expected a non-empty string");
    if (len > GW_CONFIG_MAX_TEXT)
        return fail(p, n, path, "string longer than %d bytes", GW_CONFIG_MAX_TEXT);
    if (memchr(n->data.scalar.value, '\0', len) != NULL)
        return fail(p, n, path, "string contains a NUL byte");
    char *s = malloc(len + 1);
    if (s == NULL)
        return oom(p);
    memcpy(s, n->data.scalar.value, len);
    s[len] = '\0';
    free(*out);
    *out = s;
    return 0;
}

static int get_bool(pctx *p, const yaml_node_t *n, const char *path, bool *out)
{
    int rc = want_scalar(p, n, path);
    if (rc != 0)
        return rc;
    static const char *const yes[] = {"true", "yes", "on", "True", "TRUE", "Yes", "On"};
    static const char *const no[] = {"false", "no", "off", "False", "FALSE", "No", "Off"};
    for (size_t i = 0; i < HR_ARRAY_LEN(yes); i++) {
        if (scalar_is(n, yes[i])) {
            *out = true;
            return 0;
        }
        if (scalar_is(n, no[i])) {
            *out = false;
            return 0;
        }
    }
    return fail(p, n, path, "expected true or false");
}

static int get_uint(pctx *p, const yaml_node_t *n, const char *path, uint64_t min, uint64_t max,
                    uint64_t *out)
{
    int rc = want_scalar(p, n, path);
    if (rc != 0)
        return rc;
    const unsigned char *s = n->data.scalar.value;
    const size_t len = n->data.scalar.length;
    if (len == 0 || len > 20)
        return fail(p, n, path, "expected an integer");
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail(p, n, path, "expected an integer");
        const uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fail(p, n, path, "integer out of range");
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return fail(p, n, path, "must be between %llu and %llu", (unsigned long long)min,
                    (unsigned long long)max);
    *out = v;
    return 0;
}

static int get_u32(pctx *p, const yaml_node_t *n, const char *path, uint32_t min, uint32_t max,
                   uint32_t *out)
{
    uint64_t v = 0;
    int rc = get_uint(p, n, path, min, max, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
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
    int rc = want_scalar(p, n, path);
    if (rc != 0)
        return rc;
    if (gw_config_parse_addr((const char *)n->data.scalar.value, n->data.scalar.length, out) != 0)
        return fail(p, n, path, "bad address '%.*s' (want IP:PORT or [IPv6]:PORT)",
                    (int)(n->data.scalar.length > 80 ? 80 : n->data.scalar.length),
                    n->data.scalar.value);
    return 0;
}

/* ---- mappings ----------------------------------------------------------- */

/* Calls visit(p, key, value_node, path, arg) for each pair of a mapping after
 * checking that the key is a known, non-duplicate scalar. keys is
 * NULL-terminated; NULL keys means any key (the upstreams map). */
typedef int (*visit_fn)(pctx *p, const char *key, yaml_node_t *val, const char *path, void *arg);

static int walk_map(pctx *p, yaml_node_t *map, const char *path, const char *const *keys,
                    visit_fn visit, void *arg)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail(p, map, path, "expected a mapping, got %s", type_name(map));
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        yaml_node_t *k = node_at(p, a->key);
        yaml_node_t *v = node_at(p, a->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
            return fail(p, k != NULL ? k : map, path, "keys must be scalars");
        char key[96];
        const size_t kl = k->data.scalar.length;
        if (kl == 0 || kl >= sizeof key || memchr(k->data.scalar.value, '\0', kl) != NULL)
            return fail(p, k, path, "bad key");
        memcpy(key, k->data.scalar.value, kl);
        key[kl] = '\0';
        bool known = keys == NULL;
        for (size_t i = 0; keys != NULL && keys[i] != NULL && !known; i++)
            known = strcmp(keys[i], key) == 0;
        if (!known)
            return fail(p, k, path, "unknown key '%s'", key);
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            yaml_node_t *k2 = node_at(p, b->key);
            if (k2 != NULL && k2->type == YAML_SCALAR_NODE && scalar_is(k2, key))
                return fail(p, k, path, "duplicate key '%s'", key);
        }
        char sub[PATH_CAP];
        join(sub, path, key);
        int rc = visit(p, key, v, sub, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int want_seq(pctx *p, const yaml_node_t *n, const char *path, size_t max, size_t *count)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(p, n, path, "expected a list, got %s", type_name(n));
    *count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (*count > max)
        return fail(p, n, path, "more than %zu entries", max);
    return 0;
}

static int get_str_list(pctx *p, yaml_node_t *n, const char *path, size_t max, char ***out,
                        size_t *n_out)
{
    size_t count = 0;
    int rc = want_seq(p, n, path, max, &count);
    if (rc != 0)
        return rc;
    char **v = calloc(count ? count : 1, sizeof *v);
    if (v == NULL)
        return oom(p);
    *out = v;
    *n_out = 0;
    for (size_t i = 0; i < count; i++) {
        char sub[PATH_CAP];
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        rc = get_str(p, node_at(p, n->data.sequence.items.start[i]), sub, &v[i]);
        if (rc != 0)
            return rc;
        *n_out = i + 1;
    }
    return 0;
}

/* ---- listen ------------------------------------------------------------- */

static const char *const listen_keys[] = {"addr", "tls", NULL};
static const char *const tls_keys[] = {"cert", "key", NULL};

static int visit_tls(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_listener_cfg *l = arg;
    return get_str(p, v, path, strcmp(key, "cert") == 0 ? &l->tls_cert : &l->tls_key);
}

static int visit_listener(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_listener_cfg *l = arg;
    if (strcmp(key, "addr") == 0)
        return get_addr(p, v, path, &l->addr);
    int rc = walk_map(p, v, path, tls_keys, visit_tls, l);
    if (rc == 0 && (l->tls_cert == NULL || l->tls_key == NULL))
        return fail(p, v, path, "needs both cert and key");
    return rc;
}

static int parse_listener(pctx *p, yaml_node_t *n, const char *path, gw_listener_cfg *l)
{
    l->line = (int)n->start_mark.line + 1;
    if (n->type == YAML_SCALAR_NODE)
        return get_addr(p, n, path, &l->addr);
    int rc = walk_map(p, n, path, listen_keys, visit_listener, l);
    if (rc == 0 && l->addr.port == 0)
        return fail(p, n, path, "missing addr");
    return rc;
}

static int parse_listen(pctx *p, yaml_node_t *n, const char *path)
{
    gw_config *c = p->cfg;
    size_t count = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        int rc = want_seq(p, n, path, GW_CONFIG_MAX_LISTEN, &count);
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
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        c->n_listen = i + 1;
        int rc = parse_listener(p, node_at(p, n->data.sequence.items.start[i]), sub, &c->listen[i]);
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
        if (!ok) {
            yaml_node_t *item = node_at(p, n->data.sequence.items.start[i]);
            return fail(p, item, path, "unsupported algorithm '%s' (HS256, RS256 or ES256)",
                        j->algorithms[i]);
        }
    }
    return 0;
}

static int visit_jwt(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_jwt_cfg *j = &p->cfg->jwt;
    if (strcmp(key, "algorithms") == 0) {
        int rc = get_str_list(p, v, path, 3, &j->algorithms, &j->n_algorithms);
        return rc != 0 ? rc : check_algs(p, v, path);
    }
    if (strcmp(key, "leeway_s") == 0)
        return get_u32(p, v, path, 0, 86400, &j->leeway_s);
    if (strcmp(key, "public_key_file") == 0)
        j->key_line = (int)v->start_mark.line + 1;
    char **dst = strcmp(key, "secret") == 0            ? &j->secret
                 : strcmp(key, "public_key_file") == 0 ? &j->public_key_file
                 : strcmp(key, "issuer") == 0          ? &j->issuer
                 : strcmp(key, "audience") == 0        ? &j->audience
                                                       : &j->cookie;
    return get_str(p, v, path, dst);
}

static bool has_alg_prefix(const gw_jwt_cfg *j, char c)
{
    for (size_t i = 0; i < j->n_algorithms; i++)
        if (j->algorithms[i][0] == c)
            return true;
    return false;
}

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
    if (hs && pk)
        return fail(p, n, path, "mixing HS* with RS*/ES* algorithms is not allowed");
    if (hs && j->secret == NULL)
        return fail(p, n, path, "HS* algorithms need 'secret'");
    if (pk && j->public_key_file == NULL)
        return fail(p, n, path, "RS*/ES* algorithms need 'public_key_file'");
    if (hs && j->public_key_file != NULL)
        return fail(p, n, path, "'public_key_file' given but algorithms are HS*");
    if (pk && j->secret != NULL)
        return fail(p, n, path, "'secret' given but algorithms are RS*/ES*");
    if (j->cookie == NULL && (j->cookie = strdup("herald_token")) == NULL)
        return oom(p);
    return 0;
}

static int visit_auth(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_jwt_cfg *j = &p->cfg->jwt;
    j->enabled = true;
    j->line = (int)v->start_mark.line + 1;
    int rc = walk_map(p, v, path, jwt_keys, visit_jwt, NULL);
    return rc != 0 ? rc : check_jwt(p, v, path);
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

static int visit_limit(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    const limit_field *f = find_limit(key);
    return get_uint(p, v, path, f->min, f->max, (uint64_t *)((char *)arg + f->off));
}

static int parse_limits(pctx *p, yaml_node_t *n, const char *path)
{
    static const char *keys[HR_ARRAY_LEN(limit_fields) + 1];
    for (size_t i = 0; i < HR_ARRAY_LEN(limit_fields); i++)
        keys[i] = limit_fields[i].key;
    keys[HR_ARRAY_LEN(limit_fields)] = NULL;
    return walk_map(p, n, path, keys, visit_limit, &p->cfg->limits);
}

/* ---- upstreams ---------------------------------------------------------- */

static const char *const upstream_keys[] = {"servers", "balance", "health_check", "protocol", NULL};
static const char *const health_keys[] = {"path", "interval_ms", "timeout_ms",
                                          "rise", "fall",        NULL};

static int visit_health(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_health_cfg *h = arg;
    if (strcmp(key, "path") == 0) {
        int rc = get_str(p, v, path, &h->path);
        if (rc == 0 && h->path[0] != '/')
            return fail(p, v, path, "must start with '/'");
        return rc;
    }
    if (strcmp(key, "interval_ms") == 0)
        return get_u32(p, v, path, 10, 3600000, &h->interval_ms);
    if (strcmp(key, "timeout_ms") == 0)
        return get_u32(p, v, path, 10, 600000, &h->timeout_ms);
    return get_u32(p, v, path, 1, 1000, strcmp(key, "rise") == 0 ? &h->rise : &h->fall);
}

static int parse_servers(pctx *p, yaml_node_t *n, const char *path, gw_upstream_cfg *u)
{
    size_t count = 0;
    int rc = want_seq(p, n, path, GW_CONFIG_MAX_SERVERS, &count);
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
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        rc = get_addr(p, node_at(p, n->data.sequence.items.start[i]), sub, &u->servers[i]);
        if (rc != 0)
            return rc;
        u->n_servers = i + 1;
    }
    return 0;
}

static int visit_upstream(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_upstream_cfg *u = arg;
    if (strcmp(key, "servers") == 0)
        return parse_servers(p, v, path, u);
    if (strcmp(key, "health_check") == 0) {
        u->health.enabled = true;
        return walk_map(p, v, path, health_keys, visit_health, &u->health);
    }
    int rc = want_scalar(p, v, path);
    if (rc != 0)
        return rc;
    if (strcmp(key, "protocol") == 0) {
        if (scalar_is(v, "http") || scalar_is(v, "ws"))
            return 0;
        if (scalar_is(v, "herald-link")) {
            u->link = true;
            return 0;
        }
        return fail(p, v, path,
                    "unsupported protocol (http or herald-link; upstream TLS is not supported)");
    }
    if (scalar_is(v, "round_robin"))
        u->balance = GW_BALANCE_ROUND_ROBIN;
    else if (scalar_is(v, "least_conn"))
        u->balance = GW_BALANCE_LEAST_CONN;
    else if (scalar_is(v, "hash_user"))
        u->balance = GW_BALANCE_HASH_USER;
    else
        return fail(p, v, path, "expected round_robin, least_conn or hash_user");
    return 0;
}

static int visit_upstreams(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
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
    int rc = walk_map(p, v, path, upstream_keys, visit_upstream, u);
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
        return fail(p, n, path, "expected a mapping, got %s", type_name(n));
    const size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    p->cfg->upstreams = calloc(count ? count : 1, sizeof *p->cfg->upstreams);
    if (p->cfg->upstreams == NULL)
        return oom(p);
    return walk_map(p, n, path, NULL, visit_upstreams, NULL);
}

/* ---- routes ------------------------------------------------------------- */

static const char *const route_keys[] = {"path",      "host", "upstream",     "static",
                                         "websocket", "auth", "strip_prefix", "strip_token",
                                         "limits",    NULL};
static const char *const route_limit_keys[] = {"max_message_bytes", "messages_per_s", NULL};

static int visit_route_limit(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_route_cfg *r = arg;
    const limit_field *f = find_limit(key);
    return get_uint(p, v, path, f->min, f->max,
                    strcmp(key, "messages_per_s") == 0 ? &r->messages_per_s
                                                       : &r->max_message_bytes);
}

static int parse_auth_mode(pctx *p, yaml_node_t *v, const char *path, gw_auth_mode *out)
{
    int rc = want_scalar(p, v, path);
    if (rc != 0)
        return rc;
    if (scalar_is(v, "none"))
        *out = GW_AUTH_NONE;
    else if (scalar_is(v, "optional"))
        *out = GW_AUTH_OPTIONAL;
    else if (scalar_is(v, "required"))
        *out = GW_AUTH_REQUIRED;
    else
        return fail(p, v, path, "expected none, optional or required");
    return 0;
}

static int visit_route(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_route_cfg *r = arg;
    if (strcmp(key, "path") == 0)
        return get_str(p, v, path, &r->path);
    if (strcmp(key, "host") == 0)
        return get_str(p, v, path, &r->host);
    if (strcmp(key, "upstream") == 0)
        return get_str(p, v, path, &r->upstream_name);
    if (strcmp(key, "static") == 0)
        return get_str(p, v, path, &r->static_dir);
    if (strcmp(key, "websocket") == 0)
        return get_bool(p, v, path, &r->websocket);
    if (strcmp(key, "strip_prefix") == 0)
        return get_bool(p, v, path, &r->strip_prefix);
    if (strcmp(key, "strip_token") == 0)
        return get_bool(p, v, path, &r->strip_token);
    if (strcmp(key, "auth") == 0)
        return parse_auth_mode(p, v, path, &r->auth);
    return walk_map(p, v, path, route_limit_keys, visit_route_limit, r);
}

static int check_route(pctx *p, yaml_node_t *n, const char *path, gw_route_cfg *r)
{
    char sub[PATH_CAP];
    if (r->path == NULL)
        return fail(p, n, path, "missing 'path'");
    join(sub, path, "path");
    if (r->path[0] != '/')
        return fail(p, n, sub, "must start with '/'");
    if (strpbrk(r->path, "?# \t\r\n") != NULL)
        return fail(p, n, sub, "must not contain '?', '#' or whitespace");
    r->path_len = strlen(r->path);
    if (r->host != NULL) {
        for (char *h = r->host; *h != '\0'; h++)
            *h = (char)((*h >= 'A' && *h <= 'Z') ? *h + 32 : *h);
        if (strpbrk(r->host, ":/ ") != NULL) {
            join(sub, path, "host");
            return fail(p, n, sub, "must be a bare host name (no port, no '/')");
        }
    }
    if ((r->upstream_name == NULL) == (r->static_dir == NULL))
        return fail(p, n, path, "needs exactly one of 'upstream' or 'static'");
    join(sub, path, "websocket");
    if (r->static_dir != NULL && r->websocket)
        return fail(p, n, sub, "a static route cannot be a websocket route");
    return 0;
}

static int parse_routes(pctx *p, yaml_node_t *n, const char *path)
{
    gw_config *c = p->cfg;
    size_t count = 0;
    int rc = want_seq(p, n, path, GW_CONFIG_MAX_ROUTES, &count);
    if (rc != 0)
        return rc;
    if (count == 0)
        return fail(p, n, path, "needs at least one route");
    c->routes = calloc(count, sizeof *c->routes);
    if (c->routes == NULL)
        return oom(p);
    for (size_t i = 0; i < count; i++) {
        char sub[PATH_CAP];
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        yaml_node_t *item = node_at(p, n->data.sequence.items.start[i]);
        gw_route_cfg *r = &c->routes[i];
        c->n_routes = i + 1;
        r->line = (int)item->start_mark.line + 1;
        rc = walk_map(p, item, sub, route_keys, visit_route, r);
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

static int visit_top(pctx *p, const char *key, yaml_node_t *v, const char *path, void *arg)
{
    gw_config *c = p->cfg;
    if (strcmp(key, "listen") == 0)
        return parse_listen(p, v, path);
    if (strcmp(key, "admin_listen") == 0) {
        c->has_admin = true;
        return get_addr(p, v, path, &c->admin_listen);
    }
    if (strcmp(key, "auth") == 0)
        return walk_map(p, v, path, auth_keys, visit_auth, NULL);
    if (strcmp(key, "allowed_origins") == 0)
        return get_str_list(p, v, path, GW_CONFIG_MAX_ORIGINS, &c->allowed_origins,
                            &c->n_allowed_origins);
    if (strcmp(key, "limits") == 0)
        return parse_limits(p, v, path);
    if (strcmp(key, "upstreams") == 0)
        return parse_upstreams(p, v, path);
    if (strcmp(key, "routes") == 0)
        return parse_routes(p, v, path);
    return get_bool(p, v, path, &c->access_log);
}

static void set_defaults(gw_config *c)
{
    for (size_t i = 0; i < HR_ARRAY_LEN(limit_fields); i++)
        *(uint64_t *)((char *)&c->limits + limit_fields[i].off) = limit_fields[i].def;
    c->access_log = true;
}

/* Cross-references, once every section is known. */
static int link_routes(pctx *p, yaml_node_t *root)
{
    gw_config *c = p->cfg;
    if (c->routes == NULL)
        return fail(p, root, "routes", "missing (at least one route is required)");
    for (size_t i = 0; i < c->n_routes; i++) {
        gw_route_cfg *r = &c->routes[i];
        char path[PATH_CAP];
        yaml_node_t at = {.start_mark.line = (size_t)(r->line - 1)};
        if (r->upstream_name != NULL) {
            size_t k = 0;
            while (k < c->n_upstreams && strcmp(c->upstreams[k].name, r->upstream_name) != 0)
                k++;
            snprintf(path, sizeof path, "routes[%zu].upstream", i);
            if (k == c->n_upstreams)
                return fail(p, &at, path, "no upstream named '%.64s'", r->upstream_name);
            r->upstream = k;
        }
        snprintf(path, sizeof path, "routes[%zu].auth", i);
        if (r->auth != GW_AUTH_NONE && !c->jwt.enabled)
            return fail(p, &at, path, "needs auth.jwt to be configured");
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
                return fail(p, &at, path, "same host and path as routes[%zu]", j);
        }
    }
    return 0;
}

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
        return fail(p, root, "limits.ping_interval_s", "must be below idle_timeout_s (%llu)",
                    (unsigned long long)c->limits.idle_timeout_s);
    return link_routes(p, root);
}

static int parse_doc(pctx *p, yaml_parser_t *parser)
{
    yaml_document_t doc;
    if (!yaml_parser_load(parser, &doc)) {
        if (parser->error == YAML_MEMORY_ERROR)
            return oom(p);
        yaml_node_t at = {.start_mark = parser->problem_mark};
        return fail(p, &at, NULL, "YAML syntax: %s", parser->problem ? parser->problem : "error");
    }
    p->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = 0;
    if (root == NULL)
        rc = fail(p, NULL, NULL, "empty configuration");
    else
        rc = walk_map(p, root, "", top_keys, visit_top, NULL);
    if (rc == 0)
        rc = check_all(p, root);
    if (rc == 0) {
        yaml_document_t extra;
        if (yaml_parser_load(parser, &extra)) {
            if (yaml_document_get_root_node(&extra) != NULL)
                rc = fail(p, yaml_document_get_root_node(&extra), NULL,
                          "only one YAML document is allowed");
            yaml_document_delete(&extra);
        }
    }
    yaml_document_delete(&doc);
    p->doc = NULL;
    return rc;
}

int gw_config_parse(const char *text, size_t len, const char *filename, gw_config **out,
                    gw_diag *diag)
{
    *out = NULL;
    diag->msg[0] = '\0';
    gw_config *c = calloc(1, sizeof *c);
    if (c == NULL)
        return HR_ENOMEM;
    set_defaults(c);
    pctx p = {.file = filename, .diag = diag, .cfg = c};
    if ((c->filename = strdup(filename)) == NULL) {
        gw_config_free(c);
        return oom(&p);
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        gw_config_free(c);
        return oom(&p);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = parse_doc(&p, &parser);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        gw_config_free(c);
        return p.nomem ? HR_ENOMEM : rc;
    }
    *out = c;
    return 0;
}

/* Makes *p relative to dir when it is a relative path (dir has no trailing
 * '/'). When nothing exists there but the path exists relative to the working
 * directory, the working-directory path is kept: a copy of the shipped config
 * elsewhere (`static: web/`) still finds the repository's files when run from
 * its root. Returns 0 or HR_ENOMEM. */
static int rebase(char **p, const char *dir)
{
    if (*p == NULL || (*p)[0] == '/' || dir[0] == '\0')
        return 0;
    const size_t n = strlen(dir) + strlen(*p) + 2;
    char *full = malloc(n);
    if (full == NULL)
        return HR_ENOMEM;
    snprintf(full, n, "%s/%s", dir, *p);
    struct stat st;
    if (stat(full, &st) != 0 && stat(*p, &st) == 0) {
        free(full);
        return 0;
    }
    free(*p);
    *p = full;
    return 0;
}

static int rebase_all(gw_config *c, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return 0; /* the file is in the working directory: nothing to do */
    char dir[1024];
    const size_t dl = (size_t)(slash - path);
    if (dl >= sizeof dir)
        return HR_ENOMEM;
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    if (dl == 0)
        snprintf(dir, sizeof dir, "/");
    int rc = rebase(&c->jwt.public_key_file, dir);
    for (size_t i = 0; rc == 0 && i < c->n_listen; i++) {
        rc = rebase(&c->listen[i].tls_cert, dir);
        if (rc == 0)
            rc = rebase(&c->listen[i].tls_key, dir);
    }
    for (size_t i = 0; rc == 0 && i < c->n_routes; i++)
        rc = rebase(&c->routes[i].static_dir, dir);
    return rc;
}

int gw_config_load(const char *path, gw_config **out, gw_diag *diag)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(diag->msg, sizeof diag->msg, "%s:1: cannot read: %s", path, strerror(errno));
        return HR_EINVAL;
    }
    const size_t cap = (size_t)4 << 20;
    char *text = malloc(cap);
    if (text == NULL) {
        fclose(f);
        return HR_ENOMEM;
    }
    const size_t len = fread(text, 1, cap - 1, f);
    const bool bad = ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        free(text);
        snprintf(diag->msg, sizeof diag->msg, "%s:1: file unreadable or larger than 4 MiB", path);
        return HR_EINVAL;
    }
    int rc = gw_config_parse(text, len, path, out, diag);
    free(text);
    if (rc == 0 && rebase_all(*out, path) != 0) {
        gw_config_free(*out);
        *out = NULL;
        snprintf(diag->msg, sizeof diag->msg, "%s: out of memory", path);
        rc = HR_ENOMEM;
    }
    return rc;
}

static int check_readable(const char *file, const char *cfgname, int line, const char *what,
                          const char *path, bool want_dir, gw_diag *diag)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(diag->msg, sizeof diag->msg, "%s:%d: %s: cannot read '%.200s': %s", file, line,
                 what, path, strerror(errno));
        return HR_EINVAL;
    }
    if (want_dir != S_ISDIR(st.st_mode)) {
        snprintf(diag->msg, sizeof diag->msg, "%s:%d: %s: '%.200s' is not a %s", file, line, what,
                 path, want_dir ? "directory" : "regular file");
        return HR_EINVAL;
    }
    (void)cfgname;
    return 0;
}

int gw_config_check_files(const gw_config *cfg, gw_diag *diag)
{
    const char *f = cfg->filename;
    for (size_t i = 0; i < cfg->n_listen; i++) {
        const gw_listener_cfg *l = &cfg->listen[i];
        if (l->tls_cert == NULL)
            continue;
        int rc = check_readable(f, f, l->line, "listen.tls.cert", l->tls_cert, false, diag);
        if (rc == 0)
            rc = check_readable(f, f, l->line, "listen.tls.key", l->tls_key, false, diag);
        if (rc != 0)
            return rc;
    }
    if (cfg->jwt.public_key_file != NULL) {
        int rc = check_readable(f, f, cfg->jwt.key_line, "auth.jwt.public_key_file",
                                cfg->jwt.public_key_file, false, diag);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const gw_route_cfg *r = &cfg->routes[i];
        if (r->static_dir == NULL)
            continue;
        char what[48];
        snprintf(what, sizeof what, "routes[%zu].static", i);
        int rc = check_readable(f, f, r->line, what, r->static_dir, true, diag);
        if (rc != 0)
            return rc;
    }
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
        free(r->path);
        free(r->host);
        free(r->upstream_name);
        free(r->static_dir);
    }
    free(cfg->routes);
    free(cfg->filename);
    free(cfg);
}

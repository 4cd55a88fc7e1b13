/* Unit tests for the gateway config parser: the shipped example, defaults,
 * and one test per error class (each checks file, line and message). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "gateway/config.h"

static const char *const example =
    "listen: 127.0.0.1:8080\n"
    "admin_listen: 127.0.0.1:9090\n"
    "auth:\n"
    "  jwt: {algorithms: [HS256], secret: \"s3cret\", issuer: me, leeway_s: 5}\n"
    "allowed_origins: [\"http://a.example\"]\n"
    "limits: {max_connections: 100000, max_connections_per_ip: 1000,\n"
    "         handshakes_per_ip_per_s: 50, max_message_bytes: 65536,\n"
    "         messages_per_s: 50, idle_timeout_s: 60, ping_interval_s: 25}\n"
    "upstreams:\n"
    "  notifier:\n"
    "    servers: [127.0.0.1:7070, 127.0.0.1:7071]\n"
    "    balance: round_robin\n"
    "    health_check: {path: /healthz, interval_ms: 2000}\n"
    "  orders: {servers: [127.0.0.1:9000], balance: hash_user}\n"
    "routes:\n"
    "  - {path: /ws, upstream: notifier, websocket: true, auth: optional}\n"
    "  - {path: /api/, upstream: orders, strip_prefix: true, auth: required}\n"
    "  - {path: /, static: web/}\n";

/* Parses an exactly sized heap copy so ASan sees any over-read. */
static int parse(const char *text, gw_config **cfg, gw_diag *d)
{
    const size_t n = strlen(text);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, text, n);
    int rc = gw_config_parse(copy, n, "gateway.yaml", cfg, d);
    free(copy);
    return rc;
}

static void expect_error(const char *text, const char *want)
{
    gw_config *cfg = NULL;
    gw_diag d;
    int rc = parse(text, &cfg, &d);
    if (rc != HR_EINVAL || strstr(d.msg, want) == NULL)
        fail_msg("want error containing \"%s\", got rc=%d \"%s\"", want, rc, d.msg);
    assert_null(cfg);
}

/* The error names line and column of the offending value: "file:LINE: path:
 * ... (column COL)". */
static void expect_at(const char *text, const char *path_and_msg, int line, int col)
{
    char want[256];
    snprintf(want, sizeof want, "gateway.yaml:%d: %s", line, path_and_msg);
    expect_error(text, want);
    gw_config *cfg = NULL;
    gw_diag d;
    (void)parse(text, &cfg, &d);
    char tail[32];
    snprintf(tail, sizeof tail, " (column %d)", col);
    const size_t n = strlen(d.msg), t = strlen(tail);
    if (n < t || strcmp(d.msg + n - t, tail) != 0)
        fail_msg("want \"%s\" at the end of \"%s\"", tail, d.msg);
}

#define MINI "upstreams: {n: {servers: [127.0.0.1:7070]}}\nroutes: [{path: /, upstream: n}]\n"

static void test_gw_config_example(void **state)
{
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(parse(example, &cfg, &d), 0);
    assert_int_equal(cfg->n_listen, 1);
    assert_string_equal(cfg->listen[0].addr.text, "127.0.0.1:8080");
    assert_true(cfg->has_admin);
    assert_int_equal(cfg->admin_listen.port, 9090);
    assert_true(cfg->jwt.enabled);
    assert_string_equal(cfg->jwt.secret, "s3cret");
    assert_string_equal(cfg->jwt.issuer, "me");
    assert_int_equal(cfg->jwt.leeway_s, 5);
    assert_string_equal(cfg->jwt.cookie, "herald_token");
    assert_int_equal(cfg->n_allowed_origins, 1);
    assert_int_equal(cfg->n_upstreams, 2);
    assert_int_equal(cfg->upstreams[0].n_servers, 2);
    assert_int_equal(cfg->upstreams[0].servers[1].port, 7071);
    assert_true(cfg->upstreams[0].health.enabled);
    assert_int_equal(cfg->upstreams[0].health.rise, 2);
    assert_int_equal(cfg->upstreams[1].balance, GW_BALANCE_HASH_USER);
    assert_false(cfg->upstreams[1].health.enabled);
    assert_int_equal(cfg->n_routes, 3);
    assert_true(cfg->routes[0].websocket);
    assert_int_equal(cfg->routes[0].auth, GW_AUTH_OPTIONAL);
    assert_int_equal(cfg->routes[1].upstream, 1);
    assert_true(cfg->routes[1].strip_prefix);
    assert_int_equal(cfg->routes[1].line, 17);
    assert_string_equal(cfg->routes[2].static_dir, "web/");
    assert_int_equal(cfg->routes[0].max_message_bytes, 65536);
    gw_config_free(cfg);
}

static void test_gw_config_defaults(void **state)
{
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(parse(MINI, &cfg, &d), 0);
    assert_string_equal(cfg->listen[0].addr.text, "127.0.0.1:8080");
    assert_false(cfg->has_admin);
    assert_false(cfg->jwt.enabled);
    assert_int_equal(cfg->limits.max_connections, 100000);
    assert_int_equal(cfg->limits.max_connections_per_ip, 1000);
    assert_int_equal(cfg->limits.handshakes_per_ip_per_s, 50);
    assert_int_equal(cfg->limits.max_message_bytes, 65536);
    assert_int_equal(cfg->limits.messages_per_s, 50);
    assert_int_equal(cfg->limits.idle_timeout_s, 60);
    assert_int_equal(cfg->limits.ping_interval_s, 25);
    assert_int_equal(cfg->limits.handshake_timeout_s, 10);
    assert_int_equal(cfg->limits.drain_timeout_s, 10);
    assert_int_equal(cfg->limits.max_body_bytes, 1048576);
    assert_int_equal(cfg->limits.max_header_bytes, 16384);
    assert_true(cfg->access_log);
    assert_int_equal(cfg->upstreams[0].balance, GW_BALANCE_ROUND_ROBIN);
    assert_int_equal(cfg->routes[0].auth, GW_AUTH_NONE);
    assert_false(cfg->routes[0].websocket);
    gw_config_free(cfg);
}

static void test_gw_config_upstream_protocol(void **state)
{
    gw_config *cfg = NULL;
    gw_diag d;
    const char *t = "upstreams: {n: {servers: [127.0.0.1:7070], protocol: herald-link},\n"
                    "            h: {servers: [127.0.0.1:9000], protocol: http}}\n"
                    "routes: [{path: /ws, upstream: n, websocket: true}, {path: /, upstream: h},\n"
                    "         {path: /sse, upstream: n}]\n"; /* a GET stream over the link */
    assert_int_equal(parse(t, &cfg, &d), 0);
    assert_false(cfg->routes[2].websocket);
    assert_true(cfg->upstreams[0].link);
    assert_false(cfg->upstreams[1].link);
    gw_config_free(cfg);
}

static void test_gw_config_listen_forms(void **state)
{
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(parse("listen:\n  - 127.0.0.1:1\n  - {addr: '[::1]:2', tls: {cert: c.pem, "
                           "key: k.pem}}\n" MINI,
                           &cfg, &d),
                     0);
    assert_int_equal(cfg->n_listen, 2);
    assert_true(cfg->listen[1].addr.v6);
    assert_string_equal(cfg->listen[1].addr.text, "[::1]:2");
    assert_string_equal(cfg->listen[1].tls_cert, "c.pem");
    assert_null(cfg->listen[0].tls_cert);
    gw_config_free(cfg);
    assert_int_equal(parse("listen: localhost:80\n" MINI, &cfg, &d), 0);
    assert_string_equal(cfg->listen[0].addr.host, "127.0.0.1");
    gw_config_free(cfg);
}

static void test_gw_config_route_limits_and_host(void **state)
{
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(parse("upstreams: {n: {servers: [127.0.0.1:7070]}}\n"
                           "routes: [{path: /a, host: EXAMPLE.com, upstream: n, limits: "
                           "{max_message_bytes: 100, messages_per_s: 3}}]\n",
                           &cfg, &d),
                     0);
    assert_string_equal(cfg->routes[0].host, "example.com");
    assert_int_equal(cfg->routes[0].max_message_bytes, 100);
    assert_int_equal(cfg->routes[0].messages_per_s, 3);
    gw_config_free(cfg);
}

static void test_gw_config_syntax(void **state)
{
    expect_error("listen: [\n", "gateway.yaml:2: YAML syntax");
    expect_error("", "gateway.yaml:1: empty configuration");
    expect_error("- a\n", "expected a mapping, got a list");
    expect_error(MINI "---\nlisten: 127.0.0.1:1\n", "only one YAML document");
}

static void test_gw_config_unknown_and_duplicate(void **state)
{
    expect_error(MINI "colour: red\n", "gateway.yaml:3: unknown key 'colour'");
    expect_error(MINI "limits: {max_conections: 1}\n", "gateway.yaml:3: limits: unknown key "
                                                       "'max_conections'");
    expect_error(MINI "access_log: on\naccess_log: off\n", ":4: duplicate key 'access_log'");
    expect_error("upstreams: {n: {servers: [127.0.0.1:1], weight: 2}}\nroutes: [{path: /, "
                 "upstream: n}]\n",
                 "upstreams.n: unknown key 'weight'");
    expect_error("upstreams: {n: {servers: [127.0.0.1:1]}}\nroutes: [{path: /, upstream: n, "
                 "cache: 1}]\n",
                 "gateway.yaml:2: routes[0]: unknown key 'cache'");
}

static void test_gw_config_types(void **state)
{
    expect_error(MINI "limits: {max_connections: lots}\n",
                 "gateway.yaml:3: limits.max_connections: expected an integer");
    expect_error(MINI "limits: {max_connections: -1}\n", "expected an integer");
    expect_error(MINI "limits: {max_connections: 0}\n", "must be between 1 and");
    expect_error(MINI "limits: {max_connections: 99999999999999999999999}\n", "expected an "
                                                                              "integer");
    expect_error(MINI "limits: {max_connections: 18446744073709551616}\n", "out of range");
    expect_error(MINI "access_log: maybe\n", "access_log: expected true or false");
    expect_error(MINI "limits: [1]\n", "limits: expected a mapping, got a list");
    expect_error(MINI "allowed_origins: x\n", "allowed_origins: expected a list, got a scalar");
    expect_error(MINI "allowed_origins: [[a]]\n", "allowed_origins[0]: expected a scalar");
    expect_error(MINI "allowed_origins: ['']\n", "expected a non-empty string");
    expect_error(MINI "limits: {ping_interval_s: 60, idle_timeout_s: 60}\n",
                 "limits.ping_interval_s: must be below idle_timeout_s");
}

static void test_gw_config_addresses(void **state)
{
    expect_error("listen: 127.0.0.1\n" MINI, "gateway.yaml:1: listen: bad address '127.0.0.1'");
    expect_error("listen: 127.0.0.1:0\n" MINI, "bad address");
    expect_error("listen: 127.0.0.1:65536\n" MINI, "bad address");
    expect_error("listen: 300.0.0.1:80\n" MINI, "bad address");
    expect_error("listen: example.com:80\n" MINI, "bad address");
    expect_error("listen: '[::1:80'\n" MINI, "bad address");
    expect_error("listen: []\n" MINI, "listen: needs at least one address");
    expect_error("listen: [{tls: {cert: a, key: b}}]\n" MINI, "listen[0]: missing addr");
    expect_error("listen: [{addr: 127.0.0.1:1, tls: {cert: a}}]\n" MINI,
                 "listen[0].tls: needs both cert and key");
    expect_error("admin_listen: nowhere\n" MINI, "admin_listen: bad address 'nowhere'");
    expect_error("upstreams: {n: {servers: [127.0.0.1:1, 'x:y']}}\nroutes: [{path: /, upstream: "
                 "n}]\n",
                 "gateway.yaml:1: upstreams.n.servers[1]: bad address 'x:y'");
}

static void test_gw_config_upstreams(void **state)
{
    expect_error("upstreams: {n: {balance: round_robin}}\nroutes: [{path: /, upstream: n}]\n",
                 "upstreams.n: missing 'servers'");
    expect_error("upstreams: {n: {servers: []}}\nroutes: [{path: /, upstream: n}]\n",
                 "upstreams.n.servers: needs at least one server");
    expect_error("upstreams: {n: {servers: [127.0.0.1:1], balance: random}}\nroutes: [{path: "
                 "/, upstream: n}]\n",
                 "upstreams.n.balance: expected round_robin, least_conn or hash_user");
    expect_error("upstreams: {n: {servers: [127.0.0.1:1], protocol: https}}\nroutes: [{path: "
                 "/, upstream: n}]\n",
                 "upstreams.n.protocol: unsupported protocol");
    expect_error("upstreams: {n: {servers: [127.0.0.1:1], health_check: {path: healthz}}}\n"
                 "routes: [{path: /, upstream: n}]\n",
                 "upstreams.n.health_check.path: must start with '/'");
    expect_error("upstreams: {n: {servers: [127.0.0.1:1], health_check: {rise: 0}}}\n"
                 "routes: [{path: /, upstream: n}]\n",
                 "upstreams.n.health_check.rise: must be between 1 and 1000");
    expect_error("upstreams: []\nroutes: [{path: /, static: x}]\n",
                 "upstreams: expected a mapping");
}

static void test_gw_config_routes(void **state)
{
    expect_error("upstreams: {n: {servers: [127.0.0.1:1]}}\n", "gateway.yaml:1: routes: missing");
    expect_error(MINI "routes: []\n", "duplicate key 'routes'");
    expect_error("routes: []\n", "routes: needs at least one route");
    expect_error("upstreams: {n: {servers: [127.0.0.1:1]}}\nroutes:\n  - {path: /, upstream: "
                 "n}\n  - {path: /x, upstream: x}\n",
                 "gateway.yaml:4: routes[1].upstream: no upstream named 'x'");
    expect_error("routes: [{upstream: n}]\n", "routes[0]: missing 'path'");
    expect_error("routes: [{path: x, static: d}]\n", "routes[0].path: must start with '/'");
    expect_error("routes: [{path: '/a b', static: d}]\n", "routes[0].path: must not contain");
    expect_error("routes: [{path: /}]\n", "routes[0]: needs exactly one of 'upstream' or "
                                          "'static'");
    expect_error("upstreams: {n: {servers: [127.0.0.1:1]}}\nroutes: [{path: /, static: d, "
                 "upstream: n}]\n",
                 "needs exactly one of");
    expect_error("routes: [{path: /, static: d, websocket: true}]\n",
                 "routes[0].websocket: a static route cannot be a websocket route");
    expect_error("routes: [{path: /, static: d, auth: maybe}]\n",
                 "routes[0].auth: expected none, optional or required");
    expect_error("routes: [{path: /, static: d, auth: required}]\n",
                 "routes[0].auth: needs auth.jwt to be configured");
    expect_error("routes: [{path: /, static: d}, {path: /, static: e}]\n",
                 "routes[1].path: same host and path as routes[0]");
    expect_error("routes: [{path: /, static: d, host: 'a:80'}]\n", "routes[0].host: must be a "
                                                                   "bare host name");
    expect_error("routes: [{path: /, static: d, limits: {idle_timeout_s: 3}}]\n",
                 "routes[0].limits: unknown key 'idle_timeout_s'");
}

static void test_gw_config_jwt(void **state)
{
    expect_error("auth: {jwt: {algorithms: [HS384], secret: s}}\n" MINI,
                 "unsupported algorithm 'HS384' (HS256, RS256 or ES256)");
    expect_error("auth: {jwt: {algorithms: [none], secret: s}}\n" MINI,
                 "auth.jwt.algorithms: unsupported algorithm 'none'");
    expect_error("auth: {jwt: {algorithms: [], secret: s}}\n" MINI,
                 "auth.jwt.algorithms: needs at least one algorithm");
    expect_error("auth: {jwt: {algorithms: [HS256]}}\n" MINI, "auth.jwt: HS* algorithms need "
                                                              "'secret'");
    expect_error("auth: {jwt: {algorithms: [RS256]}}\n" MINI,
                 "auth.jwt: RS*/ES* algorithms need 'public_key_file'");
    expect_error("auth: {jwt: {algorithms: [HS256, RS256], secret: s}}\n" MINI,
                 "mixing HS* with RS*/ES*");
    expect_error("auth: {jwt: {algorithms: [ES256], public_key_file: k, secret: s}}\n" MINI,
                 "'secret' given but algorithms are RS*/ES*");
    expect_error("auth: {jwt: {secret: s, public_key_file: k}}\n" MINI,
                 "'public_key_file' given but algorithms are HS*");
    expect_error("auth: {oauth: {}}\n" MINI, "auth: unknown key 'oauth'");
    expect_error("auth: {jwt: {secret: s, leeway_s: 100000}}\n" MINI,
                 "auth.jwt.leeway_s: must be between 0 and 86400");
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(parse("auth: {jwt: {secret: s}}\n" MINI, &cfg, &d), 0);
    assert_string_equal(cfg->jwt.algorithms[0], "HS256");
    gw_config_free(cfg);
}

static void test_gw_config_aliases_bounded(void **state)
{
    /* A self-referencing alias must not loop: the walk follows the schema. */
    expect_error("routes: &r [*r]\n", "routes[0]: expected a mapping");
    expect_error(MINI "limits: &l {a: *l}\n", "unknown key 'a'");
}

static void test_gw_config_load_missing_file(void **state)
{
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(gw_config_load("/nonexistent/gw.yaml", &cfg, &d), HR_EINVAL);
    /* a missing file is named as a file, not as line 1 of it (issue 19) */
    assert_non_null(strstr(d.msg, "/nonexistent/gw.yaml: cannot read: No such file"));
    assert_null(strstr(d.msg, "gw.yaml:1"));
}

static void test_gw_config_load_rebases_paths(void **state)
{
    char dir[] = "/tmp/gwcfgXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/gw.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("auth: {jwt: {algorithms: [RS256], public_key_file: k.pem}}\n"
          "routes: [{path: /, static: web/}, {path: /a, static: /abs}]\n",
          f);
    fclose(f);
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(gw_config_load(path, &cfg, &d), 0);
    char want[160];
    snprintf(want, sizeof want, "%s/web/", dir);
    assert_string_equal(cfg->routes[0].static_dir, want);
    assert_string_equal(cfg->routes[1].static_dir, "/abs");
    snprintf(want, sizeof want, "%s/k.pem", dir);
    assert_string_equal(cfg->jwt.public_key_file, want);
    gw_config_free(cfg);
    unlink(path);
    rmdir(dir);
}

/* A relative path missing next to the config but present in the working
 * directory keeps the working-directory meaning. */
static void test_gw_config_load_falls_back_to_cwd(void **state)
{
    (void)state;
    char dir[] = "/tmp/gwcfgXXXXXX";
    assert_non_null(mkdtemp(dir));
    char cwd_dir[] = "gwcwdXXXXXX";
    assert_non_null(mkdtemp(cwd_dir));
    char path[128];
    snprintf(path, sizeof path, "%s/gw.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "routes: [{path: /, static: %s}]\n", cwd_dir);
    fclose(f);
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(gw_config_load(path, &cfg, &d), 0);
    assert_string_equal(cfg->routes[0].static_dir, cwd_dir);
    assert_int_equal(gw_config_check_files(cfg, &d), 0);
    gw_config_free(cfg);
    unlink(path);
    rmdir(dir);
    rmdir(cwd_dir);
}

static void test_gw_config_check_files(void **state)
{
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(parse("upstreams: {n: {servers: [127.0.0.1:1]}}\nroutes:\n  - {path: /, "
                           "upstream: n}\n  - {path: /s, static: /nonexistent-dir}\n",
                           &cfg, &d),
                     0);
    assert_int_equal(gw_config_check_files(cfg, &d), HR_EINVAL);
    assert_non_null(strstr(d.msg, "gateway.yaml:4: routes[1].static: cannot read"));
    gw_config_free(cfg);
}

/* Issue 13 item 3: every cross-check names the value at fault, also in a
 * route written over several lines. */
#define UP "upstreams: {n: {servers: [127.0.0.1:1]}}\n"

static void test_gw_config_at_unknown_upstream(void **state)
{
    (void)state;
    expect_at(UP "routes:\n  - path: /x\n    websocket: true\n    upstream: nope\n",
              "routes[0].upstream: no upstream named 'nope'", 5, 15);
}

static void test_gw_config_at_auth_without_jwt(void **state)
{
    (void)state;
    expect_at(UP "routes:\n  - path: /x\n    upstream: n\n    auth:   required\n",
              "routes[0].auth: needs auth.jwt to be configured", 5, 13);
}

static void test_gw_config_at_duplicate_path(void **state)
{
    (void)state;
    expect_at(UP "routes:\n  - path: /x\n    upstream: n\n  - upstream: n\n    path: /x\n",
              "routes[1].path: same host and path as routes[0]", 6, 11);
}

static void test_gw_config_at_ping_interval(void **state)
{
    (void)state;
    expect_at(MINI "limits:\n  idle_timeout_s: 5\n  ping_interval_s: 9\n",
              "limits.ping_interval_s: must be below idle_timeout_s (5)", 5, 20);
    /* not written: the default is at fault, named at the top of the file */
    expect_at(MINI "limits:\n  idle_timeout_s: 5\n",
              "limits.ping_interval_s: must be below idle_timeout_s (5)", 1, 1);
}

static void test_gw_config_at_routes_missing(void **state)
{
    (void)state;
    expect_at(UP, "routes: missing", 1, 1);
}

static void test_gw_config_at_route_checks(void **state)
{
    (void)state;
    expect_at("routes:\n  - static: d\n    path: x\n", "routes[0].path: must start with '/'", 3,
              11);
    expect_at("routes:\n  - static: d\n    path: '/a?b'\n", "routes[0].path: must not contain", 3,
              11);
    expect_at("routes:\n  - static: d\n    path: /\n    host: a:80\n",
              "routes[0].host: must be a bare host name", 4, 11);
    expect_at(UP "routes:\n  - path: /\n    upstream: n\n    static: d\n",
              "routes[0].static: needs exactly one of 'upstream' or 'static'", 5, 13);
    expect_at("routes:\n  - path: /\n    static: d\n    websocket: yes\n",
              "routes[0].websocket: a static route cannot be a websocket route", 4, 16);
    /* nothing to point at: the route's own mapping */
    expect_at("routes:\n  - path: /\n    strip_prefix: true\n",
              "routes[0]: needs exactly one of 'upstream' or 'static'", 2, 5);
}

static void test_gw_config_at_jwt_checks(void **state)
{
    (void)state;
    expect_at("auth:\n  jwt:\n    secret: s\n    algorithms: [HS256, RS256]\n" MINI,
              "auth.jwt.algorithms: mixing HS* with RS*/ES*", 4, 17);
    expect_at("auth:\n  jwt:\n    secret: s\n    public_key_file: k.pem\n" MINI,
              "auth.jwt.public_key_file: 'public_key_file' given but algorithms are HS*", 4, 22);
    expect_at("auth:\n  jwt:\n    algorithms: [ES256]\n    public_key_file: k\n    secret: s\n" MINI,
              "auth.jwt.secret: 'secret' given but algorithms are RS*/ES*", 5, 13);
    expect_at("auth:\n  jwt:\n    issuer: me\n" MINI, "auth.jwt: HS* algorithms need 'secret'", 3,
              5);
}

/* The file checks run after the parse and still name the value's place. */
static void expect_files_at(const char *text, const char *path_and_msg, int line, int col)
{
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(parse(text, &cfg, &d), 0);
    assert_int_equal(gw_config_check_files(cfg, &d), HR_EINVAL);
    char want[256];
    snprintf(want, sizeof want, "gateway.yaml:%d: %s", line, path_and_msg);
    char tail[32];
    snprintf(tail, sizeof tail, " (column %d)", col);
    if (strstr(d.msg, want) == NULL || strstr(d.msg, tail) == NULL)
        fail_msg("want \"%s\" ... \"%s\", got \"%s\"", want, tail, d.msg);
    gw_config_free(cfg);
}

static void test_gw_config_at_files(void **state)
{
    (void)state;
    expect_files_at(UP "routes:\n  - path: /\n    upstream: n\n  - path: /s\n"
                       "    static: /nonexistent-dir\n",
                    "routes[1].static: cannot read '/nonexistent-dir'", 6, 13);
    expect_files_at("routes:\n  - path: /s\n    static: /etc/hostname\n",
                    "routes[0].static: '/etc/hostname' is not a directory", 3, 13);
    expect_files_at("listen:\n  - addr: 127.0.0.1:1\n    tls:\n      cert: /nonexistent.pem\n"
                    "      key: /nonexistent.key\n" MINI,
                    "listen.tls.cert: cannot read '/nonexistent.pem'", 4, 13);
    expect_files_at("listen:\n  - addr: 127.0.0.1:1\n    tls:\n      cert: /etc/hostname\n"
                    "      key: /nonexistent.key\n" MINI,
                    "listen.tls.key: cannot read '/nonexistent.key'", 5, 12);
    expect_files_at("auth:\n  jwt:\n    algorithms: [RS256]\n    public_key_file: /nonexistent\n" MINI,
                    "auth.jwt.public_key_file: cannot read '/nonexistent'", 4, 22);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_config_example),
        cmocka_unit_test(test_gw_config_defaults),
        cmocka_unit_test(test_gw_config_upstream_protocol),
        cmocka_unit_test(test_gw_config_listen_forms),
        cmocka_unit_test(test_gw_config_route_limits_and_host),
        cmocka_unit_test(test_gw_config_syntax),
        cmocka_unit_test(test_gw_config_unknown_and_duplicate),
        cmocka_unit_test(test_gw_config_types),
        cmocka_unit_test(test_gw_config_addresses),
        cmocka_unit_test(test_gw_config_upstreams),
        cmocka_unit_test(test_gw_config_routes),
        cmocka_unit_test(test_gw_config_jwt),
        cmocka_unit_test(test_gw_config_aliases_bounded),
        cmocka_unit_test(test_gw_config_load_missing_file),
        cmocka_unit_test(test_gw_config_load_rebases_paths),
        cmocka_unit_test(test_gw_config_load_falls_back_to_cwd),
        cmocka_unit_test(test_gw_config_check_files),
        cmocka_unit_test(test_gw_config_at_unknown_upstream),
        cmocka_unit_test(test_gw_config_at_auth_without_jwt),
        cmocka_unit_test(test_gw_config_at_duplicate_path),
        cmocka_unit_test(test_gw_config_at_ping_interval),
        cmocka_unit_test(test_gw_config_at_routes_missing),
        cmocka_unit_test(test_gw_config_at_route_checks),
        cmocka_unit_test(test_gw_config_at_jwt_checks),
        cmocka_unit_test(test_gw_config_at_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

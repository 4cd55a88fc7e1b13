/* Unit tests for gateway routing: host + longest prefix, and target rewriting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/route.h"
#include "gw_config_load.h"

static const char *const routes =
    "upstreams: {n: {servers: [127.0.0.1:1]}, o: {servers: [127.0.0.1:2]}}\n"
    "routes:\n"
    "  - {path: /, static: web/}\n"                         /* 0 */
    "  - {path: /ws, upstream: n, websocket: true}\n"       /* 1 */
    "  - {path: /api/, upstream: o, strip_prefix: true}\n"  /* 2 */
    "  - {path: /api/v2/, upstream: n}\n"                   /* 3 */
    "  - {path: /api/, host: admin.example, upstream: n}\n" /* 4 */
    "  - {path: /ws, upstream: o, strip_token: true, host: b.example}\n" /* 5 */;

static int match(const gw_config *cfg, const char *host, const char *path)
{
    const gw_route_cfg *r = gw_route_match(cfg, host, strlen(host), path, strlen(path));
    return r == NULL ? -1 : (int)(r - cfg->routes);
}

static void test_gw_route_longest_prefix(void **state)
{
    gw_config *cfg = load_gw_config(routes);
    assert_int_equal(match(cfg, "", "/"), 0);
    assert_int_equal(match(cfg, "x", "/index.html"), 0);
    assert_int_equal(match(cfg, "x", "/ws"), 1);
    assert_int_equal(match(cfg, "x", "/api"), 0);
    assert_int_equal(match(cfg, "x", "/api/orders"), 2);
    assert_int_equal(match(cfg, "x", "/api/v2/orders"), 3);
    gw_config_free(cfg);
}

static void test_gw_route_host(void **state)
{
    gw_config *cfg = load_gw_config(routes);
    assert_int_equal(match(cfg, "admin.example", "/api/v2/x"), 4);
    assert_int_equal(match(cfg, "ADMIN.example:8080", "/api/x"), 4);
    assert_int_equal(match(cfg, "admin.example", "/ws"), 1); /* host routes lack /ws: fall back */
    assert_int_equal(match(cfg, "b.example", "/ws?x"), 5);
    assert_int_equal(match(cfg, "b.examplex", "/ws"), 1);
    gw_config_free(cfg);
}

static void test_gw_route_no_match(void **state)
{
    gw_config *cfg = load_gw_config("upstreams: {n: {servers: [127.0.0.1:1]}}\n"
                                    "routes: [{path: /ws, upstream: n}]\n");
    assert_int_equal(match(cfg, "", "/"), -1);
    assert_int_equal(match(cfg, "", "/w"), -1);
    gw_config_free(cfg);
}

static void rewrite(const gw_config *cfg, int route, const char *target, const char *want)
{
    char out[256];
    size_t n = gw_route_rewrite(&cfg->routes[route], target, strlen(target), out, sizeof out);
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
}

static void test_gw_route_rewrite(void **state)
{
    gw_config *cfg = load_gw_config(routes);
    rewrite(cfg, 1, "/ws?token=abc&channels=a", "/ws?token=abc&channels=a");
    rewrite(cfg, 2, "/api/orders?x=1", "/orders?x=1");
    rewrite(cfg, 2, "/api/", "/");
    rewrite(cfg, 5, "/ws?token=abc&channels=a", "/ws?channels=a");
    rewrite(cfg, 5, "/ws?channels=a&token=abc", "/ws?channels=a");
    rewrite(cfg, 5, "/ws?token", "/ws");
    rewrite(cfg, 5, "/ws?tokens=1&token=2", "/ws?tokens=1");
    rewrite(cfg, 5, "/ws?", "/ws");
    rewrite(cfg, 5, "/ws", "/ws");
    char small[4];
    assert_int_equal(gw_route_rewrite(&cfg->routes[1], "/ws?a=1", 7, small, sizeof small), 0);
    gw_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_route_longest_prefix),
        cmocka_unit_test(test_gw_route_host),
        cmocka_unit_test(test_gw_route_no_match),
        cmocka_unit_test(test_gw_route_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

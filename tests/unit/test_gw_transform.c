/* Unit tests for the gateway side of the transformation layer: the route
 * keys script / script_on_error and the limits script_timeout_ms /
 * script_memory_mb (defaults, values, refusals), the compile check that
 * --check and reload run (file:line of the script), and the merge of a
 * script's upstream headers over the gateway's. The hooks themselves are
 * test_script.c's; the relay is tests/e2e/transform.test.mjs's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "gateway/config.h"
#include "gateway/transform.h"

static int parse(const char *yaml, gw_config **cfg, gw_diag *d)
{
    return gw_config_parse(yaml, strlen(yaml), "t.yaml", cfg, d);
}

#define BASE                                                                                       \
    "upstreams:\n  u:\n    servers: [\"127.0.0.1:9000\"]\n"                                        \
    "routes:\n  - path: /ws\n    upstream: u\n    websocket: true\n"

static void test_gw_transform_config_keys(void **state)
{
    (void)state;
    gw_config *cfg = NULL;
    gw_diag d;
    assert_int_equal(parse(BASE, &cfg, &d), 0);
    assert_null(cfg->routes[0].script);
    assert_int_equal(cfg->routes[0].script_on_error, GW_SCRIPT_ON_ERROR_DROP);
    assert_int_equal(cfg->limits.script_timeout_ms, 5);
    assert_int_equal(cfg->limits.script_memory_mb, 64);
    gw_config_free(cfg);

    assert_int_equal(parse(BASE "    script: t/x.lua\n    script_on_error: close\n"
                                "limits:\n  script_timeout_ms: 20\n  script_memory_mb: 8\n",
                           &cfg, &d),
                     0);
    assert_string_equal(cfg->routes[0].script, "t/x.lua");
    assert_int_equal(cfg->routes[0].script_on_error, GW_SCRIPT_ON_ERROR_CLOSE);
    assert_int_equal(cfg->limits.script_timeout_ms, 20);
    assert_int_equal(cfg->limits.script_memory_mb, 8);
    gw_config_free(cfg);

    assert_int_equal(parse(BASE "    script_on_error: ignore\n", &cfg, &d), HR_EINVAL);
    assert_non_null(strstr(d.msg, "t.yaml:8: routes[0].script_on_error"));
    assert_int_equal(parse(BASE "limits:\n  script_timeout_ms: 0\n", &cfg, &d), HR_EINVAL);
    assert_non_null(strstr(d.msg, "script_timeout_ms"));
    assert_int_equal(parse("upstreams:\n  u:\n    servers: [\"127.0.0.1:9000\"]\n"
                           "routes:\n  - path: /api\n    upstream: u\n    script: a.lua\n",
                           &cfg, &d),
                     HR_EINVAL);
    assert_non_null(strstr(d.msg, "routes[0].script: scripts run on websocket routes only"));
}

/* gw_config_check_files compiles the scripts: a syntax error is file:line. */
static void test_gw_transform_check(void **state)
{
    (void)state;
    char good[] = "/tmp/herald-gwt-XXXXXX.lua", bad[] = "/tmp/herald-gwt-XXXXXX.lua";
    int fd = mkstemps(good, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "function on_event(e) return e end\n", 34), 34);
    close(fd);
    fd = mkstemps(bad, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "function on_event(e)\n  return e +\nend\n", 38), 38);
    close(fd);
    char yaml[512];
    gw_config *cfg = NULL;
    gw_diag d;
    snprintf(yaml, sizeof yaml, BASE "    script: %s\n", good);
    assert_int_equal(parse(yaml, &cfg, &d), 0);
    assert_int_equal(gw_config_check_files(cfg, &d), 0);
    gw_config_free(cfg);
    snprintf(yaml, sizeof yaml, BASE "    script: %s\n", bad);
    assert_int_equal(parse(yaml, &cfg, &d), 0);
    assert_int_equal(gw_config_check_files(cfg, &d), HR_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "%s:3:", bad);
    assert_non_null(strstr(d.msg, want));
    gw_config_free(cfg);
    snprintf(yaml, sizeof yaml, BASE "    script: /nonexistent/x.lua\n");
    assert_int_equal(parse(yaml, &cfg, &d), 0);
    assert_int_equal(gw_config_check_files(cfg, &d), HR_EINVAL);
    assert_non_null(strstr(d.msg, "routes[0].script: cannot read"));
    gw_config_free(cfg);
    unlink(good);
    unlink(bad);
}

static void test_gw_transform_merge_headers(void **state)
{
    (void)state;
    char *m = gw_transform_merge_headers("Host: a\r\nX-Herald-User: bob\r\nX-Forwarded-For: 1\r\n",
                                         "x-herald-user: alice\r\nX-Extra: 1\r\n");
    assert_string_equal(m,
                        "Host: a\r\nX-Forwarded-For: 1\r\nx-herald-user: alice\r\nX-Extra: 1\r\n");
    free(m);
    m = gw_transform_merge_headers("", "A: 1\r\n");
    assert_string_equal(m, "A: 1\r\n");
    free(m);
    m = gw_transform_merge_headers("X-Herald-Users: keep\r\n", "X-Herald-User: x\r\n");
    assert_string_equal(m, "X-Herald-Users: keep\r\nX-Herald-User: x\r\n");
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_transform_config_keys),
        cmocka_unit_test(test_gw_transform_check),
        cmocka_unit_test(test_gw_transform_merge_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/gateway/script_test (herald-gateway --script-test):
 * the output line of every hook and outcome, conn.state kept per conn id,
 * the view key taken from view_key(conn), unreadable lines, and exit 2 with
 * file:line for a script that does not compile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/script_test.h"

static const char SCRIPT[] =
    "function on_connect(req)\n"
    "  if req.query.deny then return false, 401, 'no' end\n"
    "  return {headers = {['X-Herald-User'] = req.query.user}}\n"
    "end\n"
    "function view_key(conn) return conn.claims.currency end\n"
    "function on_event(event, key)\n"
    "  if event.data.secret then return nil end\n"
    "  event.data.currency = key\n"
    "  return event\n"
    "end\n"
    "function on_client_message(msg, conn)\n"
    "  conn.state.n = (conn.state.n or 0) + 1\n"
    "  if msg.text == 'bye' then return {close = 4003, reason = 'bye'} end\n"
    "  if msg.text == 'drop' then return nil end\n"
    "  if msg.text == 'loop' then while true do end end\n"
    "  return {reply = {n = conn.state.n}}\n"
    "end\n";

typedef struct run_result {
    int status;
    char *out, *err;
} run_result;

static run_result run(const char *script, const char *input)
{
    char path[] = "/tmp/herald-script-test-XXXXXX.lua";
    const int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
    close(fd);
    FILE *in = fmemopen((void *)input, strlen(input), "r");
    run_result r = {0};
    size_t on = 0, en = 0;
    FILE *out = open_memstream(&r.out, &on), *err = open_memstream(&r.err, &en);
    assert_non_null(in);
    r.status = gw_script_test_main(path, in, out, err);
    fclose(in);
    fclose(out);
    fclose(err);
    unlink(path);
    return r;
}

static void test_gw_script_test_hooks(void **state)
{
    (void)state;
    run_result r = run(
        SCRIPT,
        "{\"hook\":\"on_connect\",\"req\":{\"query\":{\"user\":\"alice\"}}}\n"
        "{\"hook\":\"on_connect\",\"req\":{\"query\":{\"deny\":\"1\"}}}\n"
        "\n"
        "{\"hook\":\"view_key\",\"conn\":{\"id\":\"c1\",\"claims\":{\"currency\":\"usd\"}}}\n"
        "{\"hook\":\"on_event\",\"event\":{\"channel\":\"orders\",\"id\":\"1-0\",\"data\":{\"p\":1}"
        "},"
        "\"conn\":{\"id\":\"c2\",\"claims\":{\"currency\":\"eur\"}}}\n"
        "{\"hook\":\"on_event\",\"event\":{\"channel\":\"orders\",\"id\":\"2-0\","
        "\"data\":{\"secret\":true}},\"key\":\"eur\"}\n"
        "{\"hook\":\"on_client_message\",\"msg\":{\"text\":\"hi\"},\"conn\":{\"id\":\"c1\"}}\n"
        "{\"hook\":\"on_client_message\",\"msg\":{\"data\":{\"x\":[]}},\"conn\":{\"id\":\"c1\"}}\n"
        "{\"hook\":\"on_client_message\",\"msg\":{\"text\":\"drop\"},\"conn\":{\"id\":\"c1\"}}\n"
        "{\"hook\":\"on_client_message\",\"msg\":{\"text\":\"bye\"},\"conn\":{\"id\":\"c1\"}}\n"
        "{\"hook\":\"on_server_message\",\"msg\":{\"text\":\"as is\"}}\n"
        "{\"hook\":\"on_client_message\",\"msg\":{\"text\":\"loop\"}}\n");
    const char *want =
        "{\"hook\":\"on_connect\",\"result\":\"ok\",\"accept\":true,\"headers\":"
        "{\"X-Herald-User\":\"alice\"}}\n"
        "{\"hook\":\"on_connect\",\"result\":\"ok\",\"accept\":false,\"http_status\":401,"
        "\"text\":\"no\"}\n"
        "{\"hook\":\"view_key\",\"result\":\"ok\",\"key\":\"usd\"}\n"
        "{\"hook\":\"on_event\",\"result\":\"ok\",\"key\":\"eur\",\"action\":\"deliver\","
        "\"changed\":true,\"event\":{\"type\":\"event\",\"channel\":\"orders\",\"id\":\"1-0\","
        "\"data\":{\"currency\":\"eur\",\"p\":1}}}\n"
        "{\"hook\":\"on_event\",\"result\":\"ok\",\"key\":\"eur\",\"action\":\"drop\","
        "\"changed\":false}\n"
        "{\"hook\":\"on_client_message\",\"result\":\"ok\",\"action\":\"reply\","
        "\"text\":\"{\\\"n\\\":1}\"}\n"
        "{\"hook\":\"on_client_message\",\"result\":\"ok\",\"action\":\"reply\","
        "\"text\":\"{\\\"n\\\":2}\"}\n"
        "{\"hook\":\"on_client_message\",\"result\":\"ok\",\"action\":\"drop\"}\n"
        "{\"hook\":\"on_client_message\",\"result\":\"ok\",\"action\":\"close\",\"code\":4003,"
        "\"reason\":\"bye\"}\n"
        "{\"hook\":\"on_server_message\",\"result\":\"ok\",\"action\":\"forward\","
        "\"changed\":false,\"text\":\"as is\"}\n"
        "{\"hook\":\"on_client_message\",\"result\":\"timeout\",\"error\":"
        "\"script ran past its time limit (5 ms)\"}\n";
    assert_string_equal(r.out, want);
    assert_int_equal(r.status, 0);
    free(r.out);
    free(r.err);
}

static void test_gw_script_test_bad_lines(void **state)
{
    (void)state;
    run_result r = run(SCRIPT, "not json\n{\"hook\":\"nope\"}\n[1]\n");
    assert_string_equal(r.out, "{\"line\":1,\"error\":\"'[' or '{' expected near 'not'\"}\n"
                               "{\"hook\":\"nope\",\"error\":\"unknown hook\"}\n"
                               "{\"line\":3,\"error\":\"a line must be an object\"}\n");
    assert_int_equal(r.status, 1);
    free(r.out);
    free(r.err);
}

static void test_gw_script_test_compile_error(void **state)
{
    (void)state;
    run_result r = run("local x = 1\nx = = 2\n", "");
    assert_int_equal(r.status, 2);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, ".lua:2: unexpected symbol near '='"));
    free(r.out);
    free(r.err);
    r = run("log('info', 'hello')", "");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "log info: hello"));
    free(r.out);
    free(r.err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_script_test_hooks),
        cmocka_unit_test(test_gw_script_test_bad_lines),
        cmocka_unit_test(test_gw_script_test_compile_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

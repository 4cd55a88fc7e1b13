/* Unit tests for lib/script (engine and hooks): every forbidden global is
 * absent, compile errors name file:line, each limit is enforced and mapped
 * to its kind (also inside library code: pattern matching, string.rep, the
 * table library), the state keeps working after a failed call, and every
 * branch of the hook return conventions of SPEC §7. Time comes from an
 * injected clock that advances on every read, so no test depends on speed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "script/script.h"
#include "script/script_hooks.h"

typedef struct fake_clock {
    uint64_t now, step;
} fake_clock;

/* Each read advances step ns: with 10 µs a 5 ms deadline passes after 500
 * reads; with 0 time stands still (for tests that must not time out). */
static uint64_t tick_clock(void *ctx)
{
    fake_clock *c = ctx;
    c->now += c->step;
    return c->now;
}

typedef struct logged {
    char script[64], level[16], text[128];
    int n;
} logged;

static void capture_log(void *ctx, const char *script, const char *level, const char *text,
                        size_t len)
{
    logged *l = ctx;
    snprintf(l->script, sizeof l->script, "%s", script);
    snprintf(l->level, sizeof l->level, "%s", level);
    snprintf(l->text, sizeof l->text, "%.*s", (int)len, text);
    l->n++;
}

typedef struct fixture {
    fake_clock clock;
    logged log;
    hr_script_vm *vm;
    hr_script *s;
    hr_script_conn conn;
} fixture;

static fixture *fixture_new(size_t memory)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->clock.step = 10000;
    hr_script_config cfg = {.memory_max = memory,
                            .timeout_ns = 5000000,
                            .load_timeout_ns = 5000000,
                            .clock = tick_clock,
                            .clock_ctx = &f->clock,
                            .log = capture_log,
                            .log_ctx = &f->log};
    f->vm = hr_script_vm_new(&cfg);
    assert_non_null(f->vm);
    return f;
}

/* Loads text as "t/test.lua" and makes a conn {id = "c1", user = "alice"}. */
static fixture *with_script(const char *text)
{
    fixture *f = fixture_new(0);
    char err[256];
    const int rc = hr_script_load(f->vm, "t/test.lua", text, strlen(text), &f->s, err, sizeof err);
    if (rc != 0)
        fail_msg("load failed: %s", err);
    json_t *info =
        json_pack("{s:s, s:s, s:{s:s}}", "id", "c1", "user", "alice", "claims", "plan", "gold");
    assert_int_equal(hr_script_hooks_conn_init(f->vm, info, &f->conn), HR_SCRIPT_OK);
    json_decref(info);
    return f;
}

static void fixture_free(fixture *f)
{
    hr_script_hooks_conn_deinit(&f->conn);
    hr_script_hooks_conn_deinit(&f->conn);
    hr_script_free(f->s);
    hr_script_vm_free(f->vm);
    free(f);
}

/* Runs view_key and returns its status; the key lands in key. */
static hr_script_status view(fixture *f, char key[HR_SCRIPT_VIEW_KEY_MAX + 1])
{
    size_t len = 0;
    return hr_script_hooks_view_key(f->s, &f->conn, key, &len);
}

static int load_status(const char *text, char *err, size_t cap)
{
    fixture *f = fixture_new(0);
    hr_script *s = NULL;
    const int rc = hr_script_load(f->vm, "t/x.lua", text, strlen(text), &s, err, cap);
    hr_script_free(s);
    fixture_free(f);
    return rc;
}

/* ---- sandbox ---- */

static void test_script_forbidden_globals_absent(void **state)
{
    (void)state;
    static const char *const absent[] = {
        "io",          "os",          "require",        "package",
        "load",        "loadstring",  "loadfile",       "dofile",
        "debug",       "ffi",         "collectgarbage", "print",
        "string.dump", "(\"\").dump", "warn",           "module",
        "setfenv",     "getfenv",     "newproxy",       "rawget(_G, 'debug')",
    };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        char text[128], err[256];
        snprintf(text, sizeof text, "assert(%s == nil, 'present')", absent[i]);
        if (load_status(text, err, sizeof err) != 0)
            fail_msg("%s is reachable: %s", absent[i], err);
    }
    static const char *const present[] = {
        "json.encode", "json.decode",    "json.null",     "json.array", "json.object",
        "log",         "pcall",          "string.format", "table.sort", "math.floor",
        "utf8.char",   "coroutine.wrap", "setmetatable",  "_G.pairs",
    };
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++) {
        char text[128], err[256];
        snprintf(text, sizeof text, "assert(%s ~= nil, 'absent')", present[i]);
        if (load_status(text, err, sizeof err) != 0)
            fail_msg("%s is missing: %s", present[i], err);
    }
}

static void test_script_sandbox_guards(void **state)
{
    (void)state;
    char err[256];
    /* the string metatable is hidden, so no script can change it */
    assert_int_equal(load_status("assert(getmetatable('') == false)", err, sizeof err), 0);
    /* no finalizers: they would run outside any call's limits */
    assert_int_equal(load_status("setmetatable({}, {__gc = function() end})", err, sizeof err),
                     HR_EINVAL);
    assert_non_null(strstr(err, "__gc"));
    assert_int_equal(load_status("local t = setmetatable({}, {__index = {a = 1}}) assert(t.a == 1)",
                                 err, sizeof err),
                     0);
    /* scripts do not share globals or libraries */
    fixture *f = fixture_new(0);
    hr_script *a = NULL, *b = NULL;
    const char *ta = "string.upper = nil x = 1", *tb = "assert(x == nil and string.upper)";
    assert_int_equal(hr_script_load(f->vm, "a.lua", ta, strlen(ta), &a, err, sizeof err), 0);
    assert_int_equal(hr_script_load(f->vm, "b.lua", tb, strlen(tb), &b, err, sizeof err), 0);
    hr_script_free(a);
    hr_script_free(b);
    fixture_free(f);
}

static void test_script_compile_errors_name_file_line(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(load_status("x = = 1", err, sizeof err), HR_EINVAL);
    assert_non_null(strstr(err, "t/x.lua:1:"));
    assert_int_equal(load_status("local a = 1\nlocal b = 2\nfunction f(\n", err, sizeof err),
                     HR_EINVAL);
    assert_non_null(strstr(err, "t/x.lua:4:"));
    assert_int_equal(load_status("local t = nil\nt.x = 1", err, sizeof err), HR_EINVAL);
    assert_non_null(strstr(err, "t/x.lua:2:"));
    /* precompiled chunks are refused */
    assert_int_equal(load_status("\x1bLua\x54\x00", err, sizeof err), HR_EINVAL);
    /* a top level that loops forever is stopped */
    assert_int_equal(load_status("while true do end", err, sizeof err), HR_EINVAL);
    assert_non_null(strstr(err, "t/x.lua: script ran past its time limit"));
}

/* ---- limits ---- */

static void expect_view_status(const char *body, hr_script_status want)
{
    char text[512];
    snprintf(text, sizeof text, "function view_key(conn)\n%s\nend", body);
    fixture *f = with_script(text);
    f->clock.step = want == HR_SCRIPT_TIMEOUT ? 10000 : 0;
    char key[HR_SCRIPT_VIEW_KEY_MAX + 1];
    const hr_script_status got = view(f, key);
    if (got != want)
        fail_msg("%s: got %s, want %s (%s)", body, hr_script_status_name(got),
                 hr_script_status_name(want), hr_script_vm_error(f->vm));
    /* the state keeps working after any failure */
    const char *ok = "function view_key(c) return 'after' end";
    hr_script *s2 = NULL;
    char err[256];
    assert_int_equal(hr_script_load(f->vm, "t/ok.lua", ok, strlen(ok), &s2, err, sizeof err), 0);
    size_t len = 0;
    assert_int_equal(hr_script_hooks_view_key(s2, &f->conn, key, &len), HR_SCRIPT_OK);
    assert_string_equal(key, "after");
    hr_script_free(s2);
    fixture_free(f);
}

static void test_script_timeouts(void **state)
{
    (void)state;
    expect_view_status("while true do end", HR_SCRIPT_TIMEOUT);
    expect_view_status("local function f() return f() end return f()", HR_SCRIPT_TIMEOUT);
    /* pcall cannot swallow the timeout */
    expect_view_status("while true do pcall(function() while true do end end) end",
                       HR_SCRIPT_TIMEOUT);
    expect_view_status("local co = coroutine.wrap(function() while true do end end) co()",
                       HR_SCRIPT_TIMEOUT);
    /* inside C library code */
    expect_view_status("local s = string.rep('a', 30000) return tostring(s:find('.-.-.-.-.-.-b'))",
                       HR_SCRIPT_TIMEOUT);
    expect_view_status("local s = string.rep('a', 30000) "
                       "return tostring(string.match(s, '(.-)(.-)(.-)(.-)b'))",
                       HR_SCRIPT_TIMEOUT);
    expect_view_status("local s = string.rep('a', 30000) "
                       "return (string.gsub(s, '.-.-.-.-.-b', 'x'))",
                       HR_SCRIPT_TIMEOUT);
    expect_view_status("local t = setmetatable({}, {__len = function() return 1 << 50 end}) "
                       "table.insert(t, 1, 'x')",
                       HR_SCRIPT_TIMEOUT);
    expect_view_status("local t = setmetatable({}, {__len = function() return 1 << 50 end}) "
                       "table.remove(t, 1)",
                       HR_SCRIPT_TIMEOUT);
    expect_view_status("table.move({}, 1, 1 << 50, 2)", HR_SCRIPT_TIMEOUT);
    expect_view_status("local t = {} for i = 1, 1000 do t[i] = i end "
                       "table.sort(t, function(a, b) while true do end end)",
                       HR_SCRIPT_TIMEOUT);
}

static void test_script_memory(void **state)
{
    (void)state;
    expect_view_status("local t = {} while true do t[#t + 1] = {} end", HR_SCRIPT_MEMORY);
    expect_view_status("local s = string.rep('x', 1 << 30)", HR_SCRIPT_MEMORY);
    expect_view_status("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end",
                       HR_SCRIPT_MEMORY);
    /* an empty result costs nothing however large n is (the original loops n times) */
    expect_view_status("assert(string.rep('', math.maxinteger) == '') "
                       "assert(string.rep('', 1 << 40, '') == '') return 'ok'",
                       HR_SCRIPT_OK);
    expect_view_status("local s = string.rep('x', 1 << 40)", HR_SCRIPT_RUNTIME);
}

static void test_script_runtime_errors(void **state)
{
    (void)state;
    expect_view_status("error('boom')", HR_SCRIPT_RUNTIME);
    expect_view_status("error({})", HR_SCRIPT_RUNTIME);
    expect_view_status("local x = nil return x.y", HR_SCRIPT_RUNTIME);
    expect_view_status("return 42", HR_SCRIPT_RUNTIME);
    expect_view_status("return string.rep('k', 300)", HR_SCRIPT_RUNTIME);
    /* normal work under the limits */
    expect_view_status("local t = {} for i = 1, 20000 do t[i] = (i * 7919) % 10007 end "
                       "table.sort(t) return tostring(t[1])",
                       HR_SCRIPT_OK);
    fixture *f = with_script("function view_key(c) error('boom') end");
    char key[HR_SCRIPT_VIEW_KEY_MAX + 1];
    assert_int_equal(view(f, key), HR_SCRIPT_RUNTIME);
    assert_non_null(strstr(hr_script_vm_error(f->vm), "t/test.lua:1: boom"));
    fixture_free(f);
}

static void test_script_log(void **state)
{
    (void)state;
    fixture *f = with_script("function view_key(c) log('warn', 'hello ' .. c.user) "
                             "log('loud', 5) return c.claims.plan end");
    char key[HR_SCRIPT_VIEW_KEY_MAX + 1];
    assert_int_equal(view(f, key), HR_SCRIPT_OK);
    assert_string_equal(key, "gold");
    assert_int_equal(f->log.n, 2);
    assert_string_equal(f->log.script, "t/test.lua");
    assert_string_equal(f->log.level, "info");
    assert_string_equal(f->log.text, "5");
    fixture_free(f);
}

/* ---- hook conventions ---- */

static hr_script_status connect(fixture *f, hr_script_connect *out)
{
    json_t *req =
        json_pack("{s:s, s:{s:s}, s:s}", "path", "/ws", "query", "v", "2", "ip", "127.0.0.1");
    const hr_script_status st = hr_script_hooks_on_connect(f->s, req, out);
    json_decref(req);
    return st;
}

static void expect_connect(const char *ret, hr_script_status want_st, bool accept, int status,
                           const char *text)
{
    char src[256];
    snprintf(src, sizeof src, "function on_connect(req) %s end", ret);
    fixture *f = with_script(ret[0] != '\0' ? src : "x = 1");
    hr_script_connect out;
    assert_int_equal(connect(f, &out), want_st);
    if (want_st == HR_SCRIPT_OK) {
        assert_int_equal(out.accept, accept);
        if (!accept)
            assert_int_equal(out.status, status);
        if (text != NULL)
            assert_string_equal(out.text, text);
        else
            assert_null(out.text);
    } else {
        assert_null(out.text);
        assert_null(out.headers);
    }
    hr_script_connect_deinit(&out);
    hr_script_connect_deinit(&out);
    fixture_free(f);
}

static void test_script_hooks_on_connect(void **state)
{
    (void)state;
    expect_connect("", HR_SCRIPT_OK, true, 0, NULL); /* no hook */
    expect_connect("return true", HR_SCRIPT_OK, true, 0, NULL);
    expect_connect("return false", HR_SCRIPT_OK, false, 403, NULL);
    expect_connect("return false, 401, 'who are you'", HR_SCRIPT_OK, false, 401, "who are you");
    expect_connect("return req.query.v == '2' and req.path == '/ws'", HR_SCRIPT_OK, true, 0, NULL);
    expect_connect("return false, 200", HR_SCRIPT_RUNTIME, false, 0, NULL);
    expect_connect("return false, 403, {}", HR_SCRIPT_RUNTIME, false, 0, NULL);
    expect_connect("return nil", HR_SCRIPT_RUNTIME, false, 0, NULL);
    expect_connect("return 'yes'", HR_SCRIPT_RUNTIME, false, 0, NULL);
    expect_connect("return {}", HR_SCRIPT_RUNTIME, false, 0, NULL);
    expect_connect("return {headers = {['bad name'] = 'x'}}", HR_SCRIPT_RUNTIME, false, 0, NULL);
    expect_connect("return {headers = {X = 'a\\r\\nb'}}", HR_SCRIPT_RUNTIME, false, 0, NULL);
    expect_connect("return {headers = {X = 1}}", HR_SCRIPT_RUNTIME, false, 0, NULL);
    expect_connect("error('no')", HR_SCRIPT_RUNTIME, false, 0, NULL);

    fixture *f = with_script("function on_connect(req) return {headers = "
                             "{['X-Herald-User'] = 'alice', ['X-Herald-Channels'] = 'a,b'}} end");
    hr_script_connect out;
    assert_int_equal(connect(f, &out), HR_SCRIPT_OK);
    assert_true(out.accept);
    assert_string_equal(json_string_value(json_object_get(out.headers, "X-Herald-User")), "alice");
    assert_string_equal(json_string_value(json_object_get(out.headers, "X-Herald-Channels")),
                        "a,b");
    hr_script_connect_deinit(&out);
    fixture_free(f);
}

/* Runs on_client_message over text (binary when bin) with a script body. */
static hr_script_status message(fixture *f, const char *text, bool bin, hr_script_verdict *v)
{
    hr_script_msg m = {bin, text, strlen(text)};
    return hr_script_hooks_on_message(f->s, "on_client_message", &f->conn, &m, v);
}

static void expect_message(const char *body, const char *in, bool bin, hr_script_status want_st,
                           hr_script_action action, bool changed, const char *bytes)
{
    char src[512];
    snprintf(src, sizeof src, "function on_client_message(msg, conn) %s end", body);
    fixture *f = with_script(body[0] != '\0' ? src : "x = 1");
    hr_script_verdict v;
    const hr_script_status st = message(f, in, bin, &v);
    if (st != want_st)
        fail_msg("%s: got %s (%s)", body, hr_script_status_name(st), hr_script_vm_error(f->vm));
    if (st == HR_SCRIPT_OK) {
        assert_int_equal(v.action, action);
        if (action == HR_SCRIPT_FORWARD)
            assert_int_equal(v.changed, changed);
        if (bytes != NULL) {
            assert_int_equal(v.len, strlen(bytes));
            assert_memory_equal(v.p, bytes, v.len);
        }
    } else {
        assert_null(v.p);
        assert_null(v.reason);
    }
    hr_script_verdict_deinit(&v);
    hr_script_verdict_deinit(&v);
    fixture_free(f);
}

static void test_script_hooks_on_message(void **state)
{
    (void)state;
    const char *j = "{\"a\":1,\"b\":[]}";
    expect_message("", j, false, HR_SCRIPT_OK, HR_SCRIPT_FORWARD, false, NULL);
    expect_message("return msg", j, false, HR_SCRIPT_OK, HR_SCRIPT_FORWARD, false, NULL);
    expect_message("return msg", "not json", false, HR_SCRIPT_OK, HR_SCRIPT_FORWARD, false, NULL);
    expect_message("return nil", j, false, HR_SCRIPT_OK, HR_SCRIPT_DROP, false, NULL);
    expect_message("msg.data.a = 2 return msg", j, false, HR_SCRIPT_OK, HR_SCRIPT_FORWARD, true,
                   NULL);
    expect_message("msg.data = {b = json.array()} return msg", j, false, HR_SCRIPT_OK,
                   HR_SCRIPT_FORWARD, true, "{\"b\":[]}");
    expect_message("msg.text = 'hi' return msg", j, false, HR_SCRIPT_OK, HR_SCRIPT_FORWARD, true,
                   "hi");
    expect_message("return {text = 'x'}", "x", false, HR_SCRIPT_OK, HR_SCRIPT_FORWARD, false, NULL);
    expect_message("return {reply = 'pong'}", j, false, HR_SCRIPT_OK, HR_SCRIPT_REPLY, false,
                   "pong");
    expect_message("return {reply = {ok = true}}", j, false, HR_SCRIPT_OK, HR_SCRIPT_REPLY, false,
                   "{\"ok\":true}");
    expect_message("return {close = 4003, reason = 'no'}", j, false, HR_SCRIPT_OK, HR_SCRIPT_CLOSE,
                   false, NULL);
    expect_message("return {close = 4003}", j, false, HR_SCRIPT_OK, HR_SCRIPT_CLOSE, false, NULL);
    expect_message("return {close = 1001}", j, false, HR_SCRIPT_RUNTIME, 0, false, NULL);
    expect_message("return {close = 4003, reason = 7}", j, false, HR_SCRIPT_RUNTIME, 0, false,
                   NULL);
    expect_message("return {close = 4003, reason = string.rep('r', 124)}", j, false,
                   HR_SCRIPT_RUNTIME, 0, false, NULL);
    expect_message("return 7", j, false, HR_SCRIPT_RUNTIME, 0, false, NULL);
    expect_message("return {}", j, false, HR_SCRIPT_RUNTIME, 0, false, NULL);
    expect_message("msg.text = '\\xff' return msg", j, false, HR_SCRIPT_RUNTIME, 0, false, NULL);
    expect_message("msg.data.f = print or function() end return msg", j, false, HR_SCRIPT_RUNTIME,
                   0, false, NULL);
    /* binary messages */
    expect_message("assert(msg.binary == 'raw' and msg.text == nil) return msg", "raw", true,
                   HR_SCRIPT_OK, HR_SCRIPT_FORWARD, false, NULL);
    expect_message("msg.binary = '\\xff\\x00' return msg", "raw", true, HR_SCRIPT_OK,
                   HR_SCRIPT_FORWARD, true, NULL);
    expect_message("return {reply = '\\xff'}", "raw", true, HR_SCRIPT_OK, HR_SCRIPT_REPLY, false,
                   NULL);

    /* close code and reason, conn.state kept between calls */
    fixture *f = with_script("function on_client_message(msg, conn)\n"
                             "  conn.state.n = (conn.state.n or 0) + 1\n"
                             "  if conn.state.n == 3 then return {close = 4003, reason = 'x'} end\n"
                             "  return {reply = {n = conn.state.n, user = conn.user}}\n"
                             "end");
    hr_script_verdict v;
    assert_int_equal(message(f, "{}", false, &v), HR_SCRIPT_OK);
    assert_int_equal(v.action, HR_SCRIPT_REPLY);
    hr_script_verdict_deinit(&v);
    assert_int_equal(message(f, "{}", false, &v), HR_SCRIPT_OK);
    json_t *r = json_loadb(v.p, v.len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(r, "n")), 2);
    assert_string_equal(json_string_value(json_object_get(r, "user")), "alice");
    json_decref(r);
    hr_script_verdict_deinit(&v);
    assert_int_equal(message(f, "{}", false, &v), HR_SCRIPT_OK);
    assert_int_equal(v.action, HR_SCRIPT_CLOSE);
    assert_int_equal(v.close_code, 4003);
    assert_string_equal(v.reason, "x");
    hr_script_verdict_deinit(&v);
    fixture_free(f);
}

static void test_script_hooks_view_key(void **state)
{
    (void)state;
    char key[HR_SCRIPT_VIEW_KEY_MAX + 1];
    fixture *f = with_script("x = 1");
    assert_int_equal(view(f, key), HR_SCRIPT_OK);
    assert_string_equal(key, "");
    fixture_free(f);
    f = with_script("function view_key(conn) return nil end");
    assert_int_equal(view(f, key), HR_SCRIPT_OK);
    assert_string_equal(key, "");
    fixture_free(f);
    f = with_script("function view_key(conn) return conn.user .. ':' .. conn.id end");
    assert_int_equal(view(f, key), HR_SCRIPT_OK);
    assert_string_equal(key, "alice:c1");
    fixture_free(f);
    expect_view_status("return {}", HR_SCRIPT_RUNTIME);
}

static hr_script_status event(fixture *f, const char *data, hr_script_event_out *out)
{
    return hr_script_hooks_on_event(f->s, "orders", 6, "17-0", 4, data, strlen(data), "eur", 3,
                                    out);
}

static void expect_event(const char *body, const char *data, hr_script_status want_st, bool drop,
                         bool changed, const char *out_data)
{
    char src[512];
    snprintf(src, sizeof src, "function on_event(event, key) %s end", body);
    fixture *f = with_script(body[0] != '\0' ? src : "x = 1");
    hr_script_event_out out;
    const hr_script_status st = event(f, data, &out);
    if (st != want_st)
        fail_msg("%s: got %s (%s)", body, hr_script_status_name(st), hr_script_vm_error(f->vm));
    if (st == HR_SCRIPT_OK) {
        assert_int_equal(out.drop, drop);
        assert_int_equal(out.changed, changed);
        if (out_data != NULL) {
            assert_int_equal(out.data_len, strlen(out_data));
            assert_memory_equal(out.data, out_data, out.data_len);
        }
    } else {
        assert_null(out.data);
    }
    hr_script_event_out_deinit(&out);
    hr_script_event_out_deinit(&out);
    fixture_free(f);
}

static void test_script_hooks_on_event(void **state)
{
    (void)state;
    const char *d = "{\"price\":10,\"items\":[],\"who\":{}}";
    expect_event("", d, HR_SCRIPT_OK, false, false, NULL);
    expect_event("return event", d, HR_SCRIPT_OK, false, false, NULL);
    expect_event("return nil", d, HR_SCRIPT_OK, true, false, NULL);
    expect_event("assert(event.channel == 'orders' and event.id == '17-0' and key == 'eur') "
                 "return event",
                 d, HR_SCRIPT_OK, false, false, NULL);
    expect_event("event.data = {price = event.data.price * 2} return event", d, HR_SCRIPT_OK, false,
                 true, "{\"price\":20}");
    expect_event("event.data.items[1] = 'a' event.data.price = nil return event", d, HR_SCRIPT_OK,
                 false, true, "{\"items\":[\"a\"],\"who\":{}}");
    expect_event("event.data = nil return event", d, HR_SCRIPT_OK, false, true, "null");
    expect_event("event.id = 'x' event.channel = 'y' return event", d, HR_SCRIPT_OK, false, false,
                 NULL);
    /* integer ids stay exact above 2^53 */
    expect_event("event.data.m = event.data.n + 1 event.data.n = nil return event",
                 "{\"n\":9007199254740993}", HR_SCRIPT_OK, false, true, "{\"m\":9007199254740994}");
    expect_event("return event", "{\"n\":9223372036854775807}", HR_SCRIPT_OK, false, false, NULL);
    expect_event("event.data.x = 0/0 return event", d, HR_SCRIPT_RUNTIME, false, false, NULL);
    expect_event("event.data.x = event.data return event", d, HR_SCRIPT_RUNTIME, false, false,
                 NULL);
    expect_event("return 'event'", d, HR_SCRIPT_RUNTIME, false, false, NULL);
    expect_event("return event", "{bad json", HR_SCRIPT_RUNTIME, false, false, NULL);
    expect_event("while true do end", d, HR_SCRIPT_TIMEOUT, false, false, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_forbidden_globals_absent),
        cmocka_unit_test(test_script_sandbox_guards),
        cmocka_unit_test(test_script_compile_errors_name_file_line),
        cmocka_unit_test(test_script_timeouts),
        cmocka_unit_test(test_script_memory),
        cmocka_unit_test(test_script_runtime_errors),
        cmocka_unit_test(test_script_log),
        cmocka_unit_test(test_script_hooks_on_connect),
        cmocka_unit_test(test_script_hooks_on_message),
        cmocka_unit_test(test_script_hooks_view_key),
        cmocka_unit_test(test_script_hooks_on_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

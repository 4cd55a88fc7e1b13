/* Unit tests for lib/script/script_json: the Lua <-> JSON bridge keeps
 * integers exact over 64 bits, [] an array and {} an object, null in
 * arrays; tables made in Lua become arrays or objects by their keys; every
 * refusal (functions, cycles, non-finite numbers, bad UTF-8, bad keys,
 * depth) is a message, not a crash; the json module agrees. The state here
 * is a plain Lua state with only the json module: the bridge needs nothing
 * else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "script/script_json.h"

static int open_json(lua_State *L)
{
    hr_script_json_open(L);
    lua_setglobal(L, "json");
    return 0;
}

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    lua_pushcfunction(L, open_json);
    assert_int_equal(lua_pcall(L, 0, 0, 0), LUA_OK);
    return L;
}

static int push_json(lua_State *L)
{
    hr_script_json_push(L, lua_touserdata(L, 1));
    return 1;
}

/* Pops the value on top of L's stack and converts it to JSON text (sorted
 * keys); NULL when refused, with err saying why. */
static char *pop_json(lua_State *L, char *err, size_t cap)
{
    json_t *out = hr_script_json_from(L, -1, err, cap);
    lua_pop(L, 1);
    if (out == NULL)
        return NULL;
    char *s = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    json_decref(out);
    return s;
}

/* Checks that the conversion of what gave want (got is freed). */
static void expect_text(const char *what, char *got, const char *err, const char *want)
{
    if (got == NULL)
        fail_msg("%s: %s", what, err);
    assert_string_equal(got, want);
    free(got);
}

/* JSON text -> Lua -> JSON text (sorted keys). NULL when refused. */
static char *round_trip(lua_State *L, const char *text, char *err, size_t cap)
{
    json_t *in = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(in);
    lua_pushcfunction(L, push_json);
    lua_pushlightuserdata(L, in);
    const int rc = lua_pcall(L, 1, 1, 0);
    json_decref(in);
    if (rc != LUA_OK) {
        snprintf(err, cap, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return NULL;
    }
    return pop_json(L, err, cap);
}

static void expect_round_trip(lua_State *L, const char *in, const char *want)
{
    char err[HR_SCRIPT_JSON_ERROR_CAP];
    expect_text(in, round_trip(L, in, err, sizeof err), err, want);
}

static void test_script_json_round_trip(void **state)
{
    (void)state;
    lua_State *L = new_state();
    expect_round_trip(L, "[]", "[]");
    expect_round_trip(L, "{}", "{}");
    expect_round_trip(L, "[[],{},[[]],{\"a\":{}}]", "[[],{},[[]],{\"a\":{}}]");
    expect_round_trip(L, "{\"z\":1,\"a\":[],\"m\":{}}", "{\"a\":[],\"m\":{},\"z\":1}");
    expect_round_trip(L, "[null,1,null]", "[null,1,null]");
    expect_round_trip(L, "{\"a\":null}", "{\"a\":null}");
    expect_round_trip(L, "9007199254740993", "9007199254740993");
    expect_round_trip(L, "9223372036854775807", "9223372036854775807");
    expect_round_trip(L, "-9223372036854775808", "-9223372036854775808");
    expect_round_trip(L, "[1.5,-0.25,1e+20,3.0]", "[1.5,-0.25,1e20,3.0]");
    expect_round_trip(L, "[true,false,\"caf\\u00e9 \\ud83d\\ude00\",\"\"]",
                      "[true,false,\"caf\xc3\xa9 \xf0\x9f\x98\x80\",\"\"]");
    expect_round_trip(L, "{\"1\":\"one\",\"2\":\"two\"}", "{\"1\":\"one\",\"2\":\"two\"}");
    lua_close(L);
}

/* Runs Lua code returning one value and converts it; NULL when refused. */
static char *lua_to_json(lua_State *L, const char *code, char *err, size_t cap)
{
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("%s: %s", code, lua_tostring(L, -1));
    return pop_json(L, err, cap);
}

static void expect_lua(lua_State *L, const char *code, const char *want)
{
    char err[HR_SCRIPT_JSON_ERROR_CAP];
    expect_text(code, lua_to_json(L, code, err, sizeof err), err, want);
}

static void expect_refused(lua_State *L, const char *code, const char *msg_part)
{
    char err[HR_SCRIPT_JSON_ERROR_CAP];
    char *got = lua_to_json(L, code, err, sizeof err);
    if (got != NULL)
        fail_msg("%s: encoded as %s", code, got);
    if (strstr(err, msg_part) == NULL)
        fail_msg("%s: message %s lacks %s", code, err, msg_part);
}

static void test_script_json_lua_tables(void **state)
{
    (void)state;
    lua_State *L = new_state();
    expect_lua(L, "return {1, 2, 3}", "[1,2,3]");
    expect_lua(L, "return {}", "{}");
    expect_lua(L, "return json.array()", "[]");
    expect_lua(L, "return json.object({})", "{}");
    expect_lua(L, "return json.array({1, json.null, 3})", "[1,null,3]");
    expect_lua(L, "return {a = 1, [1] = 2}", "{\"1\":2,\"a\":1}");
    expect_lua(L, "return {[1] = 1, [3] = 3}", "{\"1\":1,\"3\":3}");
    expect_lua(L, "return {[-1] = 'neg'}", "{\"-1\":\"neg\"}");
    expect_lua(L, "return json.object({10, 20})", "{\"1\":10,\"2\":20}");
    expect_lua(L, "return nil", "null");
    expect_lua(L, "return json.null", "null");
    expect_lua(L, "return math.maxinteger", "9223372036854775807");
    expect_lua(L, "return 2^53 + 1", "9007199254740992.0");
    expect_lua(L, "return (1 << 53) + 1", "9007199254740993");
    /* decoded tables keep their kind through json.decode -> json.encode */
    expect_lua(L, "return json.encode(json.decode('{\"a\":[],\"b\":{}}'))",
               "\"{\\\"a\\\":[],\\\"b\\\":{}}\"");
    expect_lua(L, "local v, e = json.decode('[1') return {v == nil, type(e)}", "[true,\"string\"]");
    /* metamethods do not run while converting */
    expect_lua(L,
               "return setmetatable({}, {__index = function() error('ran') end, "
               "__pairs = function() error('ran') end})",
               "{}");
    lua_close(L);
}

static void test_script_json_refusals(void **state)
{
    (void)state;
    lua_State *L = new_state();
    expect_refused(L, "return print", "function");
    expect_refused(L, "return {f = print}", "function");
    expect_refused(L, "return coroutine.create(print)", "thread");
    expect_refused(L, "local t = {} t.self = t return t", "contains itself");
    expect_refused(L, "local t = {{}} t[1][1] = t return t", "contains itself");
    expect_refused(L, "return 0/0", "not finite");
    expect_refused(L, "return {x = math.huge}", "not finite");
    expect_refused(L, "return '\\xff'", "UTF-8");
    expect_refused(L, "return {['\\xff'] = 1}", "key");
    expect_refused(L, "return {[true] = 1}", "key");
    expect_refused(L, "return {[1.5] = 1}", "key");
    expect_refused(L, "local t = {} for i = 1, 600 do t = {t} end return t", "deeply");
    /* shared (not cyclic) subtables are fine */
    expect_lua(L, "local s = {1} return {s, s}", "[[1],[1]]");
    /* json.encode raises on the same values */
    assert_int_not_equal(luaL_dostring(L, "local t = {} t.t = t return json.encode(t)"), LUA_OK);
    assert_non_null(strstr(lua_tostring(L, -1), "json.encode"));
    lua_pop(L, 1);
    lua_close(L);
}

static void test_script_json_push_depth(void **state)
{
    (void)state;
    lua_State *L = new_state();
    char deep[2 * 600 + 1];
    memset(deep, '[', 600);
    memset(deep + 600, ']', 600);
    deep[1200] = '\0';
    char err[HR_SCRIPT_JSON_ERROR_CAP];
    assert_null(round_trip(L, deep, err, sizeof err));
    assert_non_null(strstr(err, "nested deeper"));
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_json_round_trip),
        cmocka_unit_test(test_script_json_lua_tables),
        cmocka_unit_test(test_script_json_refusals),
        cmocka_unit_test(test_script_json_push_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

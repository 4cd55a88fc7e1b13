/* Lua <-> JSON on jansson. Two directions with different failure rules:
 * building Lua values allocates in the Lua state and may raise (so it runs
 * in protected mode), while reading Lua values into jansson never raises
 * and never runs script code (raw table access only, no lua_tolstring on
 * numbers), so callers can use it on whatever a script returned.
 *
 * Marks: two metatables kept in the registry under the addresses of
 * ARRAY_MARK and OBJECT_MARK. Cycles are found by keeping the tables on
 * the current path (at most HR_SCRIPT_JSON_DEPTH_MAX of them). */
#include "script_json.h"

#include <inttypes.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "proto/json_mem.h"
#include "proto/utf8.h"

static const char ARRAY_MARK = 'a';
static const char OBJECT_MARK = 'o';
static const char BOX_MT = 'b';

/* ---- JSON -> Lua ---- */

static void push_marked(lua_State *L, const char *mark)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, mark);
    lua_setmetatable(L, -2);
}

static void push_value(lua_State *L, const json_t *v, int depth)
{
    if (depth > HR_SCRIPT_JSON_DEPTH_MAX)
        luaL_error(L, "JSON nested deeper than %d levels", HR_SCRIPT_JSON_DEPTH_MAX);
    luaL_checkstack(L, 3, "JSON nesting");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(v));
        const char *key;
        size_t klen;
        json_t *val;
        json_object_keylen_foreach((json_t *)v, key, klen, val)
        {
            lua_pushlstring(L, key, klen);
            push_value(L, val, depth + 1);
            lua_rawset(L, -3);
        }
        push_marked(L, &OBJECT_MARK);
        return;
    }
    case JSON_ARRAY: {
        const size_t n = json_array_size(v);
        lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
        for (size_t i = 0; i < n; i++) {
            push_value(L, json_array_get(v, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        push_marked(L, &ARRAY_MARK);
        return;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        return;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        return;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(v));
        return;
    case JSON_NULL:
        lua_pushlightuserdata(L, NULL);
        return;
    }
}

void hr_script_json_push(lua_State *L, const json_t *v)
{
    push_value(L, v, 0);
}

/* ---- Lua -> JSON ---- */

typedef struct conv {
    lua_State *L;
    char *err;
    size_t errcap;
    int depth;
    const void *path[HR_SCRIPT_JSON_DEPTH_MAX];
} conv;

static json_t *fail(conv *c, const char *msg, const char *detail)
{
    if (c->errcap > 0 && c->err[0] == '\0')
        snprintf(c->err, c->errcap, "%s%s", msg, detail);
    return NULL;
}

static json_t *oom(conv *c)
{
    return fail(c, "out of memory", "");
}

static json_t *from_value(conv *c, int idx);

/* Which mark the table at idx carries: 'a', 'o' or 0. */
static char mark_of(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    char m = 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_MARK);
    if (lua_rawequal(L, -1, -2))
        m = 'a';
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &OBJECT_MARK);
    if (lua_rawequal(L, -1, -2))
        m = 'o';
    lua_pop(L, 2);
    return m;
}

/* An unmarked table is an array when its keys are exactly 1..n, n >= 1. */
static bool looks_like_array(lua_State *L, int idx, size_t *n_out)
{
    size_t n = 0;
    lua_Integer max = 0;
    bool ints = true;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        n++;
        if (ints && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1)
            max = lua_tointeger(L, -1) > max ? lua_tointeger(L, -1) : max;
        else
            ints = false;
    }
    *n_out = n;
    return n > 0 && ints && (lua_Unsigned)max == n;
}

static json_t *from_array(conv *c, int idx, size_t n)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return oom(c);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(c->L, idx, (lua_Integer)i);
        json_t *v = from_value(c, lua_gettop(c->L));
        lua_pop(c->L, 1);
        if (v == NULL || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return v == NULL ? NULL : oom(c);
        }
    }
    return arr;
}

/* The key at the top of the stack as object key text (into buf for
 * integers); NULL when it cannot be one. Never converts in place. */
static const char *key_text(conv *c, char *buf, size_t cap, size_t *len)
{
    lua_State *L = c->L;
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *k = lua_tolstring(L, -1, len);
        return hr_utf8_valid((const uint8_t *)k, *len) ? k : NULL;
    }
    if (lua_isinteger(L, -1)) {
        const int n = snprintf(buf, cap, "%" PRId64, (int64_t)lua_tointeger(L, -1));
        *len = (size_t)n;
        return buf;
    }
    return NULL;
}

static json_t *from_object(conv *c, int idx)
{
    lua_State *L = c->L;
    json_t *obj = json_object();
    if (obj == NULL)
        return oom(c);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        char buf[32];
        size_t klen = 0;
        json_t *v = NULL;
        lua_pushvalue(L, -2); /* the key copy we may read */
        const char *k = key_text(c, buf, sizeof buf, &klen);
        if (k == NULL)
            fail(c, "cannot use a key of type ", luaL_typename(L, -1));
        else
            v = from_value(c, lua_gettop(L) - 1);
        lua_pop(L, 2);
        if (v == NULL || json_object_setn_new(obj, k, klen, v) != 0) {
            lua_pop(L, 1);
            json_decref(obj);
            return v == NULL ? NULL : oom(c);
        }
    }
    return obj;
}

static json_t *from_table(conv *c, int idx)
{
    const void *self = lua_topointer(c->L, idx);
    for (int i = 0; i < c->depth; i++)
        if (c->path[i] == self)
            return fail(c, "cannot encode a table that contains itself", "");
    if (c->depth == HR_SCRIPT_JSON_DEPTH_MAX)
        return fail(c, "tables nested too deeply", "");
    if (!lua_checkstack(c->L, 6))
        return fail(c, "tables nested too deeply", "");
    c->path[c->depth++] = self;
    json_t *out;
    const char m = mark_of(c->L, idx);
    size_t n = 0;
    if (m == 'a')
        out = from_array(c, idx, (size_t)lua_rawlen(c->L, idx));
    else if (m == 'o')
        out = from_object(c, idx);
    else if (looks_like_array(c->L, idx, &n))
        out = from_array(c, idx, n);
    else
        out = from_object(c, idx);
    c->depth--;
    return out;
}

static json_t *from_number(conv *c, int idx)
{
    if (lua_isinteger(c->L, idx)) {
        json_t *v = json_integer((json_int_t)lua_tointeger(c->L, idx));
        return v != NULL ? v : oom(c);
    }
    const double d = lua_tonumber(c->L, idx);
    if (!isfinite(d))
        return fail(c, "cannot encode a number that is not finite", "");
    json_t *v = json_real(d);
    return v != NULL ? v : oom(c);
}

static json_t *from_value(conv *c, int idx)
{
    lua_State *L = c->L;
    json_t *v = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        v = json_null();
        break;
    case LUA_TBOOLEAN:
        v = json_boolean(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        return from_number(c, idx);
    case LUA_TSTRING: {
        size_t n = 0;
        const char *s = lua_tolstring(L, idx, &n);
        if (!hr_utf8_valid((const uint8_t *)s, n))
            return fail(c, "cannot encode a string that is not valid UTF-8", "");
        v = json_stringn_nocheck(s, n);
        break;
    }
    case LUA_TTABLE:
        return from_table(c, idx);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            v = json_null();
            break;
        }
        return fail(c, "cannot encode a value of type ", luaL_typename(L, idx));
    default:
        return fail(c, "cannot encode a value of type ", luaL_typename(L, idx));
    }
    return v != NULL ? v : oom(c);
}

json_t *hr_script_json_from(lua_State *L, int idx, char *err, size_t errcap)
{
    conv *c = hr_malloc(sizeof *c); /* the path is 4 KiB: keep it off the stack */
    if (c == NULL) {
        if (errcap > 0)
            snprintf(err, errcap, "out of memory");
        return NULL;
    }
    c->L = L;
    c->err = err;
    c->errcap = errcap;
    c->depth = 0;
    if (errcap > 0)
        err[0] = '\0';
    json_t *v = NULL;
    if (!lua_checkstack(L, 6))
        fail(c, "out of Lua stack", "");
    else
        v = from_value(c, lua_absindex(L, idx));
    hr_free(c);
    return v;
}

/* ---- the json module ---- */

/* A box holds what C allocated while Lua calls that may raise run: when a
 * memory error unwinds, its __gc frees the contents. Its size says what it
 * holds: a string (encode) or a json_t (decode). */
typedef struct box {
    json_t *json;
    char kind; /* only makes the size differ from a char * */
} box;

static int box_gc(lua_State *L)
{
    void *p = lua_touserdata(L, 1);
    if (lua_rawlen(L, 1) == sizeof(char *)) {
        free(*(char **)p);
        *(char **)p = NULL;
    } else {
        box *b = p;
        json_decref(b->json);
        b->json = NULL;
    }
    return 0;
}

static void *new_box(lua_State *L, size_t size)
{
    void *p = lua_newuserdatauv(L, size, 0);
    memset(p, 0, size);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &BOX_MT);
    lua_setmetatable(L, -2);
    return p;
}

static int json_encode(lua_State *L)
{
    char err[HR_SCRIPT_JSON_ERROR_CAP];
    lua_settop(L, 1);
    char **text = new_box(L, sizeof(char *));
    json_t *v = hr_script_json_from(L, 1, err, sizeof err);
    if (v == NULL)
        return luaL_error(L, "json.encode: %s", err);
    *text = hr_json_mem_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    json_decref(v);
    if (*text == NULL)
        return luaL_error(L, "json.encode: out of memory");
    lua_pushstring(L, *text);
    free(*text);
    *text = NULL;
    return 1;
}

static int json_decode(lua_State *L)
{
    size_t n = 0;
    const char *s = luaL_checklstring(L, 1, &n);
    box *b = new_box(L, sizeof *b);
    json_error_t jerr;
    bool oom_hit = false;
    b->json = hr_json_mem_loadb(s, n, JSON_DECODE_ANY, &jerr, &oom_hit);
    if (b->json == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s", oom_hit ? "out of memory" : jerr.text);
        return 2;
    }
    hr_script_json_push(L, b->json);
    json_decref(b->json);
    b->json = NULL;
    return 1;
}

/* json.array([t]) / json.object([t]): marks t (or a new table) and returns it. */
static int mark_table(lua_State *L, const char *mark)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    push_marked(L, mark);
    return 1;
}

static int json_array_fn(lua_State *L)
{
    return mark_table(L, &ARRAY_MARK);
}

static int json_object_fn(lua_State *L)
{
    return mark_table(L, &OBJECT_MARK);
}

static void new_mark(lua_State *L, const char *mark, const char *name)
{
    lua_newtable(L);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_rawsetp(L, LUA_REGISTRYINDEX, mark);
}

void hr_script_json_open(lua_State *L)
{
    new_mark(L, &ARRAY_MARK, "json.array");
    new_mark(L, &OBJECT_MARK, "json.object");
    lua_newtable(L);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &BOX_MT);
    static const luaL_Reg fns[] = {
        {"encode", json_encode},
        {"decode", json_decode},
        {"array", json_array_fn},
        {"object", json_object_fn},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
}

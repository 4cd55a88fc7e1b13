/* The script engine: one capped Lua state, a deadline per call, the sandbox.
 *
 * Every call into Lua goes through run(): it arms the deadline, resets the
 * flags the allocator and the tick set, and runs a C body under lua_pcall.
 * How the call ended is read from those flags first, then from the pcall
 * status, because a script may catch an error with pcall and rethrow
 * another, and because a timeout noticed in the allocator surfaces as a
 * Lua memory error:
 *
 *   timed_out set          -> timeout   (even if the call then returned)
 *   status LUA_ERRMEM      -> memory
 *   any other error status -> runtime
 *
 * The vm pointer lives in the state's extra space (copied into every
 * coroutine), so the hook and the vendored library loops find it. */
#include "script.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/err.h"
#include "hr_lua_libs.h"
#include "script_internal.h"
#include "script_json.h"

/* VM instructions between two looks at the clock. */
#define HOOK_COUNT 1000
/* Allocations between two looks at the clock (during a call). */
#define ALLOC_TICK 64

struct hr_script_vm {
    lua_State *L;
    size_t used, max;
    uint64_t timeout_ns, load_timeout_ns;
    uint64_t limit_ns; /* of the running (or last) call */
    uint64_t deadline; /* 0 = no call running */
    hr_script_clock_cb clock;
    void *clock_ctx;
    hr_script_log_cb log;
    void *log_ctx;
    bool timed_out;
    unsigned alloc_ticks;
    const hr_script *current; /* the script whose call runs (log attribution) */
    int template_ref;         /* registry: the sandbox's globals, copied per script */
    char error[HR_SCRIPT_ERROR_CAP];
};

struct hr_script {
    hr_script_vm *vm;
    int env_ref;
    char *name;
};

const char *hr_script_status_name(hr_script_status st)
{
    switch (st) {
    case HR_SCRIPT_OK:
        return "ok";
    case HR_SCRIPT_RUNTIME:
        return "runtime";
    case HR_SCRIPT_TIMEOUT:
        return "timeout";
    case HR_SCRIPT_MEMORY:
        return "memory";
    }
    return "runtime";
}

static hr_script_vm *vm_of(lua_State *L)
{
    return *(hr_script_vm **)lua_getextraspace(L);
}

static uint64_t monotonic_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool past_deadline(hr_script_vm *vm)
{
    return vm->deadline != 0 && (vm->timed_out || vm->clock(vm->clock_ctx) >= vm->deadline);
}

/* Lua's allocator contract (lua_Alloc): ptr NULL means osize is a type tag;
 * nsize 0 frees. Growth past the cap, or during a call past its deadline,
 * returns NULL and Lua raises a memory error (which run() maps). Shrinking
 * never fails: Lua assumes it cannot. */
static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    hr_script_vm *vm = ud;
    const size_t old = ptr != NULL ? osize : 0;
    if (nsize == 0) {
        hr_free(ptr);
        vm->used -= old;
        return NULL;
    }
    if (nsize > old) {
        if (vm->used > vm->max || nsize - old > vm->max - vm->used)
            return NULL;
        if (vm->deadline != 0 && ++vm->alloc_ticks >= ALLOC_TICK) {
            vm->alloc_ticks = 0;
            if (past_deadline(vm)) {
                vm->timed_out = true;
                return NULL;
            }
        }
    }
    void *p = hr_realloc(ptr, nsize);
    if (p == NULL)
        return nsize > old ? NULL : ptr;
    vm->used = vm->used - old + nsize;
    return p;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    hr_lua_tick(L);
}

void hr_lua_tick(lua_State *L)
{
    hr_script_vm *vm = vm_of(L);
    if (!past_deadline(vm))
        return;
    if (!vm->timed_out) {
        vm->timed_out = true;
        /* From now on stop at every instruction, so that a pcall in the
         * script cannot swallow the timeout and carry on. */
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    }
    luaL_error(L, "script ran past its time limit");
}

static int on_panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    fprintf(stderr, "herald: Lua error outside a protected call: %s\n", msg);
    abort();
}

static void ignore_warning(void *ud, const char *msg, int tocont)
{
    (void)ud;
    (void)msg;
    (void)tocont;
}

/* ---- calls ---- */

typedef struct call {
    hr_script_body_fn body;
    void *ctx;
    int env_ref; /* LUA_NOREF: none */
} call;

static int trampoline(lua_State *L)
{
    call *c = lua_touserdata(L, 1);
    if (c->env_ref == LUA_NOREF)
        lua_pushnil(L);
    else
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->env_ref);
    return c->body(L, c->ctx);
}

static void keep_error(hr_script_vm *vm, lua_State *L, hr_script_status st)
{
    size_t n = 0;
    const char *msg = NULL;
    if (lua_type(L, -1) == LUA_TSTRING)
        msg = lua_tolstring(L, -1, &n);
    if (st == HR_SCRIPT_TIMEOUT)
        snprintf(vm->error, sizeof vm->error, "script ran past its time limit (%llu ms)",
                 (unsigned long long)(vm->limit_ns / 1000000u));
    else if (st == HR_SCRIPT_MEMORY)
        snprintf(vm->error, sizeof vm->error, "script ran out of memory (limit %zu MiB)",
                 vm->max >> 20);
    else if (msg != NULL)
        snprintf(vm->error, sizeof vm->error, "%.*s", (int)(n < 4096 ? n : 4096), msg);
    else
        snprintf(vm->error, sizeof vm->error, "(error object is a %s value)", luaL_typename(L, -1));
}

static hr_script_status run_for(hr_script_vm *vm, const hr_script *s, int env_ref,
                                hr_script_body_fn body, void *ctx, uint64_t limit_ns)
{
    lua_State *L = vm->L;
    const int top = lua_gettop(L);
    call c = {body, ctx, env_ref};
    vm->timed_out = false;
    vm->alloc_ticks = 0;
    vm->current = s;
    const uint64_t now = vm->clock(vm->clock_ctx);
    vm->deadline = now + limit_ns > now ? now + limit_ns : UINT64_MAX;
    vm->limit_ns = limit_ns;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_COUNT);
    lua_pushcfunction(L, trampoline); /* light C function, no allocation */
    lua_pushlightuserdata(L, &c);
    const int rc = lua_pcall(L, 1, 0, 0);
    hr_script_status st = HR_SCRIPT_OK;
    if (vm->timed_out)
        st = HR_SCRIPT_TIMEOUT;
    else if (rc == LUA_ERRMEM)
        st = HR_SCRIPT_MEMORY;
    else if (rc != LUA_OK)
        st = HR_SCRIPT_RUNTIME;
    if (st != HR_SCRIPT_OK)
        keep_error(vm, L, st);
    lua_settop(L, top);
    vm->deadline = 0;
    vm->current = NULL;
    vm->timed_out = false;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_COUNT);
    return st;
}

static hr_script_status run(hr_script_vm *vm, const hr_script *s, int env_ref,
                            hr_script_body_fn body, void *ctx)
{
    return run_for(vm, s, env_ref, body, ctx, vm->timeout_ns);
}

hr_script_status hr_script_run(hr_script *s, hr_script_body_fn body, void *ctx)
{
    return run(s->vm, s, s->env_ref, body, ctx);
}

hr_script_status hr_script_vm_run(hr_script_vm *vm, hr_script_body_fn body, void *ctx)
{
    return run(vm, NULL, LUA_NOREF, body, ctx);
}

bool hr_script_push_hook(lua_State *L, const char *hook)
{
    if (lua_type(L, 2) != LUA_TTABLE)
        return false;
    lua_pushstring(L, hook);
    if (lua_rawget(L, 2) == LUA_TFUNCTION)
        return true;
    lua_pop(L, 1);
    return false;
}

/* ---- the sandbox ---- */

/* setmetatable(t, mt) that refuses a __gc field: a finalizer would run
 * script code during some later allocation, outside any call's limits. */
static int safe_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        const int t = lua_rawget(L, 2);
        lua_pop(L, 1);
        if (t != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc is not allowed in scripts");
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int script_log(lua_State *L)
{
    hr_script_vm *vm = vm_of(L);
    const char *level = luaL_checkstring(L, 1);
    size_t n = 0;
    const char *text = luaL_tolstring(L, 2, &n);
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    const char *lv = "info";
    for (size_t i = 0; i < HR_ARRAY_LEN(levels); i++)
        if (strcmp(level, levels[i]) == 0)
            lv = levels[i];
    if (vm->log != NULL)
        vm->log(vm->log_ctx, vm->current != NULL ? vm->current->name : "?", lv, text,
                n < HR_SCRIPT_LOG_MAX ? n : HR_SCRIPT_LOG_MAX);
    return 0;
}

static const char *const BASE_KEEP[] = {
    "assert",   "error",    "getmetatable", "ipairs", "next",     "pairs",
    "pcall",    "rawequal", "rawget",       "rawlen", "rawset",   "select",
    "tonumber", "tostring", "type",         "xpcall", "_VERSION",
};
static const char *const LIBS[] = {"string", "table", "math", "utf8", "coroutine"};

/* The shared string library: no dump, and the pattern functions and rep
 * replaced by the ticking copies. Strings index it through their
 * metatable, which is hidden (__metatable) so no script can change it. */
static void patch_string_library(lua_State *L, int str)
{
    lua_pushnil(L);
    lua_setfield(L, str, "dump");
    static const luaL_Reg fns[] = {
        {"find", hrlua_str_find}, {"match", hrlua_str_match}, {"gmatch", hrlua_str_gmatch},
        {"gsub", hrlua_str_gsub}, {"rep", hrlua_str_rep},     {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
}

/* Builds the template environment and keeps it in the registry. */
static int setup_sandbox(lua_State *L)
{
    hr_script_vm *vm = lua_touserdata(L, 1);
    luaL_requiref(L, "_G", luaopen_base, 0);
    const int g = lua_gettop(L);
    luaL_requiref(L, "string", luaopen_string, 0);
    patch_string_library(L, lua_gettop(L));
    luaL_requiref(L, "table", hrlua_open_table, 0);
    luaL_requiref(L, "math", luaopen_math, 0);
    luaL_requiref(L, "utf8", luaopen_utf8, 0);
    luaL_requiref(L, "coroutine", luaopen_coroutine, 0);
    lua_newtable(L);
    const int tpl = lua_gettop(L);
    for (size_t i = 0; i < HR_ARRAY_LEN(BASE_KEEP); i++) {
        lua_getfield(L, g, BASE_KEEP[i]);
        lua_setfield(L, tpl, BASE_KEEP[i]);
    }
    for (size_t i = 0; i < HR_ARRAY_LEN(LIBS); i++) {
        lua_pushvalue(L, g + 1 + (int)i);
        lua_setfield(L, tpl, LIBS[i]);
    }
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setfield(L, tpl, "setmetatable");
    lua_pushcfunction(L, script_log);
    lua_setfield(L, tpl, "log");
    hr_script_json_open(L);
    lua_setfield(L, tpl, "json");
    vm->template_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

hr_script_vm *hr_script_vm_new(const hr_script_config *cfg)
{
    hr_script_vm *vm = hr_calloc(1, sizeof *vm);
    if (vm == NULL)
        return NULL;
    vm->max = cfg != NULL && cfg->memory_max != 0 ? cfg->memory_max : HR_SCRIPT_MEMORY_DEFAULT;
    vm->timeout_ns =
        cfg != NULL && cfg->timeout_ns != 0 ? cfg->timeout_ns : HR_SCRIPT_TIMEOUT_DEFAULT_NS;
    vm->load_timeout_ns = cfg != NULL && cfg->load_timeout_ns != 0
                              ? cfg->load_timeout_ns
                              : HR_SCRIPT_LOAD_TIMEOUT_DEFAULT_NS;
    vm->clock = cfg != NULL && cfg->clock != NULL ? cfg->clock : monotonic_ns;
    vm->clock_ctx = cfg != NULL ? cfg->clock_ctx : NULL;
    vm->log = cfg != NULL ? cfg->log : NULL;
    vm->log_ctx = cfg != NULL ? cfg->log_ctx : NULL;
    vm->template_ref = LUA_NOREF;
    vm->L = lua_newstate(vm_alloc, vm);
    if (vm->L == NULL) {
        hr_free(vm);
        return NULL;
    }
    *(hr_script_vm **)lua_getextraspace(vm->L) = vm;
    lua_atpanic(vm->L, on_panic);
    lua_setwarnf(vm->L, ignore_warning, NULL);
    lua_pushcfunction(vm->L, setup_sandbox);
    lua_pushlightuserdata(vm->L, vm);
    if (lua_pcall(vm->L, 1, 0, 0) != LUA_OK) {
        hr_script_vm_free(vm);
        return NULL;
    }
    lua_settop(vm->L, 0);
    return vm;
}

void hr_script_vm_free(hr_script_vm *vm)
{
    if (vm == NULL)
        return;
    lua_close(vm->L);
    vm->L = NULL;
    hr_free(vm);
}

void hr_script_vm_set_limits(hr_script_vm *vm, size_t memory_max, uint64_t timeout_ns)
{
    if (memory_max != 0)
        vm->max = memory_max;
    if (timeout_ns != 0)
        vm->timeout_ns = timeout_ns;
}

size_t hr_script_vm_memory(const hr_script_vm *vm)
{
    return vm->used;
}

const char *hr_script_vm_error(const hr_script_vm *vm)
{
    return vm->error;
}

/* ---- loading ---- */

typedef struct load_ctx {
    const char *name, *text;
    size_t len;
    hr_script_vm *vm;
    int env_ref;
    bool syntax; /* the chunk did not compile: its message is the error */
} load_ctx;

/* A fresh environment: the template's entries, the libraries copied one
 * level deep so that one script changing string.x does not change another's. */
static void push_environment(lua_State *L, hr_script_vm *vm)
{
    lua_newtable(L);
    const int env = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->template_ref);
    const int tpl = env + 1;
    lua_pushnil(L);
    while (lua_next(L, tpl) != 0) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_newtable(L);
            lua_pushnil(L);
            while (lua_next(L, -3) != 0) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, -4);
            }
            lua_replace(L, -2);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, env);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
}

static int load_body(lua_State *L, void *ctx)
{
    load_ctx *lc = ctx;
    char chunkname[HR_SCRIPT_ERROR_CAP];
    snprintf(chunkname, sizeof chunkname, "@%s", lc->name);
    if (luaL_loadbufferx(L, lc->text, lc->len, chunkname, "t") != LUA_OK) {
        lc->syntax = true;
        return lua_error(L);
    }
    push_environment(L, lc->vm);
    lua_pushvalue(L, -1);
    lc->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setupvalue(L, -2, 1); /* the chunk's _ENV */
    lua_call(L, 0, 0);
    return 0;
}

static void unref(hr_script_vm *vm, int ref)
{
    /* luaL_unref writes into existing registry slots: no allocation. */
    luaL_unref(vm->L, LUA_REGISTRYINDEX, ref);
}

int hr_script_load(hr_script_vm *vm, const char *name, const char *text, size_t len,
                   hr_script **out, char *err, size_t errcap)
{
    *out = NULL;
    if (errcap > 0)
        err[0] = '\0';
    hr_script *s = hr_calloc(1, sizeof *s);
    char *copy = hr_strndup(name, strlen(name));
    if (s == NULL || copy == NULL) {
        hr_free(s);
        hr_free(copy);
        return HR_ENOMEM;
    }
    s->vm = vm;
    s->name = copy;
    load_ctx lc = {name, text, len, vm, LUA_NOREF, false};
    const uint64_t limit =
        vm->load_timeout_ns > vm->timeout_ns ? vm->load_timeout_ns : vm->timeout_ns;
    const hr_script_status st = run_for(vm, s, LUA_NOREF, load_body, &lc, limit);
    if (st != HR_SCRIPT_OK) {
        if (lc.env_ref != LUA_NOREF)
            unref(vm, lc.env_ref);
        if (errcap > 0) {
            /* Runtime messages already carry "name:line:" (luaL_where);
             * limits do not, so name the script. */
            if (st == HR_SCRIPT_RUNTIME)
                snprintf(err, errcap, "%s", vm->error);
            else
                snprintf(err, errcap, "%s: %s", name, vm->error);
        }
        hr_free(s->name);
        hr_free(s);
        return HR_EINVAL;
    }
    s->env_ref = lc.env_ref;
    *out = s;
    return 0;
}

void hr_script_free(hr_script *s)
{
    if (s == NULL)
        return;
    unref(s->vm, s->env_ref);
    hr_free(s->name);
    hr_free(s);
}

const char *hr_script_name(const hr_script *s)
{
    return s->name;
}

typedef struct has_ctx {
    const char *hook;
    bool found;
} has_ctx;

static int has_body(lua_State *L, void *ctx)
{
    has_ctx *h = ctx;
    h->found = hr_script_push_hook(L, h->hook);
    return 0;
}

bool hr_script_has_hook(hr_script *s, const char *hook)
{
    has_ctx h = {hook, false};
    return hr_script_run(s, has_body, &h) == HR_SCRIPT_OK && h.found;
}

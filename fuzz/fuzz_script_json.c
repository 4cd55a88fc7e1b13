/* Fuzz target for the transformation layer's data path: server message ->
 * event reader -> Lua value -> JSON (lib/script). Checks, besides not
 * crashing or leaking: any JSON text survives jansson -> Lua -> jansson
 * unchanged (json_equal: integers exact, [] and {} kept, nulls kept) unless
 * it nests deeper than the bridge allows; an identity on_event delivers the
 * event unchanged; a rewriting on_event yields valid JSON holding the
 * original under "orig"; an identity on_server_message forwards unchanged.
 * One state serves every input, as one serves a gateway worker. */
#include <jansson.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/cproto.h"
#include "script/script.h"
#include "script/script_hooks.h"
#include "script/script_json.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char IDENTITY[] = "function on_event(e, key) return e end\n"
                               "function on_server_message(m, c) return m end\n";
static const char REWRITE[] = "function on_event(e, key)\n"
                              "  e.data = {orig = e.data, key = key, n = #e.id}\n"
                              "  return e\n"
                              "end\n";

typedef struct world {
    hr_script_vm *vm;
    hr_script *identity, *rewrite;
    hr_script_conn conn;
} world;

static world *get_world(void)
{
    static world w;
    if (w.vm != NULL)
        return &w;
    hr_script_config cfg = {.timeout_ns = 2000000000u}; /* sanitizers are slow */
    w.vm = hr_script_vm_new(&cfg);
    HR_ASSERT(w.vm != NULL);
    char err[256];
    HR_ASSERT(hr_script_load(w.vm, "identity.lua", IDENTITY, strlen(IDENTITY), &w.identity, err,
                             sizeof err) == 0);
    HR_ASSERT(hr_script_load(w.vm, "rewrite.lua", REWRITE, strlen(REWRITE), &w.rewrite, err,
                             sizeof err) == 0);
    json_t *info = json_pack("{s:s}", "id", "c1");
    HR_ASSERT(hr_script_hooks_conn_init(w.vm, info, &w.conn) == HR_SCRIPT_OK);
    json_decref(info);
    return &w;
}

static void check_event(world *w, const hr_cproto_event *ev)
{
    json_t *orig = json_loadb(ev->data, ev->data_len, JSON_DECODE_ANY, NULL);
    hr_script_event_out out;
    hr_script_status st =
        hr_script_hooks_on_event(w->identity, ev->channel, ev->channel_len, ev->id, ev->id_len,
                                 ev->data, ev->data_len, "k", 1, &out);
    /* jansson refuses integers beyond 64 bits and deep nesting: runtime */
    HR_ASSERT(st == HR_SCRIPT_OK || st == HR_SCRIPT_RUNTIME);
    HR_ASSERT(st != HR_SCRIPT_OK || (!out.drop && !out.changed && out.data == NULL));
    HR_ASSERT(st != HR_SCRIPT_RUNTIME || orig == NULL || json_array_size(orig) > 0 ||
              json_object_size(orig) > 0);
    hr_script_event_out_deinit(&out);
    st = hr_script_hooks_on_event(w->rewrite, ev->channel, ev->channel_len, ev->id, ev->id_len,
                                  ev->data, ev->data_len, "k", 1, &out);
    if (st == HR_SCRIPT_OK) {
        HR_ASSERT(out.changed && out.data != NULL);
        json_t *got = json_loadb(out.data, out.data_len, 0, NULL);
        HR_ASSERT(got != NULL);
        HR_ASSERT(json_equal(json_object_get(got, "orig"), orig));
        HR_ASSERT(json_integer_value(json_object_get(got, "n")) == (json_int_t)ev->id_len);
        json_decref(got);
    }
    hr_script_event_out_deinit(&out);
    json_decref(orig);
}

static int open_json(lua_State *L)
{
    hr_script_json_open(L);
    return 0;
}

static int push_json(lua_State *L)
{
    hr_script_json_push(L, lua_touserdata(L, 1));
    return 1;
}

/* jansson -> Lua -> jansson on a bare state with the json module. */
static void check_bridge(const uint8_t *data, size_t size)
{
    static lua_State *L;
    if (L == NULL) {
        L = luaL_newstate();
        HR_ASSERT(L != NULL);
        lua_pushcfunction(L, open_json);
        HR_ASSERT(lua_pcall(L, 0, 0, 0) == LUA_OK);
    }
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (in == NULL)
        return;
    lua_pushcfunction(L, push_json);
    lua_pushlightuserdata(L, in);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
        char err[HR_SCRIPT_JSON_ERROR_CAP];
        json_t *out = hr_script_json_from(L, -1, err, sizeof err);
        HR_ASSERT(out != NULL);
        HR_ASSERT(json_equal(in, out));
        json_decref(out);
    }
    lua_settop(L, 0);
    json_decref(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    world *w = get_world();
    hr_cproto_event ev;
    if (hr_cproto_parse_event(data, size, &ev) == 1) {
        check_event(w, &ev);
    } else {
        hr_script_msg m = {false, (const char *)data, size};
        hr_script_verdict v;
        const hr_script_status st =
            hr_script_hooks_on_message(w->identity, "on_server_message", &w->conn, &m, &v);
        /* runtime only when the text is JSON nested deeper than the bridge */
        HR_ASSERT(st == HR_SCRIPT_OK || st == HR_SCRIPT_RUNTIME);
        HR_ASSERT(st != HR_SCRIPT_OK || (v.action == HR_SCRIPT_FORWARD && !v.changed));
        hr_script_verdict_deinit(&v);
    }
    check_bridge(data, size);
    return 0;
}

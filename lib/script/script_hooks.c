/* SPEC §7's hook conventions. Each hook is one body run by hr_script_run:
 * push the hook and its arguments, call it, read what it returned into the
 * caller's result. A body may raise at any point (a memory error while
 * pushing, the script's own error, a bad return value); whatever C memory
 * it has handed out by then sits in the result, which the caller releases
 * when the call did not end ok. JSON inputs are decoded before the call and
 * freed after it, so a raise cannot leak them. */
#include "script_hooks.h"

#include <lauxlib.h>
#include <string.h>

#include "core/alloc.h"
#include "proto/json_mem.h"
#include "proto/utf8.h"
#include "script_internal.h"
#include "script_json.h"

/* ---- helpers (inside bodies: may raise) ---- */

/* Pushes t[key] raw (no metamethod runs) and returns its type. */
static int raw_field(lua_State *L, int t, const char *key)
{
    lua_pushstring(L, key);
    return lua_rawget(L, t);
}

/* The value at idx as compact JSON text into *out (owned by the caller's
 * result from the moment it exists). Raises when it cannot be JSON. */
static void to_json_text(lua_State *L, int idx, const char *what, char **out, size_t *len)
{
    char err[HR_SCRIPT_JSON_ERROR_CAP];
    json_t *v = hr_script_json_from(L, idx, err, sizeof err);
    if (v == NULL)
        luaL_error(L, "%s: %s", what, err);
    *out = hr_json_mem_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    json_decref(v);
    if (*out == NULL)
        luaL_error(L, "%s: out of memory", what);
    *len = strlen(*out);
}

/* A copy of the string at idx into *out (owned by the result). */
static void copy_string(lua_State *L, int idx, char **out, size_t *len)
{
    size_t n = 0;
    const char *s = lua_tolstring(L, idx, &n);
    *out = hr_strndup(s, n);
    if (*out == NULL)
        luaL_error(L, "out of memory");
    *len = n;
}

/* ---- connections ---- */

typedef struct conn_ctx {
    const json_t *info;
    int ref;
} conn_ctx;

static int conn_body(lua_State *L, void *ctx)
{
    conn_ctx *c = ctx;
    hr_script_json_push(L, c->info);
    lua_newtable(L);
    lua_setfield(L, -2, "state");
    c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

hr_script_status hr_script_hooks_conn_init(hr_script_vm *vm, const json_t *info, hr_script_conn *c)
{
    conn_ctx ctx = {info, LUA_NOREF};
    memset(c, 0, sizeof *c);
    const hr_script_status st = hr_script_vm_run(vm, conn_body, &ctx);
    if (st != HR_SCRIPT_OK || ctx.ref <= 0)
        return st != HR_SCRIPT_OK ? st : HR_SCRIPT_MEMORY;
    c->vm = vm;
    c->ref = ctx.ref;
    return HR_SCRIPT_OK;
}

static int unref_body(lua_State *L, void *ctx)
{
    luaL_unref(L, LUA_REGISTRYINDEX, *(int *)ctx);
    return 0;
}

void hr_script_hooks_conn_deinit(hr_script_conn *c)
{
    if (c == NULL || c->vm == NULL)
        return;
    (void)hr_script_vm_run(c->vm, unref_body, &c->ref);
    memset(c, 0, sizeof *c);
}

/* ---- on_connect ---- */

typedef struct connect_ctx {
    const json_t *req;
    hr_script_connect *out;
} connect_ctx;

static bool is_token(const char *s, size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c != '\0' && strchr(extra, c) != NULL)))
            return false;
    }
    return true;
}

static bool is_header_value(const char *s, size_t n)
{
    if (n > 8192)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return false;
    return hr_utf8_valid((const uint8_t *)s, n);
}

/* {headers = {name = value}} -> out->headers. */
static void read_headers(lua_State *L, int t, hr_script_connect *out)
{
    if (raw_field(L, t, "headers") != LUA_TTABLE)
        luaL_error(L, "on_connect: a returned table needs headers = {name = value, ...}");
    const int h = lua_gettop(L);
    out->headers = json_object();
    if (out->headers == NULL)
        luaL_error(L, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, h) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "on_connect: headers must map strings to strings");
        size_t kn = 0, vn = 0;
        const char *k = lua_tolstring(L, -2, &kn);
        const char *v = lua_tolstring(L, -1, &vn);
        if (!is_token(k, kn) || !is_header_value(v, vn))
            luaL_error(L, "on_connect: bad header name or value");
        if (json_object_setn_new(out->headers, k, kn, json_stringn(v, vn)) != 0)
            luaL_error(L, "out of memory");
        lua_pop(L, 1);
    }
}

static void read_refusal(lua_State *L, int base, hr_script_connect *out)
{
    out->accept = false;
    out->status = 403;
    if (lua_gettop(L) >= base + 1 && !lua_isnil(L, base + 1)) {
        if (!lua_isinteger(L, base + 1) || lua_tointeger(L, base + 1) < 400 ||
            lua_tointeger(L, base + 1) > 599)
            luaL_error(L, "on_connect: the status must be an integer from 400 to 599");
        out->status = (int)lua_tointeger(L, base + 1);
    }
    if (lua_gettop(L) >= base + 2 && !lua_isnil(L, base + 2)) {
        size_t n = 0;
        if (lua_type(L, base + 2) != LUA_TSTRING)
            luaL_error(L, "on_connect: the text must be a string");
        copy_string(L, base + 2, &out->text, &n);
        if (n > HR_SCRIPT_TEXT_MAX || !hr_utf8_valid((const uint8_t *)out->text, n))
            luaL_error(L, "on_connect: the text must be UTF-8 of at most %d bytes",
                       HR_SCRIPT_TEXT_MAX);
    }
}

static int connect_body(lua_State *L, void *ctx)
{
    connect_ctx *c = ctx;
    c->out->accept = true;
    if (!hr_script_push_hook(L, "on_connect"))
        return 0;
    const int base = lua_gettop(L); /* the function's slot: results start here */
    hr_script_json_push(L, c->req);
    lua_call(L, 1, LUA_MULTRET);
    if (lua_gettop(L) >= base && lua_isboolean(L, base)) {
        if (!lua_toboolean(L, base))
            read_refusal(L, base, c->out);
        return 0;
    }
    if (lua_gettop(L) >= base && lua_istable(L, base)) {
        read_headers(L, base, c->out);
        return 0;
    }
    return luaL_error(L, "on_connect must return true, false[, status, text] or "
                         "{headers = {...}}");
}

hr_script_status hr_script_hooks_on_connect(hr_script *s, const json_t *req, hr_script_connect *out)
{
    memset(out, 0, sizeof *out);
    connect_ctx c = {req, out};
    const hr_script_status st = hr_script_run(s, connect_body, &c);
    if (st != HR_SCRIPT_OK)
        hr_script_connect_deinit(out);
    return st;
}

void hr_script_connect_deinit(hr_script_connect *r)
{
    if (r == NULL)
        return;
    hr_free(r->text);
    json_decref(r->headers);
    memset(r, 0, sizeof *r);
}

/* ---- messages ---- */

typedef struct msg_ctx {
    const char *hook;
    const hr_script_conn *conn;
    const hr_script_msg *msg;
    const json_t *data; /* the decoded text, or NULL */
    hr_script_verdict *out;
} msg_ctx;

static void push_msg(lua_State *L, const msg_ctx *c)
{
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, c->msg->p, c->msg->len);
    lua_setfield(L, -2, c->msg->binary ? "binary" : "text");
    if (c->data != NULL) {
        hr_script_json_push(L, c->data);
        lua_setfield(L, -2, "data");
    }
}

static void read_reply(lua_State *L, int idx, hr_script_verdict *out)
{
    out->action = HR_SCRIPT_REPLY;
    if (lua_type(L, idx) == LUA_TSTRING) {
        copy_string(L, idx, &out->p, &out->len);
        out->binary = !hr_utf8_valid((const uint8_t *)out->p, out->len);
        return;
    }
    to_json_text(L, idx, "reply", &out->p, &out->len);
}

static void read_close(lua_State *L, int t, int code_idx, hr_script_verdict *out)
{
    const lua_Integer code = lua_isinteger(L, code_idx) ? lua_tointeger(L, code_idx) : 0;
    if (code != 1000 && (code < 3000 || code > 4999))
        luaL_error(L, "close must be 1000 or a code from 3000 to 4999");
    out->action = HR_SCRIPT_CLOSE;
    out->close_code = (int)code;
    const int rt = raw_field(L, t, "reason");
    size_t n = 0;
    if (rt == LUA_TNIL) {
        out->reason = hr_strndup("", 0);
        if (out->reason == NULL)
            luaL_error(L, "out of memory");
        return;
    }
    if (rt != LUA_TSTRING)
        luaL_error(L, "reason must be a string");
    copy_string(L, -1, &out->reason, &n);
    if (n > HR_SCRIPT_REASON_MAX || !hr_utf8_valid((const uint8_t *)out->reason, n))
        luaL_error(L, "reason must be UTF-8 of at most %d bytes", HR_SCRIPT_REASON_MAX);
}

static bool same_bytes(lua_State *L, int idx, const hr_script_msg *m)
{
    size_t n = 0;
    const char *s = lua_tolstring(L, idx, &n);
    return n == m->len && memcmp(s, m->p, n) == 0;
}

/* data present: JSON text, unchanged when equal to the original. */
static void forward_data(lua_State *L, int idx, const msg_ctx *c)
{
    char err[HR_SCRIPT_JSON_ERROR_CAP];
    json_t *v = hr_script_json_from(L, idx, err, sizeof err);
    if (v == NULL)
        luaL_error(L, "msg.data: %s", err);
    const bool same = c->data != NULL && !c->msg->binary && json_equal(v, c->data);
    c->out->changed = !same;
    if (!same)
        c->out->p = hr_json_mem_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    json_decref(v);
    if (!same && c->out->p == NULL)
        luaL_error(L, "msg.data: out of memory");
    if (!same)
        c->out->len = strlen(c->out->p);
}

static void read_forward(lua_State *L, int t, const msg_ctx *c)
{
    hr_script_verdict *out = c->out;
    out->action = HR_SCRIPT_FORWARD;
    const int text = raw_field(L, t, "text"), ti = lua_gettop(L);
    const int data = raw_field(L, t, "data"), di = lua_gettop(L);
    const int bin = raw_field(L, t, "binary"), bi = lua_gettop(L);
    if (text == LUA_TSTRING && (c->msg->binary || !same_bytes(L, ti, c->msg))) {
        out->changed = true;
        copy_string(L, ti, &out->p, &out->len);
        if (!hr_utf8_valid((const uint8_t *)out->p, out->len))
            luaL_error(L, "msg.text must be UTF-8 (use msg.binary for bytes)");
    } else if (data != LUA_TNIL) {
        forward_data(L, di, c);
    } else if (text == LUA_TSTRING) {
        out->changed = false;
    } else if (bin == LUA_TSTRING) {
        out->changed = !c->msg->binary || !same_bytes(L, bi, c->msg);
        out->binary = true;
        if (out->changed)
            copy_string(L, bi, &out->p, &out->len);
    } else {
        luaL_error(L, "the returned message has no text, data or binary");
    }
}

static int msg_body(lua_State *L, void *ctx)
{
    msg_ctx *c = ctx;
    c->out->action = HR_SCRIPT_FORWARD;
    if (!hr_script_push_hook(L, c->hook))
        return 0;
    const int base = lua_gettop(L);
    push_msg(L, c);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->conn->ref);
    lua_call(L, 2, 1);
    if (lua_isnil(L, base)) {
        c->out->action = HR_SCRIPT_DROP;
        return 0;
    }
    if (!lua_istable(L, base))
        return luaL_error(L, "%s must return the message, nil, {reply = ...} or {close = ...}",
                          c->hook);
    if (raw_field(L, base, "reply") != LUA_TNIL) {
        read_reply(L, lua_gettop(L), c->out);
        return 0;
    }
    if (raw_field(L, base, "close") != LUA_TNIL) {
        read_close(L, base, lua_gettop(L), c->out);
        return 0;
    }
    read_forward(L, base, c);
    return 0;
}

hr_script_status hr_script_hooks_on_message(hr_script *s, const char *hook,
                                            const hr_script_conn *conn, const hr_script_msg *msg,
                                            hr_script_verdict *out)
{
    memset(out, 0, sizeof *out);
    json_t *data = NULL;
    if (!msg->binary) {
        bool oom = false;
        data = hr_json_mem_loadb(msg->p, msg->len, JSON_DECODE_ANY, NULL, &oom);
    }
    msg_ctx c = {hook, conn, msg, data, out};
    const hr_script_status st = hr_script_run(s, msg_body, &c);
    json_decref(data);
    if (st != HR_SCRIPT_OK)
        hr_script_verdict_deinit(out);
    return st;
}

void hr_script_verdict_deinit(hr_script_verdict *v)
{
    if (v == NULL)
        return;
    hr_free(v->p);
    hr_free(v->reason);
    memset(v, 0, sizeof *v);
}

/* ---- view_key ---- */

typedef struct view_ctx {
    const hr_script_conn *conn;
    char *key;
    size_t *len;
} view_ctx;

static int view_body(lua_State *L, void *ctx)
{
    view_ctx *c = ctx;
    if (!hr_script_push_hook(L, "view_key"))
        return 0;
    const int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->conn->ref);
    lua_call(L, 1, 1);
    if (lua_isnil(L, base))
        return 0;
    if (lua_type(L, base) != LUA_TSTRING)
        return luaL_error(L, "view_key must return a string (or nil for the default view)");
    size_t n = 0;
    const char *k = lua_tolstring(L, base, &n);
    if (n > HR_SCRIPT_VIEW_KEY_MAX)
        return luaL_error(L, "view_key: a key has at most %d bytes", HR_SCRIPT_VIEW_KEY_MAX);
    memcpy(c->key, k, n);
    c->key[n] = '\0';
    *c->len = n;
    return 0;
}

hr_script_status hr_script_hooks_view_key(hr_script *s, const hr_script_conn *conn,
                                          char key[HR_SCRIPT_VIEW_KEY_MAX + 1], size_t *len)
{
    key[0] = '\0';
    *len = 0;
    view_ctx c = {conn, key, len};
    const hr_script_status st = hr_script_run(s, view_body, &c);
    if (st != HR_SCRIPT_OK) {
        key[0] = '\0';
        *len = 0;
    }
    return st;
}

/* ---- on_event ---- */

typedef struct event_ctx {
    const char *channel, *id, *key;
    size_t clen, idlen, klen;
    const json_t *data;
    hr_script_event_out *out;
} event_ctx;

static void read_event(lua_State *L, int t, event_ctx *c)
{
    raw_field(L, t, "data");
    char err[HR_SCRIPT_JSON_ERROR_CAP];
    json_t *v = hr_script_json_from(L, -1, err, sizeof err);
    if (v == NULL)
        luaL_error(L, "event.data: %s", err);
    const bool same = json_equal(v, c->data);
    c->out->changed = !same;
    if (!same)
        c->out->data = hr_json_mem_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    json_decref(v);
    if (!same && c->out->data == NULL)
        luaL_error(L, "event.data: out of memory");
    if (!same)
        c->out->data_len = strlen(c->out->data);
}

static int event_body(lua_State *L, void *ctx)
{
    event_ctx *c = ctx;
    if (!hr_script_push_hook(L, "on_event"))
        return 0;
    const int base = lua_gettop(L);
    lua_createtable(L, 0, 3);
    lua_pushlstring(L, c->channel, c->clen);
    lua_setfield(L, -2, "channel");
    lua_pushlstring(L, c->id, c->idlen);
    lua_setfield(L, -2, "id");
    hr_script_json_push(L, c->data);
    lua_setfield(L, -2, "data");
    lua_pushlstring(L, c->key, c->klen);
    lua_call(L, 2, 1);
    if (lua_isnil(L, base)) {
        c->out->drop = true;
        return 0;
    }
    if (!lua_istable(L, base))
        return luaL_error(L, "on_event must return the event or nil");
    read_event(L, base, c);
    return 0;
}

hr_script_status hr_script_hooks_on_event(hr_script *s, const char *channel, size_t clen,
                                          const char *id, size_t idlen, const char *data,
                                          size_t dlen, const char *key, size_t klen,
                                          hr_script_event_out *out)
{
    memset(out, 0, sizeof *out);
    bool oom = false;
    json_t *d = hr_json_mem_loadb(data, dlen, JSON_DECODE_ANY, NULL, &oom);
    if (d == NULL)
        return oom ? HR_SCRIPT_MEMORY : HR_SCRIPT_RUNTIME;
    event_ctx c = {channel, id, key, clen, idlen, klen, d, out};
    const hr_script_status st = hr_script_run(s, event_body, &c);
    json_decref(d);
    if (st != HR_SCRIPT_OK)
        hr_script_event_out_deinit(out);
    return st;
}

void hr_script_event_out_deinit(hr_script_event_out *e)
{
    if (e == NULL)
        return;
    hr_free(e->data);
    memset(e, 0, sizeof *e);
}

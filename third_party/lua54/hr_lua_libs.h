/* Herald's interface to its vendored copies of Lua 5.4.4 library code
 * (lstrlib_match.c, ltablib.c): the entry points, and the tick they call
 * from loops that run inside C, where Lua's count hook cannot fire.
 * hr_lua_tick is defined by lib/script/script.c. */
#ifndef HR_LUA_LIBS_H
#define HR_LUA_LIBS_H

#include "lua.h"

/* Rounds of a C loop between two ticks. */
#define HR_LUA_TICK_EVERY 4096

/* Raises a Lua error (does not return) when the running call is past its
 * deadline; returns otherwise. */
void hr_lua_tick(lua_State *L);

#define hr_lua_tick_every(L, counter)                                                      \
    do {                                                                                   \
        if (++(counter) >= HR_LUA_TICK_EVERY) {                                            \
            (counter) = 0;                                                                 \
            hr_lua_tick(L);                                                                \
        }                                                                                  \
    } while (0)

int hrlua_str_find(lua_State *L);
int hrlua_str_match(lua_State *L);
int hrlua_str_gmatch(lua_State *L);
int hrlua_str_gsub(lua_State *L);
int hrlua_str_rep(lua_State *L);

/* Pushes a new table library (luaopen_table with ticks). */
int hrlua_open_table(lua_State *L);

#endif

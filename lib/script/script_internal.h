/* Privates shared by script.c (the engine) and script_hooks.c (the hook
 * conventions): running a piece of C in protected mode under a call's
 * limits, with the script's environment at stack index 2. */
#ifndef HR_SCRIPT_INTERNAL_H
#define HR_SCRIPT_INTERNAL_H

#include <lua.h>

#include "script.h"

/* Runs inside lua_pcall: may raise Lua errors (they end the call with
 * runtime, timeout or memory). Stack: 1 = private, 2 = the environment. */
typedef int (*hr_script_body_fn)(lua_State *L, void *ctx);

/* Runs body(L, ctx) for script s under the call's deadline and the memory
 * cap. The message of a failed call is kept (hr_script_vm_error). The stack
 * is restored afterwards. */
hr_script_status hr_script_run(hr_script *s, hr_script_body_fn body, void *ctx);

/* Same, with no script (stack index 2 is nil): for work on the state that
 * belongs to no script, such as per-connection tables. */
hr_script_status hr_script_vm_run(hr_script_vm *vm, hr_script_body_fn body, void *ctx);

/* Inside a body: pushes the function hook of the environment at index 2 and
 * returns true, or pushes nothing and returns false when there is none. */
bool hr_script_push_hook(lua_State *L, const char *hook);

#endif

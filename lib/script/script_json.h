/* The bridge between Lua values and JSON (jansson), in C, for gateway
 * scripts (SPEC §7): the `json` module scripts see, and the conversions the
 * hook layer uses for events and messages.
 *
 * Mapping, JSON -> Lua: object -> table marked as an object, array -> table
 * marked as an array (elements 1..n), string -> string, integer -> Lua
 * integer (exact over the whole 64-bit range, so ids above 2^53 survive),
 * real -> float, true/false -> boolean, null -> json.null (a light userdata:
 * a nil would vanish from tables and arrays).
 *
 * Lua -> JSON: the mark decides, so [] stays an array and {} an object after
 * a round trip. The mark is the table's metatable: json.array(t) and
 * json.object(t) set it (and return t); decoded tables carry it. An unmarked
 * table is an array when its keys are exactly 1..n (n >= 1), otherwise an
 * object; an unmarked empty table is an object. Object keys must be strings
 * or integers (written in decimal); strings must be valid UTF-8; numbers
 * must be finite; nil and json.null are null. Refused, with a message: other
 * key or value types (functions, coroutines, userdata), non-finite numbers,
 * invalid UTF-8, cycles, nesting deeper than HR_SCRIPT_JSON_DEPTH_MAX.
 * Conversion to JSON reads tables raw: no metamethod (script code) runs.
 * Lua tables keep no key order, so every JSON text made from a Lua value
 * (json.encode, hook results) has its object keys sorted: the same value
 * always gives the same bytes.
 *
 * jansson allocates through the allocator hook (core/alloc.h), outside the
 * Lua state's memory cap; the Lua side allocates through the state and may
 * raise a memory error, so pushing runs in protected mode (script.c). */
#ifndef HR_SCRIPT_JSON_H
#define HR_SCRIPT_JSON_H

#include <jansson.h>
#include <lua.h>
#include <stddef.h>

/* Deepest nesting converted in either direction. */
#define HR_SCRIPT_JSON_DEPTH_MAX 512

/* Capacity a caller gives for an error message (NUL included). */
#define HR_SCRIPT_JSON_ERROR_CAP 160

/* Pushes the Lua value for v (not NULL). Needs the marks registered
 * (hr_script_json_open ran on this state). Raises a Lua error when memory
 * runs out or v nests deeper than HR_SCRIPT_JSON_DEPTH_MAX: call it inside a
 * protected call. */
void hr_script_json_push(lua_State *L, const json_t *v);

/* Converts the Lua value at idx to a new jansson value (caller owns it,
 * json_decref). Returns NULL with a message in err[0..errcap) when the value
 * cannot be JSON (see above) or jansson ran out of memory. Never raises a Lua
 * error and runs no Lua code; uses at most HR_SCRIPT_JSON_DEPTH_MAX + 2 Lua
 * stack slots. */
json_t *hr_script_json_from(lua_State *L, int idx, char *err, size_t errcap);

/* Pushes the `json` module table: json.encode(v) -> string (raises an
 * error when v cannot be JSON), json.decode(s) -> value, or nil and a
 * message for invalid JSON, json.null, json.array([t]), json.object([t]).
 * Also registers the marks in the registry. Raises on memory errors. */
void hr_script_json_open(lua_State *L);

#endif

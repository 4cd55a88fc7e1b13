/* The script engine of the gateway's transformation layer (SPEC §7): one
 * Lua 5.4 state per worker loop (never shared between threads), holding any
 * number of compiled scripts, each in its own sandboxed environment.
 *
 * Limits. Memory: the state allocates through a capped allocator
 * (lua_newstate), so everything the scripts of one worker hold together
 * stays under memory_max bytes; a refused allocation raises a Lua memory
 * error. Time: every call (a hook, or a script's top level at load) gets a
 * deadline of timeout_ns on the injected clock; a count hook checks it every
 * 1,000 VM instructions, and the library code that loops inside C checks it
 * too (pattern matching, string.rep, the table library: third_party/lua54),
 * as does the allocator every 64 allocations, so a runaway call is stopped
 * wherever it runs. Once past its deadline a call is stopped at its next
 * instruction even if it catches the error with pcall.
 *
 * Sandbox: a script sees assert, error, getmetatable, ipairs, next, pairs,
 * pcall, rawequal, rawget, rawlen, rawset, select, setmetatable (refusing
 * __gc: no finalizer ever runs script code outside a call), tonumber,
 * tostring, type, xpcall, _VERSION, _G (its own environment), the string
 * (without dump), table, math, utf8 and coroutine libraries (copies per
 * script), json (script_json.h) and log(level, text). Not there: io, os,
 * require, package, load, loadstring, loadfile, dofile, debug, ffi,
 * collectgarbage, print, string.dump; chunks are loaded as text only.
 *
 * Not thread-safe: one vm and its scripts belong to one thread. */
#ifndef HR_SCRIPT_H
#define HR_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hr_script_vm hr_script_vm;
typedef struct hr_script hr_script;

/* Defaults: script_memory_mb [64] and script_timeout_ms [5]. */
#define HR_SCRIPT_MEMORY_DEFAULT ((size_t)64 << 20)
#define HR_SCRIPT_TIMEOUT_DEFAULT_NS ((uint64_t)5 * 1000 * 1000)
/* Default limit of a load (compiling plus the top level): compiling is not
 * the script's per-call work, and a loaded machine must not fail it. */
#define HR_SCRIPT_LOAD_TIMEOUT_DEFAULT_NS ((uint64_t)1000 * 1000 * 1000)
/* Longest error message kept (NUL included); longer ones are cut. */
#define HR_SCRIPT_ERROR_CAP 512
/* Longest text a script may log in one call; longer text is cut. */
#define HR_SCRIPT_LOG_MAX 1024

/* How a call ended: the `kind` label of
 * herald_gateway_script_errors_total, plus ok. */
typedef enum hr_script_status {
    HR_SCRIPT_OK = 0,
    HR_SCRIPT_RUNTIME, /* an error raised by the script, or a bad return value */
    HR_SCRIPT_TIMEOUT, /* ran past its deadline */
    HR_SCRIPT_MEMORY,  /* the state's memory cap refused an allocation */
} hr_script_status;

/* "ok", "runtime", "timeout" or "memory". */
const char *hr_script_status_name(hr_script_status st);

/* Monotonic time in nanoseconds. */
typedef uint64_t (*hr_script_clock_cb)(void *ctx);
/* A script's log(level, text): level is "debug", "info", "warn" or "error"
 * (anything else arrives as "info"); text is not NUL-terminated and may hold
 * any bytes (escape before printing); script names the caller. */
typedef void (*hr_script_log_cb)(void *ctx, const char *script, const char *level, const char *text,
                                 size_t len);

typedef struct hr_script_config {
    size_t memory_max;        /* bytes; 0 = HR_SCRIPT_MEMORY_DEFAULT */
    uint64_t timeout_ns;      /* per call; 0 = HR_SCRIPT_TIMEOUT_DEFAULT_NS */
    uint64_t load_timeout_ns; /* per load; 0 = HR_SCRIPT_LOAD_TIMEOUT_DEFAULT_NS */
    hr_script_clock_cb clock; /* NULL = CLOCK_MONOTONIC */
    void *clock_ctx;
    hr_script_log_cb log; /* NULL = discard */
    void *log_ctx;
} hr_script_config;

/* A new state with the sandbox set up. cfg may be NULL (defaults). Returns
 * NULL when memory runs out (or memory_max is too small to set it up). */
hr_script_vm *hr_script_vm_new(const hr_script_config *cfg);

/* Closes the state and frees it; every script of this vm must have been
 * freed first. NULL is a no-op. */
void hr_script_vm_free(hr_script_vm *vm);

/* Changes the limits for the calls from now on (0 keeps a value). A cap
 * below what the state holds now refuses every allocation until enough is
 * collected. */
void hr_script_vm_set_limits(hr_script_vm *vm, size_t memory_max, uint64_t timeout_ns);

/* Bytes the state holds now. */
size_t hr_script_vm_memory(const hr_script_vm *vm);

/* The message of the last call that did not end ok (or of the last failed
 * load), NUL-terminated; "" before any. Valid until the next call. */
const char *hr_script_vm_error(const hr_script_vm *vm);

/* Compiles text[0..len) as the script called name (a file path, used in
 * messages: "name:line: problem") and runs its top level in a fresh
 * environment, under the memory cap and the load time limit. Returns 0 with *out set (caller frees
 * with hr_script_free); HR_EINVAL when it does not compile or its top level fails, with "name:line:
 * problem" in err[0..errcap) (NUL-terminated, cut to fit; err may be NULL when errcap is 0);
 * HR_ENOMEM. */
int hr_script_load(hr_script_vm *vm, const char *name, const char *text, size_t len,
                   hr_script **out, char *err, size_t errcap);

/* Releases the script's environment (its functions and globals are
 * collected with it). NULL is a no-op. */
void hr_script_free(hr_script *s);

/* The name given to hr_script_load. */
const char *hr_script_name(const hr_script *s);

/* True when the script's environment holds a function called hook now. */
bool hr_script_has_hook(hr_script *s, const char *hook);

#endif

/* jansson on the allocator hook: json_set_alloc_funcs(hr_malloc, hr_free) is
 * installed before main (a constructor in json_mem.c, linked with any user of
 * hr_json_mem_loadb), so jansson's allocations can be made to fail in tests,
 * and a load that failed for lack of memory is told apart from invalid JSON,
 * which jansson alone cannot do (it reports a failed string copy in its lexer
 * as a syntax error), and a dump that lost bytes to a failed allocation is
 * not mistaken for a good one. hr_free is free(), so strings from json_dumps may still
 * be released with free(). */
#ifndef HR_JSON_MEM_H
#define HR_JSON_MEM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* json_loadb(p, len, flags, err) (err may be NULL), plus *oom (never NULL)
 * set to true when the result is NULL because an allocation failed on this
 * thread during the load; *oom is false on success and on invalid JSON. */
json_t *hr_json_mem_loadb(const char *p, size_t len, size_t flags, json_error_t *err, bool *oom);

/* json_dumps(v, flags), or NULL when out of memory. jansson 2.14 ignores
 * some failed appends while dumping (the opening quote of a string), so a
 * dump during which any allocation failed may be malformed JSON: it is
 * discarded here rather than sent. Caller frees the result (free()). */
char *hr_json_mem_dumps(const json_t *v, size_t flags);

/* The last step of a reply writer: dumps obj compactly into *out (malloc'd,
 * the caller frees it with free()) and its length into *out_len, then drops
 * the reference to obj (which may be NULL). ok false means building obj
 * failed earlier, which only running out of memory can do. Returns 0, or
 * HR_ENOMEM with *out NULL and *out_len 0. */
int hr_json_mem_dump_reply(json_t *obj, bool ok, char **out, size_t *out_len);

#endif

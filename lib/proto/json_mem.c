/* jansson's allocator is process-global, so it is set once, before main and
 * before any thread exists, to the hook of core/alloc.h. Loads count this
 * thread's allocation failures around json_loadb to tell "out of memory"
 * from "invalid JSON". */
#include "json_mem.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

__attribute__((constructor)) static void install_hook(void)
{
    json_set_alloc_funcs(hr_malloc, hr_free);
}

json_t *hr_json_mem_loadb(const char *p, size_t len, size_t flags, json_error_t *err, bool *oom)
{
    const unsigned long before = hr_alloc_failures();
    json_t *v = json_loadb(p, len, flags, err);
    *oom = v == NULL && hr_alloc_failures() != before;
    return v;
}

char *hr_json_mem_dumps(const json_t *v, size_t flags)
{
    const unsigned long before = hr_alloc_failures();
    char *s = json_dumps(v, flags);
    if (s != NULL && hr_alloc_failures() != before) {
        hr_free(s);
        s = NULL;
    }
    return s;
}

int hr_json_mem_dump_reply(json_t *obj, bool ok, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    char *s = ok && obj != NULL ? hr_json_mem_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (s == NULL)
        return HR_ENOMEM;
    *out = s;
    *out_len = strlen(s);
    return 0;
}

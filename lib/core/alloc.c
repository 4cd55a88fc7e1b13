/* Allocation wrappers with a test-only failure injector (see alloc.h). The
 * injector is plain globals: fail_at == 0 (the production state) costs one
 * well-predicted branch per call. Failures are also counted per thread, on
 * the failure path only. */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static unsigned long fail_at; /* 0: never fail */
static unsigned long counted;
static bool injected;
static _Thread_local unsigned long failures; /* NULL results on this thread */

/* Passes p through, counting a failure when it is NULL. */
static void *note(void *p)
{
    if (p == NULL)
        failures++;
    return p;
}

/* True when this allocation is the one armed to fail. */
static bool inject(void)
{
    if (fail_at == 0)
        return false;
    if (++counted != fail_at)
        return false;
    injected = true;
    return true;
}

void *hr_malloc(size_t n)
{
    return note(inject() ? NULL : malloc(n));
}

void *hr_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return note(NULL); /* checked here: sanitizer runtimes abort instead */
    return note(inject() ? NULL : calloc(count, size));
}

void *hr_realloc(void *p, size_t n)
{
    return note(inject() ? NULL : realloc(p, n > 0 ? n : 1));
}

void hr_free(void *p)
{
    free(p);
}

char *hr_strndup(const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return note(NULL);
    char *d = hr_malloc(n + 1);
    if (d == NULL)
        return NULL;
    if (n > 0)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

unsigned long hr_alloc_failures(void)
{
    return failures;
}

void hr_alloc_fail_nth(unsigned long n)
{
    fail_at = n;
    counted = 0;
    injected = false;
}

unsigned long hr_alloc_count(void)
{
    return counted;
}

bool hr_alloc_failed(void)
{
    return injected;
}

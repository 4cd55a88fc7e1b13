/* The allocator hook: every allocation of lib/core/buf.c, lib/core/msg.c and
 * lib/proto goes through these wrappers, so tests can make the Nth one fail
 * and check the out-of-memory paths (nghttp2 tests/failmalloc_test.c).
 * OpenSSL and libjwt's own allocations are not hooked.
 *
 * They are thin wrappers over the C library: memory from hr_malloc and
 * friends may be released with free() and vice versa, so callers that free a
 * returned string with free() stay correct. The hook costs one load and one
 * predictable branch per call while no failure is armed (always, outside
 * tests). zlib is hooked through z_stream.zalloc/zfree in ws_deflate.c;
 * jansson through json_set_alloc_funcs(hr_malloc, hr_free), installed before
 * main by lib/proto/json_mem.c (linked into every program that parses JSON
 * with lib/proto). Caveat: jansson 2.14's lexer aborts (assert) when an
 * allocation fails while it saves a token longer than 16 bytes
 * (akheron/jansson#362), so tests inject failures into jansson loads only
 * with short tokens.
 *
 * Failure injection is for tests only and not thread-safe: arm it, run the
 * code under test on one thread, disarm it. */
#ifndef HR_ALLOC_H
#define HR_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* malloc(n); NULL when out of memory or when an injected failure hits. */
void *hr_malloc(size_t n);

/* calloc(count, size); NULL when out of memory, when count * size overflows
 * or when an injected failure hits. */
void *hr_calloc(size_t count, size_t size);

/* realloc(p, n) for n > 0 (n == 0 is treated as 1, so the result is never a
 * freed pointer); NULL leaves p untouched, as realloc does. */
void *hr_realloc(void *p, size_t n);

/* free(p); NULL is a no-op. */
void hr_free(void *p);

/* A NUL-terminated copy of s[0..n) (s need not be NUL-terminated and must
 * hold n bytes; an embedded NUL is copied like any byte). NULL when out of
 * memory or n == SIZE_MAX. */
char *hr_strndup(const char *s, size_t n);

/* Allocations of the calling thread that returned NULL so far (real or
 * injected). Compare it before and after a call into a library that hides
 * its allocation failures: jansson reports some as syntax errors. */
unsigned long hr_alloc_failures(void);

/* Test only: counting from now, the nth allocation (1-based; hr_malloc,
 * hr_calloc, hr_realloc, hr_strndup and the zlib and jansson hooks each
 * count one) fails; the others succeed. n == 0 disarms and resets the counts. */
void hr_alloc_fail_nth(unsigned long n);

/* Test only: allocations counted since the last hr_alloc_fail_nth (counted
 * only while a failure is armed). */
unsigned long hr_alloc_count(void);

/* Test only: true when the armed failure has been injected. */
bool hr_alloc_failed(void);

#endif

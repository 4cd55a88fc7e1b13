/* Incremental UTF-8 validation (RFC 3629) with a small DFA: the state after
 * any prefix of the input says "complete", "mid-sequence" or "invalid", so a
 * text message can be checked fragment by fragment and rejected as soon as
 * its bytes cannot start any valid string (RFC 6455 §8.1 "fail fast").
 * Rejected: overlong forms (C0, C1, E0 80..9F, F0 80..8F), UTF-16 surrogates
 * (ED A0..BF), code points above U+10FFFF (F4 90.., F5..FF), stray
 * continuation bytes and truncated sequences (not complete at the end).
 * Pure; no allocation. */
#ifndef HR_UTF8_H
#define HR_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hr_utf8 {
    uint32_t state; /* private: DFA state, 0 = between characters */
} hr_utf8;

/* Starts a new validation (between characters). */
void hr_utf8_init(hr_utf8 *u);

/* Feeds p[0..n) (p may be NULL when n == 0). Returns false once the input so
 * far can no longer be valid UTF-8; the state then stays invalid until
 * hr_utf8_init. Returns true otherwise, possibly mid-sequence. */
bool hr_utf8_feed(hr_utf8 *u, const uint8_t *p, size_t n);

/* True when the input so far ends between characters (and is valid):
 * check it at the end of a message. */
bool hr_utf8_is_complete(const hr_utf8 *u);

/* True when p[0..n) is a complete valid UTF-8 string (n == 0 is valid). */
bool hr_utf8_valid(const uint8_t *p, size_t n);

#endif

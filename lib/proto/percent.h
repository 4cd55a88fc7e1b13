/* Hex digits and percent-decoding (RFC 3986 §2.1), shared by the request
 * target parser (http_query), the broker URL parser, the static file path
 * resolver and the chunked-body size lines. Pure functions. */
#ifndef HR_PERCENT_H
#define HR_PERCENT_H

#include <stdbool.h>
#include <stddef.h>

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int hr_hex_digit(int c);

/* Percent-decodes s[0..n) into out[0..cap) with a terminating NUL; with
 * plus_is_space, '+' decodes to a space (form encoding). *out_len (may be
 * NULL) gets the decoded length. Returns 0, HR_EINVAL for a malformed escape
 * or an encoded NUL byte, or HR_ETOOBIG when the result plus NUL does not
 * fit in cap. */
int hr_percent_decode(const char *s, size_t n, bool plus_is_space, char *out, size_t cap,
                      size_t *out_len);

#endif

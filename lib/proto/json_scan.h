/* A validating JSON scanner that allocates nothing: it checks that bytes
 * form one JSON value (RFC 8259, as strict as jansson: UTF-8 in strings,
 * paired surrogate escapes, no raw control characters, no leading zeros,
 * nesting as deep as jansson's) and says where the value ends, so
 * callers can take views of parts of a message instead of building a tree.
 * Used by hr_cproto_parse_event, which finds an event's channel, id and data
 * on the gateway's transform path. Pure: no I/O, no allocation, no state
 * between calls. */
#ifndef HR_JSON_SCAN_H
#define HR_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting accepted, counted as jansson does (a scalar inside N
 * containers is at level N + 1; an empty container at level N is fine). */
#define HR_JSON_SCAN_DEPTH_MAX 2048

/* Skips JSON whitespace from p[i]; returns the index of the first other
 * byte (len when none). */
size_t hr_json_scan_ws(const uint8_t *p, size_t len, size_t i);

/* Scans one JSON value that starts at p[i] (after optional whitespace).
 * Returns the index just past it (> i), or 0 when p[i..len) does not start
 * with a complete valid value (truncated input is invalid: the caller holds
 * a whole message). Reads nothing at or past p + len. */
size_t hr_json_scan_value(const uint8_t *p, size_t len, size_t i);

/* Scans one JSON string that starts at p[i] (which must be '"').
 * Returns the index just past its closing quote, or 0 when invalid.
 * *escaped (may be NULL) is set to whether the string holds a backslash. */
size_t hr_json_scan_string(const uint8_t *p, size_t len, size_t i, bool *escaped);

/* True when the valid JSON string token p[0..len) (quotes included, as
 * delimited by hr_json_scan_string) decodes to exactly the NUL-terminated
 * ASCII text lit: "t\u0079pe" equals "type". */
bool hr_json_scan_string_equals(const uint8_t *p, size_t len, const char *lit);

#endif

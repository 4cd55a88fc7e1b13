/* Validating JSON scanner without allocation. Nesting is tracked in a bit
 * stack on the C stack (one bit per level: object or array), so input depth
 * never becomes recursion depth and a hostile message cannot exhaust the
 * stack. Strings are checked byte by byte for control characters and
 * escapes, then once as UTF-8 when they hold a byte above 0x7f.
 *
 *   value  := object | array | string | number | true | false | null
 *   after a value: depth 0 -> done; else ',' (next member or element) or
 *   the closer of the innermost open container. */
#include "json_scan.h"

#include <string.h>

#include "utf8.h"

size_t hr_json_scan_ws(const uint8_t *p, size_t len, size_t i)
{
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads \uXXXX at p[i] (the backslash); returns the code unit or -1. */
static long read_u(const uint8_t *p, size_t len, size_t i)
{
    if (len - i < 6 || p[i] != '\\' || p[i + 1] != 'u')
        return -1;
    long v = 0;
    for (size_t k = 2; k < 6; k++) {
        const int h = hex_val(p[i + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Decodes the escape at p[i] (the backslash) into a code point *cp (may be
 * NULL). Returns the index past it, or 0 when invalid: unknown escapes,
 * \u0000 (jansson refuses it too) and unpaired surrogates. */
static size_t scan_escape(const uint8_t *p, size_t len, size_t i, long *cp)
{
    if (len - i < 2)
        return 0;
    static const char simple[] = "\"\\/bfnrt";
    static const char decoded[] = "\"\\/\b\f\n\r\t";
    const char *at = p[i + 1] != '\0' ? strchr(simple, p[i + 1]) : NULL;
    if (at != NULL) {
        if (cp != NULL)
            *cp = decoded[at - simple];
        return i + 2;
    }
    long u = read_u(p, len, i);
    if (u <= 0 || (u >= 0xdc00 && u <= 0xdfff))
        return 0;
    if (u >= 0xd800 && u <= 0xdbff) {
        const long lo = read_u(p, len, i + 6);
        if (lo < 0xdc00 || lo > 0xdfff)
            return 0;
        u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        i += 6;
    }
    if (cp != NULL)
        *cp = u;
    return i + 6;
}

size_t hr_json_scan_string(const uint8_t *p, size_t len, size_t i, bool *escaped)
{
    if (i >= len || p[i] != '"')
        return 0;
    bool esc = false, high = false;
    size_t j = i + 1;
    while (j < len) {
        const uint8_t c = p[j];
        if (c == '"') {
            if (high && !hr_utf8_valid(p + i + 1, j - i - 1))
                return 0;
            if (escaped != NULL)
                *escaped = esc;
            return j + 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            esc = true;
            j = scan_escape(p, len, j, NULL);
            if (j == 0)
                return 0;
            continue;
        }
        high |= c >= 0x80;
        j++;
    }
    return 0;
}

static size_t scan_digits(const uint8_t *p, size_t len, size_t i)
{
    const size_t start = i;
    while (i < len && p[i] >= '0' && p[i] <= '9')
        i++;
    return i > start ? i : 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; ranges are not checked. */
static size_t scan_number(const uint8_t *p, size_t len, size_t i)
{
    if (i < len && p[i] == '-')
        i++;
    if (i < len && p[i] == '0')
        i++;
    else if ((i = scan_digits(p, len, i)) == 0)
        return 0;
    if (i < len && p[i] == '.' && (i = scan_digits(p, len, i + 1)) == 0)
        return 0;
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < len && (p[i] == '+' || p[i] == '-'))
            i++;
        if ((i = scan_digits(p, len, i)) == 0)
            return 0;
    }
    return i;
}

static size_t scan_literal(const uint8_t *p, size_t len, size_t i, const char *lit)
{
    const size_t n = strlen(lit);
    return len - i >= n && memcmp(p + i, lit, n) == 0 ? i + n : 0;
}

/* A scalar at p[i] (i < len): string, number or literal. */
static size_t scan_scalar(const uint8_t *p, size_t len, size_t i)
{
    switch (p[i]) {
    case '"':
        return hr_json_scan_string(p, len, i, NULL);
    case 't':
        return scan_literal(p, len, i, "true");
    case 'f':
        return scan_literal(p, len, i, "false");
    case 'n':
        return scan_literal(p, len, i, "null");
    default:
        return (p[i] == '-' || (p[i] >= '0' && p[i] <= '9')) ? scan_number(p, len, i) : 0;
    }
}

/* `"key" :` at p[i] after whitespace; returns the index past the colon. */
static size_t scan_key(const uint8_t *p, size_t len, size_t i)
{
    i = hr_json_scan_string(p, len, hr_json_scan_ws(p, len, i), NULL);
    if (i == 0)
        return 0;
    i = hr_json_scan_ws(p, len, i);
    return i < len && p[i] == ':' ? i + 1 : 0;
}

typedef struct nest {
    uint8_t is_obj[HR_JSON_SCAN_DEPTH_MAX / 8];
    size_t depth;
} nest;

static bool top_is_obj(const nest *n)
{
    const size_t d = n->depth - 1;
    return (n->is_obj[d / 8] >> (d % 8)) & 1u;
}

/* Opens the container at p[i]; returns the index where the next value
 * starts (after a key for objects), the index past the closer of an empty
 * container with *closed set, or 0. */
static size_t open_container(const uint8_t *p, size_t len, size_t i, nest *n, bool *closed)
{
    const bool obj = p[i] == '{';
    if (n->depth == HR_JSON_SCAN_DEPTH_MAX)
        return 0;
    const size_t j = hr_json_scan_ws(p, len, i + 1);
    *closed = j < len && p[j] == (obj ? '}' : ']');
    if (*closed)
        return j + 1;
    const size_t d = n->depth++;
    const uint8_t bit = (uint8_t)(1u << (d % 8));
    if (obj)
        n->is_obj[d / 8] |= bit;
    else
        n->is_obj[d / 8] &= (uint8_t)~bit;
    return obj ? scan_key(p, len, i + 1) : i + 1;
}

/* After a value at depth > 0: consumes closers and one ','. Returns the
 * index where the next value starts, or len + 1 with depth 0 (done; *end
 * set), or 0 when invalid. */
static size_t after_value(const uint8_t *p, size_t len, size_t i, nest *n, size_t *end)
{
    while (n->depth > 0) {
        i = hr_json_scan_ws(p, len, i);
        if (i >= len)
            return 0;
        if (p[i] == ',')
            return top_is_obj(n) ? scan_key(p, len, i + 1) : i + 1;
        if (p[i] != (top_is_obj(n) ? '}' : ']'))
            return 0;
        n->depth--;
        i++;
    }
    *end = i;
    return len + 1;
}

size_t hr_json_scan_value(const uint8_t *p, size_t len, size_t i)
{
    nest n;
    n.depth = 0;
    for (;;) {
        i = hr_json_scan_ws(p, len, i);
        if (i >= len)
            return 0;
        bool closed = true;
        if (p[i] == '{' || p[i] == '[')
            i = open_container(p, len, i, &n, &closed);
        else /* jansson counts the scalar as a level too */
            i = n.depth < HR_JSON_SCAN_DEPTH_MAX ? scan_scalar(p, len, i) : 0;
        if (i == 0)
            return 0;
        if (!closed)
            continue;
        if (n.depth == 0)
            return i;
        size_t end = 0;
        i = after_value(p, len, i, &n, &end);
        if (i == len + 1)
            return end;
        if (i == 0)
            return 0;
    }
}

bool hr_json_scan_string_equals(const uint8_t *p, size_t len, const char *lit)
{
    if (len < 2 || p[0] != '"' || p[len - 1] != '"')
        return false;
    size_t i = 1, k = 0;
    while (i < len - 1) {
        long c = p[i];
        if (c == '\\') {
            i = scan_escape(p, len - 1, i, &c);
            if (i == 0)
                return false;
        } else {
            i++;
        }
        if (lit[k] == '\0' || c != (unsigned char)lit[k])
            return false;
        k++;
    }
    return lit[k] == '\0';
}

/* Server-Sent Events framing. Every writer appends through put(), which
 * copies only while the bytes fit and always counts them, so one pass both
 * measures and writes (the caller retries with the returned capacity). */
#include "sse.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

static void put(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
    if (out != NULL && *at + n <= cap)
        memcpy(out + *at, s, n);
    *at += n;
}

/* True when s[0..n) holds no CR, LF or NUL: safe inside one field line. */
static bool is_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return false;
    return true;
}

static void put_field(char *out, size_t cap, size_t *at, const char *name, const char *v, size_t n)
{
    put(out, cap, at, name, strlen(name));
    put(out, cap, at, v, n);
    put(out, cap, at, "\n", 1);
}

int hr_sse_write_event(char *out, size_t cap, const char *id, size_t idlen, const char *event,
                       size_t elen, const char *data, size_t dlen)
{
    if ((idlen > 0 && (id == NULL || !is_line(id, idlen))) ||
        (elen > 0 && (event == NULL || !is_line(event, elen))) || (dlen > 0 && data == NULL) ||
        (dlen > 0 && memchr(data, '\0', dlen) != NULL))
        return HR_EINVAL;
    /* Worst case: every byte a line break, each turning into "\ndata: ". */
    if (dlen > (size_t)INT_MAX / 8 - idlen - elen - 32)
        return HR_ETOOBIG;
    size_t at = 0;
    if (idlen > 0)
        put_field(out, cap, &at, "id: ", id, idlen);
    if (elen > 0)
        put_field(out, cap, &at, "event: ", event, elen);
    size_t start = 0;
    for (size_t i = 0; i <= dlen; i++) {
        if (i < dlen && data[i] != '\r' && data[i] != '\n')
            continue;
        put_field(out, cap, &at, "data: ", data + start, i - start);
        if (i + 1 < dlen && data[i] == '\r' && data[i + 1] == '\n')
            i++; /* CRLF is one break */
        start = i + 1;
    }
    put(out, cap, &at, "\n", 1);
    return (int)at;
}

int hr_sse_write_comment(char *out, size_t cap, const char *text, size_t len)
{
    if ((len > 0 && text == NULL) || !is_line(text, len) || len > (size_t)INT_MAX - 4)
        return HR_EINVAL;
    size_t at = 0;
    put(out, cap, &at, ": ", 2);
    put(out, cap, &at, text, len);
    put(out, cap, &at, "\n\n", 2);
    return (int)at;
}

int hr_sse_write_retry(char *out, size_t cap, unsigned ms)
{
    char num[16];
    const int n = snprintf(num, sizeof num, "%u", ms);
    size_t at = 0;
    put(out, cap, &at, "retry: ", 7);
    put(out, cap, &at, num, (size_t)n);
    put(out, cap, &at, "\n\n", 2);
    return (int)at;
}

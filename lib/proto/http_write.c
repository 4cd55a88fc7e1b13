/* Writers for small HTTP/1.1 messages: a status response with a body, and a
 * request head. Output goes into the caller's bounded buffer through one
 * snprintf-style appender that reports truncation instead of overflowing. */
#include "http_write.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct out_buf {
    char *p;
    size_t cap;
    size_t len;
    bool full;
} out_buf;

__attribute__((format(printf, 2, 3))) static void put(out_buf *o, const char *fmt, ...)
{
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->full = true;
        return;
    }
    o->len += (size_t)n;
}

static void put_bytes(out_buf *o, const char *p, size_t n)
{
    if (o->full || n == 0)
        return;
    if (n > o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

const char *hr_http_write_reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } table[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {411, "Length Required"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {426, "Upgrade Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].status == status)
            return table[i].reason;
    return "Unknown";
}

size_t hr_http_write_status(int status, const char *content_type, const char *body, size_t body_len,
                            const char *extra_headers, char *out, size_t cap)
{
    if (status < 100 || status > 999 || cap == 0)
        return 0;
    out_buf o = {.p = out, .cap = cap};
    put(&o, "HTTP/1.1 %d %s\r\n", status, hr_http_write_reason(status));
    if (content_type != NULL)
        put(&o, "Content-Type: %s\r\n", content_type);
    put(&o, "Content-Length: %zu\r\n", body_len);
    if (status == 426)
        put(&o, "Sec-WebSocket-Version: 13\r\n");
    if (extra_headers != NULL)
        put(&o, "%s", extra_headers);
    put(&o, "\r\n");
    put_bytes(&o, body, body_len);
    return o.full ? 0 : o.len;
}

size_t hr_http_write_request(const char *method, const char *host, const char *target,
                             const char *extra_headers, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    out_buf o = {.p = out, .cap = cap};
    put(&o, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host);
    if (extra_headers != NULL)
        put(&o, "%s", extra_headers);
    put(&o, "\r\n");
    return o.full ? 0 : o.len;
}

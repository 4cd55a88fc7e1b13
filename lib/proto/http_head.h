/* HTTP/1.x heads: one request head (edges: notifier, gateway) or one response
 * head (gateway upstream side, bench client), parsed by llhttp without
 * touching a socket. The parser is stateless: when more bytes arrive, call it
 * again on the whole accumulated input. The result holds views into the
 * caller's bytes; the head is valid as long as those bytes are unchanged.
 *
 *   p                                   p+head_len              p+len
 *   |-- request line, headers, CRLFCRLF --|-- body / WS frames ----|
 *
 * The body is never parsed here: see http_chunked.h for chunked bodies and
 * content_length for the others. */
#ifndef HR_HTTP_HEAD_H
#define HR_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One header line; name and value are views into the parsed input (value
 * without surrounding whitespace). Not NUL-terminated. */
typedef struct hr_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} hr_http_header;

#define HR_HTTP_MAX_HEADERS 64
#define HR_HTTP_DEFAULT_MAX_HEAD 8192

typedef struct hr_http_head {
    bool is_response;
    int method;             /* llhttp_method (HTTP_GET = 1, ...); requests only */
    const char *method_str; /* "GET"; view; requests only */
    size_t method_len;
    const char *target; /* request-target, e.g. "/ws?channels=a"; view */
    size_t target_len;
    int status; /* responses only */
    int http_major, http_minor;
    hr_http_header headers[HR_HTTP_MAX_HEADERS];
    size_t n_headers;
    bool upgrade;           /* Connection has token "upgrade" and Upgrade has "websocket" */
    bool keep_alive;        /* llhttp's verdict: version default + Connection header */
    bool chunked;           /* Transfer-Encoding: chunked (final coding) */
    int64_t content_length; /* -1 when there is no Content-Length header */
    size_t head_len;        /* bytes of the head including the final CRLFCRLF */
} hr_http_head;

typedef struct hr_http_limits {
    size_t max_head;    /* 0 means HR_HTTP_DEFAULT_MAX_HEAD (8192) */
    size_t max_headers; /* 0 or anything above means HR_HTTP_MAX_HEADERS */
} hr_http_limits;

/* Parses the head at p[0..len): a response head when response is true, else
 * a request head. lim may be NULL for the defaults. Stateless: call again
 * from the start of the input when more bytes arrive.
 * Returns:
 *   > 0           the head is complete; returns out->head_len (body bytes or
 *                 WebSocket frames, if any, start at p + head_len);
 *   0             incomplete: need more bytes (out is unspecified; a
 *                 malformed head is reported once its blank line arrives);
 *   HR_ETOOBIG    the head is longer than max_head or has more than
 *                 max_headers headers (the edge answers 431);
 *   HR_EPROTO     malformed, or a Content-Length above INT64_MAX (the edge
 *                 answers 400).
 * Views in out point into p. Obsolete line folding and other lenient forms are
 * refused, as are Content-Length together with Transfer-Encoding. */
int hr_http_head_parse(const uint8_t *p, size_t len, bool response, const hr_http_limits *lim,
                       hr_http_head *out);

/* First header whose name equals name (ASCII case-insensitive), or NULL. */
const hr_http_header *hr_http_head_find(const hr_http_head *h, const char *name);

/* Number of headers named name (case-insensitive); duplicates of headers that
 * must be unique (Sec-WebSocket-Key, Host) are refused by callers with this. */
size_t hr_http_head_count(const hr_http_head *h, const char *name);

/* True when h's value, read as a comma-separated list of tokens (optional
 * whitespace; parameters after ';' ignored), contains token, compared ASCII
 * case-insensitively. h may be NULL (false). */
bool hr_http_header_has_token(const hr_http_header *h, const char *token);

/* True when any header named name contains token (see above): a list may be
 * split over several header lines. */
bool hr_http_head_has_token(const hr_http_head *h, const char *name, const char *token);

/* True when the header value equals s exactly (case-insensitive). */
bool hr_http_header_equals(const hr_http_header *h, const char *s);

#endif

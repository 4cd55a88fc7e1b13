/* Writing small HTTP/1.1 messages into caller buffers: complete status
 * responses (errors before an upgrade, health checks, publish replies) and
 * request heads. Pure: the caller sends the bytes. */
#ifndef HR_HTTP_WRITE_H
#define HR_HTTP_WRITE_H

#include <stddef.h>

/* Standard reason phrase for status ("Not Found"), "Unknown" for others. */
const char *hr_http_write_reason(int status);

/* Writes a complete response into out[0..cap):
 *   HTTP/1.1 <status> <reason>\r\n
 *   Content-Type: <content_type>\r\n      (omitted when content_type is NULL)
 *   Content-Length: <body_len>\r\n
 *   Sec-WebSocket-Version: 13\r\n         (added automatically for 426)
 *   <extra_headers>                       (NULL or "Name: v\r\n..." lines)
 *   \r\n<body>
 * body may be NULL when body_len is 0. Returns the length written, or 0 when
 * cap is too small (nothing useful is left in out) or status is outside
 * 100..999. */
size_t hr_http_write_status(int status, const char *content_type, const char *body, size_t body_len,
                            const char *extra_headers, char *out, size_t cap);

/* Writes a request head "METHOD target HTTP/1.1\r\nHost: host\r\n" +
 * extra_headers + "\r\n" into out[0..cap). Returns the length or 0 when it
 * does not fit. Callers add Content-Length / Transfer-Encoding themselves. */
size_t hr_http_write_request(const char *method, const char *host, const char *target,
                             const char *extra_headers, char *out, size_t cap);

#endif

/* Server-Sent Events framing (SPEC §8, the WHATWG "text/event-stream"
 * format): one event is "id: <id>\nevent: <name>\ndata: <line>\n...\n\n",
 * with one data line per line of the payload so that a payload holding
 * line breaks survives; a line starting with ':' is a comment (keepalive);
 * "retry: <ms>" sets the client's reconnection delay. Pure writers into
 * caller memory with the snprintf-like contract of hr_cproto_write_event:
 * they return the full length; when that exceeds cap, out[0..cap) holds
 * nothing useful (the caller retries with the length); they never write a
 * NUL; out may be NULL when cap == 0. */
#ifndef HR_SSE_H
#define HR_SSE_H

#include <stddef.h>

/* Writes one event. id and event are optional (NULL or length 0: the field
 * is left out) and must not hold CR, LF or NUL; data may hold any bytes but
 * NUL, and CR, LF and CRLF in it split data lines (an empty data writes one
 * empty data line, which a client delivers as ""). Returns the length, or
 * HR_EINVAL for a bad id, event or data, HR_ETOOBIG past INT_MAX. */
int hr_sse_write_event(char *out, size_t cap, const char *id, size_t idlen, const char *event,
                       size_t elen, const char *data, size_t dlen);

/* Writes ": <text>\n\n" (a comment; clients ignore it, proxies see
 * traffic). text must not hold CR, LF or NUL (HR_EINVAL). */
int hr_sse_write_comment(char *out, size_t cap, const char *text, size_t len);

/* Writes "retry: <ms>\n\n". */
int hr_sse_write_retry(char *out, size_t cap, unsigned ms);

#endif

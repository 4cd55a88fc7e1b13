/* The Server-Sent Events side of a bench_conn: the GET that opens the
 * stream, the check of the answer's head, and the body: chunked coding
 * removed when the answer has it (nginx), then hr_sse_reader. Events are
 * timed like WebSocket messages (bench_conn_event on the data); Herald's
 * session replies arrive as comments, and the "subscribed" one makes the
 * client ready (--protocol sse); a peer's stream is ready at the 200
 * (--protocol sse-none). */
#ifndef BENCH_SSE_CLIENT_H
#define BENCH_SSE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "proto/http_head.h"

/* Sends "GET target" with Accept: text/event-stream. */
void bench_sse_send_request(bench_conn *c, const char *host, const char *target);

/* 0 when head answers 200 with Content-Type text/event-stream (and notes
 * its chunked coding), else -1. */
int bench_sse_check_head(bench_conn *c, const hr_http_head *head);

/* Body bytes after the head; may fail and close c. */
void bench_sse_feed(bench_conn *c, const uint8_t *p, size_t n);

#endif

/* The Pusher protocol 7 side of a bench_conn (a WebSocket client to
 * /app/<key>?protocol=7): on pusher:connection_established it sends
 * pusher:subscribe for its channel, and pusher_internal:subscription_succeeded
 * makes it ready. Events then arrive as {"event","channel","data"} with the
 * data a JSON string (bench_conn_event reads the escaped keys); pusher:ping
 * is answered with pusher:pong; pusher:error or a subscription error fails
 * the client. */
#ifndef BENCH_PUSHER_CLIENT_H
#define BENCH_PUSHER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* One text message from the server. */
void bench_pusher_on_message(bench_conn *c, const uint8_t *p, size_t len);

#endif

/* A Pusher benchmark client. Messages are told apart by their event name
 * (a substring test: the server's messages are compact JSON, and event data
 * is a JSON string, so a quote inside it is always escaped and never ends
 * the name we look for). */
#include "pusher_client.h"

#include <stdio.h>
#include <string.h>

static bool is_event(const uint8_t *p, size_t len, const char *name)
{
    char key[96];
    const int n = snprintf(key, sizeof key, "\"event\":\"%s\"", name);
    return n > 0 && (size_t)n < sizeof key && memmem(p, len, key, (size_t)n) != NULL;
}

static void subscribe(bench_conn *c)
{
    char ch[96], msg[192];
    bench_conn_channel(c, ch, sizeof ch);
    const int n = snprintf(msg, sizeof msg,
                           "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"%s\"}}", ch);
    if (n <= 0 || (size_t)n >= sizeof msg) {
        bench_conn_fail(c);
        return;
    }
    c->pusher_subscribing = true;
    bench_conn_send_text(c, msg, (size_t)n);
}

void bench_pusher_on_message(bench_conn *c, const uint8_t *p, size_t len)
{
    if (c->state != BENCH_CONN_OPEN)
        return;
    if (is_event(p, len, "pusher:ping")) {
        static const char pong[] = "{\"event\":\"pusher:pong\",\"data\":{}}";
        bench_conn_send_text(c, pong, sizeof pong - 1);
    } else if (is_event(p, len, "pusher:error") || is_event(p, len, "pusher:subscription_error")) {
        bench_conn_fail(c);
    } else if (c->ready) {
        bench_conn_event(c, p, len);
    } else if (!c->pusher_subscribing && is_event(p, len, "pusher:connection_established")) {
        subscribe(c);
    } else if (c->pusher_subscribing &&
               is_event(p, len, "pusher_internal:subscription_succeeded")) {
        bench_conn_ready(c);
    }
}

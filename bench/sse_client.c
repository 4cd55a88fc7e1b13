/* An SSE benchmark client: HTTP/1.1 GET, then the event stream read
 * incrementally (hr_http_chunked, hr_sse_reader); nothing is kept between
 * events, as for WebSocket clients. */
#include "sse_client.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void bench_sse_send_request(bench_conn *c, const char *host, const char *target)
{
    char req[1024];
    const int n = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
                           "Cache-Control: no-cache\r\n\r\n",
                           target, host);
    if (n <= 0 || (size_t)n >= sizeof req) {
        bench_conn_fail(c);
        return;
    }
    (void)bench_conn_write(c, req, (size_t)n);
}

int bench_sse_check_head(bench_conn *c, const hr_http_head *head)
{
    static const char type[] = "text/event-stream";
    const hr_http_header *ct = hr_http_head_find(head, "Content-Type");
    if (head->status != 200 || ct == NULL || ct->value_len < sizeof type - 1 ||
        strncasecmp(ct->value, type, sizeof type - 1) != 0)
        return -1;
    c->chunked = head->chunked;
    hr_http_chunked_init(&c->chunks);
    return 0;
}

static bool is_open(const bench_conn *c)
{
    return c->state == BENCH_CONN_OPEN;
}

static void feed_events(bench_conn *c, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n && is_open(c)) {
        hr_sse_event ev;
        const ssize_t k = hr_sse_reader_feed(&c->sse, p + off, n - off, &ev);
        if (k < 0) {
            bench_conn_fail(c);
            return;
        }
        off += (size_t)k;
        if (ev.type == HR_SSE_EV_EVENT && c->ready)
            bench_conn_event(c, (const uint8_t *)ev.data, ev.data_len);
        else if (ev.type == HR_SSE_EV_COMMENT && !c->ready && c->w->o->proto == BENCH_PROTO_SSE &&
                 bench_conn_is_subscribed_reply((const uint8_t *)ev.data, ev.data_len))
            bench_conn_ready(c);
    }
    hr_sse_reader_release(&c->sse);
}

void bench_sse_feed(bench_conn *c, const uint8_t *p, size_t n)
{
    if (!c->chunked) {
        feed_events(c, p, n);
        return;
    }
    size_t off = 0;
    while (off < n && is_open(c)) {
        size_t used = 0, len = 0;
        const uint8_t *data = NULL;
        const int rc = hr_http_chunked_decode(&c->chunks, p + off, n - off, &used, &data, &len);
        if (rc < 0 || rc == 1) { /* bad coding, or the server ended the stream */
            bench_conn_fail(c);
            return;
        }
        off += used;
        if (len > 0)
            feed_events(c, data, len);
        else if (used == 0)
            return;
    }
}

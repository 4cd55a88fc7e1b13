/* Streamed HTTP answers: a head now, body pieces as they come, an end later
 * (SSE streams, proxied long or chunked responses). The head is written like
 * hr_conn_respond's but with the framing the caller chose; body pieces go
 * through the send queue (and its limit) like WebSocket frames, so a slow
 * reader is closed rather than buffered without bound, and on_drain tells
 * a proxy when to resume the other side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"
#include "core/err.h"
#include "proto/http_chunked.h"
#include "proto/http_write.h"

static size_t opt_len(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* The framing header for length and the client, and the flags it implies. */
static const char *framing(hr_conn *c, int64_t length, bool no_body, char *buf, size_t cap)
{
    if (no_body) {
        if ((c->flags & HR_CF_HEAD_REQ) && length >= 0)
            snprintf(buf, cap, "Content-Length: %lld\r\n", (long long)length);
        else
            buf[0] = '\0';
        return buf;
    }
    if (length >= 0) {
        snprintf(buf, cap, "Content-Length: %lld\r\n", (long long)length);
        return buf;
    }
    if (length == HR_CONN_STREAM_CHUNKED && !(c->flags & HR_CF_HTTP10)) {
        c->flags |= HR_CF_CHUNKED;
        return "Transfer-Encoding: chunked\r\n";
    }
    c->flags |= HR_CF_CLOSE_END; /* HTTP/1.0 has no chunked coding */
    c->flags &= ~HR_CF_KEEPALIVE;
    return "";
}

int hr_conn_stream_start(hr_conn *c, int status, const char *content_type,
                         const char *extra_headers, int64_t length)
{
    if (c->phase == HR_PH_CLOSED)
        return HR_ECLOSED;
    if (c->phase != HR_PH_APP || status < 100 || status > 599 ||
        (length < 0 && length != HR_CONN_STREAM_CHUNKED && length != HR_CONN_STREAM_CLOSE))
        return HR_EINVAL;
    const bool no_body =
        (c->flags & HR_CF_HEAD_REQ) || status < 200 || status == 204 || status == 304;
    c->flags &= ~(HR_CF_CHUNKED | HR_CF_NO_BODY | HR_CF_CLOSE_END);
    if (no_body)
        c->flags |= HR_CF_NO_BODY;
    char lenbuf[48];
    const char *frame = framing(c, length, no_body, lenbuf, sizeof lenbuf);
    const bool close = !(c->flags & HR_CF_KEEPALIVE) || c->srv->shutting_down;
    const char *conn = close                       ? "Connection: close\r\n"
                       : (c->flags & HR_CF_HTTP10) ? "Connection: keep-alive\r\n"
                                                   : "";
    const size_t cap = 200 + opt_len(content_type) + opt_len(extra_headers);
    hr_msg *m = hr_msg_new(cap);
    if (m == NULL)
        return HR_ENOMEM;
    const int n = snprintf((char *)m->data, cap, "HTTP/1.1 %d %s\r\n%s%s%s%s%s%s\r\n", status,
                           hr_http_write_reason(status), content_type ? "Content-Type: " : "",
                           content_type ? content_type : "", content_type ? "\r\n" : "", frame,
                           conn, extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= cap) {
        hr_msg_unref(m);
        return HR_ENOMEM;
    }
    m->len = (uint32_t)n;
    if (close)
        c->flags &= ~HR_CF_KEEPALIVE;
    const int rc = hr_conn_queue(c, m, false);
    hr_msg_unref(m);
    if (rc != 0)
        return rc;
    free(c->aux);
    c->aux = NULL;
    c->phase = HR_PH_STREAM;
    hr_conn_start_reading(c);
    return 0;
}

bool hr_conn_is_streaming(const hr_conn *c)
{
    return c->phase == HR_PH_STREAM;
}

/* Queues the chunk header for n bytes, under the send-queue limit: a
 * refused header leaves no half-framed chunk behind. */
static int queue_chunk_head(hr_conn *c, size_t n)
{
    char head[24];
    const size_t hl = hr_http_chunked_write_header(n, head, sizeof head);
    hr_msg *h = hr_msg_new_copy(head, hl);
    if (h == NULL)
        return HR_ENOMEM;
    const int rc = hr_conn_queue(c, h, true);
    hr_msg_unref(h);
    return rc;
}

static int queue_crlf(hr_conn *c)
{
    hr_msg *t = hr_msg_new_copy("\r\n", 2);
    if (t == NULL)
        return HR_ENOMEM;
    const int rc = hr_conn_queue(c, t, false);
    hr_msg_unref(t);
    return rc;
}

int hr_conn_stream_send_msg(hr_conn *c, hr_msg *m)
{
    if (c->phase != HR_PH_STREAM)
        return HR_ECLOSED;
    if ((c->flags & HR_CF_NO_BODY) || m->len == 0)
        return 0;
    if (!(c->flags & HR_CF_CHUNKED))
        return hr_conn_queue(c, m, true);
    int rc = queue_chunk_head(c, m->len);
    if (rc == 0)
        rc = hr_conn_queue(c, m, false);
    if (rc == 0)
        rc = queue_crlf(c);
    if (rc == HR_ENOMEM)
        hr_conn_terminate(c); /* a half-framed chunk cannot be taken back */
    return rc;
}

int hr_conn_stream_write(hr_conn *c, const void *p, size_t len)
{
    if (c->phase != HR_PH_STREAM)
        return HR_ECLOSED;
    if ((c->flags & HR_CF_NO_BODY) || len == 0)
        return 0;
    hr_msg *m = hr_msg_new_copy(p, len);
    if (m == NULL)
        return HR_ENOMEM;
    const int rc = hr_conn_stream_send_msg(c, m);
    hr_msg_unref(m);
    return rc;
}

int hr_conn_stream_end(hr_conn *c)
{
    if (c->phase == HR_PH_CLOSED || c->phase == HR_PH_LINGER)
        return HR_ECLOSED;
    if (c->phase != HR_PH_STREAM)
        return HR_EINVAL;
    if ((c->flags & HR_CF_CHUNKED) && !(c->flags & HR_CF_NO_BODY)) {
        hr_msg *last = hr_msg_new_copy("0\r\n\r\n", 5);
        if (last == NULL || hr_conn_queue(c, last, false) != 0) {
            hr_msg_unref(last);
            hr_conn_terminate(c); /* the client sees a cut body, as it must */
            return HR_ECLOSED;
        }
        hr_msg_unref(last);
    }
    if (c->flags & HR_CF_CLOSE_END)
        c->flags &= ~HR_CF_KEEPALIVE;
    c->flags &= ~(HR_CF_CHUNKED | HR_CF_NO_BODY | HR_CF_CLOSE_END);
    c->phase = HR_PH_APP;
    hr_conn_stop_reading(c);
    hr_conn_http_done(c);
    return 0;
}

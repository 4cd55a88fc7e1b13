/* The WebSocket phase of a connection: bytes from the socket go through an
 * hr_ws_reader (lib/proto) that yields messages and control frames; this file
 * decides what they mean for the connection: inflate compressed messages
 * (capped at max_message) and check their UTF-8, hand data messages to the
 * app, answer pings with pongs and a close with the same code (RFC 6455
 * §5.5.1), and fail the connection on protocol errors with the close code of
 * hr_ws_close_code_for (1002, 1007, 1009).
 *
 * Memory while idle: the reader is allocated when a read arrives and freed
 * again as soon as it sits between frames, and zlib state exists only while
 * a compressed message is inflated (when the peer uses no context takeover),
 * so an idle open WebSocket holds nothing beyond struct hr_conn. */
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "proto/utf8.h"
#include "proto/ws_frame.h"

/* Payloads shorter than this are sent uncompressed: deflate cannot win. */
#define DEFLATE_MIN 32

void hr_conn_ws_open(hr_conn *c, const hr_ws_deflate_params *dp, bool deflate)
{
    const bool client = (c->flags & HR_CF_CLIENT) != 0;
    c->phase = HR_PH_WS;
    c->flags |= HR_CF_WAS_WS | HR_CF_SEEN;
    c->srv->stats.ws_open++;
    c->deadline = 0;
    c->last_rx = uv_now(c->srv->loop);
    if (!deflate)
        return;
    hr_conn_deflate *d = calloc(1, sizeof *d);
    if (d == NULL)
        return; /* without the state RSV1 frames are refused: 1002, not a crash */
    d->params = *dp;
    hr_ws_inflater_init(&d->inf, dp, !client);
    if (client) {
        d->def = calloc(1, sizeof *d->def);
        if (d->def != NULL)
            hr_ws_deflater_init(d->def, dp, false, 6);
    }
    c->dfl = d;
    c->flags |= HR_CF_DEFLATE;
}

static void free_reader(hr_conn *c)
{
    if (c->reader == NULL)
        return;
    hr_ws_reader_deinit(c->reader);
    free(c->reader);
    c->reader = NULL;
}

void hr_conn_ws_release(hr_conn *c)
{
    free_reader(c);
    if (c->dfl == NULL)
        return;
    hr_ws_inflater_deinit(&c->dfl->inf);
    if (c->dfl->def != NULL) {
        hr_ws_deflater_deinit(c->dfl->def);
        free(c->dfl->def);
    }
    free(c->dfl);
    c->dfl = NULL;
}

static hr_ws_reader *get_reader(hr_conn *c)
{
    if (c->reader != NULL)
        return c->reader;
    c->reader = malloc(sizeof *c->reader);
    if (c->reader == NULL)
        return NULL;
    const hr_ws_reader_cfg cfg = {
        .max_message = c->srv->cfg.max_message,
        .require_masked = !(c->flags & HR_CF_CLIENT),
        .allow_rsv1 = c->dfl != NULL,
    };
    hr_ws_reader_init(c->reader, &cfg);
    return c->reader;
}

/* _Fail the WebSocket Connection_ (RFC 6455 §7.1.7): send the close frame,
 * then shut down and close without waiting for the peer's answer. */
static void fail(hr_conn *c, int err)
{
    const int code = hr_ws_close_code_for(err);
    c->srv->stats.protocol_closes++;
    if (c->flags & HR_CF_CLOSE_SENT) {
        hr_conn_terminate(c);
        return;
    }
    hr_conn_close(c, code, NULL);
    hr_conn_linger(c);
}

hr_msg *hr_conn_ws_frame(hr_conn *c, uint8_t opcode, const void *p, size_t len)
{
    const bool data = opcode == HR_WS_OP_TEXT || opcode == HR_WS_OP_BINARY;
    const bool squeeze = data && c->dfl != NULL && len >= DEFLATE_MIN;
    if (!(c->flags & HR_CF_CLIENT)) {
        if (squeeze) {
            hr_ws_deflater *d = hr_server_deflater(c->srv, &c->dfl->params);
            hr_msg *m = d != NULL ? hr_ws_deflate_frame_new(d, opcode, p, len) : NULL;
            if (m != NULL)
                return m;
        }
        return hr_ws_frame_msg_new(opcode, false, p, len);
    }
    hr_buf z;
    hr_buf_init(&z, len + len / 2 + 1024);
    bool rsv1 = false;
    if (squeeze && c->dfl->def != NULL && hr_ws_deflate_message(c->dfl->def, p, len, &z) == 0) {
        p = hr_buf_data(&z);
        len = z.len;
        rsv1 = true;
    }
    hr_msg *m = len <= HR_MSG_MAX - HR_WS_MAX_HEADER ? hr_msg_new(len + HR_WS_MAX_HEADER) : NULL;
    if (m != NULL) {
        const uint32_t k = hr_server_random(c->srv);
        const uint8_t mask[4] = {(uint8_t)k, (uint8_t)(k >> 8), (uint8_t)(k >> 16),
                                 (uint8_t)(k >> 24)};
        m->len =
            (uint32_t)hr_ws_frame_client_write(m->data, m->len, opcode, true, rsv1, p, len, mask);
    }
    hr_buf_deinit(&z);
    return m;
}

void hr_conn_ws_ping(hr_conn *c)
{
    hr_msg *m = hr_conn_ws_frame(c, HR_WS_OP_PING, NULL, 0);
    if (m == NULL)
        return;
    hr_conn_queue(c, m, false);
    hr_msg_unref(m);
}

static void deliver(hr_conn *c, const hr_ws_event *ev)
{
    const size_t max = c->srv->cfg.max_message;
    hr_buf out;
    hr_buf_init(&out, max);
    const uint8_t *data = ev->data;
    size_t len = ev->len;
    if (ev->compressed) {
        const int rc =
            c->dfl != NULL ? hr_ws_inflate(&c->dfl->inf, data, len, &out, max) : HR_EPROTO;
        if (rc != 0) {
            hr_buf_deinit(&out);
            fail(c, rc == HR_EPROTO ? HR_EUTF8 : rc); /* corrupt deflate data: 1007 */
            return;
        }
        data = out.len > 0 ? hr_buf_data(&out) : (const uint8_t *)"";
        len = out.len;
        if (ev->opcode == HR_WS_OP_TEXT && !hr_utf8_valid(data, len)) {
            hr_buf_deinit(&out);
            fail(c, HR_EUTF8);
            return;
        }
    }
    c->srv->stats.messages_in++;
    if (c->cb->on_message != NULL)
        c->cb->on_message(c, ev->opcode, data, len);
    hr_buf_deinit(&out);
}

/* Keeps the peer's reason for hr_conn_close_reason (a proxy relays it);
 * without memory it is simply not kept. */
static void keep_reason(hr_conn *c, const hr_ws_event *ev)
{
    if (ev->reason == NULL || ev->reason_len == 0 || ev->reason_len > 123 ||
        c->close_reason != NULL)
        return;
    c->close_reason = malloc(ev->reason_len + 1);
    if (c->close_reason == NULL)
        return;
    memcpy(c->close_reason, ev->reason, ev->reason_len);
    c->close_reason[ev->reason_len] = '\0';
    c->close_reason_len = (uint8_t)ev->reason_len;
}

static void on_close_frame(hr_conn *c, const hr_ws_event *ev)
{
    const bool we_started = (c->flags & HR_CF_CLOSE_SENT) != 0;
    if (!we_started) {
        c->close_code = ev->close_code ? ev->close_code : 1005;
        keep_reason(c, ev);
    }
    c->flags |= HR_CF_CLOSE_RCVD;
    free_reader(c);
    if (!we_started)
        hr_conn_close(c, ev->close_code ? ev->close_code : 1005, NULL);
    hr_server_want_flush(c->srv, c); /* the flush pass closes once all is sent */
}

static void handle(hr_conn *c, const hr_ws_event *ev)
{
    switch (ev->type) {
    case HR_WS_EV_MESSAGE:
        if (c->phase == HR_PH_WS)
            deliver(c, ev);
        break;
    case HR_WS_EV_PING:
        if (c->phase == HR_PH_WS) {
            hr_msg *m = hr_conn_ws_frame(c, HR_WS_OP_PONG, ev->data, ev->len);
            if (m != NULL) {
                hr_conn_queue(c, m, true);
                hr_msg_unref(m);
            }
        }
        break;
    case HR_WS_EV_CLOSE:
        on_close_frame(c, ev);
        break;
    default:
        break;
    }
}

void hr_conn_ws_feed(hr_conn *c, uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n && (c->phase == HR_PH_WS || c->phase == HR_PH_WS_CLOSING) &&
           !(c->flags & HR_CF_CLOSE_RCVD)) {
        hr_ws_reader *r = get_reader(c);
        if (r == NULL) {
            fail(c, HR_ENOMEM);
            return;
        }
        hr_ws_event ev;
        const ssize_t got = hr_ws_reader_feed(r, p + off, n - off, &ev);
        if (got < 0) {
            fail(c, (int)got);
            return;
        }
        off += (size_t)got;
        if (ev.type != HR_WS_EV_NONE)
            handle(c, &ev);
    }
    if (c->reader != NULL && c->phase != HR_PH_CLOSED && hr_ws_reader_is_idle(c->reader))
        free_reader(c);
}

/* The Pusher wire over a WebSocket of its own (pusher_wire.h). The slow
 * reader and shutdown codes are the connection's own
 * (hr_conn_set_close_codes, set by nf_pusher_upgrade). */
#include "pusher_wire.h"

#include "net/conn.h"

static int conn_send_text(void *self, const void *p, size_t len)
{
    return hr_conn_send_text(self, p, len);
}

static int conn_send_frame(void *self, hr_msg *frame)
{
    return hr_conn_send_msg(self, frame);
}

static void conn_close(void *self, int code, const char *reason)
{
    hr_conn_close(self, code, reason);
}

static size_t conn_queued(const void *self)
{
    return hr_conn_queued_bytes(self);
}

static bool conn_is_open(const void *self)
{
    return hr_conn_is_open(self);
}

const nf_pusher_wire_ops nf_pusher_wire_conn = {
    .send_text = conn_send_text,
    .send_frame = conn_send_frame,
    .close = conn_close,
    .queued = conn_queued,
    .is_open = conn_is_open,
};

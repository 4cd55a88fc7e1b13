/* WebSocket message reader: a state machine over the bytes of one connection
 * (RFC 6455 §5.4 fragmentation, §5.5 control frames, §8.1 UTF-8).
 *
 *          header complete, checked           payload done
 *   HEADER ---------------------------> PAYLOAD ------------> HEADER
 *     |  (partial header kept in hbuf)     |  (control: event; data+FIN: event)
 *     |                                    +-- CLOSE frame --> CLOSED (input ignored)
 *     +-- any error ----------------------------------------> FAILED (sticky)
 *
 * Headers are parsed with the stateless hr_ws_frame_parse_header(), straight
 * from the input when possible, else from up to 14 bytes gathered in hbuf.
 * A data message lives in r->msg (capped at max_message) from its first frame
 * to its last; control frames in between use r->ctrl and leave it alone.
 * Payload bytes are unmasked in place in the caller's buffer as they are
 * consumed; a complete unfragmented message found whole in the input is then
 * delivered as a view of it, without a copy. */
#include "ws_reader.h"

#include <limits.h>
#include <string.h>

#include "core/err.h"

enum { ST_HEADER, ST_PAYLOAD, ST_CLOSED, ST_FAILED };

static const uint8_t empty_payload[1];

void hr_ws_reader_init(hr_ws_reader *r, const hr_ws_reader_cfg *cfg)
{
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    if (r->cfg.max_message == 0)
        r->cfg.max_message = HR_WS_READER_DEFAULT_MAX_MESSAGE;
    r->state = ST_HEADER;
    hr_buf_init(&r->msg, r->cfg.max_message);
    hr_utf8_init(&r->utf8);
}

void hr_ws_reader_deinit(hr_ws_reader *r)
{
    hr_buf_deinit(&r->msg);
    r->release_pending = false;
}

void hr_ws_reader_release(hr_ws_reader *r)
{
    if (!r->release_pending)
        return;
    hr_buf_deinit(&r->msg);
    r->release_pending = false;
}

bool hr_ws_reader_is_idle(const hr_ws_reader *r)
{
    return r->state == ST_HEADER && r->hlen == 0 && !r->msg_open;
}

static ssize_t fail(hr_ws_reader *r, int err)
{
    r->state = ST_FAILED;
    r->err = err;
    r->msg_open = false;
    hr_buf_deinit(&r->msg);
    return err;
}

/* Gathers and parses the next header from p[0..n). Returns 1 when r->frame
 * is complete, 0 when all of p went into hbuf, or HR_EPROTO; *used says how
 * many bytes of p belong to the header. */
static int take_header(hr_ws_reader *r, const uint8_t *p, size_t n, size_t *used)
{
    if (r->hlen == 0) {
        const int rc = hr_ws_frame_parse_header(p, n, &r->frame);
        if (rc != 0) {
            *used = rc > 0 ? (size_t)rc : 0;
            return rc > 0 ? 1 : rc;
        }
        /* Incomplete: n is below the header size, hence below 14. */
        memcpy(r->hbuf, p, n);
        r->hlen = (uint8_t)n;
        *used = n;
        return 0;
    }
    const size_t room = HR_WS_MAX_HEADER - r->hlen;
    const size_t k = n < room ? n : room;
    memcpy(r->hbuf + r->hlen, p, k);
    const int rc = hr_ws_frame_parse_header(r->hbuf, r->hlen + k, &r->frame);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        r->hlen = (uint8_t)(r->hlen + k);
        *used = k;
        return 0;
    }
    *used = (size_t)rc - r->hlen;
    r->hlen = 0;
    return 1;
}

static void begin_message(hr_ws_reader *r, const hr_ws_header *h)
{
    r->msg_open = true;
    r->msg_opcode = h->opcode;
    r->msg_compressed = h->rsv1;
    r->msg_check_utf8 = h->opcode == HR_WS_OP_TEXT && !h->rsv1;
    r->msg_len = 0;
    hr_utf8_init(&r->utf8);
}

/* Judges a parsed header against the side, the negotiated extensions, the
 * fragmentation state and the size cap; starts its payload. */
static int start_frame(hr_ws_reader *r)
{
    const hr_ws_header *h = &r->frame;
    if (h->rsv2 || h->rsv3 || h->masked != r->cfg.require_masked)
        return HR_EPROTO;
    r->state = ST_PAYLOAD;
    r->frame_off = 0;
    if (hr_ws_frame_is_control(h->opcode))
        return h->rsv1 ? HR_EPROTO : 0;
    if (h->opcode == HR_WS_OP_CONT) {
        if (!r->msg_open || h->rsv1)
            return HR_EPROTO;
    } else {
        if (r->msg_open || (h->rsv1 && !r->cfg.allow_rsv1))
            return HR_EPROTO;
        begin_message(r, h);
    }
    if (h->len > r->cfg.max_message - r->msg_len)
        return HR_ETOOBIG;
    r->msg_len += h->len;
    return 0;
}

/* True when the current frame is a whole unfragmented message and all of its
 * payload is in the n bytes at hand: it can be delivered in place. */
static bool can_deliver_in_place(const hr_ws_reader *r, size_t n)
{
    const hr_ws_header *h = &r->frame;
    return r->frame_off == 0 && h->fin && h->opcode != HR_WS_OP_CONT &&
           !hr_ws_frame_is_control(h->opcode) && h->len <= n;
}

/* Consumes payload bytes of the current frame from p[0..n): unmasks them in
 * place and stores them (control: r->ctrl; data: r->msg, unless the whole
 * message is here, then *in_place points at it). */
static int take_payload(hr_ws_reader *r, uint8_t *p, size_t n, size_t *used,
                        const uint8_t **in_place)
{
    const hr_ws_header *h = &r->frame;
    const uint64_t left = h->len - r->frame_off;
    const size_t k = left < n ? (size_t)left : n;
    if (h->masked)
        hr_ws_frame_mask(p, k, h->mask, (size_t)r->frame_off);
    *used = k;
    if (hr_ws_frame_is_control(h->opcode)) {
        memcpy(r->ctrl + r->frame_off, p, k);
        r->frame_off += k;
        return 0;
    }
    if (r->msg_check_utf8 && !hr_utf8_feed(&r->utf8, p, k))
        return HR_EUTF8;
    if (*in_place == NULL) {
        const int rc = hr_buf_append(&r->msg, p, k);
        if (rc < 0)
            return rc;
    }
    r->frame_off += k;
    return 0;
}

static int finish_control(hr_ws_reader *r, hr_ws_event *ev)
{
    const uint8_t op = r->frame.opcode;
    ev->opcode = op;
    ev->len = (size_t)r->frame.len;
    ev->data = ev->len > 0 ? r->ctrl : empty_payload;
    if (op == HR_WS_OP_PING) {
        ev->type = HR_WS_EV_PING;
        return 0;
    }
    if (op == HR_WS_OP_PONG) {
        ev->type = HR_WS_EV_PONG;
        return 0;
    }
    const int rc =
        hr_ws_close_parse(r->ctrl, ev->len, &ev->close_code, &ev->reason, &ev->reason_len);
    if (rc < 0)
        return rc;
    ev->type = HR_WS_EV_CLOSE;
    r->state = ST_CLOSED;
    r->msg_open = false;
    hr_buf_deinit(&r->msg);
    return 0;
}

static int finish_message(hr_ws_reader *r, const uint8_t *in_place, hr_ws_event *ev)
{
    if (r->msg_check_utf8 && !hr_utf8_is_complete(&r->utf8))
        return HR_EUTF8;
    ev->type = HR_WS_EV_MESSAGE;
    ev->opcode = r->msg_opcode;
    ev->compressed = r->msg_compressed;
    if (in_place != NULL) {
        ev->data = in_place;
        ev->len = (size_t)r->frame.len;
    } else {
        ev->len = r->msg.len;
        ev->data = ev->len > 0 ? hr_buf_data(&r->msg) : empty_payload;
        r->release_pending = true;
    }
    r->msg_open = false;
    return 0;
}

/* The current frame's payload is complete: yield its event, if any. */
static int finish_frame(hr_ws_reader *r, const uint8_t *in_place, hr_ws_event *ev)
{
    r->state = ST_HEADER;
    if (hr_ws_frame_is_control(r->frame.opcode))
        return finish_control(r, ev);
    if (!r->frame.fin)
        return 0;
    return finish_message(r, in_place, ev);
}

/* One step: a header or a run of payload, then the frame's end if reached. */
static int step(hr_ws_reader *r, uint8_t *p, size_t n, size_t *used, hr_ws_event *ev)
{
    const uint8_t *in_place = NULL;
    if (r->state == ST_HEADER) {
        const int rc = take_header(r, p, n, used);
        if (rc <= 0)
            return rc;
        const int frc = start_frame(r);
        if (frc < 0)
            return frc;
    } else {
        if (can_deliver_in_place(r, n))
            in_place = p;
        const int rc = take_payload(r, p, n, used, &in_place);
        if (rc < 0)
            return rc;
    }
    if (r->frame_off < r->frame.len)
        return 0;
    return finish_frame(r, in_place, ev);
}

ssize_t hr_ws_reader_feed(hr_ws_reader *r, uint8_t *p, size_t len, hr_ws_event *ev)
{
    *ev = (hr_ws_event){.type = HR_WS_EV_NONE};
    hr_ws_reader_release(r);
    if (r->state == ST_FAILED)
        return r->err;
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    if (r->state == ST_CLOSED)
        return (ssize_t)len;
    size_t off = 0;
    while (off < len && ev->type == HR_WS_EV_NONE) {
        size_t used = 0;
        const int rc = step(r, p + off, len - off, &used, ev);
        if (rc < 0) {
            *ev = (hr_ws_event){.type = HR_WS_EV_NONE};
            return fail(r, rc);
        }
        off += used;
    }
    return (ssize_t)off;
}

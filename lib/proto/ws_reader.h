/* hr_ws_reader: turns the bytes of one WebSocket connection into messages and
 * control frames (RFC 6455 §5). It reassembles fragmented messages (control
 * frames may arrive between fragments), unmasks payloads, enforces the
 * masking rule of its side, reserved bits and opcodes, the message size cap,
 * UTF-8 of text messages (incrementally, failing as soon as the bytes are
 * invalid) and the close payload rules. Sans-I/O: the caller owns the struct,
 * feeds bytes and gets at most one event per call; nothing is sent from here
 * (replying to ping and close is the caller's job).
 *
 * Typical loop (the caller's input is a mutable buffer, e.g. an hr_buf):
 *
 *     size_t off = 0;
 *     while (off < len) {
 *         hr_ws_event ev;
 *         ssize_t n = hr_ws_reader_feed(&r, p + off, len - off, &ev);
 *         if (n < 0)
 *             return close_with(hr_ws_close_code_for((int)n));
 *         off += (size_t)n;
 *         if (ev.type != HR_WS_EV_NONE)
 *             handle(&ev);          // ev's views die at the next feed
 *     }
 *     // now the caller may discard p[0..len)
 *
 * Every call either yields an event or consumes all of its input: the reader
 * keeps partial headers and partial payloads itself, so the caller never
 * needs to keep unconsumed bytes around.
 *
 * Memory: message payloads accumulate in an hr_buf capped at max_message that
 * holds no memory between messages (it is released at the next feed, or by
 * hr_ws_reader_release). A data frame that arrives whole (header and payload
 * in one feed) and is a complete message is delivered without a copy, as a
 * view into the caller's input. Control payloads live in an inline array. */
#ifndef HR_WS_READER_H
#define HR_WS_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "utf8.h"
#include "ws_frame.h"

/* max_message used when the configuration says 0 (SPEC.md: 16 MiB). */
#define HR_WS_READER_DEFAULT_MAX_MESSAGE ((size_t)16 * 1024 * 1024)

typedef struct hr_ws_reader_cfg {
    /* Largest message payload (sum of its fragments, as received: for a
     * compressed message this is the deflated size, the caller caps the
     * inflated size). Exceeding it is HR_ETOOBIG as soon as a frame header
     * announces it. 0 = HR_WS_READER_DEFAULT_MAX_MESSAGE. */
    size_t max_message;
    /* true = server side: every frame MUST be masked; false = client side:
     * no frame may be masked. A violation is HR_EPROTO. */
    bool require_masked;
    /* permessage-deflate was negotiated: RSV1 is allowed on the first frame
     * of a data message (never on CONT or control frames). */
    bool allow_rsv1;
} hr_ws_reader_cfg;

typedef enum hr_ws_ev_type {
    HR_WS_EV_NONE = 0, /* no complete event yet */
    HR_WS_EV_MESSAGE,  /* a complete data message */
    HR_WS_EV_PING,
    HR_WS_EV_PONG,
    HR_WS_EV_CLOSE, /* a valid close frame; the reader ignores input after it */
} hr_ws_ev_type;

typedef struct hr_ws_event {
    hr_ws_ev_type type;
    uint8_t opcode; /* MESSAGE: HR_WS_OP_TEXT or HR_WS_OP_BINARY; else the frame's */
    /* MESSAGE: RSV1 was set on the first frame, so the payload is deflated;
     * the caller inflates it and checks UTF-8 (the reader did not). */
    bool compressed;
    /* Payload (unmasked): a message, or a control frame's whole payload
     * (for CLOSE: code and reason). Never NULL (an empty payload points at a
     * static empty string). A view valid until the next hr_ws_reader_feed,
     * hr_ws_reader_release or hr_ws_reader_deinit, and, when it points into
     * the caller's input, as long as the caller keeps those bytes. */
    const uint8_t *data;
    size_t len;
    uint16_t close_code;   /* CLOSE: the code, 0 if the payload was empty */
    const uint8_t *reason; /* CLOSE: view of the reason (valid UTF-8), NULL if none */
    size_t reason_len;
} hr_ws_event;

/* Private state: treat as opaque (it is here so callers can embed it). */
typedef struct hr_ws_reader {
    hr_ws_reader_cfg cfg;
    int state; /* header, payload, closed, failed */
    int err;   /* sticky error once failed */
    uint8_t hbuf[HR_WS_MAX_HEADER];
    uint8_t hlen;       /* header bytes buffered in hbuf */
    hr_ws_header frame; /* current frame */
    uint64_t frame_off; /* payload bytes of the current frame already seen */
    bool msg_open;      /* a data message has started (first frame seen) */
    uint8_t msg_opcode;
    bool msg_compressed;
    bool msg_check_utf8;
    bool release_pending; /* the last event's message must be dropped */
    uint64_t msg_len;     /* payload bytes of the message so far */
    hr_buf msg;
    hr_utf8 utf8;
    uint8_t ctrl[HR_WS_MAX_CONTROL];
} hr_ws_reader;

/* Initialises a reader in caller storage with a copy of *cfg. Allocates
 * nothing until a message needs buffering. */
void hr_ws_reader_init(hr_ws_reader *r, const hr_ws_reader_cfg *cfg);

/* Frees the reader's memory; it must be initialised again to be reused. */
void hr_ws_reader_deinit(hr_ws_reader *r);

/* Consumes bytes from p[0..len) and fills *ev (always: type HR_WS_EV_NONE
 * when no event completed). p is mutable: the payload bytes consumed are
 * unmasked in place (bytes not consumed are untouched), so event views may
 * point into p. Returns the number of bytes consumed (0..len; len whenever
 * ev->type is NONE), or a negative error: HR_EPROTO (framing, reserved bits
 * or opcodes, masking, fragmentation order, close payload), HR_EUTF8 (text
 * message or close reason), HR_ETOOBIG (message over max_message), HR_ENOMEM.
 * Map errors with hr_ws_close_code_for(). Errors are sticky: later calls
 * return the same error. After a CLOSE event all further input is consumed
 * and ignored. Releases the previous event's views. */
ssize_t hr_ws_reader_feed(hr_ws_reader *r, uint8_t *p, size_t len, hr_ws_event *ev);

/* Ends the validity of the last event's views and frees the message buffer
 * if it holds a delivered message; call it after handling the last event of
 * a read so idle connections hold no memory (feed does it anyway). */
void hr_ws_reader_release(hr_ws_reader *r);

/* True when the reader is between frames and no fragmented message is open
 * (e.g. a good moment for a graceful close). */
bool hr_ws_reader_is_idle(const hr_ws_reader *r);

#endif

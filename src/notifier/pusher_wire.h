/* nf_pusher_wire: how one Pusher connection (pusher.h) reaches its client.
 * pusher.c speaks Pusher's messages and never knows what carries them:
 *
 *   pusher.c ─wire.ops─┬▶ hr_conn, a WebSocket of its own (nf_pusher_wire_conn here)
 *                      └▶ a herald-link session (link.c: DATA for replies,
 *                         BCAST for events, CLOSE)
 *
 * The same shape as the session's transport (transport.h), one floor up:
 * the session talks Herald to pusher.c, pusher.c talks Pusher to a wire. */
#ifndef NF_PUSHER_WIRE_H
#define NF_PUSHER_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/msg.h"

typedef struct nf_pusher_wire_ops {
    /* One text message (copied). Returns 0, or a negative code once closing
     * or when over the client's bound (the wire then closes the client with
     * its slow-reader code itself). */
    int (*send_text)(void *self, const void *p, size_t len);
    /* One event's Pusher frame: a server WebSocket text frame built once per
     * event (hr_ws_frame_msg_new: head_len says where its payload starts),
     * shared by every connection that gets it; sent by reference. Same
     * returns as send_text. */
    int (*send_frame)(void *self, hr_msg *frame);
    /* Closes the client with a Pusher close code (4000-4299). The
     * connection learns of the end through nf_pusher_close, never during
     * this call. */
    void (*close)(void *self, int code, const char *reason);
    /* Bytes queued toward the client (replay pacing). */
    size_t (*queued)(const void *self);
    /* False once closing: nothing more reaches the client. */
    bool (*is_open)(const void *self);
} nf_pusher_wire_ops;

typedef struct nf_pusher_wire {
    const nf_pusher_wire_ops *ops; /* static table of the carrier */
    void *self;                    /* the carrier's per-client struct */
} nf_pusher_wire;

/* The wire over an hr_conn (self: the hr_conn), a client on its own
 * WebSocket at /app/<key>. */
extern const nf_pusher_wire_ops nf_pusher_wire_conn;

#endif

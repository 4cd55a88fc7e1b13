/* nf_transport: how one session (session.h) reaches its client. The
 * session speaks the client protocol and never knows what carries it; each
 * carrier implements these ops:
 *
 *   hub ─▶ nf_session_send ─▶ tx.ops->send_event ─┬▶ hr_conn (direct.c)
 *                                                 └▶ nf_lsess (link.c)
 *   session ─▶ tx.ops->send_text / close / queued
 *   carrier ─▶ nf_session_open / _message / _drain / _close (session.h)
 *
 * Further carriers (issue 15) are further implementations: a Pusher
 * session picks its own encoding of the event, an SSE stream its text
 * block. One event carries one encoding per protocol, each built at most
 * once per event and shared by every session that speaks it (nf_frames
 * below; today the hub builds the Herald frame and its compressed twin,
 * the twin only when a subscriber negotiated permessage-deflate). */
#ifndef NF_TRANSPORT_H
#define NF_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/* One event in the encodings its subscribers may want, all borrowed (take a
 * reference to keep one). A new protocol adds its slot here, and the hub
 * builds it on first use for the event, the way it builds the deflated twin
 * (hub.c:publish_channel, entry_deflated for replays): from plain's payload
 * (plain->data + plain->head_len, read with hr_cproto_parse_event: channel,
 * id, data) so a shard loop, which receives only plain, can build it too;
 * kept with the history entry so a replay reuses it. So each encoding is
 * made at most once per event per loop, and only when a session needs it. */
typedef struct nf_frames {
    hr_msg *plain;    /* Herald client protocol: one WebSocket text frame
                         (head_len: where the JSON payload starts) */
    hr_msg *deflated; /* its permessage-deflate twin (no context takeover), or
                         NULL: none made or this session did not negotiate it */
} nf_frames;

typedef struct nf_transport_ops {
    /* One reply of the session (JSON text, copied). Returns 0, or a negative
     * code once closing or when over the client's bound (the transport then
     * closes the client with 1013 itself). */
    int (*send_text)(void *self, const void *p, size_t len);
    /* One event: the transport sends the encoding its client speaks. Same
     * returns as send_text. */
    int (*send_event)(void *self, const nf_frames *ev);
    /* Closes the client with code (WebSocket close code). The session learns
     * it through nf_session_close, never during this call. */
    void (*close)(void *self, int code, const char *reason);
    /* Bytes queued toward the client (replay pacing). */
    size_t (*queued)(const void *self);
} nf_transport_ops;

typedef struct nf_transport {
    const nf_transport_ops *ops; /* static table of the carrier */
    void *self;                  /* the carrier's per-client struct */
} nf_transport;

#endif

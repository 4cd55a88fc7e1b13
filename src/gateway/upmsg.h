/* gw_upmsg: one message on its way down from an upstream to one or more
 * clients, as the transport received it: opcode and a view of the payload.
 * The transport builds it once per message it received (one per plain
 * WebSocket message, one per herald-link DATA, ONE PER BCAST however many
 * sessions the BCAST lists) and hands the same gw_upmsg to each session's
 * on_message (upstream.h). The client frames are built from the view on
 * first use and then shared:
 *
 *   link BCAST ─▶ gw_upmsg {opcode, data, len, shared} ─▶ wsproxy down() × n
 *                      ├─ gw_upmsg_plain()    : one server frame, built once
 *                      └─ gw_upmsg_deflated() : one compressed twin, built once
 *
 * Ownership: the transport owns the gw_upmsg (on its stack) and calls
 * gw_upmsg_deinit() after the last session got it; the frames are the
 * gw_upmsg's, borrowed by callers (take a reference to keep one, as
 * hr_conn_send_event does). data is borrowed from the transport's read
 * buffer and valid only while the gw_upmsg is being delivered.
 *
 * ext: per-message state of a layer above the transport (the transformation
 * layer hangs the event it parsed here, so one BCAST is parsed once, not
 * once per session); ext_free(ext) runs at gw_upmsg_deinit. A layer that
 * keeps anything per EVENT must key it on the event's (channel, id), never
 * on the gw_upmsg: one event reaches a worker as several messages (two
 * links per server, BCASTs capped at HR_LINK_MAX_BCAST ids, DATA for single
 * sessions). */
#ifndef GW_UPMSG_H
#define GW_UPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"
#include "proto/ws_deflate.h"

typedef struct gw_upmsg {
    uint8_t opcode;      /* HR_WS_OP_TEXT or _BINARY */
    const uint8_t *data; /* payload, borrowed (see above) */
    size_t len;          /* payload length: what flow control counts (CREDIT) */
    bool shared;         /* for several sessions: send the shared frames, not a copy per client */
    void *ext;           /* owned by the layer that set it; NULL */
    void (*ext_free)(void *ext);
    /* private: frames built on first use */
    hr_msg *plain, *deflated, *raw;
    bool tried_deflate;
} gw_upmsg;

void gw_upmsg_init(gw_upmsg *m, int opcode, const uint8_t *data, size_t len, bool shared);

/* The unmasked server frame of m, borrowed. NULL: out of memory. */
hr_msg *gw_upmsg_plain(gw_upmsg *m);

/* The payload itself as a message (no WebSocket framing), borrowed: the
 * bytes of an HTTP stream's body (sselink.c), shared by every stream a
 * BCAST lists. NULL: out of memory. */
hr_msg *gw_upmsg_raw(gw_upmsg *m);

/* The compressed twin (RSV1, built with d: a server deflater with no
 * context takeover and a 9-bit window, so the frame is valid for every
 * client that negotiated permessage-deflate), borrowed. NULL when
 * compression failed or is out of memory: send the plain frame. */
hr_msg *gw_upmsg_deflated(gw_upmsg *m, hr_ws_deflater *d);

/* Drops the frames and ext. */
void gw_upmsg_deinit(gw_upmsg *m);

/* Sets up d as the shared deflater gw_upmsg_deflated wants (caller storage;
 * hr_ws_deflater_deinit releases it). */
void gw_upmsg_deflater_init(hr_ws_deflater *d);

#endif

/* gw_upstream: the one interface between a proxied client session (gw_ws,
 * wsproxy.c) and whatever carries that session to its upstream. Two
 * transports implement it:
 *
 *   upconn.c  a plain WebSocket connection per client (hr_client)
 *   uplink.c  a session multiplexed over a shared herald-link (gw_usess)
 *
 * so the proxy has one path up (gw_upstream_send) and one path down
 * (events->on_message with a gw_upmsg, upmsg.h), and never asks which
 * transport it has. An SSE stream through a herald-link upstream
 * (sselink.c) is one more user of the same table (req.stream).
 *
 *   client ──hr_conn──▶ gw_ws ──ops->send───────────▶ transport ══▶ upstream
 *   client ◀─frame(s)── gw_ws ◀─events->on_message── transport ◀══ upstream
 *                        │  ───ops->credit/pause───▶ (flow control)
 *
 * Flow control, down (upstream -> client): after a message is queued to the
 * client the proxy calls ops->credit(n) with n = the message's ORIGINAL
 * payload length (gw_upmsg.len) once the client's queue is below half its
 * bound, and ops->pause(true) while the queue is at or over it (then
 * ops->pause(false) and the owed credit when it drained). A message the
 * proxy does not send as received (a script drops it, or sends a rewritten
 * frame of another size) is still credited with its original length, or
 * the herald-link window leaks. herald-link implements credit (CREDIT
 * frames, batched per link per loop turn) and ignores pause; the plain
 * transport implements pause (stops reading the upstream socket) and
 * ignores credit.
 * Flow control, up (client -> upstream): ops->send returns GW_UPSTREAM_FULL
 * when the queue toward the upstream reached its bound: stop reading the
 * client until events->on_drain.
 *
 * Callbacks and when they fire (arg is the proxy's, events must outlive
 * the handle):
 *   on_open     once, when the upstream accepted the session, never
 *               synchronously inside gw_upstream_open.
 *   on_message  per message down, after on_open; m is valid only during the
 *               call (the same m may go to other sessions next).
 *   on_drain    the queue toward the upstream fell below its bound after a
 *               send returned GW_UPSTREAM_FULL.
 *   on_pause    the upstream asks to stop (true) / resume (false) reading
 *               the client.
 *   on_close    once, when the upstream side ended the session (refusal,
 *               close, connection or link lost). Not after ops->close.
 * Any callback may call ops->close (and close the client); after on_close
 * or ops->close the handle is dead. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "config.h"
#include "pool.h"
#include "upmsg.h"

/* ops->send: queued, and the queue toward the upstream is now at or over
 * its bound (stop reading the client until on_drain). */
#define GW_UPSTREAM_FULL 1

/* How the upstream side ended a session: on_close's argument, valid only
 * during the call. */
typedef struct gw_upstream_end {
    int code;    /* the close code (1006: lost) */
    bool opened; /* whether on_open ran */
    /* Before on_open, why: 0 = could not connect or lost before an answer
     * (try another server), else the HTTP status the upstream refused with
     * (answer the client with it). 0 once opened. */
    int status;
    /* The upstream's close reason as it came (a view, NOT validated: a link
     * CLOSE carries any bytes up to 123), NULL when none or lost. */
    const uint8_t *reason;
    size_t reason_len;
} gw_upstream_end;

typedef struct gw_upstream_events {
    void (*on_open)(void *arg);
    void (*on_message)(void *arg, gw_upmsg *m);
    void (*on_drain)(void *arg);
    void (*on_pause)(void *arg, bool pause);
    void (*on_close)(void *arg, const gw_upstream_end *end);
} gw_upstream_events;

typedef struct gw_upstream_ops {
    /* One client message up. 0 or GW_UPSTREAM_FULL: queued. HR_ETOOBIG:
     * not queued, the transport cannot take more (close the client 1013).
     * Another negative code: not queued, the upstream is closing (its
     * on_close follows). */
    int (*send)(void *h, int opcode, const uint8_t *data, size_t len);
    /* Ends the session toward the upstream with code (close frame / link
     * CLOSE; before on_open the attempt is aborted). No callback follows. */
    void (*close)(void *h, int code);
    /* n more payload bytes were handed to the client (see flow control). */
    void (*credit)(void *h, size_t n);
    /* Stop (true) or resume (false) reading messages from the upstream. */
    void (*pause)(void *h, bool pause);
    /* Bytes queued toward the upstream (for a link: the shared link's). */
    size_t (*queued)(const void *h);
    /* The subprotocol the upstream selected, or NULL (valid while h lives). */
    const char *(*protocol)(const void *h);
} gw_upstream_ops;

/* Embedded in the proxy's session; ops and h are NULL when no upstream. */
typedef struct gw_upstream {
    const gw_upstream_ops *ops;
    void *h;
} gw_upstream;

/* What an upstream needs to open a session for one client; all borrowed
 * for the call (a transport copies what it keeps). */
typedef struct gw_upstream_req {
    const char *target;      /* rewritten request target */
    const char *headers;     /* "Name: value\r\n" lines (edge.h), NUL-terminated */
    const char *peer;        /* client address as text */
    uint32_t connect_timeout_ms;
    size_t queue_limit; /* bytes toward the upstream before GW_UPSTREAM_FULL */
    bool stream;        /* an HTTP response stream (herald-link only: OPEN_STREAM;
                           messages down are the answer's bytes, sselink.h) */
} gw_upstream_req;

/* Opens a session to server addr of upstream cfg with the app's transport
 * for it (herald-link when cfg->link). On success fills *u and returns 0;
 * events/arg get the callbacks above. Otherwise returns a negative code,
 * *u is left empty and no callback follows (try another server). No
 * callback runs inside this call. */
int gw_upstream_open(gw_upstream *u, gw_app *app, const gw_upstream_cfg *cfg,
                     const gw_addr *addr, const gw_upstream_req *req,
                     const gw_upstream_events *events, void *arg);

/* gw_upstream_open on the next healthy server of pool that tried[] (one
 * flag per server) does not mark yet: marks it and names it in *server. A
 * server that cannot be opened is reported to the pool and counted as a
 * connect failure, then the next is tried; one that is up but too old for
 * the request (HR_EPROTO: a stream to a notifier below link version 4) sets
 * *too_old instead. Returns 0 (the session is counted in the pool's
 * connections; the caller takes it off when it closes), or HR_ELIMIT when
 * no server is left. */
int gw_upstream_open_next(gw_upstream *u, gw_app *app, gw_pool *pool, const char *user,
                          bool *tried, int *server, const gw_upstream_req *req,
                          const gw_upstream_events *events, void *arg, bool *too_old);

static inline bool gw_upstream_is_set(const gw_upstream *u)
{
    return u->h != NULL;
}

static inline int gw_upstream_send(gw_upstream *u, int opcode, const uint8_t *data, size_t len)
{
    return u->ops->send(u->h, opcode, data, len);
}

/* Closes and empties u. */
static inline void gw_upstream_close(gw_upstream *u, int code)
{
    const gw_upstream_ops *ops = u->ops;
    void *h = u->h;
    u->ops = NULL;
    u->h = NULL;
    ops->close(h, code);
}

static inline void gw_upstream_credit(gw_upstream *u, size_t n)
{
    if (n > 0)
        u->ops->credit(u->h, n);
}

static inline void gw_upstream_pause(gw_upstream *u, bool pause)
{
    u->ops->pause(u->h, pause);
}

static inline const char *gw_upstream_protocol(const gw_upstream *u)
{
    return u->ops->protocol(u->h);
}

#endif

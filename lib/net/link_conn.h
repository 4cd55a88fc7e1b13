/* hr_link_conn: one herald-link TCP connection (docs/link.md), the transport
 * both ends share: the notifier's accepted links (src/notifier/link.c) and
 * the gateway's uplinks (src/gateway/uplink.c). It owns the socket, the
 * HELLO exchange, the read/parse loop over lib/proto/link.c, PING/PONG and
 * keepalive, and the write batch; what the frames mean is the caller's.
 *
 * Writing: frames collect in the link's batch during a loop turn and leave
 * in one uv_write just before the loop polls (a uv_prepare handle), or as
 * soon as the write in flight completes. A batch is bytes plus references:
 *
 *   bytes: | CLOSE s7 | BCAST hdr+ids | DATA s9 hdr | PING | ...
 *                                     ^ msg A [off, off+len)   ^ msg B ...
 *   iov:   [bytes 0..a] [A payload] [bytes a..b] [B payload] [bytes b..end]
 *
 * Frames written with the lib/proto/link.h writers into hr_link_conn_out()
 * are copied into the bytes; hr_link_conn_send_msg() copies only a frame's
 * leading bytes (hr_link_head_data / hr_link_head_bcast) and queues the
 * message's payload by reference (one hr_msg ref, dropped when the kernel
 * took the bytes), so a broadcast payload is never copied into the batch.
 * The batch moves into the write request by hr_link_batch_take().
 *
 * Reading: bytes land in one input buffer bounded by max_payload + 10 and
 * are parsed as whole frames. HELLO (first frame each way, checked here:
 * the peer's version is hr_link_conn_peer_version()), PING (answered with
 * PONG) and PONG never reach the caller; every other frame goes to on_frame
 * with views valid during the call only.
 *
 * Life and callbacks:
 *
 *   hr_link_conn_new ─▶ _accept / _open / _connect ─▶ on_frame*, on_flush*,
 *     on_written* ─▶ (EOF, error, protocol error, idle, _close, _end)
 *     ─▶ on_close (exactly once) ─▶ handles closed ─▶ on_free (exactly once)
 *
 * on_close runs synchronously inside the call that ended the link, which
 * may be the caller's own hr_link_conn_close() or a write it made; after
 * it no callback but on_free follows, and every function below stays safe
 * to call (writes then go nowhere). on_free runs from a libuv close
 * callback with nothing of the caller's on the stack: free what `data`
 * points to there. After on_free the pointer is dead. A link whose
 * _accept/_open/_connect failed must still be ended with _close. */
#ifndef HR_NET_LINK_CONN_H
#define HR_NET_LINK_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/msg.h"
#include "proto/link.h"

typedef struct hr_link_conn hr_link_conn;

/* A payload queued by reference: msg bytes [off, off + len) go out after
 * the batch's byte `at`. The batch holds one reference on msg. */
typedef struct hr_link_seg {
    size_t at;
    hr_msg *msg;
    uint32_t off, len;
} hr_link_seg;

/* A write batch: bytes (copied frames and leading bytes) and references. */
typedef struct hr_link_batch {
    hr_buf bytes;
    hr_link_seg *segs;
    size_t n_segs, cap_segs;
    size_t shared; /* payload bytes held by reference (sum of seg len) */
    size_t max;    /* bound on bytes.len + shared */
} hr_link_batch;

/* Empty batch whose total (bytes + shared) may grow to max. */
void hr_link_batch_init(hr_link_batch *b, size_t max);
/* Drops every reference and frees the memory; b stays usable. */
void hr_link_batch_deinit(hr_link_batch *b);
/* Moves everything of from into to (which must be empty), leaving from
 * empty with the same max: ownership of the bytes and references moves. */
void hr_link_batch_take(hr_link_batch *to, hr_link_batch *from);
/* Total bytes: what a write of the batch sends. */
size_t hr_link_batch_len(const hr_link_batch *b);
/* Number of uv_buf_t hr_link_batch_iov fills (2 * segments + 1 at most). */
size_t hr_link_batch_n_iov(const hr_link_batch *b);
/* Fills iov (room for hr_link_batch_n_iov) with views of the batch, in
 * order; returns how many. Valid while the batch is neither changed nor
 * freed. */
size_t hr_link_batch_iov(const hr_link_batch *b, uv_buf_t *iov);
/* Appends head[0..head_len) and then msg's [off, off + len) by reference
 * (a new ref). Returns 0, HR_ETOOBIG (over max) or HR_ENOMEM; on error the
 * batch is unchanged. */
int hr_link_batch_add_msg(hr_link_batch *b, const uint8_t *head, size_t head_len, hr_msg *msg,
                          size_t off, size_t len);

/* Counters, added to by every link configured with them (one loop only). */
typedef struct hr_link_conn_stats {
    uint64_t writes;    /* batches handed to uv_write */
    uint64_t bytes_out; /* bytes in those batches */
    uint64_t bytes_in;  /* bytes read */
} hr_link_conn_stats;

typedef struct hr_link_conn_config {
    size_t max_payload;               /* largest frame payload accepted from the peer */
    size_t out_limit;                 /* bytes in one batch (the write in flight not counted);
                                         past it writes fail with HR_ETOOBIG */
    uint32_t ping_ms;                 /* PING after this much silence from the peer; 0: never */
    uint32_t idle_ms;                 /* end the link after this much silence; 0: never */
    struct hr_link_conn_stats *stats; /* counters are added here (may be shared by
                                         many links; borrowed); NULL: none */
} hr_link_conn_config;

typedef struct hr_link_conn_callbacks {
    /* One frame after HELLO: OPEN, DATA, CLOSE, PAUSE, RESUME, CREDIT,
     * BCAST. Views valid during the call. Required. */
    void (*on_frame)(hr_link_conn *k, const hr_link_frame *f);
    /* Optional: the peer's HELLO arrived (hr_link_conn_peer_version() is
     * known from here on); frames waiting for the peer's version may go. */
    void (*on_hello)(hr_link_conn *k);
    /* Optional: a frame's length is over max_payload (only its 10 header
     * bytes are known). Return true to drop its payload as it streams in
     * and go on with the next frame; false (or NULL) ends the link. */
    bool (*on_too_big)(hr_link_conn *k, const uint8_t header[HR_LINK_HEADER]);
    /* Optional: the batch is about to be written, or the loop turn in which
     * the link was kicked ends (called even while a write is in flight):
     * append what was collected (a pending broadcast, owed credit). */
    void (*on_flush)(hr_link_conn *k);
    /* Optional: a batch was written; senders waiting for room may go on.
     * The next batch leaves after this returns. */
    void (*on_written)(hr_link_conn *k);
    /* The link ended; why is a short text for the log ("closed by the
     * peer", "protocol error", ...). Required. */
    void (*on_close)(hr_link_conn *k, const char *why);
    /* The memory may go; optional. */
    void (*on_free)(void *data);
} hr_link_conn_callbacks;

/* A link on loop, not yet connected, our HELLO already in its batch (so it
 * is the first frame whatever the caller queues). cfg is copied, cb must
 * outlive the link, data is handed back by hr_link_conn_data(). NULL: out
 * of memory. */
hr_link_conn *hr_link_conn_new(uv_loop_t *loop, const hr_link_conn_config *cfg,
                               const hr_link_conn_callbacks *cb, void *data);

/* Start the link on a connection taken from server (uv_accept), on fd (a
 * connected socket; ownership moves in, it is closed on failure), or by
 * connecting to addr (frames written before the connection is up wait in
 * the batch). Each starts reading. Returns 0 or a
 * libuv / HR_E* error (then end the link with _close). */
int hr_link_conn_accept(hr_link_conn *k, uv_stream_t *server);
int hr_link_conn_open(hr_link_conn *k, uv_os_sock_t fd);
int hr_link_conn_connect(hr_link_conn *k, const struct sockaddr *addr);

void *hr_link_conn_data(const hr_link_conn *k);

/* The peer's address (accepted and opened links; zero before). */
const struct sockaddr *hr_link_conn_peer(const hr_link_conn *k);

/* The version the peer's HELLO said, 0 before it arrived. */
uint16_t hr_link_conn_peer_version(const hr_link_conn *k);

/* True until the link ended (on_close). */
bool hr_link_conn_is_open(const hr_link_conn *k);

/* The bytes of the current batch: append frames with the lib/proto/link.h
 * writers (their HR_ETOOBIG means over out_limit), then hr_link_conn_kick. */
hr_buf *hr_link_conn_out(hr_link_conn *k);

/* Queues a frame whose leading bytes are head (see hr_link_head_data,
 * hr_link_head_bcast) and whose message is msg [off, off + len), by
 * reference. Kicks. Returns 0, HR_ETOOBIG (over out_limit), HR_ENOMEM or
 * HR_ECLOSED (the link ended); nothing queued on error. */
int hr_link_conn_send_msg(hr_link_conn *k, const uint8_t *head, size_t head_len, hr_msg *msg,
                          size_t off, size_t len);

/* Asks for a flush at the end of this loop turn (on_flush, then a write). */
void hr_link_conn_kick(hr_link_conn *k);

/* Bytes queued toward the peer: the batch plus the write in flight. */
size_t hr_link_conn_queued(const hr_link_conn *k);

/* Best effort, now: writes what is batched with uv_try_write if no write is
 * in flight (last frames before a process exits). */
void hr_link_conn_try_flush(hr_link_conn *k);

/* Ends the link now: on_close(why) runs before this returns, unsent frames
 * are dropped. Idempotent. */
void hr_link_conn_close(hr_link_conn *k, const char *why);

/* Ends the link once everything queued so far (and anything on_flush adds)
 * is written: on_close(why) follows then. */
void hr_link_conn_end(hr_link_conn *k, const char *why);

#endif

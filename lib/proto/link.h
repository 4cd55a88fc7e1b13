/* herald-link: the multiplexed gateway <-> notifier link (docs/link.md).
 * Sans-I/O codec: stateless parsing of one frame from a byte range and
 * writers that append frames to a caller's hr_buf. A batch is simply many
 * frames back to back in one write. Nothing here keeps state, allocates
 * (except through hr_buf), logs or reads a clock.
 *
 * Every frame: a 10-byte header, then `length` payload bytes.
 *
 *    0        1        2                 6                 10
 *   +--------+--------+-----------------+-----------------+-------------
 *   | type   | flags  | session id (BE) | length (BE)     | payload ...
 *   +--------+--------+-----------------+-----------------+-------------
 *
 * Session 0 is the link itself (HELLO, PING, PONG) or names no one session
 * (BCAST: the ids are in its payload); every other type needs a session
 * id != 0. Strings inside payloads are u16 length (BE) + bytes. */
#ifndef HR_LINK_H
#define HR_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define HR_LINK_HEADER 10
#define HR_LINK_VERSION 5 /* what we send: 2 adds BCAST, 3 CREDITS, 4 OPEN_STREAM, 5 credit lag */
#define HR_LINK_VERSION_MIN 1 /* oldest HELLO we accept (no BCAST toward it) */
#define HR_LINK_VERSION_BCAST 2
#define HR_LINK_VERSION_CREDITS 3
#define HR_LINK_VERSION_STREAM 4
#define HR_LINK_VERSION_CREDIT_LAG 5
#define HR_LINK_MAX_BCAST 4096   /* session ids in one BCAST */
#define HR_LINK_MAX_CREDITS 8192 /* (session, bytes) pairs in one CREDITS: 64 KiB */
#define HR_LINK_MAX_HEADERS 32   /* headers in one OPEN */
#define HR_LINK_MAX_CLOSE_REASON 123
#define HR_LINK_PING_LEN 8

typedef enum hr_link_type {
    HR_LINK_HELLO = 1,    /* session 0: "HRLK" u16 version; first frame each way */
    HR_LINK_OPEN = 2,     /* new client session: identity, target, peer, headers */
    HR_LINK_DATA = 3,     /* one whole message; flags = opcode (1 text, 2 binary) */
    HR_LINK_CLOSE = 4,    /* u16 code + reason: the session ends (either side) */
    HR_LINK_PAUSE = 5,    /* stop sending DATA for this session (receiver is full) */
    HR_LINK_RESUME = 6,   /* sending may go on */
    HR_LINK_PING = 7,     /* session 0, 8 opaque bytes */
    HR_LINK_PONG = 8,     /* session 0, the PING's 8 bytes */
    HR_LINK_CREDIT = 9,   /* u32 bytes (> 0): the receiver consumed that much DATA payload */
    HR_LINK_BCAST = 10,   /* session 0, flags = opcode: u16 n, n u32 ids, one message for all */
    HR_LINK_CREDITS = 11, /* session 0: n (u32 session, u32 bytes) pairs, CREDIT for each */
} hr_link_type;

/* Initial per-session window: DATA payload bytes the notifier may have sent
 * toward the gateway and not yet had returned by CREDIT. */
#define HR_LINK_WINDOW (256u * 1024u)

/* Credit a receiver may keep back per session (version 5), so that a
 * session that keeps up returns its window every HR_LINK_CREDIT_LAG bytes
 * instead of after every message (HTTP/2's WINDOW_UPDATE at a threshold).
 * Deadlock-free because the sender lets any message go once no more than
 * this is in flight (link_flow.h), whatever its size. */
#define HR_LINK_CREDIT_LAG (HR_LINK_WINDOW / 4)

/* The largest DATA or BCAST message a notifier sends a gateway, which every
 * gateway reads whatever its own max_message_bytes: an event from a 1 MiB
 * publish body, twice that as a Pusher event (its data an escaped JSON
 * string), with room to spare. The notifier closes a session with 1009
 * rather than send more, so one oversized event never ends a link. */
#define HR_LINK_MAX_DOWN (4u << 20)

/* OPEN flags. */
#define HR_LINK_OPEN_HAS_USER 0x01 /* the gateway verified a token: user is the sub */
/* The session is one HTTP response stream (version 4): the notifier's DATA
 * payloads are the raw bytes of an HTTP/1.1 response (head first, then the
 * body), its CLOSE ends the response. Send it only to a peer whose HELLO
 * said version >= HR_LINK_VERSION_STREAM. */
#define HR_LINK_OPEN_STREAM 0x02

/* A string view: into the parsed input, or the caller's memory for writers. */
typedef struct hr_link_str {
    const uint8_t *p;
    size_t len;
} hr_link_str;

typedef struct hr_link_header {
    hr_link_str name, value;
} hr_link_header;

/* The OPEN payload, in wire order. user and channels are meaningful only
 * with has_user (channels: the token's claim as the gateway forwards it in
 * X-Herald-Channels). target is the request target (path and query). */
typedef struct hr_link_open {
    bool has_user;
    bool stream;          /* HR_LINK_OPEN_STREAM: an HTTP response, not a WebSocket */
    hr_link_str peer;     /* client address "ip:port" */
    hr_link_str target;   /* "/ws?channels=a,b&since=9" */
    hr_link_str user;     /* empty without has_user */
    hr_link_str channels; /* X-Herald-Channels form (comma-separated) or empty */
    size_t n_headers;     /* <= HR_LINK_MAX_HEADERS */
    hr_link_header headers[HR_LINK_MAX_HEADERS];
} hr_link_open;

/* One parsed frame. Views point into the parsed input and are valid until
 * the caller consumes those bytes. Fields of other types are zero, except
 * open, which is only meaningful for OPEN (open.n_headers is 0 otherwise). */
typedef struct hr_link_frame {
    uint8_t type;
    uint8_t flags;
    uint32_t session;
    hr_link_str payload;            /* the whole payload */
    uint8_t opcode;                 /* DATA */
    uint16_t close_code;            /* CLOSE */
    hr_link_str reason;             /* CLOSE */
    uint16_t version;               /* HELLO: HR_LINK_VERSION_MIN..HR_LINK_VERSION */
    size_t n_ids;                   /* BCAST: 1..HR_LINK_MAX_BCAST */
    const uint8_t *ids;             /* BCAST: n_ids big-endian u32, read with hr_link_bcast_id */
    hr_link_str message;            /* BCAST: the message (payload after the ids) */
    uint32_t credit;                /* CREDIT */
    size_t n_credits;               /* CREDITS: 1..HR_LINK_MAX_CREDITS */
    const uint8_t *credits;         /* CREDITS: the pairs, read with hr_link_credits_at */
    uint8_t ping[HR_LINK_PING_LEN]; /* PING, PONG */
    hr_link_open open;              /* OPEN */
} hr_link_frame;

/* Parses one frame from p[0..len). Returns its size (header + payload) once
 * complete, 0 when more bytes are needed (nothing consumed; call again from
 * the start with more), or:
 *   HR_ETOOBIG  the length field exceeds max_payload or INT32_MAX - 10 (known
 *               after 10 bytes);
 *   HR_EPROTO   an unknown type; session 0 on a session frame or != 0 on a
 *               link frame (BCAST is one); flags not allowed for the type
 *               (DATA, BCAST: opcode other than 1 or 2; OPEN: bits other than
 *               HAS_USER and STREAM; others: any);
 *               a payload whose shape is wrong for the type: HELLO not
 *               "HRLK"+version 1..HR_LINK_VERSION, BCAST with 0 or over HR_LINK_MAX_BCAST
 *               ids, an id list running past the payload or an id 0,
 *               CLOSE shorter than 2 bytes, a code outside 1000..4999 or a
 *               reason over 123 bytes, PAUSE/RESUME not empty,
 *               CREDIT not 4 bytes or 0, CREDITS not a whole number of
 *               8-byte pairs, 0 or over HR_LINK_MAX_CREDITS pairs, a session
 *               0 or a byte count 0 in a pair,
 *               PING/PONG not 8 bytes, OPEN with a string running past the
 *               payload, more than HR_LINK_MAX_HEADERS headers, trailing bytes,
 *               user without HAS_USER.
 * Type-independent errors are reported as soon as the header is complete.
 * Reads nothing past p+len and keeps no state. */
int hr_link_parse(const uint8_t *p, size_t len, size_t max_payload, hr_link_frame *out);

/* Writes a frame header into out[0..HR_LINK_HEADER) (no checks). */
void hr_link_write_header(uint8_t *out, uint8_t type, uint8_t flags, uint32_t session,
                          uint32_t len);

/* The writers below append one complete frame to out. Each returns 0,
 * HR_ETOOBIG (out would pass its max; out unchanged), HR_ENOMEM (out
 * unchanged) or HR_EINVAL (a field the parser would refuse: session 0 where
 * one is needed, payload over 2^32-1, string over 65535 bytes, reason over
 * 123 bytes, code outside 1000..4999, opcode not 1/2, too many headers). */
int hr_link_write_hello(hr_buf *out);
int hr_link_write_open(hr_buf *out, uint32_t session, const hr_link_open *o);
int hr_link_write_data(hr_buf *out, uint32_t session, uint8_t opcode, const uint8_t *p, size_t len);
int hr_link_write_close(hr_buf *out, uint32_t session, uint16_t code, const char *reason,
                        size_t reason_len);
/* PAUSE or RESUME (type) for session. */
int hr_link_write_flow(hr_buf *out, uint8_t type, uint32_t session);
/* CREDIT of n bytes (n > 0) for session. */
int hr_link_write_credit(hr_buf *out, uint32_t session, uint32_t n);
/* One (session, bytes) pair of a CREDITS frame. */
typedef struct hr_link_credit {
    uint32_t session;
    uint32_t bytes;
} hr_link_credit;

/* CREDITS: one frame returning window to n sessions (1..HR_LINK_MAX_CREDITS
 * pairs, each with session != 0 and bytes > 0; a session listed twice gets
 * both). Same returns as the writers above; HR_EINVAL also for n out of
 * range or a pair the parser would refuse. Send it only to a peer whose
 * HELLO said version >= HR_LINK_VERSION_CREDITS (CREDIT per session
 * otherwise). */
int hr_link_write_credits(hr_buf *out, const hr_link_credit *pairs, size_t n);

/* The i-th pair of a parsed CREDITS (i < f->n_credits). */
hr_link_credit hr_link_credits_at(const hr_link_frame *f, size_t i);

/* PING or PONG (type) carrying 8 bytes. */
int hr_link_write_ping(hr_buf *out, uint8_t type, const uint8_t data[HR_LINK_PING_LEN]);

/* BCAST: one message (opcode 1 or 2, p[0..len)) for the n sessions in
 * ids (1..HR_LINK_MAX_BCAST, none 0; duplicates are not checked and would be
 * delivered twice). Same returns as the writers above; HR_EINVAL also for
 * n out of range or an id 0. Send it only to a peer whose HELLO said
 * version >= HR_LINK_VERSION_BCAST. */
int hr_link_write_bcast(hr_buf *out, uint8_t opcode, const uint32_t *ids, size_t n,
                        const uint8_t *p, size_t len);

/* Leading bytes of a frame whose message the caller sends from memory of
 * its own right after them (writev; lib/net/link_conn.h): the header of a
 * DATA frame for session, or the header and id list of a BCAST, for a
 * message of len bytes with opcode 1 or 2. Writes into out[0..cap) and
 * returns the bytes written (HR_LINK_HEADER, or HR_LINK_HEADER + 2 + 4 n),
 * or HR_EINVAL on the writers' refusals or when cap is too small; out is
 * then unchanged. The message bytes are not read, so nothing is copied. */
#define HR_LINK_MAX_HEAD (HR_LINK_HEADER + 2 + 4 * HR_LINK_MAX_BCAST)
int hr_link_head_data(uint8_t *out, size_t cap, uint32_t session, uint8_t opcode, size_t len);
int hr_link_head_bcast(uint8_t *out, size_t cap, uint8_t opcode, const uint32_t *ids, size_t n,
                       size_t len);

/* The i-th session id of a parsed BCAST (i < f->n_ids). */
uint32_t hr_link_bcast_id(const hr_link_frame *f, size_t i);

/* Builds a view of a NUL-terminated string (for writers and tests). */
hr_link_str hr_link_str_of(const char *s);

#endif

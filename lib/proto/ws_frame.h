/* WebSocket frames (RFC 6455 §5.2): stateless header parsing and writing,
 * payload masking, close payloads and close codes, and ready-to-send server
 * frames in refcounted hr_msg blocks. Pure functions over bytes: nothing here
 * keeps state between calls; reassembly of messages is ws_reader.h.
 *
 *    0               1               2               3
 *   +-+-+-+-+-------+-+-------------+-------------------------------+
 *   |F|R|R|R| opcode|M| len (7)     | ext len (16 or 64, big endian)|
 *   |I|S|S|S|  (4)  |A| 126 => 16   |                               |
 *   |N|1|2|3|       |S| 127 => 64   |       then mask key (4) if MAS|
 *   +-+-+-+-+-------+-+-------------+-------------------------------+ */
#ifndef HR_WS_FRAME_H
#define HR_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

enum {
    HR_WS_OP_CONT = 0,
    HR_WS_OP_TEXT = 1,
    HR_WS_OP_BINARY = 2,
    HR_WS_OP_CLOSE = 8,
    HR_WS_OP_PING = 9,
    HR_WS_OP_PONG = 10,
};

/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
#define HR_WS_MAX_HEADER 14
/* Largest control frame payload (RFC 6455 §5.5). */
#define HR_WS_MAX_CONTROL 125
/* Largest close reason: a control payload minus the 2-byte code. */
#define HR_WS_MAX_CLOSE_REASON 123

/* Close codes we send (SPEC.md §2). */
enum {
    HR_WS_CLOSE_NORMAL = 1000,
    HR_WS_CLOSE_GOING_AWAY = 1001,
    HR_WS_CLOSE_PROTOCOL = 1002,
    HR_WS_CLOSE_UNSUPPORTED = 1003,
    HR_WS_CLOSE_BAD_DATA = 1007,
    HR_WS_CLOSE_POLICY = 1008,
    HR_WS_CLOSE_TOO_BIG = 1009,
    HR_WS_CLOSE_INTERNAL = 1011,
    HR_WS_CLOSE_RESTART = 1012,
    HR_WS_CLOSE_TRY_AGAIN = 1013,
};

typedef struct hr_ws_header {
    bool fin, rsv1, rsv2, rsv3, masked;
    uint8_t opcode;
    uint64_t len;      /* payload length */
    uint8_t mask[4];   /* valid when masked */
    size_t header_len; /* 2..14 */
} hr_ws_header;

/* True for opcodes 8..15 (control frames); says nothing about validity. */
static inline bool hr_ws_frame_is_control(uint8_t opcode)
{
    return (opcode & 0x8) != 0;
}

/* Parses one frame header from p[0..len) into *out.
 * Returns the header size (2..14) once complete, 0 if more bytes are needed
 * (out undefined, nothing consumed: call again from the start with more), or
 * HR_EPROTO for: a reserved opcode (3..7, 11..15), a length not in its
 * minimal encoding (126 for < 126, 127 for < 65536), a 64-bit length with the
 * most significant bit set, a control frame with a payload > 125 bytes or
 * without FIN. Errors visible in the first byte are reported with len == 1.
 * RSV bits and masking are reported, not judged: they depend on the
 * negotiated extensions and on the side (see ws_reader.h).
 * Reads nothing past p+len and keeps no state. */
int hr_ws_frame_parse_header(const uint8_t *p, size_t len, hr_ws_header *out);

/* Writes a frame header into out, which must hold HR_WS_MAX_HEADER bytes:
 * minimal length encoding, masked with mask[0..4) when mask != NULL.
 * Only the low 4 bits of opcode are used. len must be < 2^63.
 * Returns the number of bytes written (2..14). */
size_t hr_ws_frame_write_header(uint8_t *out, uint8_t opcode, bool fin, bool rsv1, uint64_t len,
                                const uint8_t *mask);

/* XORs p[0..n) in place with the mask key; offset is the position of p[0]
 * within the frame payload (so a payload may be unmasked in pieces).
 * Masking twice restores the input. Works 8 bytes at a time. */
void hr_ws_frame_mask(uint8_t *p, size_t n, const uint8_t mask[4], size_t offset);

/* Builds one complete, unmasked, FIN server frame (header + a copy of
 * payload[0..len)) in a new hr_msg with one reference owned by the caller;
 * its head_len says where the payload starts.
 * rsv1 marks a permessage-deflate compressed payload (data opcodes only).
 * payload may be NULL when len == 0. Returns NULL when out of memory or when
 * the frame would exceed HR_MSG_MAX. */
hr_msg *hr_ws_frame_msg_new(uint8_t opcode, bool rsv1, const void *payload, size_t len);

/* Builds an unmasked close frame in a new hr_msg (one reference, the
 * caller's). code 0 gives an empty payload (reason ignored); otherwise the
 * payload is the code (big endian) and reason (may be NULL), which is cut to
 * HR_WS_MAX_CLOSE_REASON bytes at a UTF-8 character boundary. The caller
 * chooses a code that may be sent (1000-1003, 1007-1014, 3000-4999).
 * Returns NULL when out of memory. */
hr_msg *hr_ws_frame_close_msg_new(uint16_t code, const char *reason);

/* Writes one complete frame masked with mask[0..4) into out[0..cap): the
 * client side (tests, bench, the gateway's upstream connections). payload may
 * be NULL when len == 0; it is not modified (out must not overlap it).
 * Returns the number of bytes written, or 0 when cap is too small. */
size_t hr_ws_frame_client_write(uint8_t *out, size_t cap, uint8_t opcode, bool fin, bool rsv1,
                                const void *payload, size_t len, const uint8_t mask[4]);

/* Validates a received close payload p[0..len) (already unmasked).
 * On success returns 0 and sets *code (0 when the payload is empty, which
 * means "no status"), *reason / *reason_len to a view into p (NULL / 0 when
 * absent). Returns HR_EPROTO for len == 1, len > 125 or a code that may not
 * appear on the wire (see hr_ws_close_code_is_valid), HR_EUTF8 when the
 * reason is not valid UTF-8. Outputs are unspecified on error. */
int hr_ws_close_parse(const uint8_t *p, size_t len, uint16_t *code, const uint8_t **reason,
                      size_t *reason_len);

/* True for close codes valid in a received close frame: 1000-1003,
 * 1007-1014 and 3000-4999. 1004-1006, 1015 and everything else are invalid. */
bool hr_ws_close_code_is_valid(uint16_t code);

/* Maps an HR_E* error to the close code to send: HR_EPROTO 1002, HR_EUTF8
 * 1007, HR_ETOOBIG 1009, HR_EDENIED 1008, HR_ENOMEM and HR_EINTERNAL 1011,
 * anything else 1002. */
uint16_t hr_ws_close_code_for(int err);

#endif

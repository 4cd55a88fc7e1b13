/* permessage-deflate (RFC 7692) for WebSocket: negotiating the extension
 * header and compressing / decompressing message payloads with zlib.
 *
 * Server policy: the server always answers server_no_context_takeover, so
 * every message it sends is compressed from an empty window. A broadcast is
 * then compressed once, and the same frame bytes go to every subscriber that
 * negotiated the extension: one hr_ws_deflater per thread serves all of them.
 *
 * A compressed message on the wire is the raw DEFLATE stream of the payload,
 * flushed with Z_SYNC_FLUSH and with the final 00 00 ff ff removed; frames of
 * a compressed message carry RSV1 on the first frame only.
 *
 * Memory (zlib defaults, memLevel 8): a deflater holds about
 * 2^(bits+2) + 2^17 bytes (256 KiB at 15 bits) while initialised; an inflater
 * about 7 KiB + 2^bits (39 KiB at 15 bits) while a message is in progress, or
 * all the time when the peer keeps its context (no client_no_context_takeover
 * on the server side). Without context takeover the inflater frees its zlib
 * state after every message, so idle connections hold nothing. */
#ifndef HR_WS_DEFLATE_H
#define HR_WS_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/msg.h"

/* Negotiated parameters; window bits are 8..15 (15 when not negotiated). */
typedef struct hr_ws_deflate_params {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits;
} hr_ws_deflate_params;

/* Longest answer hr_ws_deflate_negotiate writes, with its NUL. */
#define HR_WS_DEFLATE_ANSWER_MAX 136

/* Fills p with the defaults: context takeover both ways, 15 bits. */
void hr_ws_deflate_params_default(hr_ws_deflate_params *p);

/* Server side: reads the client's Sec-WebSocket-Extensions value
 * ext[0..len) (several offers, comma separated, with parameters and quoted
 * values; several header lines joined with ", " by the caller), picks the
 * first acceptable permessage-deflate offer and writes the value of the
 * response's Sec-WebSocket-Extensions header into response[0..cap) (NUL
 * terminated), e.g. "permessage-deflate; server_no_context_takeover;
 * client_no_context_takeover". The answer always has
 * server_no_context_takeover and client_no_context_takeover (see _ex below);
 * it honours server_max_window_bits and client_max_window_bits. An offer with an
 * unknown, duplicate or out-of-range parameter (window bits outside 8..15) is
 * skipped, as is server_max_window_bits=8 (zlib cannot compress with a
 * 256-byte window). Returns 1 negotiated (*out set), 0 no acceptable offer,
 * HR_ETOOBIG when cap is too small (HR_WS_DEFLATE_ANSWER_MAX is always enough). */
int hr_ws_deflate_negotiate(const char *ext_header, size_t len, hr_ws_deflate_params *out,
                            char *response, size_t cap);

/* Same, choosing whether to ask for client_no_context_takeover even when the
 * client did not offer it (hr_ws_deflate_negotiate does: force_client_nct
 * true, so a server inflater frees its zlib state after every message and
 * idle connections cost nothing; false leaves the client its context, about
 * 39 KiB of zlib state per connection that sent a compressed message).
 * Browsers and most libraries accept the forced parameter; Node's ws with an
 * explicit clientNoContextTakeover: false fails the handshake on it (checked
 * against herald-echo), so a server that must serve such clients passes
 * false here. */
int hr_ws_deflate_negotiate_ex(const char *ext_header, size_t len, bool force_client_nct,
                               hr_ws_deflate_params *out, char *response, size_t cap);

/* The offer a client sends: "permessage-deflate; client_max_window_bits". */
#define HR_WS_DEFLATE_OFFER "permessage-deflate; client_max_window_bits"

/* Client side: validates the server's Sec-WebSocket-Extensions answer to
 * HR_WS_DEFLATE_OFFER. Returns 1 when it accepts permessage-deflate (*out
 * set), 0 when the header names no extension at all (len 0), HR_EPROTO when
 * it is invalid or names anything else (the client must fail the
 * connection). */
int hr_ws_deflate_parse_response(const char *ext_header, size_t len, hr_ws_deflate_params *out);

/* Compressor. Caller storage; hr_ws_deflater_deinit releases zlib memory. */
typedef struct hr_ws_deflater {
    z_stream z;
    bool ready;               /* z is initialised */
    bool no_context_takeover; /* reset the window before each message */
    int level;
    uint8_t window_bits;
} hr_ws_deflater;

/* Prepares a compressor for the sending side of a connection with params p:
 * is_server selects server_* (we are the server) or client_* parameters.
 * level is the zlib level (1..9; 0 or out of range means 6). zlib memory is
 * allocated on first use. Returns 0. A server deflater (always no context
 * takeover) may be shared by every connection of a thread. */
int hr_ws_deflater_init(hr_ws_deflater *d, const hr_ws_deflate_params *p, bool is_server,
                        int level);

/* Frees zlib memory; d may be initialised again. */
void hr_ws_deflater_deinit(hr_ws_deflater *d);

/* Compresses one whole message in[0..n) and appends the RFC 7692 payload to
 * out (growing it within out->max). Returns 0, HR_ETOOBIG when out is full,
 * HR_ENOMEM, or HR_EINTERNAL on an unexpected zlib failure (d is reset). */
int hr_ws_deflate_message(hr_ws_deflater *d, const uint8_t *in, size_t n, hr_buf *out);

/* Builds one complete, unmasked server frame: FIN, RSV1, opcode (text or
 * binary), 7/16/64-bit length, compressed payload. Returns a new hr_msg with
 * one reference owned by the caller, or NULL when out of memory or
 * compression fails. When d has context takeover, the frame is only valid
 * for that one connection. */
hr_msg *hr_ws_deflate_frame_new(hr_ws_deflater *d, uint8_t opcode, const void *payload, size_t len);

/* Decompressor. Caller storage; zlib state lives only while needed. */
typedef struct hr_ws_inflater {
    z_stream z;
    bool ready;               /* z is initialised */
    bool no_context_takeover; /* peer resets its window per message */
    uint8_t window_bits;
} hr_ws_inflater;

/* Prepares a decompressor for the receiving side with params p: a server
 * (is_server) inflates with client_* parameters, a client with server_*.
 * Returns 0. */
int hr_ws_inflater_init(hr_ws_inflater *f, const hr_ws_deflate_params *p, bool is_server);

/* Frees zlib memory; f may be initialised again. */
void hr_ws_inflater_deinit(hr_ws_inflater *f);

/* Decompresses one whole message in[0..n) (the RSV1 payload, all frames
 * joined) and appends the result to out. Adds the 00 00 ff ff tail itself
 * (not after a stream that ended with a BFINAL block, RFC 7692 §7.2.3.4;
 * the window carries over such a stream end, as context takeover needs).
 * Fails with HR_ETOOBIG as soon as out->len would pass max_out (decompression
 * bombs; out->max also applies), HR_EPROTO on corrupt data, HR_ENOMEM. After
 * an error the stream is dropped; the connection should be closed (1009 for
 * HR_ETOOBIG, 1007 for HR_EPROTO). Frees zlib state after the message when the
 * peer uses no context takeover. */
int hr_ws_inflate(hr_ws_inflater *f, const uint8_t *in, size_t n, hr_buf *out, size_t max_out);

/* Same for one frame of a fragmented compressed message: call with fin false
 * for each frame but the last and fin true for the last; out accumulates the
 * whole message and max_out caps out->len. On error only this call's output
 * is removed from out (earlier frames' output stays; the caller drops the
 * message and closes the connection). */
int hr_ws_inflate_part(hr_ws_inflater *f, const uint8_t *in, size_t n, bool fin, hr_buf *out,
                       size_t max_out);

#endif

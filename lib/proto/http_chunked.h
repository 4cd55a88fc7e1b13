/* Chunked transfer coding (RFC 9112 §7.1) decoder: sans-I/O and stateful, so
 * a body may arrive in any number of pieces. Decoded data comes out as views
 * into the caller's input (no copy); chunk extensions and trailers are
 * skipped. Used by the notifier's POST /publish and the gateway's HTTP proxy.
 *
 *   "5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n"
 *    size line  data   CRLF last  trailers    end
 */
#ifndef HR_HTTP_CHUNKED_H
#define HR_HTTP_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest chunk-size line (size, extensions) and the total trailer bytes. */
#define HR_HTTP_CHUNKED_MAX_LINE 4096
#define HR_HTTP_CHUNKED_MAX_TRAILERS 8192

typedef struct hr_http_chunked {
    int state;          /* private */
    uint64_t remaining; /* data bytes left in the current chunk */
    size_t line_len;    /* bytes of the current size or trailer line so far */
    size_t trailer_len; /* trailer bytes so far */
    unsigned digits;    /* hex digits of the current size */
    bool done;          /* the last chunk and the trailers were consumed */
} hr_http_chunked;

/* Prepares c (caller storage; nothing to free) for one body. */
void hr_http_chunked_init(hr_http_chunked *c);

/* Decodes from in[0..len). *consumed gets the number of input bytes used; the
 * caller resumes at in + *consumed with the rest (plus later bytes). When the
 * call produced data, *data and *data_len give one contiguous run of body bytes
 * inside in[0..*consumed); else *data_len is 0. Call in a loop until it
 * consumes nothing or returns 1.
 * Returns 0 to go on, 1 when the body is complete (bytes after *consumed
 * belong to the next message), HR_EPROTO on malformed coding (bad hex,
 * missing CRLF, a size of more than 15 hex digits, leading zeros included,
 * so sizes stay below 2^60), HR_ETOOBIG when a size line or the
 * trailers exceed the limits above. After an error the state is undefined. */
int hr_http_chunked_decode(hr_http_chunked *c, const uint8_t *in, size_t len, size_t *consumed,
                           const uint8_t **data, size_t *data_len);

/* Writes a chunk header for n bytes ("%zx\r\n") into out[0..cap); the caller
 * writes the data then "\r\n". n == 0 writes the last chunk "0\r\n\r\n".
 * Returns the length written, or 0 when cap is too small. */
size_t hr_http_chunked_write_header(size_t n, char *out, size_t cap);

#endif

/* Chunked transfer coding decoder: a byte-wise state machine over the size
 * lines, CRLFs and trailers, with data runs handed out as views in one step.
 * Strict: CRLF line ends only, at most 15 hex digits per size (2^60 - 1),
 * bounded size lines (with extensions) and trailers.
 *
 *   SIZE --';'/WS--> EXT --CR--> SIZE_LF --LF--> DATA (size > 0)
 *     \------CR------------------^          \--> TRAILER_START (size 0)
 *   DATA --> DATA_CR --> DATA_LF --> SIZE
 *   TRAILER_START --CR--> END_LF --LF--> DONE
 *                 \--other--> TRAILER --CR--> TRAILER_LF --LF--> TRAILER_START */
#include "http_chunked.h"

#include <stdio.h>

#include "core/err.h"
#include "percent.h"

enum {
    S_SIZE,
    S_EXT,
    S_SIZE_LF,
    S_DATA,
    S_DATA_CR,
    S_DATA_LF,
    S_TRAILER_START,
    S_TRAILER,
    S_TRAILER_LF,
    S_END_LF,
    S_DONE,
};

void hr_http_chunked_init(hr_http_chunked *c)
{
    *c = (hr_http_chunked){.state = S_SIZE};
}

static int step_size(hr_http_chunked *c, uint8_t ch)
{
    const int v = hr_hex_digit(ch);
    if (v >= 0) {
        if (++c->digits > 15)
            return HR_EPROTO;
        c->remaining = c->remaining * 16 + (uint64_t)v;
        c->line_len++;
        return 0;
    }
    if (c->digits == 0)
        return HR_EPROTO;
    if (ch == ';' || ch == ' ' || ch == '\t') {
        c->state = S_EXT;
        return 0;
    }
    if (ch == '\r') {
        c->state = S_SIZE_LF;
        return 0;
    }
    return HR_EPROTO;
}

static int expect(hr_http_chunked *c, uint8_t ch, uint8_t want, int next)
{
    if (ch != want)
        return HR_EPROTO;
    c->state = next;
    return 0;
}

static int step_line(hr_http_chunked *c, uint8_t ch)
{
    switch (c->state) {
    case S_EXT:
        if (++c->line_len > HR_HTTP_CHUNKED_MAX_LINE)
            return HR_ETOOBIG;
        if (ch == '\n')
            return HR_EPROTO;
        if (ch == '\r')
            c->state = S_SIZE_LF;
        return 0;
    case S_TRAILER_START:
        if (ch == '\r') {
            c->state = S_END_LF;
            return 0;
        }
        c->state = S_TRAILER;
        /* fallthrough */
    case S_TRAILER:
        if (++c->trailer_len > HR_HTTP_CHUNKED_MAX_TRAILERS)
            return HR_ETOOBIG;
        if (ch == '\n')
            return HR_EPROTO;
        if (ch == '\r')
            c->state = S_TRAILER_LF;
        return 0;
    default:
        return HR_EINTERNAL;
    }
}

/* Consumes one byte outside DATA. */
static int step(hr_http_chunked *c, uint8_t ch)
{
    switch (c->state) {
    case S_SIZE:
        return step_size(c, ch);
    case S_SIZE_LF:
        return expect(c, ch, '\n', c->remaining > 0 ? S_DATA : S_TRAILER_START);
    case S_DATA_CR:
        return expect(c, ch, '\r', S_DATA_LF);
    case S_DATA_LF:
        c->remaining = 0;
        c->digits = 0;
        c->line_len = 0;
        return expect(c, ch, '\n', S_SIZE);
    case S_TRAILER_LF:
        return expect(c, ch, '\n', S_TRAILER_START);
    case S_END_LF:
        return expect(c, ch, '\n', S_DONE);
    default:
        return step_line(c, ch);
    }
}

int hr_http_chunked_decode(hr_http_chunked *c, const uint8_t *in, size_t len, size_t *consumed,
                           const uint8_t **data, size_t *data_len)
{
    *data = NULL;
    *data_len = 0;
    size_t i = 0;
    while (i < len && c->state != S_DONE) {
        if (c->state == S_DATA) {
            const size_t avail = len - i;
            const size_t n = c->remaining < avail ? (size_t)c->remaining : avail;
            *data = in + i;
            *data_len = n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = S_DATA_CR;
            *consumed = i + n;
            return 0;
        }
        const int rc = step(c, in[i++]);
        if (rc < 0) {
            *consumed = i;
            return rc;
        }
    }
    *consumed = i;
    c->done = c->state == S_DONE;
    return c->done ? 1 : 0;
}

size_t hr_http_chunked_write_header(size_t n, char *out, size_t cap)
{
    const int len = n == 0 ? snprintf(out, cap, "0\r\n\r\n") : snprintf(out, cap, "%zx\r\n", n);
    return len < 0 || (size_t)len >= cap ? 0 : (size_t)len;
}

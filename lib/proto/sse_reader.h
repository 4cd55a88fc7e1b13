/* hr_sse_reader: the client side of Server-Sent Events. It turns the body of
 * a text/event-stream answer into events and comments, following the WHATWG
 * HTML "event stream interpretation": lines end with CRLF, LF or CR; a
 * leading UTF-8 BOM is dropped; "data" lines accumulate (joined with LF),
 * "event" names the event, "id" sets the last event id (kept across
 * events), "retry" the reconnection delay; a blank line dispatches the event
 * when it has data; a line starting with ':' is a comment. Comments are
 * reported too: Herald sends its session replies (welcome, subscribed) as
 * comments, and herald-bench waits for them.
 *
 * Sans-I/O like hr_ws_reader: the caller feeds bytes and gets at most one
 * event or comment per call; the body's transfer coding (chunked or
 * close-delimited) is the caller's to remove first (http_chunked.h).
 *
 *     size_t off = 0;
 *     while (off < len) {
 *         hr_sse_event ev;
 *         ssize_t n = hr_sse_reader_feed(&r, p + off, len - off, &ev);
 *         if (n < 0)
 *             return fail(n);
 *         off += (size_t)n;
 *         if (ev.type != HR_SSE_EV_NONE)
 *             handle(&ev);            // ev's views die at the next feed
 *     }
 *
 * Memory: a line split across feeds and the data of the event being read
 * sit in hr_bufs capped at max_line; both are empty between events (freed at
 * the next feed or by hr_sse_reader_release), so an idle stream holds no
 * buffer. The event name and the last id live inline, bounded below. */
#ifndef HR_SSE_READER_H
#define HR_SSE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

#define HR_SSE_READER_MAX_NAME 128 /* bytes of an event name */
#define HR_SSE_READER_MAX_ID 256   /* bytes of an event id */
#define HR_SSE_READER_DEFAULT_MAX_LINE ((size_t)1 << 20)

typedef enum hr_sse_ev_type {
    HR_SSE_EV_NONE = 0, /* nothing complete yet */
    HR_SSE_EV_EVENT,    /* a dispatched event */
    HR_SSE_EV_COMMENT,  /* a ':' line */
} hr_sse_ev_type;

typedef struct hr_sse_event {
    hr_sse_ev_type type;
    /* EVENT: the data lines joined with LF (no final LF); COMMENT: the text
     * after ':' and one optional space. */
    const char *data;
    size_t data_len;
    /* EVENT: the event name, "message" when the stream gave none. */
    const char *name;
    size_t name_len;
    /* EVENT: the last event id (may be empty). */
    const char *id;
    size_t id_len;
} hr_sse_event;

/* Private state: treat as opaque (it is here so callers can embed it). */
typedef struct hr_sse_reader {
    size_t max_line;  /* longest line, and most data bytes of one event */
    int err;          /* sticky error, 0 while fine */
    uint8_t bom;      /* BOM bytes matched at the start (3: past it) */
    bool after_cr;    /* the last line ended with CR: skip one LF */
    bool reset_event; /* the last feed dispatched: clear data and name */
    bool reset_line;  /* the last feed's line buffer is done */
    hr_buf line;      /* a line split across feeds */
    hr_buf data;      /* data lines of the event, each followed by LF */
    uint8_t name_len;
    char name[HR_SSE_READER_MAX_NAME];
    size_t id_len;
    char id[HR_SSE_READER_MAX_ID];
    long retry_ms; /* the last valid "retry" field, -1 when none */
} hr_sse_reader;

/* Initialises a reader in caller storage; max_line 0 means
 * HR_SSE_READER_DEFAULT_MAX_LINE. Allocates nothing. */
void hr_sse_reader_init(hr_sse_reader *r, size_t max_line);

/* Frees the reader's memory; init it again to reuse it. */
void hr_sse_reader_deinit(hr_sse_reader *r);

/* Consumes bytes from p[0..len) and fills *ev (type HR_SSE_EV_NONE when
 * nothing completed). Returns the bytes consumed (all of them whenever
 * ev->type is NONE), or HR_ETOOBIG when a line cut by the end of a feed
 * (which is buffered; whole lines are read in place), an event's data, a
 * name or an id exceeds its bound, or HR_ENOMEM. Errors are sticky. Views in *ev
 * point into p or into the reader, valid until the next feed, release or
 * deinit. */
ssize_t hr_sse_reader_feed(hr_sse_reader *r, const uint8_t *p, size_t len, hr_sse_event *ev);

/* Ends the last event's views and frees what they held: call it after the
 * last event of a read so an idle stream holds no memory. */
void hr_sse_reader_release(hr_sse_reader *r);

/* The last valid "retry" value in milliseconds, or -1. */
long hr_sse_reader_retry_ms(const hr_sse_reader *r);

#endif

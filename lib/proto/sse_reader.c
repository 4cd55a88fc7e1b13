/* Server-Sent Events reader: a line splitter (CRLF, LF or CR, the CR's LF
 * possibly in the next feed) in front of the WHATWG field rules. Whole
 * lines are read in place; only a line cut by the end of a feed is copied. */
#include "sse_reader.h"

#include <string.h>

#include "core/err.h"

static const uint8_t bom[3] = {0xEF, 0xBB, 0xBF};

void hr_sse_reader_init(hr_sse_reader *r, size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->max_line = max_line ? max_line : HR_SSE_READER_DEFAULT_MAX_LINE;
    hr_buf_init(&r->line, r->max_line);
    hr_buf_init(&r->data, r->max_line);
    r->retry_ms = -1;
}

void hr_sse_reader_deinit(hr_sse_reader *r)
{
    hr_buf_deinit(&r->line);
    hr_buf_deinit(&r->data);
}

void hr_sse_reader_release(hr_sse_reader *r)
{
    if (r->reset_event) {
        hr_buf_consume(&r->data, r->data.len);
        r->name_len = 0;
        r->reset_event = false;
    }
    if (r->reset_line) {
        hr_buf_consume(&r->line, r->line.len);
        r->reset_line = false;
    }
}

long hr_sse_reader_retry_ms(const hr_sse_reader *r)
{
    return r->retry_ms;
}

static bool field_is(const char *f, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(f, name, n) == 0;
}

static void set_retry(hr_sse_reader *r, const char *v, size_t n)
{
    long ms = 0;
    if (n == 0 || n > 9) /* more digits than a long of milliseconds needs */
        return;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return;
        ms = ms * 10 + (v[i] - '0');
    }
    r->retry_ms = ms;
}

static int on_field(hr_sse_reader *r, const char *f, size_t fn, const char *v, size_t vn)
{
    if (field_is(f, fn, "data")) {
        int rc = hr_buf_append(&r->data, v, vn);
        return rc == 0 ? hr_buf_append(&r->data, "\n", 1) : rc;
    }
    if (field_is(f, fn, "event")) {
        if (vn > HR_SSE_READER_MAX_NAME)
            return HR_ETOOBIG;
        memcpy(r->name, v, vn);
        r->name_len = (uint8_t)vn;
    } else if (field_is(f, fn, "id")) {
        if (memchr(v, '\0', vn) != NULL)
            return 0; /* the rules ignore an id holding NUL */
        if (vn > HR_SSE_READER_MAX_ID)
            return HR_ETOOBIG;
        memcpy(r->id, v, vn);
        r->id_len = vn;
    } else if (field_is(f, fn, "retry")) {
        set_retry(r, v, vn);
    }
    return 0; /* other fields are ignored */
}

static void dispatch(hr_sse_reader *r, hr_sse_event *ev)
{
    r->reset_event = true;
    if (r->data.len == 0)
        return; /* no data line: nothing to deliver, the name is dropped */
    ev->type = HR_SSE_EV_EVENT;
    ev->data = (const char *)hr_buf_data(&r->data);
    ev->data_len = r->data.len - 1; /* without the last LF */
    if (r->name_len > 0) {
        ev->name = r->name;
        ev->name_len = r->name_len;
    } else {
        ev->name = "message";
        ev->name_len = 7;
    }
    ev->id = r->id;
    ev->id_len = r->id_len;
}

/* One complete line l[0..n) (no line end). */
static int on_line(hr_sse_reader *r, const char *l, size_t n, hr_sse_event *ev)
{
    if (n == 0) {
        dispatch(r, ev);
        return 0;
    }
    const char *colon = memchr(l, ':', n);
    if (colon == l) {
        const size_t skip = n > 1 && l[1] == ' ' ? 2 : 1;
        ev->type = HR_SSE_EV_COMMENT;
        ev->data = l + skip;
        ev->data_len = n - skip;
        return 0;
    }
    if (colon == NULL)
        return on_field(r, l, n, "", 0);
    const char *v = colon + 1, *end = l + n;
    if (v < end && *v == ' ')
        v++;
    return on_field(r, l, (size_t)(colon - l), v, (size_t)(end - v));
}

/* Drops a leading BOM; returns the bytes of p it took. A partial match that
 * then differs was data after all: those bytes go to the line buffer. */
static ssize_t skip_bom(hr_sse_reader *r, const uint8_t *p, size_t len)
{
    size_t off = 0;
    while (r->bom < 3 && off < len) {
        if (p[off] != bom[r->bom]) {
            const uint8_t had = r->bom;
            r->bom = 3;
            const int rc = hr_buf_append(&r->line, bom, had);
            return rc < 0 ? rc : (ssize_t)off;
        }
        r->bom++;
        off++;
    }
    return (ssize_t)off;
}

static ssize_t fail(hr_sse_reader *r, int err)
{
    r->err = err;
    return err;
}

ssize_t hr_sse_reader_feed(hr_sse_reader *r, const uint8_t *p, size_t len, hr_sse_event *ev)
{
    memset(ev, 0, sizeof *ev);
    hr_sse_reader_release(r);
    if (r->err != 0)
        return r->err;
    const ssize_t b = skip_bom(r, p, len);
    if (b < 0)
        return fail(r, (int)b);
    size_t off = (size_t)b;
    while (off < len) {
        if (r->after_cr) {
            r->after_cr = false;
            if (p[off] == '\n') {
                off++;
                continue;
            }
        }
        const uint8_t *s = p + off;
        size_t n = 0;
        while (n < len - off && s[n] != '\n' && s[n] != '\r')
            n++;
        if (n == len - off) { /* no line end yet: keep the piece */
            const int rc = hr_buf_append(&r->line, s, n);
            return rc < 0 ? fail(r, rc) : (ssize_t)len;
        }
        r->after_cr = s[n] == '\r';
        off += n + 1;
        const char *l = (const char *)s;
        if (r->line.len > 0) {
            const int rc = hr_buf_append(&r->line, s, n);
            if (rc < 0)
                return fail(r, rc);
            l = (const char *)hr_buf_data(&r->line);
            n = r->line.len;
            r->reset_line = true;
        }
        const int rc = on_line(r, l, n, ev);
        if (rc < 0)
            return fail(r, rc);
        if (ev->type != HR_SSE_EV_NONE)
            return (ssize_t)off;
        hr_sse_reader_release(r); /* a line that was not an event: its buffer is done */
    }
    return (ssize_t)off;
}

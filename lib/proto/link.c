/* The herald-link codec (docs/link.md): one frame = a 10-byte header (type,
 * flags, session id, payload length) and a payload whose shape depends on the
 * type. Parsing is stateless: a frame is small enough to be buffered whole
 * (its length is capped by max_payload), so when bytes are missing the caller
 * parses again from the start with more. Validation is complete here, so the
 * two edges (gateway, notifier) only ever see well-formed frames. */
#include "link.h"

#include <stddef.h>
#include <string.h>

#include "core/err.h"

static const uint8_t magic[4] = {'H', 'R', 'L', 'K'};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint8_t *wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

hr_link_str hr_link_str_of(const char *s)
{
    return (hr_link_str){(const uint8_t *)s, s != NULL ? strlen(s) : 0};
}

/* ---- parsing ----------------------------------------------------------- */

static bool is_link_frame(uint8_t type)
{
    return type == HR_LINK_HELLO || type == HR_LINK_PING || type == HR_LINK_PONG ||
           type == HR_LINK_BCAST || type == HR_LINK_CREDITS;
}

static bool flags_ok(uint8_t type, uint8_t flags)
{
    if (type == HR_LINK_DATA || type == HR_LINK_BCAST)
        return flags == 1 || flags == 2;
    if (type == HR_LINK_OPEN)
        return (flags & ~(HR_LINK_OPEN_HAS_USER | HR_LINK_OPEN_STREAM)) == 0;
    return flags == 0;
}

/* Checks what the header alone tells. */
static int check_header(const uint8_t *p, size_t max_payload)
{
    const uint8_t type = p[0];
    if (type < HR_LINK_HELLO || type > HR_LINK_CREDITS)
        return HR_EPROTO;
    if (is_link_frame(type) != (rd32(p + 2) == 0))
        return HR_EPROTO;
    if (!flags_ok(type, p[1]))
        return HR_EPROTO;
    const uint32_t plen = rd32(p + 6);
    if (plen > max_payload || plen > (uint32_t)INT32_MAX - HR_LINK_HEADER)
        return HR_ETOOBIG;
    return 0;
}

typedef struct reader {
    const uint8_t *p;
    size_t len, off;
} reader;

static bool read_str(reader *r, hr_link_str *s)
{
    if (r->len - r->off < 2)
        return false;
    const size_t n = rd16(r->p + r->off);
    r->off += 2;
    if (r->len - r->off < n)
        return false;
    s->p = r->p + r->off;
    s->len = n;
    r->off += n;
    return true;
}

static int parse_open(const uint8_t *p, size_t len, uint8_t flags, hr_link_open *o)
{
    reader r = {p, len, 0};
    memset(o, 0, sizeof *o);
    o->has_user = (flags & HR_LINK_OPEN_HAS_USER) != 0;
    o->stream = (flags & HR_LINK_OPEN_STREAM) != 0;
    if (!read_str(&r, &o->peer) || !read_str(&r, &o->target) || !read_str(&r, &o->user) ||
        !read_str(&r, &o->channels) || r.len - r.off < 2)
        return HR_EPROTO;
    o->n_headers = rd16(p + r.off);
    r.off += 2;
    if (o->n_headers > HR_LINK_MAX_HEADERS)
        return HR_EPROTO;
    for (size_t i = 0; i < o->n_headers; i++)
        if (!read_str(&r, &o->headers[i].name) || !read_str(&r, &o->headers[i].value))
            return HR_EPROTO;
    if (r.off != len)
        return HR_EPROTO;
    if (!o->has_user && (o->user.len != 0 || o->channels.len != 0))
        return HR_EPROTO;
    return 0;
}

/*   payload: | n (u16) | id_1 (u32) ... id_n (u32) | message ... |  */
static int parse_bcast(hr_link_frame *f)
{
    const uint8_t *p = f->payload.p;
    const size_t len = f->payload.len;
    if (len < 2)
        return HR_EPROTO;
    const size_t n = rd16(p);
    if (n == 0 || n > HR_LINK_MAX_BCAST || (len - 2) / 4 < n)
        return HR_EPROTO;
    for (size_t i = 0; i < n; i++)
        if (rd32(p + 2 + 4 * i) == 0)
            return HR_EPROTO;
    f->opcode = f->flags;
    f->n_ids = n;
    f->ids = p + 2;
    f->message = (hr_link_str){p + 2 + 4 * n, len - 2 - 4 * n};
    return 0;
}

/*   payload: | session_1 (u32) bytes_1 (u32) | ... | session_n bytes_n |  */
static int parse_credits(hr_link_frame *f)
{
    const uint8_t *p = f->payload.p;
    const size_t len = f->payload.len;
    if (len == 0 || len % 8 != 0 || len / 8 > HR_LINK_MAX_CREDITS)
        return HR_EPROTO;
    for (size_t i = 0; i < len; i += 8)
        if (rd32(p + i) == 0 || rd32(p + i + 4) == 0)
            return HR_EPROTO;
    f->n_credits = len / 8;
    f->credits = p;
    return 0;
}

static int parse_payload(hr_link_frame *f)
{
    const uint8_t *p = f->payload.p;
    const size_t n = f->payload.len;
    switch (f->type) {
    case HR_LINK_HELLO:
        if (n != 6 || memcmp(p, magic, 4) != 0 || rd16(p + 4) < HR_LINK_VERSION_MIN ||
            rd16(p + 4) > HR_LINK_VERSION)
            return HR_EPROTO;
        f->version = rd16(p + 4);
        return 0;
    case HR_LINK_OPEN:
        return parse_open(p, n, f->flags, &f->open);
    case HR_LINK_DATA:
        f->opcode = f->flags;
        return 0;
    case HR_LINK_BCAST:
        return parse_bcast(f);
    case HR_LINK_CREDITS:
        return parse_credits(f);
    case HR_LINK_CLOSE:
        if (n < 2 || n - 2 > HR_LINK_MAX_CLOSE_REASON)
            return HR_EPROTO;
        f->close_code = rd16(p);
        f->reason = (hr_link_str){p + 2, n - 2};
        return f->close_code >= 1000 && f->close_code <= 4999 ? 0 : HR_EPROTO;
    case HR_LINK_PAUSE:
    case HR_LINK_RESUME:
        return n == 0 ? 0 : HR_EPROTO;
    case HR_LINK_CREDIT:
        if (n != 4 || rd32(p) == 0)
            return HR_EPROTO;
        f->credit = rd32(p);
        return 0;
    default: /* PING, PONG: check_header admitted nothing else */
        if (n != HR_LINK_PING_LEN)
            return HR_EPROTO;
        memcpy(f->ping, p, HR_LINK_PING_LEN);
        return 0;
    }
}

int hr_link_parse(const uint8_t *p, size_t len, size_t max_payload, hr_link_frame *out)
{
    if (len < HR_LINK_HEADER)
        return 0;
    const int rc = check_header(p, max_payload);
    if (rc != 0)
        return rc;
    const size_t plen = rd32(p + 6);
    if (len - HR_LINK_HEADER < plen)
        return 0;
    memset(out, 0, offsetof(hr_link_frame, open));
    out->open.n_headers = 0;
    out->type = p[0];
    out->flags = p[1];
    out->session = rd32(p + 2);
    out->payload = (hr_link_str){p + HR_LINK_HEADER, plen};
    const int prc = parse_payload(out);
    if (prc != 0)
        return prc;
    return (int)(HR_LINK_HEADER + plen); /* check_header capped plen below INT32_MAX */
}

/* ---- writing ------------------------------------------------------------ */

void hr_link_write_header(uint8_t *out, uint8_t type, uint8_t flags, uint32_t session, uint32_t len)
{
    out[0] = type;
    out[1] = flags;
    wr32(out + 2, session);
    wr32(out + 6, len);
}

/* Reserves a whole frame of payload length plen at the tail of out and
 * writes its header; returns the payload pointer or NULL with *rc set. The
 * frame exists only once commit_frame() is called. */
static uint8_t *begin_frame(hr_buf *out, uint8_t type, uint8_t flags, uint32_t session, size_t plen,
                            int *rc)
{
    if (plen > UINT32_MAX || plen > SIZE_MAX - HR_LINK_HEADER) {
        *rc = HR_EINVAL;
        return NULL;
    }
    size_t avail = 0;
    uint8_t *w = hr_buf_reserve(out, HR_LINK_HEADER + plen, &avail);
    if (w == NULL || avail < HR_LINK_HEADER + plen) {
        *rc = w == NULL && avail == 1 ? HR_ENOMEM : HR_ETOOBIG;
        return NULL;
    }
    hr_link_write_header(w, type, flags, session, (uint32_t)plen);
    return w + HR_LINK_HEADER;
}

static void commit_frame(hr_buf *out, size_t plen)
{
    hr_buf_commit(out, HR_LINK_HEADER + plen);
}

int hr_link_write_hello(hr_buf *out)
{
    int rc = 0;
    uint8_t *w = begin_frame(out, HR_LINK_HELLO, 0, 0, 6, &rc);
    if (w == NULL)
        return rc;
    memcpy(w, magic, 4);
    wr16(w + 4, HR_LINK_VERSION);
    commit_frame(out, 6);
    return 0;
}

static uint8_t *put_str(uint8_t *w, hr_link_str s)
{
    w = wr16(w, (uint16_t)s.len);
    if (s.len > 0)
        memcpy(w, s.p, s.len);
    return w + s.len;
}

/* Payload size of o, or 0 when a field cannot be encoded. */
static size_t open_size(const hr_link_open *o)
{
    const hr_link_str *s[] = {&o->peer, &o->target, &o->user, &o->channels};
    size_t n = 2;
    for (size_t i = 0; i < 4; i++) {
        if (s[i]->len > UINT16_MAX)
            return 0;
        n += 2 + s[i]->len;
    }
    for (size_t i = 0; i < o->n_headers; i++) {
        const hr_link_header *h = &o->headers[i];
        if (h->name.len > UINT16_MAX || h->value.len > UINT16_MAX)
            return 0;
        n += 4 + h->name.len + h->value.len;
    }
    return n;
}

int hr_link_write_open(hr_buf *out, uint32_t session, const hr_link_open *o)
{
    if (session == 0 || o->n_headers > HR_LINK_MAX_HEADERS ||
        (!o->has_user && (o->user.len != 0 || o->channels.len != 0)))
        return HR_EINVAL;
    const size_t plen = open_size(o);
    if (plen == 0)
        return HR_EINVAL;
    int rc = 0;
    const uint8_t flags = (uint8_t)((o->has_user ? HR_LINK_OPEN_HAS_USER : 0) |
                                    (o->stream ? HR_LINK_OPEN_STREAM : 0));
    uint8_t *w = begin_frame(out, HR_LINK_OPEN, flags, session, plen, &rc);
    if (w == NULL)
        return rc;
    w = put_str(w, o->peer);
    w = put_str(w, o->target);
    w = put_str(w, o->user);
    w = put_str(w, o->channels);
    w = wr16(w, (uint16_t)o->n_headers);
    for (size_t i = 0; i < o->n_headers; i++) {
        w = put_str(w, o->headers[i].name);
        w = put_str(w, o->headers[i].value);
    }
    commit_frame(out, plen);
    return 0;
}

int hr_link_write_data(hr_buf *out, uint32_t session, uint8_t opcode, const uint8_t *p, size_t len)
{
    if (session == 0 || (opcode != 1 && opcode != 2))
        return HR_EINVAL;
    int rc = 0;
    uint8_t *w = begin_frame(out, HR_LINK_DATA, opcode, session, len, &rc);
    if (w == NULL)
        return rc;
    if (len > 0)
        memcpy(w, p, len);
    commit_frame(out, len);
    return 0;
}

int hr_link_write_bcast(hr_buf *out, uint8_t opcode, const uint32_t *ids, size_t n,
                        const uint8_t *p, size_t len)
{
    if ((opcode != 1 && opcode != 2) || n == 0 || n > HR_LINK_MAX_BCAST ||
        len > SIZE_MAX - 2 - 4 * n)
        return HR_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == 0)
            return HR_EINVAL;
    const size_t plen = 2 + 4 * n + len;
    int rc = 0;
    uint8_t *w = begin_frame(out, HR_LINK_BCAST, opcode, 0, plen, &rc);
    if (w == NULL)
        return rc;
    w = wr16(w, (uint16_t)n);
    for (size_t i = 0; i < n; i++)
        w = wr32(w, ids[i]);
    if (len > 0)
        memcpy(w, p, len);
    commit_frame(out, plen);
    return 0;
}

int hr_link_head_data(uint8_t *out, size_t cap, uint32_t session, uint8_t opcode, size_t len)
{
    if (session == 0 || (opcode != 1 && opcode != 2) || len > UINT32_MAX || cap < HR_LINK_HEADER)
        return HR_EINVAL;
    hr_link_write_header(out, HR_LINK_DATA, opcode, session, (uint32_t)len);
    return HR_LINK_HEADER;
}

int hr_link_head_bcast(uint8_t *out, size_t cap, uint8_t opcode, const uint32_t *ids, size_t n,
                       size_t len)
{
    if ((opcode != 1 && opcode != 2) || n == 0 || n > HR_LINK_MAX_BCAST ||
        len > UINT32_MAX - 2 - 4 * n || cap < HR_LINK_HEADER + 2 + 4 * n)
        return HR_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == 0)
            return HR_EINVAL;
    hr_link_write_header(out, HR_LINK_BCAST, opcode, 0, (uint32_t)(2 + 4 * n + len));
    uint8_t *w = wr16(out + HR_LINK_HEADER, (uint16_t)n);
    for (size_t i = 0; i < n; i++)
        w = wr32(w, ids[i]);
    return (int)(HR_LINK_HEADER + 2 + 4 * n);
}

uint32_t hr_link_bcast_id(const hr_link_frame *f, size_t i)
{
    return rd32(f->ids + 4 * i);
}

int hr_link_write_close(hr_buf *out, uint32_t session, uint16_t code, const char *reason,
                        size_t reason_len)
{
    if (session == 0 || code < 1000 || code > 4999 || reason_len > HR_LINK_MAX_CLOSE_REASON)
        return HR_EINVAL;
    int rc = 0;
    uint8_t *w = begin_frame(out, HR_LINK_CLOSE, 0, session, 2 + reason_len, &rc);
    if (w == NULL)
        return rc;
    w = wr16(w, code);
    if (reason_len > 0)
        memcpy(w, reason, reason_len);
    commit_frame(out, 2 + reason_len);
    return 0;
}

int hr_link_write_flow(hr_buf *out, uint8_t type, uint32_t session)
{
    if (session == 0 || (type != HR_LINK_PAUSE && type != HR_LINK_RESUME))
        return HR_EINVAL;
    int rc = 0;
    if (begin_frame(out, type, 0, session, 0, &rc) == NULL)
        return rc;
    commit_frame(out, 0);
    return 0;
}

int hr_link_write_credit(hr_buf *out, uint32_t session, uint32_t n)
{
    if (session == 0 || n == 0)
        return HR_EINVAL;
    int rc = 0;
    uint8_t *w = begin_frame(out, HR_LINK_CREDIT, 0, session, 4, &rc);
    if (w == NULL)
        return rc;
    wr32(w, n);
    commit_frame(out, 4);
    return 0;
}

int hr_link_write_credits(hr_buf *out, const hr_link_credit *pairs, size_t n)
{
    if (n == 0 || n > HR_LINK_MAX_CREDITS)
        return HR_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (pairs[i].session == 0 || pairs[i].bytes == 0)
            return HR_EINVAL;
    int rc = 0;
    uint8_t *w = begin_frame(out, HR_LINK_CREDITS, 0, 0, 8 * n, &rc);
    if (w == NULL)
        return rc;
    for (size_t i = 0; i < n; i++) {
        w = wr32(w, pairs[i].session);
        w = wr32(w, pairs[i].bytes);
    }
    commit_frame(out, 8 * n);
    return 0;
}

hr_link_credit hr_link_credits_at(const hr_link_frame *f, size_t i)
{
    return (hr_link_credit){rd32(f->credits + 8 * i), rd32(f->credits + 8 * i + 4)};
}

int hr_link_write_ping(hr_buf *out, uint8_t type, const uint8_t data[HR_LINK_PING_LEN])
{
    if (type != HR_LINK_PING && type != HR_LINK_PONG)
        return HR_EINVAL;
    int rc = 0;
    uint8_t *w = begin_frame(out, type, 0, 0, HR_LINK_PING_LEN, &rc);
    if (w == NULL)
        return rc;
    memcpy(w, data, HR_LINK_PING_LEN);
    commit_frame(out, HR_LINK_PING_LEN);
    return 0;
}

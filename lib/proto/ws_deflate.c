/* permessage-deflate (RFC 7692): the extension negotiation (a small
 * tokenizer over the Sec-WebSocket-Extensions grammar of RFC 6455 §9.1) and
 * the zlib compressor and decompressor for message payloads.
 *
 * Server policy: we always answer server_no_context_takeover (one compressed
 * broadcast frame serves every subscriber) and client_no_context_takeover
 * (RFC 7692 §7.1.1.2 lets the server ask for it even when not offered), so a
 * server-side inflater holds zlib memory only while a message is being
 * inflated: an idle connection costs no zlib state. hr_ws_deflate_negotiate_ex
 * can leave the client its context instead.
 *
 * zlib cannot compress raw DEFLATE with a 256-byte window (windowBits 8): the
 * server skips offers demanding server_max_window_bits=8, and a client told
 * client_max_window_bits=8 compresses at level 0 (stored blocks, no
 * back-references, valid for any window). */
#include "ws_deflate.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"
#include "proto/ws_frame.h"

static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

void hr_ws_deflate_params_default(hr_ws_deflate_params *p)
{
    *p = (hr_ws_deflate_params){.server_max_window_bits = 15, .client_max_window_bits = 15};
}

/* ---- negotiation: tokenizer ------------------------------------------- */

/* One parsed extension of the list. Window bits: -1 absent, 0 present
 * without a value (client_max_window_bits only), else 8..15. */
typedef struct offer {
    bool is_pmd;
    bool valid;
    bool snct, cnct;
    int smwb, cmwb;
} offer;

typedef struct cursor {
    const char *s, *end;
} cursor;

static void skip_ows(cursor *c)
{
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t'))
        c->s++;
}

static bool is_tchar(char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool read_token(cursor *c, const char **tok, size_t *len)
{
    *tok = c->s;
    while (c->s < c->end && is_tchar(*c->s))
        c->s++;
    *len = (size_t)(c->s - *tok);
    return *len > 0;
}

/* Reads a token or quoted-string into val[0..cap) (NUL-terminated; longer
 * values are cut, which makes them invalid numbers anyway). */
static bool read_value(cursor *c, char *val, size_t cap)
{
    size_t n = 0;
    if (c->s < c->end && *c->s == '"') {
        c->s++;
        while (c->s < c->end && *c->s != '"') {
            if (*c->s == '\\' && ++c->s == c->end)
                return false;
            if (n + 1 < cap)
                val[n++] = *c->s;
            c->s++;
        }
        if (c->s == c->end)
            return false;
        c->s++;
        val[n] = '\0';
        return true;
    }
    const char *tok;
    size_t len;
    if (!read_token(c, &tok, &len))
        return false;
    n = len < cap - 1 ? len : cap - 1;
    memcpy(val, tok, n);
    val[n] = '\0';
    return true;
}

static bool tok_eq(const char *tok, size_t len, const char *s)
{
    return len == strlen(s) && strncasecmp(tok, s, len) == 0;
}

/* "8".."15", no sign, no leading zero; -1 when invalid. */
static int window_bits(const char *v)
{
    if (strcmp(v, "8") == 0 || strcmp(v, "9") == 0)
        return v[0] - '0';
    if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == '\0')
        return 10 + v[1] - '0';
    return -1;
}

static void apply_flag(offer *o, bool *flag, bool has_val)
{
    if (*flag || has_val)
        o->valid = false;
    *flag = true;
}

static void apply_bits(offer *o, int *bits, bool has_val, bool need_val, const char *v)
{
    if (*bits != -1 || (need_val && !has_val)) {
        o->valid = false;
        return;
    }
    *bits = has_val ? window_bits(v) : 0;
    if (*bits < 0)
        o->valid = false;
}

static void apply_param(offer *o, const char *name, size_t len, bool has_val, const char *v)
{
    if (tok_eq(name, len, "server_no_context_takeover"))
        apply_flag(o, &o->snct, has_val);
    else if (tok_eq(name, len, "client_no_context_takeover"))
        apply_flag(o, &o->cnct, has_val);
    else if (tok_eq(name, len, "server_max_window_bits"))
        apply_bits(o, &o->smwb, has_val, true, v);
    else if (tok_eq(name, len, "client_max_window_bits"))
        apply_bits(o, &o->cmwb, has_val, false, v);
    else
        o->valid = false;
}

/* Parses one extension and its parameters, up to and including the ',' that
 * ends it. Returns false on a syntax error (the rest cannot be trusted). */
static bool parse_offer(cursor *c, offer *o)
{
    *o = (offer){.valid = true, .smwb = -1, .cmwb = -1};
    const char *name;
    size_t len;
    skip_ows(c);
    if (!read_token(c, &name, &len))
        return false;
    o->is_pmd = tok_eq(name, len, "permessage-deflate");
    for (;;) {
        skip_ows(c);
        if (c->s == c->end)
            return true;
        if (*c->s == ',') {
            c->s++;
            return true;
        }
        if (*c->s++ != ';')
            return false;
        skip_ows(c);
        if (!read_token(c, &name, &len))
            return false;
        skip_ows(c);
        char val[16] = "";
        const bool has_val = c->s < c->end && *c->s == '=';
        if (has_val) {
            c->s++;
            skip_ows(c);
            if (!read_value(c, val, sizeof val))
                return false;
        }
        apply_param(o, name, len, has_val, val);
    }
}

/* Skips empty list elements (", ,") before the next extension. */
static bool next_offer(cursor *c)
{
    while (c->s < c->end && (*c->s == ',' || *c->s == ' ' || *c->s == '\t'))
        c->s++;
    return c->s < c->end;
}

/* ---- negotiation: server and client decisions ------------------------- */

static size_t write_answer(const hr_ws_deflate_params *p, const offer *o, char *out, size_t cap)
{
    char smwb[48] = "", cmwb[48] = "";
    if (o->smwb > 0)
        (void)snprintf(smwb, sizeof smwb, "; server_max_window_bits=%d", o->smwb);
    if (o->cmwb > 0)
        (void)snprintf(cmwb, sizeof cmwb, "; client_max_window_bits=%d", o->cmwb);
    const int n =
        snprintf(out, cap, "permessage-deflate; server_no_context_takeover%s%s%s",
                 p->client_no_context_takeover ? "; client_no_context_takeover" : "", smwb, cmwb);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int hr_ws_deflate_negotiate_ex(const char *ext_header, size_t len, bool force_client_nct,
                               hr_ws_deflate_params *out, char *response, size_t cap)
{
    cursor c = {ext_header, ext_header + len};
    offer o;
    while (next_offer(&c)) {
        if (!parse_offer(&c, &o))
            return 0;
        if (!o.is_pmd || !o.valid || o.smwb == 8)
            continue;
        hr_ws_deflate_params p = {
            .server_no_context_takeover = true,
            .client_no_context_takeover = o.cnct || force_client_nct,
            .server_max_window_bits = (uint8_t)(o.smwb > 0 ? o.smwb : 15),
            .client_max_window_bits = (uint8_t)(o.cmwb > 0 ? o.cmwb : 15),
        };
        if (write_answer(&p, &o, response, cap) == 0)
            return HR_ETOOBIG;
        *out = p;
        return 1;
    }
    return 0;
}

int hr_ws_deflate_negotiate(const char *ext_header, size_t len, hr_ws_deflate_params *out,
                            char *response, size_t cap)
{
    return hr_ws_deflate_negotiate_ex(ext_header, len, true, out, response, cap);
}

int hr_ws_deflate_parse_response(const char *ext_header, size_t len, hr_ws_deflate_params *out)
{
    cursor c = {ext_header, ext_header + len};
    if (!next_offer(&c))
        return 0;
    offer o;
    /* client_max_window_bits needs a value in an answer: we offered it bare. */
    if (!parse_offer(&c, &o) || !o.is_pmd || !o.valid || o.cmwb == 0 || next_offer(&c))
        return HR_EPROTO;
    *out = (hr_ws_deflate_params){
        .server_no_context_takeover = o.snct,
        .client_no_context_takeover = o.cnct,
        .server_max_window_bits = (uint8_t)(o.smwb > 0 ? o.smwb : 15),
        .client_max_window_bits = (uint8_t)(o.cmwb > 0 ? o.cmwb : 15),
    };
    return 1;
}

/* ---- zlib memory through the allocator hook ---------------------------- */

static voidpf zalloc_hook(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size != 0 && items > SIZE_MAX / size)
        return Z_NULL;
    return hr_malloc((size_t)items * size);
}

static void zfree_hook(voidpf opaque, voidpf p)
{
    (void)opaque;
    hr_free(p);
}

/* Clears z and points its allocator at the hook. */
static void z_prepare(z_stream *z)
{
    memset(z, 0, sizeof *z);
    z->zalloc = zalloc_hook;
    z->zfree = zfree_hook;
}

/* ---- compression ------------------------------------------------------ */

int hr_ws_deflater_init(hr_ws_deflater *d, const hr_ws_deflate_params *p, bool is_server, int level)
{
    *d = (hr_ws_deflater){
        .no_context_takeover =
            is_server ? p->server_no_context_takeover : p->client_no_context_takeover,
        .window_bits = is_server ? p->server_max_window_bits : p->client_max_window_bits,
        .level = level >= 1 && level <= 9 ? level : 6,
    };
    if (d->window_bits < 8 || d->window_bits > 15)
        d->window_bits = 15;
    if (d->window_bits == 8)
        d->level = 0; /* stored blocks: see the top of this file */
    return 0;
}

void hr_ws_deflater_deinit(hr_ws_deflater *d)
{
    if (d->ready)
        deflateEnd(&d->z);
    d->ready = false;
}

static int deflate_ready(hr_ws_deflater *d)
{
    if (d->ready)
        return 0;
    z_prepare(&d->z);
    const int bits = d->window_bits < 9 ? 9 : d->window_bits;
    const int rc = deflateInit2(&d->z, d->level, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY);
    if (rc == Z_MEM_ERROR)
        return HR_ENOMEM;
    if (rc != Z_OK)
        return HR_EINTERNAL;
    d->ready = true;
    return 0;
}

/* Runs deflate with Z_SYNC_FLUSH over the whole input into out. */
static int deflate_all(hr_ws_deflater *d, hr_buf *out)
{
    for (;;) {
        size_t avail;
        uint8_t *dst = hr_buf_reserve(out, deflateBound(&d->z, d->z.avail_in) + 16, &avail);
        if (dst == NULL)
            return avail == 0 ? HR_ETOOBIG : HR_ENOMEM;
        const uInt room = avail > UINT_MAX ? UINT_MAX : (uInt)avail;
        d->z.next_out = dst;
        d->z.avail_out = room;
        const int rc = deflate(&d->z, Z_SYNC_FLUSH);
        hr_buf_commit(out, room - d->z.avail_out);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return HR_EINTERNAL;
        if (d->z.avail_in == 0 && d->z.avail_out > 0)
            return 0;
    }
}

int hr_ws_deflate_message(hr_ws_deflater *d, const uint8_t *in, size_t n, hr_buf *out)
{
    if (n > UINT_MAX)
        return HR_ETOOBIG;
    int rc = deflate_ready(d);
    if (rc != 0)
        return rc;
    if (d->no_context_takeover)
        deflateReset(&d->z);
    const size_t start = out->len;
    d->z.next_in = (Bytef *)(uintptr_t)in;
    d->z.avail_in = (uInt)n;
    rc = deflate_all(d, out);
    if (rc == 0 &&
        (out->len - start < 4 || memcmp(hr_buf_data(out) + out->len - 4, tail, sizeof tail) != 0))
        rc = HR_EINTERNAL;
    if (rc != 0) {
        out->len = start;
        deflateReset(&d->z); /* a fresh window is valid for any peer */
        return rc;
    }
    out->len -= 4;
    return 0;
}

hr_msg *hr_ws_deflate_frame_new(hr_ws_deflater *d, uint8_t opcode, const void *payload, size_t len)
{
    hr_buf tmp;
    hr_buf_init(&tmp, HR_MSG_MAX - HR_WS_MAX_HEADER);
    hr_msg *m = NULL;
    if (hr_ws_deflate_message(d, payload, len, &tmp) != 0)
        goto out;
    uint8_t hdr[HR_WS_MAX_HEADER];
    const size_t hlen = hr_ws_frame_write_header(hdr, opcode, true, true, tmp.len, NULL);
    m = hr_msg_new(hlen + tmp.len);
    if (m == NULL)
        goto out;
    memcpy(m->data, hdr, hlen);
    m->head_len = (uint16_t)hlen;
    if (tmp.len > 0)
        memcpy(m->data + hlen, hr_buf_data(&tmp), tmp.len);
out:
    hr_buf_deinit(&tmp);
    return m;
}

/* ---- decompression ---------------------------------------------------- */

int hr_ws_inflater_init(hr_ws_inflater *f, const hr_ws_deflate_params *p, bool is_server)
{
    *f = (hr_ws_inflater){
        .no_context_takeover =
            is_server ? p->client_no_context_takeover : p->server_no_context_takeover,
        .window_bits = is_server ? p->client_max_window_bits : p->server_max_window_bits,
    };
    if (f->window_bits < 8 || f->window_bits > 15)
        f->window_bits = 15;
    return 0;
}

void hr_ws_inflater_deinit(hr_ws_inflater *f)
{
    if (f->ready)
        inflateEnd(&f->z);
    f->ready = false;
}

static int inflate_ready(hr_ws_inflater *f)
{
    if (f->ready)
        return 0;
    z_prepare(&f->z);
    /* At least 9 bits: some peers' zlib widens 8 to 9 when compressing. */
    const int bits = f->window_bits < 9 ? 9 : f->window_bits;
    const int rc = inflateInit2(&f->z, -bits);
    if (rc == Z_MEM_ERROR)
        return HR_ENOMEM;
    if (rc != Z_OK)
        return HR_EINTERNAL;
    f->ready = true;
    return 0;
}

/* One inflate call into out's tail, allowing one byte past max_out so that
 * overflow is seen. Returns the zlib code, or an HR_E* code. */
static int inflate_step(hr_ws_inflater *f, hr_buf *out, size_t max_out)
{
    if (out->len > max_out)
        return HR_ETOOBIG;
    size_t avail;
    uint8_t *dst = hr_buf_reserve(out, 16384, &avail);
    if (dst == NULL)
        return avail == 0 ? HR_ETOOBIG : HR_ENOMEM;
    const size_t left = max_out - out->len; /* no overflow below, even at SIZE_MAX */
    size_t room = left < avail ? left + 1 : avail;
    room = room > UINT_MAX ? UINT_MAX : room;
    f->z.next_out = dst;
    f->z.avail_out = (uInt)room;
    const int rc = inflate(&f->z, Z_SYNC_FLUSH);
    hr_buf_commit(out, room - f->z.avail_out);
    if (out->len > max_out)
        return HR_ETOOBIG;
    return rc;
}

/* A BFINAL block ended the DEFLATE stream (RFC 7692 §7.2.3.4 allows it):
 * the next bytes, if any, start a new stream, whose back-references may still
 * reach into the data before it (the same message, or with context takeover
 * the previous ones), so the window is carried over. Rare: costs one copy.
 * Resets total_in to 0, which hr_ws_inflate_part reads as "at a stream
 * boundary". */
static int restart_stream(hr_ws_inflater *f)
{
    const uInt cap = 1u << 15;
    Bytef *win = hr_malloc(cap);
    if (win == NULL)
        return HR_ENOMEM;
    uInt len = cap;
    int rc = inflateGetDictionary(&f->z, win, &len);
    if (rc == Z_OK)
        rc = inflateReset(&f->z);
    if (rc == Z_OK && len > 0)
        rc = inflateSetDictionary(&f->z, win, len);
    hr_free(win);
    if (rc == Z_MEM_ERROR)
        return HR_ENOMEM;
    return rc == Z_OK ? 0 : HR_EINTERNAL;
}

/* Inflates in[0..n) completely into out. */
static int inflate_run(hr_ws_inflater *f, const uint8_t *in, size_t n, hr_buf *out, size_t max_out)
{
    f->z.next_in = (Bytef *)(uintptr_t)in;
    f->z.avail_in = (uInt)n;
    for (;;) {
        const int rc = inflate_step(f, out, max_out);
        if (rc == Z_STREAM_END) {
            const int src = restart_stream(f);
            if (src != 0)
                return src;
            if (f->z.avail_in == 0)
                return 0;
            continue;
        }
        if (rc == Z_MEM_ERROR)
            return HR_ENOMEM;
        if (rc <= HR_ENOMEM) /* one of ours: HR_ETOOBIG, HR_ENOMEM */
            return rc;
        if (rc < 0 && rc != Z_BUF_ERROR)
            return HR_EPROTO;
        if (f->z.avail_in == 0 && f->z.avail_out > 0)
            return 0;
        if (rc == Z_BUF_ERROR && f->z.avail_out > 0)
            return HR_EPROTO;
    }
}

int hr_ws_inflate_part(hr_ws_inflater *f, const uint8_t *in, size_t n, bool fin, hr_buf *out,
                       size_t max_out)
{
    if (n > UINT_MAX)
        return HR_ETOOBIG;
    const size_t start = out->len;
    int rc = inflate_ready(f);
    if (rc == 0)
        rc = inflate_run(f, in, n, out, max_out);
    /* The tail completes the sync-flush block that the sender stripped. A
     * message whose DEFLATE stream ended with BFINAL has none: restart_stream
     * reset total_in, and the tail would be a broken block of the next
     * stream, misreading the next message under context takeover. */
    if (rc == 0 && fin && f->z.total_in > 0)
        rc = inflate_run(f, tail, sizeof tail, out, max_out);
    if (rc != 0) {
        out->len = start;
        hr_ws_inflater_deinit(f);
        return rc;
    }
    if (fin && f->no_context_takeover)
        hr_ws_inflater_deinit(f);
    return 0;
}

int hr_ws_inflate(hr_ws_inflater *f, const uint8_t *in, size_t n, hr_buf *out, size_t max_out)
{
    return hr_ws_inflate_part(f, in, n, true, out, max_out);
}

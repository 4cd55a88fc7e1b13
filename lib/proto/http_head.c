/* HTTP/1.x head parsing on llhttp. Each call runs a fresh llhttp parser on a
 * local variable over the accumulated input (heads are small and capped, so
 * reparsing costs little and keeps no state per connection; llhttp only runs
 * once the input holds a blank line (LF CRLF, or LF LF to refuse), so a head trickling in byte by
 * byte costs a memmem per piece, not a parse). Callbacks record views into the input;
 * on_headers_complete returns 2 so that llhttp stops right after the head (HPE_PAUSED_UPGRADE) and
 * never parses a body, and llhttp_get_error_pos() then tells where the head ends. Upgrade detection
 * is ours (both Connection and Upgrade tokens), not llhttp's flag. */
#include "http_head.h"

#include <limits.h>
#include <llhttp.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

enum { LAST_NONE, LAST_FIELD, LAST_VALUE };

typedef struct parse_ctx {
    hr_http_head *out;
    size_t max_headers;
    int last;      /* which header span was seen last */
    bool too_many; /* more headers than max_headers */
    bool done;     /* on_headers_complete ran */
} parse_ctx;

/* Extends a view with a span; spans of one element arrive contiguously
 * because the whole input is passed to one llhttp_execute call. */
static void extend(const char **view, size_t *view_len, const char *at, size_t len)
{
    if (*view == NULL) {
        *view = at;
        *view_len = len;
        return;
    }
    *view_len = (size_t)(at + len - *view);
}

static int on_method(llhttp_t *hp, const char *at, size_t len)
{
    parse_ctx *c = hp->data;
    extend(&c->out->method_str, &c->out->method_len, at, len);
    return 0;
}

static int on_url(llhttp_t *hp, const char *at, size_t len)
{
    parse_ctx *c = hp->data;
    extend(&c->out->target, &c->out->target_len, at, len);
    return 0;
}

static int on_header_field(llhttp_t *hp, const char *at, size_t len)
{
    parse_ctx *c = hp->data;
    hr_http_head *h = c->out;
    if (c->last != LAST_FIELD) {
        if (h->n_headers >= c->max_headers) {
            c->too_many = true;
            return HPE_USER;
        }
        h->headers[h->n_headers++] = (hr_http_header){.name = at, .name_len = 0};
    }
    hr_http_header *hd = &h->headers[h->n_headers - 1];
    extend(&hd->name, &hd->name_len, at, len);
    c->last = LAST_FIELD;
    return 0;
}

static int on_header_value(llhttp_t *hp, const char *at, size_t len)
{
    parse_ctx *c = hp->data;
    if (c->out->n_headers == 0)
        return HPE_USER; /* llhttp never does this; guard the index anyway */
    hr_http_header *hd = &c->out->headers[c->out->n_headers - 1];
    extend(&hd->value, &hd->value_len, at, len);
    c->last = LAST_VALUE;
    return 0;
}

static bool is_tchar(char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_token(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_tchar(s[i]))
            return false;
    return len > 0;
}

/* Trims trailing whitespace from values. Refuses what llhttp lets through
 * but a proxy must not: header names that are not tokens ("Bad Name",
 * "Transfer-Encoding :") and obsolete line folding (a value holding CR LF). */
static bool check_headers(hr_http_head *h)
{
    for (size_t i = 0; i < h->n_headers; i++) {
        hr_http_header *hd = &h->headers[i];
        if (!is_token(hd->name, hd->name_len))
            return false;
        if (hd->value == NULL) {
            hd->value = hd->name + hd->name_len;
            hd->value_len = 0;
        }
        if (memchr(hd->value, '\n', hd->value_len) != NULL ||
            memchr(hd->value, '\r', hd->value_len) != NULL)
            return false;
        while (hd->value_len > 0 &&
               (hd->value[hd->value_len - 1] == ' ' || hd->value[hd->value_len - 1] == '\t'))
            hd->value_len--;
    }
    return true;
}

static int on_headers_complete(llhttp_t *hp)
{
    parse_ctx *c = hp->data;
    hr_http_head *h = c->out;
    h->http_major = hp->http_major;
    h->http_minor = hp->http_minor;
    h->method = h->is_response ? 0 : hp->method;
    h->status = h->is_response ? hp->status_code : 0;
    h->chunked = (hp->flags & F_CHUNKED) != 0;
    /* llhttp takes any length below 2^64; ours is signed, -1 meaning none. */
    if ((hp->flags & F_CONTENT_LENGTH) && hp->content_length > (uint64_t)INT64_MAX)
        return -1;
    h->content_length = (hp->flags & F_CONTENT_LENGTH) ? (int64_t)hp->content_length : -1;
    h->keep_alive = llhttp_should_keep_alive(hp) != 0;
    if (!check_headers(h))
        return -1;
    h->upgrade = hr_http_head_has_token(h, "connection", "upgrade") &&
                 hr_http_head_has_token(h, "upgrade", "websocket");
    c->done = true;
    return 2; /* no body here; execute returns HPE_PAUSED_UPGRADE */
}

/* True when every CR in p[0..n) is followed by LF and every LF preceded by
 * CR. llhttp tolerates some bare CRs (it ends a head at LF CR CR LF); a proxy
 * must not, or it and the next hop may disagree on where the head ends. */
static bool strict_crlf(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
            return false;
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            return false;
    }
    return true;
}

static const llhttp_settings_t settings = {
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
};

int hr_http_head_parse(const uint8_t *p, size_t len, bool response, const hr_http_limits *lim,
                       hr_http_head *out)
{
    size_t max_head = lim != NULL && lim->max_head > 0 ? lim->max_head : HR_HTTP_DEFAULT_MAX_HEAD;
    if (max_head > INT_MAX)
        max_head = INT_MAX; /* the length is returned as an int */
    size_t max_headers = lim != NULL ? lim->max_headers : 0;
    if (max_headers == 0 || max_headers > HR_HTTP_MAX_HEADERS)
        max_headers = HR_HTTP_MAX_HEADERS;
    *out = (hr_http_head){.is_response = response, .content_length = -1};
    if (len == 0)
        return 0; /* p may be NULL (an empty hr_buf) */
    const size_t n = len < max_head ? len : max_head;
    /* Cheap pre-check: heads arrive in pieces and are reparsed each time, so
     * run llhttp only once the blank line that ends a head is there. */
    if (memmem(p, n, "\n\r\n", 3) == NULL && memmem(p, n, "\n\n", 2) == NULL)
        return len >= max_head ? HR_ETOOBIG : 0;
    parse_ctx c = {.out = out, .max_headers = max_headers};
    llhttp_t hp;
    llhttp_init(&hp, response ? HTTP_RESPONSE : HTTP_REQUEST, &settings);
    hp.data = &c;
    const llhttp_errno_t e = llhttp_execute(&hp, (const char *)p, n);
    if (c.too_many)
        return HR_ETOOBIG;
    if (e == HPE_PAUSED_UPGRADE && c.done) {
        const char *end = llhttp_get_error_pos(&hp);
        out->head_len = (size_t)(end - (const char *)p);
        if (out->head_len == 0 || out->head_len > n || !strict_crlf(p, out->head_len))
            return HR_EPROTO;
        return (int)out->head_len;
    }
    if (e != HPE_OK)
        return HR_EPROTO;
    return len >= max_head ? HR_ETOOBIG : 0;
}

static bool name_eq(const char *a, size_t a_len, const char *b)
{
    const size_t b_len = strlen(b);
    return a_len == b_len && strncasecmp(a, b, a_len) == 0;
}

const hr_http_header *hr_http_head_find(const hr_http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (name_eq(h->headers[i].name, h->headers[i].name_len, name))
            return &h->headers[i];
    return NULL;
}

size_t hr_http_head_count(const hr_http_head *h, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_headers; i++)
        if (name_eq(h->headers[i].name, h->headers[i].name_len, name))
            n++;
    return n;
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

bool hr_http_header_has_token(const hr_http_header *h, const char *token)
{
    if (h == NULL)
        return false;
    const char *s = h->value;
    const char *end = s + h->value_len;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma != NULL ? comma : end;
        const char *semi = memchr(s, ';', (size_t)(item_end - s));
        const char *tok_end = semi != NULL ? semi : item_end;
        while (s < tok_end && is_ows(*s))
            s++;
        while (tok_end > s && is_ows(tok_end[-1]))
            tok_end--;
        if (name_eq(s, (size_t)(tok_end - s), token))
            return true;
        s = comma != NULL ? comma + 1 : end;
    }
    return false;
}

bool hr_http_head_has_token(const hr_http_head *h, const char *name, const char *token)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (name_eq(h->headers[i].name, h->headers[i].name_len, name) &&
            hr_http_header_has_token(&h->headers[i], token))
            return true;
    return false;
}

bool hr_http_header_equals(const hr_http_header *h, const char *s)
{
    return h != NULL && name_eq(h->value, h->value_len, s);
}

/* Edge checks on a request head (SPEC §4 "Edge auth", "Origin"). Everything
 * here is a pure function of the head and the configuration; the clock comes
 * in as now_unix. Header values are views into the client's bytes, already
 * checked by llhttp to hold no CR or LF, so copying them into the upstream
 * head cannot split it. */
#include "edge.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "proto/http_query.h"

static bool name_is(const hr_http_header *hd, const char *name)
{
    return hd->name_len == strlen(name) && strncasecmp(hd->name, name, hd->name_len) == 0;
}

bool gw_edge_origin_allowed(const gw_config *cfg, const hr_http_head *h)
{
    if (cfg->n_allowed_origins == 0)
        return true;
    const hr_http_header *o = hr_http_head_find(h, "Origin");
    if (o == NULL)
        return true;
    for (size_t i = 0; i < cfg->n_allowed_origins; i++)
        if (hr_http_header_equals(o, cfg->allowed_origins[i]))
            return true;
    return false;
}

static int copy_token(const char *p, size_t len, char *out, size_t cap)
{
    if (len == 0 || len >= cap)
        return HR_EDENIED;
    memcpy(out, p, len);
    out[len] = '\0';
    return 1;
}

/* Finds name=value in a Cookie header value ("a=1; b=2"). */
static bool cookie_get(const char *v, size_t len, const char *name, const char **val,
                       size_t *val_len)
{
    const size_t nl = strlen(name);
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == ';'))
            i++;
        const char *semi = memchr(v + i, ';', len - i);
        const size_t end = semi != NULL ? (size_t)(semi - v) : len;
        if (end - i > nl && memcmp(v + i, name, nl) == 0 && v[i + nl] == '=') {
            *val = v + i + nl + 1;
            *val_len = end - i - nl - 1;
            while (*val_len > 0 && (*val)[*val_len - 1] == ' ')
                (*val_len)--;
            return true;
        }
        i = end + 1;
    }
    return false;
}

int gw_edge_find_token(const hr_http_head *h, const char *cookie_name, char *out, size_t cap)
{
    const hr_http_header *a = hr_http_head_find(h, "Authorization");
    if (a != NULL) {
        const char *tok = NULL;
        size_t tl = 0;
        if (!hr_token_from_bearer(a->value, a->value_len, &tok, &tl))
            return HR_EDENIED;
        return copy_token(tok, tl, out, cap);
    }
    size_t n = 0;
    const int q = hr_http_query_get(h->target, h->target_len, "token", out, cap, &n);
    if (q < 0)
        return HR_EDENIED;
    if (q == 1)
        return n > 0 ? 1 : HR_EDENIED;
    for (size_t i = 0; cookie_name != NULL && i < h->n_headers; i++) {
        const hr_http_header *c = &h->headers[i];
        const char *v = NULL;
        size_t vl = 0;
        if (name_is(c, "Cookie") && cookie_get(c->value, c->value_len, cookie_name, &v, &vl))
            return copy_token(v, vl, out, cap);
    }
    return 0;
}

int gw_edge_authenticate(const hr_token_cfg *tok, gw_auth_mode auth, const char *cookie_name,
                         const hr_http_head *h, int64_t now_unix, hr_identity *id, const char **why)
{
    hr_identity_init(id);
    *why = NULL;
    if (auth == GW_AUTH_NONE || tok == NULL)
        return 0;
    char buf[HR_TOKEN_MAX + 1];
    const int found = gw_edge_find_token(h, cookie_name, buf, sizeof buf);
    if (found < 0) {
        *why = "malformed";
        return HR_EDENIED;
    }
    if (found == 0) {
        if (auth == GW_AUTH_REQUIRED) {
            *why = "missing";
            return HR_EDENIED;
        }
        return 0;
    }
    return hr_token_verify(tok, buf, strlen(buf), now_unix, id, why);
}

bool gw_edge_is_hop_header(const char *name, size_t len)
{
    static const char *const hop[] = {
        "connection",       "keep-alive",         "te",
        "trailer",          "transfer-encoding",  "upgrade",
        "proxy-connection", "proxy-authenticate", "proxy-authorization"};
    for (size_t i = 0; i < HR_ARRAY_LEN(hop); i++)
        if (len == strlen(hop[i]) && strncasecmp(name, hop[i], len) == 0)
            return true;
    return false;
}

/* True when the header is named as a token in a Connection header of h. */
static bool named_by_connection(const hr_http_head *h, const hr_http_header *hd)
{
    char name[64];
    if (hd->name_len >= sizeof name)
        return false;
    memcpy(name, hd->name, hd->name_len);
    name[hd->name_len] = '\0';
    return hr_http_head_has_token(h, "Connection", name);
}

static bool dropped(const hr_http_head *h, const hr_http_header *hd, bool websocket)
{
    static const char *const drop[] = {"host", "content-length", "x-forwarded-proto"};
    for (size_t i = 0; i < HR_ARRAY_LEN(drop); i++)
        if (name_is(hd, drop[i]))
            return true;
    if (hd->name_len >= 9 && strncasecmp(hd->name, "x-herald-", 9) == 0)
        return true;
    if (gw_edge_is_hop_header(hd->name, hd->name_len) || named_by_connection(h, hd))
        return true;
    if (name_is(hd, "x-forwarded-for") || name_is(hd, "x-request-id"))
        return true; /* rewritten below */
    return websocket && hd->name_len > 14 && strncasecmp(hd->name, "sec-websocket-", 14) == 0 &&
           !name_is(hd, "sec-websocket-protocol");
}

int gw_edge_write_header(hr_buf *out, const char *name, size_t name_len, const char *value,
                         size_t value_len)
{
    int rc = hr_buf_append(out, name, name_len);
    if (rc == 0)
        rc = hr_buf_append(out, ": ", 2);
    if (rc == 0)
        rc = hr_buf_append(out, value, value_len);
    return rc == 0 ? hr_buf_append(out, "\r\n", 2) : rc;
}

static int add(hr_buf *out, const char *name, const char *v, size_t vl)
{
    return gw_edge_write_header(out, name, strlen(name), v, vl);
}

static bool safe_request_id(const hr_http_header *hd)
{
    if (hd == NULL || hd->value_len == 0 || hd->value_len > 128)
        return false;
    for (size_t i = 0; i < hd->value_len; i++) {
        const char c = hd->value[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static int add_identity(const hr_identity *id, hr_buf *out)
{
    if (id == NULL)
        return 0;
    int rc = id->user != NULL ? add(out, "X-Herald-User", id->user, strlen(id->user)) : 0;
    if (rc == 0 && id->expires > 0) {
        char exp[24];
        const int n = snprintf(exp, sizeof exp, "%" PRId64, id->expires);
        rc = add(out, "X-Herald-Expires", exp, (size_t)n);
    }
    char *ch = NULL;
    size_t chl = 0;
    if (rc == 0 && id->n_channels > 0) {
        if (hr_identity_format_channels(id, &ch, &chl) != 0)
            return HR_ENOMEM;
        rc = add(out, "X-Herald-Channels", ch, chl);
        free(ch);
    }
    if (rc == 0 && id->n_publish > 0) {
        if (hr_identity_format_publish(id, &ch, &chl) != 0)
            return HR_ENOMEM;
        rc = add(out, "X-Herald-Publish", ch, chl);
        free(ch);
    }
    return rc;
}

static int add_forwarded_for(const hr_http_head *h, const char *client_ip, hr_buf *out)
{
    char chain[1024];
    size_t n = 0;
    for (size_t i = 0; i < h->n_headers; i++) {
        const hr_http_header *hd = &h->headers[i];
        if (!name_is(hd, "x-forwarded-for") || hd->value_len + n + 2 >= sizeof chain)
            continue;
        memcpy(chain + n, hd->value, hd->value_len);
        n += hd->value_len;
        chain[n++] = ',';
        chain[n++] = ' ';
    }
    const int w = snprintf(chain + n, sizeof chain - n, "%s", client_ip);
    if (w > 0)
        n += (size_t)w < sizeof chain - n ? (size_t)w : sizeof chain - n - 1;
    return add(out, "X-Forwarded-For", chain, n);
}

int gw_edge_upstream_headers(const hr_http_head *h, const gw_edge_fwd *fwd, hr_buf *out)
{
    for (size_t i = 0; i < h->n_headers; i++) {
        const hr_http_header *hd = &h->headers[i];
        if (dropped(h, hd, fwd->websocket))
            continue;
        const int rc = gw_edge_write_header(out, hd->name, hd->name_len, hd->value, hd->value_len);
        if (rc != 0)
            return rc;
    }
    int rc = add_identity(fwd->id, out);
    if (rc == 0)
        rc = add_forwarded_for(h, fwd->client_ip != NULL ? fwd->client_ip : "unknown", out);
    if (rc == 0)
        rc = add(out, "X-Forwarded-Proto", fwd->tls ? "https" : "http", fwd->tls ? 5 : 4);
    if (rc != 0)
        return rc;
    const hr_http_header *rid = hr_http_head_find(h, "X-Request-Id");
    if (safe_request_id(rid))
        return add(out, "X-Request-Id", rid->value, rid->value_len);
    const char *own = fwd->request_id != NULL ? fwd->request_id : "0";
    return add(out, "X-Request-Id", own, strlen(own));
}

bool gw_edge_client_request_id(const hr_http_head *h, char *out, size_t cap)
{
    const hr_http_header *rid = hr_http_head_find(h, "X-Request-Id");
    if (!safe_request_id(rid) || rid->value_len >= cap)
        return false;
    memcpy(out, rid->value, rid->value_len);
    out[rid->value_len] = '\0';
    return true;
}

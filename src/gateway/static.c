/* Static files. Path safety is decided on the decoded path, segment by
 * segment, before touching the file system: a segment "." or ".." or one
 * holding NUL or '\\' is refused, so the result always stays under the
 * route's directory (symbolic links inside it are the operator's choice).
 * Reading is synchronous with a size cap: the files are the small demo assets;
 * serving large files belongs to a CDN, not this gateway. */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "hproxy.h"
#include "proto/percent.h"
#include "route.h"

static bool bad_segment(const char *seg, size_t n)
{
    return (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.');
}

int gw_static_resolve(const char *path, size_t len, size_t prefix_len, char *out, size_t cap)
{
    size_t o = 0, seg = 0;
    if (prefix_len > len)
        return HR_EDENIED;
    for (size_t i = prefix_len; i < len; i++) {
        char ch = path[i];
        if (ch == '%') {
            const int hi = i + 2 < len ? hr_hex_digit((unsigned char)path[i + 1]) : -1;
            const int lo = i + 2 < len ? hr_hex_digit((unsigned char)path[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return HR_EDENIED;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (ch == '\0' || ch == '\\')
            return HR_EDENIED;
        if (ch == '/') {
            if (bad_segment(out + seg, o - seg))
                return HR_EDENIED;
            if (o == 0 || out[o - 1] == '/')
                continue; /* leading or repeated slash */
        }
        if (o + 1 >= cap)
            return HR_ETOOBIG;
        out[o++] = ch;
        if (ch == '/')
            seg = o;
    }
    if (bad_segment(out + seg, o - seg))
        return HR_EDENIED;
    if (o == 0 || out[o - 1] == '/') {
        static const char idx[] = "index.html";
        if (o + sizeof idx > cap)
            return HR_ETOOBIG;
        memcpy(out + o, idx, sizeof idx);
        return 0;
    }
    out[o] = '\0';
    return 0;
}

const char *gw_static_content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".wasm", "application/wasm"},
        {".woff2", "font/woff2"},
        {".d.ts", "text/plain; charset=utf-8"},
    };
    const size_t n = strlen(name);
    for (size_t i = 0; i < HR_ARRAY_LEN(types); i++) {
        const size_t el = strlen(types[i][0]);
        if (n > el && strcasecmp(name + n - el, types[i][0]) == 0)
            return types[i][1];
    }
    return "application/octet-stream";
}

void gw_static_etag(uint64_t size, int64_t mtime, char *out, size_t cap)
{
    snprintf(out, cap, "W/\"%llx-%llx\"", (unsigned long long)size, (unsigned long long)mtime);
}

static void http_date(int64_t t, char *out, size_t cap)
{
    const time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static bool parse_http_date(const char *s, size_t len, int64_t *out)
{
    char buf[64];
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

bool gw_static_not_modified(const hr_http_head *h, const char *etag, int64_t mtime)
{
    const hr_http_header *inm = hr_http_head_find(h, "If-None-Match");
    if (inm != NULL) {
        const size_t el = strlen(etag);
        if (inm->value_len == 1 && inm->value[0] == '*')
            return true;
        /* Weak comparison over a list: look for the tag, with or without W/. */
        const char *bare = etag + 2;
        const size_t bl = el - 2;
        for (size_t i = 0; i + bl <= inm->value_len; i++)
            if (memcmp(inm->value + i, bare, bl) == 0)
                return true;
        return false;
    }
    const hr_http_header *ims = hr_http_head_find(h, "If-Modified-Since");
    int64_t since = 0;
    return ims != NULL && parse_http_date(ims->value, ims->value_len, &since) && mtime <= since;
}

static int read_all(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        const ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return HR_EINVAL;
        got += (size_t)r;
    }
    return 0;
}

static void redirect_dir(gw_app *app, hr_conn *c, const hr_http_head *h)
{
    char loc[2048];
    const size_t pl = gw_route_path_len(h->target, h->target_len);
    if (pl + 20 > sizeof loc) {
        gw_hproxy_answer(app, c, h, NULL, 404, "not found\n");
        return;
    }
    snprintf(loc, sizeof loc, "Location: %.*s/\r\n", (int)pl, h->target);
    gw_app_count_status(app, 301);
    hr_conn_respond(c, 301, "text/plain; charset=utf-8", "moved\n", 6, loc);
}

static void send_file(gw_app *app, hr_conn *c, const hr_http_head *h, int fd, const struct stat *st,
                      const char *name)
{
    char etag[48], lm[64], extra[192];
    gw_static_etag((uint64_t)st->st_size, (int64_t)st->st_mtime, etag, sizeof etag);
    http_date((int64_t)st->st_mtime, lm, sizeof lm);
    snprintf(extra, sizeof extra, "ETag: %s\r\nLast-Modified: %s\r\nCache-Control: no-cache\r\n",
             etag, lm);
    if (gw_static_not_modified(h, etag, (int64_t)st->st_mtime)) {
        gw_app_count_status(app, 304);
        hr_conn_respond(c, 304, NULL, NULL, 0, extra);
        return;
    }
    if ((size_t)st->st_size > GW_STATIC_MAX_FILE) {
        gw_hproxy_answer(app, c, h, NULL, 500, "file too large\n");
        return;
    }
    const size_t n = (size_t)st->st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL || read_all(fd, buf, n) != 0) {
        free(buf);
        gw_hproxy_answer(app, c, h, NULL, 500, "cannot read file\n");
        return;
    }
    gw_app_count_status(app, 200);
    hr_conn_respond(c, 200, gw_static_content_type(name), buf, n, extra);
    free(buf);
}

void gw_static_serve(gw_app *app, hr_conn *c, const hr_http_head *h, const gw_route_cfg *r)
{
    const bool get = h->method_len == 3 && memcmp(h->method_str, "GET", 3) == 0;
    const bool head = h->method_len == 4 && memcmp(h->method_str, "HEAD", 4) == 0;
    if (!get && !head) {
        gw_app_count_status(app, 405);
        hr_conn_respond(c, 405, "text/plain; charset=utf-8", "method not allowed\n", 19,
                        "Allow: GET, HEAD\r\n");
        return;
    }
    const size_t pl = gw_route_path_len(h->target, h->target_len);
    char rel[1024], full[2048];
    if (gw_static_resolve(h->target, pl, r->path_len, rel, sizeof rel) != 0) {
        gw_hproxy_answer(app, c, h, r, 404, "not found\n");
        return;
    }
    const size_t dl = strlen(r->static_dir);
    snprintf(full, sizeof full, "%s%s%s", r->static_dir,
             dl > 0 && r->static_dir[dl - 1] == '/' ? "" : "/", rel);
    const int fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        gw_hproxy_answer(app, c, h, r, 404, "not found\n");
        return;
    }
    if (S_ISDIR(st.st_mode))
        redirect_dir(app, c, h);
    else if (!S_ISREG(st.st_mode))
        gw_hproxy_answer(app, c, h, r, 404, "not found\n");
    else
        send_file(app, c, h, fd, &st, rel);
    close(fd);
}

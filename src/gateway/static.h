/* gw_static: static files for routes with `static: DIR` (the demo page):
 * GET and HEAD only, a content type from the extension, index.html for
 * directories, ETag and Last-Modified with conditional 304 answers, and no
 * way out of DIR (".." segments, NUL and backslashes are refused after
 * percent-decoding). Files are read whole, up to GW_STATIC_MAX_FILE. */
#ifndef GW_STATIC_H
#define GW_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "app.h"
#include "net/conn.h"
#include "proto/http_head.h"

#define GW_STATIC_MAX_FILE ((size_t)16 << 20)

/* Serves request h on static route r; always answers. */
void gw_static_serve(gw_app *app, hr_conn *c, const hr_http_head *h, const gw_route_cfg *r);

/* Turns the request path path[0..len) (no query) under route prefix
 * prefix_len into a relative file path in out[0..cap): percent-decoded,
 * leading '/' removed, "index.html" appended when it ends in '/'. Returns 0,
 * HR_EDENIED (a "." or ".." segment, NUL, backslash, or bad escape: 404 for
 * the client) or HR_ETOOBIG. */
int gw_static_resolve(const char *path, size_t len, size_t prefix_len, char *out, size_t cap);

/* Content type for a file name by its extension ("application/octet-stream"
 * when unknown). */
const char *gw_static_content_type(const char *name);

/* Writes the ETag for a file of size bytes modified at mtime (W/"size-mtime"
 * in hex) into out (cap >= 48). */
void gw_static_etag(uint64_t size, int64_t mtime, char *out, size_t cap);

/* True when the conditional headers of h (If-None-Match first, else
 * If-Modified-Since) say the client's copy is current. */
bool gw_static_not_modified(const hr_http_head *h, const char *etag, int64_t mtime);

#endif

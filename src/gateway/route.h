/* gw_route: picking the route for a request (host, then longest path prefix)
 * and rewriting the request target for the upstream (strip_prefix,
 * strip_token). Pure functions over the immutable gw_config. */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Returns the route for a request to host[0..host_len) (the Host header; a
 * ":port" suffix is ignored, case-insensitive; may be empty) and
 * path[0..path_len) (the target without its query). Routes naming a host
 * that matches are tried first, longest prefix wins; then routes without a
 * host. Returns NULL when nothing matches. The pointer borrows from cfg. */
const gw_route_cfg *gw_route_match(const gw_config *cfg, const char *host, size_t host_len,
                                   const char *path, size_t path_len);

/* Length of the path part of target[0..len): up to the first '?' or '#'. */
size_t gw_route_path_len(const char *target, size_t len);

/* Writes the upstream request target for target[0..len) on route r into
 * out[0..cap) (NUL-terminated): the route's prefix removed when strip_prefix
 * (the result always starts with '/'), and every "token" query parameter
 * removed when strip_token. Returns the length, or 0 when it does not fit. */
size_t gw_route_rewrite(const gw_route_cfg *r, const char *target, size_t len, char *out,
                        size_t cap);

#endif

/* Route selection and target rewriting. Hosts are compared without their
 * port and case-insensitively; prefixes are plain byte prefixes of the path
 * (so "/api/" does not match "/api", and "/ws" matches "/ws2": write the
 * trailing '/' when that matters). A linear scan: route tables are small and
 * the scan allocates nothing. */
#include "route.h"

#include <string.h>
#include <strings.h>

static size_t host_without_port(const char *host, size_t len)
{
    if (len > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', len);
        return close != NULL ? (size_t)(close - host) + 1 : len;
    }
    const char *colon = memchr(host, ':', len);
    return colon != NULL ? (size_t)(colon - host) : len;
}

static bool host_matches(const gw_route_cfg *r, const char *host, size_t len)
{
    return strlen(r->host) == len && strncasecmp(r->host, host, len) == 0;
}

static const gw_route_cfg *best(const gw_config *cfg, bool with_host, const char *host,
                                size_t host_len, const char *path, size_t path_len)
{
    const gw_route_cfg *found = NULL;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const gw_route_cfg *r = &cfg->routes[i];
        if ((r->host != NULL) != with_host)
            continue;
        if (with_host && !host_matches(r, host, host_len))
            continue;
        if (r->path_len > path_len || memcmp(r->path, path, r->path_len) != 0)
            continue;
        if (found == NULL || r->path_len > found->path_len)
            found = r;
    }
    return found;
}

const gw_route_cfg *gw_route_match(const gw_config *cfg, const char *host, size_t host_len,
                                   const char *path, size_t path_len)
{
    const size_t hl = host_without_port(host, host_len);
    const gw_route_cfg *r = hl > 0 ? best(cfg, true, host, hl, path, path_len) : NULL;
    return r != NULL ? r : best(cfg, false, host, hl, path, path_len);
}

static bool put(char *out, size_t cap, size_t *o, const char *p, size_t n)
{
    if (*o + n >= cap)
        return false;
    memcpy(out + *o, p, n);
    *o += n;
    return true;
}

/* Copies the query q[0..n) without its token parameters. */
static bool put_query(char *out, size_t cap, size_t *o, const char *q, size_t n, bool strip)
{
    bool first = true;
    size_t i = 0;
    while (i <= n) {
        const char *amp = memchr(q + i, '&', n - i);
        const size_t end = amp != NULL ? (size_t)(amp - q) : n;
        const char *param = q + i;
        const size_t plen = end - i;
        const bool is_token = strip && ((plen == 5 && memcmp(param, "token", 5) == 0) ||
                                        (plen > 5 && memcmp(param, "token=", 6) == 0));
        if (plen > 0 && !is_token) {
            if (!put(out, cap, o, first ? "?" : "&", 1) || !put(out, cap, o, param, plen))
                return false;
            first = false;
        }
        i = end + 1;
    }
    return true;
}

size_t gw_route_rewrite(const gw_route_cfg *r, const char *target, size_t len, char *out,
                        size_t cap)
{
    const char *q = memchr(target, '?', len);
    const size_t qlen = q != NULL ? len - (size_t)(q - target) - 1 : 0;
    size_t path_len = q != NULL ? (size_t)(q - target) : len;
    const char *path = target;
    size_t o = 0;
    if (cap == 0)
        return 0;
    if (r->strip_prefix && path_len >= r->path_len && memcmp(path, r->path, r->path_len) == 0) {
        path += r->path_len;
        path_len -= r->path_len;
        if (path_len == 0 || path[0] != '/') {
            if (!put(out, cap, &o, "/", 1))
                return 0;
        }
    }
    if (!put(out, cap, &o, path, path_len))
        return 0;
    if (q != NULL && !put_query(out, cap, &o, q + 1, qlen, r->strip_token))
        return 0;
    out[o] = '\0';
    return o;
}

size_t gw_route_path_len(const char *target, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (target[i] == '?' || target[i] == '#')
            return i;
    return len;
}

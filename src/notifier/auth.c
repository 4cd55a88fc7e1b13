/* Client identity on the upgrade: trusted-proxy headers, JWTs, or anonymous
 * (see auth.h for the order of precedence and why). */
#include "auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "proto/http_query.h"

int nf_cidr_parse(const char *text, nf_cidr *out)
{
    char host[64];
    const char *slash = strchr(text, '/');
    const size_t hlen = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (hlen == 0 || hlen >= sizeof host)
        return HR_EINVAL;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    nf_cidr c = {0};
    if (inet_pton(AF_INET, host, c.addr) == 1)
        c.family = AF_INET;
    else if (inet_pton(AF_INET6, host, c.addr) == 1)
        c.family = AF_INET6;
    else
        return HR_EINVAL;
    const unsigned max = c.family == AF_INET ? 32 : 128;
    unsigned prefix = max;
    if (slash != NULL) {
        const char *p = slash + 1;
        if (*p == '\0' || strlen(p) > 3)
            return HR_EINVAL;
        prefix = 0;
        for (; *p != '\0'; p++) {
            if (*p < '0' || *p > '9')
                return HR_EINVAL;
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > max)
            return HR_EINVAL;
    }
    c.prefix = (uint8_t)prefix;
    for (unsigned bit = prefix; bit < max; bit++)
        c.addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    *out = c;
    return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
    const unsigned bytes = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, bytes) != 0)
        return false;
    if (rest == 0)
        return true;
    const uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (a[bytes] & mask) == net[bytes];
}

bool nf_cidr_match(const nf_cidr *c, const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (c->family != AF_INET)
            return false;
        return prefix_equal((const uint8_t *)&in->sin_addr, c->addr, c->prefix);
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if (c->family == AF_INET6)
        return prefix_equal(a6, c->addr, c->prefix);
    return memcmp(a6, mapped, sizeof mapped) == 0 && prefix_equal(a6 + 12, c->addr, c->prefix);
}

void nf_auth_init(nf_auth *a, const char *secret, const uint8_t *pem, size_t pem_len,
                  const nf_cidr *trusted, size_t n_trusted)
{
    memset(a, 0, sizeof *a);
    if (secret != NULL) {
        a->token.allow_hs256 = true;
        a->token.secret = (const uint8_t *)secret;
        a->token.secret_len = strlen(secret);
    }
    if (pem != NULL) {
        a->token.allow_rs256 = a->token.allow_es256 = true;
        a->token.public_key_pem = pem;
        a->token.public_key_len = pem_len;
    }
    a->token.leeway_s = 0;
    a->has_keys = secret != NULL || pem != NULL;
    a->trusted = trusted;
    a->n_trusted = n_trusted;
}

static bool is_trusted(const nf_auth *a, const struct sockaddr *peer)
{
    for (size_t i = 0; i < a->n_trusted; i++) {
        if (nf_cidr_match(&a->trusted[i], peer))
            return true;
    }
    return false;
}

/* The identity headers (docs/gateway.md): user, channels, publish claim and
 * expiry (the token's exp plus the gateway's leeway_s). */
static const char *const identity_headers[] = {"X-Herald-User", "X-Herald-Channels",
                                               "X-Herald-Publish", "X-Herald-Expires"};

static bool has_identity_headers(const hr_http_head *head)
{
    for (size_t i = 0; i < sizeof identity_headers / sizeof identity_headers[0]; i++)
        if (hr_http_head_find(head, identity_headers[i]) != NULL)
            return true;
    return false;
}

static int proxy_extras(const hr_http_head *head, hr_identity *out)
{
    const hr_http_header *pub = hr_http_head_find(head, "X-Herald-Publish");
    const hr_http_header *exp = hr_http_head_find(head, "X-Herald-Expires");
    int rc = pub != NULL ? hr_identity_set_publish(out, pub->value, pub->value_len) : 0;
    if (rc == 0 && exp != NULL)
        rc = hr_identity_parse_expires(exp->value, exp->value_len, &out->expires);
    return rc;
}

static int from_proxy(const hr_http_head *head, const hr_http_header *user, hr_identity *out,
                      const char **why)
{
    const hr_http_header *chans = hr_http_head_find(head, "X-Herald-Channels");
    for (size_t i = 0; i < sizeof identity_headers / sizeof identity_headers[0]; i++) {
        if (hr_http_head_count(head, identity_headers[i]) > 1) {
            *why = "repeated identity header";
            return 400;
        }
    }
    int rc =
        hr_identity_from_headers(user ? user->value : NULL, user ? user->value_len : 0,
                                 chans ? chans->value : NULL, chans ? chans->value_len : 0, out);
    if (rc == 0)
        rc = proxy_extras(head, out);
    if (rc != 0)
        hr_identity_deinit(out);
    if (rc == HR_ENOMEM) {
        *why = "out of memory";
        return 503;
    }
    if (rc != 0) {
        *why = "invalid identity headers";
        return 400;
    }
    return 0;
}

/* Finds the token: ?token= first, then Authorization: Bearer. Returns 1 with
 * the token in buf (NUL-terminated), 0 when there is none, 401 when the
 * parameter or header is unusable. */
static int find_token(const hr_http_head *head, char *buf, size_t cap, size_t *len,
                      const char **why)
{
    const int q = hr_http_query_get(head->target, head->target_len, "token", buf, cap, len);
    if (q == 1)
        return 1;
    if (q < 0) {
        *why = "malformed"; /* too long, or bad percent-encoding */
        return 401;
    }
    const hr_http_header *h = hr_http_head_find(head, "Authorization");
    if (h == NULL)
        return 0;
    const char *tok;
    size_t tlen;
    if (!hr_token_from_bearer(h->value, h->value_len, &tok, &tlen) || tlen >= cap) {
        *why = "malformed"; /* not "Bearer <token>", or too long */
        return 401;
    }
    memcpy(buf, tok, tlen);
    buf[tlen] = '\0';
    *len = tlen;
    return 1;
}

/* Identity headers from a peer outside --trusted-proxy are ignored. That is
 * usually a gateway the notifier was not told to trust, whose users then all
 * turn anonymous: say so once, with the flag to set. */
static void warn_untrusted_once(const struct sockaddr *peer)
{
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    if (peer == NULL || atomic_flag_test_and_set(&warned))
        return;
    char addr[INET6_ADDRSTRLEN] = "?";
    int bits = 32;
    if (peer->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, addr, sizeof addr);
    } else if (peer->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            inet_ntop(AF_INET, a6->s6_addr + 12, addr, sizeof addr);
        } else {
            inet_ntop(AF_INET6, a6, addr, sizeof addr);
            bits = 128;
        }
    }
    hr_log(HR_LOG_WARN, "notifier",
           "ignored X-Herald-User/X-Herald-Channels (identity headers) from %s, which is not "
           "a trusted proxy: "
           "its clients are anonymous. If it is your gateway, add --trusted-proxy %s/%d "
           "(logged once)",
           addr, addr, bits);
}

bool nf_auth_via_proxy(const nf_auth *a, const struct sockaddr *peer, const hr_http_head *head)
{
    return has_identity_headers(head) && is_trusted(a, peer);
}

int nf_auth_identify(const nf_auth *a, const struct sockaddr *peer, const hr_http_head *head,
                     int64_t now_unix, hr_identity *out, const char **why)
{
    hr_identity_init(out);
    *why = "ok";
    const hr_http_header *user = hr_http_head_find(head, "X-Herald-User");
    if (has_identity_headers(head)) {
        if (is_trusted(a, peer))
            return from_proxy(head, user, out, why);
        warn_untrusted_once(peer);
    }
    char *buf = malloc(HR_TOKEN_MAX + 1);
    if (buf == NULL) {
        *why = "out of memory";
        return 503;
    }
    size_t len = 0;
    int status = find_token(head, buf, HR_TOKEN_MAX + 1, &len, why);
    if (status == 1) {
        status = 401;
        if (!a->has_keys)
            *why = "no JWT key configured";
        else if (hr_token_verify(&a->token, buf, len, now_unix, out, why) == 0)
            status = 0;
    }
    free(buf);
    return status;
}

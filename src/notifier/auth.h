/* nf_auth: who a WebSocket client is, decided once on the upgrade request.
 *
 *   1. A peer inside a --trusted-proxy CIDR that sends X-Herald-User,
 *      -Channels, -Publish or -Expires: those headers are the identity (the
 *      proxy, e.g. herald-gateway, verified the token already; any ?token=
 *      is ignored).
 *   2. Otherwise a token from ?token= or "Authorization: Bearer": verified
 *      with --jwt-secret / --jwt-public-key. Invalid -> 401. A token given
 *      when no key is configured -> 401 too (never silently anonymous).
 *   3. Otherwise anonymous. Identity headers from untrusted peers are ignored
 *      (and logged once, naming the --trusted-proxy flag to set).
 *
 * Also the CIDR matcher used for trusted proxies (IPv4, IPv6, and IPv4
 * peers seen as IPv4-mapped IPv6 addresses). */
#ifndef NF_AUTH_H
#define NF_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/channel.h"
#include "proto/http_head.h"
#include "proto/token.h"

typedef struct nf_cidr {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network bytes (first 4 for IPv4), host bits zeroed */
    uint8_t prefix;   /* 0..32 or 0..128 */
} nf_cidr;

/* Parses "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128).
 * Returns 0 or HR_EINVAL. */
int nf_cidr_parse(const char *text, nf_cidr *out);

/* True when the address sa (AF_INET or AF_INET6) lies inside c. */
bool nf_cidr_match(const nf_cidr *c, const struct sockaddr *sa);

typedef struct nf_auth {
    hr_token_cfg token; /* borrowed key material from the config */
    bool has_keys;      /* a secret or public key is configured */
    const nf_cidr *trusted;
    size_t n_trusted;
} nf_auth;

/* Sets up a from the key material and proxy list (all borrowed: they must
 * outlive a). secret/pem may be NULL. */
void nf_auth_init(nf_auth *a, const char *secret, const uint8_t *pem, size_t pem_len,
                  const nf_cidr *trusted, size_t n_trusted);

/* Identifies the client of an upgrade request head from peer at now_unix.
 * Returns 0 with *out set (caller owns it: hr_identity_deinit), or the HTTP
 * status to refuse with (401 bad or unexpected token, 400 malformed identity
 * headers from a trusted proxy), with *why a short static reason (never the
 * token): for 401 one of hr_token_verify's reasons ("expired", "malformed",
 * ...; an unusable ?token= or Authorization header is "malformed") or "no JWT
 * key configured". On refusal *out is anonymous. */
/* True when nf_auth_identify takes this request's identity from a trusted
 * proxy's headers (rule 1): such a session also accepts the proxy's
 * identity refresh (docs/protocol.md "Token lifetime"). */
bool nf_auth_via_proxy(const nf_auth *a, const struct sockaddr *peer, const hr_http_head *head);

int nf_auth_identify(const nf_auth *a, const struct sockaddr *peer, const hr_http_head *head,
                     int64_t now_unix, hr_identity *out, const char **why);

#endif

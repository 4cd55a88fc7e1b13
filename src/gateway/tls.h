/* gw_tls: TLS termination for `listen` entries with `tls: {cert, key}`.
 * lib/net speaks plain TCP only, so each TLS listener is a libuv listener of
 * its own: every accepted connection is decrypted with OpenSSL (memory BIOs)
 * and bridged over loopback to the gateway's internal plain listener
 * (app->tls_in, 127.0.0.1 with a kernel-chosen port), where it is served like
 * any other client. The bridge records which loopback source port carries
 * which real client, so edge checks, per-IP limits, logs and X-Forwarded-For
 * see the real address (gw_tls_peer) and X-Forwarded-Proto says https.
 *
 *   client ══TLS══▶ bridge (SSL) ──plain, 127.0.0.1:P──▶ tls_in ──▶ routes
 *                     port P ↦ client address */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "app.h"

typedef struct gw_tls gw_tls;

/* Loads the certificate chain and key of listener l and starts listening on
 * its address; connections are bridged to 127.0.0.1:inner_port. Returns NULL
 * with a one-line reason in err[0..cap) on failure (bad cert/key, address in
 * use, out of memory). */
gw_tls *gw_tls_start(gw_app *app, const gw_listener_cfg *l, uint16_t inner_port, char *err,
                     size_t cap);

/* Checks that listener l's certificate chain and key load and match (the
 * start-up check behind --check). Returns 0, or HR_EINVAL with
 * "file:line: listen.tls: reason" in err[0..cap). */
int gw_tls_check(const gw_listener_cfg *l, const char *file, char *err, size_t cap);

/* Sets the port of the internal plain listener that t bridges to. Start-up
 * binds that kernel-chosen port only after every configured port, so it can
 * never take a port the operator named; no connection is bridged before. */
void gw_tls_set_inner_port(gw_tls *t, uint16_t inner_port);

/* Stops accepting; bridges in flight end when their plain side closes. The
 * memory goes once libuv has closed the listener and every bridge. NULL is a
 * no-op. */
void gw_tls_stop(gw_tls *t);

/* The real client address of a connection that reached the internal
 * listener from loopback source port port, or NULL when no bridge owns it. */
const struct sockaddr *gw_tls_peer(const gw_app *app, uint16_t port);

#endif

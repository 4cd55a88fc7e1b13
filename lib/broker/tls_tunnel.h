/* hr_tls_tunnel: a TLS client tunnel on the loop, for broker clients that
 * cannot speak TLS themselves (Debian 12's hiredis 0.14 has none).
 *
 * The tunnel listens on a Unix socket in a private directory (mode 0700, so
 * only this user can use it); every connection accepted there is relayed to
 * host:port over TLS (OpenSSL with memory BIOs over libuv TCP): the peer's
 * certificate is verified against the CA file, or the system's trust store,
 * and must name the host (DNS name or IP address), unless insecure is set.
 * Bytes sent before the handshake completes are held and sent after it.
 * A failure on either side closes both; the client sees EOF and reconnects.
 *
 *   hiredis --unix--> [tunnel] --TLS/TCP--> redis-server --tls-port */
#ifndef HR_TLS_TUNNEL_H
#define HR_TLS_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct hr_tls_tunnel hr_tls_tunnel;

typedef struct hr_tls_tunnel_config {
    const char *host;    /* name or IP literal to connect to and verify */
    uint16_t port;       /* TLS port */
    const char *ca_file; /* PEM CA bundle, or NULL for the system trust store */
    bool insecure;       /* skip certificate verification (testing only) */
} hr_tls_tunnel_config;

/* Creates the tunnel and starts listening; cfg strings are copied. Returns
 * NULL with one line in err (out of memory, unreadable CA file, cannot
 * create the socket). */
hr_tls_tunnel *hr_tls_tunnel_new(uv_loop_t *loop, const hr_tls_tunnel_config *cfg, char *err,
                                 size_t errcap);

/* The Unix socket path clients connect to; valid for the tunnel's life. */
const char *hr_tls_tunnel_path(const hr_tls_tunnel *t);

/* Closes the listener and every relayed connection, removes the socket and
 * its directory; memory is released from close callbacks (run the loop).
 * NULL is a no-op. */
void hr_tls_tunnel_free(hr_tls_tunnel *t);

#endif

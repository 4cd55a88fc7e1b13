/* gw_alog: the JSON access log, one line on stdout per answered HTTP request
 * and per closed proxied WebSocket (when access_log is on). */
#ifndef GW_ALOG_H
#define GW_ALOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_alog_rec {
    const char *kind;   /* "http" or "ws" */
    const char *client; /* peer "ip:port" */
    const char *method; /* NULL for ws */
    const char *path;   /* request target without query (may be NULL) */
    size_t path_len;
    const char *route;    /* route path, or NULL */
    const char *upstream; /* upstream name, "static", or NULL */
    const char *server;   /* upstream server address, or NULL */
    int status;           /* HTTP status (101 for an accepted ws) */
    int close_code;       /* ws: code sent to / received from the client; else 0 */
    double duration_ms;
    uint64_t bytes_in;  /* from the client */
    uint64_t bytes_out; /* to the client */
    const char *request_id;
    const char *user;  /* authenticated user or NULL */
    const char *error; /* why the gateway refused the request (its answer's text), or NULL */
    size_t error_len;
} gw_alog_rec;

/* Formats r as one JSON object into out[0..cap) followed by '\n' and NUL.
 * Returns the length (without NUL), or 0 when it does not fit or cannot be
 * encoded. Client-supplied strings are JSON-escaped (invalid UTF-8 replaced). */
size_t gw_alog_format(const gw_alog_rec *r, char *out, size_t cap);

/* Formats r and writes the line to stdout (fflush per line). */
void gw_alog_write(const gw_alog_rec *r);

#endif

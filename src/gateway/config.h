/* gw_config: the gateway's configuration (SPEC §4 plus TLS, timeouts,
 * per-route limits and access logging), parsed from YAML text by a pure
 * function and validated in full before any socket opens. The result is an
 * immutable tree owned by the caller and freed with gw_config_free(). Every
 * error is reported once, as "file:line: key.path: problem (column N)",
 * naming where the offending value is written (config_yaml.h). The YAML
 * walking lives in config_yaml.c; this header and config.c are the schema. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on list sizes: a config past these is refused, not truncated. */
#define GW_CONFIG_MAX_LISTEN 16
#define GW_CONFIG_MAX_UPSTREAMS 256
#define GW_CONFIG_MAX_SERVERS 256
#define GW_CONFIG_MAX_ROUTES 1024
#define GW_CONFIG_MAX_ORIGINS 256
#define GW_CONFIG_MAX_TEXT 4096 /* longest string value */

typedef enum gw_balance {
    GW_BALANCE_ROUND_ROBIN = 0,
    GW_BALANCE_LEAST_CONN,
    GW_BALANCE_HASH_USER,
} gw_balance;

/* What a route does with a message whose script failed (SPEC §7). */
typedef enum gw_script_on_error {
    GW_SCRIPT_ON_ERROR_DROP = 0, /* [drop] the message */
    GW_SCRIPT_ON_ERROR_PASS,     /* deliver it untransformed */
    GW_SCRIPT_ON_ERROR_CLOSE,    /* close the client with 4003 */
} gw_script_on_error;

typedef enum gw_auth_mode {
    GW_AUTH_NONE = 0,
    GW_AUTH_OPTIONAL,
    GW_AUTH_REQUIRED,
} gw_auth_mode;

/* A numeric address: host is an IPv4 or IPv6 literal ("localhost" is read as
 * 127.0.0.1), port 1..65535. text is the form to print (host:port, [v6]:port). */
typedef struct gw_addr {
    char host[48];
    uint16_t port;
    bool v6;
    char text[64];
} gw_addr;

/* Where a value was written in the file: 1-based line and column ({0, 0}:
 * not written). Errors found after the parse (files, TLS, reload) name it. */
typedef struct gw_cfg_at {
    int line;
    int col;
} gw_cfg_at;

typedef struct gw_listener_cfg {
    gw_addr addr;
    char *tls_cert; /* NULL: plain TCP */
    char *tls_key;
    int line;
    gw_cfg_at cert_at, key_at;
} gw_listener_cfg;

typedef struct gw_jwt_cfg {
    bool enabled;
    char **algorithms; /* HS256, RS256, ES256 (what hr_token verifies) */
    size_t n_algorithms;
    char *secret;          /* HS*: shared secret */
    char *public_key_file; /* RS* / ES*: PEM file, read by the program */
    char *issuer;          /* NULL: not checked */
    char *audience;        /* NULL: not checked */
    uint32_t leeway_s;     /* [0] */
    char *cookie;          /* cookie holding the token ["herald_token"] */
    int line;              /* of auth.jwt, for errors found later */
    int key_line;          /* of public_key_file */
    gw_cfg_at key_at;      /* of public_key_file */
    gw_cfg_at secret_at, algorithms_at;
} gw_jwt_cfg;

typedef struct gw_limits {
    uint64_t max_connections;             /* [100000] */
    uint64_t max_connections_per_ip;      /* [1000] */
    uint64_t handshakes_per_ip_per_s;     /* [50] */
    uint64_t max_message_bytes;           /* [65536] */
    uint64_t messages_per_s;              /* [50] */
    uint64_t idle_timeout_s;              /* [60] */
    uint64_t ping_interval_s;             /* [25] */
    uint64_t handshake_timeout_s;         /* [10] */
    uint64_t drain_timeout_s;             /* [10] */
    uint64_t max_header_bytes;            /* [16384]: larger heads get 431 */
    uint64_t send_queue_bytes;            /* [1048576]: backpressure bound per side */
    uint64_t upstream_connect_timeout_ms; /* [3000] */
    uint64_t max_body_bytes;              /* [1048576]: larger HTTP request bodies: 413 */
    uint64_t script_timeout_ms;           /* [5]: per script call */
    uint64_t script_memory_mb;            /* [64]: all scripts of one worker */
} gw_limits;

typedef struct gw_health_cfg {
    bool enabled;         /* health_check present */
    char *path;           /* ["/healthz"] */
    uint32_t interval_ms; /* [2000] */
    uint32_t timeout_ms;  /* [1000] */
    uint32_t rise;        /* [2] consecutive successes to mark up */
    uint32_t fall;        /* [3] consecutive failures to mark down */
} gw_health_cfg;

typedef struct gw_upstream_cfg {
    char *name;
    gw_addr *servers;
    size_t n_servers;
    gw_balance balance; /* [round_robin] */
    gw_health_cfg health;
    bool link; /* protocol: herald-link (WebSocket routes multiplexed, docs/link.md) */
    int line;
} gw_upstream_cfg;

typedef struct gw_route_cfg {
    char *path; /* prefix, starts with '/' */
    size_t path_len;
    char *host; /* NULL: any host; else lower case, no port */
    char *upstream_name;
    size_t upstream;  /* index into gw_config.upstreams when upstream_name */
    char *static_dir; /* static route: directory served (see gw_config_load) */
    bool websocket;
    gw_auth_mode auth;
    bool strip_prefix;
    bool strip_token;
    uint64_t max_message_bytes; /* route override, else limits' value */
    uint64_t messages_per_s;
    char *script; /* transformation script (Lua, docs/transform.md); NULL: none */
    gw_script_on_error script_on_error;
    int line; /* of the route's mapping */
    gw_cfg_at path_at, host_at, upstream_at, static_at, websocket_at, auth_at, script_at;
} gw_route_cfg;

typedef struct gw_config {
    gw_listener_cfg *listen;
    size_t n_listen;
    bool has_admin;
    gw_addr admin_listen;
    gw_jwt_cfg jwt;
    char **allowed_origins;
    size_t n_allowed_origins;
    gw_limits limits;
    gw_upstream_cfg *upstreams;
    size_t n_upstreams;
    gw_route_cfg *routes;
    size_t n_routes;
    bool access_log; /* [true] JSON lines on stdout */
    char *filename;
} gw_config;

/* One diagnostic line, e.g. "gateway.yaml:12: routes[1].upstream: no upstream
 * named 'x' (column 15)". Empty when there is nothing to say. */
typedef struct gw_diag {
    char msg[512];
} gw_diag;

/* Parses and validates text[0..len) (YAML). filename is used in messages only.
 * On success returns 0 and stores a new config in *out, owned by the caller
 * (gw_config_free). On failure returns HR_EINVAL (diag says why) or
 * HR_ENOMEM, and *out is NULL. Touches no file or socket. */
int gw_config_parse(const char *text, size_t len, const char *filename, gw_config **out,
                    gw_diag *diag);

/* Reads the file at path and parses it as gw_config_parse does; a missing or
 * unreadable file is HR_EINVAL with "path: cannot read: reason". Relative file names in
 * the config (static directories, TLS cert/key, JWT public key) are then made
 * relative to the directory holding the config file. */
int gw_config_load(const char *path, gw_config **out, gw_diag *diag);

/* Checks what the pure parser cannot: TLS cert/key and the JWT public key are
 * readable files, static directories exist, scripts compile (their error is
 * "script:line: problem"). Returns 0 or HR_EINVAL + diag. */
int gw_config_check_files(const gw_config *cfg, gw_diag *diag);

/* Writes "file:line: path: problem (column N)" for a value at `at` into
 * diag (for checks made after the parse: files, TLS, reload) and returns
 * HR_EINVAL. */
int gw_config_fail(gw_diag *diag, const char *file, gw_cfg_at at, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Parses "host:port" / "[v6]:port" / "localhost:port" into out. Returns 0 or
 * HR_EINVAL. */
int gw_config_parse_addr(const char *s, size_t len, gw_addr *out);

/* Frees cfg and everything it owns. NULL is a no-op. */
void gw_config_free(gw_config *cfg);

#endif

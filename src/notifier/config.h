/* nf_config: herald-notifier's settings, parsed and validated in full
 * before any socket opens (flags, HERALD_* environment, the public key
 * file, the trusted-proxy CIDRs), then kept immutable and passed down. */
#ifndef NF_CONFIG_H
#define NF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "auth.h"
#include "core/flags.h"
#include "core/log.h"

typedef struct nf_config {
    const char *listen;       /* "host:port" */
    const char *broker;       /* "memory" or a broker URL */
    const char *api_key;      /* NULL: publishing is open */
    const char *link_listen;  /* herald-link listener "host:port", or NULL */
    const char *jwt_secret;   /* NULL: no HS256 */
    const char *jwt_key_path; /* NULL: no RS256/ES256 */
    uint8_t *jwt_key_pem;     /* contents of jwt_key_path (owned), NUL-terminated */
    size_t jwt_key_len;
    const char *jwt_issuer;   /* NULL: "iss" not checked */
    const char *jwt_audience; /* NULL: "aud" not checked */
    uint32_t jwt_leeway_s;    /* skew on exp/nbf; connections end at exp + this */
    nf_cidr *trusted;         /* trusted proxies (owned) */
    size_t n_trusted;
    uint32_t history;         /* events kept per channel */
    uint64_t history_ttl_s;   /* age bound, seconds; 0 = none */
    size_t send_queue_limit;  /* bytes */
    uint32_t max_channels;    /* per connection */
    size_t max_message;       /* client message cap, bytes */
    uint32_t ping_interval_s; /* 0 = no pings */
    uint32_t idle_timeout_s;  /* 0 = none */
    uint32_t bad_commands;    /* errors per minute before closing with 1008 */
    uint32_t commands_per_s;  /* client commands per one-second window */
    size_t max_publish_items; /* items per /publish body */
    unsigned loops;           /* event loops with --link-listen (1..64; flag 0 = CPUs) */
    size_t loop_queue;        /* items queued toward one shard loop (inbox.h) */
    bool deflate;             /* offer permessage-deflate */
    bool io_uring;            /* client writes through io_uring (hr_server_config) */
    /* Pusher Channels compatibility (SPEC §8): all three set, or none. */
    const char *pusher_app_id; /* NULL: the Pusher endpoints are off */
    const char *pusher_key;
    const char *pusher_secret;
    uint32_t pusher_activity_timeout_s; /* announced in connection_established */
    bool pusher_client_events;          /* relay client-* events */
    uint32_t pusher_presence_timeout_s; /* drop a silent instance's members after */
    hr_log_level log_level;
    hr_flags flags; /* owns the strings above */
} nf_config;

/* Parses argv/envp into cfg. Returns HR_FLAGS_RUN (cfg ready),
 * HR_FLAGS_HELP / HR_FLAGS_VERSION (print and exit 0), or HR_EINVAL /
 * HR_ENOMEM with one line "herald-notifier: ..." in err (exit 2). Call
 * nf_config_deinit whatever the result. Reads the --jwt-public-key file. */
int nf_config_load(nf_config *cfg, int argc, char *const *argv, char *const *envp, char *err,
                   size_t errcap);

/* Frees what the config owns. */
void nf_config_deinit(nf_config *cfg);

/* Writes the --help text. */
void nf_config_write_help(FILE *out);

#endif

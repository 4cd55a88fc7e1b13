/* herald-notifier's flag table and the validation that turns parsed flags
 * into an nf_config (see config.h). Every flag of SPEC §1 is here, plus the
 * operational extras documented in docs/notifier.md. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/err.h"

#define PROG "herald-notifier"

static const hr_flag_spec spec[] = {
    {"listen", HR_FLAG_STRING, "127.0.0.1:7070", "ADDR:PORT",
     "Address for WebSocket clients and the HTTP API.", 0, 0},
    {"broker", HR_FLAG_STRING, "memory", "URL",
     "Event source: memory (in-process), redis://[user:pass@]host:port[/db][?stream=herald:events]"
     ", nats://[user:pass@|token@]host:port[?stream=HERALD]"
     " or amqp[s]://[user:pass@]host:port[/vhost][?stream=herald.events] (docs/scaling.md).",
     0, 0},
    {"link-listen", HR_FLAG_STRING, NULL, "ADDR:PORT",
     "Also accept herald-link connections from gateways here (docs/link.md).", 0, 0},
    {"loops", HR_FLAG_INT, "0", "N",
     "Event loops (threads): direct WebSocket and SSE clients and links are spread over them;"
     " loop 0 also serves the API, Pusher and the broker. 0: one per CPU.",
     0, 64},
    {"loop-queue", HR_FLAG_INT, "262144", "N",
     "Events queued toward one other loop; a loop that falls this far behind closes its"
     " sessions with 1013.",
     1, 16777216},
    {"api-key", HR_FLAG_STRING, NULL, "KEY",
     "Require 'Authorization: Bearer KEY' on POST /publish (default: open).", 0, 0},
    {"trusted-proxy", HR_FLAG_REPEATABLE, NULL, "CIDR",
     "Trust X-Herald-User/-Channels/-Publish/-Expires from these addresses (IPv4 or IPv6).", 0, 0},
    {"jwt-secret", HR_FLAG_STRING, NULL, "SECRET", "Verify ?token= JWTs signed with HS256.", 0, 0},
    {"jwt-public-key", HR_FLAG_STRING, NULL, "FILE",
     "Verify ?token= JWTs signed with RS256 or ES256 (PEM public key).", 0, 0},
    {"jwt-issuer", HR_FLAG_STRING, NULL, "ISS", "Require this 'iss' claim in tokens.", 0, 0},
    {"jwt-audience", HR_FLAG_STRING, NULL, "AUD",
     "Require this 'aud' claim (a string, or an array holding it) in tokens.", 0, 0},
    {"jwt-leeway", HR_FLAG_INT, "0", "SECONDS",
     "Clock skew allowed on exp and nbf; a connection ends at exp plus this (closed 4001).", 0,
     86400},
    {"history", HR_FLAG_INT, "1000", "N", "Events kept per channel for resume.", 0, 10000000},
    {"history-ttl", HR_FLAG_INT, "3600", "SECONDS", "Oldest event kept, in seconds (0: no limit).",
     0, 100000000},
    {"send-queue-limit", HR_FLAG_SIZE, "1048576", "BYTES",
     "Bytes queued per connection before it is closed with 1013.", 1024, INT64_C(1) << 36},
    {"max-channels", HR_FLAG_INT, "128", "N", "Channels per connection.", 1, 65536},
    {"max-message-bytes", HR_FLAG_SIZE, "65536", "BYTES",
     "Largest client message; bigger closes with 1009.", 128, INT64_C(1) << 26},
    {"ping-interval", HR_FLAG_INT, "25", "SECONDS", "Ping a silent client after (0: never).", 0,
     86400},
    {"idle-timeout", HR_FLAG_INT, "60", "SECONDS", "Close a client silent this long (0: never).", 0,
     86400},
    {"bad-command-limit", HR_FLAG_INT, "100", "N",
     "Bad commands within a minute before closing with 1008.", 1, 1000000},
    {"commands-per-s", HR_FLAG_INT, "100", "N",
     "Client commands per second; more get a rate_limited error.", 1, 1000000},
    {"max-publish-items", HR_FLAG_INT, "1000", "N", "Items in one /publish batch.", 1, 1000000},
    {"deflate", HR_FLAG_BOOL, "true", NULL, "Offer permessage-deflate to clients.", 0, 0},
    {"io-uring", HR_FLAG_BOOL, "true", NULL,
     "Write to clients through io_uring, one submission per flush chunk (64 connections); "
     "false: one libuv write each (docs/net.md).",
     0, 0},
    {"pusher-app-id", HR_FLAG_STRING, NULL, "ID",
     "Serve Pusher Channels clients (/app/<key>) and the Pusher HTTP API (/apps/<id>/...) "
     "for this app (needs --pusher-key and --pusher-secret).",
     0, 0},
    {"pusher-key", HR_FLAG_STRING, NULL, "KEY", "The Pusher app key.", 0, 0},
    {"pusher-secret", HR_FLAG_STRING, NULL, "SECRET",
     "The Pusher app secret: signs channel auth and HTTP API requests.", 0, 0},
    {"pusher-activity-timeout", HR_FLAG_INT, "120", "SECONDS",
     "Idle time after which a Pusher client pings.", 1, 3600},
    {"pusher-client-events", HR_FLAG_BOOL, "false", NULL,
     "Relay client-* events between Pusher clients on private and presence channels.", 0, 0},
    {"pusher-presence-timeout", HR_FLAG_INT, "30", "SECONDS",
     "Presence members of a notifier instance not heard from this long are removed "
     "(instances on the same broker heartbeat every third of it).",
     3, 3600},
    {"log-level", HR_FLAG_STRING, "info", "LEVEL", "debug, info, warn, error or off.", 0, 0},
};

void nf_config_write_help(FILE *out)
{
    hr_flags_write_help(out, PROG,
                        "Herald's notifier: WebSocket fan-out with per-channel history, resume,\n"
                        "and an HTTP API (POST /publish, /healthz, /readyz, /metrics).",
                        spec, HR_ARRAY_LEN(spec));
}

/* Reads the whole (small) key file into cfg. */
static int read_key(nf_config *cfg, char *err, size_t errcap)
{
    FILE *f = fopen(cfg->jwt_key_path, "rb");
    if (f == NULL) {
        snprintf(err, errcap, PROG ": --jwt-public-key: cannot read '%s': %s", cfg->jwt_key_path,
                 strerror(errno));
        return HR_EINVAL;
    }
    const size_t cap = 64 * 1024;
    cfg->jwt_key_pem = malloc(cap + 1);
    if (cfg->jwt_key_pem == NULL) {
        fclose(f);
        return HR_ENOMEM;
    }
    cfg->jwt_key_len = fread(cfg->jwt_key_pem, 1, cap + 1, f);
    const bool bad = ferror(f) || cfg->jwt_key_len == 0 || cfg->jwt_key_len > cap;
    fclose(f);
    if (bad) {
        snprintf(err, errcap, PROG ": --jwt-public-key: '%s' is empty, unreadable or over 64 KiB",
                 cfg->jwt_key_path);
        return HR_EINVAL;
    }
    cfg->jwt_key_pem[cfg->jwt_key_len] = '\0';
    if (strstr((char *)cfg->jwt_key_pem, "-----BEGIN PUBLIC KEY-----") == NULL) {
        snprintf(err, errcap, PROG ": --jwt-public-key: '%s' holds no PEM PUBLIC KEY",
                 cfg->jwt_key_path);
        return HR_EINVAL;
    }
    return 0;
}

static int parse_proxies(nf_config *cfg, char *err, size_t errcap)
{
    size_t n = 0;
    char *const *items = hr_flags_list(&cfg->flags, "trusted-proxy", &n);
    if (n == 0)
        return 0;
    cfg->trusted = calloc(n, sizeof *cfg->trusted);
    if (cfg->trusted == NULL)
        return HR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (nf_cidr_parse(items[i], &cfg->trusted[i]) != 0) {
            snprintf(err, errcap,
                     PROG ": --trusted-proxy: expected a CIDR like 10.0.0.0/8, got '%s'", items[i]);
            return HR_EINVAL;
        }
    }
    cfg->n_trusted = n;
    return 0;
}

/* Pusher's three settings come together; an id travels in URLs and a key
 * before ':' in auth strings, so both keep to a plain alphabet. */
static int check_pusher(nf_config *cfg, char *err, size_t errcap)
{
    const hr_flags *f = &cfg->flags;
    cfg->pusher_app_id = hr_flags_str(f, "pusher-app-id");
    cfg->pusher_key = hr_flags_str(f, "pusher-key");
    cfg->pusher_secret = hr_flags_str(f, "pusher-secret");
    cfg->pusher_activity_timeout_s = (uint32_t)hr_flags_num(f, "pusher-activity-timeout");
    cfg->pusher_client_events = hr_flags_bool(f, "pusher-client-events");
    cfg->pusher_presence_timeout_s = (uint32_t)hr_flags_num(f, "pusher-presence-timeout");
    const char *v[] = {cfg->pusher_app_id, cfg->pusher_key, cfg->pusher_secret};
    const char *name[] = {"--pusher-app-id", "--pusher-key", "--pusher-secret"};
    size_t set = 0;
    for (size_t i = 0; i < 3; i++)
        set += v[i] != NULL && v[i][0] != '\0';
    if (set == 0) {
        cfg->pusher_app_id = cfg->pusher_key = cfg->pusher_secret = NULL;
        return 0;
    }
    for (size_t i = 0; i < 3; i++) {
        if (v[i] == NULL || v[i][0] == '\0') {
            snprintf(err, errcap, PROG ": %s: needed with the other Pusher settings", name[i]);
            return HR_EINVAL;
        }
        if (i < 2 && strspn(v[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789_-.") != strlen(v[i])) {
            snprintf(err, errcap, PROG ": %s: use letters, digits, '_', '-' and '.' only", name[i]);
            return HR_EINVAL;
        }
    }
    return 0;
}

static void copy_numbers(nf_config *cfg)
{
    const hr_flags *f = &cfg->flags;
    cfg->history = (uint32_t)hr_flags_num(f, "history");
    cfg->history_ttl_s = (uint64_t)hr_flags_num(f, "history-ttl");
    cfg->send_queue_limit = (size_t)hr_flags_num(f, "send-queue-limit");
    cfg->max_channels = (uint32_t)hr_flags_num(f, "max-channels");
    cfg->max_message = (size_t)hr_flags_num(f, "max-message-bytes");
    cfg->ping_interval_s = (uint32_t)hr_flags_num(f, "ping-interval");
    cfg->idle_timeout_s = (uint32_t)hr_flags_num(f, "idle-timeout");
    cfg->bad_commands = (uint32_t)hr_flags_num(f, "bad-command-limit");
    cfg->commands_per_s = (uint32_t)hr_flags_num(f, "commands-per-s");
    cfg->jwt_leeway_s = (uint32_t)hr_flags_num(f, "jwt-leeway");
    cfg->max_publish_items = (size_t)hr_flags_num(f, "max-publish-items");
    cfg->deflate = hr_flags_bool(f, "deflate");
    cfg->io_uring = hr_flags_bool(f, "io-uring");
    cfg->loop_queue = (size_t)hr_flags_num(f, "loop-queue");
    cfg->loops = (unsigned)hr_flags_num(f, "loops");
    if (cfg->loops == 0) {
        const unsigned cpus = uv_available_parallelism();
        cfg->loops = cpus < 1 ? 1 : cpus > 64 ? 64 : cpus;
    }
}

int nf_config_load(nf_config *cfg, int argc, char *const *argv, char *const *envp, char *err,
                   size_t errcap)
{
    memset(cfg, 0, sizeof *cfg);
    int rc =
        hr_flags_parse(&cfg->flags, PROG, spec, HR_ARRAY_LEN(spec), argc, argv, envp, err, errcap);
    if (rc != HR_FLAGS_RUN)
        return rc;
    const hr_flags *f = &cfg->flags;
    cfg->listen = hr_flags_str(f, "listen");
    cfg->broker = hr_flags_str(f, "broker");
    cfg->api_key = hr_flags_str(f, "api-key");
    cfg->link_listen = hr_flags_str(f, "link-listen");
    if (cfg->link_listen != NULL && cfg->link_listen[0] == '\0')
        cfg->link_listen = NULL;
    cfg->jwt_secret = hr_flags_str(f, "jwt-secret");
    cfg->jwt_key_path = hr_flags_str(f, "jwt-public-key");
    cfg->jwt_issuer = hr_flags_str(f, "jwt-issuer");
    cfg->jwt_audience = hr_flags_str(f, "jwt-audience");
    copy_numbers(cfg);
    if (hr_log_parse_level(hr_flags_str(f, "log-level"), &cfg->log_level) != 0) {
        snprintf(err, errcap,
                 PROG ": --log-level: expected debug, info, warn, error or off, got '%s'",
                 hr_flags_str(f, "log-level"));
        return HR_EINVAL;
    }
    if (cfg->api_key != NULL && cfg->api_key[0] == '\0')
        cfg->api_key = NULL;
    if (cfg->jwt_issuer != NULL && cfg->jwt_issuer[0] == '\0')
        cfg->jwt_issuer = NULL;
    if (cfg->jwt_audience != NULL && cfg->jwt_audience[0] == '\0')
        cfg->jwt_audience = NULL;
    if (cfg->jwt_secret != NULL && cfg->jwt_secret[0] == '\0') {
        snprintf(err, errcap, PROG ": --jwt-secret: must not be empty");
        return HR_EINVAL;
    }
    if (cfg->jwt_key_path != NULL && (rc = read_key(cfg, err, errcap)) != 0)
        return rc;
    if ((rc = check_pusher(cfg, err, errcap)) != 0)
        return rc;
    return parse_proxies(cfg, err, errcap);
}

void nf_config_deinit(nf_config *cfg)
{
    free(cfg->jwt_key_pem);
    cfg->jwt_key_pem = NULL;
    free(cfg->trusted);
    cfg->trusted = NULL;
    hr_flags_deinit(&cfg->flags);
}
